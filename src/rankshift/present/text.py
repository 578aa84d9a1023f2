"""Text for people: stage labels, escaping untrusted text, query terms, titles and snippets.

Document text is untrusted. Frames hold it as plain strings (tables render cells as text);
anything meant for ``st.markdown`` goes through :func:`escape_markdown`, and anything meant for
a plotly label goes through :func:`escape_plotly`. This module is the leaf of
:mod:`rankshift.present`: it imports nothing else from the package.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any

from rankshift.types import Document

STAGE_LABELS: dict[str, str] = {
    "bm25": "BM25",
    "dense": "Dense",
    "hybrid": "Hybrid",
    "reranked": "Reranked",
}
"""Column headings for the stage keys a :class:`~rankshift.types.PipelineResult` uses."""


def stage_label(key: str) -> str:
    return STAGE_LABELS.get(key, key)


_MD_PUNCT = re.compile(r"([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")


def escape_markdown(text: str, *, strip: bool = True) -> str:
    """Make untrusted text render literally in ``st.markdown``.

    Backslash-escapes every ASCII punctuation character (CommonMark allows that for all of
    them), which disarms emphasis, links, images, headings, lists, tables, raw HTML, LaTeX
    (``$``), Streamlit's colour directives (``:red[...]``) and emoji shortcodes (``:smile:``).
    Line breaks become hard breaks inside one paragraph, and a blank line becomes a line with a
    no-break space: a real paragraph break would end a surrounding ``:color[...]`` span.

    Args:
        text: the untrusted text.
        strip: drop leading whitespace (so the text cannot open with an indented code block).
            Pass False for a piece that continues a line, and strip the assembled string.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out = []
    for i, line in enumerate(lines):
        if not line.strip() and 0 < i < len(lines) - 1:
            out.append("\u00a0")
        else:
            out.append(_MD_PUNCT.sub(r"\\\1", line))
    joined = "  \n".join(out)
    return joined.lstrip() if strip else joined


def escape_plotly(text: str) -> str:
    """Make untrusted text safe for plotly labels and hover text (which accept some HTML)."""
    return html.escape(text, quote=True)


def shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 1)].rstrip() + "…"


WORD_PATTERN = re.compile(r"(?u)\b\w\w+\b")
"""bm25s's token pattern: words of two or more characters."""


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    try:
        from bm25s.stopwords import STOPWORDS_EN

        return frozenset(STOPWORDS_EN)
    except ImportError:  # highlighting still works, just without a stopword list
        return frozenset()


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    try:
        import Stemmer

        return Stemmer.Stemmer("english")
    except ImportError:
        return None


def stem(word: str) -> str:
    """A word as BM25 indexes it: lower-cased and Snowball-stemmed (unstemmed without PyStemmer)."""
    stemmer = _stemmer()
    word = word.lower()
    return stemmer.stemWord(word) if stemmer is not None else word


def query_terms(text: str) -> set[str]:
    """The stemmed, stopword-free terms of a query, as BM25 sees them."""
    stop = _stopwords()
    return {stem(w) for w in WORD_PATTERN.findall(text) if w.lower() not in stop}


def query_problem(text: str) -> str | None:
    """A friendly reason why ``text`` is not worth searching, or None if it is."""
    if not text.strip():
        return "Type a query, or pick one of the collection's queries."
    if not WORD_PATTERN.findall(text):
        return "That query has no words to search for. Try a few content words."
    if not query_terms(text):
        return (
            "That query has only stopwords (words like *the*, *of*, *and*) that the retrievers "
            "ignore. Add a word that carries meaning, e.g. a topic or a name."
        )
    return None


def title_of(doc: Document | None, doc_id: str, width: int = 80) -> str:
    if doc is None:
        return f"(missing document {doc_id})"
    return shorten(doc.title or doc.text, width)


def snippet(text: str, terms: set[str] | None = None, width: int = 160) -> str:
    """About ``width`` characters of ``text``, starting shortly before the first query term."""
    flat = " ".join(text.split())
    hit = next(
        (m.start() for m in WORD_PATTERN.finditer(flat) if terms and stem(m.group()) in terms), 0
    )
    start = max(0, hit - width // 4)
    if start > 0:
        # Start at a word boundary so the snippet does not open mid-word.
        space = flat.find(" ", start)
        start = space + 1 if 0 <= space < hit else start
    piece = flat[start : start + width]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + width < len(flat) else ""
    return prefix + piece.rstrip() + suffix


def order_score_label(blend: float) -> str:
    """What the reranked order was decided by: ``cross-encoder score`` when the reranker ran
    alone, ``blended score (blend 0.5)`` when the first stage's score was mixed back in."""
    return f"blended score (blend {blend:g})" if blend else "cross-encoder score"
