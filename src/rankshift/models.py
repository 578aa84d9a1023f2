"""Resolving model ids to revisions, and loading models the ordinary sentence-transformers way.

A model is named by its Hugging Face id or by a local folder. Loading goes through
sentence-transformers, so whatever the user's environment provides (a warm cache, a mirror via
``HF_ENDPOINT``, ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE``) works as it does for any other program.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from rankshift._lazy import require


class ModelUnavailable(RuntimeError):
    """A model could not be loaded. The message names the model and the ways to provide it."""

    def __init__(self, model_id: str, role: str, cause: BaseException | str) -> None:
        self.model_id = model_id
        self.role = role
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        self.reason = reason[:300]
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
