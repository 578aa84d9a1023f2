"""Dense retrieval: a sentence-transformers bi-encoder over a FAISS index."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class HNSWParams:
    """FAISS HNSW settings (``IndexHNSWFlat``, inner product).

    The defaults were chosen on 1M synthetic 384-d embeddings with a real bi-encoder's
    statistics (``benchmarks/bench_scale.py`` on 2 CPU cores): recall@100 against the exact
    index 0.961 at 3.0 ms a query (exact search: 157 ms), built in under 6 minutes, 1.8 GB on
    disk. efSearch 512 gives 0.955 at 2.5 ms, too close to 0.95 to keep; M=48 needs twice the
    build time for the same recall and speed. Building uses every core FAISS is given (twice as
    fast on 2 cores as on one); a search for one query uses one core whatever the setting.
    """

    m: int = 32
    """Graph neighbours per node (memory: about ``2 * m * 4`` bytes per document on top of
    the vectors)."""
    ef_construction: int = 200
    """Candidate list while building: higher builds slower and gives a better graph."""
    ef_search: int = 640
    """Candidate list while searching (at least the depth asked for): higher is slower and
    finds more of the true neighbours."""

    @property
    def tag(self) -> str:
        """The part of the cache key that decides the graph (``ef_search`` does not)."""
        return f"hnsw-M={self.m}-efc={self.ef_construction}"


class DenseRetriever:
    """Cosine similarity between normalised embeddings of the query and of title + text.

    ``flat`` (``IndexFlatIP``, exact) is the default; ``hnsw`` (``IndexHNSWFlat``, approximate,
    see :class:`HNSWParams`) is for collections where exact search is too slow (past a few
    hundred thousand documents). Embeddings are cached on disk by collection fingerprint, model
    id, model revision and max sequence length; an HNSW graph is cached beside them (keyed also
    by ``M`` and ``efConstruction``), so a restart reads it instead of rebuilding it.
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
        hnsw: HNSWParams | None = None,
    ) -> None:
        model = model if model is not None else load_sentence_transformer(model_id, device)
        self._setup(collection, model_id, model, resolve_revision(model_id), index_type, hnsw)
        self.batch_size = batch_size
        folder = self._cache_path(cache_dir) if cache_dir else None
        cached = self._read_index(folder)
        if cached is not None:
            self.index = cached
            return
        embeddings = self._load_or_encode(cache_dir, progress, show_progress)
        self.index = self._build_index(embeddings, folder, progress)

    def _setup(
        self,
        collection: Collection,
        model_id: str,
        model: Any,
        revision: str,
        index_type: IndexType,
        hnsw: HNSWParams | None,
    ) -> None:
        self.collection = collection
        self.model_id = model_id
        self.model = model
        self.revision = revision
        self.max_seq_length = int(getattr(model, "max_seq_length", 0) or 0)
        self.index_type = index_type
        self.hnsw = hnsw or HNSWParams()
        self.batch_size = 64
        self.doc_ids = collection.doc_ids
        self._faiss = require("faiss")
        self.index_loaded = False
        """True when the HNSW graph was read from the cache instead of built."""

    @classmethod
    def from_embeddings(
        cls,
        collection: Collection,
        embeddings: np.ndarray,
        model_id: str,
        *,
        model: Any = None,
        index_type: IndexType = "flat",
        hnsw: HNSWParams | None = None,
        cache_dir: Path | None = None,
        progress: ProgressFn | None = None,
    ) -> DenseRetriever:
        """A retriever over document embeddings computed elsewhere (a batch job, another tool).

        Args:
            embeddings: one unit-length row per document, in ``collection.doc_ids`` order.
            model_id: the model that made them; shown in ``name`` and recorded in ``params``.
            model: a bi-encoder for query text (:meth:`search`); without one, search with
                :meth:`search_vectors`.
            cache_dir: where an HNSW graph is kept, keyed by a content hash of the embeddings,
                so the next run over the same embeddings reads it instead of building it.
        """
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or len(embeddings) != len(collection.documents):
            raise ValueError(
                f"expected one embedding row per document ({len(collection.documents)}), "
                f"got an array of shape {embeddings.shape}"
            )
        digest = hashlib.blake2b(memoryview(embeddings).cast("B"), digest_size=8).hexdigest()
        self = cls.__new__(cls)
        self._setup(collection, model_id, model, f"embeddings-{digest}", index_type, hnsw)
        folder = self._cache_path(cache_dir) if cache_dir else None
        cached = self._read_index(folder)
        if cached is not None:
            self.index = cached
            return self
        if folder is not None and index_type == "hnsw" and not _ids_match(folder, self.doc_ids):
            _replace_folder(folder, lambda tmp: _write_ids(tmp, self.doc_ids))
        self.index = self._build_index(embeddings, folder, progress)
        return self

    @property
    def name(self) -> str:
        return f"dense({short_name(self.model_id)},{self.index_type})"

    @property
    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model_id": self.model_id,
            "revision": self.revision,
            "max_seq_length": self.max_seq_length,
            "index": self.index_type,
        }
        if self.index_type == "hnsw":
            params["hnsw"] = {
                "M": self.hnsw.m,
                "efConstruction": self.hnsw.ef_construction,
                "efSearch": self.hnsw.ef_search,
            }
        return params

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

            def write(tmp: Path) -> None:
                np.save(tmp / "embeddings.npy", embeddings)
                _write_ids(tmp, self.doc_ids)

            # A new folder drops any HNSW graph built over the previous embeddings.
            _replace_folder(path, write)
        return embeddings

    def _read_index(self, folder: Path | None) -> Any:
        """The cached HNSW graph for these documents and settings, or None."""
        if self.index_type != "hnsw" or folder is None:
            return None
        file = folder / self.hnsw.tag / "index.faiss"
        if not file.exists() or not _ids_match(folder, self.doc_ids):
            return None
        index = self._faiss.read_index(str(file))
        if index.ntotal != len(self.doc_ids):
            return None
        index.hnsw.efSearch = self.hnsw.ef_search
        self.index_loaded = True
        return index

    def _build_index(
        self, embeddings: np.ndarray, folder: Path | None, progress: ProgressFn | None
    ) -> Any:
        dim = embeddings.shape[1]
        if self.index_type != "hnsw":
            index = self._faiss.IndexFlatIP(dim)
            index.add(embeddings)
            return index
        index = self._faiss.IndexHNSWFlat(dim, self.hnsw.m, self._faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.hnsw.ef_construction
        n, step = len(embeddings), 50_000
        for start in range(0, n, step):
            if progress:
                progress("Building HNSW index", start, n)
            index.add(embeddings[start : start + step])
        if progress:
            progress("Building HNSW index", n, n)
        index.hnsw.efSearch = self.hnsw.ef_search
        if folder is not None and _ids_match(folder, self.doc_ids):
            _replace_folder(
                folder / self.hnsw.tag,
                lambda tmp: self._faiss.write_index(index, str(tmp / "index.faiss")),
            )
        return index

    def search(self, query: str, k: int) -> list[ScoredDoc]:
        return self.search_many([query], k)[0]

    def search_many(self, queries: Sequence[str], k: int) -> list[list[ScoredDoc]]:
        if not queries:
            return []
        if self.model is None:
            raise TypeError(
                f"{self.name} was built from precomputed embeddings without a model to encode "
                "query text: pass model= or search with search_vectors()"
            )
        return self.search_vectors(self.encode(queries), k)

    def search_vectors(self, vectors: np.ndarray, k: int) -> list[list[ScoredDoc]]:
        """Top-``k`` for query embeddings (one unit-length row per query)."""
        q = np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32)
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
                (self.doc_ids[i], s)
                for i, s in zip(row_i.tolist(), row_s.tolist(), strict=True)
                if i >= 0
            ]
            if depth >= n or len(found) <= k or found[-1][1] < found[k - 1][1]:
                return top_k(found, k)
            depth = min(depth * 2, n)


def _write_ids(folder: Path, doc_ids: list[str]) -> None:
    (folder / "doc_ids.json").write_text(json.dumps(doc_ids))


def _ids_match(folder: Path, doc_ids: list[str]) -> bool:
    ids = folder / "doc_ids.json"
    return ids.exists() and json.loads(ids.read_text()) == doc_ids


def _replace_folder(folder: Path, write: Any) -> None:
    """Fill a temporary folder with ``write(tmp)`` and rename it to ``folder``, so a killed
    build never leaves a half-written file that a later run would load."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent))
    try:
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
