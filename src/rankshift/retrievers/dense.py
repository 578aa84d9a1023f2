"""Dense retrieval: a sentence-transformers bi-encoder over a FAISS index."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rankshift._lazy import require
from rankshift.config import DEFAULT_BI_ENCODER
from rankshift.corpus import Collection
from rankshift.models import load_sentence_transformer, resolve_revision, short_name
from rankshift.retrievers.base import ProgressFn, top_k
from rankshift.types import ScoredDoc

IndexType = Literal["flat", "hnsw"]


class DenseRetriever:
    """Cosine similarity between normalised embeddings of the query and of title + text.

    ``flat`` (``IndexFlatIP``, exact) is the default; ``hnsw`` (``IndexHNSWFlat``, approximate,
    M=32) is for collections where exact search is too slow. Embeddings are cached on disk by
    collection fingerprint, model id, model revision and max sequence length.
    """

    key = "dense"

    def __init__(
        self,
        collection: Collection,
        model_id: str = DEFAULT_BI_ENCODER,
        index_type: IndexType = "flat",
        cache_dir: Path | None = None,
        batch_size: int = 64,
        progress: ProgressFn | None = None,
        show_progress: bool = False,
        device: str | None = None,
        model: Any = None,
    ) -> None:
        self.collection = collection
        self.model_id = model_id
        self.index_type = index_type
        self.batch_size = batch_size
        self.doc_ids = collection.doc_ids
        self.model = model if model is not None else load_sentence_transformer(model_id, device)
        self.revision = resolve_revision(model_id)
        self.max_seq_length = int(getattr(self.model, "max_seq_length", 0) or 0)
        self._faiss = require("faiss")
        embeddings = self._load_or_encode(cache_dir, progress, show_progress)
        self.index = self._build_index(embeddings)

    @property
    def name(self) -> str:
        return f"dense({short_name(self.model_id)},{self.index_type})"

    @property
    def params(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "revision": self.revision,
            "max_seq_length": self.max_seq_length,
            "index": self.index_type,
        }

    def _cache_path(self, cache_dir: Path) -> Path:
        safe = self.model_id.strip("/").replace("/", "__")
        tag = f"dense-{safe}-{self.revision}-len={self.max_seq_length}"
        return cache_dir / "indexes" / self.collection.fingerprint / tag

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        return np.asarray(
            self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            ),
            dtype=np.float32,
        )

    def _load_or_encode(
        self, cache_dir: Path | None, progress: ProgressFn | None, show: bool
    ) -> np.ndarray:
        path = self._cache_path(cache_dir) if cache_dir else None
        if path is not None and (path / "embeddings.npy").exists():
            ids = json.loads((path / "doc_ids.json").read_text())
            if ids == self.doc_ids:
                return np.load(path / "embeddings.npy")
        texts = [d.full_text for d in self.collection.documents.values()]
        chunk = max(self.batch_size * 4, 256)
        parts = []
        tqdm = require("tqdm").tqdm
        bar = tqdm(total=len(texts), desc="Encoding documents", disable=not show, unit="doc")
        for start in range(0, len(texts), chunk):
            if progress:
                progress("Encoding documents", start, len(texts))
            parts.append(self.encode(texts[start : start + chunk]))
            bar.update(len(texts[start : start + chunk]))
        bar.close()
        if progress:
            progress("Encoding documents", len(texts), len(texts))
        embeddings = np.vstack(parts) if parts else np.zeros((0, 1), dtype=np.float32)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=path.parent))
            np.save(tmp / "embeddings.npy", embeddings)
            (tmp / "doc_ids.json").write_text(json.dumps(self.doc_ids))
            shutil.rmtree(path, ignore_errors=True)
            tmp.rename(path)
        return embeddings

    def _build_index(self, embeddings: np.ndarray) -> Any:
        dim = embeddings.shape[1]
        if self.index_type == "hnsw":
            index = self._faiss.IndexHNSWFlat(dim, 32, self._faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = 128
        else:
            index = self._faiss.IndexFlatIP(dim)
        index.add(embeddings)
        return index

    def search(self, query: str, k: int) -> list[ScoredDoc]:
        return self.search_many([query], k)[0]

    def search_many(self, queries: Sequence[str], k: int) -> list[list[ScoredDoc]]:
        if not queries:
            return []
        q = self.encode(queries)
        return [self._search_one(row[None, :], k) for row in q]

    def _search_one(self, q: np.ndarray, k: int) -> list[ScoredDoc]:
        """Top-``k`` for one encoded query, with every document tied at the ``k``-th score.

        FAISS returns a fixed number of neighbours; when the last one still ties the ``k``-th
        score, more documents may share it, so the search is widened until the tie ends (or
        the collection does) and the tie is broken on ``doc_id`` like every other ranking.
        """
        n = len(self.doc_ids)
        if k <= 0 or n == 0:
            return []
        depth = min(k + 20, n)
        while True:
            scores, idx = self.index.search(q, depth)
            row_s, row_i = scores[0], idx[0]
            found = [
                (self.doc_ids[i], float(s)) for i, s in zip(row_i, row_s, strict=True) if i >= 0
            ]
            if depth >= n or len(found) <= k or found[-1][1] < found[k - 1][1]:
                return top_k(found, k)
            depth = min(depth * 2, n)
