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
