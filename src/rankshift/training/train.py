"""Fine-tune a cross-encoder reranker from judgments, with hard negatives from the first stages.

The result is an ordinary sentence-transformers CrossEncoder folder (weights, tokenizer, config,
a model card), so it loads everywhere a model id goes: ``--reranker <folder>`` on the command
line, the reranker box in the app, ``CrossEncoder(<folder>)`` in any other program.

Recipe (see :class:`TrainConfig`):

* **Data.** For each training query, one list: its judged documents (graded) plus the
  ``unjudged_negatives`` highest-ranked unjudged candidates of the first stages (grade 0).
  Candidates interleave BM25, dense and hybrid rankings, so negatives are the documents each
  first stage is tempted by. Built by :mod:`rankshift.training.data` (the same code as
  ``rankshift export-training``).
* **Loss.** A listwise loss over each query's list by default (``lambda``: LambdaLoss with
  NDCG-Loss2++ weighting, Wang et al., "The LambdaLoss Framework for Ranking Metric
  Optimization", CIKM 2018): it uses the grades as grades and learns an order, which is what a
  reranker is judged on. ``listnet``, ``mnrl`` (one positive against its hard negatives) and
  ``bce`` (pointwise binary cross-entropy) are there to compare.
* **Validation.** A seeded share of the training queries is held out by query; the run reports
  nDCG@10 and MRR@10 on them for the first stage alone, the base model and the trained model,
  and the blend weight (the first stage's share of the reranked score, see
  :func:`rankshift.rerank.blend_scores`) that does best on them.
* **Checkpoints** every ``save_steps`` steps under ``<out>/checkpoints``; a run started again
  with the same output folder resumes from the last one.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from rankshift.config import DEFAULT_BI_ENCODER, cache_dir
from rankshift.corpus import Collection
from rankshift.evaluation.metrics import evaluate, rank_scored
from rankshift.models import short_name
from rankshift.retrievers.base import ProgressFn
from rankshift.training.data import QuerySplit, build_training_data, split_seeded
from rankshift.types import Qrels, ScoredDoc

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


ELAPSED_FILE = "rankshift_elapsed.json"
"""Kept in each checkpoint: the training seconds up to it, so resumed runs report the total."""


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


def default_output_dir(collection: Collection, config: TrainConfig) -> Path:
    """``<cache>/models/<collection>-<loss>-<base>-<date>``: a readable name per run."""
    date = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    name = f"{collection.name}-{config.loss}-{short_name(config.base_model)}-{date}"
    return cache_dir() / "models" / name


def interleave(rankings: Sequence[Sequence[str]]) -> list[str]:
    """Round-robin merge of rankings without duplicates: rank 1 of each, then rank 2 of each..."""
    out: dict[str, None] = {}
    for i in range(max((len(r) for r in rankings), default=0)):
        for r in rankings:
            if i < len(r):
                out.setdefault(r[i], None)
    return list(out)


def _device(config: TrainConfig) -> str:
    if config.device:
        return config.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _dataset(rows: Sequence[Mapping[str, Any]], loss: Loss) -> Any:
    from datasets import Dataset

    if loss in ("lambda", "listnet"):
        return Dataset.from_list(
            [{"query": r["query"], "docs": r["docs"], "labels": r["labels"]} for r in rows]
        )
    if loss == "mnrl":
        return Dataset.from_list(
            [
                {"query": r["query"], "positive": r["positive"], "negative": r["negative"]}
                for r in rows
            ]
        )
    return Dataset.from_list(
        [{"query": r["query"], "passage": r["passage"], "label": r["label"]} for r in rows]
    )


def _loss(model: Any, config: TrainConfig, max_grade: int) -> Any:
    from sentence_transformers.cross_encoder import losses

    if config.loss == "lambda":
        return losses.LambdaLoss(model)
    if config.loss == "listnet":
        return losses.ListNetLoss(model)
    if config.loss == "mnrl":
        return losses.MultipleNegativesRankingLoss(model, num_negatives=1)
    return losses.BinaryCrossEntropyLoss(model)


def _load_base(config: TrainConfig) -> Any:
    from sentence_transformers.cross_encoder import CrossEncoder

    from rankshift.models import ModelUnavailable

    try:
        if resolve_head(config) != "classifier":
            return _modular_cross_encoder(config)
        return CrossEncoder(
            config.base_model, num_labels=1, max_length=config.max_length, device=_device(config)
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
    return CrossEncoder(modules=[transformer, *head], device=_device(config))


def _last_checkpoint(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    found = [
        (int(p.name.split("-")[1]), p)
        for p in folder.glob("checkpoint-*")
        if p.name.split("-")[1].isdigit() and (p / "trainer_state.json").exists()
    ]
    return max(found)[1] if found else None


def validation_metrics(
    name: str,
    rankings: Mapping[str, Sequence[ScoredDoc] | Sequence[str]],
    qrels: Qrels,
    kind: str = "",
) -> StageMetrics:
    ev = evaluate(qrels, rank_scored(rankings), ("nDCG@10", "MRR@10"), query_ids=list(rankings))
    return StageMetrics(name, ev.mean["nDCG@10"], ev.mean["MRR@10"], kind)


def _score_with(
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


def _order(scores: Mapping[str, float], first: Sequence[ScoredDoc]) -> list[str]:
    """Documents by score, best first, by the one reranked ordering rule."""
    from rankshift.rerank import reranked_order

    return [r.doc_id for r in reranked_order(scores, first)]


def train_reranker(
    collection: Collection,
    qrels: Qrels,
    output_dir: str | Path | None = None,
    config: TrainConfig | None = None,
    *,
    retrievers: Mapping[str, Any] | None = None,
    cache: str | Path | None = None,
    progress: ProgressFn | None = None,
    resume: bool = True,
    exclude_queries: Sequence[str] = (),
    stop: Callable[[int], bool] | None = None,
) -> TrainResult:
    """Fine-tune a cross-encoder on ``qrels`` and save it as a CrossEncoder folder.

    Args:
        collection: documents and query texts.
        qrels: the training judgments (qrels files and/or stored labels, already merged).
        output_dir: where the model goes (default :func:`default_output_dir`).
        config: hyper-parameters.
        retrievers: ready first stages by key (``bm25``, ``dense``, ``hybrid``); default: built
            from the collection with the default settings.
        cache: rankshift cache directory for indexes.
        progress: ``progress(label, done, total)`` for candidates, training steps, evaluation.
        resume: continue from the last checkpoint in ``<output_dir>/checkpoints`` if any.
        exclude_queries: queries that must not be trained on (e.g. an evaluation split's);
            they are removed before the split, so nothing about them reaches training.
        stop: called after each step with the global step; returning True stops training after
            saving a checkpoint (the app's "stop" button; tests use it to simulate a crash).

    Returns:
        A :class:`TrainResult`; the model card in ``<output_dir>/README.md`` repeats it.
    """
    config = config or TrainConfig()
    out = Path(output_dir) if output_dir is not None else default_output_dir(collection, config)
    out.mkdir(parents=True, exist_ok=True)
    if retrievers is None:
        from rankshift.pipeline import Pipeline, PipelineSettings

        settings = PipelineSettings(
            reranker=None, k=config.candidate_depth, n=min(10, config.candidate_depth)
        )
        retrievers = Pipeline.from_settings(
            collection, settings, cache_dir=cache, progress=progress
        ).retrievers

    # Fail on a bad validation stage now, not after the training.
    val_stage = validation_stage(retrievers, config.rerank_input)
    excluded = set(exclude_queries)
    usable = [q for q in qrels if q in collection.queries and q not in excluded]
    if not usable:
        raise ValueError("no training queries: the judgments name no query of this collection")
    split = split_seeded(usable, config.validation_fraction, config.seed)

    # Hard-negative pools: each first stage's top candidates, interleaved.
    candidates: dict[str, list[str]] = {}
    queries = [collection.queries[q] for q in usable]
    for i, q in enumerate(queries, 1):
        lists = [
            [r.doc_id for r in retrievers[k].search(q.text, config.candidate_depth)]
            for k in ("bm25", "dense", "hybrid")
            if k in retrievers
        ]
        candidates[q.query_id] = interleave(lists)
        if progress:
            progress("Mining hard negatives", i, len(queries))

    data = build_training_data(
        collection,
        qrels,
        candidates,
        split.train,
        unjudged_negatives=config.unjudged_negatives,
        negatives_per_positive=config.negatives_per_positive,
    )
    kind = LOSS_ROWS[config.loss]
    rows = data.rows(kind)  # type: ignore[arg-type]
    if not rows:
        raise ValueError(f"no {kind} rows could be built from these judgments")
    max_grade = max([1, *(g for j in qrels.values() for g in j.values())])

    import torch
    from sentence_transformers.cross_encoder import (
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from transformers import TrainerCallback

    torch.manual_seed(config.seed)
    model = _load_base(config)
    dataset = _dataset(rows, config.loss)
    steps_per_epoch = math.ceil(len(dataset) / config.batch_size)
    max_steps = config.max_steps or max(1, math.ceil(steps_per_epoch * config.epochs))

    class _Progress(TrainerCallback):  # type: ignore[misc]
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            # Training time so far, kept with the checkpoint so a resumed run reports it all.
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                elapsed = prior_seconds + time.perf_counter() - t0
                (folder / ELAPSED_FILE).write_text(json.dumps({"train_seconds": elapsed}))
            return control

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if progress:
                progress("Training", state.global_step, max_steps)
            if stop is not None and stop(state.global_step):
                control.should_save = True
                control.should_training_stop = True
            return control

    ckpt_dir = out / "checkpoints"
    args = CrossEncoderTrainingArguments(
        output_dir=str(ckpt_dir),
        max_steps=max_steps,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,
        lr_scheduler_type="linear",
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        logging_steps=max(1, min(25, max_steps // 10)),
        report_to="none",
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=_device(config) == "cpu",
        disable_tqdm=progress is not None,
    )
    trainer = CrossEncoderTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        loss=_loss(model, config, max_grade),
        callbacks=[_Progress()],
    )
    last = _last_checkpoint(ckpt_dir) if resume else None
    resumed_from, prior_seconds = 0, 0.0
    if last is not None:
        resumed_from = json.loads((last / "trainer_state.json").read_text())["global_step"]
        with suppress(OSError, ValueError, KeyError, TypeError):
            prior_seconds = float(json.loads((last / ELAPSED_FILE).read_text())["train_seconds"])
    t0 = time.perf_counter()
    if last is not None and resumed_from >= max_steps:
        # A finished run started again (e.g. to validate on another stage): nothing is left to
        # train (the trainer would take one more step when its last checkpoint is mid-epoch).
        from rankshift.models import load_cross_encoder

        model = load_cross_encoder(str(last), config.max_length, _device(config))
        steps = resumed_from
    else:
        trainer.train(resume_from_checkpoint=str(last) if last else None)
        steps = int(trainer.state.global_step)
    seconds = prior_seconds + time.perf_counter() - t0
    if steps < max_steps:
        # Stopped early (``stop``): the checkpoint is kept, the model folder is not written.
        return TrainResult(str(out), config, split, len(rows), steps, resumed_from, seconds)

    validation, blend = _validate(collection, qrels, split, val_stage, config, model, progress)
    model.save(str(out))
    result = TrainResult(
        str(out), config, split, len(rows), steps, resumed_from, seconds, validation, blend
    )
    write_model_card(out, collection, result, max_grade)
    return result


def validation_stage(retrievers: Mapping[str, Any], spec: str) -> Any:
    """The first stage named by ``spec`` (``bm25``, ``hybrid``, ``hybrid(zscore,w=0.5)``...).

    A plain stage name that is not among ``retrievers`` falls back to the first of them (the
    name of the stage used is in the validation table); a hybrid spec needs BM25 and dense.
    """
    if spec in retrievers:
        return retrievers[spec]
    if spec in ("bm25", "dense", "hybrid") and retrievers:
        return next(iter(retrievers.values()))
    from rankshift.evaluation import parse_pipeline
    from rankshift.pipeline import PipelineSettings, make_hybrid

    parsed = parse_pipeline(spec)
    if parsed.rerank:
        raise ValueError(f"the validation stage is a first stage, not a reranked one: {spec!r}")
    if parsed.first_stage != "hybrid" or not {"bm25", "dense"} <= set(retrievers):
        raise ValueError(f"no {spec!r} first stage among {', '.join(retrievers)}")
    settings = parsed.settings(PipelineSettings(reranker=None))
    return make_hybrid(retrievers["bm25"], retrievers["dense"], settings)


def _validate(
    collection: Collection,
    qrels: Qrels,
    split: QuerySplit,
    retriever: Any,
    config: TrainConfig,
    trained: Any,
    progress: ProgressFn | None,
) -> tuple[list[StageMetrics], BlendChoice | None]:
    from rankshift.rerank import blend_scores

    if not split.eval:
        return [], None
    first: dict[str, list[ScoredDoc]] = {
        q: retriever.search(collection.queries[q].text, config.rerank_k) for q in split.eval
    }
    eval_qrels = {q: qrels[q] for q in split.eval}
    metrics = [
        validation_metrics(f"{retriever.name} (first stage)", first, eval_qrels, "first stage")
    ]
    models: list[tuple[str, str, Any]] = []
    # The base is reported only when it loads as a cross-encoder again.
    with suppress(Exception):
        models.append(("base", f"base: {short_name(config.base_model)}", _load_base(config)))
    models.append(("trained", "trained", trained))
    scores: dict[str, dict[str, float]] = {}
    for kind, name, model in models:
        scores = {}
        for i, q in enumerate(split.eval, 1):
            ids = [r.doc_id for r in first[q]]
            texts = [collection.documents[d].full_text for d in ids]
            scores[q] = _score_with(model, collection.queries[q].text, texts, ids)
            if progress:
                progress(f"Validating {name}", i, len(split.eval))
        ranked = {q: _order(scores[q], first[q]) for q in split.eval}
        metrics.append(
            validation_metrics(f"{name} (k={config.rerank_k})", ranked, eval_qrels, kind)
        )
    # ``scores`` are the trained model's now: try mixing the first stage back in.
    grid = {}
    for w in BLEND_GRID:
        blended = {q: _order(blend_scores(first[q], scores[q], w), first[q]) for q in split.eval}
        grid[w] = validation_metrics("", blended, eval_qrels).ndcg10
    best = max(grid, key=lambda w: (round(grid[w], 6), -w))  # ties: the least blending
    if best > 0:
        blended = {q: _order(blend_scores(first[q], scores[q], best), first[q]) for q in split.eval}
        metrics.append(
            validation_metrics(f"trained, blend={best:g}", blended, eval_qrels, "blended")
        )
    return metrics, BlendChoice(grid, best)


def write_model_card(
    out: Path, collection: Collection, result: TrainResult, max_grade: int
) -> None:
    """Write ``README.md`` (for people) and ``rankshift_training.json`` (for programs)."""
    cfg = result.config
    record = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "collection": {"name": collection.name, "fingerprint": collection.fingerprint},
        "config": asdict(cfg),
        "split": {
            "method": result.split.method,
            "seed": result.split.seed,
            "train_queries": len(result.split.train),
            "validation_queries": len(result.split.eval),
            "validation_query_ids": list(result.split.eval),
        },
        "train_rows": result.train_rows,
        "steps": result.steps,
        "train_seconds": round(result.train_seconds, 1),
        "max_grade": max_grade,
        "validation": [asdict(m) for m in result.validation],
        "blend": (
            {
                "best": result.blend.best,
                "ndcg10": {f"{w:g}": v for w, v in result.blend.ndcg10.items()},
            }
            if result.blend
            else None
        ),
    }
    (out / "rankshift_training.json").write_text(json.dumps(record, indent=2))
    table = "\n".join(f"| {m.name} | {m.ndcg10:.4f} | {m.mrr10:.4f} |" for m in result.validation)
    params = "\n".join(f"| `{k}` | `{v}` |" for k, v in asdict(cfg).items())
    blend_note = ""
    if result.blend is not None:
        grid = ", ".join(f"{w:g}: {v:.4f}" for w, v in result.blend.ndcg10.items())
        blend_note = (
            f"\nBlend (the first stage's share of the reranked score, z-scores; nDCG@10 by "
            f"weight): {grid}. Best: **{result.blend.best:g}**; use it with "
            f"`--blend {result.blend.best:g}`.\n"
        )
    own = resolve_head(cfg) == "cosine"
    load_args = ", trust_remote_code=True" if own else ""
    own_code = (
        "\n\nThe `cosine` head is rankshift's own module (`rankshift.rerank.heads.SegmentCosine`): "
        "loading the folder needs rankshift installed, and sentence-transformers asks for "
        "`trust_remote_code=True` before it imports a class it does not ship (rankshift's own "
        "loader passes it for rankshift's heads only)."
        if own
        else ""
    )
    card = f"""---
library_name: sentence-transformers
pipeline_tag: text-ranking
tags: [cross-encoder, reranker, rankshift]
base_model: {cfg.base_model}
---

# Cross-encoder reranker trained with rankshift

Trained on {record["created"]} by `rankshift train` from the judgments of the collection
**{collection.name}** (fingerprint `{collection.fingerprint}`).

- **Base model:** `{cfg.base_model}` (scored through the head below)
- **Data:** {len(result.split.train)} training queries, {result.train_rows} rows; each query's
  judged documents plus its {cfg.unjudged_negatives} highest-ranked unjudged first-stage
  candidates as negatives (BM25, dense and hybrid rankings interleaved, top {cfg.candidate_depth})
- **Loss:** `{cfg.loss}`: {LOSSES[cfg.loss]}
- **Head:** `{resolve_head(cfg)}`: {HEADS[resolve_head(cfg)]}
- **Training:** {result.steps} steps in {result.train_seconds / 60:.1f} minutes

## Validation

{len(result.split.eval)} held-out queries (split by query, seed {cfg.seed}); each reranks the
top {cfg.rerank_k} of `{cfg.rerank_input}`.

| ranking | nDCG@10 | MRR@10 |
|---|---|---|
{table}
{blend_note}

## Hyper-parameters

| parameter | value |
|---|---|
{params}

## Use

```python
from sentence_transformers import CrossEncoder

model = CrossEncoder("{out}"{load_args})
scores = model.predict([("query", "document text")])
```

or `rankshift search <collection> "query" --reranker {out}`.{own_code}
"""
    (out / "README.md").write_text(card)


def trained_models(root: str | Path | None = None) -> list[Path]:
    """Model folders under ``<cache>/models`` (newest first): the app lists them as rerankers."""
    base = Path(root) if root is not None else cache_dir() / "models"
    if not base.is_dir():
        return []
    found = [
        p
        for p in base.iterdir()
        if (p / "config.json").exists() and (p / "rankshift_training.json").exists()
    ]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def recommended_blend(model: str | Path) -> float | None:
    """The blend weight ``rankshift train`` found best on its validation queries for ``model``.

    None when ``model`` is not a rankshift-trained folder or its record has no blend.
    """
    record = Path(model) / "rankshift_training.json"
    try:
        blend = json.loads(record.read_text()).get("blend") or {}
        return float(blend["best"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
