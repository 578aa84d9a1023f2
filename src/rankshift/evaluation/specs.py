"""Pipeline specs: the pipelines of a batch as written on the command line and in the app.

``bm25``, ``hybrid(minmax,w=0.3)``, ``dense>ce(blend=0.4)``...: a first stage from the
:data:`~rankshift.pipeline.FIRST_STAGES` registry, a fusion from
:data:`~rankshift.retrievers.hybrid.FUSIONS`, optionally followed by the reranker. The CLI's
``--pipelines`` help and the Evaluate page's choices are both built from :data:`PIPELINE_CHOICES`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rankshift.pipeline import FIRST_STAGES, PipelineSettings
from rankshift.rerank.spec import PASSAGE_MODES
from rankshift.retrievers.hybrid import FUSIONS

PIPELINE_CHOICES: tuple[str, ...] = (*FIRST_STAGES, *(f"{stage}>ce" for stage in FIRST_STAGES))
"""Registry of the pipelines offered by name: each first stage of
:data:`~rankshift.pipeline.FIRST_STAGES`, alone and reranked. The Evaluate page's choices and
``rankshift eval --pipelines all`` both read it."""

ALL_PIPELINES = ",".join(PIPELINE_CHOICES)
"""Every configured pipeline as one spec list (``bm25,dense,hybrid,bm25>ce,...``)."""

_SPEC = re.compile(
    r"^(?P<stage>[a-z0-9_]+)(?:\((?P<args>[^()]*)\))?(?P<ce>>ce(?:\((?P<ce_args>[^()]*)\))?)?$"
)


@dataclass(frozen=True)
class PipelineSpec:
    """One pipeline of a batch, as written on the command line.

    Grammar: ``stage[(args)][>ce[(maxp|firstp,blend=b)]]`` where ``stage`` is a key of
    :data:`~rankshift.pipeline.FIRST_STAGES`. Only ``hybrid`` takes arguments: the fusion
    method (a key of :data:`~rankshift.retrievers.hybrid.FUSIONS`), then ``k=`` (RRF's
    constant) or ``w=`` (the dense weight of ``minmax``/``zscore``), e.g. ``hybrid(rrf,k=60)``
    or ``hybrid(minmax,w=0.3)>ce``. ``>ce(blend=0.4)`` mixes the first stage's score back
    into the reranked order with weight 0.4 (see :func:`~rankshift.rerank.blend_scores`);
    ``>ce(maxp)`` scores a long document by its best window of the reranker's ``max_length``
    tokens (MaxP), ``>ce(firstp)`` by its beginning (the reranker's own truncation; the default).
    What is not given comes from the batch's :class:`~rankshift.pipeline.PipelineSettings`.
    """

    first_stage: str
    fusion: str | None = None
    rrf_k: int | None = None
    weight: float | None = None
    rerank: bool = False
    blend: float | None = None
    passages: str | None = None
    """``maxp`` or ``firstp`` when the spec says; None: the reranker's own mode."""

    @property
    def stage_key(self) -> str:
        """The first stage's spec, e.g. ``hybrid(minmax,w=0.3)``."""
        args = [self.fusion] if self.fusion else []
        if self.rrf_k is not None:
            args.append(f"k={self.rrf_k}")
        if self.weight is not None:
            args.append(f"w={self.weight:g}")
        return f"{self.first_stage}({','.join(args)})" if args else self.first_stage

    def settings(self, base: PipelineSettings) -> PipelineSettings:
        """``base`` with this spec's fusion parameters (those it gives) in place."""
        return base.with_(
            fusion=self.fusion or base.fusion,
            rrf_k=self.rrf_k if self.rrf_k is not None else base.rrf_k,
            fusion_weight=self.weight if self.weight is not None else base.fusion_weight,
        )

    @property
    def first(self) -> PipelineSpec:
        """The same pipeline without the reranker."""
        return PipelineSpec(self.first_stage, self.fusion, self.rrf_k, self.weight, False)

    def __str__(self) -> str:
        if not self.rerank:
            return self.stage_key
        args = [self.passages] if self.passages else []
        if self.blend is not None:
            args.append(f"blend={self.blend:g}")
        return self.stage_key + ">ce" + (f"({','.join(args)})" if args else "")


def parse_pipeline(text: str) -> PipelineSpec:
    """Parse one pipeline spec (see :class:`PipelineSpec`). Raises ValueError with the reason."""
    m = _SPEC.match(text.replace(" ", ""))
    if not m:
        raise ValueError(
            f"cannot read pipeline {text!r}: expected e.g. bm25, hybrid(rrf), dense>ce"
        )
    stage = m["stage"]
    if stage not in FIRST_STAGES:
        raise ValueError(
            f"unknown first stage {stage!r} in {text!r}; choose from {', '.join(FIRST_STAGES)}"
        )
    fusion, rrf_k, weight = None, None, None
    if m["args"] is not None:
        if stage != "hybrid":
            raise ValueError(f"{stage!r} takes no arguments in a pipeline spec ({text!r})")
        parts = [p for p in m["args"].split(",") if p]
        if not parts or parts[0] not in FUSIONS:
            raise ValueError(f"hybrid needs a fusion method first: one of {', '.join(FUSIONS)}")
        fusion = parts[0]
        for part in parts[1:]:
            key, _, value = part.partition("=")
            try:
                if key == "k" and fusion == "rrf":
                    rrf_k = int(value)
                elif key == "w" and fusion != "rrf":
                    weight = float(value)
                    if not 0.0 <= weight <= 1.0:
                        raise ValueError
                else:
                    raise KeyError(key)
            except KeyError:
                raise ValueError(
                    f"unknown argument {part!r} for hybrid({fusion}): rrf takes k=, "
                    "minmax and zscore take w="
                ) from None
            except ValueError:
                raise ValueError(f"bad value in {part!r} ({text!r})") from None
    blend, passages = None, None
    for arg in [a for a in (m["ce_args"] or "").split(",") if a]:
        if arg in PASSAGE_MODES:
            passages = arg
            continue
        key, _, value = arg.partition("=")
        if key != "blend":
            raise ValueError(
                f"unknown argument {arg!r} for >ce: it takes maxp or firstp, and blend="
            )
        try:
            blend = float(value)
            if not 0.0 <= blend <= 1.0:
                raise ValueError
        except ValueError:
            raise ValueError(f"blend must be a number between 0 and 1 in {text!r}") from None
    return PipelineSpec(stage, fusion, rrf_k, weight, bool(m["ce"]), blend, passages)


def parse_pipelines(text: str | Sequence[str | PipelineSpec]) -> list[PipelineSpec]:
    """Parse a comma-separated list (commas inside parentheses belong to the spec).

    ``all`` stands for :data:`ALL_PIPELINES`. Duplicates are dropped, order is kept.
    """
    if isinstance(text, str):
        items, depth, start = [], 0, 0
        for i, ch in enumerate(text):
            depth += (ch == "(") - (ch == ")")
            if ch == "," and depth == 0:
                items.append(text[start:i])
                start = i + 1
        items.append(text[start:])
        expanded: list[str | PipelineSpec] = []
        for item in (s.strip() for s in items):
            if item == "all":
                expanded.extend(ALL_PIPELINES.split(","))
            elif item:
                expanded.append(item)
    else:
        expanded = list(text)
    specs = [s if isinstance(s, PipelineSpec) else parse_pipeline(s) for s in expanded]
    if not specs:
        raise ValueError("no pipelines given")
    return list(dict.fromkeys(specs))


def stage_parts(spec: PipelineSpec) -> list[str]:
    """The retrievers a spec's first stage needs: ``bm25`` and ``dense`` for a hybrid."""
    return ["bm25", "dense"] if spec.first_stage == "hybrid" else [spec.first_stage]


def batch_settings(
    settings: PipelineSettings, pipelines: str | Sequence[str | PipelineSpec]
) -> PipelineSettings:
    """The pipeline settings a batch of ``pipelines`` needs.

    Its first stages are the retrievers the specs need (see :func:`stage_parts`), and the
    reranker is kept only when some spec reranks (``None`` otherwise, so nothing loads it).
    K, N, models and fusion parameters come from ``settings`` unchanged.
    """
    specs = parse_pipelines(pipelines)
    base: list[str] = []
    for spec in specs:
        base.extend(k for k in stage_parts(spec) if k not in base)
    return settings.with_(
        first_stages=tuple(base),
        rerank_input=base[0],
        reranker=settings.reranker if any(s.rerank for s in specs) else None,
    )


def pipeline_help() -> str:
    """What a pipeline spec can be, built from the registries (the CLI's ``--pipelines`` help)."""
    hybrids = [f"hybrid({name}{',k=60' if name == 'rrf' else ',w=0.3'})" for name in FUSIONS]
    return (
        f"comma-separated pipelines: {', '.join(FIRST_STAGES)}, {', '.join(hybrids)} "
        "(the fusion's arguments are optional), each optionally followed by '>ce' for the "
        "reranker, '>ce(blend=0.5)' to blend in the first stage's score, '>ce(maxp)' to score "
        "long documents by their best window (MaxP); "
        f"'all' = {ALL_PIPELINES}"
    )


def runnable_specs(
    pipelines: str | Sequence[str | PipelineSpec], retrievers: Mapping[str, object]
) -> tuple[list[PipelineSpec], dict[str, str]]:
    """Split specs into those whose retrievers exist and those that cannot run (with why).

    Args:
        pipelines: the specs.
        retrievers: the available retrievers by key (``Pipeline.retrievers``), e.g. without
            ``dense`` when the bi-encoder could not load.
    """
    ok: list[PipelineSpec] = []
    skipped: dict[str, str] = {}
    for spec in parse_pipelines(pipelines):
        missing = [k for k in stage_parts(spec) if k not in retrievers]
        if missing:
            skipped[str(spec)] = f"the {' and '.join(missing)} retriever is not available"
        else:
            ok.append(spec)
    return ok, skipped
