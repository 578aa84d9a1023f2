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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/e2e/artifacts
