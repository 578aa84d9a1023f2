"""What a training run is told: the recipe (:class:`TrainConfig`) and the registries of
losses and scoring heads that feed the CLI's choices and the Train page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rankshift.config import DEFAULT_BI_ENCODER

Loss = Literal["lambda", "listnet", "mnrl", "bce"]
Head = Literal["auto", "classifier", "mean", "cosine"]
HEADS: dict[str, str] = {
    "auto": "classifier when the base model is a cross-encoder (it has a sequence-classification "
    "head), else cosine",
    "classifier": "the base's sequence-classification head (a cross-encoder's own head, or a "
    "fresh [CLS] pooler + single-logit layer on an encoder)",
    "mean": "a fresh linear layer over mean-pooled token embeddings (the pooling a "
    "sentence-transformers bi-encoder was trained with)",
    "cosine": "cosine between the mean-pooled query and document tokens of the jointly encoded "
    "pair, times a learnt scale: started from a bi-encoder, it ranks as the bi-encoder does "
    "before any training step (rankshift.rerank.heads.SegmentCosine)",
}
"""Registry of scoring heads: feeds the CLI's ``--head`` choices."""
LOSS_ROWS: dict[str, str] = {
    "lambda": "listwise",
    "listnet": "listwise",
    "mnrl": "triples",
    "bce": "pairs",
}
"""The training rows each loss reads (see :meth:`rankshift.training.data.TrainingData.rows`)."""
LOSSES: dict[str, str] = {
    "lambda": "LambdaLoss (NDCG-Loss2++) over each query's graded list",
    "listnet": "ListNet: softmax cross-entropy over each query's graded list",
    "mnrl": "Multiple negatives ranking: each positive against its hard negatives",
    "bce": "Binary cross-entropy on single (query, document, grade/max) pairs",
}
"""Registry of training losses: feeds the CLI's ``--loss`` choices."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run. Every field is recorded in the model card."""

    base_model: str = DEFAULT_BI_ENCODER
    """A cross-encoder id or folder, or an encoder (e.g. the bi-encoder): then a fresh
    single-logit head is added."""
    loss: Loss = "lambda"
    head: Head = "auto"
    """How a relevance score is read off the encoder (see :data:`HEADS`)."""
    epochs: float = 3.0
    max_steps: int | None = None
    """Stop after this many optimiser steps (overrides ``epochs``)."""
    batch_size: int = 4
    """Queries per step for listwise losses; rows per step otherwise."""
    learning_rate: float = 1e-4
    warmup_ratio: float = 0.1
    max_length: int = 192
    unjudged_negatives: int = 6
    negatives_per_positive: int = 6
    candidate_depth: int = 30
    validation_fraction: float = 0.15
    rerank_k: int = 30
    """Candidates the before/after evaluation reranks (top-K of ``rerank_input``)."""
    rerank_input: str = "hybrid"
    """The first stage validation reranks: ``bm25``, ``dense``, ``hybrid`` (the default fusion)
    or a hybrid spec such as ``hybrid(zscore,w=0.5)``: validate on the pipeline you deploy."""
    seed: int = 0
    save_steps: int = 50
    device: str | None = None
    """``None``: CUDA when available, else CPU."""

    def __post_init__(self) -> None:
        from rankshift.rerank.spec import RerankerSpec

        spec = RerankerSpec.parse(self.base_model)
        if spec.backend != "torch" or spec.options:
            raise ValueError(
                f"training fine-tunes a model's torch weights; give the base model as an id or "
                f"folder, not {self.base_model!r} (audit or serve the trained model on any "
                "backend afterwards)"
            )
