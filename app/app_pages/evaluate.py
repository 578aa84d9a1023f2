"""Evaluate: did the reranker make search better, for which queries, and what did it break.

Session keys (all ``evaluate_``): the widgets below (``evaluate_strict`` makes judged ids the
collection lacks an error); ``evaluate_pending`` (a run asked for and not finished: a rerun
continues it from the runner's checkpoints), ``evaluate_result``
(the last finished run: its request, report and resume counts), ``evaluate_tradeoff`` and
``evaluate_tradeoff_pending`` (the on-demand K sweep), ``evaluate_goto_inspect`` (set by the
"open in inspector" callbacks of the helped/hurt chart and the shift table; the next rerun
switches page); ``evaluate_unjudged`` adds the queries nobody judged (shift rows only). Opening
a query in the inspector sets the inspector's ``inspect_query_id`` hook and the sidebar's K and
reranker input, so the inspector shows the comparison that was evaluated.
"""

from __future__ import annotations

from functools import partial
from typing import Any, get_args

import resources
import sidebar
import streamlit as st

from rankshift import evaluation as evaluate
from rankshift import present as views
from rankshift.config import cache_dir, judgments_path
from rankshift.evaluation.metrics import (
    DEFAULT_MEASURES,
    GAIN_NOTE,
    MEASURE_HELP,
    MEASURES,
    check_qrels,
    no_query_text,
)
from rankshift.judgments import Aggregate
from rankshift.present import escape_markdown, pipeline_label, plots
from rankshift.present import evaluate as notes
from rankshift.rerank import UnknownDocumentError

INSPECT_PAGE = "app_pages/inspect.py"
# The query-set option for the judgments store (the others are "split:<name>"). No bare
# strings at the top level of a page: Streamlit's magic would render them.
JUDGMENTS = "judgments"
AGGREGATES: list[str] = list(get_args(Aggregate))
PIPELINES = list(evaluate.PIPELINE_CHOICES)
TRADEOFF_KS = [5, 10, 20, 30, 50, 100, 200]

# A chart click or the "Open in inspector" button (callbacks, which run before this script)
# asked for the inspector: switching pages is only allowed here, in the script body.
if st.session_state.pop("evaluate_goto_inspect", False):
    st.switch_page(INSPECT_PAGE)

ctx = sidebar.context()
st.title("Evaluate the reranker", anchor=False)
st.caption(
    "Run a judged query set through each first stage, alone and reranked: is the reranker "
    "better on average, for which queries, what did it push out of the top-N, and is it "
    "worth its latency?"
)
if ctx.collection is None:
    st.info(
        ctx.collection_error or "Pick a collection in the sidebar.", icon=":material/folder_open:"
    )
    st.stop()
collection = ctx.collection

stored = st.session_state.get("evaluate_result")
if stored is not None and stored["request"]["collection"] != collection.fingerprint:
    stored = None  # another collection's results
last: dict[str, Any] = stored["request"] if stored else {}


def _open_in_inspector(query_id: str | None, first_stage: str, k: int) -> None:
    # Callback: show `query_id` in the inspector with the evaluated first stage and K.
    if not query_id:
        return
    stage = evaluate.parse_pipeline(first_stage).first_stage
    st.session_state["inspect_query_id"] = query_id
    st.session_state["sidebar_rerank_input"] = stage
    st.session_state["sidebar_k"] = k
    st.session_state["evaluate_goto_inspect"] = True


def _on_chart_select(first_stage: str, k: int) -> None:
    points = st.session_state["evaluate_chart"]["selection"]["points"]
    if points:
        _open_in_inspector(str(points[0].get("x") or ""), first_stage, k)


def _on_row_select(key: str, query_ids: list[str], first_stage: str, k: int) -> None:
    rows = st.session_state[key]["selection"]["rows"]
    if rows:
        _open_in_inspector(query_ids[rows[0]], first_stage, k)


def _open_picker(query_ids: list[str], label: str, keys: tuple[str, str], *where: Any) -> None:
    # A query picker and "Open in inspector" (`where`: the first stage and K to open it with).
    o1, o2 = st.columns([4, 1], vertical_alignment="bottom")
    picked = o1.selectbox(
        label, query_ids, format_func=lambda q: views.query_label(collection, q), key=keys[0]
    )
    o2.button(
        "Open in inspector",
        icon=":material/open_in_new:",
        key=keys[1],
        on_click=_open_in_inspector,
        args=(picked, *where),
    )


def _show_progress(bar: Any, unit: str, label: str, done: int, total: int) -> None:
    bar.progress(min(1.0, done / total) if total else 1.0, f"{label}: {done:,} of {total:,}{unit}")


def _columns(spec: dict[str, views.ColumnSpec]) -> dict[str, Any]:
    # The library's column specs as Streamlit column configs.
    kinds = {
        "text": st.column_config.TextColumn,
        "number": st.column_config.NumberColumn,
        "checkbox": st.column_config.CheckboxColumn,
    }
    return {c: None if s is None else kinds[s[0]](s[1], **s[2]) for c, s in spec.items()}


# ---------------------------------------------------------------------------- query set

st.subheader("Query set and pipelines", anchor=False)
c1, c2, c3 = st.columns([2, 3, 2], gap="medium")
source_options = [f"split:{s}" for s in collection.qrels] + [JUDGMENTS]
with c1:
    source = st.selectbox(
        "Judgments",
        options=source_options,
        index=source_options.index(last["source"]) if last.get("source") in source_options else 0,
        format_func=lambda s: (
            "stored judgments (Judge page)" if s == JUDGMENTS else f"qrels: {s[6:]}"
        ),
        key="evaluate_source",
        help="A qrels split of the collection, or the grades people gave on the Judge page.",
    )
    aggregate = "mean"
    if source == JUDGMENTS:
        aggregate = st.selectbox(
            "Several annotators' grades become",
            options=AGGREGATES,
            index=AGGREGATES.index(last.get("aggregate", "mean")),
            key="evaluate_aggregate",
            help="mean (rounded half up), majority (ties toward the lower grade), min or max.",
        )
with c2:
    default_specs = last.get("specs") or [
        *ctx.settings.first_stages,
        *([f"{ctx.settings.rerank_input}>ce"] if ctx.settings.reranker else []),
    ]
    specs = st.multiselect(
        "Pipelines",
        options=PIPELINES,
        default=[p for p in PIPELINES if p in default_specs],
        format_func=pipeline_label,
        key="evaluate_pipelines",
        help="Each first stage alone and followed by the cross-encoder (sidebar). A reranked "
        "pipeline brings its first stage along: the report compares the two. Hybrid uses the "
        "sidebar's fusion settings.",
    )
with c3:
    k = st.slider(
        "K candidates per query",
        min_value=5,
        max_value=200,
        value=int(last.get("k", ctx.settings.k)),
        step=5,
        key="evaluate_k",
        help="Each first stage retrieves its top K; a reranked pipeline reorders exactly those. "
        "Recall@100 can only count what the top K holds.",
    )
n = min(ctx.settings.n, k)

if source == JUDGMENTS:
    qrels = evaluate.stored_qrels(judgments_path(), collection, aggregate)
    source_label = f"stored judgments ({aggregate})"
else:
    qrels = collection.qrels[source[6:]]
    source_label = f"split {source[6:]}"
if not qrels:
    st.info(notes.no_judgments_message(source == JUDGMENTS), icon=":material/rule:")
    st.stop()

q1, q2 = st.columns([5, 2], gap="medium")
unjudged = q2.toggle(
    "Also queries nobody judged",
    value=bool(last.get("unjudged", False)),
    key="evaluate_unjudged",
    help="They get no metrics, but the shift section shows how the reranker changed them and "
    "which unjudged documents it moved into the top-N: where to judge next.",
)
judged_ids = evaluate.select_queries(collection, qrels)[0]
eligible = evaluate.select_queries(collection, qrels, unjudged=unjudged)[0]
subset = q1.multiselect(
    f"Only these queries (empty: all {len(eligible):,}{'' if unjudged else ' judged'} queries)",
    options=list(eligible),
    default=[q for q in last.get("query_subset", []) if q in eligible],
    format_func=lambda q: views.query_label(collection, q),
    key="evaluate_query_ids",
)
limit = q2.number_input(
    "At most (0: all)",
    min_value=0,
    value=int(last.get("limit", 0)),
    step=10,
    key="evaluate_limit",
    help="The first N queries of the set, in qrels order.",
)
queries = evaluate.select_queries(collection, qrels, subset, int(limit), unjudged)[0]
m1, m2 = st.columns([5, 2], vertical_alignment="bottom", gap="medium")
measures = m1.multiselect(
    "Measures",
    options=list(MEASURES),
    default=[m for m in last.get("measures", DEFAULT_MEASURES) if m in MEASURES],
    key="evaluate_measures",
    help=f"{GAIN_NOTE}. nDCG@10 is always computed: the verdicts use it.",
)
strict = m2.toggle(
    "Stop on unknown ids",
    key="evaluate_strict",
    help="Judged document or query ids that the collection lacks are an error (strict mode), "
    "instead of a warning.",
)
problems = check_qrels(qrels, collection, source_label)
if problems:
    (st.error if strict else st.warning)(
        notes.qrels_problems_markdown(problems, strict), icon=":material/report:"
    )
    if strict:
        st.stop()
if not specs:
    st.info("Pick at least one pipeline.", icon=":material/checklist:")
    st.stop()
if not any(q in qrels for q in queries):
    message = no_query_text(collection, qrels) if not judged_ids else "none is selected"
    st.info(
        f"No judged query with a text: {escape_markdown(message)}.", icon=":material/search_off:"
    )
    st.stop()

base = ctx.settings.with_(k=k, n=n)
pipeline, settings, problems = resources.prepare_pipeline(
    collection, evaluate.batch_settings(base, specs)
)
for problem in problems:
    st.warning(escape_markdown(problem), icon=":material/warning:")
reranked_specs = [s for s in specs if notes.is_reranked(s)]
notice = sidebar.reranker_notice(collection, "evaluate", reranked_pipelines=bool(reranked_specs))
if reranked_specs and pipeline.reranker is None and not notice:
    st.warning(
        "**Reranked pipelines need a loadable reranker**, so only the first stages will be "
        "evaluated: turn reranking on in the sidebar.",
        icon=":material/report:",
    )
request: dict[str, Any] = {
    "collection": collection.fingerprint,
    "source": source,
    "aggregate": aggregate,
    "specs": list(specs),
    "k": k,
    "n": n,
    "query_subset": list(subset),
    "limit": int(limit),
    "unjudged": unjudged,
    "measures": list(measures),
    "strict": strict,
    "query_ids": list(queries),
    "settings": settings,
}
st.caption(
    escape_markdown(
        views.eval_cost(
            len(queries),
            len(reranked_specs) if pipeline.reranker is not None else 0,
            k,
            settings.max_length,
            settings.reranker,
        )
    )
    + f" · N = {n} (sidebar) for demoted/promoted · finished queries are checkpointed, so "
    "a stopped run continues where it stopped."
)


def _request_run(req: dict[str, Any]) -> None:
    st.session_state["evaluate_pending"] = req
    st.session_state.pop("evaluate_tradeoff", None)


def _stop() -> None:
    st.session_state.pop("evaluate_pending", None)


pending = st.session_state.get("evaluate_pending")
b1, b2, _ = st.columns([2, 1, 5])
b1.button(
    "Run evaluation",
    type="primary",
    icon=":material/play_arrow:",
    key="evaluate_run",
    on_click=_request_run,
    args=(request,),
    disabled=pending is not None,
)
if pending is not None and pending != request:
    # A widget changed while a run was going: that run stopped. Its finished queries are in the
    # checkpoints, so running again (with whatever settings) reuses what still applies.
    st.session_state.pop("evaluate_pending", None)
    pending = None
    st.info(
        "The settings changed, so the running evaluation stopped. Finished queries are kept: "
        "press **Run evaluation** to continue.",
        icon=":material/pause:",
    )
if pending is not None:
    b2.button("Stop", icon=":material/stop:", key="evaluate_stop", on_click=_stop)
    bar = st.progress(0.0, text="Starting…")

    try:
        report, result = evaluate.evaluate_batch(
            pipeline,
            specs,
            queries,
            qrels,
            out_dir=cache_dir() / "eval" / collection.fingerprint / f"k={k}",
            progress=partial(_show_progress, bar, ""),
            qrels_source=source_label,
            measures=measures,
            strict=strict,
        )
    except (ValueError, UnknownDocumentError) as e:
        # UnknownDocumentError: the indexes and the collection disagree, not a reranker failure.
        st.session_state.pop("evaluate_pending", None)
        st.error(escape_markdown(str(e)), icon=":material/error:")
        st.stop()
    finally:
        bar.empty()
    st.session_state.pop("evaluate_pending", None)
    stored = {
        "request": request,
        "report": report,
        "qrels": qrels,
        "resumed": result.resumed_queries,
        "unfinished": result.unfinished,
        "computed": result.computed_queries,
    }
    st.session_state["evaluate_result"] = stored
    st.rerun()  # redraw the buttons (Run enabled, no Stop) with the results below

# ---------------------------------------------------------------------------- results

if stored is None:
    st.info(
        "Pick the judgments and pipelines, then press **Run evaluation**.",
        icon=":material/play_circle:",
    )
    st.stop()

report = stored["report"]
run_k = stored["request"]["k"]
st.divider()
st.subheader("Results", anchor=False)
if stored["request"] != request:
    st.caption(
        ":material/history: These are the last run's results; the settings above have changed "
        "since. Press **Run evaluation** to update them."
    )
st.caption(notes.results_caption(report, stored["computed"], stored["resumed"]))
for note in notes.result_notes(report, stored.get("unfinished", {})):
    st.caption(note)

st.markdown("**Mean over the query set, per pipeline**")
st.dataframe(
    views.eval_metrics_frame(report),
    hide_index=True,
    key="evaluate_metrics",
    column_config=_columns(views.eval_metrics_columns(report.measures, MEASURE_HELP)),
    placeholder="–",
)
st.caption(f"{GAIN_NOTE}.")

if not report.comparisons:
    st.info(
        "No reranked pipeline was evaluated, so there is nothing to compare. Add one (e.g. "
        "BM25 + cross-encoder) to see whether the reranker helps, for which queries, and what "
        "it breaks.",
        icon=":material/compare_arrows:",
    )
    st.stop()

labels = [f"{pipeline_label(c.first)} → {pipeline_label(c.reranked)}" for c in report.comparisons]
which = 0
if len(report.comparisons) > 1:
    which = st.segmented_control(
        "Comparison",
        options=list(range(len(labels))),
        format_func=labels.__getitem__,
        default=0,
        key="evaluate_comparison",
    )
    which = 0 if which is None else which
comp = report.comparisons[which]
first_label, reranked_label = pipeline_label(comp.first), pipeline_label(comp.reranked)

st.subheader(f"Does the reranker help {first_label}?", anchor=False)
(st.success if comp.earning else st.warning)(
    escape_markdown(comp.summary),
    icon=":material/thumb_up:" if comp.earning else ":material/thumb_down:",
)
st.dataframe(
    views.paired_test_frame(comp),
    hide_index=True,
    key="evaluate_tests",
    column_config=_columns(views.paired_test_columns(first_label, reranked_label)),
    placeholder="–",
)
st.caption(
    "Δ = reranked − first stage, averaged over queries; the 95% interval is the paired "
    "t interval of that mean. Empty cells: fewer than two queries."
)

for tile, (label, value, why) in zip(
    st.columns(5), views.verdict_metrics(comp, report.settings), strict=True
):
    tile.metric(label, value, help=why)

# ---------------------------------------------------------------------------- per query

st.markdown(f"**Per query: ΔnDCG@10, {reranked_label} − {first_label}**")
helped_hurt = views.helped_hurt_frame(comp, collection)
st.plotly_chart(
    plots.helped_hurt_chart(helped_hurt, first_label, reranked_label),
    key="evaluate_chart",
    on_select=partial(_on_chart_select, comp.first, run_k),
    selection_mode="points",
    config={"displayModeBar": False},
)
_open_picker(
    helped_hurt["query_id"].tolist(),
    "Click a bar to open the query in the inspector, or pick one here",
    ("evaluate_open_query", "evaluate_open"),
    comp.first,
    run_k,
)

st.markdown("**What the reranker did to each query** (worst first)")
st.dataframe(
    views.verdict_frame(comp, collection),
    hide_index=True,
    key="evaluate_verdicts",
    column_config=_columns(views.verdict_columns(first_label)),
    placeholder="–",
)

# ---------------------------------------------------------------------------- shift

st.subheader("What the reranker changed (no judgments needed)", anchor=False)
shifts = report.shift_of(comp.reranked)
if shifts:
    own = shifts[0]
    for tile, (label, value, why) in zip(st.columns(4), views.shift_metrics(own), strict=True):
        tile.metric(label, value, help=why)
    st.caption(escape_markdown(views.shift_caption(own)))
    if len(shifts) > 1:
        st.dataframe(
            views.shift_means_frame(shifts),
            hide_index=True,
            key="evaluate_shift_means",
            column_config=_columns(views.shift_means_columns(own.n)),
            placeholder="–",
        )
    changed = views.shift_queries_frame(own, collection)
    changed_ids = changed["query_id"].tolist()
    st.markdown("**Queries ranked by how much the reranker changed them** (lowest RBO first)")
    st.dataframe(
        changed,
        hide_index=True,
        key="evaluate_shift",
        on_select=partial(_on_row_select, "evaluate_shift", changed_ids, comp.first, run_k),
        selection_mode="single-row",
        column_config=_columns(views.shift_query_columns(own.n)),
        placeholder="–",
    )
    _open_picker(
        changed_ids,
        "Click a row to open the query in the inspector, or pick one here",
        ("evaluate_shift_query", "evaluate_shift_open"),
        comp.first,
        run_k,
    )

# ---------------------------------------------------------------------------- diagnostics

st.subheader("Is it earning its latency?", anchor=False)
for d in comp.diagnostics:
    if d.triggered:
        st.warning(escape_markdown(d.message), icon=":material/warning:")
    else:
        st.caption(f":material/check: {escape_markdown(d.message)}")

st.subheader("Calibration: the cross-encoder's probability against the judged grade", anchor=False)
cal = comp.calibration
if cal is None or not cal.pairs:
    st.info(
        "No judged candidate was reranked, so there is nothing to calibrate against.",
        icon=":material/info:",
    )
else:
    pairs, reliability = views.calibration_frames(cal)
    k1, k2 = st.columns(2, gap="medium")
    with k1:
        st.plotly_chart(
            plots.calibration_box(
                pairs, cal.best_threshold["probability"] if cal.best_threshold else None
            ),
            key="evaluate_calibration_box",
            config={"displayModeBar": False},
        )
    with k2:
        st.plotly_chart(
            plots.reliability_curve(reliability),
            key="evaluate_reliability",
            config={"displayModeBar": False},
        )
    st.caption(escape_markdown(views.threshold_caption(cal)))

# ---------------------------------------------------------------------------- trade-off

st.subheader("Latency / quality trade-off", anchor=False)
st.caption(
    f"nDCG@10 and cold rerank time as K varies, reranking {escape_markdown(first_label)}'s "
    "candidates. It reranks up to the largest K for every query, so it runs only when asked."
)
t1, t2, t3 = st.columns([3, 1, 2], vertical_alignment="bottom")
ks = t1.multiselect(
    "K values", options=TRADEOFF_KS, default=[10, 20, 50, 100], key="evaluate_tradeoff_ks"
)
latency_queries = t2.number_input(
    "Timed queries", min_value=1, value=10, key="evaluate_latency_queries"
)
trade_request = {
    "run": stored["request"],
    "first": comp.first,
    "ks": sorted(ks),
    "latency_queries": int(latency_queries),
}


def _request_tradeoff(req: dict[str, Any]) -> None:
    st.session_state["evaluate_tradeoff_pending"] = req


t3.button(
    "Compute the trade-off",
    icon=":material/speed:",
    key="evaluate_tradeoff_run",
    on_click=_request_tradeoff,
    args=(trade_request,),
    disabled=pipeline.reranker is None or not ks,
    help=None if pipeline.reranker is not None else "Needs a loadable reranker (sidebar).",
)
if st.session_state.get("evaluate_tradeoff_pending") == trade_request:
    bar = st.progress(0.0, text="Reranking at the largest K…")

    try:
        trade = evaluate.tradeoff(
            evaluate.BatchRunner(pipeline, [comp.first]),
            evaluate.select_queries(collection, stored["qrels"], report.query_ids)[0],
            stored["qrels"],
            comp.first,
            ks,
            int(latency_queries),
            progress=partial(_show_progress, bar, " queries"),
        )
        st.session_state["evaluate_tradeoff"] = {"request": trade_request, "tradeoff": trade}
    except ValueError as e:
        st.error(escape_markdown(str(e)), icon=":material/error:")
    finally:
        bar.empty()
        st.session_state.pop("evaluate_tradeoff_pending", None)
trade_state = st.session_state.get("evaluate_tradeoff")
if trade_state is not None and trade_state["request"]["run"] == stored["request"]:
    trade = trade_state["tradeoff"]
    st.plotly_chart(
        plots.tradeoff_chart(
            views.tradeoff_frame(trade),
            trade.first_stage_ndcg10,
            title=f"{trade.first_stage} > {trade.reranker}",
        ),
        key="evaluate_tradeoff_chart",
        config={"displayModeBar": False},
    )
    st.caption(
        f"nDCG@10 over {trade.n_queries} queries; rerank time measured cold (no pair-score "
        f"cache) on the first {trade.latency_queries}."
    )
