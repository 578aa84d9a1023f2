"""The base model a reranker is trained from: a cross-encoder, or an encoder with a scoring head
(imports torch and sentence-transformers when called)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rankshift.training.config import TrainConfig


def device_for(config: TrainConfig) -> str:
    if config.device:
        return config.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_base(config: TrainConfig) -> Any:
    from sentence_transformers.cross_encoder import CrossEncoder

    from rankshift.models import ModelUnavailable

    try:
        if resolve_head(config) != "classifier":
            return _modular_cross_encoder(config)
        return CrossEncoder(
            config.base_model, num_labels=1, max_length=config.max_length, device=device_for(config)
        )
    except Exception as e:
        raise ModelUnavailable(config.base_model, "base model", e) from e


def resolve_head(config: TrainConfig) -> str:
    """The head ``config.head`` stands for (``auto`` looks at the base model's config)."""
    if config.head != "auto":
        return config.head
    from transformers import AutoConfig

    try:
        architectures = AutoConfig.from_pretrained(config.base_model).architectures or []
    except Exception:  # the loader that follows names the model and the reason
        return "classifier"
    is_cross_encoder = any(a.endswith("ForSequenceClassification") for a in architectures)
    return "classifier" if is_cross_encoder else "cosine"


def _modular_cross_encoder(config: TrainConfig) -> Any:
    """A CrossEncoder of sentence-transformers modules: the base's transformer and a scoring
    head that writes ``scores`` (``mean``: mean pooling and a single-output linear layer;
    ``cosine``: :class:`rankshift.rerank.heads.SegmentCosine`). It saves and loads as any CrossEncoder
    folder does."""
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder
    from sentence_transformers.cross_encoder.modules import Dense, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    transformer = Transformer(
        config.base_model, transformer_task="feature-extraction", max_seq_length=config.max_length
    )
    torch.manual_seed(config.seed)
    if resolve_head(config) == "cosine":
        from rankshift.rerank.heads import SegmentCosine

        head: list[Any] = [SegmentCosine()]
        # CrossEncoder.num_labels reads the transformer's config when no Dense head writes
        # the scores; the ranking losses need it to say 1.
        transformer.model.config.num_labels = 1
    else:
        dim = transformer.get_embedding_dimension()
        head = [
            Pooling(dim, "mean"),
            Dense(dim, 1, activation_function=None, module_output_name="scores"),
        ]
    return CrossEncoder(modules=[transformer, *head], device=device_for(config))


def score_with(
    model: Any, query: str, texts: Sequence[str], doc_ids: Sequence[str]
) -> dict[str, float]:
    """The model's raw score (logit) of each document for ``query``."""
    import torch

    if not doc_ids:
        return {}
    scores = model.predict(
        [(query, t) for t in texts],
        batch_size=16,
        activation_fn=torch.nn.Identity(),
        show_progress_bar=False,
    )
    return {d: float(x) for d, x in zip(doc_ids, scores, strict=True)}
