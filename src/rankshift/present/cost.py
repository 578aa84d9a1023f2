"""What reranking costs in time: pairs for the cross-encoder and the wait they mean on this CPU."""

from __future__ import annotations

from rankshift.config import DEFAULT_MAX_LENGTH

PAIRS_PER_SECOND_AT_256 = 10.0
"""Measured on a 2-core CPU with a MiniLM-L6 cross-encoder at max_length 256."""


def rerank_cost(
    k: int, max_length: int = DEFAULT_MAX_LENGTH, ms_per_pair: float | None = None
) -> str:
    """A sentence saying what K costs: pairs to score and the expected wait on this machine.

    Args:
        ms_per_pair: a measured rate (the last query's); default a 2-core CPU's rate for a
            MiniLM-L6 cross-encoder, scaled linearly with ``max_length``.
    """
    if ms_per_pair is None or ms_per_pair <= 0:
        ms_per_pair = 1000.0 / PAIRS_PER_SECOND_AT_256 * (max_length / 256)
        basis = "estimated"
    else:
        basis = "measured"
    seconds = k * ms_per_pair / 1000
    return (
        f"K = {k} means {k} query-document pairs for the cross-encoder: about {seconds:.0f} s "
        f"for a new query on this CPU ({basis} {1000 / ms_per_pair:.0f} pairs/s at "
        f"{max_length} tokens). Repeated queries come from the pair-score cache instantly."
    )


def eval_cost(n_queries: int, n_reranked: int, k: int, max_length: int = DEFAULT_MAX_LENGTH) -> str:
    """A sentence on what a batch costs: cross-encoder pairs and the worst-case wait.

    Args:
        n_queries: queries in the set.
        n_reranked: ``>ce`` pipelines (each reranks its own top-K; shared candidates are
            scored once through the pair-score cache, so this is an upper bound).
        k: candidates per query.
        max_length: the cross-encoder's window, which scales the cost.
    """
    if not n_reranked:
        return f"{n_queries:,} queries through the first stages only: no cross-encoder cost."
    pairs = n_queries * n_reranked * k
    seconds = pairs / PAIRS_PER_SECOND_AT_256 * (max_length / 256)
    wait = f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"
    return (
        f"{n_queries:,} queries × {n_reranked} reranked pipeline(s) × K = {k}: up to "
        f"{pairs:,} cross-encoder pairs, about {wait} on a 2-core CPU at {max_length} tokens "
        "(pairs already in the pair-score cache are free)."
    )
