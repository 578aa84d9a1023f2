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

.PHONY: install run test lint format bench bench-scale bench-quality demo-reranker clean

# torch first, pinned exactly: on these machines torch==2.13.0 is the CPU build on disk, and any
# looser requirement resolved by another package would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[dev,backends,ray]'
	# The tests' independent RBO oracle; its metadata pins numpy<2 although its code runs on
	# numpy 2, so it is installed without letting it downgrade numpy.
	$(PY) -m pip install -q --no-deps rbo==0.1.3
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
	$(PY) benchmarks/bench.py

# First stages at 100k and 1M synthetic documents (benchmarks/bench_scale.py): BM25 and dense
# (exact vs HNSW) ms/query, recall@100, index build time and peak memory. Builds every index
# afresh, each in a process of its own: about 20 min on 2 CPU cores, under 5 GB of memory at the
# peak. Generated corpora are kept in the temporary folder (rankshift-bench-scale, 0.6 GB).
bench-scale: install
	$(PY) benchmarks/bench_scale.py --sizes 100000,1000000

# Train the demo's reranker from its training split (the default Hub reranker cannot be
# downloaded on an offline machine); `make run` picks it up when it exists. Validation reranks
# the best first stage of the demo (hybrid(zscore)) and records the best blend weight.
DEMO_RERANKER = $$($(PY) -c "from rankshift.config import demo_reranker_dir; print(demo_reranker_dir())")
demo-reranker: install
	$(VENV)/bin/rankshift train data/demo --split train --validation-stage 'hybrid(zscore,w=0.5)' \
		--out $(DEMO_RERANKER)

# Quality benchmark on BEIR SciFact (read in place, never copied; non-commercial licence): train a
# reranker on qrels/train.tsv (809 queries; test queries excluded; 81 held out for validation,
# which also picks the blend weight), then evaluate the first stages, the trained reranker alone
# and blended with the best first stage's score, over that stage's top-50 on all 300 test
# queries. 43 min measured on 2 CPU cores (see the README); both steps resume when interrupted.
SCIFACT ?= ../shared/data/scifact
SCIFACT_OUT ?= rankshift-eval/scifact
SCIFACT_TRAIN ?= --head cosine --loss lambda --epochs 1 --lr 1e-4 --max-length 256 --validation-fraction 0.1
SCIFACT_FIRST = hybrid(zscore,w=0.5)
SCIFACT_MODEL = $$($(PY) -c "from rankshift.config import cache_dir; print(cache_dir() / 'models' / 'scifact-reranker')")
bench-quality: install
	@test -d $(SCIFACT) || { echo "bench-quality: no SciFact at $(SCIFACT) (set SCIFACT=<BEIR folder>)"; exit 2; }
	$(VENV)/bin/rankshift train $(SCIFACT) --split train --exclude-split test $(SCIFACT_TRAIN) \
		--validation-stage '$(SCIFACT_FIRST)' --rerank-k 50 --out $(SCIFACT_MODEL)
	model=$(SCIFACT_MODEL); \
	blend=$$($(PY) -c "import sys; from rankshift.training.train import recommended_blend; print(recommended_blend(sys.argv[1]) or 0)" $$model); \
	$(VENV)/bin/rankshift eval $(SCIFACT) --split test -k 50 --out $(SCIFACT_OUT) --reranker $$model \
		--pipelines "bm25,dense,hybrid(rrf),$(SCIFACT_FIRST),$(SCIFACT_FIRST)>ce,$(SCIFACT_FIRST)>ce(blend=$$blend)"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/e2e/artifacts
