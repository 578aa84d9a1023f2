"""Token attribution by integrated gradients: words that add up to the score's difference from
a blanked-out side, for torch models; a reason, never an error, for backends without gradients."""

from __future__ import annotations

from pathlib import Path

import pytest
from http_double import HttpDouble, Reply

from rankshift.explain import no_gradients_reason, token_attributions
from rankshift.rerank import PairScoreCache, Reranker, load_reranker
from rankshift.types import Document

QUERY = "how do plants make food from sunlight"
DOC = Document(
    "visit",
    "The museum opens at nine. Photosynthesis lets green plants turn sunlight into sugar. "
    "Parking is free after six.",
    title="Visitor notes",
)


def test_document_and_query_words_add_up_to_the_score_differences(
    cosine_reranker: Reranker,
) -> None:
    found = token_attributions(cosine_reranker, QUERY, DOC, steps=12, top=1000)
    assert found.reason is None and found.steps == 12
    score = cosine_reranker.score(QUERY, [DOC])[0][0].score
    assert found.score == pytest.approx(score, abs=1e-4)
    assert found.empty_document_score is not None and found.empty_query_score is not None
    doc_sum = sum(t.attribution for t in found.document)
    query_sum = sum(t.attribution for t in found.query)
    tolerance = 0.05 * abs(score) + 0.05
    assert doc_sum == pytest.approx(score - found.empty_document_score, abs=tolerance)
    assert query_sum == pytest.approx(score - found.empty_query_score, abs=tolerance)
    # Words are whole words as written (word pieces summed), from the title and the text.
    doc_words = {t.text for t in found.document}
    assert {"Photosynthesis", "Visitor", "sunlight"} <= doc_words
    assert {t.text for t in found.query} == set(QUERY.split())
    ranked = [abs(t.attribution) for t in found.document]
    assert ranked == sorted(ranked, reverse=True)
    assert len(token_attributions(cosine_reranker, QUERY, DOC, steps=4, top=3).document) == 3


def test_a_maxp_reranker_attributes_its_best_passage(cosine_reranker_dir: Path) -> None:
    maxp = load_reranker(f"{cosine_reranker_dir}?passages=maxp", 64)
    long = Document("long", " ".join(["The weather was mild all week."] * 20) + " " + DOC.text)
    found = token_attributions(maxp, QUERY, long, steps=4)
    assert found.reason is None and found.passage is not None
    assert found.passage[0] > 0 and found.n_tokens <= 64


def test_backends_without_gradients_get_a_reason(cosine_reranker_dir: Path) -> None:
    bf16 = load_reranker(f"bf16:{cosine_reranker_dir}", 64)
    found = token_attributions(bf16, QUERY, DOC)
    assert found.reason is not None and "bf16" in found.reason and "torch backend" in found.reason
    assert found.query == [] and found.document == []
    with HttpDouble() as server:
        server.on("GET", "/info", Reply(200, {"model_id": "m", "max_input_length": 512}))
        remote = load_reranker(f"tei:{server.url}", cache=PairScoreCache(None))
        reason = no_gradients_reason(remote)
        assert reason is not None and "HTTP service" in reason
        assert token_attributions(remote, QUERY, DOC).reason == reason
        assert not server.seen("POST", "/rerank")  # nothing was scored to find that out
