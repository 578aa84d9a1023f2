"""Judgments: list, filter and export the stored labels; history per pair; agreement.

The filters are SQL in the store (nothing loads every judgment on a rerun). A label whose
document text has changed since it was made is marked stale.
"""

from __future__ import annotations

import labelling
import sidebar
import streamlit as st

from rankshift.judgments import DEFAULT_SCALE, SKIP, judgments_frame
from rankshift.judgments import queue as judging
from rankshift.present import escape_markdown

SCALE = DEFAULT_SCALE
TABLE_KEY = "judgments_table"
EXPORTS = {
    "trec": ("TREC qrels", "qrels.txt", "text/plain"),
    "csv": ("CSV", "judgments.csv", "text/csv"),
    "jsonl": ("JSONL", "judgments.jsonl", "application/jsonl"),
}


def grade_option(grade: int | str) -> str:
    return "skip" if grade == SKIP else f"{grade} · {SCALE.label(int(grade))}"


ctx = sidebar.context()
st.title("Judgments", anchor=False)
st.caption(
    "Every label saved on the Judge page (and any imported qrels), with its history, "
    "inter-annotator agreement and exports."
)

collections, problem = labelling.read(lambda s: s.collections(), [], adopt=ctx.collection)
if problem:
    st.error(escape_markdown(problem), icon=":material/database:")
    st.stop()
current = ctx.collection.name if ctx.collection is not None else None
options = list(dict.fromkeys([*([current] if current else []), *collections]))
if not options:
    st.info("No judgments yet: label documents on the Judge page.", icon=":material/rule:")
    st.stop()
coll = st.selectbox(
    "Collection",
    options=options,
    format_func=lambda c: f"{c} (open in the sidebar)" if c == current else c,
    key="judgments_collection",
    help="Labels belong to a collection's name, so they survive added, removed or corrected "
    "documents. A label of a document whose text changed since is marked stale.",
)
# Freshness is known only for the collection that is loaded.
doc_hashes = ctx.collection.doc_hash if ctx.collection is not None and coll == current else None

facets, problem = labelling.read(lambda s: s.facets(coll), None)
if problem or facets is None:
    st.error(escape_markdown(problem or "no facets"), icon=":material/database:")
    st.stop()
if not facets.total:
    st.info(
        "No judgments for this collection yet: label documents on the Judge page.",
        icon=":material/rule:",
    )
    st.stop()

# ---------------------------------------------------------------------------- filters

f1, f2, f3, f4 = st.columns(4)
query_ids = f1.multiselect(
    "Query", facets.query_ids, key="judgments_query", placeholder="All queries"
)
annotators = f2.multiselect(
    "Annotator", facets.annotators, key="judgments_annotator", placeholder="All annotators"
)
sources = f3.multiselect("Source", facets.sources, key="judgments_source", placeholder="All")
grades = f4.multiselect(
    "Grade", facets.grades, format_func=grade_option, key="judgments_grade", placeholder="All"
)
# Agreement is over the same queries, annotators and sources but every grade: filtering by
# grade would make everybody agree. An empty multiselect means "all".
filters = {
    "query_ids": query_ids or None,
    "annotators": annotators or None,
    "sources": sources or None,
}
(scoped, shown), problem = labelling.read(
    lambda s: (
        s.list_judgments(coll, **filters),
        s.list_judgments(coll, **filters, grades=grades or None),
    ),
    ([], []),
)
if problem:
    st.error(escape_markdown(problem), icon=":material/database:")

summary = judging.summarise(shown, facets.total, doc_hashes)
st.caption(summary.caption)
if summary.stale:
    st.warning(
        f"{summary.stale:,} of these labels are stale: their document's text has changed since "
        "they were made. Metrics leave them out; grade them again on the Judge page.",
        icon=":material/history_toggle_off:",
    )
frame = judgments_frame(shown, SCALE, doc_hashes)
st.dataframe(
    frame,
    hide_index=True,
    key=TABLE_KEY,
    on_select="rerun",
    selection_mode="single-row",
    column_order=[
        "query_id",
        "doc_id",
        "annotator",
        "grade",
        "label",
        "freshness",
        "note",
        "source",
        "version",
        "timestamp",
        "edited_by",
        "rank_shown",
        "stage",
        "model_id",
        "query_text",
    ],
    column_config={
        "query_id": st.column_config.TextColumn("query", width="small"),
        "doc_id": st.column_config.TextColumn("doc", width="small"),
        "grade": st.column_config.NumberColumn("grade", width=50),
        "rank_shown": st.column_config.NumberColumn(
            "rank shown", width=60, help="Where the document was on screen when it was judged"
        ),
        "timestamp": st.column_config.DatetimeColumn("saved (UTC)", format="YYYY-MM-DD HH:mm"),
        "note": st.column_config.TextColumn("note", width="medium"),
        "freshness": st.column_config.TextColumn(
            "text",
            width="small",
            help="current: judged on the document as it reads now · stale: the text changed "
            "since (left out of metrics) · unverified: no record of the text judged · "
            "missing: the document is no longer in the collection",
        ),
    },
    placeholder="–",
)
st.caption("Select a row to see the history of that query-document pair.")

# ---------------------------------------------------------------------------- exports

st.subheader("Export", anchor=False)
st.caption(
    "The judgments listed above. TREC qrels combine several annotators per pair by the mean "
    "grade (rounded half up) and leave skips out; CSV and JSONL keep every record."
)
for col, (fmt, (label, filename, mime)) in zip(
    st.columns(len(EXPORTS)), EXPORTS.items(), strict=True
):
    try:
        data = judging.export_text(shown, fmt)  # type: ignore[arg-type]
        why_not = None
    except ValueError as e:  # e.g. an id with a space cannot be a TREC qrels field
        data, why_not = "", str(e)
    col.download_button(
        f"Download {label}",
        data=data,
        file_name=f"{coll[:40]}-{filename}",
        mime=mime,
        key=f"judgments_export_{fmt}",
        on_click="ignore",
        icon=":material/download:",
        disabled=why_not is not None or not shown,
        help=why_not,
        width="stretch",
    )

# ---------------------------------------------------------------------------- history

selection = st.session_state.get(TABLE_KEY)
rows = selection["selection"]["rows"] if selection else []
if rows and rows[0] < len(shown):
    picked = shown[rows[0]]
    st.subheader("History", anchor=False)
    st.caption(
        f"Query {escape_markdown(picked.query_id)}, document {escape_markdown(picked.doc_id)}: "
        "every change by every annotator, oldest first, including refused stale edits."
    )
    history, problem = labelling.read(lambda s: s.history(coll, picked.query_id, picked.doc_id), [])
    if problem:
        st.error(escape_markdown(problem), icon=":material/database:")
    st.dataframe(
        judging.history_frame(history, SCALE),
        hide_index=True,
        key="judgments_history",
        column_config={
            "recorded_at": st.column_config.DatetimeColumn(
                "recorded (UTC)", format="YYYY-MM-DD HH:mm:ss"
            )
        },
        placeholder="–",
    )

# ---------------------------------------------------------------------------- agreement

st.subheader("Agreement", anchor=False)
st.caption(
    "Cohen's kappa for each pair of annotators and Krippendorff's alpha (ordinal and nominal) "
    "across all of them, over the documents they both graded; skips are missing values. "
    "Filtered by query, annotator and source, never by grade."
)
overall, per_query = judging.agreement_frames(scoped, SCALE)
agreement_config = {
    "value": st.column_config.NumberColumn("value", format="%.3f", width=70),
    "n_items": st.column_config.NumberColumn("documents", width=80),
    "reason": st.column_config.TextColumn("why undefined", width="large"),
}
st.markdown("**Overall**")
st.dataframe(
    overall,
    hide_index=True,
    key="judgments_agreement_overall",
    column_config=agreement_config,
    placeholder="–",
)
st.markdown("**Per query**")
st.dataframe(
    per_query,
    hide_index=True,
    key="judgments_agreement_query",
    column_config=agreement_config,
    placeholder="–",
)
