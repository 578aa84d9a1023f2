"""Why did the reranker do that: sentence attribution by occlusion (any backend), the best
passage of a long document (MaxP against FirstP), and token attribution by integrated gradients
(in-process torch models).

Modules: :mod:`~rankshift.explain.sentences` (splitting with offsets),
:mod:`~rankshift.explain.occlusion` (each sentence left out and alone),
:mod:`~rankshift.explain.passages` (the answer past the window),
:mod:`~rankshift.explain.gradients` (integrated gradients; imports torch and captum when run).
"""

from __future__ import annotations

from rankshift.explain.gradients import (
    TokenAttribution,
    TokenExplanation,
    no_gradients_reason,
    token_attributions,
)
from rankshift.explain.occlusion import (
    Occlusion,
    OcclusionPlan,
    SentenceEffect,
    occlude,
    plan_occlusion,
)
from rankshift.explain.passages import PassageFinding, best_passage
from rankshift.explain.sentences import Sentence, split_sentences

__all__ = [
    "Occlusion",
    "OcclusionPlan",
    "PassageFinding",
    "Sentence",
    "SentenceEffect",
    "TokenAttribution",
    "TokenExplanation",
    "best_passage",
    "no_gradients_reason",
    "occlude",
    "plan_occlusion",
    "split_sentences",
    "token_attributions",
]
