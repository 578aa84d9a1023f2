"""``rankshift explain``: why the reranker scored one document as it did, for one query.

Prints the sentences that move the score most (occlusion: each sentence left out and alone),
the best passage of a document longer than the model's window (MaxP against FirstP) and, with
``--tokens``, the query and document words integrated gradients credit (torch models only).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rankshift import config
from rankshift.cli.options import (
    add_collection,
    add_reranker_options,
    chosen_reranker,
    reranker_spec,
    tqdm_progress,
)


def add_explain_command(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "explain",
        help="why the reranker scored a document as it did: sentences, best passage, tokens",
        description=(
            "Scores the document with each sentence left out and each sentence alone (2n + 1 "
            "pairs, through the pair-score cache, for any reranker backend) and prints the "
            "sentences by how much leaving them out lowers the score. For a document longer "
            "than the reranker's window it names the best passage (MaxP) and where it sits. "
            "Occlusion measures how the score responds to removing text, not the model's "
            "reasons."
        ),
    )
    add_collection(p)
    p.add_argument("query", help="the query text, or the id of one of the collection's queries")
    p.add_argument("doc_id", help="the document to explain")
    add_reranker_options(p)
    p.add_argument(
        "--language", default="en", help="the text's language, for sentence splitting (ISO 639)"
    )
    p.add_argument(
        "--top", type=int, default=10, help="sentences printed (default %(default)s; --json: all)"
    )
    p.add_argument(
        "--tokens",
        action="store_true",
        help="also attribute the score to query and document words by integrated gradients "
        "(in-process torch models; about 2 x --steps forward and backward passes)",
    )
    p.add_argument(
        "--steps", type=int, default=20, help="integration steps for --tokens (default 20)"
    )
    p.add_argument("--json", action="store_true", help="print everything as JSON")
    p.set_defaults(func=cmd_explain)


def _fail(message: str) -> int:
    print(f"rankshift explain: {message}", file=sys.stderr)
    return 2


def cmd_explain(args: argparse.Namespace) -> int:
    from rankshift.corpus import load_collection
    from rankshift.explain import best_passage, occlude, token_attributions
    from rankshift.present.text import query_problem, shorten
    from rankshift.rerank import PairScoreCache, try_load_reranker

    if args.top < 1 or args.steps < 1 or args.max_length < 1:
        return _fail("--top, --steps and --max-length must be 1 or more")
    coll = load_collection(args.collection)
    doc = coll.documents.get(args.doc_id)
    if doc is None:
        return _fail(f"no document {args.doc_id!r} in {coll.name} ({len(coll):,} documents)")
    query = coll.queries[args.query].text if args.query in coll.queries else args.query
    problem = query_problem(query)
    if problem:
        return _fail(problem)
    spec = chosen_reranker(args)
    if spec is None:
        return _fail("explaining a score needs a reranker: give --reranker")
    parsed = reranker_spec(args, spec)
    cache = PairScoreCache(config.cache_dir(args.cache_dir) / "pair_scores.sqlite")
    reranker, error = try_load_reranker(parsed, args.max_length, cache)
    if reranker is None:
        return _fail(error or f"cannot load {parsed}")
    progress = None if args.json else tqdm_progress()
    occ = occlude(reranker, query, doc, language=args.language, progress=progress)
    finding = best_passage(reranker, query, doc)
    tokens = token_attributions(reranker, query, doc, steps=args.steps) if args.tokens else None
    if args.json:
        json.dump(_as_json(reranker, doc, occ, finding, tokens), sys.stdout, indent=2)
        print()
        return 0

    from rankshift.present.explain import passage_line, result_caption, token_caption

    print(f"Query: {query}")
    print(f"Document {doc.doc_id}: {shorten(doc.title, 100) or '(untitled)'}")
    print(f"Reranker: {reranker.model_id} (max_length {reranker.max_length or 'unknown'})")
    print(result_caption(occ))
    if occ.effects:
        print()
        print(f"{'rank':>4}  {'#':>3}  {'drop':>8}  {'alone':>8}  sentence")
        for rank, e in enumerate(occ.ranked[: args.top], 1):
            note = " [past the window]" if e.beyond_window else ""
            print(
                f"{rank:>4}  {e.sentence.index + 1:>3}  {e.drop:>+8.3f}  {e.alone:>8.3f}  "
                f"{shorten(e.sentence.text, 90)}{note}"
            )
        if len(occ.effects) > args.top:
            print(f"      … {len(occ.effects) - args.top} more sentences (--top, --json)")
    else:
        print("The document has no text to split into sentences.")
    line = passage_line(finding)
    if line:
        print()
        print(line)
    if tokens is not None:
        print()
        print(token_caption(tokens))
        if not tokens.reason:
            for side, words in (("query", tokens.query), ("document", tokens.document)):
                shown = ", ".join(f"{t.text} ({t.attribution:+.3f})" for t in words)
                print(f"Top {side} words: {shown or 'none'}")
    return 0


def _as_json(reranker: Any, doc: Any, occ: Any, finding: Any, tokens: Any) -> dict[str, Any]:
    ranks = {e.sentence.index: r for r, e in enumerate(occ.ranked, 1)}
    out: dict[str, Any] = {
        "query": occ.query,
        "doc_id": doc.doc_id,
        "title": doc.title,
        "reranker": reranker.model_id,
        "max_length": reranker.max_length,
        "full_score": occ.full_score,
        "pairs": occ.n_pairs,
        "scored": occ.n_scored,
        "seconds": round(occ.seconds, 3),
        "sentences": [
            {
                "rank": ranks[e.sentence.index],
                "index": e.sentence.index,
                "start": e.sentence.start,
                "end": e.sentence.end,
                "text": e.sentence.text,
                "drop": e.drop,
                "alone": e.alone,
                "without": e.without,
                "beyond_window": e.beyond_window,
            }
            for e in occ.effects
        ],
        "passage": None,
        "passage_reason": finding.reason,
    }
    if finding.best is not None:
        b = finding.best
        out["passage"] = {
            "windows": finding.windows,
            "token_start": b.token_start,
            "token_end": b.token_end,
            "total_tokens": b.total_tokens,
            "char_start": b.char_start,
            "char_end": b.char_end,
            "where": finding.where,
            "firstp_score": finding.firstp_score,
            "maxp_score": finding.maxp_score,
        }
    if tokens is not None:
        out["tokens"] = {
            "reason": tokens.reason,
            "steps": tokens.steps,
            "seconds": round(tokens.seconds, 3),
            "delta": tokens.delta,
            "query": [{"word": t.text, "attribution": t.attribution} for t in tokens.query],
            "document": [{"word": t.text, "attribution": t.attribution} for t in tokens.document],
        }
    return out
