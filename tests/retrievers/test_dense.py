"""Dense retrieval with the real bi-encoder (all-MiniLM-L6-v2, loaded once per session)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import load_synthetic

from rankshift.corpus import Collection, collection_from_documents
from rankshift.retrievers.bm25 import BM25Retriever
from rankshift.retrievers.dense import DenseRetriever, HNSWParams
from rankshift.types import Document

ROOT = Path(__file__).resolve().parents[2]
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


@pytest.fixture(scope="module")
def synthetic_set() -> tuple[Collection, np.ndarray, np.ndarray]:
    """(3,000 synthetic documents, their embeddings, 40 query embeddings)."""
    synthetic = load_synthetic()
    corpus = synthetic.generate(3_000, seed=4)
    embeddings, words = synthetic.embed_words(corpus, dim=64)
    queries = synthetic.embed_queries(corpus, corpus.queries(40), words)
    return collection_from_documents(corpus.documents()), embeddings, queries


def test_hnsw_agrees_with_flat_on_synthetic_embeddings(
    synthetic_set: tuple[Collection, np.ndarray, np.ndarray],
) -> None:
    coll, embeddings, queries = synthetic_set
    flat = DenseRetriever.from_embeddings(coll, embeddings, "synthetic")
    hnsw = DenseRetriever.from_embeddings(coll, embeddings, "synthetic", index_type="hnsw")
    exact, approx = flat.search_vectors(queries, 100), hnsw.search_vectors(queries, 100)
    recall = [
        len({h.doc_id for h in a} & {h.doc_id for h in e}) / 100
        for a, e in zip(approx, exact, strict=True)
    ]
    assert sum(recall) / len(recall) >= 0.95, recall
    for a, e in zip(approx, exact, strict=True):
        assert a[0].doc_id == e[0].doc_id
        assert a[0].score == pytest.approx(e[0].score, abs=1e-5)
        assert [h.rank for h in a] == list(range(1, 101))
    # Exact search over the same vectors agrees with numpy.
    top = np.argsort(-(embeddings @ queries[0]), kind="stable")[:10]
    assert [h.doc_id for h in exact[0][:10]] == [coll.doc_ids[i] for i in top]


def test_hnsw_graph_is_persisted_and_read_back(
    synthetic_set: tuple[Collection, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    coll, embeddings, queries = synthetic_set
    params = HNSWParams(m=16, ef_construction=64, ef_search=128)
    builds: list[tuple[str, int, int]] = []

    def open_index() -> DenseRetriever:
        return DenseRetriever.from_embeddings(
            coll,
            embeddings,
            "synthetic",
            index_type="hnsw",
            hnsw=params,
            cache_dir=tmp_path,
            progress=lambda *a: builds.append(a),
        )

    first = open_index()
    assert builds[0] == ("Building HNSW index", 0, 3_000)
    assert builds[-1] == ("Building HNSW index", 3_000, 3_000)
    assert not first.index_loaded
    (graph,) = (tmp_path / "indexes").rglob("index.faiss")
    assert graph.parent.name == "hnsw-M=16-efc=64"
    assert graph.parent.parent.parent.name == coll.fingerprint
    mtime = graph.stat().st_mtime_ns

    builds.clear()
    second = open_index()
    assert builds == []  # read, not rebuilt
    assert second.index_loaded
    assert graph.stat().st_mtime_ns == mtime
    assert second.search_vectors(queries, 50) == first.search_vectors(queries, 50)
    assert second.params == first.params
    assert second.params["hnsw"] == {"M": 16, "efConstruction": 64, "efSearch": 128}

    # efSearch is a search setting: another value reads the same graph and records the change.
    wider = DenseRetriever.from_embeddings(
        coll,
        embeddings,
        "synthetic",
        index_type="hnsw",
        hnsw=HNSWParams(m=16, ef_construction=64, ef_search=256),
        cache_dir=tmp_path,
    )
    assert wider.index_loaded and wider.params != first.params
    # Another graph (M) is built beside the first; other embeddings get a folder of their own.
    DenseRetriever.from_embeddings(
        coll, embeddings, "synthetic", index_type="hnsw", hnsw=HNSWParams(m=8), cache_dir=tmp_path
    )
    assert sorted(p.parent.name for p in (tmp_path / "indexes").rglob("index.faiss")) == [
        "hnsw-M=16-efc=64",
        "hnsw-M=8-efc=200",
    ]
    assert graph.stat().st_mtime_ns == mtime
    changed = DenseRetriever.from_embeddings(
        coll, embeddings[::-1], "synthetic", index_type="hnsw", hnsw=params, cache_dir=tmp_path
    )
    assert not changed.index_loaded
    assert changed.params["revision"] != first.params["revision"]


def test_hnsw_over_model_embeddings_is_cached_beside_them(
    paraphrase: Collection, bi_encoder: Any, tmp_path: Path
) -> None:
    calls: list[tuple[str, int, int]] = []
    first = DenseRetriever(
        paraphrase,
        MODEL_ID,
        index_type="hnsw",
        cache_dir=tmp_path,
        model=bi_encoder,
        progress=lambda *a: calls.append(a),
    )
    assert ("Building HNSW index", len(DOCS), len(DOCS)) in calls
    (npy,) = (tmp_path / "indexes").rglob("embeddings.npy")
    (graph,) = (tmp_path / "indexes").rglob("index.faiss")
    assert graph.parent.parent == npy.parent
    assert first.params["hnsw"] == {"M": 32, "efConstruction": 200, "efSearch": 640}
    assert first.name == "dense(all-MiniLM-L6-v2,hnsw)"

    calls.clear()
    second = DenseRetriever(
        paraphrase,
        MODEL_ID,
        index_type="hnsw",
        cache_dir=tmp_path,
        model=bi_encoder,
        progress=lambda *a: calls.append(a),
    )
    assert calls == [] and second.index_loaded  # neither encoded nor built
    assert second.search(QUERY, 6) == first.search(QUERY, 6)
    assert second.search(QUERY, 1)[0].doc_id == "med"

    # Same documents in another order: new embeddings, and the old graph goes with the old ones.
    reordered = collection_from_documents(DOCS[::-1])
    third = DenseRetriever(
        reordered, MODEL_ID, index_type="hnsw", cache_dir=tmp_path, model=bi_encoder
    )
    assert not third.index_loaded
    assert third.search(QUERY, 1)[0].doc_id == "med"
    assert len(list((tmp_path / "indexes").rglob("index.faiss"))) == 1


def test_precomputed_embeddings_search_like_the_model(
    paraphrase: Collection, bi_encoder: Any
) -> None:
    encoded = DenseRetriever(paraphrase, MODEL_ID, model=bi_encoder)
    vectors = encoded.encode([d.full_text for d in DOCS])
    given = DenseRetriever.from_embeddings(paraphrase, vectors, MODEL_ID, model=bi_encoder)
    assert given.search(QUERY, 6) == encoded.search(QUERY, 6)
    assert given.name == encoded.name
    assert given.params["revision"].startswith("embeddings-")
    assert "hnsw" not in given.params  # flat: nothing HNSW in the checkpoint identity

    bare = DenseRetriever.from_embeddings(paraphrase, vectors, MODEL_ID)
    with pytest.raises(TypeError, match="search_vectors"):
        bare.search(QUERY, 3)
    assert bare.search_vectors(encoded.encode([QUERY]), 6) == [encoded.search(QUERY, 6)]
    with pytest.raises(ValueError, match="one embedding row per document"):
        DenseRetriever.from_embeddings(paraphrase, vectors[:3], MODEL_ID)
