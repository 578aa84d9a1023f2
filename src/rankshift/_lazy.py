"""Heavy dependencies are imported at first use, with an install hint when they are missing.

``import rankshift`` must stay fast and must not import torch, faiss or sentence-transformers
(the app and the CLI's ``--help`` would otherwise pay seconds for nothing).
"""

from __future__ import annotations

import importlib
from types import ModuleType

_HINTS = {
    "torch": "pip install torch==2.13.0  (the CPU build; install it before sentence-transformers)",
    "sentence_transformers": "pip install sentence-transformers",
    "faiss": "pip install faiss-cpu",
    "bm25s": "pip install bm25s PyStemmer",
    "Stemmer": "pip install PyStemmer",
    "onnxruntime": "pip install 'rankshift[backends]'",
    "onnx": "pip install 'rankshift[backends]'",
    "openvino": "pip install 'rankshift[backends]'",
    "nncf": "pip install 'rankshift[backends]'",
    "ray": "pip install 'rankshift[ray]'",
}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        hint = _HINTS.get(module.split(".")[0], f"pip install {module}")
        raise ImportError(f"rankshift needs '{module}' for this: {hint}") from e
