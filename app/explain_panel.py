"""The Inspect page's "Why this score?" area under the open document: sentence attribution by
occlusion (its cost first, a button to run it), the heat strip and the most influential
sentences, the best passage of a long document, and token attributions for torch models.

Results live in ``st.session_state["inspect_explain"]``, keyed by (query, document, reranker
and its revision and window), so a rerun shows them again without scoring anything.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from rankshift.explain import (
    best_passage,
    no_gradients_reason,
    occlude,
    plan_occlusion,
    token_attributions,
)
from rankshift.explain.gradients import DEFAULT_STEPS
from rankshift.explain.occlusion import window_cut
from rankshift.present import escape_markdown
from rankshift.present import explain as views
from rankshift.types import Document, PipelineResult

STATE = "inspect_explain"
ASKED = "inspect_explain_asked"
"""What a button asked for, set in its callback: ``("occlusion" | "tokens", key)``."""
KEPT = 20
"""Explanations kept per session (the oldest is forgotten first)."""

SENTENCE_COLUMNS = {
    "rank": st.column_config.NumberColumn("#", width=32),
    "sentence": st.column_config.NumberColumn(
        "sentence", width=70, help="Its place in the text (1 = first)"
    ),
    "drop": st.column_config.NumberColumn(
        "drop",
        format="%+.3f",
        width=80,
        help="Score of the document minus its score without this sentence: positive when "
        "leaving the sentence out lowers the score",
    ),
    "alone": st.column_config.NumberColumn(
        "alone", format="%.3f", width=80, help="Score of the title and this sentence alone"
    ),
    "text": st.column_config.TextColumn("sentence text", width="large"),
}
TOKEN_COLUMNS = {
    "word": st.column_config.TextColumn("word"),
    "attribution": st.column_config.NumberColumn("attribution", format="%+.3f"),
}


def _key(query: str, doc: Document, reranker: Any) -> tuple[str, str, str]:
    return (query, doc.doc_id, f"{reranker.model_id}@{reranker.revision}@{reranker.max_length}")


def _remember(key: tuple[str, str, str], entry: dict[str, Any]) -> None:
    store: dict[tuple[str, str, str], dict[str, Any]] = st.session_state.setdefault(STATE, {})
    store.pop(key, None)
    store[key] = entry
    while len(store) > KEPT:
        store.pop(next(iter(store)))


def _ask(what: str, key: tuple[str, str, str]) -> None:
    st.session_state[ASKED] = (what, key)


def _asked(what: str, key: tuple[str, str, str]) -> bool:
    """True once after the button asking for ``what`` on ``key`` was pressed."""
    if st.session_state.get(ASKED) != (what, key):
        return False
    del st.session_state[ASKED]
    return True


def _candidate_scores(result: PipelineResult) -> dict[str, float]:
    info = result.rerank
    if info is None or not info.reranked:
        return {}
    return {p.doc_id: p.score for p in info.pairs}


def _run(query: str, doc: Document, reranker: Any, result: PipelineResult) -> dict[str, Any] | None:
    bar = st.progress(0.0, text="Scoring the sentence variants…")

    def progress(_label: str, done: int, total: int) -> None:
        bar.progress(
            min(1.0, done / total) if total else 1.0, text=f"Scored {done} of {total} pairs"
        )

    try:
        occlusion = occlude(reranker, query, doc, progress=progress)
        bar.progress(1.0, text="Looking for the best passage…")
        finding = best_passage(reranker, query, doc, _candidate_scores(result))
    except Exception as e:  # a reranker failure is a message, never a crash
        bar.empty()
        st.warning(
            f"Could not explain the score: {escape_markdown(type(e).__name__)}: "
            f"{escape_markdown(str(e)[:300])}",
            icon=":material/report:",
        )
        return None
    bar.empty()
    return {"occlusion": occlusion, "passage": finding, "tokens": None}


def _show_tokens(
    key: tuple[str, str, str], entry: dict[str, Any], query: str, doc: Document, reranker: Any
) -> None:
    st.markdown("**Words behind the score**")
    reason = no_gradients_reason(reranker)
    if reason:
        st.caption(escape_markdown(reason))
        return
    tokens = entry.get("tokens")
    if tokens is None:
        if not _asked("tokens", key):
            st.caption(
                views.token_cost_caption(
                    DEFAULT_STEPS, st.session_state.get("inspect_ms_per_pair"), reranker.max_length
                )
            )
            st.button(
                "Attribute to words",
                key="inspect_explain_tokens",
                icon=":material/abc:",
                on_click=_ask,
                args=("tokens", key),
            )
            return
        with st.spinner("Integrating gradients…"):
            try:
                tokens = token_attributions(reranker, query, doc)
            except Exception as e:  # a model without the expected layers: say so
                st.warning(
                    f"Token attribution failed: {escape_markdown(str(e)[:300])}",
                    icon=":material/report:",
                )
                return
        entry["tokens"] = tokens
        _remember(key, entry)
    st.caption(escape_markdown(views.token_caption(tokens)))
    if tokens.reason:
        return
    q_col, d_col = st.columns(2)
    for col, side in ((q_col, "query"), (d_col, "document")):
        with col:
            st.caption(f"Top {side} words")
            st.dataframe(
                views.token_frame(tokens, side),
                hide_index=True,
                column_config=TOKEN_COLUMNS,
                key=f"inspect_explain_{side}_tokens",
            )


def draw(query: str, doc: Document, reranker: Any, result: PipelineResult) -> None:
    """The "Why this score?" area for ``doc`` under ``query`` with the page's reranker."""
    st.markdown("##### Why this score?")
    if reranker is None:
        st.caption("No reranker is loaded, so there is no score to explain.")
        return
    key = _key(query, doc, reranker)
    entry = st.session_state.get(STATE, {}).get(key)
    if entry is None:
        if not _asked("occlusion", key):
            plan = plan_occlusion(reranker, query, doc, st.session_state.get("inspect_ms_per_pair"))
            st.caption(escape_markdown(views.cost_caption(plan)))
            st.button(
                "Explain this score",
                key="inspect_explain_run",
                icon=":material/psychology_alt:",
                help="Score the document with each sentence left out and each sentence alone",
                on_click=_ask,
                args=("occlusion", key),
            )
            return
        entry = _run(query, doc, reranker, result)
        if entry is None:
            return
        _remember(key, entry)
    occlusion = entry["occlusion"]
    st.caption(escape_markdown(views.result_caption(occlusion)))
    if occlusion.effects:
        st.html(views.legend_html(occlusion.scale))
        st.html(
            views.heat_strip_html(
                occlusion, doc.text, doc.title, window_end=window_cut(reranker, query, doc)
            )
        )
        st.caption(
            "Occlusion shows how the score responds to removing text, not the model's reasons: "
            "two sentences that say the same thing each look unimportant when left out alone."
        )
        st.markdown("**Most influential sentences**")
        st.dataframe(
            views.sentence_frame(occlusion, top=8),
            hide_index=True,
            column_config=SENTENCE_COLUMNS,
            key="inspect_explain_sentences",
        )
    else:
        st.caption("The document has no text to split into sentences.")
    finding = entry["passage"]
    line = views.passage_line(finding)
    if line:
        st.info(escape_markdown(line), icon=":material/pageview:")
        excerpt = views.passage_excerpt(finding, doc.text)
        if excerpt:
            st.caption(f"Best passage: “{escape_markdown(excerpt)}”")
    elif finding.reason:
        st.caption(escape_markdown(finding.reason))
    _show_tokens(key, entry, query, doc, reranker)
