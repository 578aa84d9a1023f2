"""BM25 with bm25s (sparse, precomputed scores; fast past 100k documents)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rankshift._lazy import require
from rankshift.corpus import Collection
from rankshift.retrievers.base import ProgressFn, top_k_of_array
from rankshift.types import ScoredDoc

BM25Method = Literal["lucene", "robertson", "atire", "bm25l", "bm25+"]


class BM25Retriever:
    """BM25 over title + text, English stopwords removed, Snowball (Porter2) stemming.

    The default variant is Lucene's (``idf = log(1 + (N - n + 0.5) / (n + 0.5))``), the one
    Pyserini and Elasticsearch use, so scores compare with published BEIR baselines. The
    ``robertson`` variant is the classic Okapi formula that rank-bm25's ``BM25Okapi`` implements
    (rank-bm25 additionally floors negative idf values at ``0.25 * mean idf``).
    """

    key = "bm25"

    def __init__(
        self,
        collection: Collection,
        k1: float = 1.5,
        b: float = 0.75,
        method: BM25Method = "lucene",
        stemmer: str | None = "english",
        stopwords: str | None = "en",
        cache_dir: Path | None = None,
        progress: ProgressFn | None = None,
        show_progress: bool = False,
    ) -> None:
        self.collection = collection
        self.k1, self.b, self.method = k1, b, method
        self.stemmer_name, self.stopwords = stemmer, stopwords
        self._bm25s = require("bm25s")
        self._stemmer = require("Stemmer").Stemmer(stemmer) if stemmer else None
        self.doc_ids = collection.doc_ids
        self.model = self._load_or_build(cache_dir, progress, show_progress)

    @property
    def name(self) -> str:
        return f"bm25({self.method},k1={self.k1:g},b={self.b:g})"

    @property
    def params(self) -> dict[str, Any]:
        return {"k1": self.k1, "b": self.b, "method": self.method, "stemmer": self.stemmer_name}

    def tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        """The tokens BM25 sees (lower-cased, stopwords removed, stemmed)."""
        return self._bm25s.tokenize(
            list(texts),
            stopwords=self.stopwords,
            stemmer=self._stemmer,
            return_ids=False,
            show_progress=False,
        )

    def _index_dir(self, cache_dir: Path) -> Path:
        tag = f"bm25-{self.method}-k1={self.k1:g}-b={self.b:g}-stem={self.stemmer_name}-sw={self.stopwords}"
        return cache_dir / "indexes" / self.collection.fingerprint / tag

    def _load_or_build(
        self, cache_dir: Path | None, progress: ProgressFn | None, show: bool
    ) -> Any:
        index_dir = self._index_dir(cache_dir) if cache_dir else None
        if index_dir is not None and (index_dir / "doc_ids.json").exists():
            ids = json.loads((index_dir / "doc_ids.json").read_text())
            if ids == self.doc_ids:
                return self._bm25s.BM25.load(str(index_dir))
        if progress:
            progress("Building BM25 index", 0, len(self.doc_ids))
        texts = [d.full_text for d in self.collection.documents.values()]
        tokens = self._bm25s.tokenize(
            texts, stopwords=self.stopwords, stemmer=self._stemmer, show_progress=show
        )
        model = self._bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        model.index(tokens, show_progress=show)
        if index_dir is not None:
            # Write to a temporary folder and rename, so a killed build never leaves a
            # half-written index that a later run would load.
            index_dir.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=index_dir.parent))
            model.save(str(tmp))
            (tmp / "doc_ids.json").write_text(json.dumps(self.doc_ids))
            shutil.rmtree(index_dir, ignore_errors=True)
            tmp.rename(index_dir)
        if progress:
            progress("Building BM25 index", len(self.doc_ids), len(self.doc_ids))
        return model

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document, in collection order."""
        tokens = self.tokenize([query])[0]
        if not tokens:
            return np.zeros(len(self.doc_ids), dtype=np.float32)
        return np.asarray(self.model.get_scores(tokens))

    def search(self, query: str, k: int) -> list[ScoredDoc]:
        return self.search_many([query], k)[0]

    def search_many(self, queries: Sequence[str], k: int) -> list[list[ScoredDoc]]:
        """Top-``k`` per query. Documents sharing no term with the query are not returned."""
        return [top_k_of_array(self.scores(q), self.doc_ids, k, min_score=0.0) for q in queries]
