"""Inspect: one query through every stage, and what the reranker did to it."""

from __future__ import annotations

from functools import partial

import labelling
import resources
import sidebar
import streamlit as st

from rankshift import present as views
from rankshift.judgments import queue as judging
from rankshift.pipeline import SECOND_KEY
from rankshift.present import escape_markdown, plots, stage_label
from rankshift.present import first_minute as newcomer

TRAIN_PAGE = "app_pages/train.py"

ctx = sidebar.context()
st.title("Inspect a query", anchor=False)
st.caption(
    "Each first stage's ranking and the cross-encoder's reordering of it, side by side: "
    "what moved, what fell out of the top-N, and why."
)
if ctx.collection is None:
    st.info(
        ctx.collection_error or "Pick a collection in the sidebar.", icon=":material/folder_open:"
    )
    st.stop()
collection = ctx.collection

# A link opens a query: `?query=<query id>` (a collection query; the Judge page reads the same
# parameter) or `?text=<typed query>`. The URL follows the query box (below), so a reload or a
# copied link shows the same query. `inspect_url` holds the link last applied or written: a URL
# that differs from it came from outside (a new session, a pasted link) and sets the query box.
QUERY_PARAM, TEXT_PARAM = "query", "text"
_linked = (st.query_params.get(QUERY_PARAM), st.query_params.get(TEXT_PARAM))
if any(_linked) and _linked != st.session_state.get("inspect_url"):
    st.session_state["inspect_url"] = _linked
    if _linked[0] in collection.queries:
        st.session_state["inspect_pick"] = _linked[0]
        st.session_state["inspect_query"] = collection.queries[_linked[0]].text
    elif _linked[1]:
        st.session_state["inspect_pick"] = None
        st.session_state["inspect_query"] = _linked[1]
    else:
        st.warning(
            f"The link asks for query `{escape_markdown(str(_linked[0]))}`, which this "
            "collection does not have: type a query or pick one.",
            icon=":material/link_off:",
        )

# Hook for other pages: to open a query here, set `inspect_query_id` (a plain session key,
# not a widget's, so it survives the page switch) and st.switch_page to this page. It is
# consumed once, before the query widgets below are drawn. (The Evaluate page uses it.)
_wanted = st.session_state.pop("inspect_query_id", None)
if _wanted in collection.queries:
    st.session_state["inspect_pick"] = _wanted
    st.session_state["inspect_query"] = collection.queries[_wanted].text

# ---------------------------------------------------------------------------- query box


def _use_picked() -> None:
    picked = st.session_state.get("inspect_pick")
    if picked in collection.queries:
        st.session_state["inspect_query"] = collection.queries[picked].text


def _typed() -> None:
    picked = st.session_state.get("inspect_pick")
    if picked in collection.queries and (
        collection.queries[picked].text != st.session_state.get("inspect_query")
    ):
        st.session_state["inspect_pick"] = None


q_col, pick_col = st.columns([3, 2], vertical_alignment="bottom")
q_col.text_input(
    "Query",
    key="inspect_query",
    placeholder="Type a query and press Enter",
    on_change=_typed,
)
query_ids = views.query_options(collection)
if st.session_state.get("inspect_pick") not in (None, *query_ids):
    st.session_state["inspect_pick"] = None
pick_col.selectbox(
    f"…or pick one of the collection's {len(query_ids):,} queries",
    options=query_ids,
    index=None,
    format_func=lambda q: views.query_label(collection, q),
    key="inspect_pick",
    on_change=_use_picked,
    placeholder="Judged queries first",
    disabled=not query_ids,
)
# The query box into the URL: a collection query by its id, anything else as typed.
_picked = st.session_state.get("inspect_pick")
_typed_text = st.session_state.get("inspect_query") or ""
if _picked in collection.queries and collection.queries[_picked].text == _typed_text:
    _link: tuple[str | None, str | None] = (_picked, None)
else:
    _link = (None, _typed_text if _typed_text.strip() else None)
for _param, _value in zip((QUERY_PARAM, TEXT_PARAM), _link, strict=True):
    if _value is None:
        st.query_params.pop(_param, None)
    elif st.query_params.get(_param) != _value:
        st.query_params[_param] = _value
st.session_state["inspect_url"] = _link


def _use_example(query_id: str) -> None:
    st.session_state["inspect_pick"] = query_id
    st.session_state["inspect_query"] = collection.queries[query_id].text


# An empty page offers two of the collection's judged queries: the first view is one click away.
_examples = newcomer.example_queries(collection)
if _examples and not (st.session_state.get("inspect_query") or "").strip():
    _cols = st.columns([1.4, 3, 3, 1.6], vertical_alignment="center", gap="small")
    _cols[0].markdown("**Try an example:**")
    for _col, _qid in zip(_cols[1:], _examples, strict=False):
        _col.button(
            newcomer.example_label(collection, _qid),
            key=f"inspect_example_{_qid}",
            icon=":material/search:",
            on_click=_use_example,
            args=(_qid,),
            help=views.query_label(collection, _qid),
            width="stretch",
        )

pipeline, settings, problems = resources.prepare_pipeline(collection, ctx.settings)
for problem in problems:
    st.warning(escape_markdown(problem), icon=":material/warning:")
# No reranker can load: say so here, with the ways out, before any query is typed.
no_reranker = sidebar.reranker_notice(collection, "inspect")

text = st.session_state.get("inspect_query", "") or ""
problem = views.query_problem(text)
if problem:
    st.info(problem, icon=":material/search:")
    st.stop()

query = views.resolve_query(collection, text, st.session_state.get("inspect_pick"))
result, from_cache = resources.run_query(pipeline, query)
info = result.rerank
if info is not None and info.reranked and info.scored_pairs:
    st.session_state["inspect_ms_per_pair"] = result.timings_ms["per_pair"]
    sidebar.show_cost(ctx.settings.reranker or "")  # now with this query's pairs in the rate
qrels_grades = views.grades_for(collection, query.query_id, ctx.grade_split)
# Labels from the judgment store (the Judge page) for this collection's fingerprint: merged into
# the grades the charts use, and shown in their own "label" column next to the qrels grade.
labels: dict[str, int] = {}
if query.query_id != "adhoc":
    labels, labels_problem = labelling.read(
        lambda store: judging.label_grades(
            store.collection_judgments(collection, query.query_id, include_skipped=False),
            query.query_id,
        ),
        {},
    )
    if labels_problem:
        st.warning(escape_markdown(labels_problem), icon=":material/database:")
grades = views.grades_for(collection, query.query_id, ctx.grade_split, extra=labels)
show_grades = qrels_grades if (grades or query.query_id != "adhoc") else None
show_labels = labels or None
diag = views.diagnostics(result)
rerank_input = settings.rerank_input

# ---------------------------------------------------------------------------- banners

if info is not None and not info.reranked and settings.reranker is None:
    st.info(
        "Reranking is off (sidebar): the last column repeats the first stage's order.",
        icon=":material/toggle_off:",
    )
elif info is not None and not info.reranked and not no_reranker:
    st.warning(
        f"**Not reranked: the lists below are in first-stage order.** {escape_markdown(info.message)}",
        icon=":material/report:",
    )
    if info.status == "unavailable":
        st.page_link(
            TRAIN_PAGE,
            label="Train a reranker from this collection's judgments",
            icon=":material/model_training:",
        )
for warning in diag.warnings:
    st.warning(escape_markdown(warning), icon=":material/warning:")
for note in diag.notes:
    st.caption(f":material/info: {escape_markdown(note)}")

if diag.reranked:
    m = st.columns(5)
    tau = diag.kendall_tau.get(rerank_input)
    m[0].metric(
        f"Kendall's τ vs {stage_label(rerank_input)}",
        "–" if tau is None else f"{tau:.2f}",
        help="Rank correlation between the first stage's order and the reranked order over "
        "their shared candidates: 1 = unchanged, 0 = unrelated, −1 = reversed.",
    )
    m[1].metric(
        f"Dropped from top-{settings.n}",
        diag.dropped.get(rerank_input, 0),
        help=f"Of {stage_label(rerank_input)}'s top-{settings.n} (the list the reranker "
        f"reordered), how many the reranker put below its top-{settings.n}.",
    )
    m[2].metric(f"Promoted into top-{settings.n}", diag.promoted.get(rerank_input, 0))
    m[3].metric(
        "Rerank time",
        f"{result.timings_ms['rerank'] / 1000:.1f} s" if info.scored_pairs else "cached",
        help=f"{info.scored_pairs} pairs scored, {info.cached_pairs} from the pair-score cache",
    )
    m[4].metric(
        "Cross-encoder score spread",
        f"{diag.ce_std:.3g}",
        help="Standard deviation of the raw cross-encoder scores over the K candidates.",
    )
not_candidates = views.not_candidate_note(result)
if not_candidates:
    st.caption(f":material/info: {escape_markdown(not_candidates)}")
st.caption(
    escape_markdown(views.settings_caption(result.settings))
    + (
        f" · query {escape_markdown(query.query_id)} has {len(grades)} judged documents"
        if grades
        else ""
    )
)

# ---------------------------------------------------------------------------- rankings


def _open_doc(table_key: str, doc_ids: list[str]) -> None:
    rows = st.session_state[table_key]["selection"]["rows"]
    if rows:
        st.session_state["inspect_doc"] = doc_ids[rows[0]]


COLUMN_CONFIG = {
    "rank": st.column_config.NumberColumn("#", width=32),
    "shift": st.column_config.TextColumn(
        "shift", width=62, help="Rank change relative to the reranker's input list"
    ),
    "title": st.column_config.TextColumn("title", width=220),
    "score": st.column_config.NumberColumn("score", format="%.3f", width=60),
    "grade": st.column_config.NumberColumn(
        "grade", width=50, help="Grade in the collection's qrels (empty: unjudged)"
    ),
    "label": st.column_config.NumberColumn(
        "label",
        width=50,
        help="Label from the judgment store (Judge page; several annotators combined by mean)",
    ),
    "snippet": st.column_config.TextColumn("snippet", width="large"),
    "doc_id": st.column_config.TextColumn("doc", width="small"),
    **{
        stage_label(k): st.column_config.NumberColumn(
            stage_label(k), width=60, help=f"Rank in {stage_label(k)} (empty: not in its top-K)"
        )
        for k in [*views.STAGE_LABELS]
    },
}

head_l, head_m, head_r = st.columns([3, 1, 1], vertical_alignment="bottom")
head_l.subheader("Rankings", anchor=False)
compare = head_m.toggle(
    "Compare with a second reranker",
    key="inspect_compare_on",
    help="Rerank the same candidates with another model (a trained one, or any id or folder) "
    "and show its list beside the sidebar's reranker.",
)
show_all = head_r.toggle(
    "Show all K candidates", key="inspect_show_all", help=f"All {settings.k}, not just the top-N"
)
second = None
if compare:
    second_id = sidebar.reranker_picker(
        "Second reranker",
        "inspect_compare_model",
        "inspect_compare_other",
        None,
        exclude=(settings.reranker,) if settings.reranker else (),
        help="Reranks the same top-K of the same first stage; its shift markers are against "
        "that first stage too.",
    )
    if second_id:
        second = resources.rerank_second(pipeline, result, second_id)
        if second.info.reranked:
            st.caption(escape_markdown(views.second_rerank_caption(second, settings.n)))
        else:
            st.warning(
                f"**The second reranker did not rerank.** {escape_markdown(second.info.message)}",
                icon=":material/report:",
            )
    else:
        st.caption("Type a model id or folder for the second reranker.")
frames = views.ranking_frames(
    result,
    collection,
    show_grades,
    depth=settings.k if show_all else settings.n,
    labels=show_labels,
    second=second,
)
headings = views.ranking_labels(result, second)
stages = views.ranking_stages(result, second)
score_labels = views.score_labels(result, second)
column_config = {
    **COLUMN_CONFIG,
    **(
        {
            headings[SECOND_KEY]: st.column_config.NumberColumn(
                headings[SECOND_KEY],
                width=60,
                help=f"Rank in {headings[SECOND_KEY]}'s list (empty: not in its top-K)",
            )
        }
        if second is not None
        else {}
    ),
}
cols = st.columns(len(frames), gap="small")
for col, (key, frame) in zip(cols, frames.items(), strict=True):
    stage = stages[key]
    with col:
        st.markdown(f"**{escape_markdown(headings[key])}**")
        st.caption(escape_markdown(stage.name))
        if frame.empty:
            st.caption("No documents: nothing matched.")
            continue
        st.dataframe(
            views.style_frame(frame),
            hide_index=True,
            column_config={
                **column_config,
                **{
                    col: st.column_config.NumberColumn(label, format="%.3f", width=90)
                    for col, label in score_labels[key].items()
                },
            },
            key=f"inspect_table_{key}",
            on_select=partial(_open_doc, f"inspect_table_{key}", frame["doc_id"].tolist()),
            selection_mode="single-row",
            placeholder="–",
        )
st.caption(
    "Columns named after the other lists give the document's rank there (– : not in that "
    "list's top-K); scroll a table sideways for snippets, or expand it with ⛶. Select a row "
    "to read the document below."
)

# ---------------------------------------------------------------------------- document view

st.subheader("Document", anchor=False)
candidates = views.candidate_ids(result)
if st.session_state.get("inspect_doc") not in candidates:
    st.session_state["inspect_doc"] = candidates[0] if candidates else None
doc_id = st.selectbox(
    "Open a document",
    options=candidates,
    format_func=lambda d: views.document_label(collection, d),
    key="inspect_doc",
)
if doc_id is not None and doc_id in collection.documents:
    view = views.document_view(
        collection.documents[doc_id],
        query.text,
        result,
        pipeline.reranker,
        qrels_grades,
        labels=labels,
    )
    with st.container(border=True):
        st.markdown(f"##### {escape_markdown(view.title or '(untitled)')}")
        st.caption(escape_markdown(views.document_facts(view)))
        st.markdown(views.segments_markdown(view.segments, seen=True) or "*(empty)*")
        if view.unseen_text:
            st.markdown(
                f":red-background[**✂ Not seen by the reranker**] — the cross-encoder reads "
                f"{view.max_length} tokens of query + title + text; everything below was cut off."
            )
            st.markdown(f":gray[{views.segments_markdown(view.segments, seen=False)}]")
        elif view.window_unknown:
            st.caption(
                "This reranker runs as a service and does not report its token window: "
                "which part of the text it read is unknown."
            )
        elif view.window_end is None:
            st.caption("No cross-encoder loaded, so its token window is not marked.")
        elif view.passages == "maxp":
            st.caption(
                f"MaxP: the reranker read all of this document in windows of {view.max_length} "
                "tokens; its score is the best window's."
            )
        else:
            st.caption(f"The reranker saw all of this document (within {view.max_length} tokens).")
    with st.container(border=True):
        import explain_panel  # the "Why this score?" area (sentences, passages, tokens)

        explain_panel.draw(query.text, collection.documents[doc_id], pipeline.reranker, result)

# ---------------------------------------------------------------------------- shifts

st.subheader("What the reranker changed", anchor=False)
if not diag.reranked:
    st.info(
        "Nothing was reranked, so there are no rank shifts, dropped or promoted documents.",
        icon=":material/info:",
    )
else:
    first_keys = list(result.audits)
    against = st.segmented_control(
        "Compare the reranked list with",
        options=first_keys,
        default=rerank_input if rerank_input in first_keys else first_keys[0],
        format_func=stage_label,
        key="inspect_against",
    ) or (rerank_input if rerank_input in first_keys else first_keys[0])
    chart_col, table_col = st.columns([4, 7], gap="medium")
    with chart_col:
        st.markdown(f"**Rank shifts: {stage_label(against)} → reranked**")
        st.plotly_chart(
            plots.rank_shift_chart(
                views.shift_frame(result, against, collection, grades),
                n=settings.n,
                first_label=stage_label(against),
                reranked_label="Reranked",
                depth=min(settings.k, max(3 * settings.n, 30)),
            ),
            key="inspect_shift_chart",
            config={"displayModeBar": False},
        )
    with table_col:
        dropped = views.dropped_frame(result, against, collection, show_grades, show_labels)
        promoted = views.promoted_frame(result, against, collection, show_grades, show_labels)
        outside = views.not_candidate_frame(result, against, collection, show_grades, show_labels)
        words = views.cut_labels(result, against)
        cut_config = {
            "doc_id": st.column_config.TextColumn("doc", width="small"),
            "title": st.column_config.TextColumn("title", width=200),
            "first_rank": st.column_config.NumberColumn(f"{stage_label(against)} #", width=60),
            "first_score": st.column_config.NumberColumn(
                f"{stage_label(against)} score", format="%.3f", width=60
            ),
            "now": st.column_config.NumberColumn("now #", width=50),
            "ce_score": st.column_config.NumberColumn(
                words.ce_score, format="%.3f", width=90, help="The cross-encoder's own score"
            ),
            "blended_score": st.column_config.NumberColumn(
                words.blended_score or "blended score",
                format="%.3f",
                width=110,
                help="The score that decided the reranked order",
            ),
            "margin": st.column_config.NumberColumn(words.margin_below, format="%.3f", width=110),
            # A service reports no token counts: the column would read "not truncated".
            "truncated": st.column_config.CheckboxColumn("truncated", width=60)
            if diag.tokens_known
            else None,
            "grade": st.column_config.NumberColumn("grade", width=50),
            "label": st.column_config.NumberColumn("label", width=50),
            "why": st.column_config.TextColumn("why", width="large"),
        }
        st.markdown(f"**{escape_markdown(words.dropped_title)}**")
        st.caption(escape_markdown(words.dropped_caption))
        if dropped.empty:
            st.success(
                "Nothing dropped: the reranker kept every top-N document it saw.",
                icon=":material/check:",
            )
        else:
            st.dataframe(
                views.style_frame(dropped),
                hide_index=True,
                column_config=cut_config,
                key="inspect_dropped",
                on_select=partial(_open_doc, "inspect_dropped", dropped["doc_id"].tolist()),
                selection_mode="single-row",
                placeholder="–",
            )
        st.markdown(f"**{escape_markdown(words.promoted_title)}**")
        st.caption(escape_markdown(words.promoted_caption))
        if promoted.empty:
            st.caption("Nothing promoted from below the cut.")
        else:
            st.dataframe(
                views.style_frame(promoted),
                hide_index=True,
                column_config={
                    **cut_config,
                    "margin": st.column_config.NumberColumn(
                        words.margin_above, format="%.3f", width=110
                    ),
                },
                key="inspect_promoted",
                on_select=partial(_open_doc, "inspect_promoted", promoted["doc_id"].tolist()),
                selection_mode="single-row",
                placeholder="–",
            )
        if not outside.empty:
            st.markdown(f"**{escape_markdown(words.not_candidate_title)}**")
            st.caption(escape_markdown(words.not_candidate_caption))
            st.dataframe(
                views.style_frame(outside),
                hide_index=True,
                column_config=cut_config,
                key="inspect_not_candidates",
                on_select=partial(_open_doc, "inspect_not_candidates", outside["doc_id"].tolist()),
                selection_mode="single-row",
                placeholder="–",
            )

    # ------------------------------------------------------------------------ scores

    st.subheader("Scores", anchor=False)
    s1, s2 = st.columns([3, 2], gap="medium")
    with s1:
        st.markdown(f"**Distributions over the {settings.k} candidates**")
        st.plotly_chart(
            plots.score_distributions(views.score_frame(result)),
            key="inspect_score_hist",
            config={"displayModeBar": False},
        )
    with s2:
        st.markdown(f"**{stage_label(against)} score vs cross-encoder score**")
        st.plotly_chart(
            plots.score_scatter(
                views.pair_frame(result, against, collection, grades),
                first_label=stage_label(against),
                tau=diag.kendall_tau.get(against),
            ),
            key="inspect_score_scatter",
            config={"displayModeBar": False},
        )
        st.caption(
            "Diamonds: the pair was truncated to the reranker's token window."
            if diag.tokens_known
            else "This reranker reports no token counts: truncation is unknown, not shown."
        )

# ---------------------------------------------------------------------------- latency

st.subheader("Latency of this query", anchor=False)
latency = views.latency_frame(result)
l1, l2 = st.columns([3, 2], gap="medium")
with l1:
    st.plotly_chart(
        plots.latency_chart(latency), key="inspect_latency", config={"displayModeBar": False}
    )
with l2:
    st.dataframe(
        latency,
        hide_index=True,
        placeholder="",
        column_config={"ms": st.column_config.NumberColumn("ms", format="%.1f")},
    )
    if from_cache:
        st.caption("Served from the result cache: these are the timings of the first run.")
