"""The command line on a collection as users bring it: empty documents, judged ids the corpus
lacks, a missing queries file, the gain function, a reranker folder that does not load, and
progress written to a log instead of a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rankshift.cli import main
from rankshift.evaluation import read_trec_run
from rankshift.evaluation.metrics import GAIN_NOTE, evaluate, rank_scored

ROOT = Path(__file__).resolve().parents[2]


def write_folder(
    path: Path, empty: bool = True, queries: bool = True, extra_qrels: str = ""
) -> Path:
    """A BEIR folder of 12 documents with ids D001..D012: D004 and D008 are empty (``empty``);
    the qrels also name documents as "D1" (no zero-padding) and a query q9 with no text."""
    path.mkdir(parents=True)
    with open(path / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i in range(1, 13):
            text = "" if empty and i in (4, 8) else f"document {i} about cats, dogs and {i} birds"
            f.write(json.dumps({"_id": f"D{i:03d}", "title": f"T{i}", "text": text}) + "\n")
    if queries:
        with open(path / "queries.jsonl", "w", encoding="utf-8") as f:
            for i in range(1, 5):
                f.write(json.dumps({"_id": f"q{i}", "text": f"cats {i} birds"}) + "\n")
    (path / "qrels").mkdir()
    rows = ["query-id\tcorpus-id\tscore"]
    for i in range(1, 5):
        rows += [f"q{i}\tD{i:03d}\t2", f"q{i}\tD{i + 4:03d}\t0", f"q{i}\tD{i + 8:03d}\t1"]
    (path / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n" + extra_qrels)
    return path


UNKNOWN_DOCS = "q1\tD1\t1\nq2\tD2\t2\n"
UNKNOWN = UNKNOWN_DOCS + "q9\tD001\t1\n"


@pytest.fixture
def own(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "own", extra_qrels=UNKNOWN)


def run_eval(folder: Path, tmp_path: Path, *flags: str) -> int:
    argv = ["eval", str(folder), "--pipelines", "bm25", "--out", str(tmp_path / "out"),
            "--cache-dir", str(tmp_path / "cache"), "--resamples", "50", *flags]  # fmt: skip
    return main(argv)


def warnings(err: str) -> list[str]:
    return [line[len("rankshift: warning: ") :] for line in err.splitlines() if "warning:" in line]


def test_eval_reports_what_it_left_out_and_what_the_qrels_name(own, tmp_path, capsys):
    assert run_eval(own, tmp_path) == 0
    out, err = capsys.readouterr()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    problems = report["qrels_problems"]
    assert warnings(err) == [
        "own: 2 empty documents left out: 'D004', 'D008'",
        *problems["messages"],
    ]
    assert problems["unknown_documents"] == {
        "count": 2,
        "judgments": 2,
        "relevant": 2,
        "examples": ["D1", "D2"],
        "known": ["D001", "D002"],
    }
    assert problems["empty_documents"]["examples"] == ["D004", "D008"]
    assert problems["empty_documents"]["relevant"] == 1  # q4's D004, grade 2
    assert problems["unknown_queries"]["examples"] == ["q9"]
    assert problems["messages"][0] == (
        "split test: 2 judged document ids ('D1', 'D2') are not in the corpus (corpus ids look "
        "like 'D001', 'D002'); their 2 judgments (2 relevant) still count, as in trec_eval, "
        "lowering recall and nDCG"
    )
    assert report["collection"]["empty_documents_left_out"] == 2
    assert report["query_ids"] == ["q1", "q2", "q3", "q4"]  # q9 has no text
    assert f"{GAIN_NOTE}." in out


def test_strict_turns_the_same_text_into_an_error(tmp_path, capsys):
    # Empty documents stop the load, as they always did.
    assert run_eval(write_folder(tmp_path / "a", extra_qrels=UNKNOWN), tmp_path, "--strict") == 2
    err = capsys.readouterr().err
    assert err.strip().endswith(f"{tmp_path / 'a' / 'corpus.jsonl'}:4: empty 'text'")
    # A BEIR folder's qrels naming a query its queries.jsonl lacks stop the load, as they did.
    assert (
        run_eval(
            write_folder(tmp_path / "q", empty=False, extra_qrels=UNKNOWN), tmp_path, "--strict"
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "qrels/test.tsv:16: 1 judged query ids have no text in queries.jsonl, e.g. 'q9'"
    )
    # Judged documents the corpus lacks: the warning's text, as an error, before any work.
    folder = write_folder(tmp_path / "b", empty=False, extra_qrels=UNKNOWN_DOCS)
    assert run_eval(folder, tmp_path) == 0
    said = warnings(capsys.readouterr().err)
    assert run_eval(folder, tmp_path, "--strict", "--fresh") == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "rankshift: " + "; ".join(said) + " (strict mode)"
    assert "Building BM25 index" not in err


def test_exponential_gains_are_a_measure_of_their_own(tmp_path, capsys):
    folder = write_folder(tmp_path / "c", empty=False)
    assert run_eval(folder, tmp_path, "--measures", "nDCG@10,nDCG@10(exp),P@10") == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["measures"] == ["nDCG@10", "nDCG@10(exp)", "P@10"]
    header = next(line for line in out.splitlines() if line.startswith("pipeline"))
    assert header.split()[1:4] == ["nDCG@10", "nDCG@10(exp)", "P@10"]
    # The numbers are the library's, on the run file the command wrote.
    from rankshift.corpus import load_collection

    qrels = load_collection(folder).qrels["test"]
    run = rank_scored(read_trec_run(report["runs"]["bm25"]["path"]))
    expected = evaluate(qrels, run, ["nDCG@10", "nDCG@10(exp)"]).mean
    assert report["runs"]["bm25"]["mean"]["nDCG@10"] == pytest.approx(expected["nDCG@10"])
    assert report["runs"]["bm25"]["mean"]["nDCG@10(exp)"] == pytest.approx(expected["nDCG@10(exp)"])
    assert expected["nDCG@10"] != expected["nDCG@10(exp)"]  # grades 1 and 2: the gains differ


def test_a_beir_folder_without_queries_names_the_file(tmp_path, capsys):
    folder = write_folder(tmp_path / "d", empty=False, queries=False)
    assert run_eval(folder, tmp_path) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        f"rankshift: none of the 4 judged queries has a text: there is no queries.jsonl in "
        f"{folder} (pass --queries FILE)"
    )


def test_a_path_that_does_not_exist(tmp_path, capsys):
    assert run_eval(tmp_path / "typo", tmp_path) == 2
    assert capsys.readouterr().err.strip() == (
        f"rankshift: cannot load collection: {tmp_path / 'typo'}: no such file or folder"
    )


def test_index_warns_about_empty_documents(tmp_path, capsys):
    folder = write_folder(tmp_path / "e")
    argv = ["index", str(folder), "--stages", "bm25", "--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "own" not in err and "e: 10 documents" in err
    assert "rankshift: warning: 2 empty documents left out: 'D004', 'D008'" in err
    assert main([*argv, "--strict"]) == 2
    assert "corpus.jsonl:4: empty 'text'" in capsys.readouterr().err


def test_a_reranker_folder_that_does_not_load(tmp_path, capsys):
    folder = write_folder(tmp_path / "f", empty=False)
    model = tmp_path / "my-model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    argv = ["search", str(folder), "cats", "--stages", "bm25", "--reranker", str(model),
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    assert main(argv) == 0
    out, err = capsys.readouterr()
    said = next(line for line in out.splitlines() if line.startswith("Not reranked: "))
    assert said == (
        f"Not reranked: Cannot load reranker folder '{model}': it lacks weights and a tokenizer. "
        "Check the path; expected config.json, model.safetensors or pytorch_model.bin, "
        "tokenizer.json or vocab.txt."
    )
    assert len(said) - len(str(model)) < 200
    assert "Hugging Face" not in out and "detail" not in err

    assert main([*argv, "--verbose"]) == 0
    err = capsys.readouterr().err
    assert f"rankshift: detail: reranker '{model}' did not load: ValueError: " in err
    assert f"\n  {model} holds: config.json\n" in err


def test_progress_in_a_log_is_a_few_plain_lines(tmp_path):
    """With stderr to a pipe, each progress label prints a plain line when it starts and one
    when it ends (the interval between lines is set long here), never a carriage return."""
    folder = write_folder(tmp_path / "g", empty=False)
    env = {**os.environ, "RANKSHIFT_PROGRESS_INTERVAL": "3600"}
    cmd = [sys.executable, "-m", "rankshift.cli", "eval", str(folder), "--pipelines", "bm25",
           "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"),
           "--resamples", "50"]  # fmt: skip
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr
    lines = done.stderr.splitlines()
    for label, total in (("Building BM25 index", 12), ("Queries", 4)):
        shown = [line for line in lines if line.startswith(f"{label}: ")]
        assert len(shown) == 2, shown
        assert shown[0] == f"{label}: 0/{total} (0%)"
        assert shown[1].startswith(f"{label}: {total}/{total} (100%)")
        assert "done in" in shown[1]

    # With no interval, every update is a line: the interval is what keeps a log short.
    env["RANKSHIFT_PROGRESS_INTERVAL"] = "0"
    cmd[cmd.index("--out") + 1] = str(tmp_path / "out2")
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    queries = [line for line in done.stderr.splitlines() if line.startswith("Queries: ")]
    assert len(queries) == 5  # 0, 1, 2, 3 and 4 of 4
