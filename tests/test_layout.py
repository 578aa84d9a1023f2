"""The package's shape: no import cycles, modules of one concept, pages without data work.

These are the layout rules of ``../shared/STYLE.md`` checked on the source itself, so a change
that breaks one fails here with the offending module named.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PAGES = ROOT / "app" / "app_pages"
MAX_LINES = 600
LONG_REASON = "over 600 lines"
"""A module may be longer if its docstring says why, with these words."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((SRC / "rankshift").rglob("*.py"))}


def _type_checking_lines(tree: ast.Module) -> set[int]:
    """Lines inside ``if TYPE_CHECKING:`` blocks (imports there never run)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(path: Path, known: set[str]) -> set[str]:
    """rankshift modules that ``path`` imports when it runs, at the top or inside a function.

    ``from a.b import c`` counts as importing module ``a.b.c`` when that is a module, else
    ``a.b``. Parent packages that Python initialises on the way are not counted: a package's
    ``__init__`` importing its own submodules is how packages are built, not a cycle.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_lines(tree)
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        found.update(n for n in names if n in known and n != me)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_in_the_package() -> None:
    mods = modules()
    assert len(mods) >= 30
    graph = {name: imports_of(path, set(mods)) for name, path in mods.items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_check_finds_a_cycle_through_a_lazy_import() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_import_scan_sees_function_level_imports_and_skips_type_checking(
    tmp_path: Path,
) -> None:
    pkg = tmp_path / "src" / "rankshift"
    pkg.mkdir(parents=True)
    mod = pkg / "mod.py"
    mod.write_text(
        "from typing import TYPE_CHECKING\n"
        "from rankshift import other\n"
        "if TYPE_CHECKING:\n"
        "    from rankshift.hidden import X\n"
        "def f():\n"
        "    from rankshift.lazy.inner import g\n"
    )
    known = {"rankshift.mod", "rankshift.other", "rankshift.hidden", "rankshift.lazy.inner"}
    global SRC
    saved, SRC = SRC, tmp_path / "src"
    try:
        assert imports_of(mod, known) == {"rankshift.other", "rankshift.lazy.inner"}
    finally:
        SRC = saved


def test_modules_hold_one_concept_each() -> None:
    too_long = {}
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        n = text.count("\n")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if n > MAX_LINES and LONG_REASON not in doc:
            too_long[name] = n
    assert too_long == {}, f"modules over {MAX_LINES} lines without a reason in their docstring"


# What a page must leave to the library: SQL, and reshaping tables.
SQL = re.compile(
    r"\b(SELECT\s+[\w*, ]+\s+FROM\s+\w+|INSERT\s+INTO\s+\w+|UPDATE\s+\w+\s+SET|DELETE\s+FROM\s+\w+)",
    re.I,
)
RESHAPING = {
    "DataFrame",
    "concat",
    "groupby",
    "merge",
    "pivot",
    "pivot_table",
    "melt",
    "assign",
    "apply",
    "rename",
    "sort_values",
    "drop",
    "set_index",
    "reset_index",
    "explode",
    "stack",
    "unstack",
}
"""pandas calls that build or reshape a table (``str.join`` and the like are fine)."""
DATA_LIBRARIES = ("pandas", "sqlite3", "sqlite_utils")


def page_offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            out += [f"imports {n}" for n in names if n.split(".")[0] in DATA_LIBRARIES]
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and SQL.search(node.value)
        ):
            out.append(f"line {node.lineno}: SQL")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in RESHAPING:
                out.append(f"line {node.lineno}: {ast.unparse(func)}()")
        elif isinstance(node, ast.Attribute) and node.attr in ("loc", "iloc"):
            out.append(f"line {node.lineno}: {ast.unparse(node)}[...]")
    return out


def test_pages_do_no_sql_and_no_table_reshaping() -> None:
    pages = sorted(PAGES.glob("*.py"))
    assert len(pages) >= 5
    offences = {p.name: o for p in pages if (o := page_offences(p))}
    assert offences == {}


def test_the_page_check_catches_sql_and_reshaping(tmp_path: Path) -> None:
    page = tmp_path / "page.py"
    page.write_text(
        "import pandas as pd\n"
        "import streamlit as st\n"
        "rows = db.execute('SELECT grade FROM judgments WHERE q = ?')\n"
        "frame = frame.groupby('query_id').mean()\n"
        "st.dataframe(frame)\n"
        "label = ', '.join(names)\n"
    )
    assert page_offences(page) == ["imports pandas", "line 3: SQL", "line 4: frame.groupby()"]
