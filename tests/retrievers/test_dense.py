"""Dense retrieval with the real bi-encoder (all-MiniLM-L6-v2, loaded once per session)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rankshift.corpus import Collection, collection_from_documents
from rankshift.retrievers.bm25 import BM25Retriever
from rankshift.retrievers.dense import DenseRetriever
from rankshift.types import Document

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"

# The query shares no word with its answer; the distractors share words with the query.
QUERY = "doctor gave drugs for hypertension"
ANSWER = Document(
    "med", "The physician prescribed medication to lower the patient's blood pressure."
)
DOCS = [
    ANSWER,
    Document("smuggling", "Police seized drugs smuggled across the border."),
    Document("phd", "The doctor of philosophy gave a lecture on medieval history."),
    Document("gift", "She gave her brother a bicycle for his birthday."),
    Document("brakes", "The mechanic repaired the brakes of the old car."),
    Document("pasta", "A chef cooks pasta with tomato sauce and basil."),
]


@pytest.fixture(scope="module")
def paraphrase() -> Collection:
    return collection_from_documents(DOCS, name="paraphrase")


def test_paraphrase_found_without_shared_terms(paraphrase: Collection, bi_encoder: Any) -> None:
    bm25 = BM25Retriever(paraphrase)
    scores = dict(zip(paraphrase.doc_ids, bm25.scores(QUERY), strict=True))
    assert scores["med"] == 0.0  # no shared term, so BM25 cannot find it
    assert "med" not in [r.doc_id for r in bm25.search(QUERY, 10)]
    assert scores["smuggling"] > 0 and scores["phd"] > 0

    dense = DenseRetriever(paraphrase, MODEL_ID, model=bi_encoder)
    results = dense.search(QUERY, 3)
    assert results[0].doc_id == "med"
    assert [r.rank for r in results] == [1, 2, 3]
    assert results[0].score > results[1].score
    assert -1.0 <= results[-1].score <= results[0].score <= 1.0  # cosine of unit vectors
    assert dense.name == "dense(all-MiniLM-L6-v2,flat)"


def test_embeddings_are_cached_on_disk_and_reused(
    paraphrase: Collection, bi_encoder: Any, tmp_path: Path
) -> None:
    calls: list[tuple[str, int, int]] = []
    first = DenseRetriever(
        paraphrase,
        MODEL_ID,
        cache_dir=tmp_path,
        model=bi_encoder,
        progress=lambda *a: calls.append(a),
    )
    assert calls[-1] == ("Encoding documents", len(DOCS), len(DOCS))
    (npy,) = (tmp_path / "indexes").rglob("embeddings.npy")
    assert npy.parent.parent.name == paraphrase.fingerprint
    assert first.revision in npy.parent.name  # a new model revision gets new embeddings
    mtime = npy.stat().st_mtime_ns

    calls.clear()
    second = DenseRetriever(
        paraphrase,
        MODEL_ID,
        cache_dir=tmp_path,
        model=bi_encoder,
        progress=lambda *a: calls.append(a),
    )
    assert calls == []  # nothing encoded
    assert npy.stat().st_mtime_ns == mtime
    cached = np.load(npy)
    np.testing.assert_allclose(cached, first.encode([d.full_text for d in DOCS]), atol=1e-5)
    assert second.search(QUERY, 6) == first.search(QUERY, 6)


def test_hnsw_agrees_with_flat_on_a_small_corpus(paraphrase: Collection, bi_encoder: Any) -> None:
    flat = DenseRetriever(paraphrase, MODEL_ID, index_type="flat", model=bi_encoder)
    hnsw = DenseRetriever(paraphrase, MODEL_ID, index_type="hnsw", model=bi_encoder)
    assert hnsw.name == "dense(all-MiniLM-L6-v2,hnsw)"
    for query in (QUERY, "a bike as a present", "fixing a car", "italian cooking"):
        f, h = flat.search(query, 3), hnsw.search(query, 3)
        assert f[0].doc_id == h[0].doc_id, query
        assert f[0].score == pytest.approx(h[0].score, abs=1e-5)


def test_animals_dense(animals: Collection, bi_encoder: Any) -> None:
    dense = DenseRetriever(animals, MODEL_ID, model=bi_encoder)
    assert dense.search("which animal can fly", 1)[0].doc_id == "bird"
    batch = dense.search_many(["pets that purr", "swimming in the sea"], 2)
    assert [r[0].doc_id for r in batch] == ["cat", "fish"]
    # Batching changes nothing but float noise from padding the shorter query.
    alone = dense.search("swimming in the sea", 2)
    assert [(r.doc_id, r.rank) for r in batch[1]] == [(r.doc_id, r.rank) for r in alone]
    assert [r.score for r in batch[1]] == pytest.approx([r.score for r in alone], abs=1e-5)


def test_a_tie_at_the_cut_is_broken_on_doc_id_over_every_tied_document(bi_encoder: Any) -> None:
    """Identical texts embed identically; FAISS's first k + 20 neighbours hold only some of them."""
    ids = [f"t{i:03d}" for i in range(120)][::-1]  # the smallest ids are stored last
    tied = collection_from_documents([Document(d, "a cat sat on the mat") for d in ids])
    dense = DenseRetriever(tied, MODEL_ID, model=bi_encoder)
    hits = dense.search("a cat sat on the mat", 3)
    assert [h.doc_id for h in hits] == ["t000", "t001", "t002"]
    assert hits[0].score == hits[2].score
