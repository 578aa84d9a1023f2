"""The shared sidebar: which collection, which first stages, K and N, which models.

``render()`` runs once per rerun from the entry point, before the page, and leaves an
:class:`AppContext` in session state; pages read it with ``context()``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import resources
import streamlit as st

from rankshift.config import (
    DEFAULT_BI_ENCODER,
    DEFAULT_FUSION_WEIGHT,
    DEFAULT_RERANKER,
    DEFAULT_RRF_K,
    DEMO_DIR,
    preferred_reranker,
)
from rankshift.corpus import Collection, CollectionLoadError
from rankshift.pipeline import FIRST_STAGES, PipelineSettings
from rankshift.present import (
    OTHER_RERANKER,
    collection_summary,
    escape_markdown,
    rerank_cost,
    reranker_option_label,
    reranker_options,
    stage_label,
)
from rankshift.present import first_minute as newcomer
from rankshift.present.collection import collection_warnings
from rankshift.present.cost import measured_rate
from rankshift.rerank.spec import BACKENDS, LOCAL_BACKENDS, RerankerSpec
from rankshift.retrievers.hybrid import FUSIONS
from rankshift.training.train import recommended_blend, trained_models

APP_K = 50
"""The app's default K. Measured by `make bench` on a 2-core CPU at 256 tokens: 50 candidates
rerank in 0.28 s on openvino-auto (the app's default backend) and 0.92 s on torch fp32 with
demo-length documents, about 0.5 s on openvino-auto when every pair fills the 256 tokens.
(The library's default of 100 suits batch runs, not an interactive first look.)"""
APP_N = 10
APP_BACKEND = "openvino-auto"
"""The in-process backend the app starts with when OpenVINO is installed (``make install`` puts
it there), else torch; ``$RANKSHIFT_BACKEND`` overrides. Chosen from `make bench`: on this
2-core CPU it ranked as torch fp32 does (Kendall's tau 0.996, nDCG@10 unchanged on the demo test
queries) at 2.96x its speed (2.66x when every pair fills 256 tokens), and it picks bf16 only
where the CPU runs it natively, f32 elsewhere, so it is never slower than the export at f32.
torch bf16 was nearly as fast but is slow on CPUs without AMX or AVX512-BF16."""


def app_backend() -> str:
    """The backend the app starts with (see :data:`APP_BACKEND`)."""
    import importlib.util

    wanted = os.environ.get("RANKSHIFT_BACKEND", "").strip()
    if wanted:
        return wanted
    return APP_BACKEND if importlib.util.find_spec("openvino") is not None else "torch"


MAX_LENGTHS = [128, 256, 384, 512]
SOURCES = {"demo": "Demo", "path": "Path", "upload": "Upload"}
CONTEXT_KEY = "sidebar_context"
RERANKER_CHOICE_KEY = "sidebar_reranker_choice"
RERANKER_OTHER_KEY = "sidebar_reranker"
"""The free text box for any id or folder (shown for "other id or folder…")."""
RERANK_ON_KEY = "sidebar_rerank_on"
"""The rerank toggle. While the chosen cross-encoder cannot load, a switched-off, disabled
toggle saying why stands in for it (``sidebar_rerank_unavailable``)."""
HINT_KEY = "sidebar_reranker_hint"
"""``"model"`` or ``"service"``: the notice's buttons opened the other-id box with this hint."""
SHOWN_KEY = "_sidebar_reranker_shown"
"""(spec, status) of the reranker as the sidebar drew it in this rerun."""
COST_SLOT_KEY = "_sidebar_cost_slot"
"""The sidebar's place for the cost hint, filled by the page once the model has loaded."""
RERUN_KEY = "_sidebar_rerun_for"
WISH_KEY = "_sidebar_rerank_wish"
TRAIN_PAGE = "app_pages/train.py"


@dataclass(frozen=True)
class AppContext:
    """What the sidebar decided for this rerun."""

    collection: Collection | None
    collection_error: str | None
    settings: PipelineSettings
    grade_split: str | None
    """Qrels split to show grades from (None: every split)."""


def context() -> AppContext:
    """The context the sidebar left for this rerun (pages call this)."""
    ctx = st.session_state.get(CONTEXT_KEY)
    if ctx is None:  # a page run on its own, e.g. in a test
        ctx = render()
    return ctx


def _default_source() -> str:
    return "path" if os.environ.get("RANKSHIFT_COLLECTION") else "demo"


def _load_collection(source: str) -> tuple[Collection | None, str | None]:
    try:
        if source == "demo":
            if not (DEMO_DIR / "corpus.jsonl").exists():
                return None, (
                    f"The demo collection is missing ({DEMO_DIR}/corpus.jsonl). Pick a folder or "
                    "file on disk, or upload one."
                )
            return resources.collection_at(str(DEMO_DIR)), None
        if source == "path":
            default = os.environ.get("RANKSHIFT_COLLECTION", str(DEMO_DIR))
            path = st.text_input(
                "Folder or file",
                value=default,
                key="sidebar_path",
                help="A BEIR folder (corpus.jsonl, queries.jsonl, qrels/*.tsv) or a single "
                ".jsonl, .csv or .tsv corpus file.",
            )
            if not path.strip():
                return None, "Enter the path of a BEIR folder or a corpus file."
            return resources.collection_at(path.strip()), None
        limit = st.get_option("server.maxUploadSize")
        upload = st.file_uploader(
            "Corpus file",
            type=["jsonl", "json", "ndjson", "csv", "tsv"],
            key="sidebar_upload",
            help=f"JSONL with _id/id, text and optional title; or CSV/TSV with a header row "
            f"(id, text, title). Up to {limit} MB. Every line is validated before use.",
        )
        if upload is None:
            return None, "Upload a corpus file (JSONL, CSV or TSV) to inspect it."
        data = upload.getvalue()
        if len(data) > limit * 1024 * 1024:
            return None, f"{upload.name} is larger than {limit} MB."
        return resources.uploaded_collection(upload.name, data), None
    except CollectionLoadError as e:
        where = f"{Path(e.path).name}, line {e.line}" if e.line else Path(e.path).name
        return None, f"Cannot load the collection: {where}: {e.reason}"


def _clamp_n(k: int) -> None:
    if st.session_state.get("sidebar_n", APP_N) > k:
        st.session_state["sidebar_n"] = k


def reranker_picker(
    label: str,
    key: str,
    other_key: str,
    default: str | None,
    *,
    exclude: tuple[str, ...] = (),
    disabled: bool = False,
    help: str | None = None,
    unavailable: Callable[[str], bool] | None = None,
    hint: str | None = None,
) -> str:
    """A reranker box: the default, the trained models under ``<cache>/models``, or any id.

    Choosing "other id or folder…" reveals a text box (``other_key``). A choice set from a
    callback elsewhere (the Train page's "Use this reranker") that the list does not hold goes
    to that text box. Session state is seeded before the widgets are drawn, so no widget is
    given both a default and a session value. ``unavailable(option)`` marks a choice that
    cannot load ("…, not available"); ``hint`` (``"model"`` or ``"service"``) puts a line on
    what to type under the text box.

    Returns:
        The chosen model id or folder ("" when the text box is empty).
    """
    trained = [str(p) for p in trained_models()]
    options = reranker_options(default, trained, exclude)
    state = st.session_state
    wanted = state.get(key)
    if wanted not in options:
        if isinstance(wanted, str) and wanted.strip():
            state[other_key] = wanted
            state[key] = OTHER_RERANKER
        else:
            state[key] = options[0]

    def option_label(option: str) -> str:
        text = reranker_option_label(option, default, trained)
        if unavailable is not None and option != OTHER_RERANKER and unavailable(option):
            return newcomer.unavailable_label(text)
        return text

    choice = st.selectbox(
        label,
        options=options,
        format_func=option_label,
        key=key,
        disabled=disabled,
        help=help,
    )
    if choice != OTHER_RERANKER:
        return str(choice)
    if other_key not in state:
        state[other_key] = default or ""
    typed = st.text_input(
        "Model id, folder or reranker service",
        key=other_key,
        disabled=disabled,
        placeholder=newcomer.service_placeholder()
        if hint == "service"
        else "e.g. cross-encoder/ms-marco-MiniLM-L-6-v2, /path/to/model, tei:http://127.0.0.1:8080",
        help="Any sentence-transformers CrossEncoder id or local model folder; or a reranker "
        "run as a service: `tei:http://host:port` (text-embeddings-inference, or `rankshift "
        "serve`), `cohere:<base url>?model=NAME` (also `voyage:`, `mixedbread:`; the API key "
        "comes from $COHERE_API_KEY, $VOYAGE_API_KEY, $MXBAI_API_KEY).",
    )
    if hint in ("model", "service"):
        st.caption(newcomer.service_hint() if hint == "service" else newcomer.model_hint())
    return typed.strip()


def _with_backend(reranker: str, disabled: bool) -> str:
    """The backend box under the reranker picker: shown for a model run in this process, not for
    a service (``tei:``...) or a spec that names its backend itself."""
    try:
        spec = RerankerSpec.parse(reranker) if reranker else None
    except ValueError:
        return reranker  # the pipeline shows the spec's error where the reranker would be
    if spec is None or spec.remote or spec.backend != "torch":
        return reranker
    wanted = app_backend()
    backend = st.selectbox(
        "Backend",
        options=list(LOCAL_BACKENDS),
        index=LOCAL_BACKENDS.index(wanted) if wanted in LOCAL_BACKENDS else 0,
        key="sidebar_backend",
        disabled=disabled,
        help="How the model runs in this process: "
        + "; ".join(f"**{b}**: {BACKENDS[b]}" for b in LOCAL_BACKENDS)
        + ". Exported backends convert the model once (cached by its revision).",
    )
    return str(spec.with_backend(backend))


def _as_run(option: str) -> str:
    """A picker option as the sidebar would run it: on the backend box's backend."""
    try:
        spec = RerankerSpec.parse(option)
    except ValueError:
        return option
    if spec.remote or spec.backend != "torch":
        return option
    backend = st.session_state.get("sidebar_backend") or app_backend()
    return str(spec.with_backend(backend)) if backend in LOCAL_BACKENDS else option


def show_cost(spec: str) -> None:
    """The cost hint of K for a reranker that loads, in the sidebar's place for it: the pair
    rate measured on this machine once a rerank has run, else `make bench`'s estimate (the
    words say which)."""
    if not spec or COST_SLOT_KEY not in st.session_state:
        return
    slot, k, max_length = st.session_state[COST_SLOT_KEY]
    rate = measured_rate(spec, max_length)
    slot.caption(
        rerank_cost(
            k,
            max_length,
            rate.ms_per_pair if rate else None,
            spec,
            measured_pairs=rate.pairs if rate else None,
        )
    )


def render() -> AppContext:
    """Draw the sidebar and return what it decided."""
    sb = st.sidebar
    with sb:
        st.markdown("#### Collection")
        source = (
            st.segmented_control(
                "Source",
                options=list(SOURCES),
                format_func=SOURCES.__getitem__,
                default=_default_source(),
                key="sidebar_source",
                label_visibility="collapsed",
                help="The bundled demo collection, a BEIR folder or corpus file on this machine, "
                "or a corpus file you upload.",
            )
            or _default_source()
        )
        collection, error = _load_collection(source)
        grade_split: str | None = None
        if collection is not None:
            st.caption(
                f"**{escape_markdown(collection.name)}** · {escape_markdown(collection_summary(collection))}"
            )
            for warning in collection_warnings(collection):
                st.warning(escape_markdown(warning), icon=":material/warning:")
            if len(collection.qrels) > 1:
                choice = st.selectbox(
                    "Grades from",
                    options=["all", *collection.qrels],
                    format_func=lambda s: "every qrels split" if s == "all" else f"qrels: {s}",
                    key="sidebar_grade_split",
                )
                grade_split = None if choice == "all" else choice
        elif error:
            st.error(escape_markdown(error), icon=":material/error:")

        st.markdown("#### First stages")
        stages = st.multiselect(
            "Show",
            options=list(FIRST_STAGES),
            default=list(FIRST_STAGES),
            format_func=stage_label,
            key="sidebar_stages",
            help="; ".join(f"{stage_label(k)}: {v}" for k, v in FIRST_STAGES.items()),
        )
        rerank_input = st.selectbox(
            "Reranker reorders",
            options=list(FIRST_STAGES),
            index=list(FIRST_STAGES).index("hybrid"),
            format_func=lambda k: f"{stage_label(k)}'s top-K",
            key="sidebar_rerank_input",
        )
        if not stages:
            st.caption("No first stage picked: showing the reranker's input.")
            stages = [rerank_input]
        fusion, weight, rrf_k = "rrf", DEFAULT_FUSION_WEIGHT, DEFAULT_RRF_K
        if "hybrid" in stages or rerank_input == "hybrid":
            fusion = st.selectbox(
                "Hybrid fusion",
                options=list(FUSIONS),
                format_func=lambda f: {
                    "rrf": "RRF",
                    "minmax": "Min-max sum",
                    "zscore": "Z-score sum",
                }[f],
                key="sidebar_fusion",
                help=" · ".join(f"{k}: {v}" for k, v in FUSIONS.items()),
            )
            if fusion == "rrf":
                rrf_k = st.number_input(
                    "RRF k", min_value=1, max_value=1000, value=DEFAULT_RRF_K, key="sidebar_rrf_k"
                )
            else:
                weight = st.slider(
                    "Dense weight",
                    min_value=0.0,
                    max_value=1.0,
                    value=DEFAULT_FUSION_WEIGHT,
                    step=0.05,
                    key="sidebar_weight",
                    help="0 is BM25 alone, 1 is dense alone.",
                )

        st.markdown("#### Cut-offs")
        k = st.slider(
            "K candidates for the reranker",
            min_value=5,
            max_value=200,
            value=APP_K,
            step=5,
            key="sidebar_k",
            on_change=lambda: _clamp_n(st.session_state["sidebar_k"]),
        )
        _clamp_n(k)
        n = st.slider(
            "N results shown",
            min_value=1,
            max_value=min(50, k),
            value=min(APP_N, k),
            key="sidebar_n",
        )

        st.markdown("#### Models")
        bi_encoder = st.text_input(
            "Bi-encoder (dense)",
            value=DEFAULT_BI_ENCODER,
            key="sidebar_bi_encoder",
            help="A sentence-transformers model id or a local folder.",
        )
        env_reranker = os.environ.get("RANKSHIFT_RERANKER", "").strip()
        env_off = env_reranker.lower() in ("none", "off")
        # The toggle is drawn once the chosen model is known (below): it must not read "on"
        # for a model that cannot load. The user's wish is kept meanwhile (WISH_KEY) and is the
        # toggle's default, so a toggle drawn again after the stand-in starts where it was.
        wish = bool(st.session_state.get(WISH_KEY, not env_off))
        rerank_on = bool(st.session_state.get(RERANK_ON_KEY, wish))
        toggle_slot = st.empty()
        default_reranker, reason = (
            preferred_reranker() if not env_off else (DEFAULT_RERANKER, "the default reranker")
        )
        state = st.session_state
        if state.get(RERANKER_CHOICE_KEY) != OTHER_RERANKER:
            state.pop(HINT_KEY, None)
        reranker = reranker_picker(
            "Cross-encoder",
            RERANKER_CHOICE_KEY,
            RERANKER_OTHER_KEY,
            default_reranker,
            disabled=not rerank_on,
            help="The preferred reranker, a model trained on the Train page (listed as "
            "“trained: …”), or any CrossEncoder id or model folder.",
            unavailable=lambda option: (
                resources.reranker_status(_as_run(option))[0] == "unavailable"
            ),
            hint=state.get(HINT_KEY),
        )
        if rerank_on and reranker == default_reranker:
            st.caption(f"Default: {escape_markdown(reason)}")
        reranker = _with_backend(reranker.strip(), disabled=not rerank_on)
        status, problem = resources.reranker_status(reranker.strip() or DEFAULT_RERANKER)
        unavailable = rerank_on and status == "unavailable"
        if unavailable and reranker.strip() not in ("", _as_run(default_reranker)):
            # (The default's caption above already says why it is not available.)
            st.caption(f"Not available: {escape_markdown(newcomer.first_sentence(problem or ''))}")
        with toggle_slot:
            if unavailable:
                st.toggle(
                    "Rerank with a cross-encoder",
                    value=False,
                    disabled=True,
                    key="sidebar_rerank_unavailable",
                    help=newcomer.toggle_help(problem or ""),
                )
            else:
                rerank_on = st.toggle("Rerank with a cross-encoder", value=wish, key=RERANK_ON_KEY)
        state[WISH_KEY] = rerank_on
        max_length = st.select_slider(
            "Cross-encoder max_length (tokens)",
            options=MAX_LENGTHS,
            value=256,
            key="sidebar_max_length",
            disabled=not rerank_on or unavailable,
            help="Text beyond this many tokens (query + document) is not seen by the reranker. "
            "Cost grows with it.",
        )
        blend = st.slider(
            "Blend in the first-stage score",
            min_value=0.0,
            max_value=1.0,
            value=0.0,
            step=0.1,
            key="sidebar_blend",
            disabled=not rerank_on or unavailable,
            help="0 audits the reranker alone. Above 0, the reranked order is by "
            "(1 - blend) × z(reranker score) + blend × z(first-stage score) over the K "
            "candidates: the first stage's knowledge kept in the final ranking.",
        )
        if rerank_on and not unavailable:
            suggested = recommended_blend(reranker.strip()) if reranker.strip() else None
            if suggested:
                st.caption(
                    f"This model's training found blend {suggested:g} best on its validation queries."
                )
        cost_slot = st.empty()
        spec = (reranker.strip() or DEFAULT_RERANKER) if rerank_on else None
        state[SHOWN_KEY] = (spec, status)
        state[COST_SLOT_KEY] = (cost_slot, k, max_length)
        if spec is not None and status == "loaded":
            show_cost(spec)

    settings = PipelineSettings(
        first_stages=tuple(stages),
        rerank_input=rerank_input,
        k=k,
        n=n,
        bi_encoder=bi_encoder.strip() or DEFAULT_BI_ENCODER,
        reranker=(reranker.strip() or DEFAULT_RERANKER) if rerank_on else None,
        max_length=max_length,
        blend=float(blend) if rerank_on else 0.0,
        fusion=fusion,  # type: ignore[arg-type]
        fusion_weight=float(weight),
        rrf_k=int(rrf_k),
    )
    ctx = AppContext(collection, error, settings, grade_split)
    st.session_state[CONTEXT_KEY] = ctx
    return ctx


# --------------------------------------------------------------------------------------
# The no-reranker notice (Inspect and Evaluate) and its ways out


def open_other_box(hint: str) -> None:
    """Callback: open the sidebar's "other id or folder" box, empty, with a hint on what to type
    (``"model"`` or ``"service"``)."""
    state = st.session_state
    state[RERANKER_CHOICE_KEY] = OTHER_RERANKER
    state[RERANKER_OTHER_KEY] = ""
    state[HINT_KEY] = hint
    state[RERANK_ON_KEY] = True
    what = "a reranker service" if hint == "service" else "a model id or folder"
    st.toast(
        f"Type {what} in the sidebar's box under **Models › Cross-encoder**.",
        icon=":material/arrow_back:",
    )


def fill_demo_recipe(collection: Collection) -> None:
    """Put `make demo-reranker`'s recipe into the Train page's boxes (it reads them when drawn):
    qrels split train, validation on hybrid(zscore,w=0.5), and, for the demo collection, the
    folder the app looks in for the demo reranker."""
    state = st.session_state
    splits = newcomer.recipe_splits(collection.qrels)
    state["train_splits"] = splits
    if newcomer.EVALUATION_SPLIT in collection.qrels:
        state["train_exclude_test"] = newcomer.EVALUATION_SPLIT not in splits
    state["train_validation_stage"] = newcomer.DEMO_RECIPE["validation_stage"]
    if newcomer.is_demo(collection):
        state["train_name"] = newcomer.DEMO_RECIPE["name"]
    state["train_recipe"] = "demo"


def _notice(error: str, collection: Collection, where: str, reranked_pipelines: bool) -> None:
    with st.container(border=True, key=f"{where}_no_reranker"):
        st.warning(newcomer.notice_markdown(error, reranked_pipelines), icon=":material/report:")
        b1, b2, b3 = st.columns(3, gap="small")
        train = b1.button(
            "Train a reranker",
            key=f"{where}_notice_train",
            type="primary",
            icon=":material/model_training:",
            width="stretch",
            help="The Train page with `make demo-reranker`'s recipe filled in: the qrels' "
            "train split, validated on hybrid(zscore,w=0.5).",
        )
        b2.button(
            "Use another model id or folder…",
            key=f"{where}_notice_other",
            icon=":material/folder_open:",
            width="stretch",
            on_click=open_other_box,
            args=("model",),
            help="Opens the sidebar's “other id or folder” box.",
        )
        b3.button(
            "Use a reranker service",
            key=f"{where}_notice_service",
            icon=":material/cloud:",
            width="stretch",
            on_click=open_other_box,
            args=("service",),
            help="Opens the same box for a service: tei:URL (text-embeddings-inference or "
            "`rankshift serve`), cohere:URL?model=NAME, voyage:, mixedbread:.",
        )
        with st.expander("The loader's full message"):
            st.text(error)
    if train:  # switching pages is allowed in the script body, not in a callback
        fill_demo_recipe(collection)
        st.switch_page(TRAIN_PAGE)


def reranker_notice(
    collection: Collection, where: str, *, reranked_pipelines: bool = False
) -> bool:
    """Call after the page prepared its pipeline, when the last load of the sidebar's reranker
    is known. Brings the sidebar in line with that load (the cost hint once it loaded; the toggle
    and selector drawn again when it failed where nothing predicted it, e.g. a service that is
    down), and when the reranker cannot load, draws the main-area notice with the ways out.

    Returns:
        Whether the notice was drawn.
    """
    state = st.session_state
    spec, drawn = state.get(SHOWN_KEY) or (None, "unknown")
    if spec is None:
        return False
    status, problem = resources.reranker_status(spec)
    if (drawn == "unavailable") != (status == "unavailable") and state.get(RERUN_KEY) != (
        spec,
        status,
    ):
        state[RERUN_KEY] = (spec, status)
        st.rerun()
    if status == "loaded" and drawn != "loaded" and COST_SLOT_KEY in state:
        show_cost(spec)
    if status != "unavailable":
        return False
    _notice(problem or "", collection, where, reranked_pipelines)
    return True
