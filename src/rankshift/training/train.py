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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rankshift.config import cache_dir
from rankshift.corpus import Collection
from rankshift.models import short_name
from rankshift.retrievers.base import ProgressFn
from rankshift.training.card import recommended_blend, trained_models, write_model_card
from rankshift.training.config import HEADS, LOSS_ROWS, LOSSES, Head, Loss, TrainConfig
from rankshift.training.data import build_training_data, split_seeded
from rankshift.training.models import device_for, load_base, resolve_head
from rankshift.training.result import BlendChoice, StageMetrics, TrainResult
from rankshift.training.validate import validate, validation_metrics, validation_stage
from rankshift.types import Qrels

__all__ = [
    "ELAPSED_FILE",
    "HEADS",
    "LOSSES",
    "LOSS_ROWS",
    "BlendChoice",
    "Head",
    "Loss",
    "StageMetrics",
    "TrainConfig",
    "TrainResult",
    "default_output_dir",
    "interleave",
    "recommended_blend",
    "resolve_head",
    "train_reranker",
    "trained_models",
    "validation_metrics",
    "validation_stage",
]


ELAPSED_FILE = "rankshift_elapsed.json"
"""Kept in each checkpoint: the training seconds up to it, so resumed runs report the total."""


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


def _last_checkpoint(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    found = [
        (int(p.name.split("-")[1]), p)
        for p in folder.glob("checkpoint-*")
        if p.name.split("-")[1].isdigit() and (p / "trainer_state.json").exists()
    ]
    return max(found)[1] if found else None


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
    model = load_base(config)
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
        use_cpu=device_for(config) == "cpu",
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

        model = load_cross_encoder(str(last), config.max_length, device_for(config))
        steps = resumed_from
    else:
        trainer.train(resume_from_checkpoint=str(last) if last else None)
        steps = int(trainer.state.global_step)
    seconds = prior_seconds + time.perf_counter() - t0
    if steps < max_steps:
        # Stopped early (``stop``): the checkpoint is kept, the model folder is not written.
        return TrainResult(str(out), config, split, len(rows), steps, resumed_from, seconds)

    validation, blend = validate(collection, qrels, split, val_stage, config, model, progress)
    model.save(str(out))
    result = TrainResult(
        str(out), config, split, len(rows), steps, resumed_from, seconds, validation, blend
    )
    write_model_card(out, collection, result, max_grade)
    return result
