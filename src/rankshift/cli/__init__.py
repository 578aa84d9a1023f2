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
from rankshift.rerank import UnknownDocumentError
from rankshift.types import Audit, PipelineResult

# --------------------------------------------------------------------------------------
# Commands


def cmd_index(args: argparse.Namespace) -> int:
    coll = load_collection(args.collection, strict=args.strict)
    settings = settings_from_args(args).with_(reranker=None)
    print(f"{coll.name}: {len(coll)} documents, fingerprint {coll.fingerprint}", file=sys.stderr)
    if coll.left_out_note():
        print(f"rankshift: warning: {coll.left_out_note()}", file=sys.stderr)
    pipe = Pipeline.from_settings(
        coll, settings, cache_dir=args.cache_dir, progress=tqdm_progress()
    )
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
        lines += _audit_lines(result, str(input_key), audit, n)
    return "\n".join(lines)


def _audit_lines(result: PipelineResult, input_key: str, audit: Audit, n: int) -> list[str]:
    """What the reranker did, in words an auditor cannot misread: which score decided the order,
    the reranked top-``n`` with the cross-encoder's own score (and the blended one), what it
    dropped from its input's top-``n``, and what other first stages had that it never saw."""
    from rankshift.present.text import order_score_label

    info = result.rerank
    assert info is not None
    tau = f"{audit.kendall_tau:.2f}" if audit.kendall_tau is not None else "n/a"
    order = order_score_label(audit.blend)
    on = "on the blended score" if audit.blend else "on the cross-encoder score"
    lines = [
        f"Reranked {audit.candidates} candidates (top {info.k}) of {input_key} with {info.model_id} "
        f"(revision {info.revision}, max_length {info.max_length}) in "
        f"{info.ms:.0f} ms; {info.cached_pairs} pair scores from cache; "
        f"Kendall's tau vs {input_key}: {tau}"
    ]
    cut = "n/a" if audit.cutoff_score is None else f"{audit.cutoff_score:.3f}"
    lines.append(
        f"Order decided by the {order}"
        + (f" (the cross-encoder score blended with {input_key}'s)" if audit.blend else "")
        + f"; cut-off {cut}: the {order} of reranked #{n}."
    )
    rows = {r.doc_id: r for r in audit.rows}

    def num(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    heads = ["cross-encoder score", *([order] if audit.blend else [])]
    top = result.stages["reranked"].ranking[:n]
    doc_w = max([3, *(len(r.doc_id) for r in top)])
    lines.append(f"Reranked top {n}:")
    lines.append("  ".join(["  # ", "doc".ljust(doc_w), *heads]))
    for r in top:
        row = rows.get(r.doc_id)
        cells = [f"{r.rank:>4d}", r.doc_id.ljust(doc_w)]
        cells.append(num(row.ce_score if row else None).ljust(len(heads[0])))
        if audit.blend:
            cells.append(num(r.score))
        lines.append("  ".join(cells).rstrip())
    if audit.dropped:
        parts = []
        for r in audit.dropped:
            scores = f"cross-encoder score {num(r.ce_score)}"
            if audit.blend:
                scores += f", {order} {num(r.rerank_score)}"
            margin = (
                None
                if r.rerank_score is None or audit.cutoff_score is None
                else audit.cutoff_score - r.rerank_score
            )
            parts.append(
                f"{r.doc_id} (was {r.first_rank}, now {r.reranked_rank}; {scores}; "
                f"margin below the cut, {on}: {num(margin)})"
            )
        lines.append(f"Dropped by the reranker from {input_key}'s top {n}: " + ", ".join(parts))
    else:
        lines.append(f"Dropped by the reranker from {input_key}'s top {n}: none")
    outside = {k: a.not_candidates for k, a in result.audits.items() if a.not_candidates}
    if outside:
        lines.append(
            f"Not a candidate of the reranker (it reordered {input_key}'s top {info.k} and never "
            "saw these; not counted as dropped): "
            + "; ".join(
                f"{len(rows_)} of {k}'s top {n}: "
                + ", ".join(f"{r.doc_id} ({k} #{r.first_rank})" for r in rows_)
                for k, rows_ in outside.items()
            )
        )
    return lines


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
    p.add_argument(
        "--strict",
        action="store_true",
        help="stop on an empty document (by default empty documents are left out, with a warning)",
    )
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
    p.add_argument(
        "--verbose", action="store_true", help="show the details behind a model that did not load"
    )
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
    from rankshift.cli.serve import add_serve_command

    add_serve_command(sub)
    from rankshift.cli.explain import add_explain_command

    add_explain_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    quiet_libraries()
    from rankshift.models import show_details

    show_details(bool(getattr(args, "verbose", False)))
    try:
        return int(args.func(args) or 0)
    except CollectionLoadError as e:
        print(f"rankshift: cannot load collection: {e}", file=sys.stderr)
        return 2
    except UnknownDocumentError as e:  # an index or run from another corpus, not a model fault
        print(f"rankshift: {e}", file=sys.stderr)
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
