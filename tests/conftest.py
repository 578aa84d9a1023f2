"""Shared fixtures. Heavy model work is session-scoped: it happens once per test run."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import ANIMALS, BI_ENCODER, ROOT, model_available

from rankshift.corpus import Collection, collection_from_documents
from rankshift.types import Query

pytest_plugins = ["ci_plugin"]


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never write into the user's ~/.cache/rankshift from tests."""
    monkeypatch.setenv("RANKSHIFT_CACHE", str(tmp_path_factory.getbasetemp() / "rankshift-cache"))
    monkeypatch.setenv(
        "RANKSHIFT_JUDGMENTS", str(tmp_path_factory.getbasetemp() / "judgments.sqlite")
    )


@pytest.fixture
def animals() -> Collection:
    """Four sentences about a cat, a dog, a bird and a fish (after bm25s's own tests)."""
    return collection_from_documents(
        ANIMALS,
        name="animals",
        queries={"q1": Query("q1", "which animal can fly")},
        qrels={"test": {"q1": {"bird": 3, "fish": 0}}},
    )


@pytest.fixture(scope="session")
def demo_collection() -> Collection:
    from rankshift.corpus import load_collection

    return load_collection(ROOT / "data" / "demo")


@pytest.fixture(scope="session")
def bi_encoder():
    """The real bi-encoder, loaded once."""
    if not model_available():
        pytest.skip("needs the bi-encoder in HF_HUB_CACHE")
    from rankshift.models import load_sentence_transformer

    return load_sentence_transformer(BI_ENCODER)


@pytest.fixture(scope="session")
def tiny_cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained cross-encoder folder built from the bi-encoder's transformer (num_labels=1).

    Its scores mean nothing; it exercises the real sentence-transformers CrossEncoder code path
    (tokenisation, truncation, batching, saving and loading a folder).
    """
    if not model_available():
        pytest.skip("needs the bi-encoder in HF_HUB_CACHE")
    from huggingface_hub import snapshot_download
    from sentence_transformers import CrossEncoder

    source = snapshot_download(BI_ENCODER, local_files_only=True)
    out = tmp_path_factory.mktemp("models") / "tiny-cross-encoder"
    import torch

    torch.manual_seed(0)
    CrossEncoder(source, num_labels=1, max_length=128).save(str(out))
    return out
