"""The model card of a trained reranker (``README.md`` and ``rankshift_training.json``), and
finding the rerankers trained here."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from rankshift.config import cache_dir
from rankshift.corpus import Collection
from rankshift.training.config import HEADS, LOSSES
from rankshift.training.models import resolve_head
from rankshift.training.result import TrainResult


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

    ``model`` is a folder or a reranker spec (``bf16:<folder>``). None when it is not a
    rankshift-trained folder or its record has no blend.
    """
    from rankshift.rerank.spec import RerankerSpec

    try:
        spec = RerankerSpec.parse(str(model))
    except ValueError:
        return None
    if spec.remote:
        return None
    record = Path(spec.target) / "rankshift_training.json"
    try:
        blend = json.loads(record.read_text()).get("blend") or {}
        return float(blend["best"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
