"""Token attribution by integrated gradients, for rerankers run in this process by torch.

Integrated gradients (Sundararajan, Taly & Yan, ICML 2017) integrate the gradient of the
score along a straight path from a baseline input to the real one; here over the input word
embeddings of the cross-encoder (captum's ``LayerIntegratedGradients``). Each side of the pair
gets its own baseline: the document's words are attributed against the same pair with the
document blanked out (every document token replaced by padding, the query kept), the query's
against the pair with the query blanked out. So a document word's attribution is its share of
``score - score(query, empty document)``: positive words lift the score above what the query
alone earns. (A baseline that blanks both sides is a poor reference for a cosine head: two
runs of padding look alike and score high.) Each side's attributions add up to its difference
up to the integral's error, reported as ``delta``. Word pieces are summed into words.

Backends without gradients (bf16 weights, ONNX, OpenVINO, HTTP services) get a reason, never
an error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rankshift._lazy import require
from rankshift.rerank.base import Reranker
from rankshift.rerank.passages import PassageReranker, split_windows
from rankshift.types import Document

DEFAULT_STEPS = 20
"""Points on each integration path: each is one forward and backward pass of the pair, for
each side (query, document)."""


@dataclass(frozen=True)
class TokenAttribution:
    """One word of the query or the document and its share of the score."""

    text: str
    attribution: float
    side: str
    """``query`` or ``document`` (the title is part of the document)."""
    position: int
    """Word position on its side (0-based)."""


@dataclass(frozen=True)
class TokenExplanation:
    """Top query and document words by attribution, or why there are none."""

    reason: str | None = None
    query: list[TokenAttribution] = field(default_factory=list)
    """Query words, largest absolute attribution first."""
    document: list[TokenAttribution] = field(default_factory=list)
    """Document words read by the model, largest absolute attribution first."""
    steps: int = 0
    seconds: float = 0.0
    score: float | None = None
    """The pair's score as attributed (the model's raw output)."""
    empty_document_score: float | None = None
    """The score with the document blanked out (the document side's baseline)."""
    empty_query_score: float | None = None
    """The score with the query blanked out (the query side's baseline)."""
    delta: float | None = None
    """The larger integral error of the two sides (attributions' sum less the difference)."""
    n_tokens: int = 0
    """Tokens of the pair the model read (special tokens included)."""
    passage: tuple[int, int] | None = None
    """MaxP: the text tokens ``[start, end)`` of the best passage that was attributed."""


def no_gradients_reason(reranker: Reranker) -> str | None:
    """Why ``reranker`` cannot give token attributions (None when it can)."""
    if reranker.has_gradients and getattr(reranker, "model", None) is not None:
        return None
    backend = reranker.spec.backend
    if reranker.spec.remote:
        why = "it runs as an HTTP service: only its scores reach rankshift"
    elif backend == "bf16":
        why = "bf16 weights give no usable gradients"
    else:
        why = f"the {backend} backend runs an exported model without gradients"
    return (
        f"Token attributions need gradients through the model; {why}. Run the same model on "
        "the torch backend for them."
    )


def _words(
    tokens: list[str],
    values: list[float],
    word_ids: list[int | None],
    seq: list[int | None],
    side: int,
    text: str,
    offsets: list[tuple[int, int]],
) -> list[tuple[str, float]]:
    """Sum word pieces of one side into words, shown as the text they cover."""
    spans: dict[int, list[int]] = {}
    for i, (w, s) in enumerate(zip(word_ids, seq, strict=True)):
        if s == side and w is not None:
            spans.setdefault(w, []).append(i)
    out = []
    for w in sorted(spans):
        idx = spans[w]
        start, end = offsets[idx[0]][0], offsets[idx[-1]][1]
        pieces = "".join(tokens[i].removeprefix("##") for i in idx)
        out.append((text[start:end] if end > start else pieces, sum(values[i] for i in idx)))
    return out


def _input_embeddings(model: Any) -> Any:
    """The word-embedding layer of a sentence-transformers CrossEncoder's transformer."""
    for module in model.modules():
        get = getattr(module, "get_input_embeddings", None)
        if callable(get) and hasattr(module, "config"):
            return get()
    raise ValueError("no input embedding layer found in the reranker's model")


def _attributed_text(reranker: Reranker, query: str, doc: Document) -> tuple[str, Any]:
    """The document text the model scores, and (MaxP) the token span of the best window."""
    if not isinstance(reranker, PassageReranker):
        return doc.full_text, None
    with reranker.lock:
        windows = split_windows(
            reranker.tokenizer,
            query,
            doc.text,
            reranker.max_length or 0,
            doc.title,
            reranker.stride,
        )
    found = reranker.inner.score_texts(query, [w.text for w in windows])[0]
    best = windows[max(range(len(windows)), key=lambda j: (found[j][0], -j))]
    return best.text, (best.token_start, best.token_end)


def token_attributions(
    reranker: Reranker,
    query: str,
    doc: Document,
    steps: int = DEFAULT_STEPS,
    top: int = 10,
) -> TokenExplanation:
    """Integrated gradients of the reranker's score over the pair's input embeddings.

    The pair is the one the model scores: FirstP's truncated document, or, for a MaxP
    reranker, the document's best window. Costs ``2 * steps`` forward and backward passes.

    Args:
        steps: points on each integration path (20 keeps ``delta`` small for MiniLM-sized
            models).
        top: words kept per side.
    """
    reason = no_gradients_reason(reranker)
    if reason is not None:
        return TokenExplanation(reason=reason)
    inner = reranker.inner if isinstance(reranker, PassageReranker) else reranker
    text, passage = _attributed_text(reranker, query, doc)
    torch = require("torch")
    captum = require("captum.attr")
    model: Any = inner.model  # type: ignore[attr-defined]
    tokenizer = inner.tokenizer  # type: ignore[attr-defined]
    label = getattr(inner, "label", None)
    start = time.perf_counter()
    with reranker.lock:
        enc = tokenizer(
            query,
            text,
            truncation="only_second",
            max_length=inner.max_length,
            return_tensors="pt",
            return_offsets_mapping=True,
        )
        seq = enc.sequence_ids(0)
        word_ids = enc.word_ids(0)
        offsets = [tuple(o) for o in enc.pop("offset_mapping")[0].tolist()]
        device = next(model.parameters()).device
        inputs = {k: v.to(device) for k, v in enc.items()}
        ids = inputs["input_ids"]
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        special = tokenizer.get_special_tokens_mask(
            ids[0].tolist(), already_has_special_tokens=True
        )
        # Row 0 blanks the document (attributes document words), row 1 blanks the query.
        blanks = [
            [pad if seq[i] == side and not special[i] else t for i, t in enumerate(ids[0].tolist())]
            for side in (1, 0)
        ]
        baselines = torch.tensor(blanks, dtype=ids.dtype, device=device)
        both = ids.repeat(2, 1)
        extra = {k: v.repeat(2, 1) for k, v in inputs.items() if k != "input_ids"}

        def forward(input_ids: Any, *args: Any) -> Any:
            features = dict(zip(extra, args, strict=True))
            features["input_ids"] = input_ids
            scores = model(features)["scores"].reshape(input_ids.shape[0], -1)
            if scores.shape[1] == 1 or label is None:
                return scores[:, 0]
            others = torch.cat([scores[:, :label], scores[:, label + 1 :]], dim=1)
            return scores[:, label] - torch.logsumexp(others, dim=1)

        was_training = model.training
        model.eval()
        try:
            with torch.enable_grad():
                lig = captum.LayerIntegratedGradients(forward, _input_embeddings(model))
                attr, delta = lig.attribute(
                    both,
                    baselines=baselines,
                    additional_forward_args=tuple(extra.values()),
                    n_steps=steps,
                    internal_batch_size=2 * steps,
                    return_convergence_delta=True,
                )
            with torch.no_grad():
                score = float(forward(ids, *(v[:1] for v in extra.values()))[0])
                empty = forward(baselines, *extra.values()).tolist()
        finally:
            model.train(was_training)
        tokens = tokenizer.convert_ids_to_tokens(ids[0].tolist())
    values = attr.sum(dim=-1).detach().cpu().tolist()
    sides = []
    for side, row, source in ((0, 1, query), (1, 0, text)):
        words = _words(tokens, values[row], word_ids, seq, side, source, offsets)
        kept = sorted(range(len(words)), key=lambda i: -abs(words[i][1]))[:top]
        sides.append(
            [
                TokenAttribution(words[i][0], words[i][1], "query" if side == 0 else "document", i)
                for i in kept
            ]
        )
    return TokenExplanation(
        query=sides[0],
        document=sides[1],
        steps=steps,
        seconds=time.perf_counter() - start,
        score=score,
        empty_document_score=float(empty[0]),
        empty_query_score=float(empty[1]),
        delta=float(delta.abs().max()),
        n_tokens=int(ids.shape[1]),
        passage=passage,
    )
