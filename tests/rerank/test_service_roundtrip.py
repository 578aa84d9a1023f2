"""The same reranker in process and behind `rankshift serve`, audited through tei: and cohere:.

`rankshift serve` runs as a real process on a free port; the clients are the ones users point
at a text-embeddings-inference deployment or a Cohere-style API.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rankshift.corpus import Collection
from rankshift.rerank import PairScoreCache, load_reranker, rerank
from rankshift.types import ScoredDoc, StageResult

MAX_LENGTH = 64
QUERY = "how do plants make food from sunlight"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tiny_cross_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import httpx

    port = free_port()
    env = {**os.environ, "RANKSHIFT_CACHE": str(tmp_path_factory.mktemp("serve-cache"))}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rankshift.cli",
            "serve",
            str(tiny_cross_encoder_dir),
            "--port",
            str(port),
            "--max-length",
            str(MAX_LENGTH),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"rankshift serve exited: {proc.stdout.read() if proc.stdout else ''}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("rankshift serve did not answer /health within 120 s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def candidates(collection: Collection, n: int = 20) -> StageResult:
    ids = list(collection.documents)[:n]
    return StageResult(
        name="bm25",
        kind="first_stage",
        ranking=[ScoredDoc(d, i, float(n - i)) for i, d in enumerate(ids, 1)],
        ms=0.0,
    )


def test_tei_and_cohere_clients_give_the_in_process_order_and_scores(
    served: str,
    tiny_cross_encoder_dir: Path,
    demo_collection: Collection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COHERE_API_KEY", "")  # set but empty: a local server that needs none
    first = candidates(demo_collection)
    docs = demo_collection.documents
    local = load_reranker(str(tiny_cross_encoder_dir), MAX_LENGTH)
    expected_stage, expected = rerank(local, QUERY, first, docs, k=20)
    want = {p.doc_id: p for p in expected.pairs}

    tei = load_reranker(f"tei:{served}", cache=PairScoreCache(tmp_path / "tei.sqlite"))
    assert tei.max_length == MAX_LENGTH  # read from the server's /info
    stage, info = rerank(tei, QUERY, first, docs, k=20)
    assert info.status == "ok", info.message
    assert [r.doc_id for r in stage.ranking] == [r.doc_id for r in expected_stage.ranking]
    for p in info.pairs:
        assert p.score == pytest.approx(want[p.doc_id].score, abs=1e-5)  # raw logits
        assert p.n_tokens is None and p.truncated is None  # a service cannot tell: unknown

    cohere = load_reranker(f"cohere:{served}?model=any-name", cache=PairScoreCache(None))
    stage, info = rerank(cohere, QUERY, first, docs, k=20)
    assert info.status == "ok", info.message
    assert [r.doc_id for r in stage.ranking] == [r.doc_id for r in expected_stage.ranking]
    for p in info.pairs:
        # Cohere's relevance_score is a probability: the sigmoid of the in-process logit.
        assert p.score == pytest.approx(want[p.doc_id].probability, abs=1e-5)
        assert p.probability == pytest.approx(want[p.doc_id].probability, abs=1e-5)
