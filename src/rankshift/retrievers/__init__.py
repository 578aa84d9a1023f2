"""First-stage retrievers behind one small Protocol."""

from __future__ import annotations

from rankshift.retrievers.base import ProgressFn, Retriever, top_k

__all__ = ["ProgressFn", "Retriever", "top_k"]
