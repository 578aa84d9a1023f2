"""The ``rankshift`` command line."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from rankshift import config
from rankshift.cli.options import (
    add_collection,
    add_pipeline_options,
    quiet_libraries,
    settings_from_args,
    tqdm_progress,
)
from rankshift.corpus import Collection, CollectionLoadError, load_collection
from rankshift.pipeline import EmptyQueryError, Pipeline
from rankshift.types import PipelineResult

# --------------------------------------------------------------------------------------
# Commands


def cmd_index(args: argparse.Namespace) -> int:
    coll = load_collection(args.collection)
    settings = settings_from_args(args).with_(reranker=None)
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
    coll = load_collection(args.collection)
    settings = settings_from_args(args)
    progress = None if args.json else tqdm_progress()
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
    add_collection(p)
    add_pipeline_options(p, with_rerank=False)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser(
        "search",
        help="run a query through the first stages and the reranker, side by side",
        description="Prints BM25 / dense / hybrid / reranked side by side with rank shifts.",
    )
    add_collection(p)
    p.add_argument("query", help="the query text")
    add_pipeline_options(p)
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
    quiet_libraries()
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
