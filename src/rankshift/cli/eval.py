"""``rankshift eval`` and ``rankshift export-training``.

Hooked into the main parser by :func:`add_eval_commands`. Heavy modules (pandas, scipy,
ir_measures, the models) are imported inside the commands, so ``rankshift --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rankshift import config
from rankshift.cli.options import add_reranker_options, chosen_reranker, reranker_spec
from rankshift.retrievers.hybrid import FUSIONS

if TYPE_CHECKING:
    from rankshift.corpus import Collection
    from rankshift.types import Qrels, Query

AGGREGATES = ("mean", "majority", "min", "max")


def _reranker(args: argparse.Namespace) -> str | None:
    """``--reranker`` (or the preferred one) with ``--backend`` applied; None: turned off."""
    spec = chosen_reranker(args)
    return None if spec is None else str(reranker_spec(args, spec))


def _add_qrels_source(p: argparse.ArgumentParser, default_split: str) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--qrels", default=None, help="a qrels file (TREC 'qid iter docid rel' or BEIR TSV)"
    )
    g.add_argument(
        "--split",
        default=None,
        help=f"a qrels split of a BEIR folder, qrels/<split>.tsv (default: {default_split})",
    )
    g.add_argument(
        "--judgments",
        default=None,
        metavar="DB",
        help="a rankshift judgments database (SQLite); grades of several annotators are combined",
    )
    p.add_argument(
        "--aggregate",
        choices=AGGREGATES,
        default="mean",
        help="with --judgments: how several annotators' grades of one pair become one (default mean)",
    )


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "collection",
        help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/) or a .jsonl/.csv/.tsv corpus file",
    )
    p.add_argument("--queries", default=None, help="a queries file (JSONL or id<TAB>text TSV)")
    p.add_argument(
        "--cache-dir",
        default=None,
        help="indexes and pair scores (default $RANKSHIFT_CACHE or ~/.cache/rankshift)",
    )
    p.add_argument(
        "--bi-encoder", default=config.DEFAULT_BI_ENCODER, help="bi-encoder id or folder"
    )
    p.add_argument("--dense-index", choices=["flat", "hnsw"], default="flat")
    p.add_argument(
        "--fusion",
        choices=list(FUSIONS),
        default="rrf",
        help="fusion of a plain 'hybrid' pipeline (default rrf)",
    )
    p.add_argument(
        "--weight",
        type=float,
        default=config.DEFAULT_FUSION_WEIGHT,
        help="dense weight of minmax/zscore fusion",
    )
    p.add_argument("--rrf-k", type=int, default=config.DEFAULT_RRF_K)
    p.add_argument(
        "--verbose",
        action="store_true",
        help="show the details behind a one-line message (e.g. why a model folder did not load)",
    )


def add_eval_commands(subparsers: Any) -> None:
    """Add ``eval`` and ``export-training`` to the ``rankshift`` subcommands."""
    from rankshift.evaluation.metrics import DEFAULT_MEASURES, GAIN_MEASURES, MEASURES
    from rankshift.evaluation.shift import DEFAULT_P
    from rankshift.evaluation.specs import ALL_PIPELINES, pipeline_help

    p = subparsers.add_parser(
        "eval",
        help="run a query set through every pipeline, score the runs, and audit the reranker",
        description=(
            "Runs every query with judgments through each pipeline, writes the runs as TREC "
            "files and a JSON report, and prints the metrics (nDCG@10 with linear graded gains, "
            "gain = grade, as trec_eval and BEIR; MRR@10, Recall@100 and P@10 with relevant = "
            "grade >= 1; Judged@10) with, for each reranked pipeline, the paired comparison "
            "against its first stage, and how much the reranker changed each query's list "
            "(RBO, Jaccard, Kendall's tau, tau_AP, unjudged documents moved into the top-N: no "
            "judgments needed, so --unjudged queries get them too). Judged ids the collection "
            "lacks are reported (--strict: an error). An interrupted run resumes from its "
            "checkpoints in --out."
        ),
    )
    _add_common(p)
    _add_qrels_source(p, "test")
    p.add_argument(
        "--pipelines",
        default=ALL_PIPELINES,
        help=pipeline_help() + " (the default)",
    )
    p.add_argument(
        "--measures",
        default=",".join(DEFAULT_MEASURES),
        help=f"comma-separated measures, from {', '.join(MEASURES)} (default: "
        f"{','.join(DEFAULT_MEASURES)}; nDCG@10 is always included, as the verdicts use it). "
        f"{', '.join(GAIN_MEASURES)} is nDCG with exponential gains (2^grade - 1); quote it "
        "in a shell, e.g. --measures 'nDCG@10,nDCG@10(exp)'",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="stop on an empty document, or on judged document or query ids the collection "
        "lacks (by default empty documents are left out and unknown ids reported)",
    )
    add_reranker_options(p)
    p.add_argument(
        "--blend",
        type=float,
        default=0.0,
        help="weight of the first-stage score in '>ce' pipelines without their own blend= "
        "(default 0: the reranker alone)",
    )
    p.add_argument(
        "-k",
        type=int,
        default=config.DEFAULT_K,
        help="candidates per first stage and reranked (default 100)",
    )
    p.add_argument(
        "-n", type=int, default=config.DEFAULT_N, help="top-N cut of the verdicts (default 10)"
    )
    p.add_argument(
        "--out", default=None, help="output folder (default ./rankshift-eval/<collection>)"
    )
    p.add_argument(
        "--limit", type=int, default=None, help="only the first N queries (in qrels order)"
    )
    p.add_argument(
        "--query-ids",
        default=None,
        help="only these comma-separated query ids (ids without judgments get shift rows only)",
    )
    p.add_argument(
        "--unjudged",
        action="store_true",
        help="also run the collection's queries that have no judgments: they get the shift "
        "rows (where the reranker moved unjudged documents into the top-N: where to judge "
        "next), not metrics",
    )
    p.add_argument(
        "--rbo-p",
        type=float,
        default=DEFAULT_P,
        help=f"persistence of rank-biased overlap in the shift tables (default {DEFAULT_P:g}: "
        "about 86%% of the weight on the top 10)",
    )
    p.add_argument("--fresh", action="store_true", help="ignore checkpoints; run every query again")
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="rerank in Ray actors: on the cluster at ADDRESS (HOST:PORT, auto, ray://...) or, "
        "without one, on a local Ray instance (127.0.0.1 only); first stages, checkpoints, runs "
        "and the report stay here and are the same as without --ray (needs rankshift[ray])",
    )
    p.add_argument(
        "--ray-workers",
        type=int,
        default=None,
        metavar="N",
        help="reranking actors with --ray (default: one per GPU of the cluster, else one per "
        "machine using all its CPUs, which keeps scores identical to a run without --ray)",
    )
    p.add_argument(
        "--tradeoff",
        nargs="?",
        const="bm25",
        default=None,
        metavar="STAGE",
        help="also measure nDCG@10 and rerank time as K varies, reranking STAGE (default bm25)",
    )
    p.add_argument("--tradeoff-ks", default="10,20,50,100,200", help="K values of --tradeoff")
    p.add_argument("--latency-queries", type=int, default=10, help="queries timed cold per K")
    p.add_argument(
        "--resamples", type=int, default=10_000, help="randomisation/bootstrap resamples"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    p.set_defaults(func=cmd_eval)

    p = subparsers.add_parser(
        "export-training",
        help="export cross-encoder training data (pairs, triples, lists) from judgments",
        description=(
            "Writes labelled pairs, (query, positive, hard negative) triples and per-query "
            "lists for sentence-transformers' CrossEncoder losses, split by query so that no "
            "evaluation query is in the training files. See docs/training-data.md."
        ),
    )
    _add_common(p)
    _add_qrels_source(p, "train")
    p.add_argument("--out", required=True, help="output folder")
    side = p.add_mutually_exclusive_group()
    side.add_argument(
        "--eval-split",
        default=None,
        help="evaluate on this qrels split of the collection (its queries are removed from train)",
    )
    side.add_argument(
        "--eval-fraction",
        type=float,
        default=0.2,
        help="otherwise: a seeded query-level split with this share of queries for eval (default 0.2)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the query-level split")
    p.add_argument(
        "--first-stage",
        default="bm25",
        help="where hard negatives come from: bm25, dense, hybrid(rrf)... (default bm25)",
    )
    p.add_argument(
        "--depth", type=int, default=30, help="first-stage candidates searched for negatives"
    )
    p.add_argument(
        "--unjudged-negatives",
        type=int,
        default=0,
        metavar="N",
        help="also use each query's N highest-ranked unjudged candidates as negatives",
    )
    p.add_argument("--negatives-per-positive", type=int, default=5)
    p.add_argument(
        "--max-grade", type=int, default=None, help="top of the grade scale (label = grade / max)"
    )
    p.add_argument("--format", default="jsonl", help="jsonl, parquet or jsonl,parquet")
    p.set_defaults(func=cmd_export_training)


# --------------------------------------------------------------------------------------


def _collection(args: argparse.Namespace) -> Collection:
    from rankshift.corpus import load_collection

    strict = getattr(args, "strict", False)
    coll = load_collection(args.collection, queries=args.queries, strict=strict)
    note = coll.left_out_note()
    if note:
        print(f"rankshift: warning: {coll.name}: {note}", file=sys.stderr)
    return coll


def _no_text(coll: Collection, qrels: Qrels) -> str:
    from rankshift.evaluation.metrics import no_query_text

    return f"{no_query_text(coll, qrels)} (pass --queries FILE)"


def _qrels(
    args: argparse.Namespace, coll: Collection, default_split: str
) -> tuple[Qrels, str, int | None]:
    """The qrels, a description of where they came from, and the grade scale's top if known."""
    from rankshift.corpus import load_qrels

    if args.qrels:
        return load_qrels(args.qrels), f"qrels {args.qrels}", None
    if args.judgments:
        from rankshift.judgments import JudgmentStore

        if not Path(args.judgments).exists():
            raise ValueError(f"no judgments database at {args.judgments}")
        with JudgmentStore(args.judgments) as store:
            qrels = store.collection_qrels(coll, aggregate=args.aggregate)
            top = max(store.scale.grades)
        if not qrels:
            raise ValueError(f"{args.judgments} has no judgments for the collection {coll.name!r}")
        return qrels, f"judgments {args.judgments} ({args.aggregate})", top
    split = args.split
    if split is None:
        if default_split in coll.qrels:
            split = default_split
        elif len(coll.qrels) == 1:
            split = next(iter(coll.qrels))
        else:
            have = ", ".join(coll.qrels) or "none"
            raise ValueError(
                f"choose the judgments with --split (splits: {have}), --qrels or --judgments"
            )
    if split not in coll.qrels:
        have = ", ".join(coll.qrels) or "none"
        raise ValueError(f"no qrels split {split!r} in {args.collection} (splits: {have})")
    return coll.qrels[split], f"split {split}", None


def _query_set(coll: Collection, qrels: Qrels, args: argparse.Namespace) -> dict[str, Query]:
    """Judged queries (``--unjudged``: then the others), or ``--query-ids``; ``--limit``."""
    wanted = list(qrels)
    if getattr(args, "unjudged", False):
        wanted += [q for q in coll.queries if q not in qrels]
    if args.query_ids:
        ids = [q.strip() for q in args.query_ids.split(",") if q.strip()]
        unknown = [q for q in ids if q not in qrels and q not in coll.queries]
        if unknown:
            raise ValueError(
                f"{len(unknown)} query ids are neither judged nor in the collection's queries, "
                f"e.g. {unknown[0]!r}"
            )
        unjudged = [q for q in ids if q not in qrels]
        if unjudged:
            print(
                f"rankshift: {len(unjudged)} of the query ids have no judgments (e.g. "
                f"{unjudged[0]!r}): they get shift rows, not metrics",
                file=sys.stderr,
            )
        wanted = ids
    # Judged queries without a text were reported with the other unknown ids.
    if not any(q in coll.queries for q in wanted if q in qrels):
        if args.query_ids and any(q in coll.queries for q in wanted):
            raise ValueError("none of the --query-ids is judged: the metrics need at least one")
        raise ValueError(_no_text(coll, qrels))
    queries = {q: coll.queries[q] for q in wanted if q in coll.queries}
    if args.limit is not None:
        queries = dict(list(queries.items())[: max(0, args.limit)])
    return queries


def _measures(text: str) -> list[str]:
    """``--measures``: names from the :data:`~rankshift.evaluation.metrics.MEASURES` registry."""
    from rankshift.evaluation.metrics import MEASURES

    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in MEASURES]
    if unknown or not names:
        raise ValueError(
            f"unknown measure {unknown[0] if unknown else text!r}; choose from {', '.join(MEASURES)}"
        )
    return names


def _progress() -> Any:
    from rankshift.cli.options import tqdm_progress

    return tqdm_progress()


def _ray_executor(args: argparse.Namespace) -> Any:
    """The ``--ray`` executor, or None to run in process."""
    if args.ray is None:
        if args.ray_workers is not None:
            raise ValueError("--ray-workers needs --ray")
        return None
    if args.ray_workers is not None and args.ray_workers < 1:
        raise ValueError("--ray-workers must be at least 1")
    from rankshift.evaluation.distributed import RayExecutor

    return RayExecutor(
        address=args.ray or None,
        workers=args.ray_workers,
        log=lambda line: print(f"rankshift: {line}", file=sys.stderr),
    )


def cmd_eval(args: argparse.Namespace) -> int:
    from rankshift.evaluation import BatchRunner, build_report, parse_pipelines, tradeoff
    from rankshift.evaluation.metrics import check_qrels
    from rankshift.pipeline import PipelineSettings

    t0 = time.perf_counter()
    specs = parse_pipelines(args.pipelines)  # fail on a typo before loading anything
    measures = _measures(args.measures)
    executor = _ray_executor(args)
    coll = _collection(args)
    qrels, source, _ = _qrels(args, coll, "test")
    problems = check_qrels(qrels, coll, source)
    for message in problems.messages():
        print(f"rankshift: warning: {message}", file=sys.stderr)
    problems.raise_if(args.strict)
    queries = _query_set(coll, qrels, args)
    if args.k < 1:
        raise ValueError("-k must be at least 1")
    if not 0 < args.rbo_p < 1:
        raise ValueError(f"--rbo-p must be between 0 and 1 (exclusive), got {args.rbo_p:g}")
    settings = PipelineSettings(
        k=args.k,
        n=min(args.n, args.k),
        bi_encoder=args.bi_encoder,
        reranker=_reranker(args) if any(s.rerank for s in specs) else None,
        max_length=args.max_length,
        fusion=args.fusion,
        fusion_weight=args.weight,
        rrf_k=args.rrf_k,
        dense_index=args.dense_index,
        blend=args.blend,
    )
    out = Path(args.out) if args.out else Path("rankshift-eval") / coll.name
    print(
        f"{coll.name}: {len(coll)} documents, {len(queries)} queries ({source}); "
        f"pipelines {', '.join(map(str, specs))}; output {out}",
        file=sys.stderr,
    )
    load_s = time.perf_counter() - t0
    t = time.perf_counter()
    runner = BatchRunner.from_settings(
        coll, specs, settings, cache_dir=args.cache_dir, progress=_progress()
    )
    index_s = time.perf_counter() - t
    if any(s.rerank for s in runner.specs) and runner.reranker is None:
        error = runner.pipeline.reranker_error or ""
        more = " (--verbose for details)" if error.startswith("Cannot load") else ""
        print(
            f"rankshift: reranked pipelines skipped: {error}{more if not args.verbose else ''}",
            file=sys.stderr,
        )
    # An UnknownDocumentError (indexes or runs from another corpus) reaches main(), which
    # reports it in one line like every other command.
    result = runner.run(
        queries, out_dir=out, progress=_progress(), resume=not args.fresh, executor=executor
    )
    if executor is not None and executor.lost_workers:
        lost, resent = executor.lost_workers, executor.resent_queries
        print(
            f"rankshift: ray: {lost} worker{' was' if lost == 1 else 's were'} lost and "
            f"replaced; {resent} quer{'y was' if resent == 1 else 'ies were'} sent again",
            file=sys.stderr,
        )
    if result.resumed_queries:
        print(
            f"rankshift: resumed {result.resumed_queries} finished queries from {out / 'checkpoints'}",
            file=sys.stderr,
        )
    for spec, failed in result.unfinished.items():
        print(
            f"rankshift: {spec}: the reranker failed on {len(failed)} queries (first-stage "
            f"order kept, e.g. {failed[0]!r}); they are not checkpointed, so running this "
            "command again reranks them",
            file=sys.stderr,
        )
    trade = None
    trade_s = 0.0
    if args.tradeoff:
        if runner.reranker is None:
            print("rankshift: --tradeoff needs the reranker; skipped", file=sys.stderr)
        else:
            t = time.perf_counter()
            key = args.tradeoff
            if key not in runner.stages:
                runner = BatchRunner(runner.pipeline, [*runner.specs, key])
            ks = [int(x) for x in args.tradeoff_ks.split(",") if x.strip()]
            judged = {q: query for q, query in queries.items() if q in qrels}
            trade = tradeoff(
                runner, judged, qrels, key, ks, args.latency_queries, progress=_progress()
            )
            trade_s = time.perf_counter() - t
    t = time.perf_counter()
    report = build_report(
        result,
        qrels,
        collection=coll,
        qrels_source=source,
        measures=measures,
        n_resamples=args.resamples,
        seed=args.seed,
        tradeoff=trade,
        qrels_problems=problems,
        rbo_p=args.rbo_p,
    )
    report.timing.update(
        load_s=load_s,
        index_s=index_s,
        tradeoff_s=trade_s,
        report_s=time.perf_counter() - t,
        total_s=time.perf_counter() - t0,
    )
    path = report.write_json(out / "report.json")
    if args.json:
        import json

        json.dump(report.to_dict(), sys.stdout, indent=2)
        print()
    else:
        print(report.format({q: query.text for q, query in queries.items()}))
        print()
        print(f"Runs in {out / 'runs'}; report {path}")
        tm = report.timing
        print(
            f"Wall time {tm['total_s']:.1f} s (load {tm['load_s']:.1f}, indexes and models "
            f"{tm['index_s']:.1f}, queries {tm['batch_s']:.1f}, report {tm['report_s']:.1f}"
            + (f", trade-off {trade_s:.1f}" if trade else "")
            + ")"
        )
    return 0


def cmd_export_training(args: argparse.Namespace) -> int:
    from rankshift.evaluation import BatchRunner, parse_pipeline
    from rankshift.pipeline import PipelineSettings
    from rankshift.training.data import (
        export_training_data,
        first_stage_candidates,
        split_by_qrels,
        split_seeded,
    )

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in ("jsonl", "parquet")]
    if bad or not formats:
        raise ValueError(f"--format takes jsonl and/or parquet, got {args.format!r}")
    if args.depth < 1:
        raise ValueError("--depth must be at least 1")
    spec = parse_pipeline(args.first_stage)
    if spec.rerank:
        raise ValueError("--first-stage takes a first stage (no '>ce')")
    coll = _collection(args)
    train_qrels, source, top = _qrels(args, coll, "train")
    if args.eval_split:
        if args.eval_split not in coll.qrels:
            raise ValueError(f"no qrels split {args.eval_split!r} in {args.collection}")
        eval_qrels = coll.qrels[args.eval_split]
        split = split_by_qrels(train_qrels, eval_qrels)
        how = f"train on {source}, evaluate on split {args.eval_split}"
    else:
        eval_qrels = train_qrels
        split = split_seeded(train_qrels, args.eval_fraction, args.seed)
        how = f"{source}, seeded query split ({args.eval_fraction:g} eval, seed {args.seed})"
    wanted = [q for q in (*split.train, *split.eval) if q in coll.queries]
    if not wanted:
        raise ValueError(_no_text(coll, train_qrels))
    queries = {q: coll.queries[q] for q in wanted}
    settings = PipelineSettings(
        k=args.depth,
        n=min(config.DEFAULT_N, args.depth),
        bi_encoder=args.bi_encoder,
        reranker=None,
        fusion=args.fusion,
        fusion_weight=args.weight,
        rrf_k=args.rrf_k,
        dense_index=args.dense_index,
    )
    runner = BatchRunner.from_settings(
        coll, [spec], settings, cache_dir=args.cache_dir, progress=_progress()
    )
    retriever = runner.stages[spec.stage_key]
    candidates = first_stage_candidates(retriever, queries, args.depth, progress=_progress())
    result = export_training_data(
        coll,
        split,
        train_qrels,
        eval_qrels,
        candidates,
        args.out,
        formats=formats,  # type: ignore[arg-type]
        max_grade=args.max_grade or top,
        unjudged_negatives=args.unjudged_negatives,
        negatives_per_positive=args.negatives_per_positive,
        source=f"{how}; negatives from {retriever.name} top {args.depth}",
    )
    print(f"{coll.name}: {how}")
    print(
        f"  {len(split.train)} train queries, {len(split.eval)} eval queries"
        + (
            f" ({len(split.removed_from_train)} judged in both kept for eval only)"
            if split.removed_from_train
            else ""
        )
    )
    for side in ("train", "eval"):
        c = result.counts
        print(
            f"  {side:5s}: {c[f'pairs.{side}']} pairs, {c[f'triples.{side}']} triples, "
            f"{c[f'listwise.{side}']} lists"
        )
    if not result.counts["triples.train"]:
        print(
            "  no training triples: no first-stage candidate is judged not relevant; "
            "try --unjudged-negatives 5",
        )
    for name in sorted(result.files):
        print(f"  wrote {result.files[name]}")
    print(f"  split and settings: {Path(args.out) / 'split.json'}")
    return 0
