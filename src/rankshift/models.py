"""Resolving model ids to revisions, and loading models the ordinary sentence-transformers way.

A model is named by its Hugging Face id or by a local folder. Loading goes through
sentence-transformers, so whatever the user's environment provides (a warm cache, a mirror via
``HF_ENDPOINT``, ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``) works as it does for any other program.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

from rankshift._lazy import require

logger = logging.getLogger(__name__)

FOLDER_FILES = "config.json, model.safetensors or pytorch_model.bin, tokenizer.json or vocab.txt"
"""What a model folder needs, as the one-line message for a folder that does not load says."""


class ModelUnavailable(RuntimeError):
    """A model could not be loaded. The message names the model and the ways to provide it.

    A Hub id gets the ways to provide it (network, cache, mirror, a folder); a local folder
    gets "check the path" and the files it should hold, in one line. The full cause is in
    :attr:`detail`, and logged at INFO on ``rankshift.models`` (the CLI's ``--verbose``).
    """

    def __init__(self, model_id: str, role: str, cause: BaseException | str) -> None:
        self.model_id = model_id
        self.role = role
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        self.reason = reason[:300]
        folder = looks_like_folder(model_id)
        self.detail = _detail(model_id, role, cause, folder)
        logger.info("%s", self.detail)
        if folder:
            super().__init__(
                f"Cannot load {role} folder '{model_id}': {_folder_problem(model_id, reason)}. "
                f"Check the path; expected {FOLDER_FILES}."
            )
            return
        train_hint = (
            "; or train one from your judgments with `rankshift train`"
            if role == "reranker"
            else ""
        )
        super().__init__(
            f"Cannot load {role} '{model_id}' ({self.reason}). Provide it by running once with "
            f"network access so it lands in the Hugging Face cache, by pointing HF_HUB_CACHE at a "
            f"cache that holds it (or HF_ENDPOINT at a mirror), or by passing a local model "
            f"folder{train_hint}."
        )


def looks_like_folder(model_id: str) -> bool:
    """True for a folder on disk, or an id written as a path (``/``, ``./``, ``~``, or more
    than one ``/``): a Hub id is ``name`` or ``owner/name``."""
    if is_local_folder(model_id):
        return True
    return model_id.startswith(("/", "./", "../", "~", ".\\")) or model_id.count("/") > 1


def _folder_problem(model_id: str, reason: str) -> str:
    folder = Path(model_id).expanduser()
    if not folder.exists():
        return "no such folder"
    if not folder.is_dir():
        return "a file, not a folder"
    names = {p.name for p in folder.iterdir()}
    missing = []
    if "config.json" not in names:
        missing.append("config.json")
    if not names & {"model.safetensors", "pytorch_model.bin", "model.safetensors.index.json"}:
        missing.append("weights")
    if not names & {"tokenizer.json", "vocab.txt", "tokenizer_config.json", "spiece.model"}:
        missing.append("a tokenizer")
    if missing:
        listed = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
        return f"it lacks {listed}"
    return reason[:80] + ("…" if len(reason) > 80 else "")


def _detail(model_id: str, role: str, cause: BaseException | str, folder: bool) -> str:
    kind = type(cause).__name__ if isinstance(cause, BaseException) else "error"
    lines = [f"{role} {model_id!r} did not load: {kind}: {str(cause).strip()}"]
    path = Path(model_id).expanduser()
    if folder and path.is_dir():
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
        lines.append(f"  {path.resolve()} holds: {', '.join(names[:40]) or 'nothing'}")
    return "\n".join(lines)


class _Details(logging.Handler):
    """Writes to ``stream``, or to whatever ``sys.stderr`` is when a detail is logged."""

    stream: TextIO | None = None

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=self.stream or sys.stderr)


def show_details(enabled: bool = True, stream: TextIO | None = None) -> None:
    """Print (or stop printing) the details behind one-line model messages: the CLI's
    ``--verbose``. Each call replaces the last, so one command's choice never leaks into the
    next in the same process."""
    for handler in [h for h in logger.handlers if isinstance(h, _Details)]:
        logger.removeHandler(handler)
    if not enabled:
        logger.setLevel(logging.NOTSET)
        return
    handler = _Details()
    handler.stream = stream
    handler.setFormatter(logging.Formatter("rankshift: detail: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def is_local_folder(model_id: str) -> bool:
    return Path(model_id).expanduser().is_dir()


@lru_cache(maxsize=64)
def _folder_revision(path: str, mtime_ns: int) -> str:
    # A local folder has no commit hash: hash the config and weights instead, so a retrained
    # model in the same folder never reuses the old model's cached pair scores.
    h = hashlib.sha256()
    root = Path(path)
    for name in sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()):
        if name.startswith(("checkpoint", "runs/", ".")) or name.endswith(".md"):
            continue
        if not name.endswith((".json", ".safetensors", ".bin", ".txt", ".model")):
            continue
        h.update(name.encode())
        with open(root / name, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return "local-" + h.hexdigest()[:12]


def resolve_revision(model_id: str) -> str:
    """The revision a model id resolves to: the Hub commit hash, or a content hash of a folder."""
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        mtime = max((p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()), default=0)
        return _folder_revision(str(folder.resolve()), mtime)
    try:
        from huggingface_hub import snapshot_download

        snapshot = snapshot_download(model_id, local_files_only=True)
        return Path(snapshot).name
    except Exception:
        return "unknown"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


def load_sentence_transformer(model_id: str, device: str | None = None) -> Any:
    """Load a bi-encoder, raising :class:`ModelUnavailable` with a helpful message on failure."""
    st = require("sentence_transformers")
    try:
        return st.SentenceTransformer(model_id, device=device)
    except Exception as e:  # any failure to load is the same handled state for the user
        raise ModelUnavailable(model_id, "bi-encoder", e) from e


OWN_MODULES = ("rankshift.rerank.heads.", "rankshift.heads.")
"""Module classes that rankshift itself defines (see :mod:`rankshift.rerank.heads`); folders
trained before the package layout moved name ``rankshift.heads.<Name>``."""


def needs_own_code(model_id: str) -> bool:
    """True for a local folder whose modules include one of rankshift's own heads, and no other
    class from outside sentence-transformers.

    sentence-transformers asks for ``trust_remote_code`` before it imports a module class it
    does not ship; rankshift's heads are this package's own code, so a folder that uses only
    those is loaded with that flag, and nothing else is.
    """
    path = Path(model_id).expanduser() / "modules.json"
    if not path.is_file():
        return False
    try:
        types = [str(m.get("type", "")) for m in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, AttributeError):
        return False
    own = [t for t in types if t.startswith(OWN_MODULES)]
    foreign = [t for t in types if not t.startswith(("sentence_transformers.", *OWN_MODULES))]
    return bool(own) and not foreign


def load_cross_encoder(model_id: str, max_length: int, device: str | None = None) -> Any:
    """Load a cross-encoder, raising :class:`ModelUnavailable` with a helpful message on failure."""
    st = require("sentence_transformers")
    try:
        return st.CrossEncoder(
            model_id,
            max_length=max_length,
            device=device,
            trust_remote_code=needs_own_code(model_id),
        )
    except Exception as e:
        raise ModelUnavailable(model_id, "reranker", e) from e


def short_name(model_id: str) -> str:
    """``cross-encoder/ms-marco-MiniLM-L-6-v2`` -> ``ms-marco-MiniLM-L-6-v2``; folders by name."""
    return Path(model_id.rstrip("/")).name or model_id
