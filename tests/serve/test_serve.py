"""`rankshift serve` as a real process: TEI's /info, /health and /rerank, Cohere's /v2/rerank,
validation, size limits, the bearer token, and scores equal to the in-process reranker's."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_double import HttpDouble, Reply

import rankshift
from rankshift.rerank import CrossEncoderReranker

MAX_LENGTH = 64
TOKEN = f"tok-{uuid.uuid4().hex}"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
QUERY = "how do plants make food from sunlight"
LONG = " ".join(
    ["Leaves hold chlorophyll, which absorbs red and blue light and passes its energy on."] * 8
)
TEXTS = [
    "The stock market fell sharply on Tuesday after the bank's report.",
    "Photosynthesis turns light, water and carbon dioxide into sugar in the chloroplasts.",
    LONG,
    "Cats sleep for most of the day.",
    "Plants need light to grow.",
]


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()


def start_serve(spec: str, tmp: Path, env: dict[str, str]) -> Served:
    """``rankshift serve SPEC --port 0``, waited for until its ready line and /health answer."""
    out, err = tmp / "stdout.txt", tmp / "stderr.txt"
    cmd = [sys.executable, "-m", "rankshift.cli", "serve", spec, "--port", "0"]
    cmd += ["--max-length", str(MAX_LENGTH)]
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(cmd, env=env, stdout=o, stderr=e)
    served = Served("", proc, out, err)
    deadline = time.monotonic() + 180
    while True:
        if proc.poll() is not None:
            pytest.fail(f"rankshift serve exited with {proc.returncode}: {served.output()}")
        found = re.search(r"^Serving (.+) on (http://\S+) \(", out.read_text(), re.M)
        if found:
            served.url = found.group(2)
            try:
                if httpx.get(f"{served.url}/health", timeout=2).status_code == 200:
                    return served
            except httpx.HTTPError:
                pass
        if time.monotonic() > deadline:
            stop(served)
            pytest.fail(f"rankshift serve was not ready within 180 s: {served.output()}")
        time.sleep(0.2)


def stop(served: Served) -> None:
    served.proc.terminate()
    try:
        served.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        served.proc.kill()
        served.proc.wait(timeout=30)


def serve_env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RANKSHIFT_CACHE": str(tmp / "cache"),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "RANKSHIFT_SERVE_TOKEN": TOKEN,
    }


@pytest.fixture(scope="module")
def server(
    tiny_cross_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("serve")
    served = start_serve(str(tiny_cross_encoder_dir), tmp, serve_env(tmp))
    try:
        yield served
    finally:
        stop(served)
        assert TOKEN not in served.output()


@pytest.fixture(scope="module")
def client(server: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def local(tiny_cross_encoder_dir: Path) -> CrossEncoderReranker:
    return CrossEncoderReranker(str(tiny_cross_encoder_dir), MAX_LENGTH)


def logits(local: CrossEncoderReranker, texts: list[str], query: str = QUERY) -> list[float]:
    return [s for s, _, _ in local.score_texts(query, texts)[0]]


def by_score(scores: list[float]) -> list[int]:
    return sorted(range(len(scores)), key=lambda i: -scores[i])


def test_health_needs_no_token_and_info_describes_the_model(
    server: Served, client: httpx.Client, local: CrossEncoderReranker, tiny_cross_encoder_dir: Path
) -> None:
    assert httpx.get(f"{server.url}/health").status_code == 200
    info = client.get("/info").json()
    assert info["model_id"] == str(tiny_cross_encoder_dir)
    assert info["model_sha"] == local.revision
    assert info["max_input_length"] == MAX_LENGTH
    assert info["max_client_batch_size"] == 64
    assert info["version"] == rankshift.__version__
    assert info["auto_truncate"] is True
    labels = info["model_type"]["reranker"]
    assert list(labels["id2label"]) == ["0"] and list(labels["label2id"].values()) == [0]
    for key in ("max_concurrent_requests", "max_batch_tokens", "tokenization_workers"):
        assert isinstance(info[key], int) and info[key] > 0


def test_rerank_raw_scores_are_the_in_process_logits_best_first(
    client: httpx.Client, local: CrossEncoderReranker
) -> None:
    want = logits(local, TEXTS)
    got = client.post("/rerank", json={"query": QUERY, "texts": TEXTS, "raw_scores": True})
    assert got.status_code == 200, got.text
    rows = got.json()
    assert [r["index"] for r in rows] == by_score(want)
    for r in rows:
        assert set(r) == {"index", "score"}
        assert r["score"] == pytest.approx(want[r["index"]], abs=1e-5)


def test_rerank_scores_are_sigmoids_unless_raw_and_text_comes_back_on_request(
    client: httpx.Client, local: CrossEncoderReranker
) -> None:
    want = logits(local, TEXTS)
    rows = client.post("/rerank", json={"query": QUERY, "texts": TEXTS, "return_text": True})
    assert rows.status_code == 200, rows.text
    for r in rows.json():
        assert r["score"] == pytest.approx(sigmoid(want[r["index"]]), abs=1e-5)
        assert r["text"] == TEXTS[r["index"]]
    assert [r["index"] for r in rows.json()] == by_score(want)


def test_concurrent_requests_each_get_their_own_scores(
    client: httpx.Client, local: CrossEncoderReranker
) -> None:
    queries = [f"{QUERY} {i}" for i in range(6)]

    def ask(query: str) -> list[dict[str, Any]]:
        body = {"query": query, "texts": TEXTS, "raw_scores": True}
        answer = client.post("/rerank", json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(ask, queries))
    for query, rows in zip(queries, answers, strict=True):
        want = logits(local, TEXTS, query)
        assert {r["index"]: r["score"] for r in rows} == pytest.approx(
            dict(enumerate(want)), abs=1e-5
        )


def test_cohere_v2_rerank_gives_probabilities_best_first_cut_to_top_n(
    client: httpx.Client, local: CrossEncoderReranker
) -> None:
    want = logits(local, TEXTS)
    docs: list[Any] = [*TEXTS[:3], {"text": TEXTS[3]}, TEXTS[4]]
    body = {"model": "any-name", "query": QUERY, "documents": docs}
    answer = client.post("/v2/rerank", json=body)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert isinstance(data["id"], str) and data["id"]
    assert data["meta"]["api_version"]["version"] == "2"
    assert [r["index"] for r in data["results"]] == by_score(want)
    for r in data["results"]:
        assert set(r) == {"index", "relevance_score"}
        assert r["relevance_score"] == pytest.approx(sigmoid(want[r["index"]]), abs=1e-5)

    top = client.post("/v2/rerank", json={**body, "top_n": 2, "return_documents": True}).json()
    assert [r["index"] for r in top["results"]] == by_score(want)[:2]
    assert [r["document"]["text"] for r in top["results"]] == [TEXTS[i] for i in by_score(want)[:2]]


def test_cohere_max_tokens_per_doc_cuts_each_document(
    client: httpx.Client, local: CrossEncoderReranker
) -> None:
    enc = local.tokenizer(TEXTS, add_special_tokens=False, return_offsets_mapping=True)
    cut = [
        t if len(o) <= 8 else t[: o[7][1]]
        for t, o in zip(TEXTS, enc["offset_mapping"], strict=True)
    ]
    want = logits(local, cut)
    body = {"model": "m", "query": QUERY, "documents": TEXTS, "max_tokens_per_doc": 8}
    results = client.post("/v2/rerank", json=body).json()["results"]
    for r in results:
        assert r["relevance_score"] == pytest.approx(sigmoid(want[r["index"]]), abs=1e-5)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/rerank", {"query": QUERY}, "texts: Field required"),
        ("/rerank", {"texts": ["a"]}, "query: Field required"),
        ("/rerank", {"query": QUERY, "texts": "not a list"}, "texts:"),
        ("/rerank", {"query": QUERY, "texts": ["fine", 3]}, "texts.1:"),
        ("/rerank", {"query": QUERY, "texts": ["a"], "raw_scores": "yes"}, "raw_scores:"),
        ("/rerank", {"query": QUERY, "texts": []}, "texts: must not be empty"),
        ("/rerank", {"query": QUERY, "texts": ["a"], "truncation_direction": "Up"}, "truncation"),
        ("/rerank", {"query": QUERY, "texts": ["a"], "truncation_direction": "Left"}, "right only"),
        ("/rerank", [QUERY], "JSON object"),
        ("/v2/rerank", {"query": QUERY, "documents": ["a"]}, "model: Field required"),
        ("/v2/rerank", {"model": "m", "query": QUERY, "documents": []}, "documents: must not"),
        ("/v2/rerank", {"model": "m", "query": QUERY, "documents": [{"t": 1}]}, "documents.0:"),
        ("/v2/rerank", {"model": "m", "query": QUERY, "documents": ["a"], "top_n": 0}, "top_n:"),
    ],
)
def test_invalid_payloads_get_422_naming_the_field(
    client: httpx.Client, path: str, body: Any, field: str
) -> None:
    answer = client.post(path, json=body)
    assert answer.status_code == 422, answer.text
    data = answer.json()
    assert field in data["error"] and data["error_type"]
    assert "Traceback" not in answer.text


def test_a_body_that_is_not_json_gets_422(client: httpx.Client) -> None:
    answer = client.post(
        "/rerank", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    assert "not valid JSON" in answer.json()["error"]


def test_too_many_texts_get_413_saying_the_limit(client: httpx.Client) -> None:
    answer = client.post("/rerank", json={"query": QUERY, "texts": ["x"] * 65})
    assert answer.status_code == 413
    assert "65 > maximum allowed batch size 64" in answer.json()["error"]
    body = {"model": "m", "query": QUERY, "documents": ["x"] * 65}
    assert client.post("/v2/rerank", json=body).status_code == 413


def test_a_body_over_the_size_limit_gets_413(client: httpx.Client) -> None:
    big = json.dumps({"query": QUERY, "texts": ["y" * 2_100_000]}).encode()
    answer = client.post("/rerank", content=big, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert "larger than 2000000 bytes" in answer.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the bytes received are counted
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    answer = client.post("/rerank", content=chunks(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 413


def test_a_pair_longer_than_max_length_is_refused_only_without_truncation(
    client: httpx.Client,
) -> None:
    body = {"query": QUERY, "texts": ["short", LONG], "truncate": False}
    answer = client.post("/rerank", json=body)
    assert answer.status_code == 413
    assert "texts.1" in answer.json()["error"] and str(MAX_LENGTH) in answer.json()["error"]
    assert client.post("/rerank", json={**body, "truncate": True}).status_code == 200
    assert client.post("/rerank", json={**body, "texts": ["short"]}).status_code == 200


def test_every_endpoint_but_health_needs_the_bearer_token(server: Served) -> None:
    body = {"query": QUERY, "texts": ["a"]}
    cohere = {"model": "m", "query": QUERY, "documents": ["a"]}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as c:
            for answer in (
                c.get("/info"),
                c.post("/rerank", json=body),
                c.post("/v2/rerank", json=cohere),
            ):
                assert answer.status_code == 401, answer.text
                assert "bearer token" in answer.json()["error"]
                assert TOKEN not in answer.text
            assert c.get("/health").status_code == 200
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as c:
        assert c.post("/rerank", json=body).status_code == 200
        assert c.post("/v2/rerank", json=cohere).status_code == 200


def test_the_token_never_appears_in_the_server_output(server: Served) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        c.post("/rerank", json={}, headers={"Authorization": f"Bearer {TOKEN}x"})
        c.post("/rerank", json={"query": "q", "texts": []}, headers=AUTH)
    output = server.output()
    assert re.search(r"^Serving \S+ on http://127\.0\.0\.1:\d+ \(TEI: POST /rerank", output, re.M)
    assert "bearer token required (from $RANKSHIFT_SERVE_TOKEN)" in output
    assert TOKEN not in output


def test_a_reranker_failure_is_a_500_with_a_message_and_no_traceback(tmp_path: Path) -> None:
    info = {
        "model_id": "upstream/model",
        "model_sha": "abc123",
        "max_input_length": 32,
        "max_client_batch_size": 8,
        "model_type": {"reranker": {"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}}},
    }
    with HttpDouble() as upstream:
        upstream.on("GET", "/info", Reply(200, info))
        upstream.on(
            "POST", "/rerank", Reply(500, {"error": "model exploded", "error_type": "backend"})
        )
        served = start_serve(f"tei:{upstream.url}", tmp_path, serve_env(tmp_path))
        try:
            with httpx.Client(base_url=served.url, headers=AUTH, timeout=60) as c:
                assert c.get("/info").json()["model_id"] == f"tei:{upstream.url}"
                answer = c.post("/rerank", json={"query": QUERY, "texts": ["a", "b"]})
                cohere = c.post(
                    "/v2/rerank", json={"model": "m", "query": QUERY, "documents": ["a"]}
                )
        finally:
            stop(served)
    assert answer.status_code == 500
    assert "model exploded" in answer.json()["error"]
    assert answer.json()["error_type"] == "backend"
    assert cohere.status_code == 500 and "model exploded" in cohere.json()["error"]
    for text in (answer.text, cohere.text, served.output()):
        assert "Traceback" not in text and TOKEN not in text


def test_serve_exits_2_with_one_line_for_a_reranker_it_cannot_load(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rankshift.cli", "serve", "does-not-exist-folder"],
        env=serve_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rankshift serve: ")
    assert "does-not-exist-folder" in lines[0]
    assert "Serving" not in done.stdout
