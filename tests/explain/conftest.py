"""A reranker that responds to content, for the explanation tests: the untrained cosine head
on the bi-encoder's transformer (it ranks as the bi-encoder does), saved once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import BI_ENCODER, model_available

from rankshift.rerank import Reranker, load_reranker

MAX_LENGTH = 128


@pytest.fixture(scope="session")
def cosine_reranker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not model_available():
        pytest.skip("needs the bi-encoder in HF_HUB_CACHE")
    from huggingface_hub import snapshot_download

    from rankshift.training.config import TrainConfig
    from rankshift.training.models import load_base

    source = snapshot_download(BI_ENCODER, local_files_only=True)
    out = tmp_path_factory.mktemp("models") / "cosine-head"
    config = TrainConfig(base_model=source, head="cosine", max_length=MAX_LENGTH, device="cpu")
    load_base(config).save(str(out))
    return out


@pytest.fixture(scope="session")
def cosine_reranker(cosine_reranker_dir: Path) -> Reranker:
    """The cosine-head reranker at 128 tokens, with an in-memory pair cache."""
    return load_reranker(str(cosine_reranker_dir), MAX_LENGTH)
