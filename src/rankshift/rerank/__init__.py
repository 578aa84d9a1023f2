"""Cross-encoder reranking with a persistent pair-score cache and a first-stage fallback."""

from __future__ import annotations

import hashlib
import math
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rankshift._lazy import require
from rankshift.config import DEFAULT_MAX_LENGTH, DEFAULT_RERANKER
from rankshift.models import ModelUnavailable, load_cross_encoder, resolve_revision, short_name
from rankshift.retrievers.base import ProgressFn
from rankshift.types import Document, PairScore, RerankInfo, RerankStatus, ScoredDoc, StageResult


def _sha(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        b = p.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class PairScoreCache:
    """Cross-encoder scores keyed by model id + revision + max_length + query + document hash.

    Backed by one SQLite file (WAL, so the app and a batch run can share it), or by a dict when
    ``path`` is None. A cache that cannot be written is a slower cache, never a failure.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._memory: dict[str, tuple[float, int]] = {}
        self.error: str | None = None
        """Why the file could not be used (the cache then lives in memory only)."""
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self._connect() as db:
                    db.execute(
                        "CREATE TABLE IF NOT EXISTS pair_scores "
                        "(key TEXT PRIMARY KEY, score REAL NOT NULL, n_tokens INTEGER NOT NULL)"
                    )
            except (OSError, sqlite3.Error) as e:
                # A broken or unwritable cache file must not stop reranking.
                self.error = f"{self.path}: {e}"
                self.path = None

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    @staticmethod
    def key(model_id: str, revision: str, max_length: int, query: str, doc_text: str) -> str:
        return _sha(model_id, revision, str(max_length), query, _sha(doc_text))

    def get_many(self, keys: Sequence[str]) -> dict[str, tuple[float, int]]:
        found = {k: self._memory[k] for k in keys if k in self._memory}
        missing = [k for k in keys if k not in found]
        if self.path is None or not missing:
            return found
        try:
            with self._connect() as db:
                for start in range(0, len(missing), 500):
                    chunk = missing[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    for k, s, n in db.execute(
                        f"SELECT key, score, n_tokens FROM pair_scores WHERE key IN ({marks})",
                        chunk,
                    ):
                        found[k] = (s, n)
        except sqlite3.Error:
            pass
        return found

    def put_many(self, items: dict[str, tuple[float, int]]) -> None:
        self._memory.update(items)
        if self.path is None or not items:
            return
        try:
            with self._connect() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO pair_scores VALUES (?, ?, ?)",
                    [(k, s, n) for k, (s, n) in items.items()],
                )
        except sqlite3.Error:
            pass

    def __len__(self) -> int:
        if self.path is None:
            return len(self._memory)
        with self._connect() as db:
            return int(db.execute("SELECT count(*) FROM pair_scores").fetchone()[0])


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


def rerank(
    reranker: CrossEncoderReranker | None,
    query: str,
    candidates: StageResult,
    documents: dict[str, Document],
    k: int,
    unavailable_message: str | None = None,
    missing_status: RerankStatus = "unavailable",
    model_id: str = DEFAULT_RERANKER,
    progress: ProgressFn | None = None,
    timeout_s: float | None = None,
    blend: float = 0.0,
) -> tuple[StageResult, RerankInfo]:
    """Rerank the top-``k`` of ``candidates``; never raises for a model failure.

    ``blend`` mixes the first stage back in: the reranked order is by
    ``(1 - blend) * z(reranker score) + blend * z(first-stage score)`` over the ``k``
    candidates (see :func:`blend_scores`); 0 is the reranker alone. The ranking's scores are
    then the blended ones; :attr:`RerankInfo.pairs` keep the reranker's own scores.

    When the reranker is missing, fails or times out, the returned stage is the first stage's
    order, named ``... (not reranked)`` with ``params["reranked"] = False``, and the
    :class:`RerankInfo` says why (``missing_status`` is the status when no reranker is given:
    ``unavailable`` when one failed to load, ``skipped`` when reranking is turned off).
    """
    pool = candidates.top(k)
    start = time.perf_counter()

    def fallback(status: str, message: str) -> tuple[StageResult, RerankInfo]:
        stage = StageResult(
            name=f"{candidates.name} (not reranked)",
            kind="rerank",
            ranking=list(pool),
            ms=0.0,
            params={"reranked": False, "input_stage": candidates.name},
        )
        info = RerankInfo(
            model_id=reranker.model_id if reranker else model_id,
            status=status,  # type: ignore[arg-type]
            message=message,
            revision=reranker.revision if reranker else None,
            max_length=reranker.max_length if reranker else None,
            input_stage=candidates.name,
            k=k,
            ms=(time.perf_counter() - start) * 1000,
        )
        return stage, info

    if not 0.0 <= blend <= 1.0:
        raise ValueError(f"blend must be in [0, 1], got {blend}")
    if reranker is None:
        return fallback(
            missing_status, unavailable_message or f"Reranker '{model_id}' is not loaded."
        )
    try:
        pairs, scored = reranker.score(
            query, [documents[r.doc_id] for r in pool], progress=progress, timeout_s=timeout_s
        )
    except Exception as e:  # a reranker failure must never reach the caller as an exception
        return fallback(
            "failed",
            f"Reranker '{reranker.model_id}' failed ({type(e).__name__}: {str(e)[:200]}); "
            "showing first-stage order, not reranked.",
        )
    ms = (time.perf_counter() - start) * 1000
    final = {p.doc_id: p.score for p in pairs}
    if blend > 0:
        final = blend_scores(pool, final, blend)
    stage = StageResult(
        name=f"{candidates.name}>{reranker.name}" + (f"(blend={blend:g})" if blend else ""),
        kind="rerank",
        ranking=reranked_order(final, pool),
        ms=ms,
        params={
            "reranked": True,
            "input_stage": candidates.name,
            "model_id": reranker.model_id,
            "revision": reranker.revision,
            "max_length": reranker.max_length,
            "k": k,
            "blend": blend,
        },
    )
    info = RerankInfo(
        model_id=reranker.model_id,
        status="ok",
        revision=reranker.revision,
        max_length=reranker.max_length,
        input_stage=candidates.name,
        k=k,
        pairs=pairs,
        scored_pairs=scored,
        cached_pairs=sum(p.cached for p in pairs),
        ms=ms,
        blend=blend,
    )
    return stage, info


def reranked_order(scores: Mapping[str, float], first: Sequence[ScoredDoc]) -> list[ScoredDoc]:
    """The reranked ranking: by score, best first; a tie keeps the first stage's order, then
    ``doc_id``. The one ordering rule of every reranked list (pipeline, batch runs, the
    trade-off sweep, training validation), so the same scores always give the same ranks.

    Args:
        scores: the score that decides the order, for each reranked document.
        first: the first stage's ranking of the candidates (documents missing from it sort
            after those in it on ties).
    """
    first_rank = {r.doc_id: r.rank for r in first}
    big = len(first_rank) + 1
    order = sorted(scores, key=lambda d: (-scores[d], first_rank.get(d, big), d))
    return [ScoredDoc(d, i, float(scores[d])) for i, d in enumerate(order, 1)]


def blend_scores(
    first: Sequence[ScoredDoc], reranker_scores: dict[str, float], blend: float
) -> dict[str, float]:
    """``(1 - blend) * z(reranker) + blend * z(first stage)`` for the reranked documents.

    Each list is z-scored over the candidates separately (CombSUM over z-scores, as
    ``hybrid(zscore)`` fuses BM25 and dense), so neither scale dominates. Interpolating a
    BERT reranker's score with the first stage's is a common way to keep what the first
    stage knew (e.g. Yilmaz et al., "Cross-domain modeling of sentence-level evidence for
    document retrieval", EMNLP 2019, with BM25). Choose the weight on held-out queries:
    ``rankshift train`` reports the best one on its validation split.
    """
    from rankshift.retrievers.hybrid import weighted_fusion

    ce = [ScoredDoc(d, i, s) for i, (d, s) in enumerate(reranker_scores.items(), 1)]
    pool = [r for r in first if r.doc_id in reranker_scores]
    fused = weighted_fusion(ce, pool, weight=blend, norm="zscore")
    return {d: fused[d] for d in reranker_scores}
