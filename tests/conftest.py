"""Shared fixtures. Heavy model work is session-scoped: it happens once per test run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rankshift.corpus import Collection, collection_from_documents
from rankshift.types import Document, Query

ROOT = Path(__file__).resolve().parents[1]
SHARED_HUB = (ROOT.parent / "shared" / "hf" / "hub").resolve()
BI_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"

# Models load offline from the read-only cache beside the checkout (see DEVELOPERS.md).
if SHARED_HUB.is_dir() and "HF_HUB_CACHE" not in os.environ:
    os.environ["HF_HUB_CACHE"] = str(SHARED_HUB)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _model_available() -> bool:
    hub = Path(os.environ.get("HF_HUB_CACHE", ""))
    return (hub / "models--sentence-transformers--all-MiniLM-L6-v2").is_dir()


requires_model = pytest.mark.skipif(
    not _model_available(), reason="needs the bi-encoder in HF_HUB_CACHE (../shared/hf/hub)"
)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never write into the user's ~/.cache/rankshift from tests."""
    monkeypatch.setenv("RANKSHIFT_CACHE", str(tmp_path_factory.getbasetemp() / "rankshift-cache"))


ANIMALS = [
    Document("cat", "A cat is a feline and likes to purr.", title="Cats"),
    Document("dog", "A dog is the human's best friend and loves to play.", title="Dogs"),
    Document("bird", "A bird is a beautiful animal that can fly.", title="Birds"),
    Document("fish", "A fish is a creature that lives in water and swims.", title="Fish"),
]


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
    if not _model_available():
        pytest.skip("needs the bi-encoder in HF_HUB_CACHE")
    from rankshift.models import load_sentence_transformer

    return load_sentence_transformer(BI_ENCODER)


@pytest.fixture(scope="session")
def tiny_cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained cross-encoder folder built from the bi-encoder's transformer (num_labels=1).

    Its scores mean nothing; it exercises the real sentence-transformers CrossEncoder code path
    (tokenisation, truncation, batching, saving and loading a folder).
    """
    if not _model_available():
        pytest.skip("needs the bi-encoder in HF_HUB_CACHE")
    from huggingface_hub import snapshot_download
    from sentence_transformers import CrossEncoder

    source = snapshot_download(BI_ENCODER, local_files_only=True)
    out = tmp_path_factory.mktemp("models") / "tiny-cross-encoder"
    import torch

    torch.manual_seed(0)
    CrossEncoder(source, num_labels=1, max_length=128).save(str(out))
    return out
