"""What the commands share: the collection and pipeline options, the reranker default, progress.

One home for them, so ``search``, ``index``, ``eval``, ``export-training`` and ``train`` take the
same flags with the same defaults and show progress the same way.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from rankshift import config
from rankshift.pipeline import FIRST_STAGES, PipelineSettings
from rankshift.rerank.spec import BACKENDS, KEY_ENV, LOCAL_BACKENDS, RerankerSpec
from rankshift.retrievers.hybrid import FUSIONS


def quiet_libraries() -> None:
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


def first_stages_arg(value: str) -> tuple[str, ...]:
    stages = tuple(s.strip() for s in value.split(",") if s.strip())
    unknown = [s for s in stages if s not in FIRST_STAGES]
    if unknown or not stages:
        raise argparse.ArgumentTypeError(
            f"unknown first stage {unknown[0] if unknown else value!r}; choose from {', '.join(FIRST_STAGES)}"
        )
    return stages


def add_collection(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "collection",
        help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels/) or a .jsonl/.csv/.tsv corpus file",
    )
    p.add_argument(
        "--cache-dir",
        default=None,
        help="where indexes and pair scores are kept (default $RANKSHIFT_CACHE or ~/.cache/rankshift)",
    )


def add_pipeline_options(p: argparse.ArgumentParser, with_rerank: bool = True) -> None:
    p.add_argument(
        "--stages",
        type=first_stages_arg,
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
    add_reranker_options(p)
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


def add_reranker_options(p: argparse.ArgumentParser, spec_flag: bool = True) -> None:
    """``--reranker`` (unless the command takes the spec as an argument), ``--backend`` and
    ``--max-length``: the one definition every command that loads a reranker uses."""
    if spec_flag:
        p.add_argument(
            "--reranker",
            default=None,
            help=(
                "the reranker: a cross-encoder id or folder, 'tei:http://host:port' (a "
                "text-embeddings-inference server), 'cohere:<base url>?model=NAME' (also "
                "voyage:, mixedbread:), or 'none' (default $RANKSHIFT_RERANKER, else "
                f"{config.DEFAULT_RERANKER} when it can be had, else the demo reranker if "
                "trained). API keys come from the environment: "
                + ", ".join(f"{b}: ${v}" for b, v in KEY_ENV.items())
            ),
        )
    p.add_argument(
        "--backend",
        choices=list(LOCAL_BACKENDS),
        default=None,
        help="run an id or folder on this in-process backend (default torch): "
        + "; ".join(f"{b}: {BACKENDS[b]}" for b in LOCAL_BACKENDS),
    )
    p.add_argument(
        "--max-length",
        type=int,
        default=config.DEFAULT_MAX_LENGTH,
        help="tokens of each (query, text) pair the reranker reads (default %(default)s)",
    )


def reranker_spec(args: argparse.Namespace, spec: str) -> RerankerSpec:
    """``spec`` with ``--backend`` applied; a malformed spec raises ``ValueError``."""
    parsed = RerankerSpec.parse(spec)
    backend = getattr(args, "backend", None)
    return parsed.with_backend(backend) if backend else parsed


def settings_from_args(args: argparse.Namespace) -> PipelineSettings:
    stages = tuple(args.stages)
    rerank_input = getattr(args, "rerank_input", None) or (
        "hybrid" if "hybrid" in stages else stages[0]
    )
    reranker = chosen_reranker(args) if hasattr(args, "reranker") else None
    if reranker not in (None, "none", ""):
        # A malformed spec is refused here, before any index is built.
        reranker = str(reranker_spec(args, reranker))
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


def tqdm_progress() -> Any:
    """A progress callback ``progress(label, done, total)`` for the commands.

    On a terminal, one tqdm bar per label. Otherwise (a log file, a pipe, CI) carriage-return
    updates would pile up as hundreds of lines, so it prints one plain line per label every
    ``$RANKSHIFT_PROGRESS_INTERVAL`` seconds (default 5), and one when the label finishes:
    ``Encoding documents: 256/408 (63%), 21.3 it/s, about 7 s left``.
    """
    import time

    units = {"Reranking": "pair", "Training": "step", "Queries": "query"}
    stream = sys.stderr
    if not (hasattr(stream, "isatty") and stream.isatty()):
        try:
            interval = float(os.environ.get("RANKSHIFT_PROGRESS_INTERVAL", "5"))
        except ValueError:
            interval = 5.0
        started: dict[str, tuple[float, int]] = {}
        printed: dict[str, float] = {}

        def plain(label: str, done: int, total: int) -> None:
            if total <= 0:
                return
            now = time.monotonic()
            t0, done0 = started.setdefault(label, (now, done))
            finished = done >= total
            if not finished and label in printed and now - printed[label] < interval:
                return
            printed[label] = now
            elapsed = now - t0
            rate = (done - done0) / elapsed if elapsed > 0 else 0.0
            line = f"{label}: {done:,}/{total:,} ({done / total:.0%})"
            if rate > 0:
                line += f", {rate:.1f} {units.get(label, 'it')}/s"
                if not finished:
                    line += f", about {(total - done) / rate:.0f} s left"
            if finished:
                line += f", done in {elapsed:.1f} s"
                started.pop(label, None)
                printed.pop(label, None)
            print(line, file=stream, flush=True)

        return plain

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
                unit=units.get(label, "it"),
                leave=False,
                file=stream,
            )
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
            bars.pop(label, None)

    return progress
