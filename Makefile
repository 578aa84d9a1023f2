# rankshift: two commands on a fresh clone, `make run` and `make test`.

VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

# Models load from a read-only Hugging Face cache beside the checkout when there is one
# (these machines have no network); elsewhere the ordinary cache and downloads apply.
SHARED_HUB := $(abspath ../shared/hf/hub)
ifneq ($(wildcard $(SHARED_HUB)),)
export HF_HUB_CACHE ?= $(SHARED_HUB)
export HF_HUB_OFFLINE ?= 1
endif
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install run test lint format bench bench-quality demo-reranker clean

# torch first, pinned exactly: on these machines torch==2.13.0 is the CPU build on disk, and any
# looser requirement resolved by another package would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

run: install
	$(PY) -m streamlit run app/streamlit_app.py \
		--server.port $(PORT) --server.address 127.0.0.1 \
		--server.headless true --browser.gatherUsageStats false

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) -m rankshift.bench

# Train the demo's reranker from its training split (the default Hub reranker cannot be
# downloaded on an offline machine); `make run` picks it up when it exists.
demo-reranker: install
	$(VENV)/bin/rankshift train data/demo --split train \
		--out $$($(PY) -c "from rankshift.config import demo_reranker_dir; print(demo_reranker_dir())")

# Quality benchmark on BEIR SciFact (read in place, never copied; non-commercial licence): train a
# reranker on qrels/train.tsv (809 queries; test queries excluded), then evaluate the first
# stages and the trained reranker over the best first stage's top-50 on all 300 test queries.
# Long on 2 CPU cores (estimated 40-60 min from the demo's step rate; not yet run end to end);
# both steps resume when interrupted.
SCIFACT ?= ../shared/data/scifact
SCIFACT_OUT ?= rankshift-eval/scifact
SCIFACT_TRAIN ?= --head cosine --loss lambda --epochs 1 --lr 1e-4 --max-length 256
bench-quality: install
	@test -d $(SCIFACT) || { echo "bench-quality: no SciFact at $(SCIFACT) (set SCIFACT=<BEIR folder>)"; exit 2; }
	$(VENV)/bin/rankshift train $(SCIFACT) --split train --exclude-split test $(SCIFACT_TRAIN) \
		--out $$($(PY) -c "from rankshift.config import cache_dir; print(cache_dir() / 'models' / 'scifact-reranker')")
	$(VENV)/bin/rankshift eval $(SCIFACT) --split test -k 50 --out $(SCIFACT_OUT) \
		--pipelines 'bm25,dense,hybrid(rrf),hybrid(zscore,w=0.5),hybrid(zscore,w=0.5)>ce' \
		--reranker $$($(PY) -c "from rankshift.config import cache_dir; print(cache_dir() / 'models' / 'scifact-reranker')")

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/e2e/artifacts
