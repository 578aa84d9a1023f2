"""Defaults and the cache directory."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_BI_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_RERANKER = "cross-encoder/ms-marco-MiniLM-L-6-v2"
DEFAULT_K = 100
"""Candidates handed from the first stage to the reranker."""
DEFAULT_N = 10
"""Results returned (the top-N cut the audit measures against)."""
DEFAULT_MAX_LENGTH = 256
"""Cross-encoder input length in tokens. 256 keeps CPU reranking of 100 pairs near ten seconds;
512 roughly doubles that and is the model's hard limit."""
DEFAULT_RRF_K = 60
DEFAULT_FUSION_WEIGHT = 0.5
DEMO_DIR = Path(__file__).resolve().parents[2] / "data" / "demo"


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Where indexes, pair scores and trained models live.

    ``override``, else ``$RANKSHIFT_CACHE``, else ``~/.cache/rankshift``.
    """
    if override is not None:
        path = Path(override)
    elif os.environ.get("RANKSHIFT_CACHE"):
        path = Path(os.environ["RANKSHIFT_CACHE"])
    else:
        path = Path.home() / ".cache" / "rankshift"
    path.mkdir(parents=True, exist_ok=True)
    return path


def judgments_path(override: str | os.PathLike[str] | None = None) -> Path:
    """The judgments database: ``override``, else ``$RANKSHIFT_JUDGMENTS``, else the XDG data dir.

    Judgments are work people did by hand, so they live in the data directory
    (``$XDG_DATA_HOME/rankshift`` or ``~/.local/share/rankshift``), never under the cache, which
    users are told they may delete.
    """
    if override is not None:
        path = Path(override)
    elif os.environ.get("RANKSHIFT_JUDGMENTS"):
        path = Path(os.environ["RANKSHIFT_JUDGMENTS"])
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
        path = base / "rankshift" / "judgments.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


DEMO_RERANKER_NAME = "demo-reranker"


def demo_reranker_dir() -> Path:
    """Where ``make demo-reranker`` (``rankshift train data/demo``) puts the demo's reranker."""
    return cache_dir() / "models" / DEMO_RERANKER_NAME


def preferred_reranker() -> tuple[str, str]:
    """The reranker to start with, and why.

    ``$RANKSHIFT_RERANKER`` if set; else the default Hub reranker when it can be had (it is in
    the local Hugging Face cache, or downloads are allowed); else the demo reranker trained with
    ``make demo-reranker`` when it exists; else the default id, whose failure to load is then
    reported with the ways to provide a reranker.
    """
    if os.environ.get("RANKSHIFT_RERANKER"):
        return os.environ["RANKSHIFT_RERANKER"], "set by RANKSHIFT_RERANKER"
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    cached = False
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = isinstance(try_to_load_from_cache(DEFAULT_RERANKER, "config.json"), str)
    except Exception:  # an unreadable cache is the same as an empty one here
        cached = False
    if cached or not offline:
        return DEFAULT_RERANKER, "the default reranker"
    demo = demo_reranker_dir()
    if (demo / "config.json").exists():
        return str(demo), f"{DEFAULT_RERANKER} is not available offline; using the demo reranker"
    return DEFAULT_RERANKER, (
        f"{DEFAULT_RERANKER} is not available offline and no demo reranker is trained yet: "
        "train one on the Train page or with make demo-reranker (about 12 minutes on 2 CPU "
        "cores), or pick a model folder"
    )
