"""MaxP: a long document scored by its best passage instead of its first ``max_length`` tokens.

A cross-encoder reads ``max_length`` tokens of query + document and drops the rest (FirstP).
:class:`PassageReranker` wraps an in-process reranker and scores every overlapping window of
the document instead, each window with the title and short enough to fit beside the query,
and keeps the best window's score (MaxP; Dai & Callan, "Deeper Text Understanding for IR with
Contextual Neural Language Modeling", SIGIR 2019). Each window is an ordinary pair for the
wrapped reranker, so window scores go through its pair-score cache, and a document that fits
in one window is the very pair FirstP scores (same text, same cached score).

Choose it with the spec option ``passages=maxp`` (``stride=N`` for the step between windows,
default half a window); :func:`~rankshift.rerank.loading.load_reranker` wraps the model.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rankshift.rerank.base import Reranker
from rankshift.rerank.cache import pair_hash
from rankshift.rerank.spec import RerankerSpec
from rankshift.retrievers.base import ProgressFn
from rankshift.types import Document, PairScore

MIN_WINDOW = 32
"""Fewest document tokens in a window, even when the query and title leave less room (the
model then truncates the pair as it always does)."""
WINNERS_KEPT = 10_000
"""Documents whose winning window :class:`PassageReranker` remembers (the last scored first)."""


@dataclass(frozen=True)
class Window:
    """One passage of a document's text, as MaxP scores it."""

    index: int
    token_start: int
    """First token of the passage among the text's own tokens (0-based, title not counted)."""
    token_end: int
    """One past the passage's last token."""
    char_start: int
    """Offset of the passage in the document's text."""
    char_end: int
    text: str
    """What is scored: the title, a newline and the passage (the passage alone if untitled)."""
    total_tokens: int
    """Tokens of the whole text (title and query not counted)."""

    @property
    def is_whole(self) -> bool:
        """True when the text fits in one window (MaxP and FirstP read the same pair)."""
        return self.token_start == 0 and self.token_end == self.total_tokens


def _token_count(tokenizer: Any, text: str) -> int:
    if not text:
        return 0
    ids = tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
    return len(ids)


def window_size(tokenizer: Any, query: str, title: str, max_length: int) -> int:
    """Document tokens per window: ``max_length`` less the query, the title and the special
    tokens of a pair (at least :data:`MIN_WINDOW`)."""
    special = int(tokenizer.num_special_tokens_to_add(pair=True))
    room = max_length - _token_count(tokenizer, query) - _token_count(tokenizer, title) - special
    return max(MIN_WINDOW, room)


def split_windows(
    tokenizer: Any,
    query: str,
    text: str,
    max_length: int,
    title: str = "",
    stride: int | None = None,
) -> list[Window]:
    """Cut ``text`` into overlapping windows that each fit beside ``query`` and ``title``.

    The text is tokenised alone, with character offsets, so every window is a span of the
    original text. Windows start ``stride`` tokens apart (default half a window; a stride
    longer than a window is shortened to one window, so no text is skipped); the last one
    ends at the end of the text. A text that fits gives one window holding it exactly.

    Raises:
        ValueError: the tokenizer cannot give character offsets (a slow tokenizer).
    """
    try:
        enc = tokenizer(
            text,
            add_special_tokens=False,
            return_offsets_mapping=True,
            truncation=False,
            verbose=False,
        )
    except NotImplementedError as e:
        raise ValueError(
            "passages=maxp needs a fast tokenizer (one that gives character offsets)"
        ) from e
    offsets = list(enc["offset_mapping"])
    n = len(offsets)
    size = window_size(tokenizer, query, title, max_length)
    step = max(1, min(stride if stride is not None else size // 2, size))

    def scored(chunk: str) -> str:
        return f"{title}\n{chunk}" if title else chunk

    if n <= size:
        return [Window(0, 0, n, 0, len(text), scored(text), n)]
    windows = []
    start = 0
    while True:
        end = min(start + size, n)
        a = 0 if start == 0 else offsets[start][0]
        b = len(text) if end == n else offsets[end - 1][1]
        windows.append(Window(len(windows), start, end, a, b, scored(text[a:b]), n))
        if end >= n:
            return windows
        start += step


class PassageReranker(Reranker):
    """A reranker that scores a document by its best window (MaxP), wrapping an in-process one.

    ``model_id`` and ``cache_identity`` are the spec with ``passages=maxp``; the windows are
    scored by ``inner`` (its cache, its batches, its lock). ``count_tokens`` and
    ``window_end`` answer for the whole document as ``inner`` does (the first window), so the
    document panel can still say what FirstP would have read.

    Args:
        inner: an in-process reranker with a ``tokenizer`` and a known ``max_length``.
        spec: the spec to report (default: ``inner``'s with ``passages=maxp``).
        stride: tokens between window starts (default: the spec's ``stride=``, else half a
            window).

    Raises:
        ValueError: ``inner`` has no tokenizer or no ``max_length`` (an HTTP service).
    """

    def __init__(
        self, inner: Reranker, spec: RerankerSpec | None = None, stride: int | None = None
    ) -> None:
        super().__init__()
        if getattr(inner, "tokenizer", None) is None or not inner.max_length:
            raise ValueError(
                f"passages=maxp needs the model's tokenizer and token window: {inner.spec} "
                "gives neither (in-process backends only)"
            )
        self.inner = inner
        if spec is None:
            options = dict(inner.spec.options) | {"passages": "maxp"}
            spec = RerankerSpec(
                inner.spec.backend, inner.spec.target, tuple(sorted(options.items()))
            )
        self.spec = spec
        if stride is None and spec.option("stride"):
            stride = int(spec.option("stride") or 0)
        self.stride = stride
        self.max_length = inner.max_length
        self.revision = inner.revision
        self.batch_size = inner.batch_size
        self.cache = inner.cache
        self.has_gradients = inner.has_gradients
        # One lock for both: the tokenizer is the inner model's.
        self._lock = inner._lock
        self._winners: OrderedDict[str, Window] = OrderedDict()
        self._winners_lock = threading.Lock()

    @property
    def tokenizer(self) -> Any:
        return self.inner.tokenizer  # type: ignore[attr-defined]

    @property
    def model(self) -> Any:
        return getattr(self.inner, "model", None)

    @property
    def name(self) -> str:
        length = f",len={self.max_length}" if self.max_length else ""
        stride = f",stride={self.stride}" if self.stride else ""
        return f"ce({self.spec.short}{length},maxp{stride})"

    def probability(self, score: float) -> float:
        return self.inner.probability(score)

    def count_tokens(self, query: str, texts: Sequence[str]) -> list[int] | None:
        return self.inner.count_tokens(query, texts)

    def window_end(self, query: str, text: str) -> int | None:
        """MaxP reads every window: nothing of the text is left unseen."""
        return len(text)

    def windows(self, query: str, text: str, title: str = "") -> list[Window]:
        """The windows MaxP scores for ``text`` (see :func:`split_windows`)."""
        assert self.max_length is not None
        with self._lock:
            return split_windows(self.tokenizer, query, text, self.max_length, title, self.stride)

    def best_window(self, query: str, text: str, title: str = "") -> Window | None:
        """The window that decided the document's last MaxP score for ``query`` (None: not
        scored yet, or forgotten)."""
        key = pair_hash(query, f"{title}\n{text}" if title else text)
        with self._winners_lock:
            return self._winners.get(key)

    def _score_items(
        self,
        query: str,
        items: Sequence[tuple[str, str]],
        progress: ProgressFn | None,
        timeout_s: float | None,
    ) -> tuple[list[tuple[float, int | None, bool]], int]:
        """``(title, text)`` items scored by their best window: ``(score, tokens of the whole
        document or None, every window came from the cache)`` each, and pairs scored now."""
        per_item = [self.windows(query, text, title) for title, text in items]
        flat = [w.text for ws in per_item for w in ws]
        found, scored = self.inner.score_texts(query, flat, progress=progress, timeout_s=timeout_s)
        full = [f"{title}\n{text}" if title else text for title, text in items]
        with self._lock:
            lengths = self.inner.count_tokens(query, full)
        out = []
        pos = 0
        winners: dict[str, Window] = {}
        for i, ws in enumerate(per_item):
            rows = found[pos : pos + len(ws)]
            pos += len(ws)
            best = max(range(len(ws)), key=lambda j: (rows[j][0], -j))
            winners[pair_hash(query, full[i])] = ws[best]
            n = None if lengths is None else lengths[i]
            out.append((rows[best][0], n, all(r[2] for r in rows)))
        with self._winners_lock:
            for k, w in winners.items():
                self._winners[k] = w
                self._winners.move_to_end(k)
            while len(self._winners) > WINNERS_KEPT:
                self._winners.popitem(last=False)
        return out, scored

    def score_texts(
        self,
        query: str,
        texts: Sequence[str],
        progress: ProgressFn | None = None,
        timeout_s: float | None = None,
    ) -> tuple[list[tuple[float, int | None, bool]], int]:
        """Each text scored by its best window (no title: the text is windowed as it is)."""
        return self._score_items(query, [("", t) for t in texts], progress, timeout_s)

    def score(
        self,
        query: str,
        documents: Sequence[Document],
        progress: ProgressFn | None = None,
        timeout_s: float | None = None,
    ) -> tuple[list[PairScore], int]:
        """Score documents by their best window, each window read with the title."""
        found, scored = self._score_items(
            query, [(d.title, d.text) for d in documents], progress, timeout_s
        )
        return self.pair_scores(documents, found), scored

    def truncated(self, n_tokens: int | None) -> bool | None:
        """Every window is read: a long document is split, never cut off."""
        return None if n_tokens is None else False
