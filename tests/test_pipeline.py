"""One query through every stage, on the animals collection with real models."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rankshift.audit import audit as audit_of
from rankshift.corpus import Collection
from rankshift.pipeline import (
    EmptyQueryError,
    Pipeline,
    PipelineSettings,
    SecondRerank,
    make_hybrid,
    retrieve_first_stages,
)
from rankshift.rerank import CrossEncoderReranker
from rankshift.retrievers.base import top_k
from rankshift.retrievers.hybrid import rrf
from rankshift.types import PipelineResult

UNLOADABLE = "cross-encoder/ms-marco-MiniLM-L-6-v2"  # not in the offline cache used by tests


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pipeline-cache")


_results: dict[str, PipelineResult] = {}


@pytest.fixture
def result(animals: Collection, tiny_cross_encoder_dir: Path, cache: Path) -> PipelineResult:
    # Built once for the module (loading two models per test would cost seconds each);
    # `animals` is function-scoped, so a module-scoped fixture cannot take it.
    if "result" not in _results:
        settings = PipelineSettings(k=4, n=2, reranker=str(tiny_cross_encoder_dir), max_length=64)
        pipeline = Pipeline.from_settings(animals, settings, cache_dir=cache)
        _results["result"] = pipeline.run("which animal can fly")
        _results["pipeline"] = pipeline
    return _results["result"]


@pytest.fixture
def pipeline(result: PipelineResult) -> Pipeline:
    """The pipeline that made ``result``."""
    return _results["pipeline"]  # type: ignore[return-value]


def test_every_stage_is_present(result: PipelineResult) -> None:
    assert list(result.stages) == ["bm25", "dense", "hybrid", "reranked"]
    assert result.first_stage_keys == ["bm25", "dense", "hybrid"]
    names = {k: s.name for k, s in result.stages.items()}
    assert names == {
        "bm25": "bm25(lucene,k1=1.5,b=0.75)",
        "dense": "dense(all-MiniLM-L6-v2,flat)",
        "hybrid": "hybrid(rrf,k=60)",
        "reranked": "hybrid(rrf,k=60)>ce(tiny-cross-encoder,len=64)",
    }
    stages = result.stages
    # BM25 matches only the bird ("animal", "fly"); dense ranks all four.
    assert [r.doc_id for r in stages["bm25"].ranking] == ["bird"]
    assert stages["dense"].ranking[0].doc_id == "bird" and len(stages["dense"].ranking) == 4
    # Hybrid is RRF of the two lists shown beside it.
    expected = top_k(rrf([stages["bm25"].ranking, stages["dense"].ranking], k=60).items(), 4)
    assert stages["hybrid"].ranking == expected
    assert stages["hybrid"].ranking[0].score == pytest.approx(1 / (60 + 1) + 1 / (60 + 1))
    # The reranker reordered hybrid's top-k and nothing else.
    reranked = stages["reranked"]
    assert reranked.params["reranked"] is True
    assert sorted(r.doc_id for r in reranked.ranking) == sorted(r.doc_id for r in expected)
    assert result.rerank is not None and result.rerank.status == "ok"
    assert result.rerank.scored_pairs + result.rerank.cached_pairs == 4
    assert result.collection == "" or len(result.collection) == 16
    assert result.settings["first_stages"] == ["bm25", "dense", "hybrid"]


def test_timings_per_stage(result: PipelineResult) -> None:
    t = result.timings_ms
    assert set(t) == {"bm25", "dense", "hybrid", "retrieve", "rerank", "total", "per_pair"}
    assert all(v >= 0 for v in t.values())
    assert t["dense"] > 0 and t["bm25"] > 0
    for key in ("bm25", "dense", "hybrid"):
        assert t[key] == result.stages[key].ms
    # Hybrid's time includes the two searches it fused.
    assert t["hybrid"] >= t["bm25"] + t["dense"]
    assert t["total"] >= t["rerank"]


def test_one_audit_per_first_stage(result: PipelineResult) -> None:
    assert set(result.audits) == {"bm25", "dense", "hybrid"}
    for key, audit in result.audits.items():
        assert audit.first_stage == result.stages[key].name
        assert audit.reranked_stage == result.stages["reranked"].name
        assert audit.n == 2
        assert [r.doc_id for r in audit.rows][:4] == [
            r.doc_id for r in result.stages["reranked"].ranking
        ]
    # bm25 retrieved one document: the others are "not retrieved by it".
    bm25_rows = {r.doc_id: r for r in result.audits["bm25"].rows}
    assert bm25_rows["bird"].first_rank == 1
    assert all(r.first_rank is None for d, r in bm25_rows.items() if d != "bird")


def test_result_round_trips_through_json(result: PipelineResult) -> None:
    data = json.loads(json.dumps(result.to_dict()))
    restored = PipelineResult.from_dict(data)
    assert restored == result
    assert restored.reranked == result.stages["reranked"]


def test_unloadable_reranker_shows_first_stage_order(animals: Collection, cache: Path) -> None:
    settings = PipelineSettings(
        first_stages=("bm25",), rerank_input="bm25", k=4, n=1, reranker=UNLOADABLE
    )
    pipeline = Pipeline.from_settings(animals, settings, cache_dir=cache)  # no exception
    result = pipeline.run("does the fish purr like a cat?")
    reranked = result.stages["reranked"]
    assert reranked.ranking == result.stages["bm25"].ranking
    assert [r.doc_id for r in reranked.ranking] == ["cat", "fish"]
    assert reranked.params["reranked"] is False
    assert reranked.name == "bm25(lucene,k1=1.5,b=0.75) (not reranked)"
    assert result.rerank is not None
    assert (result.rerank.status, result.rerank.reranked) == ("unavailable", False)
    assert f"Cannot load reranker '{UNLOADABLE}'" in result.rerank.message
    assert result.audits == {}
    assert result.timings_ms["per_pair"] == 0.0
    assert PipelineResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_reranking_turned_off(animals: Collection, cache: Path) -> None:
    settings = PipelineSettings(
        first_stages=("bm25",), rerank_input="bm25", k=2, n=1, reranker=None
    )
    result = Pipeline.from_settings(animals, settings, cache_dir=cache).run("cat")
    assert result.rerank is not None and not result.rerank.reranked
    assert result.rerank.message == "Reranking is turned off."
    assert result.stages["reranked"].ranking == result.stages["bm25"].ranking


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query(animals: Collection, cache: Path, query: str) -> None:
    settings = PipelineSettings(
        first_stages=("bm25",), rerank_input="bm25", k=2, n=1, reranker=None
    )
    pipeline = Pipeline.from_settings(animals, settings, cache_dir=cache)
    with pytest.raises(EmptyQueryError, match="Type a query"):
        pipeline.run(query)


def test_stopword_only_query_with_bm25_alone(animals: Collection, cache: Path) -> None:
    settings = PipelineSettings(
        first_stages=("bm25",), rerank_input="bm25", k=2, n=1, reranker=None
    )
    pipeline = Pipeline.from_settings(animals, settings, cache_dir=cache)
    with pytest.raises(EmptyQueryError, match="only stopwords"):
        pipeline.run("the of and")
    assert isinstance(EmptyQueryError("x"), ValueError)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"k": 5, "n": 10}, r"n \(10\) cannot exceed k \(5\)"),
        ({"k": 0, "n": 0}, "at least 1"),
        ({"first_stages": ("bm25", "splade")}, "unknown first stage 'splade'"),
        ({"rerank_input": "colbert"}, "unknown first stage 'colbert'"),
    ],
)
def test_settings_validation(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PipelineSettings(**changes)
    with pytest.raises(ValueError, match=message):
        PipelineSettings().with_(**changes)


def test_needed_stages_and_missing_retrievers(animals: Collection) -> None:
    s = PipelineSettings(first_stages=("bm25",), rerank_input="hybrid")
    assert s.needed_stages == ["bm25", "dense", "hybrid"]  # hybrid needs both its parts
    with pytest.raises(ValueError, match="no retriever for stage"):
        Pipeline(animals, s, retrievers={})


# ---------------------------------------------------------------------------- second reranker


def _reseeded(tiny_cross_encoder_dir: Path, seed: int) -> CrossEncoderReranker:
    """The tiny cross-encoder with its score head drawn again from another seed: a real
    second model that orders the same candidates differently."""
    import torch
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(tiny_cross_encoder_dir), max_length=64)
    torch.manual_seed(seed)
    model.model.classifier.reset_parameters()
    return CrossEncoderReranker("reseeded-head", 64, model=model)


def test_a_second_reranker_reorders_the_same_candidates(
    animals: Collection, pipeline: Pipeline, result: PipelineResult, tiny_cross_encoder_dir: Path
) -> None:
    other = _reseeded(tiny_cross_encoder_dir, seed=7)
    second = pipeline.rerank_second(result, other)
    assert isinstance(second, SecondRerank)
    assert (second.model_id, second.label) == ("reseeded-head", "reseeded-head")
    assert second.info.reranked and second.stage.kind == "rerank"
    hybrid = result.stages["hybrid"].ranking
    assert {r.doc_id for r in second.stage.ranking} == {r.doc_id for r in hybrid}
    # Its order is its own model's scores (ties: first-stage rank), whatever the first did.
    pairs, _ = other.score(result.query.text, [animals.documents[r.doc_id] for r in hybrid])
    rank = {r.doc_id: r.rank for r in hybrid}
    expected = sorted(pairs, key=lambda p: (-p.score, rank[p.doc_id]))
    assert [r.doc_id for r in second.stage.ranking] == [p.doc_id for p in expected]
    assert [r.score for r in second.stage.ranking] == [p.score for p in expected]
    # Audited against every first stage at the same N, and against the first reranker.
    assert set(second.audits) == {"bm25", "dense", "hybrid"}
    assert second.audits["hybrid"] == audit_of(result.stages["hybrid"], second.stage, 2)
    assert second.agreement == audit_of(result.stages["reranked"], second.stage, 2)


def test_the_same_reranker_twice_agrees_with_itself(
    pipeline: Pipeline, result: PipelineResult
) -> None:
    second = pipeline.rerank_second(result, pipeline.reranker)
    assert second.stage.ranking == result.stages["reranked"].ranking
    assert second.agreement is not None and second.agreement.kendall_tau == pytest.approx(1.0)
    assert second.info.cached_pairs == 4  # the pair-score cache served every pair


def test_a_second_reranker_that_cannot_load_keeps_first_stage_order(
    pipeline: Pipeline, result: PipelineResult
) -> None:
    second = pipeline.rerank_second(result, None, error="no such model", model_id=UNLOADABLE)
    assert (second.info.status, second.info.message) == ("unavailable", "no such model")
    assert second.stage.ranking == result.stages["hybrid"].ranking
    assert second.audits == {} and second.agreement is None
    assert second.label == "ms-marco-MiniLM-L-6-v2"


def test_a_second_reranker_when_the_reranker_input_is_not_shown(
    animals: Collection, pipeline: Pipeline, result: PipelineResult
) -> None:
    settings = pipeline.settings.with_(first_stages=("bm25",))
    narrow = Pipeline(animals, settings, pipeline.retrievers, pipeline.reranker)
    shown = narrow.run("which animal can fly")
    assert "hybrid" not in shown.stages
    second = narrow.rerank_second(shown, pipeline.reranker)
    assert second.stage.ranking == shown.stages["reranked"].ranking  # hybrid retrieved again
    assert set(second.audits) == {"bm25"}
    with pytest.raises(ValueError, match="another collection"):
        narrow.rerank_second(replace(shown, collection="elsewhere"), pipeline.reranker)


# ---------------------------------------------------------------------------- first stages


class _CountingRetriever:
    """Delegates to a real retriever and counts its searches (a spy, not a stub)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, 0
        self.key, self.name, self.params = inner.key, inner.name, inner.params

    def search(self, query: str, k: int) -> list:
        self.calls += 1
        return self.inner.search(query, k)

    def search_many(self, queries: list[str], k: int) -> list[list]:
        return [self.search(q, k) for q in queries]


def test_first_stages_search_once_and_fuse_as_the_hybrid_would(
    animals: Collection, pipeline: Pipeline
) -> None:
    bm25 = _CountingRetriever(pipeline.retrievers["bm25"])
    dense = _CountingRetriever(pipeline.retrievers["dense"])
    settings = pipeline.settings.with_(fusion="minmax", fusion_weight=0.3)
    hybrid = make_hybrid(bm25, dense, settings)
    spied = Pipeline(animals, settings, {"bm25": bm25, "dense": dense, "hybrid": hybrid})
    stages, _ = spied.retrieve("which animal can fly")
    assert (bm25.calls, dense.calls) == (1, 1)  # hybrid fused the lists already retrieved
    # The same lists as each retriever searched on its own (what the batch runner also gets,
    # through the same retrieve_first_stages).
    k = settings.k
    assert stages["bm25"].ranking == pipeline.retrievers["bm25"].search("which animal can fly", k)
    assert stages["hybrid"].ranking == hybrid.search("which animal can fly", k)
    alone = retrieve_first_stages("which animal can fly", {"hybrid(minmax,w=0.3)": hybrid}, k)
    assert alone["hybrid(minmax,w=0.3)"].ranking == stages["hybrid"].ranking
    assert stages["hybrid"].name == "hybrid(minmax,w=0.3)"
