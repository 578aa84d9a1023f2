"""Plain, typed, serialisable records shared by every part of rankshift.

Field names follow the IR libraries (``query_id``, ``doc_id``, ``score``, ``relevance``) and
runs/qrels are dict-of-dict so ir_measures, ranx and pytrec_eval take them unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Run = dict[str, dict[str, float]]
"""``run[query_id][doc_id] = score``."""

Qrels = dict[str, dict[str, int]]
"""``qrels[query_id][doc_id] = relevance`` (graded, 0 = judged not relevant)."""

StageKind = Literal["first_stage", "rerank"]
ShiftStatus = Literal["up", "down", "same", "new", "dropped"]
RerankStatus = Literal["ok", "unavailable", "failed", "skipped"]


@dataclass(frozen=True)
class Document:
    doc_id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def full_text(self) -> str:
        """Title and text as the retrievers and the reranker see them."""
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True)
class Query:
    query_id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoredDoc:
    """One row of a ranking. ``rank`` is 1-based."""

    doc_id: str
    rank: int
    score: float


@dataclass(frozen=True)
class PairScore:
    """What the cross-encoder said about one (query, document) pair."""

    doc_id: str
    score: float
    """Raw model output (the logit for single-logit models)."""
    probability: float
    """Sigmoid of the logit: a calibrated-looking number in [0, 1]."""
    n_tokens: int
    """Length of the tokenised pair before truncation."""
    truncated: bool
    """True when ``n_tokens`` exceeded the model's ``max_length``."""
    cached: bool = False


@dataclass(frozen=True)
class StageResult:
    """The ranking one stage produced for one query."""

    name: str
    """Display name that records parameters, e.g. ``hybrid(rrf,k=60)`` or ``bm25>ce(model)``."""
    kind: StageKind
    ranking: list[ScoredDoc]
    ms: float
    params: dict[str, Any] = field(default_factory=dict)

    def rank_of(self, doc_id: str) -> int | None:
        for row in self.ranking:
            if row.doc_id == doc_id:
                return row.rank
        return None

    def top(self, n: int) -> list[ScoredDoc]:
        return self.ranking[:n]


@dataclass(frozen=True)
class RerankInfo:
    """How the reranker ran (or why it did not)."""

    model_id: str
    status: RerankStatus
    message: str = ""
    revision: str | None = None
    max_length: int | None = None
    input_stage: str | None = None
    k: int = 0
    pairs: list[PairScore] = field(default_factory=list)
    scored_pairs: int = 0
    """Pairs the model actually scored in this call (the rest came from the cache)."""
    cached_pairs: int = 0
    ms: float = 0.0
    blend: float = 0.0
    """Weight of the first-stage score mixed into the reranked order (0: the reranker alone)."""

    @property
    def reranked(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class ShiftRow:
    """Where one document sat before and after reranking."""

    doc_id: str
    first_rank: int | None
    """Rank in the first stage's candidate list (``None``: not retrieved by it)."""
    reranked_rank: int | None
    """Rank in the reranked list (``None``: not in the reranked candidates)."""
    first_score: float | None
    rerank_score: float | None
    status: ShiftStatus
    """Relative to the top-N cut: ``new`` entered the top-N from below it, ``dropped`` left it."""
    shift: int | None
    """``first_rank - reranked_rank``: positive means the reranker moved it up."""

    @property
    def marker(self) -> str:
        if self.status == "new":
            return f"new (was {self.first_rank})" if self.first_rank else "new"
        if self.status == "dropped":
            return f"dropped (now {self.reranked_rank})" if self.reranked_rank else "dropped"
        if self.shift is None or self.shift == 0:
            return "="
        return f"▲{self.shift}" if self.shift > 0 else f"▼{-self.shift}"


@dataclass(frozen=True)
class Audit:
    """What the reranker did to one first stage's ranking at a top-N cut."""

    first_stage: str
    reranked_stage: str
    n: int
    rows: list[ShiftRow]
    """Every candidate, in reranked order (documents the reranker never saw last)."""
    dropped: list[ShiftRow]
    """In the first stage's top-N, not in the reranked top-N."""
    promoted: list[ShiftRow]
    """In the reranked top-N, not in the first stage's top-N."""
    kendall_tau: float | None
    """Rank correlation between the two orders over the shared candidates."""
    cutoff_score: float | None
    """The reranker's score of the N-th reranked document (margins are measured against it)."""


@dataclass(frozen=True)
class PipelineResult:
    """One query through every stage: the value the app, judgments and evaluation consume."""

    query: Query
    collection: str
    """Collection fingerprint."""
    settings: dict[str, Any]
    stages: dict[str, StageResult]
    """First stages by key (``bm25``, ``dense``, ``hybrid``) and the reranked list (``reranked``)."""
    rerank: RerankInfo | None
    audits: dict[str, Audit]
    """Audit of the reranked list against each first stage, by first-stage key."""
    timings_ms: dict[str, float]

    @property
    def first_stage_keys(self) -> list[str]:
        return [k for k, s in self.stages.items() if s.kind == "first_stage"]

    @property
    def reranked(self) -> StageResult | None:
        return self.stages.get("reranked")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineResult:
        def stage(d: dict[str, Any]) -> StageResult:
            return StageResult(
                name=d["name"],
                kind=d["kind"],
                ranking=[ScoredDoc(**r) for r in d["ranking"]],
                ms=d["ms"],
                params=d.get("params", {}),
            )

        def audit(d: dict[str, Any]) -> Audit:
            rows = [ShiftRow(**r) for r in d["rows"]]
            return Audit(
                first_stage=d["first_stage"],
                reranked_stage=d["reranked_stage"],
                n=d["n"],
                rows=rows,
                dropped=[ShiftRow(**r) for r in d["dropped"]],
                promoted=[ShiftRow(**r) for r in d["promoted"]],
                kendall_tau=d["kendall_tau"],
                cutoff_score=d["cutoff_score"],
            )

        rr = data.get("rerank")
        rerank = None
        if rr is not None:
            rr = dict(rr)
            rr["pairs"] = [PairScore(**p) for p in rr.get("pairs", [])]
            rerank = RerankInfo(**rr)
        return cls(
            query=Query(**data["query"]),
            collection=data["collection"],
            settings=data["settings"],
            stages={k: stage(v) for k, v in data["stages"].items()},
            rerank=rerank,
            audits={k: audit(v) for k, v in data["audits"].items()},
            timings_ms=data["timings_ms"],
        )
