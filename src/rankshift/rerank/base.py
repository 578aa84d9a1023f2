"""What every reranker backend shares: the pair-score cache, batching, progress and timeouts.

A backend subclasses :class:`Reranker` and implements :meth:`Reranker._score_batch` (raw scores
for one batch of texts against a query). In-process backends also give token counts
(:meth:`Reranker.count_tokens`); HTTP backends cannot, and say so with ``None``, which the app
shows as unknown. HTTP backends override :meth:`Reranker._run_batches` to keep several requests
in flight.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from rankshift.rerank.cache import PairScoreCache
from rankshift.rerank.spec import RerankerSpec
from rankshift.retrievers.base import ProgressFn
from rankshift.types import Document, PairScore


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class RerankTimeout(RuntimeError):
    pass


def text_window_end(reranker: Any, query: str, doc: Document) -> int | None:
    """Where in ``doc.text`` ``reranker`` stops reading: ``len(doc.text)`` when it reads all of
    it, None when it cannot tell. The model reads ``title + "\n" + text``, so its
    :meth:`Reranker.window_end` is measured on that and mapped back onto the text."""
    full = doc.full_text
    end = reranker.window_end(query, full)
    if end is None:
        return None
    if end >= len(full):
        return len(doc.text)
    offset = len(doc.title) + 1 if doc.title else 0
    return max(0, end - offset)


class Reranker:
    """Scores (query, document) pairs through a backend, from the cache where possible.

    Attributes set by subclasses before use: ``spec``, ``max_length`` (tokens the model reads;
    None when a service does not say), ``revision`` (what the cache key names), ``batch_size``,
    ``cache``.
    """

    spec: RerankerSpec
    max_length: int | None
    revision: str
    batch_size: int
    cache: PairScoreCache
    has_gradients: bool = False
    """True when token attributions can be computed (an in-process torch model)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        """Held around every use of an in-process model and its tokenizer: a fast tokenizer
        raises "Already borrowed" when two threads (two app sessions) use it at once."""

    @property
    def lock(self) -> AbstractContextManager[bool]:
        """Hold it to use the model or its tokenizer directly from several threads."""
        return self._lock

    @property
    def model_id(self) -> str:
        """The spec as text: what reports, runs and the cache record (never holds a key)."""
        return str(self.spec)

    @property
    def name(self) -> str:
        length = f",len={self.max_length}" if self.max_length else ""
        return f"ce({self.spec.short}{length})"

    @property
    def cache_identity(self) -> str:
        """Everything besides the pair that decides a score: the cache key's model part."""
        return self.model_id

    def probability(self, score: float) -> float:
        """The score as a number in [0, 1]: the sigmoid of a logit. A service that already
        answers with a relevance probability (Cohere's ``relevance_score``) returns it as is."""
        return sigmoid(score)

    def count_tokens(self, query: str, texts: Sequence[str]) -> list[int] | None:
        """Tokens of each (query, text) pair before truncation; None when the backend cannot
        tell (an HTTP service)."""
        return None

    def window_end(self, query: str, text: str) -> int | None:
        """Character offset in ``text`` where the model stops reading; None when unknown."""
        return None

    def _score_batch(self, query: str, texts: list[str]) -> list[float]:
        """Raw scores (logits) of ``(query, text)`` for one batch, in order."""
        raise NotImplementedError

    def _run_batches(
        self, query: str, batches: list[list[str]]
    ) -> Iterator[tuple[int, list[float]]]:
        """Score the batches, yielding ``(batch index, scores)`` as each finishes."""
        for i, batch in enumerate(batches):
            with self._lock:
                scores = self._score_batch(query, batch)
            yield i, scores

    def _order(self, query: str, texts: list[str]) -> tuple[list[int], list[int] | None]:
        """Token counts, and the order to score in: longest first, so batches hold pairs of
        similar length and pad little."""
        with self._lock:
            lengths = self.count_tokens(query, texts)
        sizes = lengths if lengths is not None else [len(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: -sizes[i])
        return order, lengths

    def score(
        self,
        query: str,
        documents: Sequence[Document],
        progress: ProgressFn | None = None,
        timeout_s: float | None = None,
    ) -> tuple[list[PairScore], int]:
        """Score (query, document) pairs, from the cache where possible.

        Returns:
            The pair scores in input order, and how many pairs the backend actually scored
            (documents with the same text share one scored pair).
        """
        texts = [d.full_text for d in documents]
        found, scored = self.score_texts(query, texts, progress=progress, timeout_s=timeout_s)
        return self.pair_scores(documents, found), scored

    def truncated(self, n_tokens: int | None) -> bool | None:
        """Whether a pair of ``n_tokens`` was cut off at the window (None: cannot tell)."""
        if n_tokens is None or not self.max_length:
            return None
        return n_tokens > self.max_length

    def pair_scores(
        self, documents: Sequence[Document], found: Sequence[tuple[float, int | None, bool]]
    ) -> list[PairScore]:
        """What :meth:`score_texts` found, as the pair scores of ``documents``."""
        return [
            PairScore(
                doc_id=d.doc_id,
                score=s,
                probability=self.probability(s),
                n_tokens=n,
                truncated=self.truncated(n),
                cached=cached,
            )
            for d, (s, n, cached) in zip(documents, found, strict=True)
        ]

    def score_texts(
        self,
        query: str,
        texts: Sequence[str],
        progress: ProgressFn | None = None,
        timeout_s: float | None = None,
    ) -> tuple[list[tuple[float, int | None, bool]], int]:
        """``(raw score, token count or None, came from the cache)`` per text, and how many
        pairs were scored now."""
        keys = [
            PairScoreCache.key(self.cache_identity, self.revision, self.max_length or 0, query, t)
            for t in texts
        ]
        cached = self.cache.get_many(keys)
        # Score each distinct missing pair once: corpora often hold the same text under two ids.
        first_missing: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k not in cached:
                first_missing.setdefault(k, i)
        todo = list(first_missing.values())
        fresh: dict[str, tuple[float, int | None]] = {}
        if todo:
            self._score_todo(
                query, [texts[i] for i in todo], [keys[i] for i in todo], fresh, progress, timeout_s
            )
        out = []
        for k in keys:
            s, n = fresh[k] if k in fresh else cached[k]
            out.append((s, n, k not in fresh))
        return out, len(fresh)

    def _score_todo(
        self,
        query: str,
        texts: list[str],
        keys: list[str],
        fresh: dict[str, tuple[float, int | None]],
        progress: ProgressFn | None,
        timeout_s: float | None,
    ) -> None:
        total = len(texts)
        if progress:
            progress("Reranking", 0, total)
        order, lengths = self._order(query, texts)
        size = max(1, self.batch_size)
        groups = [order[b : b + size] for b in range(0, total, size)]
        start = time.perf_counter()
        done = 0
        batches = self._run_batches(query, [[texts[i] for i in g] for g in groups])
        try:
            for gi, scores in batches:
                for i, s in zip(groups[gi], scores, strict=True):
                    fresh[keys[i]] = (float(s), None if lengths is None else lengths[i])
                done += len(groups[gi])
                if progress:
                    progress("Reranking", done, total)
                if (
                    timeout_s is not None
                    and time.perf_counter() - start > timeout_s
                    and done < total
                ):
                    raise RerankTimeout(f"reranking took longer than {timeout_s:g} s")
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()
            # Whatever was scored before a failure is kept: the next attempt resumes from it.
            self.cache.put_many(fresh)
