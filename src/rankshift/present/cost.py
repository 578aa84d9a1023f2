"""What reranking costs in time: pairs for the reranker and the wait they mean on this CPU."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rankshift.config import DEFAULT_MAX_LENGTH, cache_dir
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
    measured_pairs: int | None = None,
) -> str:
    """A sentence saying what K costs: pairs to score and the expected wait, and whether that
    wait was measured on this machine or is `make bench`'s estimate.

    Args:
        ms_per_pair: a rate measured on this machine (:func:`measured_rate`); default the rate
            `make bench` measured for the reranker's backend (:data:`PAIRS_PER_SECOND_AT_256`),
            scaled linearly with ``max_length`` and labelled as an estimate.
        reranker: the reranker spec (its backend picks the estimate; a service has none).
        measured_pairs: how many scored pairs the measured rate is over (said when given).
    """
    if ms_per_pair is not None and ms_per_pair > 0:
        over = f" over {measured_pairs:,} pairs" if measured_pairs else ""
        basis = f"measured {1000 / ms_per_pair:.0f} pairs/s on this machine{over}"
        wait = _wait(k * ms_per_pair / 1000)
        return (
            f"K = {k} means {k} query-document pairs for the cross-encoder: about {wait} for a "
            f"new query ({basis}). Repeated queries come from the pair-score cache instantly."
        )
    per_second, backend = _rate(reranker, max_length)
    if per_second is None:
        return (
            f"K = {k} means {k} query-document pairs for the reranker service; how long "
            "they take is the service's own speed (measured after the first query). "
            "Repeated queries come from the pair-score cache instantly."
        )
    wait = _wait(k / per_second)
    return (
        f"K = {k} means {k} query-document pairs for the cross-encoder: at most about {wait} for "
        f"a new query by estimate ({per_second:.0f} pairs/s on {backend} at {max_length} tokens, "
        "`make bench` on a 2-core CPU); measured on this machine after the first query. "
        "Repeated queries come from the pair-score cache instantly."
    )


def _wait(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 1.5 else f"{seconds:.1f} s"


# --------------------------------------------------------------------------------------
# The pair rate measured on this machine, per reranker spec and max_length

RATES_FILE = "pair_rates.json"
RATE_WINDOW = 2000
"""Pairs a measured rate is averaged over: older pairs are weighed down once more are scored,
so the rate follows the machine's load and the model's warm-up wears off."""


@dataclass(frozen=True)
class PairRate:
    """Pairs a reranker scored on this machine and the milliseconds they took."""

    pairs: int
    ms: float

    @property
    def ms_per_pair(self) -> float:
        return self.ms / self.pairs


def _rates_path(cache: str | os.PathLike[str] | None) -> Path:
    return cache_dir(cache) / RATES_FILE


def _rate_key(reranker: str, max_length: int) -> str:
    return f"{reranker}@{max_length}"


def _read_rates(path: Path) -> dict[str, dict[str, float]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def measured_rate(
    reranker: str | None, max_length: int, cache: str | os.PathLike[str] | None = None
) -> PairRate | None:
    """The rate recorded for this reranker at this ``max_length`` (None before any rerank)."""
    if not reranker:
        return None
    entry = _read_rates(_rates_path(cache)).get(_rate_key(reranker, max_length))
    try:
        rate = PairRate(int(entry["pairs"]), float(entry["ms"]))  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        return None
    return rate if rate.pairs > 0 and rate.ms > 0 else None


def record_rate(
    reranker: str,
    max_length: int,
    pairs: int,
    ms: float,
    cache: str | os.PathLike[str] | None = None,
) -> PairRate | None:
    """Add ``pairs`` scored in ``ms`` to the reranker's measured rate (a small JSON record in
    the cache, written atomically) and return the new rate; nothing is recorded for no pairs.
    Where the cache cannot be written, the new rate is returned but not kept."""
    if pairs <= 0 or ms <= 0:
        return measured_rate(reranker, max_length, cache)
    path = _rates_path(cache)
    rates = _read_rates(path)
    key = _rate_key(reranker, max_length)
    old = measured_rate(reranker, max_length, cache)
    total_pairs, total_ms = (old.pairs, old.ms) if old else (0, 0.0)
    if total_pairs + pairs > RATE_WINDOW and total_pairs:
        keep = max(0.0, (RATE_WINDOW - pairs) / total_pairs)
        total_pairs, total_ms = int(total_pairs * keep), total_ms * keep
    rate = PairRate(total_pairs + pairs, total_ms + ms)
    rates[key] = {"pairs": rate.pairs, "ms": round(rate.ms, 3)}
    try:
        with tempfile.NamedTemporaryFile(
            "w", dir=path.parent, prefix=".pair_rates-", suffix=".json", delete=False
        ) as f:
            json.dump(rates, f, indent=1, sort_keys=True)
        os.replace(f.name, path)
    except OSError:
        pass  # a cache that cannot be written gives an unrecorded rate, never a failed query
    return rate


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
