"""Sentence attribution by occlusion: the sentence that carries the answer moves the score most,
in process and through an HTTP reranker; the cost is known before it runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from http_double import HttpDouble, Reply, Seen

from rankshift.explain import occlude, plan_occlusion, split_sentences
from rankshift.explain.occlusion import window_cut, without
from rankshift.rerank import PairScoreCache, Reranker, load_reranker
from rankshift.types import Document

QUERY = "how do plants make food from sunlight"
ANSWER = "Photosynthesis lets green plants turn sunlight, water and carbon dioxide into sugar."
DOC = Document(
    "visit",
    "The museum opens at nine on weekdays and closes at five. "
    f"{ANSWER} "
    "Parking is free after six in the evening. "
    "The gift shop sells postcards, maps and umbrellas.",
    title="Visitor notes",
)


def test_without_leaves_out_one_sentence_and_the_blank_after_it() -> None:
    text = "One two. Three four.  Five six."
    sentences = split_sentences(text)
    assert [without(text, sentences, i) for i in range(3)] == [
        "Three four.  Five six.",
        "One two. Five six.",
        "One two. Three four.",
    ]


def test_the_answer_sentence_gets_the_largest_attribution(cosine_reranker: Reranker) -> None:
    plan = plan_occlusion(cosine_reranker, QUERY, DOC)
    assert (plan.n_sentences, plan.n_pairs, plan.n_beyond) == (4, 2 * 4 + 1, 0)
    occ = occlude(cosine_reranker, QUERY, DOC)
    assert occ.n_pairs == 9 and occ.n_scored == 9
    top = occ.ranked[0]
    assert top.sentence.text == ANSWER
    assert top.drop > 0
    assert max(occ.effects, key=lambda e: e.alone).sentence.text == ANSWER
    assert all(e.drop < top.drop for e in occ.effects if e is not top)
    # Each number is a score of the reranker itself: full minus the document without it.
    full, _ = cosine_reranker.score(QUERY, [DOC])
    assert occ.full_score == pytest.approx(full[0].score, abs=1e-5)
    left_out = Document("x", without(DOC.text, split_sentences(DOC.text), 1), DOC.title)
    alone = Document("y", ANSWER, DOC.title)
    scores, _ = cosine_reranker.score(QUERY, [left_out, alone])
    assert top.drop == pytest.approx(full[0].score - scores[0].score, abs=1e-5)
    assert top.alone == pytest.approx(scores[1].score, abs=1e-5)
    # Asked again: every pair comes from the pair-score cache.
    assert occlude(cosine_reranker, QUERY, DOC).n_scored == 0


def test_sentences_past_the_window_are_not_left_out_and_their_drop_is_exactly_zero(
    cosine_reranker: Reranker,
) -> None:
    filler = " ".join(
        f"Sentence number {i} talks about the weather in town {i}." for i in range(30)
    )
    doc = Document("long", f"{ANSWER} {filler}", title="Notes")
    cut = window_cut(cosine_reranker, QUERY, doc)
    assert cut is not None and 0 < cut < len(doc.text)
    n = len(split_sentences(doc.text))
    plan = plan_occlusion(cosine_reranker, QUERY, doc)
    occ = occlude(cosine_reranker, QUERY, doc)
    beyond = [e for e in occ.effects if e.beyond_window]
    assert beyond and all(e.sentence.start >= cut for e in beyond)
    assert plan.n_beyond == len(beyond) and occ.n_pairs == 2 * n + 1 - len(beyond)
    assert occ.ranked[0].sentence.text == ANSWER
    # Leaving out a sentence the model never reads gives the score of the full document.
    last = len(occ.effects) - 1
    variant = Document("v", without(doc.text, split_sentences(doc.text), last), doc.title)
    assert cosine_reranker.score(QUERY, [variant])[0][0].score == pytest.approx(
        occ.full_score, abs=1e-4
    )


@pytest.fixture
def tei_of(cosine_reranker: Reranker) -> Iterator[HttpDouble]:
    """A text-embeddings-inference double that answers with the cosine reranker's logits."""

    def rerank(seen: Seen) -> Reply:
        body = seen.json()
        with cosine_reranker.lock:
            scores = cosine_reranker._score_batch(body["query"], body["texts"])
        rows = [{"index": i, "score": s} for i, s in enumerate(scores)]
        return Reply(200, sorted(rows, key=lambda r: -r["score"]))

    with HttpDouble() as server:
        info = {"model_id": "cosine-head", "model_sha": "abc", "max_input_length": 128}
        server.on("GET", "/info", Reply(200, {**info, "max_client_batch_size": 4}))
        server.on("POST", "/rerank", rerank)
        yield server


def test_occlusion_through_an_http_reranker_gives_the_in_process_attribution(
    tei_of: HttpDouble, cosine_reranker: Reranker
) -> None:
    remote = load_reranker(f"tei:{tei_of.url}", cache=PairScoreCache(None))
    plan = plan_occlusion(remote, QUERY, DOC, ms_per_pair=50.0)
    assert plan.n_pairs == 9 and plan.n_beyond == 0  # a service reports no window
    assert plan.measured and plan.seconds == pytest.approx(9 * 50.0 / 1000)
    assert not plan_occlusion(remote, QUERY, DOC).measured
    occ = occlude(remote, QUERY, DOC)
    local = occlude(cosine_reranker, QUERY, DOC)
    assert occ.ranked[0].sentence.text == ANSWER
    assert [e.sentence.index for e in occ.ranked] == [e.sentence.index for e in local.ranked]
    for a, b in zip(occ.effects, local.effects, strict=True):
        assert a.drop == pytest.approx(b.drop, abs=1e-4)
        assert a.alone == pytest.approx(b.alone, abs=1e-4)
    assert occ.n_scored == 9
    assert sum(len(r.json()["texts"]) for r in tei_of.seen("POST", "/rerank")) == 9
