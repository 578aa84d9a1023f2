"""Fixtures for the app's AppTest tests: a tiny collection, and an app pointed at it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from inspector_fixture import write_collection
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app" / "streamlit_app.py"
MISSING_RERANKER = "cross-encoder/ms-marco-MiniLM-L-6-v2"


def model_available() -> bool:
    hub = Path(os.environ.get("HF_HUB_CACHE", ""))
    return (hub / "models--sentence-transformers--all-MiniLM-L6-v2").is_dir()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every page builds a dense index: without the bi-encoder there is nothing to test.
    if model_available():
        return
    skip = pytest.mark.skip(reason="needs the bi-encoder in HF_HUB_CACHE (../shared/hf/hub)")
    for item in items:
        if any(
            f"tests/app/{name}" in item.nodeid
            for name in ("test_inspect_page.py", "test_pages", "test_train_page.py")
        ):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fixture_collection_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_collection(tmp_path_factory.mktemp("inspector") / "coll")


@pytest.fixture
def make_app(
    fixture_collection_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., AppTest]:
    """``make_app(reranker=None)``: an AppTest of the whole app on the fixture collection.

    ``reranker`` goes to ``RANKSHIFT_RERANKER`` (None: the library default, which cannot load
    on a machine without it, the normal "not reranked" state); ``backend`` to
    ``RANKSHIFT_BACKEND`` (None: the app's own default).
    """

    def make(reranker: str | Path | None = None, backend: str | None = "torch") -> AppTest:
        monkeypatch.setenv("RANKSHIFT_COLLECTION", str(fixture_collection_dir))
        # Page tests run the model on torch: the app's default backend exports the model first,
        # which each test's fresh cache would repeat (test_backend_default covers that default).
        if backend is None:
            monkeypatch.delenv("RANKSHIFT_BACKEND", raising=False)
        else:
            monkeypatch.setenv("RANKSHIFT_BACKEND", backend)
        if reranker is None:
            monkeypatch.delenv("RANKSHIFT_RERANKER", raising=False)
        else:
            monkeypatch.setenv("RANKSHIFT_RERANKER", str(reranker))
        return AppTest.from_file(str(APP), default_timeout=180)

    return make


@pytest.fixture
def trained_model_dir(tiny_cross_encoder_dir: Path) -> Path:
    """A model folder where the Train page leaves one (``<cache>/models/tiny-reseeded``, with
    the ``rankshift_training.json`` that marks it as trained), so the app lists it.

    The weights are the tiny cross-encoder's with the score head drawn again from another
    seed: a second real model that orders candidates its own way. Made once per test session
    (the cache directory is the session's).
    """
    import json

    from rankshift.config import cache_dir

    out = cache_dir() / "models" / "tiny-reseeded"
    if not (out / "rankshift_training.json").exists():
        import torch
        from sentence_transformers import CrossEncoder

        model = CrossEncoder(str(tiny_cross_encoder_dir), max_length=128)
        torch.manual_seed(7)
        model.model.classifier.reset_parameters()
        model.save(str(out))
        record = {"collection": {"name": "inspector"}, "config": {"base_model": "tiny"}}
        (out / "rankshift_training.json").write_text(json.dumps(record))
    return out
