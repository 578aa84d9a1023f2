"""The ``rankshift`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rankshift import config
from rankshift.corpus import Collection, CollectionLoadError, load_collection
from rankshift.pipeline import FIRST_STAGES, EmptyQueryError, Pipeline, PipelineSettings
from rankshift.retrievers.hybrid import FUSIONS
from rankshift.types import PipelineResult


def _quiet_libraries() -> None:
    # Model libraries log load reports and offline-mode notices at INFO/WARNING; on the command
    # line they bury the one line the user needs.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    for name in ("sentence_transformers", "transformers", "huggingface_hub", "bm25s"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        # Both libraries reset their own loggers when imported, so set them through their API.
        from huggingface_hub.utils import logging as hub_logging
        from transformers.utils import logging as tf_logging

        hub_logging.set_verbosity_error()
        tf_logging.set_verbosity_error()
        tf_logging.disable_progress_bar()
    except ImportError:
        pass


def _stages(value: str) -> tuple[str, ...]:
    stages = tuple(s.strip() for s in value.split(",") if s.strip())
    unknown = [s for s in stages if s not in FIRST_STAGES]
    if unknown or not stages:
        raise argparse.ArgumentTypeError(
            f"unknown first stage {unknown[0] if unknown else value!r}; choose from {', '.join(FIRST_STAGES)}"
        )
    return stages


def _add_collection(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "collection",
        help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/) or a .jsonl/.csv/.tsv corpus file",
    )
    p.add_argument(
        "--cache-dir",
        default=None,
        help="where indexes and pair scores are kept (default $RANKSHIFT_CACHE or ~/.cache/rankshift)",
    )


def _add_pipeline_options(p: argparse.ArgumentParser, with_rerank: bool = True) -> None:
    p.add_argument(
        "--stages",
        type=_stages,
        default=("bm25", "dense", "hybrid"),
        help="comma-separated first stages to run: bm25, dense, hybrid (default: all three)",
    )
    p.add_argument(
        "--bi-encoder",
        default=config.DEFAULT_BI_ENCODER,
        help=f"bi-encoder id or folder (default {config.DEFAULT_BI_ENCODER})",
    )
    p.add_argument("--dense-index", choices=["flat", "hnsw"], default="flat")
    p.add_argument("--fusion", choices=list(FUSIONS), default="rrf", help="hybrid fusion method")
    p.add_argument(
        "--weight",
        type=float,
        default=config.DEFAULT_FUSION_WEIGHT,
        help="dense weight for minmax/zscore fusion (0 = BM25 only, 1 = dense only)",
    )
    p.add_argument("--rrf-k", type=int, default=config.DEFAULT_RRF_K)
    if not with_rerank:
        return
    p.add_argument(
        "--reranker",
        default=None,
        help=(
            f"cross-encoder id or folder, or 'none' (default $RANKSHIFT_RERANKER, else "
            f"{config.DEFAULT_RERANKER} when it can be had, else the demo reranker if trained)"
        ),
    )
    p.add_argument(
        "--blend",
        type=float,
        default=0.0,
        help=(
            "weight of the first-stage score mixed into the reranked order, 0-1 (default 0: "
            "the reranker alone); `rankshift train` reports the best weight on its validation"
        ),
    )
    p.add_argument(
        "--rerank-input",
        choices=list(FIRST_STAGES),
        default=None,
        help="which first stage the reranker reorders (default: hybrid if run, else the first)",
    )
    p.add_argument(
        "-k", type=int, default=config.DEFAULT_K, help="candidates reranked (default 100)"
    )
    p.add_argument("-n", type=int, default=config.DEFAULT_N, help="results shown (default 10)")
    p.add_argument(
        "--max-length",
        type=int,
        default=config.DEFAULT_MAX_LENGTH,
        help="cross-encoder input length in tokens (default 256)",
    )


def _settings(args: argparse.Namespace) -> PipelineSettings:
    stages = tuple(args.stages)
    rerank_input = getattr(args, "rerank_input", None) or (
        "hybrid" if "hybrid" in stages else stages[0]
    )
    reranker = chosen_reranker(args) if hasattr(args, "reranker") else None
    k = getattr(args, "k", config.DEFAULT_K)
    n = getattr(args, "n", config.DEFAULT_N)
    return PipelineSettings(
        first_stages=stages,
        rerank_input=rerank_input,
        k=k,
        n=min(n, k),
        bi_encoder=args.bi_encoder,
        reranker=None if reranker in (None, "none", "") else reranker,
        max_length=getattr(args, "max_length", config.DEFAULT_MAX_LENGTH),
        fusion=args.fusion,
        fusion_weight=args.weight,
        rrf_k=args.rrf_k,
        dense_index=args.dense_index,
        blend=getattr(args, "blend", 0.0),
    )


def chosen_reranker(args: argparse.Namespace) -> str | None:
    """``--reranker`` as given (``none``: None), or the preferred one, saying why on stderr."""
    if args.reranker is not None:
        return None if args.reranker in ("", "none") else args.reranker
    model, why = config.preferred_reranker()
    if model != config.DEFAULT_RERANKER or "not available" in why:
        print(f"Reranker: {model} ({why})", file=sys.stderr)
    return model


def _load(path: str) -> Collection:
    return load_collection(path)


def _tqdm_progress() -> Any:
    from tqdm.auto import tqdm

    bars: dict[str, Any] = {}

    def progress(label: str, done: int, total: int) -> None:
        if total <= 0:
            return
        bar = bars.get(label)
        if bar is None:
            bar = bars[label] = tqdm(
                total=total,
                desc=label,
                unit={"Reranking": "pair", "Training": "step"}.get(label, "it"),
                leave=False,
                file=sys.stderr,
            )
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
            bars.pop(label, None)

    return progress


# --------------------------------------------------------------------------------------
# Commands


def cmd_index(args: argparse.Namespace) -> int:
    coll = _load(args.collection)
    settings = _settings(args).with_(reranker=None)
    print(f"{coll.name}: {len(coll)} documents, fingerprint {coll.fingerprint}", file=sys.stderr)
    pipe = Pipeline.from_settings(coll, settings, cache_dir=args.cache_dir, show_progress=True)
    cdir = config.cache_dir(args.cache_dir)
    for key, retriever in pipe.retrievers.items():
        print(f"  {key:7s} {retriever.name}")
    print(f"Indexes are cached under {cdir / 'indexes' / coll.fingerprint}")
    return 0


def _cell(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_side_by_side(
    result: PipelineResult, collection: Collection, n: int, width: int = 120
) -> str:
    """The rankings of every stage in columns, the reranked column with rank-shift markers."""
    keys = list(result.stages)
    col = max(18, (width - 4) // len(keys) - 2)
    reranked = result.stages.get("reranked")
    input_key = result.settings.get("rerank_input")
    audit = result.audits.get(input_key) if input_key else None
    markers = {row.doc_id: row.marker for row in audit.rows} if audit else {}
    header = ["#  "] + [k.ljust(col) for k in keys]
    lines = [f"{k:>9s}: {result.stages[k].name}" for k in keys]
    lines += ["", "  ".join(header), "  ".join(["---"] + ["-" * col] * len(keys))]
    for i in range(n):
        cells = [f"{i + 1:<3d}"]
        for k in keys:
            ranking = result.stages[k].ranking
            if i >= len(ranking):
                cells.append(" " * col)
                continue
            row = ranking[i]
            doc = collection.documents[row.doc_id]
            prefix = f"{row.doc_id} "
            if k == "reranked" and markers:
                prefix = f"{markers.get(row.doc_id, '')} {row.doc_id} "
            cells.append(_cell(prefix + (doc.title or doc.text), col).ljust(col))
        lines.append("  ".join(cells))
    if reranked is not None and result.rerank is not None and result.rerank.reranked and audit:
        lines.append("")
        tau = f"{audit.kendall_tau:.2f}" if audit.kendall_tau is not None else "n/a"
        lines.append(
            f"Reranked {result.rerank.k} candidates of {input_key} with {result.rerank.model_id} "
            f"(revision {result.rerank.revision}, max_length {result.rerank.max_length}) in "
            f"{result.rerank.ms:.0f} ms; {result.rerank.cached_pairs} pair scores from cache; "
            f"Kendall's tau vs {input_key}: {tau}"
        )
        if audit.dropped:
            lines.append(
                f"Dropped from {input_key}'s top {n}: "
                + ", ".join(
                    f"{r.doc_id} (was {r.first_rank}, now {r.reranked_rank})" for r in audit.dropped
                )
            )
    return "\n".join(lines)


def cmd_search(args: argparse.Namespace) -> int:
    coll = _load(args.collection)
    settings = _settings(args)
    progress = None if args.json else _tqdm_progress()
    pipe = Pipeline.from_settings(coll, settings, cache_dir=args.cache_dir, progress=progress)
    try:
        result = pipe.run(args.query, progress=progress)
    except EmptyQueryError as e:
        print(f"rankshift: {e}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2)
        print()
        return 0
    if result.rerank is not None and not result.rerank.reranked:
        print(f"Not reranked: {result.rerank.message}")
        print()
    width = shutil.get_terminal_size((160, 20)).columns
    print(format_side_by_side(result, coll, settings.n, width=max(width, 100)))
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    app = Path(__file__).resolve().parents[3] / "app" / "streamlit_app.py"
    if not app.exists():
        print(f"rankshift: the app is not in this installation ({app} is missing)", file=sys.stderr)
        return 2
    env = dict(os.environ)
    if args.collection:
        env["RANKSHIFT_COLLECTION"] = str(Path(args.collection).resolve())
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.port", str(args.port),
        "--server.address", args.address,
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    print(f"rankshift app on http://{args.address}:{args.port}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process with Streamlit: stopping `rankshift app` then stops the server too,
    # and running from the project root picks up .streamlit/config.toml (upload limit, theme).
    os.chdir(app.parents[1])
    os.execve(sys.executable, cmd, env)


# --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rankshift",
        description="See what a cross-encoder reranker did to your first-stage search results.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent(
            """\
            examples:
              rankshift index data/demo
              rankshift search data/demo "how do I cancel my subscription"
              rankshift search data/demo "refund rules" --reranker path/to/cross-encoder --json
              rankshift app
            """
        ),
    )
    parser.add_argument("--version", action="version", version="rankshift 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="command")

    p = sub.add_parser("index", help="build and cache the first-stage indexes of a collection")
    _add_collection(p)
    _add_pipeline_options(p, with_rerank=False)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser(
        "search",
        help="run a query through the first stages and the reranker, side by side",
        description="Prints BM25 / dense / hybrid / reranked side by side with rank shifts.",
    )
    _add_collection(p)
    p.add_argument("query", help="the query text")
    _add_pipeline_options(p)
    p.add_argument("--json", action="store_true", help="print the whole pipeline result as JSON")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("app", help="start the Streamlit app")
    p.add_argument("--collection", default=None, help="collection to open (default: the demo)")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default="127.0.0.1")
    p.set_defaults(func=cmd_app)
    from rankshift.cli.eval import add_eval_commands

    add_eval_commands(sub)
    from rankshift.cli.train import add_train_command

    add_train_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    _quiet_libraries()
    try:
        return int(args.func(args) or 0)
    except CollectionLoadError as e:
        print(f"rankshift: cannot load collection: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"rankshift: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        print(f"rankshift: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `rankshift search ... --json | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("rankshift: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
