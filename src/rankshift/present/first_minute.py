"""A newcomer's first minute: when no reranker can load, why (in a sentence), what the selector
and the notice say, and the ways out the app offers (train the demo recipe, another model id or
folder, a reranker service); and example queries one click away on an empty Inspect page.

Nothing here loads a model: :func:`predicted_problem` judges a spec from what is on disk and the
environment, so the sidebar can mark a model before the page tries it.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from pathlib import Path

from rankshift.config import DEFAULT_RERANKER, DEMO_DIR, DEMO_RERANKER_NAME
from rankshift.corpus import Collection
from rankshift.models import FOLDER_FILES, looks_like_folder
from rankshift.present.text import escape_markdown, shorten
from rankshift.rerank.spec import KEY_ENV, REMOTE_BACKENDS, RerankerSpec

NOT_AVAILABLE = "not available"

DEMO_RECIPE: dict[str, str] = {
    "split": "train",
    "validation_stage": "hybrid(zscore,w=0.5)",
    "name": DEMO_RERANKER_NAME,
}
"""``make demo-reranker``: ``rankshift train data/demo --split train --validation-stage
'hybrid(zscore,w=0.5)' --out <cache>/models/demo-reranker`` (every other setting the default).
The app finds a model in that folder and uses it when the default reranker cannot load."""

EVALUATION_SPLIT = "test"

BACKEND_PACKAGES: dict[str, str] = {
    "onnx": "onnxruntime",
    "onnx-int8": "onnxruntime",
    "openvino": "openvino",
    "openvino-int8": "nncf",
    "openvino-auto": "openvino",
}
"""The package an exported backend cannot run without (``pip install -e '.[backends]'``)."""

SERVICE_EXAMPLES: dict[str, str] = {
    "tei": "tei:http://127.0.0.1:8080",
    "cohere": "cohere:https://api.cohere.com?model=rerank-v3.5",
}
"""Worked examples of service specs (the README's); other remote backends read
``<backend>:<base url>?model=NAME``."""


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


def _in_hub_cache(model_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except Exception:  # an unreadable cache is the same as an empty one here
        return False


def predicted_problem(spec: str | None) -> str | None:
    """Why ``spec`` cannot load, judged without loading it; None when it may load.

    Caught here: a spec that does not parse, a backend whose package is missing, a model folder
    that does not exist or lacks its config, and a Hub id that is not in the local Hugging Face
    cache while downloads are off. A service (``tei:``...) is only known once it is asked.
    """
    if not spec:
        return None
    try:
        parsed = RerankerSpec.parse(spec)
    except ValueError as e:
        return str(e)
    if parsed.remote:
        return None
    package = BACKEND_PACKAGES.get(parsed.backend)
    if package and importlib.util.find_spec(package) is None:
        return f"the {parsed.backend} backend needs the {package} package, which is not installed"
    target = parsed.target
    if looks_like_folder(target):
        folder = Path(target).expanduser()
        if not folder.is_dir():
            return f"there is no model folder at {target}"
        if not (folder / "config.json").is_file():
            return f"the folder {target} is not a model folder (it should hold {FOLDER_FILES})"
        return None
    if _offline() and not _in_hub_cache(target):
        return (
            f"{target} is not in this machine's Hugging Face cache and downloads are off "
            "(HF_HUB_OFFLINE)"
        )
    return None


def first_sentence(message: str) -> str:
    """The first sentence of a loader's message (a full stop inside brackets does not end it)."""
    text = " ".join(message.split())
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch in ".?!" and depth == 0 and (i + 1 == len(text) or text[i + 1] == " "):
            return text[: i + 1]
    return text


UNAVAILABLE_MARK = "⚠ "
"""Leads a label that cannot load, so the mark shows even when a narrow box cuts the label."""


def unavailable_label(label: str) -> str:
    """A selector label marked as not loadable: ``x (default)`` -> ``⚠ x (default, not
    available)``."""
    if label.endswith(")") and " (" in label:
        return f"{UNAVAILABLE_MARK}{label[:-1]}, {NOT_AVAILABLE})"
    return f"{UNAVAILABLE_MARK}{label} ({NOT_AVAILABLE})"


def toggle_help(problem: str) -> str:
    """The help of the sidebar's switched-off rerank toggle: why it is off."""
    return (
        f"Off: the chosen cross-encoder cannot load ({first_sentence(problem).rstrip('.')}). "
        "Pick one that loads below, or use the ways out on the page."
    )


def notice_markdown(error: str, reranked_pipelines: bool = False) -> str:
    """The main-area notice: reranking is unavailable, and why (the load error in a sentence)."""
    sentence = first_sentence(error)
    if sentence and sentence[-1] not in ".?!":
        sentence += "."
    sentence = escape_markdown(sentence[:1].upper() + sentence[1:])
    evaluate = (
        " Reranked pipelines need a loadable reranker, so only the first stages will be evaluated."
        if reranked_pipelines
        else ""
    )
    return (
        "**Reranking is unavailable: every list shows its first stage's order.** "
        f"{sentence}{evaluate} To rerank, train a reranker on this "
        "machine, point the app at another model id or folder, or use a reranker service."
    )


def model_hint() -> str:
    """The hint under the sidebar's id-or-folder box, opened from the notice."""
    return (
        "Type a CrossEncoder model id (offline, it must be in the Hugging Face cache, "
        f"e.g. {DEFAULT_RERANKER} after one online run) or the path of a model folder, "
        "then press Enter."
    )


def service_hint() -> str:
    """The hint for a reranker service, built from the registry of remote backends."""
    forms = []
    for backend in REMOTE_BACKENDS:
        example = SERVICE_EXAMPLES.get(backend, f"{backend}:<base url>?model=NAME")
        key = (
            f" (API key from ${KEY_ENV[backend]})"
            if backend in KEY_ENV and backend != "tei"
            else ""
        )
        forms.append(f"`{example}`{key}")
    return (
        "Type a reranker service as `backend:URL`: "
        + ", ".join(forms)
        + ". `tei:` is a text-embeddings-inference server, or `rankshift serve` run where a "
        "model is available."
    )


def service_placeholder() -> str:
    return f"e.g. {SERVICE_EXAMPLES['tei']} or cohere:<base url>?model=NAME"


def is_demo(collection: Collection) -> bool:
    """True for the bundled demo collection (the recipe then saves where the app looks)."""
    if not collection.path:
        return False
    try:
        return Path(collection.path).resolve() == DEMO_DIR.resolve()
    except OSError:
        return False


def recipe_splits(splits: Iterable[str]) -> list[str]:
    """The qrels splits the demo recipe trains on in a collection: ``train`` when it has one,
    else every split but the evaluation split (none: the Train page says what is missing)."""
    names = list(splits)
    if DEMO_RECIPE["split"] in names:
        return [DEMO_RECIPE["split"]]
    return [s for s in names if s != EVALUATION_SPLIT]


def recipe_markdown(splits: list[str], demo: bool) -> str:
    """The Train page's note on what the demo recipe filled in."""
    source = (
        ", ".join(f"*{escape_markdown(s)}*" for s in splits) or "none (this collection has none)"
    )
    saved = (
        f", saved as `{DEMO_RECIPE['name']}`: the folder the app uses when the default reranker "
        "cannot load"
        if demo
        else ""
    )
    return (
        "**Filled in with the demo recipe** (as `make demo-reranker`): qrels split "
        f"{source}, validation on `{DEMO_RECIPE['validation_stage']}`{saved}. Press **Start "
        "training**: it runs in the background, and the sidebar offers the model when it is done."
    )


def example_queries(collection: Collection, n: int = 2) -> list[str]:
    """Up to ``n`` query ids to offer as one-click examples: judged queries with a relevant
    document first (their grades show in the rankings), in the collection's order."""
    judged: dict[str, int] = {}
    for split in collection.qrels.values():
        for qid, grades in split.items():
            if qid in collection.queries and collection.queries[qid].text.strip():
                judged[qid] = max(judged.get(qid, 0), max(grades.values(), default=0))
    ranked = sorted(judged, key=lambda q: judged[q] <= 0)  # stable: relevant ones first
    return ranked[:n]


def example_label(collection: Collection, query_id: str, width: int = 48) -> str:
    """A one-click example's button text: the query itself, shortened."""
    return shorten(collection.queries[query_id].text, width)
