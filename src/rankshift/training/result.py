"""What a training run reports: validation metrics, the blend choice, the run's summary."""

from __future__ import annotations

from dataclasses import dataclass, field

from rankshift.training.config import TrainConfig
from rankshift.training.data import QuerySplit


@dataclass(frozen=True)
class StageMetrics:
    name: str
    ndcg10: float
    mrr10: float
    kind: str = ""
    """``first stage``, ``base``, ``trained`` or ``blended`` (see :func:`_validate`)."""


BLEND_GRID: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))
"""Blend weights tried on the validation queries (0: the reranker alone, 1: the first stage)."""


@dataclass(frozen=True)
class BlendChoice:
    """nDCG@10 on the validation queries at each blend weight, and the best weight."""

    ndcg10: dict[float, float]
    best: float


@dataclass(frozen=True)
class TrainResult:
    output_dir: str
    config: TrainConfig
    split: QuerySplit
    train_rows: int
    steps: int
    resumed_from_step: int
    train_seconds: float
    validation: list[StageMetrics] = field(default_factory=list)
    blend: BlendChoice | None = None
    """The blend weight that did best on the validation queries (None: no validation)."""

    def summary(self) -> str:
        lines = [
            f"Trained reranker saved to {self.output_dir}",
            f"  {self.train_rows} training rows from {len(self.split.train)} queries, "
            f"{self.steps} steps in {self.train_seconds / 60:.1f} min"
            + (f" (resumed at step {self.resumed_from_step})" if self.resumed_from_step else ""),
        ]
        if self.validation:
            lines.append(f"  held-out queries ({len(self.split.eval)}):   nDCG@10   MRR@10")
            for m in self.validation:
                lines.append(f"    {m.name:<34s} {m.ndcg10:.4f}   {m.mrr10:.4f}")
        if self.blend is not None and self.blend.best > 0:
            lines.append(
                f"  Blending the first stage back in helps on these queries: use --blend "
                f"{self.blend.best:g} (or '>ce(blend={self.blend.best:g})' in rankshift eval)"
            )
        return "\n".join(lines)
