"""BM25: parity with rank-bm25, the animals example, and the on-disk index cache."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi
from support import load_synthetic

from rankshift.corpus import Collection, collection_from_documents
from rankshift.retrievers.bm25 import BM25Retriever
from rankshift.types import Document

ROOT = Path(__file__).resolve().parents[2]
K1, B = 1.5, 0.75

# Deliberate differences between bm25s's "robertson" variant and rank-bm25's BM25Okapi, and
# how this comparison avoids them:
#
# * idf = log((N - n + 0.5) / (n + 0.5)) is negative for a term in more than half of the
#   documents. bm25s floors it at 0; rank-bm25 replaces it with epsilon * mean idf (0.25 * ...).
#   We only compare queries none of whose terms occurs in more than N/2 documents, where the
#   two idfs are the same number.
# * rank-bm25 multiplies the term-frequency part by (k1 + 1); bm25s's robertson does not. That
#   constant factor changes no order, so scores are compared as ours * (k1 + 1).
# * We return only documents with a positive score (they share a term with the query);
#   rank-bm25 scores every document, so its zeros are left out before comparing.

INLINE = [
    Document("d01", "The quick brown fox jumps over the lazy dog."),
    Document("d02", "A lazy afternoon: the dog sleeps in the sun while the cat watches."),
    Document("d03", "Foxes are omnivores; a red fox eats rodents, birds and berries."),
    Document("d04", "Solar panels convert sunlight into electricity for the house."),
    Document("d05", "The sun is a star; sunlight reaches the earth in eight minutes."),
    Document("d06", "Electric cars store electricity in lithium batteries."),
    Document("d07", "Batteries lose capacity in the cold; lithium cells age with heat."),
    Document("d08", "Berries, nuts and seeds: what birds eat in winter.", title="Feeding birds"),
    Document("d09", "Rodents such as mice and rats gnaw on wires and seeds."),
    Document("d10", "A cat hunts mice and birds; a well-fed cat still hunts."),
    Document("d11", "Heat pumps move heat from the cold outside air into the house."),
    Document("d12", "The earth orbits the sun once a year; the moon orbits the earth."),
    Document("d13", "Winter birds, winter berries, winter seeds: a winter garden guide."),
    Document("d14", "Wires, cells and batteries: a beginner's guide to electricity."),
]
INLINE_QUERIES = [
    "what does a fox eat",
    "lazy dog",
    "sunlight electricity",
    "lithium batteries in the cold",
    "birds eating berries in winter",
    "cat hunting mice",
    "heat pump house",
    "earth moon orbit",
    "rodents gnaw wires",
    "guide to winter seeds",
    "quick brown fox",
    "solar electric house batteries heat",
]


def parity_cases(collection: Collection, queries: list[str]) -> tuple[int, int]:
    """Compare with rank-bm25 on every query where no idf is negative.

    Returns:
        (queries compared, queries skipped because a term is in more than half the documents).
    """
    ours = BM25Retriever(collection, k1=K1, b=B, method="robertson")
    doc_ids = collection.doc_ids
    corpus_tokens = ours.tokenize([d.full_text for d in collection.documents.values()])
    theirs = BM25Okapi(corpus_tokens, k1=K1, b=B)
    n_docs = len(doc_ids)
    df = Counter(t for toks in corpus_tokens for t in set(toks))  # document frequency
    compared = skipped = 0
    for query in queries:
        tokens = ours.tokenize([query])[0]
        if any(df.get(t, 0) > n_docs / 2 for t in tokens):
            skipped += 1
            continue
        compared += 1
        expected_scores = theirs.get_scores(tokens)
        np.testing.assert_allclose(
            ours.scores(query) * (K1 + 1), expected_scores, rtol=1e-5, atol=1e-6, err_msg=query
        )
        expected = sorted(
            ((doc_ids[i], s) for i, s in enumerate(expected_scores) if s > 0),
            key=lambda x: (-x[1], x[0]),
        )[:10]
        got = ours.search(query, 10)
        assert [r.doc_id for r in got] == [d for d, _ in expected], query
        assert [r.rank for r in got] == list(range(1, len(got) + 1))
    return compared, skipped


def test_parity_with_rank_bm25_inline() -> None:
    compared, skipped = parity_cases(collection_from_documents(INLINE), INLINE_QUERIES)
    assert (compared, skipped) == (len(INLINE_QUERIES), 0)


def test_parity_with_rank_bm25_on_the_demo_collection(request: pytest.FixtureRequest) -> None:
    demo: Collection = request.getfixturevalue("demo_collection")
    queries = [q.text for q in demo.queries.values()]
    assert len(queries) >= 10
    compared, skipped = parity_cases(demo, queries)
    # The product's name is in most documents, so queries that mention it are skipped; the
    # rest must still be most of the set, or this test would compare too little.
    assert compared >= 0.5 * len(queries), (compared, skipped)


def test_idf_by_hand_on_a_one_term_query() -> None:
    # "fox" is in d01 and d03 (the stemmer maps "Foxes" to "fox" too), so n = 2 of N = 14:
    # idf = log((14 - 2 + 0.5) / (2 + 0.5)); d03 has tf = 2.
    coll = collection_from_documents(INLINE)
    bm25 = BM25Retriever(coll, method="robertson")
    tokens = bm25.tokenize([d.full_text for d in INLINE])
    avgdl = sum(map(len, tokens)) / len(tokens)
    dl = len(tokens[2])
    idf = math.log((14 - 2 + 0.5) / (2 + 0.5))
    expected = idf * 2 / (K1 * (1 - B + B * dl / avgdl) + 2)
    scores = dict(zip(coll.doc_ids, bm25.scores("fox"), strict=True))
    assert scores["d03"] == pytest.approx(expected, rel=1e-5)
    assert {d for d, s in scores.items() if s > 0} == {"d01", "d03"}


def test_animals_fish_purr_cat(animals: Collection) -> None:
    results = BM25Retriever(animals).search("does the fish purr like a cat?", 10)
    # cat matches cat (text and title), purr and like(s); fish matches only fish.
    assert [r.doc_id for r in results] == ["cat", "fish"]
    assert results[0].score > results[1].score > 0
    assert BM25Retriever(animals).name == "bm25(lucene,k1=1.5,b=0.75)"


def test_stopword_only_query_returns_nothing(animals: Collection) -> None:
    bm25 = BM25Retriever(animals)
    assert bm25.tokenize(["the of and is a"]) == [[]]
    assert bm25.search("the of and is a", 10) == []
    assert bm25.search("quantum chromodynamics", 10) == []  # no shared term either


def test_index_is_persisted_and_reused(animals: Collection, tmp_path: Path) -> None:
    builds: list[tuple[str, int, int]] = []
    first = BM25Retriever(animals, cache_dir=tmp_path, progress=lambda *a: builds.append(a))
    assert builds == [("Building BM25 index", 0, 4), ("Building BM25 index", 4, 4)]
    files = sorted(p for p in (tmp_path / "indexes").rglob("*") if p.is_file())
    assert any(p.name == "doc_ids.json" for p in files)
    mtimes = {p: p.stat().st_mtime_ns for p in files}

    builds.clear()
    second = BM25Retriever(animals, cache_dir=tmp_path, progress=lambda *a: builds.append(a))
    assert builds == []  # loaded from disk, not rebuilt
    assert {p: p.stat().st_mtime_ns for p in files} == mtimes
    query = "does the fish purr like a cat?"
    assert second.search(query, 10) == first.search(query, 10)


def test_changed_collection_gets_its_own_index(animals: Collection, tmp_path: Path) -> None:
    BM25Retriever(animals, cache_dir=tmp_path)
    docs = dict(animals.documents)
    docs["fish"] = Document("fish", "A fish is a creature that lives in water and purrs.", "Fish")
    changed = collection_from_documents(docs)
    assert changed.fingerprint != animals.fingerprint
    bm25 = BM25Retriever(changed, cache_dir=tmp_path)
    assert {p.name for p in (tmp_path / "indexes").iterdir()} == {
        animals.fingerprint,
        changed.fingerprint,
    }
    assert [r.doc_id for r in bm25.search("purr", 10)] == ["cat", "fish"]
    assert [r.doc_id for r in bm25.search("swims", 10)] == []


def test_same_documents_in_another_order_map_to_the_right_ids(
    animals: Collection, tmp_path: Path
) -> None:
    # Same fingerprint, different order: a cached index must not be read with the wrong ids.
    BM25Retriever(animals, cache_dir=tmp_path)
    reordered = collection_from_documents(list(reversed(animals.documents.values())))
    assert reordered.fingerprint == animals.fingerprint
    results = BM25Retriever(reordered, cache_dir=tmp_path).search("which animal can fly", 10)
    assert results[0].doc_id == "bird"


def tied_collection() -> Collection:
    """120 documents with the same text, stored so that the smallest ids come last."""
    ids = [f"t{i:03d}" for i in range(120)][::-1]
    return collection_from_documents(
        [
            Document("best", "the cat sat on the cat mat with a cat"),
            *(Document(d, "a cat sat") for d in ids),
        ]
    )


def test_a_tie_at_the_cut_is_broken_on_doc_id_over_every_tied_document() -> None:
    """A fixed window past k (k + 50) cut a 120-document tie wherever the partition left it."""
    bm25 = BM25Retriever(tied_collection())
    hits = bm25.search("cat", 4)
    assert [h.doc_id for h in hits] == ["best", "t000", "t001", "t002"]
    assert hits[1].score == hits[3].score
    assert [h.doc_id for h in bm25.search_many(["cat"], 2)[0]] == ["best", "t000"]


def test_synthetic_corpus_is_deterministic_and_looks_like_text() -> None:
    synthetic = load_synthetic()
    a, b = synthetic.generate(3_000, seed=5), synthetic.generate(3_000, seed=5)
    assert a.vocab == b.vocab
    np.testing.assert_array_equal(a.words, b.words)
    np.testing.assert_array_equal(a.offsets, b.offsets)
    assert a.texts() == b.texts()
    assert [q.text for q in a.queries(40)] == [q.text for q in b.queries(40)]
    other = synthetic.generate(3_000, seed=6)
    assert other.texts()[:10] != a.texts()[:10]

    texts = a.texts()
    assert len(texts) == len(a) == 3_000
    lengths = [len(t.split()) for t in texts]
    assert min(lengths) >= 50 and max(lengths) <= 200
    assert all(w.isalpha() and w.islower() for w in a.vocab)
    assert len(set(a.vocab)) == len(a.vocab)
    # Zipfian: "the" (rank 1) is about ten times as frequent as the word of rank 10.
    counts = np.bincount(a.words, minlength=len(a.vocab))
    assert a.vocab[int(counts.argmax())] == "the"
    assert 5 < counts[0] / counts[9] < 20
    # Inflected pseudo-words share stems, as on real text ("flex", "flexed", "flexing").
    content = a.vocab[len(synthetic.FUNCTION_WORDS) :]
    bm25 = BM25Retriever(collection_from_documents(a.documents()[:50]))
    stems = bm25.tokenize([" ".join(content)])[0]
    assert len(stems) == len(content)
    assert len(set(stems)) < 0.98 * len(content)

    queries = a.queries(40)
    assert all(2 <= len(q.text.split()) <= 6 for q in queries)
    taken = [q for q in queries if q.source is not None]
    assert len(taken) == 20
    for q in taken:  # every term of a query taken from a document is in that document
        assert set(q.text.split()) <= set(texts[q.source].split())


def test_search_equals_a_full_sort_with_ties() -> None:
    """The partition over matching documents returns what sorting every score would."""
    synthetic = load_synthetic()
    corpus = synthetic.generate(2_000, seed=2)
    docs = corpus.documents()
    # Copies of documents under other ids (stored first) make ties at every depth.
    copies = [Document(f"c{i:04d}", docs[i * 7].text) for i in range(200)]
    coll = collection_from_documents(copies[::-1] + docs)
    bm25 = BM25Retriever(coll)
    ids = coll.doc_ids
    for q in [q.text for q in corpus.queries(30)] + ["the of and", "zzzz"]:
        scores = bm25.scores(q)
        full = sorted(
            ((ids[i], float(s)) for i, s in enumerate(scores) if s > 0),
            key=lambda x: (-x[1], x[0]),
        )
        for k in (1, 5, 10, 100, 5_000):
            got = bm25.search(q, k)
            assert [(h.doc_id, h.score) for h in got] == full[:k], (q, k)
            assert [h.rank for h in got] == list(range(1, len(got) + 1))
