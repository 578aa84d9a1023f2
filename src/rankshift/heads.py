"""Compatibility name for :mod:`rankshift.rerank.heads` (imports torch: load lazily).

Kept because a reranker folder trained before the heads moved into :mod:`rankshift.rerank`
records its head as ``rankshift.heads.<Name>`` in ``modules.json``, and sentence-transformers
imports the class by that dotted name when it loads the folder.
"""

from __future__ import annotations

from rankshift.rerank.heads import SegmentCosine

__all__ = ["SegmentCosine"]
