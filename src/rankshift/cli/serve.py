"""``rankshift serve``: any reranker behind the text-embeddings-inference and Cohere v2 APIs."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Any

from rankshift import config
from rankshift.cli.options import add_reranker_options, reranker_spec
from rankshift.rerank.spec import backends_help

ENDPOINTS = "TEI: POST /rerank, GET /info, GET /health; Cohere v2: POST /v2/rerank"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_serve_command(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve a reranker over HTTP (text-embeddings-inference and Cohere v2 APIs)",
        description=(
            "Loads one reranker and answers text-embeddings-inference's POST /rerank, GET /info "
            "and GET /health, and Cohere's POST /v2/rerank, so `--reranker tei:URL` or "
            "`cohere:URL?model=NAME` (and other tools speaking those APIs) can use it. Pair "
            "scores are cached like everywhere else in rankshift. Stop it with Ctrl-C."
        ),
    )
    p.add_argument(
        "reranker",
        help="the reranker spec, [backend:]target[?option=value]; backends: " + backends_help(),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=8080, help="port (default %(default)s; 0: any free)")
    add_reranker_options(p, spec_flag=False)
    p.add_argument(
        "--max-batch",
        type=int,
        default=64,
        help="most texts one request may carry (TEI's max_client_batch_size; default %(default)s)",
    )
    p.add_argument(
        "--token-env",
        default="RANKSHIFT_SERVE_TOKEN",
        metavar="NAME",
        help="environment variable holding a bearer token clients must send; when it is set, "
        "every endpoint but /health needs 'Authorization: Bearer <token>' (default %(default)s)",
    )
    p.set_defaults(func=cmd_serve)


def _fail(message: str) -> int:
    print(f"rankshift serve: {' '.join(message.split())}", file=sys.stderr)
    return 2


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one), bound before the model serves."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def cmd_serve(args: argparse.Namespace) -> int:
    from rankshift.rerank.cache import PairScoreCache
    from rankshift.rerank.loading import try_load_reranker

    if not 0 <= args.port <= 65535:
        return _fail(f"--port must be between 0 and 65535, got {args.port}")
    if args.max_batch < 1 or args.max_length < 1:
        return _fail("--max-batch and --max-length must be 1 or more")
    token = os.environ.get(args.token_env) or None
    cache = PairScoreCache(config.cache_dir() / "pair_scores.sqlite")
    try:
        spec = reranker_spec(args, args.reranker)
    except ValueError as e:
        return _fail(str(e))
    reranker, error = try_load_reranker(spec, args.max_length, cache)
    if reranker is None:
        return _fail(error or f"cannot load {args.reranker}")
    try:
        sock = _listen(args.host, args.port)
    except OSError as e:
        return _fail(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}")

    import uvicorn

    from rankshift.serve import create_app

    app = create_app(reranker, token=token, max_client_batch_size=args.max_batch)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    if token:
        print(f"bearer token required (from ${args.token_env})", file=sys.stderr)
    elif args.host not in LOOPBACK:
        print(
            f"warning: listening on {args.host} without a bearer token: anyone who can reach "
            f"this port can use the model (set ${args.token_env} to require one)",
            file=sys.stderr,
        )
    print(f"Serving {reranker.model_id} on http://{shown}:{port} ({ENDPOINTS})", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.run(sockets=[sock])
    return 0
