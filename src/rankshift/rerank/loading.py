"""Loading any reranker from its spec: the registry of backends and the handled failure."""

from __future__ import annotations

import importlib

from rankshift.config import DEFAULT_MAX_LENGTH
from rankshift.models import ModelUnavailable, is_local_folder, resolve_revision
from rankshift.rerank.base import Reranker
from rankshift.rerank.cache import PairScoreCache
from rankshift.rerank.spec import RerankerSpec

IMPLEMENTATIONS: dict[str, str] = {
    "torch": "rankshift.rerank.cross_encoder:CrossEncoderReranker",
    "bf16": "rankshift.rerank.cross_encoder:CrossEncoderReranker",
    "onnx": "rankshift.rerank.exported:ExportedReranker",
    "onnx-int8": "rankshift.rerank.exported:ExportedReranker",
    "openvino": "rankshift.rerank.exported:ExportedReranker",
    "openvino-int8": "rankshift.rerank.exported:ExportedReranker",
    "openvino-auto": "rankshift.rerank.exported:ExportedReranker",
    "tei": "rankshift.rerank.remote:TEIReranker",
    "cohere": "rankshift.rerank.remote:CohereReranker",
    "voyage": "rankshift.rerank.remote:CohereReranker",
    "mixedbread": "rankshift.rerank.remote:CohereReranker",
}
"""Backend name (see :data:`~rankshift.rerank.spec.BACKENDS`) -> the class that runs it,
imported only when used (so ``import rankshift`` stays free of torch and HTTP clients)."""


class RerankerUnavailable(RuntimeError):
    """An HTTP reranker could not be reached or answered nonsense when asked who it is."""


def load_reranker(
    spec: str | RerankerSpec,
    max_length: int = DEFAULT_MAX_LENGTH,
    cache: PairScoreCache | None = None,
    device: str | None = None,
    batch_size: int = 16,
) -> Reranker:
    """Load the reranker a spec names, on its backend.

    Raises :class:`~rankshift.models.ModelUnavailable`, :class:`RerankerUnavailable`,
    ``ImportError`` (a backend's package is not installed) or ``ValueError`` (a bad spec).
    A spec with ``passages=maxp`` gives a :class:`~rankshift.rerank.passages.PassageReranker`
    around the model.
    """
    parsed = RerankerSpec.parse(spec)
    module, _, cls_name = IMPLEMENTATIONS[parsed.backend].partition(":")
    cls = getattr(importlib.import_module(module), cls_name)
    if parsed.remote:
        return cls(parsed, cache=cache)
    if parsed.passages != "maxp":
        return cls(parsed, max_length, batch_size, device, cache)
    # MaxP: the model scores plain windows, cached under its own identity (a document that
    # fits in one window is then the same cached pair as FirstP's); the wrapper reports the spec.
    from rankshift.rerank.passages import PassageReranker

    plain = tuple((k, v) for k, v in parsed.options if k not in ("passages", "stride"))
    inner = cls(
        RerankerSpec(parsed.backend, parsed.target, plain), max_length, batch_size, device, cache
    )
    return PassageReranker(inner, parsed)


def load_key(spec: str | RerankerSpec) -> str:
    """What decides whether a loaded reranker is still current, beside its spec: a local
    folder's content hash (a folder retrained in place must be loaded again), else ``""``."""
    try:
        parsed = RerankerSpec.parse(spec)
    except ValueError:
        return ""
    if parsed.remote or not is_local_folder(parsed.target):
        return ""
    return resolve_revision(parsed.target)


def try_load_reranker(
    model_id: str | RerankerSpec,
    max_length: int = DEFAULT_MAX_LENGTH,
    cache: PairScoreCache | None = None,
    device: str | None = None,
    batch_size: int = 16,
) -> tuple[Reranker | None, str | None]:
    """Load a reranker, or return ``(None, message)`` naming it and how to provide it."""
    try:
        return load_reranker(model_id, max_length, cache, device, batch_size), None
    except (ModelUnavailable, RerankerUnavailable, ImportError, ValueError) as e:
        return None, str(e)
