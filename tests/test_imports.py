"""Importing rankshift stays cheap, and the library never imports streamlit."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
HEAVY = ["torch", "sentence_transformers", "transformers", "faiss", "streamlit"]


@pytest.mark.parametrize("module", ["rankshift", "rankshift.cli", "rankshift.pipeline"])
def test_import_does_not_load_heavy_libraries(module: str) -> None:
    code = (
        f"import sys, json, {module}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def streamlit_imports(path: Path) -> list[int]:
    """Line numbers where ``path`` imports streamlit, statically or by name at run time."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def is_streamlit(name: str | None) -> bool:
        return name is not None and (name == "streamlit" or name.startswith("streamlit."))

    lines = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Import) and any(is_streamlit(a.name) for a in node.names)) or (
            isinstance(node, ast.ImportFrom) and is_streamlit(node.module)
        ):
            lines.append(node.lineno)
        elif isinstance(node, ast.Call) and any(
            isinstance(a, ast.Constant) and isinstance(a.value, str) and is_streamlit(a.value)
            for a in node.args
        ):
            # importlib.import_module("streamlit"), __import__("streamlit"), require("streamlit")
            lines.append(node.lineno)
    return lines


def test_no_library_module_imports_streamlit() -> None:
    files = sorted(SRC.rglob("*.py"))
    assert len(files) >= 10
    offenders = {str(f.relative_to(SRC)): ln for f in files if (ln := streamlit_imports(f))}
    assert offenders == {}


def test_the_streamlit_check_catches_each_form(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "import streamlit as st\n"
        "from streamlit.testing.v1 import AppTest\n"
        "import importlib\n"
        "m = importlib.import_module('streamlit')\n"
        "s = 'streamlit is only mentioned here'\n"
    )
    assert streamlit_imports(sample) == [2, 3, 5]
