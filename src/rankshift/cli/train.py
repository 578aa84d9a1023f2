"""``rankshift train``: fine-tune a cross-encoder reranker from judgments."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from rankshift import config

if TYPE_CHECKING:
    pass


def add_train_command(subparsers: Any) -> None:
    from rankshift.training.train import HEADS, LOSSES, TrainConfig

    d = TrainConfig()
    p = subparsers.add_parser(
        "train",
        help="fine-tune a cross-encoder reranker from qrels and stored judgments",
        description=(
            "Builds (query, judged documents + hard negatives) lists from the judgments, with "
            "hard negatives mined from the BM25, dense and hybrid candidates; fine-tunes a "
            "cross-encoder; evaluates first stage / base model / trained model on held-out "
            "queries; saves a sentence-transformers CrossEncoder folder with a model card. "
            "Run it again with the same --out to resume from the last checkpoint."
        ),
    )
    p.add_argument("collection", help="a BEIR folder or a corpus file")
    p.add_argument(
        "--judgments",
        action="append",
        default=[],
        metavar="PATH",
        help="a judgments database (.sqlite/.db) or a qrels file; repeat to combine "
        "(stored labels override qrels for the same pair)",
    )
    p.add_argument(
        "--split",
        action="append",
        default=[],
        help="a qrels split of the collection to train on (default: train, when no --judgments)",
    )
    p.add_argument(
        "--exclude-split",
        action="append",
        default=None,
        help="never train on the queries of this split (default: test, when the collection has it)",
    )
    p.add_argument("--aggregate", choices=("mean", "majority", "min", "max"), default="mean")
    p.add_argument("--out", default=None, help="model folder (default: <cache>/models/<name>)")
    p.add_argument("--base-model", default=d.base_model, help=f"default {d.base_model}")
    p.add_argument("--loss", choices=list(LOSSES), default=d.loss, help="default %(default)s")
    p.add_argument(
        "--head",
        choices=list(HEADS),
        default=d.head,
        help="how the score is read off the encoder: "
        + "; ".join(f"{k}: {v}" for k, v in HEADS.items())
        + " (default %(default)s)",
    )
    p.add_argument("--epochs", type=float, default=d.epochs)
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.learning_rate)
    p.add_argument("--max-length", type=int, default=d.max_length)
    p.add_argument("--unjudged-negatives", type=int, default=d.unjudged_negatives)
    p.add_argument("--validation-fraction", type=float, default=d.validation_fraction)
    p.add_argument(
        "--rerank-k",
        type=int,
        default=d.rerank_k,
        help="validation reranks the top-K of --validation-stage (default %(default)s)",
    )
    p.add_argument(
        "--validation-stage",
        default=d.rerank_input,
        help="first stage whose top-K validation reranks: bm25, dense, hybrid or a hybrid spec "
        "such as 'hybrid(zscore,w=0.5)'; validate on the pipeline you will run (default "
        "%(default)s)",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--save-steps", type=int, default=d.save_steps)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--no-resume", action="store_true", help="ignore existing checkpoints")
    p.add_argument("--cache-dir", default=None)
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from rankshift.cli.options import tqdm_progress
    from rankshift.corpus import load_collection
    from rankshift.training.sources import gather_qrels
    from rankshift.training.train import TrainConfig, train_reranker

    coll = load_collection(args.collection)
    splits = args.split or ([] if args.judgments else ["train"])
    qrels, sources = gather_qrels(coll, args.judgments, splits, args.aggregate)
    excluded_splits = args.exclude_split
    if excluded_splits is None:
        excluded_splits = ["test"] if "test" in coll.qrels and "test" not in splits else []
    exclude = {q for s in excluded_splits for q in coll.qrels.get(s, {})}
    cfg = TrainConfig(
        base_model=args.base_model,
        loss=args.loss,
        head=args.head,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        max_length=args.max_length,
        unjudged_negatives=args.unjudged_negatives,
        validation_fraction=args.validation_fraction,
        rerank_k=args.rerank_k,
        rerank_input=args.validation_stage,
        seed=args.seed,
        save_steps=args.save_steps,
        device=args.device,
    )
    print(f"Training on {', '.join(sources)}", file=sys.stderr)
    if exclude:
        print(
            f"Excluding {len(exclude)} queries of split(s) {', '.join(excluded_splits)} from training",
            file=sys.stderr,
        )
    result = train_reranker(
        coll,
        qrels,
        args.out,
        cfg,
        cache=args.cache_dir or config.cache_dir(),
        progress=tqdm_progress(),
        resume=not args.no_resume,
        exclude_queries=sorted(exclude),
    )
    print(result.summary())
    print(
        f'\nUse it: rankshift search {args.collection} "your query" --reranker {result.output_dir}'
    )
    return 0
