"""A sentence-transformers CrossEncoder run in this process, with token accounting."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from rankshift._lazy import require
from rankshift.config import DEFAULT_MAX_LENGTH, DEFAULT_RERANKER
from rankshift.models import ModelUnavailable, load_cross_encoder, resolve_revision, short_name
from rankshift.rerank.cache import PairScoreCache
from rankshift.retrievers.base import ProgressFn
from rankshift.types import Document, PairScore


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class RerankTimeout(RuntimeError):
    pass


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder with token accounting and a pair-score cache.

    Loading raises :class:`~rankshift.models.ModelUnavailable` (or ``ValueError`` for a
    ``max_length`` the model cannot read); use :func:`try_load_reranker` for the handled form.
    """

    def __init__(
        self,
        model_id: str = DEFAULT_RERANKER,
        max_length: int = DEFAULT_MAX_LENGTH,
        batch_size: int = 16,
        device: str | None = None,
        cache: PairScoreCache | None = None,
        model: Any = None,
    ) -> None:
        self.model_id = model_id
        self.max_length = max_length
        self.batch_size = batch_size
        self.model = (
            model if model is not None else load_cross_encoder(model_id, max_length, device)
        )
        # Past the position embeddings every long pair fails inside the model with a tensor
        # size mismatch; say so once, here, instead of failing every rerank.
        limit = getattr(getattr(self.model, "config", None), "max_position_embeddings", None)
        if isinstance(limit, int) and max_length > limit:
            raise ValueError(
                f"max_length {max_length} is more than reranker '{model_id}' can read "
                f"({limit} tokens); choose {limit} or less"
            )
        self.revision = resolve_revision(model_id)
        self.cache = cache if cache is not None else PairScoreCache(None)
        self.num_labels = int(getattr(self.model, "num_labels", 1) or 1)

    @property
    def name(self) -> str:
        return f"ce({short_name(self.model_id)},len={self.max_length})"

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    def count_tokens(self, query: str, texts: Sequence[str]) -> list[int]:
        """Length of each tokenised (query, text) pair before truncation, special tokens included."""
        if not texts:
            return []
        enc = self.tokenizer([query] * len(texts), list(texts), truncation=False, verbose=False)
        return [len(ids) for ids in enc["input_ids"]]

    def window_end(self, query: str, text: str) -> int:
        """Character offset in ``text`` where the model stops reading (``len(text)``: it sees all)."""
        enc = self.tokenizer(
            query,
            text,
            truncation="only_second",
            max_length=self.max_length,
            return_offsets_mapping=True,
        )
        seq_ids = enc.sequence_ids()
        ends = [
            end
            for (start, end), sid in zip(enc["offset_mapping"], seq_ids, strict=True)
            if sid == 1
        ]
        if not ends:
            return 0
        full = self.count_tokens(query, [text])[0]
        return len(text) if full <= self.max_length else max(ends)

    def _predict(self, pairs: list[tuple[str, str]]) -> list[float]:
        torch = require("torch")
        logits = self.model.predict(
            pairs,
            batch_size=self.batch_size,
            activation_fn=torch.nn.Identity(),
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        if getattr(logits, "ndim", 1) == 2:
            # Multi-logit models: the last label is "relevant" (binary classifiers' convention).
            if logits.shape[1] == 1:
                return [float(x) for x in logits[:, 0]]
            return [float(row[-1] - row[:-1].max()) for row in logits]
        return [float(x) for x in logits]

    def score(
        self,
        query: str,
        documents: Sequence[Document],
        progress: ProgressFn | None = None,
        timeout_s: float | None = None,
    ) -> tuple[list[PairScore], int]:
        """Score (query, document) pairs, from the cache where possible.

        Returns:
            The pair scores in input order, and how many pairs the model actually scored
            (documents with the same text share one scored pair).
        """
        texts = [d.full_text for d in documents]
        keys = [
            PairScoreCache.key(self.model_id, self.revision, self.max_length, query, t)
            for t in texts
        ]
        cached = self.cache.get_many(keys)
        # Score each distinct missing pair once: corpora often hold the same text under two ids.
        first_missing: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k not in cached:
                first_missing.setdefault(k, i)
        todo = list(first_missing.values())
        total = len(todo)
        if progress:
            progress("Reranking", 0, total)
        fresh: dict[str, tuple[float, int]] = {}
        start = time.perf_counter()
        try:
            for b in range(0, total, self.batch_size):
                batch = todo[b : b + self.batch_size]
                scores = self._predict([(query, texts[i]) for i in batch])
                lengths = self.count_tokens(query, [texts[i] for i in batch])
                for i, s, n in zip(batch, scores, lengths, strict=True):
                    fresh[keys[i]] = (s, n)
                if progress:
                    progress("Reranking", min(b + self.batch_size, total), total)
                if (
                    timeout_s is not None
                    and time.perf_counter() - start > timeout_s
                    and b + self.batch_size < total
                ):
                    raise RerankTimeout(f"reranking took longer than {timeout_s:g} s")
        finally:
            # Whatever was scored before a failure is kept: the next attempt resumes from it.
            self.cache.put_many(fresh)
        out = []
        for d, k in zip(documents, keys, strict=True):
            s, n = fresh[k] if k in fresh else cached[k]
            out.append(
                PairScore(
                    doc_id=d.doc_id,
                    score=s,
                    probability=sigmoid(s),
                    n_tokens=n,
                    truncated=n > self.max_length,
                    cached=k in cached,
                )
            )
        return out, len(fresh)


def try_load_reranker(
    model_id: str,
    max_length: int = DEFAULT_MAX_LENGTH,
    cache: PairScoreCache | None = None,
    device: str | None = None,
    batch_size: int = 16,
) -> tuple[CrossEncoderReranker | None, str | None]:
    """Load a reranker, or return ``(None, message)`` naming the model and how to provide it."""
    try:
        return CrossEncoderReranker(model_id, max_length, batch_size, device, cache), None
    except (ModelUnavailable, ImportError, ValueError) as e:
        return None, str(e)
