"""The command line: --help on every command and one real run of each."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from support import ANIMALS, requires_model

from rankshift.cli import main


@pytest.fixture
def animals_file(tmp_path: Path) -> Path:
    path = tmp_path / "animals.jsonl"
    path.write_text(
        "".join(
            json.dumps({"_id": d.doc_id, "title": d.title, "text": d.text}) + "\n" for d in ANIMALS
        )
    )
    return path


@pytest.mark.parametrize("command", [[], ["index"], ["search"], ["app"]])
def test_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "usage: rankshift" in out
    if command == ["search"]:
        assert "--reranker" in out and "--json" in out


def test_bad_collection_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"_id": "a", "text": "fine"}\n{"_id": "b", "text": ""}\n')
    assert main(["index", str(bad), "--stages", "bm25", "--strict"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: empty 'text'" in err


@requires_model
def test_index_builds_and_caches(
    animals_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    assert main(["index", str(animals_file), "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "bm25(lucene,k1=1.5,b=0.75)" in out and "dense(all-MiniLM-L6-v2,flat)" in out
    index_dirs = list((cache / "indexes").iterdir())
    assert len(index_dirs) == 1  # one collection fingerprint
    assert {p.name.split("-")[0] for p in index_dirs[0].iterdir()} == {"bm25", "dense"}


@requires_model
def test_search_without_loadable_reranker_says_so_and_shows_first_stages(
    animals_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["search", str(animals_file), "which animal can fly", "-k", "4", "-n", "3",
         "--cache-dir", str(tmp_path / "c")]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith(
        "Not reranked: Cannot load reranker 'cross-encoder/ms-marco-MiniLM-L-6-v2'"
    )
    assert "bm25(lucene" in out and "dense(" in out and "hybrid(rrf,k=60)" in out
    assert "(not reranked)" in out
    # BM25's only match for "fly" is the bird document, at rank 1.
    row1 = next(line for line in out.splitlines() if line.startswith("1 "))
    assert "bird Birds" in row1


@requires_model
def test_search_uses_the_demo_reranker_offline_and_blends_on_request(
    animals_file: Path,
    tmp_path: Path,
    tiny_cross_encoder_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shutil

    from rankshift.config import demo_reranker_dir

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("RANKSHIFT_RERANKER", raising=False)
    monkeypatch.setenv("RANKSHIFT_CACHE", str(tmp_path / "own-cache"))  # this test's demo only
    shutil.copytree(tiny_cross_encoder_dir, demo_reranker_dir())
    args = ["search", str(animals_file), "which animal can fly", "-k", "4", "-n", "4",
            "--cache-dir", str(tmp_path / "c"), "--json"]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "using the demo reranker" in captured.err
    result = json.loads(captured.out)
    assert result["rerank"]["status"] == "ok"
    assert result["rerank"]["model_id"] == str(demo_reranker_dir())
    # --blend 1 puts all the weight on the first stage: the hybrid's order comes back.
    assert main([*args, "--blend", "1"]) == 0
    blended = json.loads(capsys.readouterr().out)
    order = [r["doc_id"] for r in blended["stages"]["reranked"]["ranking"]]
    assert order == [r["doc_id"] for r in blended["stages"]["hybrid"]["ranking"]]
    assert blended["rerank"]["blend"] == 1.0


@requires_model
def test_search_with_reranker_folder_shows_shifts_and_json(
    animals_file: Path,
    tmp_path: Path,
    tiny_cross_encoder_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["search", str(animals_file), "which animal can fly", "-k", "4", "-n", "2",
            "--reranker", str(tiny_cross_encoder_dir), "--cache-dir", str(tmp_path / "c")]  # fmt: skip
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rerank"]["status"] == "ok"
    assert result["rerank"]["revision"].startswith("local-")
    assert result["rerank"]["max_length"] == 256
    reranked = [r["doc_id"] for r in result["stages"]["reranked"]["ranking"]]
    scores = {p["doc_id"]: p["score"] for p in result["rerank"]["pairs"]}
    assert reranked == sorted(scores, key=lambda d: -scores[d])

    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Not reranked" not in out
    assert "ce(tiny-cross-encoder,len=256)" in out
    assert "4 pair scores from cache" in out  # the --json run scored them
    audit = result["audits"]["hybrid"]
    for row in audit["dropped"]:
        assert f"{row['doc_id']} (was {row['first_rank']}, now {row['reranked_rank']};" in out
    # No blend: one score, and it says whose it is.
    assert "Order decided by the cross-encoder score;" in out
    assert "blended score" not in out


def _line(out: str, start: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(start))


@requires_model
def test_search_counts_what_the_reranker_never_saw_apart_from_dropped(
    animals_file: Path,
    tmp_path: Path,
    tiny_cross_encoder_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The reranker reorders BM25's list, which for "fly" holds the bird alone; dense and hybrid
    # put another animal in their top 2, which the reranker never saw.
    args = ["search", str(animals_file), "which animal can fly", "-k", "4", "-n", "2",
            "--rerank-input", "bm25", "--reranker", str(tiny_cross_encoder_dir),
            "--cache-dir", str(tmp_path / "c")]  # fmt: skip
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["doc_id"] for r in result["stages"]["reranked"]["ranking"]] == ["bird"]
    outsider = result["stages"]["dense"]["ranking"][1]["doc_id"]
    assert outsider != "bird"
    assert [r["doc_id"] for r in result["audits"]["dense"]["not_candidates"]] == [outsider]
    assert result["audits"]["dense"]["dropped"] == []

    assert main(args) == 0
    out = capsys.readouterr().out
    assert _line(out, "Dropped by the reranker from bm25's top 2:").endswith(": none")
    outside = _line(out, "Not a candidate of the reranker")
    assert "it reordered bm25's top 4 and never saw these; not counted as dropped" in outside
    assert f"1 of dense's top 2: {outsider} (dense #2)" in outside
    assert "dropped (now" not in out


@requires_model
def test_search_with_a_blend_shows_both_scores_and_cuts_on_the_blended_one(
    animals_file: Path,
    tmp_path: Path,
    tiny_cross_encoder_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["search", str(animals_file), "which animal can fly", "-k", "4", "-n", "2",
            "--reranker", str(tiny_cross_encoder_dir), "--blend", "0.5",
            "--cache-dir", str(tmp_path / "c")]  # fmt: skip
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    ce = {p["doc_id"]: p["score"] for p in result["rerank"]["pairs"]}
    blended = {r["doc_id"]: r["score"] for r in result["stages"]["reranked"]["ranking"]}
    assert ce != blended  # the blend changed the scores, so the two columns differ
    audit = result["audits"]["hybrid"]
    assert audit["blend"] == 0.5
    assert all(r["ce_score"] == ce[r["doc_id"]] for r in audit["rows"])

    assert main(args) == 0
    out = capsys.readouterr().out
    second = result["stages"]["reranked"]["ranking"][1]["score"]
    assert _line(out, "Order decided by the blended score (blend 0.5)").endswith(
        f"cut-off {second:.3f}: the blended score (blend 0.5) of reranked #2."
    )
    lines = out.splitlines()
    head = lines.index("Reranked top 2:") + 1
    assert [c.strip() for c in lines[head].split("  ") if c.strip()] == [
        "#",
        "doc",
        "cross-encoder score",
        "blended score (blend 0.5)",
    ]
    for line in lines[head + 1 : head + 3]:
        _rank, doc_id, ce_cell, blend_cell = line.split()
        assert float(ce_cell) == pytest.approx(ce[doc_id], abs=5e-4)
        assert float(blend_cell) == pytest.approx(blended[doc_id], abs=5e-4)
    assert audit["dropped"], "the fixture should make the blended reranker drop something"
    dropped = _line(out, "Dropped by the reranker from hybrid's top 2:")
    for row in audit["dropped"]:
        margin = audit["cutoff_score"] - blended[row["doc_id"]]
        assert (
            f"{row['doc_id']} (was {row['first_rank']}, now {row['reranked_rank']}; "
            f"cross-encoder score {ce[row['doc_id']]:.3f}, blended score (blend 0.5) "
            f"{blended[row['doc_id']]:.3f}; margin below the cut, on the blended score: "
            f"{margin:.3f})"
        ) in dropped


def test_empty_query_is_refused(animals_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", str(animals_file), "   ", "--stages", "bm25", "--reranker", "none"]) == 2
    assert "Type a query" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_app_command_serves(animals_file: Path) -> None:
    port = _free_port()
    env = {**os.environ, "RANKSHIFT_RERANKER": "none"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rankshift.cli",
            "app",
            "--port",
            str(port),
            "--collection",
            str(animals_file),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/_stcore/health", timeout=2
                ) as r:
                    assert r.read() == b"ok"
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "the app did not start within 60 s"
                time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
