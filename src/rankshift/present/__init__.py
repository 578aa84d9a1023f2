"""Tidy frames, figures and small records that the app's pages render (and the CLI prints).

Everything here is pure: a :class:`~rankshift.types.PipelineResult`, an evaluation report or a
collection in; pandas frames, strings, dataclasses and plotly figures out. Pages do no reshaping
of their own, so what they show is tested here, without a browser. One module per concept:

- :mod:`~rankshift.present.text`: stage labels, escaping untrusted text, query terms, snippets;
- :mod:`~rankshift.present.collection`: query pickers, grades, the collection's summary;
- :mod:`~rankshift.present.rankings`: the rankings side by side, shift markers, status colours;
- :mod:`~rankshift.present.inspect`: dropped / promoted / not-candidate panels, scores,
  diagnostics, latency;
- :mod:`~rankshift.present.document`: the document panel (highlighting, the token window);
- :mod:`~rankshift.present.evaluate`: the Evaluate page's frames from an ``EvalReport``;
- :mod:`~rankshift.present.training`: reranker choices, training results, job progress;
- :mod:`~rankshift.present.cost`: what reranking costs in time;
- :mod:`~rankshift.present.plots`: plotly figures from these frames (import it by name).

The public names of every module are re-exported here, so ``from rankshift import present``
and ``present.stage_label`` keep working.
"""

from __future__ import annotations

from rankshift.present.collection import (
    collection_summary,
    grades_for,
    query_label,
    query_options,
    resolve_query,
)
from rankshift.present.cost import (
    PAIRS_PER_SECOND_AT_256,
    eval_cost,
    rerank_cost,
)
from rankshift.present.document import (
    DocumentView,
    Segment,
    candidate_ids,
    document_facts,
    document_label,
    document_view,
    highlight_segments,
    segments_markdown,
)
from rankshift.present.evaluate import (
    VERDICT_COLORS,
    calibration_frames,
    eval_metrics_frame,
    helped_hurt_frame,
    paired_test_frame,
    pipeline_label,
    threshold_caption,
    tradeoff_frame,
    verdict_counts,
    verdict_frame,
)
from rankshift.present.inspect import (
    CutLabels,
    Diagnostics,
    cut_labels,
    diagnostics,
    dropped_frame,
    latency_frame,
    not_candidate_frame,
    not_candidate_note,
    pair_frame,
    promoted_frame,
    score_frame,
    shift_frame,
)
from rankshift.present.rankings import (
    STATUS_COLORS,
    STATUS_LABELS,
    compact_marker,
    marker_color,
    pairs_by_doc,
    ranking_frame,
    ranking_frames,
    ranking_labels,
    ranking_stages,
    rerank_audit,
    score_labels,
    second_rerank_caption,
    settings_caption,
    style_frame,
)
from rankshift.present.text import (
    STAGE_LABELS,
    WORD_PATTERN,
    escape_markdown,
    escape_plotly,
    order_score_label,
    query_problem,
    query_terms,
    shorten,
    snippet,
    stage_label,
    stem,
    title_of,
)
from rankshift.present.training import (
    OTHER_RERANKER,
    job_progress_text,
    reranker_option_label,
    reranker_options,
    training_caption,
    training_frame,
)

__all__ = [
    "OTHER_RERANKER",
    "PAIRS_PER_SECOND_AT_256",
    "STAGE_LABELS",
    "STATUS_COLORS",
    "STATUS_LABELS",
    "VERDICT_COLORS",
    "WORD_PATTERN",
    "CutLabels",
    "Diagnostics",
    "DocumentView",
    "Segment",
    "calibration_frames",
    "candidate_ids",
    "collection_summary",
    "compact_marker",
    "cut_labels",
    "diagnostics",
    "document_facts",
    "document_label",
    "document_view",
    "dropped_frame",
    "escape_markdown",
    "escape_plotly",
    "eval_cost",
    "eval_metrics_frame",
    "grades_for",
    "helped_hurt_frame",
    "highlight_segments",
    "job_progress_text",
    "latency_frame",
    "marker_color",
    "not_candidate_frame",
    "not_candidate_note",
    "order_score_label",
    "pair_frame",
    "paired_test_frame",
    "pairs_by_doc",
    "pipeline_label",
    "promoted_frame",
    "query_label",
    "query_options",
    "query_problem",
    "query_terms",
    "ranking_frame",
    "ranking_frames",
    "ranking_labels",
    "ranking_stages",
    "rerank_audit",
    "rerank_cost",
    "reranker_option_label",
    "reranker_options",
    "resolve_query",
    "score_frame",
    "score_labels",
    "second_rerank_caption",
    "segments_markdown",
    "settings_caption",
    "shift_frame",
    "shorten",
    "snippet",
    "stage_label",
    "stem",
    "style_frame",
    "threshold_caption",
    "title_of",
    "tradeoff_frame",
    "training_caption",
    "training_frame",
    "verdict_counts",
    "verdict_frame",
]
