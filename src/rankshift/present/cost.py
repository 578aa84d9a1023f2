"""What reranking costs in time: pairs for the reranker and the wait they mean on this CPU."""

from __future__ import annotations

from rankshift.config import DEFAULT_MAX_LENGTH
from rankshift.rerank.spec import RerankerSpec

PAIRS_PER_SECOND_AT_256: dict[str, float] = {
    "torch": 36.5,
    "bf16": 102.3,
    "onnx": 32.8,
    "onnx-int8": 56.6,
    "openvino": 39.9,
    "openvino-int8": 92.8,
    "openvino-auto": 97.3,
}
"""Pairs per second of a MiniLM-L6 cross-encoder on a 2-core CPU (with AMX) when every pair fills
256 tokens, by in-process backend: `make bench`'s "long@256" column. Shorter documents go
faster (pairs are padded only to the longest of their batch), so these are upper bounds on the
wait."""


def _rate(reranker: str | None, max_length: int) -> tuple[float | None, str]:
    """Estimated pairs per second, and the backend it is for (None: a service, unknown)."""
    try:
        spec = RerankerSpec.parse(reranker) if reranker else None
    except ValueError:
        spec = None
    backend = spec.backend if spec is not None else "torch"
    if spec is not None and spec.remote:
        return None, backend
    per_second = PAIRS_PER_SECOND_AT_256.get(backend, PAIRS_PER_SECOND_AT_256["torch"])
    return per_second * 256 / max_length, backend


def estimated_ms_per_pair(reranker: str | None, max_length: int) -> float | None:
    """Milliseconds per pair on this CPU for the reranker's backend (None for a service)."""
    per_second, _ = _rate(reranker, max_length)
    return None if per_second is None else 1000.0 / per_second


def rerank_cost(
    k: int,
    max_length: int = DEFAULT_MAX_LENGTH,
    ms_per_pair: float | None = None,
    reranker: str | None = None,
) -> str:
    """A sentence saying what K costs: pairs to score and the expected wait on this machine.

    Args:
        ms_per_pair: a measured rate (the last query's); default the rate `make bench` measured
            for the reranker's backend (:data:`PAIRS_PER_SECOND_AT_256`), scaled linearly with
            ``max_length``.
        reranker: the reranker spec (its backend picks the estimate; a service has none).
    """
    if ms_per_pair is not None and ms_per_pair > 0:
        basis = f"measured {1000 / ms_per_pair:.0f} pairs/s"
    else:
        per_second, backend = _rate(reranker, max_length)
        if per_second is None:
            return (
                f"K = {k} means {k} query-document pairs for the reranker service; how long "
                "they take is the service's own speed (measured after the first query). "
                "Repeated queries come from the pair-score cache instantly."
            )
        ms_per_pair = 1000.0 / per_second
        basis = f"estimated {per_second:.0f} pairs/s on {backend} at {max_length} tokens"
    seconds = k * ms_per_pair / 1000
    wait = f"{seconds:.0f} s" if seconds >= 1.5 else f"{seconds:.1f} s"
    return (
        f"K = {k} means {k} query-document pairs for the cross-encoder: at most about {wait} "
        f"for a new query on this CPU ({basis}). Repeated queries come from the pair-score "
        "cache instantly."
    )


def eval_cost(
    n_queries: int,
    n_reranked: int,
    k: int,
    max_length: int = DEFAULT_MAX_LENGTH,
    reranker: str | None = None,
) -> str:
    """A sentence on what a batch costs: cross-encoder pairs and the worst-case wait.

    Args:
        n_queries: queries in the set.
        n_reranked: ``>ce`` pipelines (each reranks its own top-K; shared candidates are
            scored once through the pair-score cache, so this is an upper bound).
        k: candidates per query.
        max_length: the cross-encoder's window, which scales the cost.
        reranker: the reranker spec (its backend picks the rate; a service has none).
    """
    if not n_reranked:
        return f"{n_queries:,} queries through the first stages only: no cross-encoder cost."
    pairs = n_queries * n_reranked * k
    per_second, backend = _rate(reranker, max_length)
    if per_second is None:
        return (
            f"{n_queries:,} queries × {n_reranked} reranked pipeline(s) × K = {k}: up to "
            f"{pairs:,} pairs for the reranker service, at its own speed (pairs already in the "
            "pair-score cache are free)."
        )
    seconds = pairs / per_second
    wait = f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"
    return (
        f"{n_queries:,} queries × {n_reranked} reranked pipeline(s) × K = {k}: up to "
        f"{pairs:,} cross-encoder pairs, at most about {wait} on a 2-core CPU on {backend} at "
        f"{max_length} tokens (pairs already in the pair-score cache are free)."
    )
