"""`rankshift eval` and `rankshift export-training`: --help and one real run each."""

from __future__ import annotations

import json

import pytest
from eval_fixtures import write_beir_folder

from rankshift.cli import main


@pytest.fixture(scope="module")
def beir(tmp_path_factory):
    return write_beir_folder(tmp_path_factory.mktemp("beir") / "pets")


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        ("eval", ["--pipelines", "--measures", "--reranker", "--judgments", "--split", "--out"]),
        ("export-training", ["--unjudged-negatives", "--eval-split", "--eval-fraction", "--out"]),
    ],
)
def test_help(command, flags, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert all(flag in out for flag in flags)


def test_eval_runs_scores_and_resumes(beir, tiny_cross_encoder_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    argv = [
        "eval", str(beir), "--split", "test", "--pipelines", "bm25,bm25>ce",
        "--reranker", str(tiny_cross_encoder_dir), "--max-length", "128", "-k", "8", "-n", "3",
        "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--resamples", "200",
    ]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "Does the reranker help? bm25 vs bm25>ce" in printed
    assert "nDCG@10" in printed and "MRR@10" in printed and "Recall@100" in printed
    runs = sorted(p.name for p in (out / "runs").glob("*.trec"))
    assert runs == [
        "bm25(lucene,k1=1.5,b=0.75)+ce(tiny-cross-encoder,len=128,k=8).trec",
        "bm25(lucene,k1=1.5,b=0.75).trec",
    ]
    first_line = (out / "runs" / runs[1]).read_text().splitlines()[0].split()
    assert first_line[1] == "Q0" and first_line[3] == "1" and len(first_line) == 6
    report = json.loads((out / "report.json").read_text())
    assert report["qrels_source"] == "split test" and len(report["query_ids"]) == 6
    assert set(report["runs"]) == {"bm25", "bm25>ce"}
    assert report["comparisons"][0]["counts"].keys() == {"helped", "hurt", "no change"}

    assert main(argv) == 0  # a second run finds every query in the checkpoints
    assert "resumed 6 finished queries" in capsys.readouterr().err


def test_eval_rejects_an_unknown_pipeline_or_measure(beir, capsys):
    assert main(["eval", str(beir), "--pipelines", "bm25,splade"]) == 2
    assert "unknown first stage 'splade'" in capsys.readouterr().err
    assert main(["eval", str(beir), "--pipelines", "bm25", "--measures", "nDCG@10,MAP"]) == 2
    err = capsys.readouterr().err
    assert "unknown measure 'MAP'" in err and "Recall@100" in err


def test_export_training(beir, tmp_path, capsys):
    out = tmp_path / "export"
    argv = [
        "export-training", str(beir), "--split", "train", "--eval-split", "test",
        "--depth", "10", "--unjudged-negatives", "2", "--format", "jsonl,parquet",
        "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
    ]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "6 train queries, 6 eval queries" in printed
    for kind in ("pairs", "triples", "listwise"):
        for fmt in ("jsonl", "parquet"):
            assert (out / f"{kind}.train.{fmt}").exists()
    split = json.loads((out / "split.json").read_text())
    assert split["method"] == "qrels-split" and split["unjudged_negatives"] == 2
    assert not set(split["train_queries"]) & set(split["eval_queries"])
    row = json.loads((out / "triples.train.jsonl").read_text().splitlines()[0])
    assert list(row) == ["query", "positive", "negative"]


def test_eval_and_export_from_a_judgments_database(beir, tmp_path, capsys):
    from eval_fixtures import TEST_QRELS

    from rankshift.corpus import load_collection
    from rankshift.judgments import JudgmentStore

    coll = load_collection(beir)
    db = tmp_path / "judgments.sqlite"
    with JudgmentStore(db) as store:
        store.import_qrels(coll.name, TEST_QRELS, annotator="alice")
        store.save(coll.name, "t1", "bird2", "bob", 3)  # mean of 1 and 3 -> 2
    cache = str(tmp_path / "cache")
    out = tmp_path / "eval"
    argv = ["eval", str(beir), "--judgments", str(db), "--pipelines", "bm25", "--out", str(out),
            "--cache-dir", cache]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["qrels_source"] == f"judgments {db} (mean)"
    assert sorted(report["query_ids"]) == sorted(TEST_QRELS)

    export = tmp_path / "export"
    argv = ["export-training", str(beir), "--judgments", str(db), "--eval-fraction", "0.5",
            "--seed", "1", "--out", str(export), "--cache-dir", cache]  # fmt: skip
    assert main(argv) == 0
    split = json.loads((export / "split.json").read_text())
    assert split["method"] == "seeded" and len(split["eval_queries"]) == 3
    assert split["max_grade"] == 3  # the store's scale, not the highest grade seen
    capsys.readouterr()


def test_eval_first_stages_are_the_ones_search_shows(beir, bi_encoder, tmp_path, capsys):
    """`rankshift eval` and `rankshift search` retrieve through one first-stage code path: a
    query's bm25, dense and hybrid runs in eval's run files are the lists search prints."""
    from eval_fixtures import QUERIES

    from rankshift.evaluation import read_trec_run

    cache, out = str(tmp_path / "cache"), tmp_path / "eval"
    argv = ["eval", str(beir), "--split", "test", "-k", "8", "-n", "3", "--out", str(out),
            "--cache-dir", cache, "--pipelines", "bm25,dense,hybrid,hybrid(minmax,w=0.3)",
            "--measures", "P@10"]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    report = json.loads((out / "report.json").read_text())
    assert report["measures"] == ["nDCG@10", "P@10"]  # nDCG@10 always: the verdicts use it
    runs = {spec: read_trec_run(r["path"]) for spec, r in report["runs"].items()}

    def search(query_id: str, *flags: str) -> dict:
        argv = ["search", str(beir), QUERIES[query_id], "--json", "-k", "8", "-n", "3",
                "--reranker", "none", "--cache-dir", cache, *flags]  # fmt: skip
        assert main(argv) == 0
        return json.loads(capsys.readouterr().out)["stages"]

    def same(eval_ranking, search_stage) -> None:
        assert [r.doc_id for r in eval_ranking] == [r["doc_id"] for r in search_stage["ranking"]]
        assert [r.score for r in eval_ranking] == pytest.approx(
            [r["score"] for r in search_stage["ranking"]]
        )

    for query_id in ("t1", "t3"):
        stages = search(query_id)
        for spec in ("bm25", "dense", "hybrid"):
            same(runs[spec][query_id], stages[spec])
    stages = search("t2", "--stages", "hybrid", "--fusion", "minmax", "--weight", "0.3")
    assert stages["hybrid"]["name"] == "hybrid(minmax,w=0.3)"
    same(runs["hybrid(minmax,w=0.3)"]["t2"], stages["hybrid"])


def test_eval_ranks_queries_by_how_much_the_reranker_changed_them(
    beir, tiny_cross_encoder_dir, tmp_path, capsys
):
    """The shift table needs no judgments: --unjudged queries get rows, with values equal to
    shift() on the run files the command wrote."""
    from eval_fixtures import QUERIES, TEST_QRELS

    from rankshift.evaluation import read_trec_run, shift

    out = tmp_path / "eval"
    argv = [
        "eval", str(beir), "--split", "test", "--pipelines", "bm25>ce", "--unjudged",
        "--reranker", str(tiny_cross_encoder_dir), "--max-length", "128", "-k", "8", "-n", "3",
        "--rbo-p", "0.8", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
        "--resamples", "100",
    ]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "What bm25>ce changed (no judgments needed): top 3, RBO p = 0.8" in printed
    assert "Queries the reranker changed most (vs bm25; lowest RBO first):" in printed

    report = json.loads((out / "report.json").read_text())
    assert sorted(report["query_ids"]) == sorted(TEST_QRELS)  # metrics: judged queries only
    assert sorted(report["unjudged_queries"]) == sorted(q for q in QUERIES if q[0] == "r")
    section = report["shift"]["bm25>ce"]
    assert section["p"] == 0.8 and section["n"] == 3
    rows = section["queries"]
    assert {r["query_id"] for r in rows} == set(QUERIES)
    runs = {spec: read_trec_run(r["path"]) for spec, r in report["runs"].items()}
    for row in rows:
        q = row["query_id"]
        first = [r.doc_id for r in runs["bm25"][q]]
        reranked = [r.doc_id for r in runs["bm25>ce"][q]]
        s = shift(first, reranked, 3, TEST_QRELS.get(q, {}), 0.8)
        assert row["rbo"] == pytest.approx(s.rbo)
        assert row["jaccard"] == pytest.approx(s.jaccard)
        assert row["unjudged_moved_in"] == s.unjudged_moved_in
        assert row["judged"] == (q in TEST_QRELS)

    # The printed table: the ten most changed queries, in the report's order, with their text.
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if "changed most" in line) + 1
    assert lines[start].split() == ["query", "text", "RBO", "Jaccard", "tau_AP", "unjudged",
                                    "moved", "in"]  # fmt: skip
    table = lines[start + 1 : start + 11]
    assert [line.split()[0] for line in table] == [r["query_id"] for r in rows[:10]]
    for line, row in zip(table, rows[:10], strict=True):
        assert QUERIES[row["query_id"]][:15] in line
        assert f"{row['rbo']:.3f}" in line
        cells = line.replace("(not judged)", "").split()
        assert cells[-1] == str(row["unjudged_moved_in"])


def test_eval_query_ids_may_name_unjudged_queries(beir, tmp_path, capsys):
    out = tmp_path / "eval"
    argv = ["eval", str(beir), "--split", "test", "--pipelines", "bm25", "--query-ids",
            "t1,r2", "--out", str(out), "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    assert main(argv) == 0
    assert "1 of the query ids have no judgments (e.g. 'r2')" in capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["query_ids"] == ["t1"] and report["unjudged_queries"] == ["r2"]

    only_unjudged = ["eval", str(beir), "--split", "test", "--query-ids", "r2", "--out", str(out)]
    assert main(only_unjudged) == 2
    assert "none of the --query-ids is judged" in capsys.readouterr().err
    assert main([*argv, "--rbo-p", "1"]) == 2
    assert "--rbo-p must be between 0 and 1" in capsys.readouterr().err


def test_eval_takes_the_backend_like_every_command_that_reranks(tmp_path) -> None:
    from rankshift.cli import build_parser
    from rankshift.cli.eval import _reranker

    args = build_parser().parse_args(
        ["eval", "data/demo", "--reranker", str(tmp_path), "--backend", "bf16"]
    )
    assert _reranker(args) == f"bf16:{tmp_path}"
    args = build_parser().parse_args(["eval", "data/demo", "--reranker", "tei:http://h:1"])
    assert _reranker(args) == "tei:http://h:1"
