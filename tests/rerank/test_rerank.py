"""Reranking through the real sentence-transformers CrossEncoder code.

The model is untrained (``tiny_cross_encoder_dir``): its scores mean nothing, so these tests
check the plumbing (pairs, order, truncation, revision, cache, fallback), not relevance.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from rankshift.rerank import (
    CrossEncoderReranker,
    PairScoreCache,
    rerank,
    sigmoid,
    try_load_reranker,
)
from rankshift.types import Document, ScoredDoc, StageResult

MAX_LENGTH = 64
QUERY = "how do solar panels work"
LONG_TEXT = " ".join(f"Panel {i} turns photons into current." for i in range(40))
DOCS = {
    "a": Document("a", "Solar panels turn sunlight into electricity.", title="Solar"),
    "b": Document("b", "Wind turbines spin in the breeze."),
    "long": Document("long", LONG_TEXT),
    "c": Document("c", "Photovoltaic cells are made of silicon."),
    "d": Document("d", "Batteries store energy for the night."),
    "e": Document("e", "The sun rises in the east."),
}
FIRST = StageResult(
    name="bm25(lucene,k1=1.5,b=0.75)",
    kind="first_stage",
    ranking=[ScoredDoc(d, i, 10.0 - i) for i, d in enumerate(["a", "b", "long", "c", "d", "e"], 1)],
    ms=1.0,
)


@pytest.fixture(scope="module")
def model(tiny_cross_encoder_dir: Path) -> Any:
    """The CrossEncoder, loaded once; each test wraps it in a reranker with its own cache."""
    return CrossEncoderReranker(str(tiny_cross_encoder_dir), max_length=MAX_LENGTH).model


def make(
    folder: Path, model: Any, cache: PairScoreCache | None = None, **kw: Any
) -> CrossEncoderReranker:
    return CrossEncoderReranker(str(folder), MAX_LENGTH, cache=cache, model=model, **kw)


def tokenizer_count(model: Any, query: str, text: str) -> int:
    return len(model.tokenizer(query, text, truncation=False)["input_ids"])


def test_one_pair_score_per_candidate_and_order_follows_scores(
    tiny_cross_encoder_dir: Path, model: Any
) -> None:
    reranker = make(tiny_cross_encoder_dir, model)
    stage, info = rerank(reranker, QUERY, FIRST, DOCS, k=5)
    assert info.status == "ok" and info.reranked
    assert [p.doc_id for p in info.pairs] == [
        "a",
        "b",
        "long",
        "c",
        "d",
    ]  # the top-5, in input order
    assert {r.doc_id for r in stage.ranking} == {"a", "b", "long", "c", "d"}
    assert [r.rank for r in stage.ranking] == [1, 2, 3, 4, 5]
    scores = [r.score for r in stage.ranking]
    assert scores == sorted(scores, reverse=True)
    by_doc = {p.doc_id: p for p in info.pairs}
    for row in stage.ranking:
        assert row.score == by_doc[row.doc_id].score
    assert stage.name == "bm25(lucene,k1=1.5,b=0.75)>ce(tiny-cross-encoder,len=64)"
    assert stage.kind == "rerank" and stage.params["input_stage"] == FIRST.name
    assert (info.k, info.input_stage, info.scored_pairs, info.cached_pairs) == (5, FIRST.name, 5, 0)


def test_scores_are_logits_and_probability_is_their_sigmoid(
    tiny_cross_encoder_dir: Path, model: Any
) -> None:
    import torch

    pairs, _ = make(tiny_cross_encoder_dir, model).score(QUERY, list(DOCS.values()))
    texts = [(QUERY, d.full_text) for d in DOCS.values()]
    logits = model.predict(texts, activation_fn=torch.nn.Identity(), show_progress_bar=False)
    probabilities = model.predict(texts, show_progress_bar=False)  # the model's own sigmoid
    for p, logit, prob in zip(pairs, logits, probabilities, strict=True):
        assert p.score == pytest.approx(float(logit), abs=1e-5)
        assert p.probability == pytest.approx(1 / (1 + math.exp(-p.score)), abs=1e-12)
        assert p.probability == pytest.approx(float(prob), abs=1e-5)
    assert sigmoid(-800.0) == 0.0 and sigmoid(800.0) == 1.0  # no overflow at the extremes


def test_truncation_flags_match_the_tokenizer(tiny_cross_encoder_dir: Path, model: Any) -> None:
    pairs, _ = make(tiny_cross_encoder_dir, model).score(QUERY, list(DOCS.values()))
    for p in pairs:
        n = tokenizer_count(model, QUERY, DOCS[p.doc_id].full_text)
        assert p.n_tokens == n
        assert p.truncated == (n > MAX_LENGTH)
    assert [p.doc_id for p in pairs if p.truncated] == ["long"]


def test_text_past_the_window_does_not_change_the_score(
    tiny_cross_encoder_dir: Path, model: Any
) -> None:
    # The truncation flag is honest: the model really stops reading at max_length.
    reranker = make(tiny_cross_encoder_dir, model)
    longer = Document("long", LONG_TEXT + " Completely different words at the very end.")
    (before,), _ = reranker.score(QUERY, [DOCS["long"]])
    (after,), _ = reranker.score(QUERY, [longer])
    assert after.n_tokens > before.n_tokens > MAX_LENGTH
    assert after.score == pytest.approx(before.score, abs=1e-5)


def test_revision_and_max_length_are_recorded(tiny_cross_encoder_dir: Path, model: Any) -> None:
    stage, info = rerank(make(tiny_cross_encoder_dir, model), QUERY, FIRST, DOCS, k=3)
    assert info.revision is not None and info.revision.startswith("local-")
    assert info.max_length == MAX_LENGTH
    assert stage.params == {
        "reranked": True,
        "input_stage": FIRST.name,
        "model_id": str(tiny_cross_encoder_dir),
        "revision": info.revision,
        "max_length": MAX_LENGTH,
        "k": 3,
        "blend": 0.0,
    }


def test_pair_scores_are_cached_in_sqlite(
    tiny_cross_encoder_dir: Path, model: Any, tmp_path: Path
) -> None:
    db = tmp_path / "pairs.sqlite"
    reranker = make(tiny_cross_encoder_dir, model, cache=PairScoreCache(db))
    _, first = rerank(reranker, QUERY, FIRST, DOCS, k=6)
    assert (first.scored_pairs, first.cached_pairs) == (6, 0)
    assert not any(p.cached for p in first.pairs)

    _, again = rerank(reranker, QUERY, FIRST, DOCS, k=6)
    assert (again.scored_pairs, again.cached_pairs) == (0, 6)
    assert all(p.cached for p in again.pairs)
    assert [p.score for p in again.pairs] == [p.score for p in first.pairs]

    # A new cache object on the same file (another process, the next day) finds them too.
    fresh = make(tiny_cross_encoder_dir, model, cache=PairScoreCache(db))
    _, reopened = rerank(fresh, QUERY, FIRST, DOCS, k=6)
    assert (reopened.scored_pairs, reopened.cached_pairs) == (0, 6)
    assert [p.score for p in reopened.pairs] == pytest.approx([p.score for p in first.pairs])
    assert len(PairScoreCache(db)) == 6

    # An edited document is a new pair; the others still come from the cache.
    edited = {**DOCS, "b": Document("b", "Wind turbines spin in a strong breeze.")}
    _, after_edit = rerank(fresh, QUERY, FIRST, edited, k=6)
    assert (after_edit.scored_pairs, after_edit.cached_pairs) == (1, 5)
    # And another query is a new pair for every document.
    _, other = rerank(fresh, "wind power", FIRST, DOCS, k=6)
    assert other.scored_pairs == 6


def test_another_max_length_does_not_reuse_scores(
    tiny_cross_encoder_dir: Path, tmp_path: Path
) -> None:
    db = tmp_path / "pairs.sqlite"
    at_64 = CrossEncoderReranker(str(tiny_cross_encoder_dir), 64, cache=PairScoreCache(db))
    at_32 = CrossEncoderReranker(str(tiny_cross_encoder_dir), 32, cache=PairScoreCache(db))
    assert at_32.model.max_seq_length == 32
    _, info64 = rerank(at_64, QUERY, FIRST, DOCS, k=6)
    _, info32 = rerank(at_32, QUERY, FIRST, DOCS, k=6)
    assert (info64.scored_pairs, info32.scored_pairs, info32.cached_pairs) == (6, 6, 0)
    assert info32.max_length == 32
    truncated_32 = {p.doc_id for p in info32.pairs if p.truncated}
    assert truncated_32 == {
        d for d, doc in DOCS.items() if tokenizer_count(at_32.model, QUERY, doc.full_text) > 32
    }
    assert "long" in truncated_32 and len(truncated_32) < len(DOCS)


def test_missing_model_gives_one_clear_message() -> None:
    reranker, message = try_load_reranker("cross-encoder/ms-marco-MiniLM-L-6-v2")
    assert reranker is None
    assert message is not None
    assert message.count("Cannot load reranker 'cross-encoder/ms-marco-MiniLM-L-6-v2'") == 1
    for way in (
        "network access",
        "HF_HUB_CACHE",
        "HF_ENDPOINT",
        "local model folder",
        "rankshift train",
    ):
        assert way in message, way
    assert "Traceback" not in message and len(message) < 800


def test_no_reranker_falls_back_to_first_stage_order() -> None:
    stage, info = rerank(None, QUERY, FIRST, DOCS, k=4, model_id="some/model")
    assert stage.ranking == FIRST.ranking[:4]
    assert stage.params["reranked"] is False
    assert stage.name == f"{FIRST.name} (not reranked)"
    assert (info.status, info.reranked, info.model_id) == ("unavailable", False, "some/model")
    assert "some/model" in info.message
    assert info.pairs == [] and info.revision is None

    _, info = rerank(None, QUERY, FIRST, DOCS, k=4, unavailable_message="Reranking is turned off.")
    assert info.message == "Reranking is turned off."


def test_a_model_that_fails_at_predict_time_falls_back(
    tiny_cross_encoder_dir: Path, model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = PairScoreCache(None)
    reranker = make(tiny_cross_encoder_dir, model, cache=cache, batch_size=2)
    real_predict = model.predict
    calls = []

    def predict_then_fail(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("CUDA out of memory (simulated)")
        return real_predict(*args, **kwargs)

    monkeypatch.setattr(model, "predict", predict_then_fail)
    stage, info = rerank(reranker, QUERY, FIRST, DOCS, k=5)  # must not raise
    assert info.status == "failed" and not info.reranked
    assert "RuntimeError: CUDA out of memory (simulated)" in info.message
    assert "not reranked" in info.message
    assert stage.ranking == FIRST.ranking[:5]
    assert stage.params["reranked"] is False
    assert info.revision == reranker.revision and info.max_length == MAX_LENGTH
    # The first batch (2 pairs) was scored before the failure and is kept for the next try.
    assert len(cache) == 2
    monkeypatch.setattr(model, "predict", real_predict)
    _, retry = rerank(reranker, QUERY, FIRST, DOCS, k=5)
    assert (retry.status, retry.scored_pairs, retry.cached_pairs) == ("ok", 3, 2)


def test_timeout_falls_back(tiny_cross_encoder_dir: Path, model: Any) -> None:
    reranker = make(tiny_cross_encoder_dir, model, batch_size=1)
    stage, info = rerank(reranker, QUERY, FIRST, DOCS, k=6, timeout_s=0.0)
    assert info.status == "failed" and "RerankTimeout" in info.message
    assert stage.ranking == FIRST.ranking


def test_window_end(tiny_cross_encoder_dir: Path, model: Any) -> None:
    reranker = make(tiny_cross_encoder_dir, model)
    short = DOCS["a"].text
    assert reranker.window_end(QUERY, short) == len(short)
    end = reranker.window_end(QUERY, LONG_TEXT)
    assert 0 < end < len(LONG_TEXT)
    # What lies before the offset fits in the window; one more word would not.
    assert tokenizer_count(model, QUERY, LONG_TEXT[:end]) <= MAX_LENGTH
    next_space = LONG_TEXT.find(" ", end + 1)
    assert tokenizer_count(model, QUERY, LONG_TEXT[:next_space]) > MAX_LENGTH


def test_max_length_beyond_the_model_is_refused_clearly(tiny_cross_encoder_dir: Path) -> None:
    # MiniLM has 512 position embeddings; at 1024 every long pair used to fail inside torch
    # ("size of tensor a (904) must match ... (512)") and the whole rerank fell back.
    with pytest.raises(ValueError, match=r"max_length 1024 .* \(512 tokens\); choose 512 or less"):
        CrossEncoderReranker(str(tiny_cross_encoder_dir), max_length=1024)
    reranker, message = try_load_reranker(str(tiny_cross_encoder_dir), max_length=1024)
    assert reranker is None and message is not None and "choose 512 or less" in message


def test_documents_with_the_same_text_are_scored_once(
    tiny_cross_encoder_dir: Path, model: Any
) -> None:
    twin = Document("a-copy", DOCS["a"].text, title=DOCS["a"].title)
    docs = {**DOCS, "a-copy": twin}
    first = StageResult(
        "bm25", "first_stage", [ScoredDoc("a", 1, 2.0), ScoredDoc("a-copy", 2, 1.0)], 0.0
    )
    reranker = make(tiny_cross_encoder_dir, model)
    stage, info = rerank(reranker, QUERY, first, docs, k=2)
    assert (info.scored_pairs, info.cached_pairs) == (1, 0)  # one model call, nothing cached
    assert info.pairs[0].score == info.pairs[1].score
    assert [r.doc_id for r in stage.ranking] == ["a", "a-copy"]  # tie: first-stage order
    _, again = rerank(reranker, QUERY, first, docs, k=2)
    assert (again.scored_pairs, again.cached_pairs) == (0, 2)


@pytest.mark.parametrize("problem", ["not a database", "parent is a file", "path is a folder"])
def test_an_unusable_cache_file_is_a_slower_cache_not_a_failure(
    tiny_cross_encoder_dir: Path, model: Any, tmp_path: Path, problem: str
) -> None:
    if problem == "not a database":
        path = tmp_path / "pairs.sqlite"
        path.write_bytes(b"this is not SQLite" * 100)
    elif problem == "parent is a file":
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "pairs.sqlite"
    else:
        path = tmp_path
    cache = PairScoreCache(path)
    assert cache.error is not None and str(path) in cache.error
    reranker = make(tiny_cross_encoder_dir, model, cache=cache)
    _, first = rerank(reranker, QUERY, FIRST, DOCS, k=3)
    _, again = rerank(reranker, QUERY, FIRST, DOCS, k=3)
    assert (first.status, first.scored_pairs) == ("ok", 3)
    assert (again.scored_pairs, again.cached_pairs) == (0, 3)  # kept in memory


def test_only_rankshift_own_heads_are_loaded_with_trust_remote_code(tmp_path: Path) -> None:
    import json

    from rankshift.models import needs_own_code

    def folder(name: str, *types: str) -> str:
        path = tmp_path / name
        path.mkdir()
        modules = [{"idx": i, "name": str(i), "path": "", "type": t} for i, t in enumerate(types)]
        (path / "modules.json").write_text(json.dumps(modules))
        return str(path)

    transformer = "sentence_transformers.base.modules.transformer.Transformer"
    assert needs_own_code(folder("own", transformer, "rankshift.rerank.heads.SegmentCosine"))
    assert not needs_own_code(folder("plain", transformer))
    assert not needs_own_code(folder("foreign", transformer, "evil.Module"))
    assert not needs_own_code(
        folder("mixed", transformer, "rankshift.rerank.heads.SegmentCosine", "evil.Module")
    )
    assert not needs_own_code(str(tmp_path / "missing"))
    assert not needs_own_code("cross-encoder/ms-marco-MiniLM-L-6-v2")


def _z(values: list[float]) -> list[float]:
    import statistics

    mean, std = statistics.fmean(values), statistics.pstdev(values)
    return [(v - mean) / std for v in values]


def test_blend_mixes_the_first_stage_back_into_the_order(
    tiny_cross_encoder_dir: Path, model: Any
) -> None:
    reranker = make(tiny_cross_encoder_dir, model)
    pure, pure_info = rerank(reranker, QUERY, FIRST, DOCS, k=5)
    half, info = rerank(reranker, QUERY, FIRST, DOCS, k=5, blend=0.5)
    # The reranker's own scores are kept as they are; only the order and its scores change.
    assert [(p.doc_id, p.score) for p in info.pairs] == [
        (p.doc_id, p.score) for p in pure_info.pairs
    ]
    assert info.blend == 0.5 and half.params["blend"] == 0.5
    assert half.name == pure.name + "(blend=0.5)"
    # By hand: the mean of the two z-scored lists over the five candidates.
    ids = [r.doc_id for r in FIRST.ranking[:5]]
    ce = {p.doc_id: p.score for p in info.pairs}
    z_ce = dict(zip(ids, _z([ce[d] for d in ids]), strict=True))
    z_first = dict(zip(ids, _z([r.score for r in FIRST.ranking[:5]]), strict=True))
    expected = {d: 0.5 * z_ce[d] + 0.5 * z_first[d] for d in ids}
    assert [r.doc_id for r in half.ranking] == sorted(ids, key=lambda d: -expected[d])
    for row in half.ranking:
        assert row.score == pytest.approx(expected[row.doc_id], abs=1e-9)
    # All the way to 1 is the first stage's order again.
    full, _ = rerank(reranker, QUERY, FIRST, DOCS, k=5, blend=1.0)
    assert [r.doc_id for r in full.ranking] == ids
    with pytest.raises(ValueError, match="blend"):
        rerank(reranker, QUERY, FIRST, DOCS, k=5, blend=1.5)


def test_a_candidate_missing_from_the_collection_is_a_clear_error_not_a_reranker_failure(
    tiny_cross_encoder_dir: Path, model: Any
) -> None:
    """Candidates from another corpus version must not read as "the reranker failed"."""
    from rankshift.rerank import UnknownDocumentError

    stray = StageResult(
        name=FIRST.name,
        kind="first_stage",
        ranking=[*FIRST.ranking[:2], ScoredDoc("gone", 3, 1.0)],
        ms=1.0,
    )
    with pytest.raises(UnknownDocumentError) as err:
        rerank(make(tiny_cross_encoder_dir, model), QUERY, stray, DOCS, k=3)
    assert err.value.doc_ids == ["gone"]
    assert "'gone'" in str(err.value) and "not in the collection" in str(err.value)
    # Turned off, the reranker reads no document: the first stage's order is shown as before.
    stage, info = rerank(None, QUERY, stray, DOCS, k=3, missing_status="skipped")
    assert info.status == "skipped" and [r.doc_id for r in stage.ranking] == ["a", "b", "gone"]


def test_eight_threads_on_one_model_raise_nothing_and_agree(
    tiny_cross_encoder_dir: Path, model: Any
) -> None:
    # Several app sessions share one loaded model: its fast tokenizer must not be borrowed twice.
    from concurrent.futures import ThreadPoolExecutor

    docs = [Document(f"t{i}", f"{LONG_TEXT[: 40 + 37 * i]} variant {i}") for i in range(12)]
    single = make(tiny_cross_encoder_dir, model)
    expected = {p.doc_id: p.score for p in single.score(QUERY, docs)[0]}
    shared = make(tiny_cross_encoder_dir, model)  # one reranker, empty cache, 8 users

    def work(i: int) -> dict[str, float]:
        reranker_docs = docs[i % 3 :] if i % 2 else docs
        shared.window_end(QUERY, reranker_docs[0].full_text)
        pairs, _ = shared.score(f"{QUERY}", reranker_docs)
        return {p.doc_id: p.score for p in pairs}

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(16)))
    for got in results:
        for doc_id, score in got.items():
            assert score == pytest.approx(expected[doc_id], abs=1e-5)


def test_memory_cache_keeps_the_most_recently_used_pairs() -> None:
    cache = PairScoreCache(None, memory_entries=3)
    cache.put_many({"a": (1.0, 5), "b": (2.0, 6), "c": (3.0, None)})
    assert cache.get_many(["a"]) == {"a": (1.0, 5)}  # "a" is now the most recent
    cache.put_many({"d": (4.0, 7)})
    assert set(cache.get_many(["a", "b", "c", "d"])) == {"a", "c", "d"}
    assert len(cache) == 3


def test_unknown_token_counts_survive_the_file(tmp_path: Path) -> None:
    db = tmp_path / "pairs.sqlite"
    PairScoreCache(db).put_many({"k": (0.25, None), "j": (0.5, 12)})
    assert PairScoreCache(db).get_many(["k", "j"]) == {"k": (0.25, None), "j": (0.5, 12)}


def test_a_folder_retrained_in_place_gets_a_new_load_key(
    tiny_cross_encoder_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from rankshift.rerank.loading import load_key

    folder = tmp_path / "reranker"
    shutil.copytree(tiny_cross_encoder_dir, folder)
    before = load_key(str(folder))
    assert load_key(f"bf16:{folder}") == before  # the backend does not change the weights
    weights = next(folder.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert load_key(str(folder)) != before
    assert load_key("tei:http://127.0.0.1:9") == ""


def test_a_model_with_several_labels_needs_an_explicit_label(tmp_path: Path) -> None:
    import torch
    from huggingface_hub import snapshot_download
    from sentence_transformers import CrossEncoder

    from rankshift.rerank import try_load_reranker

    torch.manual_seed(0)
    folder = tmp_path / "two-labels"
    CrossEncoder(
        snapshot_download("sentence-transformers/all-MiniLM-L6-v2", local_files_only=True),
        num_labels=2,
        max_length=MAX_LENGTH,
    ).save(str(folder))
    reranker, message = try_load_reranker(str(folder), MAX_LENGTH)
    assert reranker is None and message is not None
    assert "2 output labels" in message and "?label=N" in message
    reranker, message = try_load_reranker(f"{folder}?label=1", MAX_LENGTH)
    assert message is None and reranker is not None
    pairs, _ = reranker.score(QUERY, [DOCS["a"], DOCS["b"]])
    logits = reranker.model.predict(
        [(QUERY, DOCS[d].full_text) for d in ("a", "b")],
        activation_fn=torch.nn.Identity(),
        show_progress_bar=False,
    )
    for p, row in zip(pairs, logits, strict=True):
        assert p.score == pytest.approx(float(row[1] - row[0]), abs=1e-5)  # log-odds of label 1
        softmax = torch.softmax(torch.tensor(row), dim=0)[1].item()
        assert p.probability == pytest.approx(softmax, abs=1e-5)
