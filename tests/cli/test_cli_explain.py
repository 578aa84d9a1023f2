"""`rankshift explain`: the sentence table, the best passage of a long document, the token
attributions, JSON, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inspector_fixture import DOCS, QUERY, write_collection

from rankshift.cli import main
from rankshift.explain import split_sentences


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_collection(tmp_path_factory.mktemp("explain-cli") / "coll")


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["explain", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--reranker", "--max-length", "--json", "--tokens", "doc_id"):
        assert flag in out


def test_prints_the_sentence_table_and_the_best_passage_of_a_long_document(
    collection: Path, tiny_cross_encoder_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["explain", str(collection), QUERY, "d08", "--reranker", str(tiny_cross_encoder_dir)]
    code, out, _ = run([*args, "--top", "100"], capsys)
    assert code == 0, out
    text = dict((d, t) for d, _, t in DOCS)["d08"]
    n = len(split_sentences(text))
    lines = out.splitlines()
    assert lines[0] == f"Query: {QUERY}"
    assert lines[1] == "Document d08: Vitamin D deficiency in winter"
    assert lines[3].startswith("Score ") and " pairs (" in lines[3]
    header = lines.index("rank    #      drop     alone  sentence")
    rows = lines[header + 1 : header + 1 + n]
    assert [int(r.split()[0]) for r in rows] == list(range(1, n + 1))
    drops = [float(r.split()[2]) for r in rows]
    assert drops == sorted(drops, reverse=True)
    assert any(r.endswith("[past the window]") for r in rows)  # 256 tokens do not reach the end
    assert "more sentences" not in out
    # Asked again with --top: the same scores from the pair-score cache, fewer rows.
    code, again, _ = run([*args, "--top", "5"], capsys)
    assert code == 0 and f"… {n - 5} more sentences" in again
    assert "(0 scored now, " in again.splitlines()[3]
    passage = next(line for line in lines if line.startswith("Best passage: tokens "))
    assert "windows). MaxP score" in passage


def test_json_has_every_sentence_the_passage_and_the_tokens(
    collection: Path, tiny_cross_encoder_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["explain", str(collection), "q1", "d01", "--reranker", str(tiny_cross_encoder_dir)]
    code, out, _ = run([*args, "--json", "--tokens", "--steps", "4"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["query"] == QUERY  # a query id stands for its text
    assert data["doc_id"] == "d01" and data["pairs"] == 2 * len(data["sentences"]) + 1
    assert [s["text"] for s in data["sentences"]] == [
        s.text for s in split_sentences(dict((d, t) for d, _, t in DOCS)["d01"])
    ]
    for s in data["sentences"]:
        assert s["drop"] == pytest.approx(data["full_score"] - s["without"])
    assert data["passage"]["windows"] == 1 and data["passage"]["where"] == "within the window"
    tokens = data["tokens"]
    assert tokens["reason"] is None and tokens["steps"] == 4
    assert {t["word"].lower() for t in tokens["query"]} <= set(QUERY.split())


def test_tokens_in_text_and_the_reason_on_a_backend_without_gradients(
    collection: Path, tiny_cross_encoder_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["explain", str(collection), QUERY, "d01", "--reranker", str(tiny_cross_encoder_dir)]
    code, out, _ = run([*base, "--tokens", "--steps", "4"], capsys)
    assert code == 0 and "Top query words: " in out and "Top document words: " in out
    code, out, _ = run([*base, "--tokens", "--backend", "bf16"], capsys)
    assert code == 0 and "bf16 weights give no usable gradients" in out
    assert "Top query words" not in out


def test_an_unknown_document_is_one_line_and_exit_2(
    collection: Path, tiny_cross_encoder_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["explain", str(collection), QUERY, "nope", "--reranker", str(tiny_cross_encoder_dir)]
    code, out, err = run(args, capsys)
    assert code == 2 and out == ""
    assert err == "rankshift explain: no document 'nope' in coll (12 documents)\n"
    code, _, err = run([*args[:2], "   ", "d01", *args[4:]], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
