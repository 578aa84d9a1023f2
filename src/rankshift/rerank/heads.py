"""Scoring heads for cross-encoders trained by rankshift (imports torch: load lazily).

A head is a sentence-transformers module placed after the transformer of a modular
:class:`~sentence_transformers.cross_encoder.CrossEncoder`; it reads the token embeddings of
the jointly encoded (query, document) pair and writes one relevance score per pair to
``features["scores"]``. A folder saved with one of these heads records the class as
``rankshift.rerank.heads.<Name>`` in its ``modules.json``, so loading it needs rankshift importable.
"""

from __future__ import annotations

from typing import Any

import torch
from sentence_transformers.cross_encoder.modules import Module


class SegmentCosine(Module):
    """Cosine between the mean-pooled query tokens and the mean-pooled document tokens of one
    jointly encoded pair, times a learnt scale.

    Started from a bi-encoder's transformer, this scores a pair about as the bi-encoder does
    (mean pooling, cosine) while every token still attends across the pair, so training starts
    from a working ranker rather than from a fresh, random head. The two segments are told
    apart by the tokenizer's ``token_type_ids`` (0: query, 1: document), which BERT-style
    tokenizers give for text pairs.

    Args:
        scale: the initial multiplier of the cosine (a temperature for the ranking losses).
    """

    config_keys: list[str] = ["scale"]  # noqa: RUF012 (the base class declares it so)

    def __init__(self, scale: float = 20.0) -> None:
        super().__init__()
        self.log_scale = torch.nn.Parameter(torch.tensor(float(scale)).log())

    @property
    def scale(self) -> float:
        return float(self.log_scale.detach().exp())

    def forward(self, features: dict[str, torch.Tensor], **kwargs: Any) -> dict[str, torch.Tensor]:
        if "token_type_ids" not in features:
            raise ValueError(
                "SegmentCosine needs token_type_ids to tell query from document tokens; "
                "this tokenizer does not give them (use --head classifier or mean)"
            )
        tokens = features["token_embeddings"]
        mask = features["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        doc = features["token_type_ids"].unsqueeze(-1).to(tokens.dtype)
        q_mask, d_mask = mask * (1 - doc), mask * doc
        q = (tokens * q_mask).sum(1) / q_mask.sum(1).clamp(min=1.0)
        d = (tokens * d_mask).sum(1) / d_mask.sum(1).clamp(min=1.0)
        cosine = torch.nn.functional.cosine_similarity(q, d, dim=-1)
        features["scores"] = (cosine * self.log_scale.exp()).unsqueeze(1)
        return features

    def save(
        self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any
    ) -> None:
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)

    @classmethod
    def load(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        **kwargs: Any,
    ) -> SegmentCosine:
        hub = {
            "subfolder": subfolder,
            "token": token,
            "cache_folder": cache_folder,
            "revision": revision,
            "local_files_only": local_files_only,
        }
        model = cls(**cls.load_config(model_name_or_path=model_name_or_path, **hub))
        cls.load_torch_weights(model_name_or_path=model_name_or_path, model=model, **hub)
        return model
