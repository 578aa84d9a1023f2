"""Train: fine-tune a cross-encoder on this collection's judgments, then use it as the reranker.

The job runs in a background thread held by a process-wide registry
(:func:`resources.training_jobs`), so it survives reruns, page switches and a closed tab; this
page only polls it (a fragment that reruns every second while the job is active).

Session keys (all ``train_``): the widgets below; ``train_job`` (the output folder of this
session's job, a plain key so it survives page switches); ``train_message`` (a message from a
callback, e.g. why a job could not start).
"""

from __future__ import annotations

from pathlib import Path

import labelling
import resources
import sidebar
import streamlit as st

from rankshift import evaluation as evaluate
from rankshift import present as views
from rankshift.config import DEFAULT_BI_ENCODER, cache_dir, judgments_path
from rankshift.pipeline import FIRST_STAGES
from rankshift.present import escape_markdown
from rankshift.present import first_minute as newcomer
from rankshift.training import jobs
from rankshift.training.train import HEADS, LOSSES, TrainConfig, default_output_dir

INSPECT_PAGE = "app_pages/inspect.py"
POLL_SECONDS = 1.0
MAX_LENGTHS = [64, 128, 192, 256, 384, 512]
AGGREGATES: list[str] = ["mean", "majority", "min", "max"]
EVAL_SPLIT = "test"
JOB_KEY = "train_job"
MESSAGE_KEY = "train_message"
RECIPE_KEY = "train_recipe"
STAGE_KEY = "train_validation_stage"

ctx = sidebar.context()
st.title("Train a reranker", anchor=False)
st.caption(
    "Fine-tune a cross-encoder on this collection's judgments, with hard negatives mined from "
    "the first stages, and compare it with the first stage and the base model on held-out "
    "queries. The model is saved under the cache's models folder; the sidebar offers it as "
    "“trained: …”."
)
if ctx.collection is None:
    st.info(
        ctx.collection_error or "Pick a collection in the sidebar.", icon=":material/folder_open:"
    )
    st.stop()
collection = ctx.collection
registry = resources.training_jobs()
if st.session_state.get(RECIPE_KEY) == "demo":  # set by the no-reranker notice's button
    st.info(
        newcomer.recipe_markdown(
            list(st.session_state.get("train_splits", [])), newcomer.is_demo(collection)
        ),
        icon=":material/model_training:",
    )


# ---------------------------------------------------------------------------- callbacks


def _splits_changed() -> None:
    # As `rankshift train`: the evaluation split is kept out unless asked to train on it.
    if EVAL_SPLIT in collection.qrels:
        st.session_state["train_exclude_test"] = EVAL_SPLIT not in st.session_state.get(
            "train_splits", []
        )


def _start(training: jobs.TrainingSet, config: TrainConfig, name: str) -> None:
    try:
        out = jobs.model_dir(name) if name.strip() else default_output_dir(collection, config)
    except ValueError as e:
        st.session_state[MESSAGE_KEY] = str(e)
        return
    out = jobs.fresh_output_dir(out)
    job = registry.start(
        collection,
        training.qrels,
        out,
        config,
        settings=ctx.settings.with_(first_stages=tuple(FIRST_STAGES), reranker=None),
        cache=cache_dir(),
        exclude_queries=training.exclude_queries,
        resume=False,
    )
    st.session_state[JOB_KEY] = job.key
    st.session_state.pop(MESSAGE_KEY, None)
    st.session_state.pop(RECIPE_KEY, None)


def _stop(key: str) -> None:
    job = registry.get(key)
    if job is not None:
        job.stop()


def _resume(key: str) -> None:
    try:
        st.session_state[JOB_KEY] = registry.resume(key).key
    except KeyError as e:
        st.session_state[MESSAGE_KEY] = str(e)


def _use(path: str) -> None:
    # The sidebar's reranker box picks this up on the next rerun (it lists trained models).
    st.session_state["sidebar_rerank_on"] = True
    st.session_state[sidebar.RERANKER_CHOICE_KEY] = path


# ---------------------------------------------------------------------------- judgments

st.subheader("Judgments to learn from", anchor=False)
splits_all = list(collection.qrels)
if "train_splits" not in st.session_state:
    st.session_state["train_splits"] = [s for s in splits_all if s == "train"]
if "train_exclude_test" not in st.session_state:
    st.session_state["train_exclude_test"] = EVAL_SPLIT not in st.session_state["train_splits"]
j1, j2, j3 = st.columns([3, 2, 2], gap="medium")
splits = j1.multiselect(
    "Qrels splits",
    options=splits_all,
    key="train_splits",
    on_change=_splits_changed,
    placeholder="No qrels split" if splits_all else "The collection has no qrels",
    help="The collection's qrels files (a BEIR folder's qrels/*.tsv) to train on.",
)
with j2:
    use_labels = st.toggle(
        "Stored labels (Judge page)",
        value=True,
        key="train_use_labels",
        help="The grades people gave on the Judge page for this collection; they win over a "
        "qrels grade of the same pair.",
    )
    aggregate = "mean"
    if use_labels:
        aggregate = st.selectbox(
            "Several annotators' grades become",
            options=AGGREGATES,
            key="train_aggregate",
            help="mean (rounded half up), majority (ties toward the lower grade), min or max.",
        )
stored: dict[str, dict[str, int]] = {}
if use_labels:
    try:
        stored = evaluate.stored_qrels(
            judgments_path(),
            collection,
            aggregate,  # type: ignore[arg-type]
        )
    except labelling.STORE_ERRORS as e:
        st.warning(
            escape_markdown(f"Cannot read the judgments database ({judgments_path()}): {e}"),
            icon=":material/database:",
        )
with j3:
    exclude_test = False
    if EVAL_SPLIT in collection.qrels:
        exclude_test = st.checkbox(
            f"Keep the {EVAL_SPLIT} split's queries out",
            key="train_exclude_test",
            help=f"The {EVAL_SPLIT} split is what the Evaluate page measures with: a model "
            "trained on its queries would be graded on its own homework. Its queries are left "
            "out of training and validation whatever the source of their judgments.",
        )
training = jobs.training_set(
    collection, splits, stored, exclude_splits=[EVAL_SPLIT] if exclude_test else []
)
if training.sources:
    st.caption("From " + escape_markdown(", ".join(training.sources)))
if exclude_test and EVAL_SPLIT in splits:
    st.warning(
        f"The {EVAL_SPLIT} split is both trained on and kept out: its queries add nothing.",
        icon=":material/warning:",
    )
if training.exclude_queries:
    st.caption(
        f"{len(training.exclude_queries)} queries of the {EVAL_SPLIT} split are never trained on."
    )

# ---------------------------------------------------------------------------- model

st.subheader("Model and schedule", anchor=False)
m1, m2, m3, m4 = st.columns([3, 3, 2, 2], gap="medium")
base_model = m1.text_input(
    "Base model",
    value=DEFAULT_BI_ENCODER,
    key="train_base_model",
    help="A cross-encoder id or folder to fine-tune, or an encoder such as the bi-encoder "
    "(then a fresh single-score head is added).",
)
loss = m2.selectbox(
    "Loss",
    options=list(LOSSES),
    format_func=lambda k: f"{k}: {LOSSES[k]}",
    key="train_loss",
)
head = m2.selectbox(
    "Scoring head",
    options=list(HEADS),
    index=list(HEADS).index(TrainConfig().head),
    format_func=lambda k: f"{k}: {HEADS[k]}",
    key="train_head",
    help="How a score is read off the encoder. From a bi-encoder, `cosine` starts from a "
    "working ranker; `classifier` keeps a cross-encoder's own head.",
)
epochs = m3.number_input(
    "Epochs",
    min_value=0.1,
    max_value=50.0,
    value=TrainConfig().epochs,
    step=0.5,
    key="train_epochs",
)
max_steps = m4.number_input(
    "Max steps",
    min_value=0,
    max_value=1_000_000,
    value=0,
    step=10,
    key="train_max_steps",
    help="Stop after this many optimiser steps (overrides the epochs); 0: use the epochs.",
)
l1, l2 = st.columns([3, 2], gap="medium")
max_length = l1.select_slider(
    "max_length (tokens)",
    options=MAX_LENGTHS,
    value=TrainConfig().max_length,
    key="train_max_length",
    help="Query + document tokens the model reads while training; cost grows with it. Use "
    "the same (or more) when reranking with the model.",
)
stage_text = l2.text_input(
    "Validation reranks the top-K of",
    key=STAGE_KEY,
    placeholder=f"{ctx.settings.rerank_input} (the sidebar's reranker input)",
    help="The first stage whose candidates the before/after comparison reranks: bm25, dense, "
    "hybrid, or a hybrid spec such as hybrid(zscore,w=0.5). Validate on the pipeline you will "
    "run. Empty: the sidebar's.",
)
validation_stage = stage_text.strip() or ctx.settings.rerank_input
stage_error = None
try:
    if evaluate.parse_pipeline(validation_stage).rerank:
        stage_error = "a first stage, without `>ce`"
except ValueError as e:
    stage_error = str(e)
if stage_error:
    l2.error(escape_markdown(f"Not a first stage: {stage_error}"), icon=":material/error:")
defaults = TrainConfig()
with st.expander("More settings"):
    a1, a2, a3, a4 = st.columns(4, gap="medium")
    batch_size = a1.number_input(
        "Batch size",
        min_value=1,
        max_value=64,
        value=defaults.batch_size,
        key="train_batch_size",
        help="Queries per step for listwise losses, rows per step otherwise.",
    )
    learning_rate = a2.number_input(
        "Learning rate",
        min_value=1e-7,
        max_value=1e-2,
        value=defaults.learning_rate,
        format="%.1e",
        step=1e-5,
        key="train_lr",
    )
    negatives = a3.number_input(
        "Unjudged negatives per query",
        min_value=0,
        max_value=50,
        value=defaults.unjudged_negatives,
        key="train_negatives",
        help="The highest-ranked unjudged first-stage candidates taken as not relevant.",
    )
    validation = a4.number_input(
        "Held-out share",
        min_value=0.0,
        max_value=0.5,
        value=defaults.validation_fraction,
        step=0.05,
        key="train_validation",
        help="Share of the training queries held out (by query, seeded) to compare first "
        "stage, base model and trained model.",
    )
    name = st.text_input(
        "Model folder name",
        key="train_name",
        placeholder="<collection>-<loss>-<base model>-<date>",
        help=f"The folder under {cache_dir() / 'models'}; empty: a readable name from the "
        "collection, loss, base model and date.",
    )
config = TrainConfig(
    base_model=base_model.strip() or DEFAULT_BI_ENCODER,
    loss=loss,  # type: ignore[arg-type]
    head=head,  # type: ignore[arg-type]
    epochs=float(epochs),
    max_steps=int(max_steps) or None,
    batch_size=int(batch_size),
    learning_rate=float(learning_rate),
    max_length=int(max_length),
    unjudged_negatives=int(negatives),
    validation_fraction=float(validation),
    rerank_input=ctx.settings.rerank_input if stage_error else validation_stage,
)
estimate = jobs.estimate_training(collection, training, config)

# ---------------------------------------------------------------------------- run

job = registry.get(st.session_state.get(JOB_KEY))
others = [j for j in registry.active() if job is None or j.key != job.key]
if job is None and others:
    job = others[0]  # e.g. started in another tab: show it rather than start a second one
    others = others[1:]
state = job.state() if job is not None else None
busy = state is not None and state.active

st.subheader("Run", anchor=False)
if not training.usable_queries:
    st.info(
        "Nothing to train on yet: pick a qrels split, or judge some of this collection's "
        "queries on the Judge page (stored labels are used here).",
        icon=":material/rule:",
    )
else:
    st.caption(escape_markdown(estimate.describe()))
message = st.session_state.get(MESSAGE_KEY)
if message:
    st.error(escape_markdown(message), icon=":material/error:")
b1, b2, b3 = st.columns([1, 1, 4], gap="small")
b1.button(
    "Start training",
    key="train_start",
    type="primary",
    icon=":material/model_training:",
    disabled=busy or bool(others) or not training.usable_queries or bool(stage_error),
    on_click=_start,
    args=(training, config, name),
    help="Runs in the background: you can switch pages or close the tab; come back here to "
    "follow it.",
)
b2.button(
    "Stop",
    key="train_stop",
    icon=":material/stop:",
    disabled=not busy or (state is not None and state.stop_requested),
    on_click=_stop,
    args=(job.key if job is not None else "",),
    help="Stops after the current step and keeps its checkpoint: Resume continues from it.",
)
if others:
    b3.caption(
        "Another training job is running ("
        + escape_markdown(", ".join(Path(j.key).name for j in others))
        + "); one at a time on this machine."
    )


def _progress_view(job: jobs.TrainingJob) -> None:
    s = job.state()
    if not s.active:
        st.rerun()  # the whole page, so the summary below replaces the progress
    st.markdown(f"**{escape_markdown(Path(s.output_dir).name)}**")
    st.progress(
        s.fraction,
        text=views.job_progress_text(s.phase, s.done, s.total, s.elapsed_s, s.eta_s),
    )
    if s.stop_requested:
        st.caption("Stopping after the current step; its checkpoint is kept.")


def _finished(state: jobs.JobState) -> None:
    result = state.result
    assert result is not None
    st.success(f"Trained: {escape_markdown(Path(state.output_dir).name)}", icon=":material/check:")
    st.caption(escape_markdown(views.training_caption(result)))
    table = views.training_frame(result)
    if table.empty:
        st.caption("No queries were held out, so there is no before/after comparison.")
    else:
        st.dataframe(
            table,
            hide_index=True,
            key="train_summary",
            column_config={
                "nDCG@10": st.column_config.NumberColumn(format="%.4f"),
                "MRR@10": st.column_config.NumberColumn(format="%.4f"),
                "Δ nDCG@10": st.column_config.NumberColumn(format="%+.4f"),
            },
        )
    if result.blend is not None and result.blend.best > 0:
        st.caption(
            f"Mixing the first stage back in did best at blend {result.blend.best:g} on the "
            "held-out queries: set “Blend in the first-stage score” in the sidebar to use it."
        )
    in_use = ctx.settings.reranker is not None and jobs.job_key(
        ctx.settings.reranker
    ) == jobs.job_key(state.output_dir)
    u1, u2 = st.columns([1, 3], vertical_alignment="center")
    u1.button(
        "Use this reranker",
        key="train_use",
        type="primary",
        icon=":material/swap_vert:",
        disabled=in_use,
        on_click=_use,
        args=(state.output_dir,),
    )
    if in_use:
        u2.page_link(INSPECT_PAGE, label="It is the sidebar's reranker: inspect a query with it")


if job is not None and state is not None:
    if state.active:
        st.fragment(_progress_view, run_every=POLL_SECONDS)(job)
    elif state.finished and state.result is not None:
        _finished(state)
    elif state.stopped:
        steps = state.result.steps if state.result is not None else 0
        st.warning(
            f"Stopped at step {steps}"
            + (
                "; the checkpoint is kept: Resume continues from it."
                if steps
                else " (before training began: there is nothing to resume from)."
            ),
            icon=":material/pause:",
        )
        if steps:
            st.button(
                "Resume",
                key="train_resume",
                icon=":material/play_arrow:",
                disabled=bool(others),
                on_click=_resume,
                args=(job.key,),
            )
    elif state.failed:
        st.error(
            f"Training failed: {escape_markdown(state.error or 'unknown error')}",
            icon=":material/error:",
        )
