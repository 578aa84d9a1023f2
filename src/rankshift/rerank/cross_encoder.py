"""A sentence-transformers CrossEncoder run in this process (torch, fp32 or bf16 weights)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rankshift._lazy import require
from rankshift.config import DEFAULT_MAX_LENGTH, DEFAULT_RERANKER
from rankshift.models import load_cross_encoder, resolve_revision
from rankshift.rerank.base import Reranker, RerankTimeout, sigmoid
from rankshift.rerank.cache import PairScoreCache
from rankshift.rerank.spec import LOCAL_BACKENDS, RerankerSpec

__all__ = ["CrossEncoderReranker", "RerankTimeout", "sigmoid"]


def label_index(model: Any, spec: RerankerSpec) -> int | None:
    """Which output of the model is the relevance score: None for a single-logit model.

    A model with several output labels needs the spec's ``label=`` option; which label means
    "relevant" is the model's own convention, so it is never guessed.
    """
    n = int(getattr(model, "num_labels", 1) or 1)
    if n == 1:
        if spec.label not in (None, 0):
            raise ValueError(
                f"reranker '{spec.target}' has one output; label={spec.label} is not one"
            )
        return None
    if spec.label is None:
        names = getattr(getattr(model, "config", None), "id2label", None) or {}
        shown = ", ".join(f"{i}={v}" for i, v in sorted(dict(names).items())) or "unnamed"
        raise ValueError(
            f"reranker '{spec.target}' has {n} output labels ({shown}); say which one means "
            f"relevant: '{spec}?label=N'"
        )
    if spec.label >= n:
        raise ValueError(f"label={spec.label} but reranker '{spec.target}' has {n} outputs")
    return spec.label


def relevance_logit(row: Any, label: int) -> float:
    """Log-odds of ``label`` against all other labels of one row of logits: sigmoid of it is the
    softmax probability of ``label``."""
    np = require("numpy")
    others = np.delete(row.astype("float64"), label)
    return float(row[label] - np.logaddexp.reduce(others))


class CrossEncoderReranker(Reranker):
    """A sentence-transformers CrossEncoder with token accounting and a pair-score cache.

    ``model_id`` is a model id or folder, or a spec on the ``torch`` or ``bf16`` backend (see
    :mod:`rankshift.rerank.spec`). Loading raises :class:`~rankshift.models.ModelUnavailable`
    (or ``ValueError`` for a ``max_length`` the model cannot read or a missing label choice);
    use :func:`~rankshift.rerank.loading.try_load_reranker` for the handled form.
    """

    has_gradients = True

    def __init__(
        self,
        model_id: str | RerankerSpec = DEFAULT_RERANKER,
        max_length: int = DEFAULT_MAX_LENGTH,
        batch_size: int = 16,
        device: str | None = None,
        cache: PairScoreCache | None = None,
        model: Any = None,
    ) -> None:
        super().__init__()
        self.spec = RerankerSpec.parse(model_id)
        if self.spec.backend not in LOCAL_BACKENDS:
            raise ValueError(f"{self.spec} is not an in-process reranker")
        self.max_length = max_length
        self.batch_size = batch_size
        self.model = (
            model if model is not None else load_cross_encoder(self.spec.target, max_length, device)
        )
        # Past the position embeddings every long pair fails inside the model with a tensor
        # size mismatch; say so once, here, instead of failing every rerank.
        limit = getattr(getattr(self.model, "config", None), "max_position_embeddings", None)
        if isinstance(limit, int) and max_length > limit:
            raise ValueError(
                f"max_length {max_length} is more than reranker '{self.spec.target}' can read "
                f"({limit} tokens); choose {limit} or less"
            )
        self.label = label_index(self.model, self.spec)
        if self.spec.backend == "bf16":
            torch = require("torch")
            self.model.to(torch.bfloat16)
            self.has_gradients = False
        self.revision = resolve_revision(self.spec.target)
        self.cache = cache if cache is not None else PairScoreCache(None)
        self.num_labels = int(getattr(self.model, "num_labels", 1) or 1)

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    def count_tokens(self, query: str, texts: Sequence[str]) -> list[int]:
        """Length of each tokenised (query, text) pair before truncation, special tokens included."""
        if not texts:
            return []
        with self._lock:
            enc = self.tokenizer([query] * len(texts), list(texts), truncation=False, verbose=False)
        return [len(ids) for ids in enc["input_ids"]]

    def window_end(self, query: str, text: str) -> int:
        """Character offset in ``text`` where the model stops reading (``len(text)``: it sees all)."""
        with self._lock:
            enc = self.tokenizer(
                query,
                text,
                truncation="only_second",
                max_length=self.max_length,
                return_offsets_mapping=True,
            )
            seq_ids = enc.sequence_ids()
        ends = [
            end
            for (start, end), sid in zip(enc["offset_mapping"], seq_ids, strict=True)
            if sid == 1
        ]
        if not ends:
            return 0
        full = self.count_tokens(query, [text])[0]
        return len(text) if full <= (self.max_length or 0) else max(ends)

    def _logits(self, pairs: list[tuple[str, str]]) -> Any:
        torch = require("torch")
        return self.model.predict(
            pairs,
            batch_size=len(pairs),
            activation_fn=torch.nn.Identity(),
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def _score_batch(self, query: str, texts: list[str]) -> list[float]:
        logits = self._logits([(query, t) for t in texts])
        if getattr(logits, "ndim", 1) == 2:
            if self.label is None:
                return [float(x) for x in logits[:, 0]]
            return [relevance_logit(row, self.label) for row in logits]
        return [float(x) for x in logits]
