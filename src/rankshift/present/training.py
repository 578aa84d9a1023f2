"""The Train page and the reranker pickers: reranker choices, a training run's before/after
table, and a background job's progress line."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from rankshift.models import short_name

if TYPE_CHECKING:
    from rankshift.training.train import TrainResult

OTHER_RERANKER = "__other__"
"""The choice that reveals a free text box for any model id or folder."""


def reranker_options(
    default: str | None,
    trained: Iterable[str | Path],
    exclude: Iterable[str] = (),
) -> list[str]:
    """Choices for a reranker box: the default, the trained model folders, then "other".

    Args:
        default: the preferred reranker (:func:`rankshift.config.preferred_reranker`), or None.
        trained: model folders (:func:`rankshift.training.train.trained_models`), newest first.
        exclude: ids to leave out (e.g. the reranker already in use, for a comparison).
    """
    skip = set(exclude)
    options = [default] if default and default not in skip else []
    for path in trained:
        value = str(path)
        if value not in skip and value not in options:
            options.append(value)
    return [*options, OTHER_RERANKER]


def reranker_option_label(
    option: str, default: str | None = None, trained: Iterable[str | Path] = ()
) -> str:
    """How a reranker choice reads: ``trained: <folder name>``, ``<short name> (default)``, …"""
    if option == OTHER_RERANKER:
        return "other id or folder…"
    name = short_name(option)
    label = f"trained: {name}" if option in {str(p) for p in trained} else name
    return f"{label} (default)" if option == default else label


def training_frame(result: TrainResult) -> pd.DataFrame:
    """The before/after table of a training run, one row per ranking of the held-out queries.

    Columns: ``ranking`` (``first stage``, ``base``, ``trained`` or ``blended``: the trained
    model's score blended with the first stage's at the best weight), ``name`` (with its
    parameters, e.g. ``trained (k=30)``), ``nDCG@10``, ``MRR@10``, ``Δ nDCG@10`` (against the
    first stage). Empty when nothing was held out (or the run stopped before validation).
    """
    columns = ["ranking", "name", "nDCG@10", "MRR@10", "Δ nDCG@10"]
    rows = result.validation
    if not rows:
        return pd.DataFrame(columns=columns)
    # Records written before rows had a kind: the first stage first, the trained model last,
    # a base model between them when it loaded as a cross-encoder again.
    positional = (
        ["first stage", *["base"] * (len(rows) - 2), "trained"]
        if len(rows) > 1
        else ["first stage"]
    )
    kinds = [m.kind or k for m, k in zip(rows, positional, strict=True)]
    first = rows[0].ndcg10
    records = [
        {
            "ranking": kind,
            "name": m.name,
            "nDCG@10": m.ndcg10,
            "MRR@10": m.mrr10,
            "Δ nDCG@10": m.ndcg10 - first,
        }
        for kind, m in zip(kinds, rows, strict=True)
    ]
    return pd.DataFrame.from_records(records, columns=columns)


def training_caption(result: TrainResult) -> str:
    """One line on a run: its data, steps and time, and where the model is."""
    resumed = f" (resumed at step {result.resumed_from_step})" if result.resumed_from_step else ""
    return (
        f"{result.train_rows} training rows from {len(result.split.train)} queries · "
        f"{result.steps} steps in {result.train_seconds / 60:.1f} min{resumed} · validated on "
        f"{len(result.split.eval)} held-out queries · saved to {result.output_dir}"
    )


def job_progress_text(
    phase: str, done: int, total: int, elapsed_s: float, eta_s: float | None
) -> str:
    """``Training: step 3 of 40 · 1:02 elapsed · about 5 min left in this phase``."""
    unit = "step " if phase == "Training" else ""
    parts = [f"{phase}: {unit}{done:,} of {total:,}" if total else phase]
    parts.append(f"{_clock(elapsed_s)} elapsed")
    if eta_s is not None and done < total:
        left = f"{eta_s / 60:.0f} min" if eta_s >= 90 else f"{max(1.0, eta_s):.0f} s"
        parts.append(f"about {left} left in this phase")
    return " · ".join(parts)


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
