"""Judge: label the documents of a query's pool, one at a time or as a list.

The pool is every first stage's top-K and the reranked top-N (``rankshift.judgments.queue``). In
blind mode (the default) the pool is shown shuffled, with no ranks, scores or stage names.
Every label is written in a button callback, with the version that was on screen, so an edit
made elsewhere in the meantime is refused instead of overwritten. Labels are keyed by the
collection's name and remember the text they judged: a label whose document has changed since
is shown as stale and queued to be judged again.
"""

from __future__ import annotations

from typing import Any

import labelling
import resources
import sidebar
import streamlit as st

from rankshift import present as views
from rankshift.judgments import (
    DEFAULT_SCALE,
    SKIP,
    Judgment,
    JudgmentContext,
    StaleEditError,
    grade_name,
)
from rankshift.judgments import queue as judging
from rankshift.present import escape_markdown

SCALE = DEFAULT_SCALE
CHOICES: list[int | str] = [*SCALE.grades, SKIP]
SHORTCUTS = {**{g: str(g) for g in SCALE.grades}, SKIP: "S"}
VIEWS = {"one": "One at a time", "list": "List"}
QUERY_KEY = "judge_query_id"
QUERY_PARAM = "query"
DOC_KEY = "judge_doc_id"
STATUS_KEY = "judge_status"
FLASH_KEY = "judge_flash"


def choice_label(choice: int | str) -> str:
    if choice == SKIP:
        return "S · skip / can't judge"
    return f"{choice} · {SCALE.label(int(choice))}"


def stored_choice(j: Judgment | None) -> int | str | None:
    if j is None:
        return None
    return SKIP if j.grade is None else j.grade


def label_of(j: Judgment) -> str:
    return choice_label(SKIP if j.grade is None else j.grade)


def is_stale(j: Judgment) -> bool:
    """Has the document's text changed since ``j`` was made?"""
    return j.freshness(collection.doc_hash(j.doc_id)) == "stale"


def note_key(query_id: str, doc_id: str) -> str:
    return f"judge_note_{query_id}_{doc_id}"


# ---------------------------------------------------------------------------- callbacks


def _save(
    collection_name: str,
    annotator: str,
    query_id: str,
    query_text: str,
    doc_id: str,
    doc_hash: str | None,
    choice: int | str,
    expected_version: int,
    context: JudgmentContext,
    advance_to: str | None,
) -> None:
    """Write one label. Runs before the rerun, so nothing can cut it short."""
    note = (st.session_state.get(note_key(query_id, doc_id)) or "").strip() or None
    status: dict[tuple[str, str], dict[str, Any]] = st.session_state.setdefault(STATUS_KEY, {})
    key = (query_id, doc_id)
    try:
        with labelling.open_store() as store:
            saved = store.save(
                collection_name,
                query_id,
                doc_id,
                annotator,
                choice,  # type: ignore[arg-type]
                query_text=query_text,
                note=note,
                context=context,
                source="ui",
                expected_version=expected_version,
                doc_hash=doc_hash,
            )
    except StaleEditError as e:
        status[key] = {"kind": "stale", "choice": choice, "message": _stale_message(e, choice)}
        return
    except labelling.STORE_ERRORS as e:
        status[key] = {
            "kind": "error",
            "choice": choice,
            "message": f"Not saved: your choice {choice_label(choice)} was not written ({e}). "
            "Try again.",
        }
        return
    status.pop(key, None)
    st.session_state[FLASH_KEY] = f"Saved {doc_id}: {label_of(saved)} (version {saved.version})"
    if advance_to is not None:
        st.session_state[DOC_KEY] = advance_to


def _stale_message(e: StaleEditError, choice: int | str) -> str:
    if e.current is not None:
        now = f"now {label_of(e.current)}, version {e.current_version}"
    elif e.changed_by is not None:
        now = "it was deleted"
    else:
        now = "it no longer exists"
    who = e.changed_by or "someone"
    return (
        f"Not saved: {who} changed this label at {judging.short_time(e.changed_at)} "
        f"({now}) after it was shown to you. Your choice {choice_label(choice)} was not "
        "written. Reload to see the current label, then choose again."
    )


def _reload(query_id: str, doc_id: str) -> None:
    st.session_state.get(STATUS_KEY, {}).pop((query_id, doc_id), None)
    # Let the note field start again from what is stored.
    st.session_state.pop(note_key(query_id, doc_id), None)


def _goto(doc_id: str | None) -> None:
    if doc_id is not None:
        st.session_state[DOC_KEY] = doc_id


def _query_changed() -> None:
    st.session_state.pop(DOC_KEY, None)
    st.session_state.pop(FLASH_KEY, None)
    st.query_params[QUERY_PARAM] = st.session_state[QUERY_KEY]


# ---------------------------------------------------------------------------- page head

ctx = sidebar.context()
st.title("Judge", anchor=False)
st.caption(
    "Label the documents of a query's pool: every first stage's top-K and the reranked "
    "top-N. Keys 0–3 grade the document on screen, S skips it."
)
if ctx.collection is None:
    st.info(
        ctx.collection_error or "Pick a collection in the sidebar.", icon=":material/folder_open:"
    )
    st.stop()
collection = ctx.collection
name = collection.name

annotator = labelling.current()
if annotator is None:
    labelling.name_form()
    st.stop()
labelling.identity_line(annotator)

query_ids = views.query_options(collection)
if not query_ids:
    st.info(
        "This collection has no queries. Labels belong to a query id, so judging needs a "
        "collection with queries (a BEIR folder with queries.jsonl).",
        icon=":material/help:",
    )
    st.stop()

mine_per_query, problem = labelling.read(
    lambda s: s.labels_per_query(name, annotator), {}, adopt=collection
)
if problem:
    st.error(escape_markdown(problem), icon=":material/database:")
    st.stop()

if st.session_state.get(QUERY_KEY) not in query_ids:
    from_url = st.query_params.get(QUERY_PARAM)
    st.session_state[QUERY_KEY] = from_url if from_url in query_ids else query_ids[0]
q_col, blind_col, view_col = st.columns([5, 2, 3], vertical_alignment="bottom")
query_id = q_col.selectbox(
    "Query",
    options=query_ids,
    # The labels must not change as you judge: a changed option label makes a new widget,
    # which would drop the selection.
    format_func=lambda q: views.query_label(collection, q),
    key=QUERY_KEY,
    on_change=_query_changed,
)
if st.query_params.get(QUERY_PARAM) != query_id:
    st.query_params[QUERY_PARAM] = query_id
blind = blind_col.toggle(
    "Blind mode",
    value=True,
    key="judge_blind",
    help="Shuffled order, no ranks, scores or stage names: judge the document, not the model.",
)
view = (
    view_col.segmented_control(
        "View",
        options=list(VIEWS),
        format_func=VIEWS.__getitem__,
        default="one",
        key="judge_view",
    )
    or "one"
)

query = collection.queries[query_id]
st.markdown(f"**Query:** {escape_markdown(query.text)}")
if mine_per_query:
    n_docs, n_queries = sum(mine_per_query.values()), len(mine_per_query)
    st.caption(
        f"You have labelled {n_docs:,} document{'s' * (n_docs != 1)} over {n_queries:,} "
        f"quer{'ies' if n_queries != 1 else 'y'} of this collection."
    )

pipeline, settings, problems = resources.prepare_pipeline(collection, ctx.settings)
for message in problems:
    st.warning(escape_markdown(message), icon=":material/warning:")
result, _ = resources.run_query(pipeline, query)

# Every label of this query, stale ones too: they are shown as such.
query_judgments, problem = labelling.read(lambda s: s.list_judgments(name, query_id), [])
if problem:
    st.error(escape_markdown(problem), icon=":material/database:")
    st.stop()
mine = {j.doc_id: j for j in query_judgments if j.annotator == annotator}
qrels = views.grades_for(collection, query_id, ctx.grade_split)
queue = judging.judging_queue(
    result,
    query_judgments,
    annotator=annotator,
    qrels=qrels,
    collection=name,
    doc_hashes=collection.doc_hash,
)
if not queue:
    st.info("No document was retrieved for this query: there is nothing to judge.")
    st.stop()
items = {i.doc_id: i for i in queue}
order = judging.blind_order(items, query_id, annotator) if blind else judging.priority_order(queue)
position = {doc_id: i for i, doc_id in enumerate(order, start=1)}
done = sum(i.done for i in queue)
st.progress(done / len(queue), text=f"{done} of {len(queue)} judged by you")
if done == len(queue):
    st.success("You have labelled every document of this pool.", icon=":material/done_all:")
flash = st.session_state.pop(FLASH_KEY, None)
if flash:
    st.success(escape_markdown(flash), icon=":material/check:")

status: dict[tuple[str, str], dict[str, Any]] = st.session_state.get(STATUS_KEY, {})


# ---------------------------------------------------------------------------- one document


def grade_buttons(doc_id: str, *, shortcuts: bool, advance_to: str | None) -> None:
    """The five grade buttons of one document: big, first in the tab order, keys 0-3 and S."""
    item = items[doc_id]
    outcome = status.get((query_id, doc_id))
    current = mine.get(doc_id)
    # After a failed write the user's choice stays selected, not what is stored.
    selected = outcome["choice"] if outcome else stored_choice(current)
    context = judging.label_context(
        result, item, rank_shown=position[doc_id], blind=blind, view=view
    )
    prefix = "judge_grade" if shortcuts else f"judge_grade_{doc_id}"
    for col, choice in zip(st.columns(len(CHOICES)), CHOICES, strict=True):
        col.button(
            choice_label(choice),
            key=f"{prefix}_{choice}",
            type="primary" if selected == choice else "secondary",
            width="stretch",
            shortcut=SHORTCUTS[choice] if shortcuts else None,
            on_click=_save,
            args=(
                name,
                annotator,
                query_id,
                query.text,
                doc_id,
                collection.doc_hash(doc_id),
                choice,
                current.version if current else 0,
                context,
                advance_to,
            ),
        )


def label_status(doc_id: str) -> None:
    """What is stored for this document, or why the last choice was not saved."""
    outcome = status.get((query_id, doc_id))
    current = mine.get(doc_id)
    if outcome and outcome["kind"] == "stale":
        st.warning(escape_markdown(outcome["message"]), icon=":material/sync_problem:")
        st.button(
            "Reload the current label",
            key=f"judge_reload_{doc_id}",
            on_click=_reload,
            args=(query_id, doc_id),
            icon=":material/refresh:",
        )
    elif outcome and outcome["kind"] == "error":
        st.error(escape_markdown(outcome["message"]), icon=":material/error:")
    stale = current is not None and is_stale(current)
    if stale and not outcome:
        st.warning(
            f"Stale: you graded this document {escape_markdown(label_of(current))} "
            f"(version {current.version}, {judging.short_time(current.timestamp)}), and its "
            "text has changed since. Metrics leave this label out until you grade it again.",
            icon=":material/history_toggle_off:",
        )
    elif current is not None and not outcome:
        st.caption(
            f":material/check_circle: Saved · {escape_markdown(label_of(current))}"
            f" · version {current.version} · {judging.short_time(current.timestamp)}"
        )
    elif current is None and not outcome:
        st.caption(":material/radio_button_unchecked: Not judged by you yet")


def note_field(doc_id: str, *, collapsed: bool) -> None:
    key = note_key(query_id, doc_id)
    if key not in st.session_state:
        st.session_state[key] = (mine[doc_id].note or "") if doc_id in mine else ""
    st.text_input(
        "Note (saved with the grade you click)",
        key=key,
        max_chars=2000,
        placeholder="Optional: why this grade?",
        label_visibility="collapsed" if collapsed else "visible",
    )


def open_facts(doc_id: str) -> None:
    """Ranks, scores, why it is in the queue, and other people's grades (never in blind mode)."""
    item = items[doc_id]
    st.caption(escape_markdown(judging.describe(item)))
    for reason in item.reasons:
        st.caption(f":material/arrow_right: {escape_markdown(reason)}")
    others = [
        f"{j.annotator}: {grade_name(j.grade, SCALE)}" + (" (stale)" if is_stale(j) else "")
        for j in query_judgments
        if j.doc_id == doc_id and j.annotator != annotator
    ]
    if doc_id in qrels:
        others.insert(0, f"qrels: {qrels[doc_id]}")
    if others:
        st.caption("Other grades: " + escape_markdown(" · ".join(others)))


if view == "one":
    doc_id = st.session_state.get(DOC_KEY)
    if doc_id not in items:
        doc_id = judging.next_unjudged(queue) or order[0]
        st.session_state[DOC_KEY] = doc_id
    advance = st.session_state.get("judge_advance", True)
    grade_buttons(
        doc_id,
        shortcuts=True,
        advance_to=judging.next_unjudged(queue, after=doc_id) if advance else None,
    )
    label_status(doc_id)
    note_field(doc_id, collapsed=False)

    at = position[doc_id]
    nav = st.columns([1, 1, 2, 3], vertical_alignment="center")
    nav[0].button(
        "← Previous",
        key="judge_prev",
        on_click=_goto,
        args=(order[at - 2] if at > 1 else None,),
        disabled=at == 1,
        shortcut="Left",
        width="stretch",
    )
    nav[1].button(
        "Next →",
        key="judge_next",
        on_click=_goto,
        args=(order[at] if at < len(order) else None,),
        disabled=at == len(order),
        shortcut="Right",
        width="stretch",
    )
    upcoming = judging.next_unjudged(queue, after=doc_id)
    nav[2].button(
        "Next unjudged",
        key="judge_next_unjudged",
        on_click=_goto,
        args=(upcoming,),
        disabled=upcoming is None,
        shortcut="N",
        icon=":material/skip_next:",
        width="stretch",
        help="The unlabelled document the queue suggests next: where the stages disagree most, "
        "or that nobody has graded yet.",
    )
    nav[3].toggle("Advance after saving", value=True, key="judge_advance")

    doc = collection.documents.get(doc_id)
    with st.container(border=True):
        st.caption(
            f"Document {at} of {len(order)} · doc {escape_markdown(doc_id)}"
            + (" · shuffled order" if blind else " · queue order")
        )
        st.markdown(f"##### {escape_markdown(views.title_of(doc, doc_id, width=200))}")
        if not blind:
            open_facts(doc_id)
        if doc is None:
            st.warning("This document is not in the collection any more.")
        else:
            shown = views.document_view(doc, query.text)
            st.markdown(views.segments_markdown(shown.segments, seen=True) or "*(empty)*")

# ---------------------------------------------------------------------------- list

else:
    terms = views.query_terms(query.text)
    for doc_id in order:
        doc = collection.documents.get(doc_id)
        with st.container(border=True):
            st.markdown(
                f"**{position[doc_id]}.** {escape_markdown(views.title_of(doc, doc_id, width=120))}"
                f" :gray[· doc {escape_markdown(doc_id)}]"
            )
            grade_buttons(doc_id, shortcuts=False, advance_to=None)
            label_status(doc_id)
            if not blind:
                open_facts(doc_id)
            text = views.snippet(doc.text, terms, width=320) if doc else ""
            st.markdown(escape_markdown(text) or "*(empty)*")
            note_field(doc_id, collapsed=True)
