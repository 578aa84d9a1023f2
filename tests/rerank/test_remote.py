"""HTTP rerankers (tei:, cohere:, voyage:, mixedbread:) against a real local server double.

The double (tests/http_double.py) answers like the service would, scores by a fixed formula
(:func:`logit`), and records what it was sent; the expected scores come from the same formula
in this process.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from http_double import HttpDouble, Reply, Seen

from rankshift.rerank import PairScoreCache, load_reranker, rerank, sigmoid, try_load_reranker
from rankshift.rerank.http import RemoteRerankError, retry_after
from rankshift.rerank.remote import CohereReranker, TEIReranker
from rankshift.rerank.spec import RerankerSpec
from rankshift.types import Document, ScoredDoc, StageResult

QUERY = "how do solar panels turn sunlight into power"
TEXTS = [
    "Solar panels turn sunlight into electricity.",
    "Wind turbines spin in the breeze and make power.",
    "Photovoltaic cells are made of silicon.",
    "Batteries store energy for the night.",
    "The sun rises in the east.",
    "Panels on roofs face south to catch sunlight all day long in the northern hemisphere.",
    "Hydroelectric dams turn falling water into power.",
    "A heat pump moves warmth from outside air into a house.",
]
DOCS = {f"d{i}": Document(f"d{i}", t) for i, t in enumerate(TEXTS)}
FIRST = StageResult(
    name="bm25",
    kind="first_stage",
    ranking=[ScoredDoc(d, i, 10.0 - i) for i, d in enumerate(DOCS, 1)],
    ms=0.0,
)
SECRET = "sk-test-SECRET-123"
INFO = {
    "model_id": "BAAI/bge-reranker-base",
    "model_sha": "2cfc18c9415c912f9d8155881c133215df768a70",
    "model_dtype": "float32",
    "model_type": {"reranker": {"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}}},
    "max_concurrent_requests": 512,
    "max_input_length": 512,
    "max_batch_tokens": 16384,
    "max_client_batch_size": 3,
    "tokenization_workers": 2,
    "version": "1.7.0",
}


def logit(query: str, text: str) -> float:
    """The double's relevance formula: shared words, minus a little per character."""
    words = set(query.lower().split())
    return sum(w.strip(".") in words for w in text.lower().split()) * 1.5 - len(text) / 40


def tei_rerank(seen: Seen) -> Reply:
    """TEI's /rerank: ``[{index, score}]`` sorted by score, best first."""
    body = seen.json()
    rows = [{"index": i, "score": logit(body["query"], t)} for i, t in enumerate(body["texts"])]
    return Reply(200, sorted(rows, key=lambda r: -r["score"]))


def cohere_family(documents: str, results: str, score: str) -> Any:
    def answer(seen: Seen) -> Reply:
        body = seen.json()
        rows = [
            {"index": i, score: sigmoid(logit(body["query"], t))}
            for i, t in enumerate(body[documents])
        ]
        return Reply(200, {"id": "r-1", results: sorted(rows, key=lambda r: -r[score])})

    return answer


@pytest.fixture
def server() -> Iterator[HttpDouble]:
    with HttpDouble() as double:
        yield double


@pytest.fixture
def tei(server: HttpDouble) -> HttpDouble:
    server.on("GET", "/info", Reply(200, INFO))
    server.on("POST", "/rerank", tei_rerank)
    return server


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COHERE_API_KEY", SECRET)
    return SECRET


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_tei_reads_info_splits_batches_and_maps_sorted_answers_back(tei: HttpDouble) -> None:
    reranker = load_reranker(f"tei:{tei.url}/")
    assert isinstance(reranker, TEIReranker)
    assert reranker.revision == INFO["model_sha"]
    assert reranker.max_length == 512
    assert reranker.batch_size == 3  # the server's max_client_batch_size
    assert reranker.served_model == "BAAI/bge-reranker-base"

    stage, info = rerank(reranker, QUERY, FIRST, DOCS, k=8)

    assert info.status == "ok", info.message
    assert info.revision == INFO["model_sha"] and info.max_length == 512
    for pair in info.pairs:
        want = logit(QUERY, DOCS[pair.doc_id].full_text)
        assert pair.score == pytest.approx(want)  # raw logits, in input order
        assert pair.probability == pytest.approx(sigmoid(want))
        assert pair.n_tokens is None and pair.truncated is None
    best = sorted(DOCS, key=lambda d: -logit(QUERY, DOCS[d].full_text))
    assert [r.doc_id for r in stage.ranking] == best

    posts = tei.seen("POST", "/rerank")
    assert sorted(len(p.json()["texts"]) for p in posts) == [2, 3, 3]
    assert sorted(t for p in posts for t in p.json()["texts"]) == sorted(TEXTS)
    body = posts[0].json()
    assert body["query"] == QUERY
    assert body["raw_scores"] is True and body["return_text"] is False
    assert body["truncate"] is True and body["truncation_direction"] == "Right"
    assert "authorization" not in posts[0].headers  # no TEI_API_KEY set: no key sent


def test_tei_spec_options_lower_the_batch_and_turn_truncation_off(tei: HttpDouble) -> None:
    reranker = load_reranker(f"tei:{tei.url}?batch=2&truncate=false")
    _, info = rerank(reranker, QUERY, FIRST, DOCS, k=8)
    assert info.status == "ok", info.message
    posts = tei.seen("POST", "/rerank")
    assert [len(p.json()["texts"]) for p in posts] == [2, 2, 2, 2]
    assert all(p.json()["truncate"] is False for p in posts)
    # A spec asking for more than the server takes still gets the server's limit.
    assert load_reranker(f"tei:{tei.url}?batch=50").batch_size == 3


def test_tei_info_without_optional_fields_gives_unknowns(server: HttpDouble) -> None:
    server.on("GET", "/info", Reply(200, {"model_id": "my-reranker"}))
    reranker = load_reranker(f"tei:{server.url}")
    assert reranker.revision == "unknown"
    assert reranker.max_length is None
    assert reranker.batch_size == 32


def test_unreachable_tei_is_a_handled_failure_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    reranker, message = try_load_reranker(f"tei:{url}?timeout=5")
    assert reranker is None
    assert message is not None and f"{url}/info" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(200, {"hello": "world"}), "not text-embeddings-inference"),
        (Reply(200, "<html>nginx</html>"), "did not answer JSON"),
        (Reply(404, {"error": "not found"}), "HTTP 404"),
        (Reply(200, {**INFO, "model_type": {"embedding": {"pooling": "cls"}}}), "not a reranker"),
    ],
)
def test_a_server_that_is_not_a_tei_reranker_is_refused(
    server: HttpDouble, reply: Reply, reason: str
) -> None:
    server.on("GET", "/info", reply)
    reranker, message = try_load_reranker(f"tei:{server.url}")
    assert reranker is None
    assert message is not None and reason in message and server.url in message


@pytest.mark.parametrize(
    ("backend", "path", "documents", "top", "results", "score"),
    [
        ("cohere", "/v2/rerank", "documents", "top_n", "results", "relevance_score"),
        ("voyage", "/v1/rerank", "documents", "top_k", "data", "relevance_score"),
        ("mixedbread", "/v1/reranking", "input", "top_k", "data", "score"),
    ],
)
def test_cohere_family_request_shapes_and_scores(
    server: HttpDouble,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    path: str,
    documents: str,
    top: str,
    results: str,
    score: str,
) -> None:
    env = RerankerSpec.parse(f"{backend}:http://x?model=m").key_env
    assert env is not None
    monkeypatch.setenv(env, SECRET)
    server.on("POST", path, cohere_family(documents, results, score))

    reranker = load_reranker(f"{backend}:{server.url}?model=rerank-x&batch=5")
    assert isinstance(reranker, CohereReranker)
    assert server.requests == []  # nothing is sent before the first rerank
    assert reranker.revision == "unknown" and reranker.max_length is None
    stage, info = rerank(reranker, QUERY, FIRST, DOCS, k=8)

    assert info.status == "ok", info.message
    for pair in info.pairs:
        want = sigmoid(logit(QUERY, DOCS[pair.doc_id].full_text))
        assert pair.score == pytest.approx(want)  # the service's relevance score, as it is
        assert pair.probability == pytest.approx(want)
        assert pair.n_tokens is None
    best = sorted(DOCS, key=lambda d: -logit(QUERY, DOCS[d].full_text))
    assert [r.doc_id for r in stage.ranking] == best
    posts = server.seen("POST", path)
    assert sorted(len(p.json()[documents]) for p in posts) == [3, 5]
    for p in posts:
        body = p.json()
        assert body["model"] == "rerank-x" and body["query"] == QUERY
        assert body[top] == len(body[documents])  # every document back
        assert p.headers["authorization"] == f"Bearer {SECRET}"


def test_a_base_url_with_the_version_is_not_doubled(
    server: HttpDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOYAGE_API_KEY", SECRET)
    server.on("POST", "/v1/rerank", cohere_family("documents", "data", "relevance_score"))
    reranker = load_reranker(f"voyage:{server.url}/v1?model=rerank-2&truncate=false")
    _, info = rerank(reranker, QUERY, FIRST, DOCS, k=3)
    assert info.status == "ok", info.message
    assert server.seen("POST", "/v1/rerank")[0].json()["truncation"] is False


def test_relevance_scores_are_probabilities_clamped_not_inverted(keyed: str) -> None:
    reranker = load_reranker("cohere:http://127.0.0.1:9?model=m")
    assert reranker.probability(0.25) == 0.25
    assert reranker.probability(1.3) == 1.0 and reranker.probability(-0.1) == 0.0


def test_429_with_retry_after_is_retried_and_gives_the_same_scores(
    server: HttpDouble, keyed: str
) -> None:
    answer = cohere_family("documents", "results", "relevance_score")
    busy = Reply(429, {"message": "too many requests"}, headers={"Retry-After": "0"})
    server.on("POST", "/v2/rerank", answer)
    _, calm = rerank(load_reranker(f"cohere:{server.url}?model=m"), QUERY, FIRST, DOCS, k=8)

    script = [busy, busy]
    server.on("POST", "/v2/rerank", lambda seen: script.pop() if script else answer(seen))
    reranker = load_reranker(f"cohere:{server.url}?model=m&concurrency=1")
    _, info = rerank(reranker, QUERY, FIRST, DOCS, k=8)

    assert info.status == "ok", info.message
    assert [p.score for p in info.pairs] == [p.score for p in calm.pairs]
    assert len(server.seen("POST", "/v2/rerank")) == 1 + 2 + 1  # calm run, 2 refused, 1 retry


def test_retry_after_seconds_and_dates_are_capped_at_30_s() -> None:
    assert retry_after("2") == 2.0
    assert retry_after("120") == 30.0
    assert retry_after("-5") == 0.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    assert retry_after("soon") is None and retry_after(None) is None


def test_503_until_retries_run_out_falls_back_with_the_status(
    server: HttpDouble, keyed: str
) -> None:
    server.on("POST", "/v2/rerank", Reply(503, {"message": "overloaded"}))
    reranker = load_reranker(f"cohere:{server.url}?model=m&retries=2")
    stage, info = rerank(reranker, QUERY, FIRST, DOCS, k=4)
    assert info.status == "failed"
    assert "503" in info.message and "overloaded" in info.message
    assert stage.params["reranked"] is False
    assert [r.doc_id for r in stage.ranking] == [r.doc_id for r in FIRST.top(4)]
    assert len(server.requests) == 3  # one try, two retries (0.5 s and 1 s backoff)


def test_500_is_not_retried_and_falls_back_with_the_servers_message(
    server: HttpDouble, keyed: str
) -> None:
    server.on("POST", "/v2/rerank", Reply(500, {"message": "model crashed: CUDA out of memory"}))
    reranker = load_reranker(f"cohere:{server.url}?model=m")
    _, info = rerank(reranker, QUERY, FIRST, DOCS, k=8)
    assert info.status == "failed"
    assert "HTTP 500" in info.message and "CUDA out of memory" in info.message
    assert len(server.requests) == 1


def test_a_failure_stops_the_batches_not_yet_sent(server: HttpDouble, keyed: str) -> None:
    server.on("POST", "/v2/rerank", Reply(500, {"message": "broken"}))
    reranker = load_reranker(f"cohere:{server.url}?model=m&batch=1&concurrency=1")
    _, info = rerank(reranker, QUERY, FIRST, DOCS, k=8)
    assert info.status == "failed"
    assert len(server.requests) <= 2  # of 8 batches: the failed one, at most one already taken


def test_a_server_slower_than_the_timeout_falls_back_with_a_timeout_reason(
    server: HttpDouble, keyed: str
) -> None:
    server.on("POST", "/v2/rerank", Reply(200, {"results": []}, delay=5.0))
    reranker = load_reranker(f"cohere:{server.url}?model=m&timeout=0.3")
    _, info = rerank(reranker, QUERY, FIRST, DOCS, k=4)
    assert info.status == "failed"
    assert "timed out" in info.message and "0.3 s" in info.message
    assert len(server.requests) == 1  # a slow answer is not asked again


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(200, b"{not json"), "malformed JSON"),
        (Reply(200, [{"index": 0, "score": 1.0}]), "1 of 4 texts"),
        (Reply(200, [{"index": i, "score": 1.0} for i in (0, 1, 2, 7)]), "index 7"),
        (Reply(200, [{"index": i, "score": "high"} for i in range(4)]), "numeric 'score'"),
    ],
)
def test_malformed_answers_fall_back_with_a_reason(
    server: HttpDouble, reply: Reply, reason: str
) -> None:
    server.on("GET", "/info", Reply(200, {**INFO, "max_client_batch_size": 8}))
    server.on("POST", "/rerank", reply)
    reranker = load_reranker(f"tei:{server.url}?batch=4")
    _, info = rerank(reranker, QUERY, FIRST, DOCS, k=4)
    assert info.status == "failed"
    assert reason in info.message


def test_requests_in_flight_never_exceed_concurrency(server: HttpDouble) -> None:
    server.on("GET", "/info", Reply(200, {**INFO, "max_client_batch_size": 1}))
    slow = lambda seen: Reply(  # noqa: E731
        200, tei_rerank(seen).body, delay=0.2
    )
    server.on("POST", "/rerank", slow)
    reranker = load_reranker(f"tei:{server.url}?concurrency=3")
    _, info = rerank(reranker, QUERY, FIRST, DOCS, k=8)
    assert info.status == "ok", info.message
    assert len(server.requests) == 1 + 8
    assert 1 < server.max_in_flight <= 3


def test_the_api_key_is_sent_and_never_shown_or_stored(
    server: HttpDouble, keyed: str, tmp_path: Path
) -> None:
    server.on("POST", "/v2/rerank", cohere_family("documents", "results", "relevance_score"))
    cache = PairScoreCache(tmp_path / "c.sqlite")
    reranker = load_reranker(f"cohere:{server.url}?model=rerank-v3.5", cache=cache)
    _, info = rerank(reranker, QUERY, FIRST, DOCS, k=8)
    assert info.status == "ok", info.message
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"

    # A server that echoes the key back in its errors.
    server.on("POST", "/v2/rerank", Reply(500, {"message": f"bad request from key {SECRET}"}))
    with pytest.raises(RemoteRerankError) as failed:
        reranker.score("another query", list(DOCS.values()))
    _, failed_info = rerank(reranker, "a third query", FIRST, DOCS, k=8)
    server.on("POST", "/v2/rerank", Reply(401, {"message": f"invalid api key: {SECRET}"}))
    _, refused = rerank(reranker, "a fourth query", FIRST, DOCS, k=8)

    assert "rejected the API key from $COHERE_API_KEY" in refused.message
    shown = [
        str(reranker.spec),
        reranker.model_id,
        reranker.name,
        reranker.cache_identity,
        str(failed.value),
        failed_info.message,
        refused.message,
        info.message,
    ]
    assert all(SECRET not in s for s in shown)
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("c.sqlite*"))
    assert len(stored) > 0 and SECRET.encode() not in stored


def test_a_missing_key_is_named_at_the_first_rerank(
    server: HttpDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MXBAI_API_KEY", raising=False)
    reranker = load_reranker(f"mixedbread:{server.url}?model=mxbai-rerank-large-v2")
    _, info = rerank(reranker, QUERY, FIRST, DOCS, k=4)
    assert info.status == "failed" and "MXBAI_API_KEY" in info.message
    assert server.requests == []


def test_key_env_names_another_variable(
    server: HttpDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_RERANK_KEY", SECRET)
    server.on("GET", "/info", Reply(200, INFO))
    server.on("POST", "/rerank", tei_rerank)
    reranker = load_reranker(f"tei:{server.url}?key_env=MY_RERANK_KEY")
    _, info = rerank(reranker, QUERY, FIRST, DOCS, k=2)
    assert info.status == "ok", info.message
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in server.requests)
    assert SECRET not in reranker.model_id


def test_cached_scores_are_reused_without_a_request(tei: HttpDouble, tmp_path: Path) -> None:
    spec = f"tei:{tei.url}"
    _, first = rerank(
        load_reranker(spec, cache=PairScoreCache(tmp_path / "c.sqlite")), QUERY, FIRST, DOCS, k=8
    )
    sent = len(tei.seen("POST", "/rerank"))
    # A new reranker on the same cache file: a later run of the audit.
    again = load_reranker(spec, cache=PairScoreCache(tmp_path / "c.sqlite"))
    _, second = rerank(again, QUERY, FIRST, DOCS, k=8)
    assert second.status == "ok"
    assert len(tei.seen("POST", "/rerank")) == sent
    assert second.cached_pairs == 8 and second.scored_pairs == 0
    assert [p.score for p in second.pairs] == [p.score for p in first.pairs]
    assert all(math.isfinite(p.score) for p in second.pairs)


def test_a_tei_server_that_wants_a_key_says_which_variable(
    server: HttpDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.on("GET", "/info", Reply(401, {"error": "Unauthorized", "error_type": "auth"}))
    monkeypatch.delenv("TEI_API_KEY", raising=False)
    _, message = try_load_reranker(f"tei:{server.url}")
    assert message is not None and "set the environment variable TEI_API_KEY" in message
    monkeypatch.setenv("TEI_API_KEY", SECRET)
    _, message = try_load_reranker(f"tei:{server.url}")
    assert message is not None and "rejected the API key from $TEI_API_KEY" in message
    assert SECRET not in message
    assert server.requests[-1].headers["authorization"] == f"Bearer {SECRET}"


def test_an_unreachable_api_is_retried_then_falls_back(keyed: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    reranker = load_reranker(f"cohere:{url}?model=m&retries=1")
    _, info = rerank(reranker, QUERY, FIRST, DOCS, k=4)
    assert info.status == "failed"
    assert f"cannot reach {url}/v2/rerank (gave up after 1 retry)" in info.message
