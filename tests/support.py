"""Test data and markers shared by test modules (importable as ``support``).

Kept out of conftest.py because tests/app has a conftest of its own: ``from conftest import``
would pick whichever the import system finds first.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from rankshift.types import Document

if TYPE_CHECKING:
    from rankshift.training.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
SHARED_HUB = (ROOT.parent / "shared" / "hf" / "hub").resolve()
BI_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"

# Models load offline from the read-only cache beside the checkout (see DEVELOPERS.md).
if SHARED_HUB.is_dir() and "HF_HUB_CACHE" not in os.environ:
    os.environ["HF_HUB_CACHE"] = str(SHARED_HUB)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def model_available() -> bool:
    hub = Path(os.environ.get("HF_HUB_CACHE", ""))
    return (hub / "models--sentence-transformers--all-MiniLM-L6-v2").is_dir()


requires_model = pytest.mark.skipif(
    not model_available(), reason="needs the bi-encoder in HF_HUB_CACHE (../shared/hf/hub)"
)


ANIMALS = [
    Document("cat", "A cat is a feline and likes to purr.", title="Cats"),
    Document("dog", "A dog is the human's best friend and loves to play.", title="Dogs"),
    Document("bird", "A bird is a beautiful animal that can fly.", title="Birds"),
    Document("fish", "A fish is a creature that lives in water and swims.", title="Fish"),
]


def tiny_train_config(base: Path, **changes: object) -> TrainConfig:
    """A training run of a few steps on a handful of queries: plumbing, not quality."""
    from rankshift.training.train import TrainConfig

    defaults: dict[str, object] = dict(
        base_model=str(base),
        max_steps=4,
        batch_size=2,
        max_length=96,
        unjudged_negatives=2,
        validation_fraction=0.25,
        rerank_k=5,
        save_steps=2,
        candidate_depth=10,
    )
    return TrainConfig(**{**defaults, **changes})  # type: ignore[arg-type]


def load_synthetic() -> ModuleType:
    """benchmarks/synthetic.py, the scale benchmark's corpus generator."""
    if "synthetic" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "synthetic", ROOT / "benchmarks" / "synthetic.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["synthetic"] = module  # dataclasses look their module up while building
        spec.loader.exec_module(module)
    return sys.modules["synthetic"]
