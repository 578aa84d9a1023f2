"""Plain, typed, serialisable records shared by every part of rankshift.

Field names follow the IR libraries (``query_id``, ``doc_id``, ``score``, ``relevance``) and
runs/qrels are dict-of-dict so ir_measures, ranx and pytrec_eval take them unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal, Protocol

Run = dict[str, dict[str, float]]
"""``run[query_id][doc_id] = score``."""

Qrels = dict[str, dict[str, int]]
"""``qrels[query_id][doc_id] = relevance`` (graded, 0 = judged not relevant)."""

StageKind = Literal["first_stage", "rerank"]
ShiftStatus = Literal["up", "down", "same", "new", "dropped", "below", "not_candidate"]
"""Where a document went, relative to the top-N cut (see :class:`ShiftRow`)."""
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
    n_tokens: int | None
    """Length of the tokenised pair before truncation; None when the reranker cannot tell (a
    service over HTTP reports no token counts)."""
    truncated: bool | None
    """True when ``n_tokens`` exceeded the model's ``max_length``; None when unknown."""
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
    """Where one document sat before and after reranking.

    ``status``, relative to the top-N cut:

    - ``up``, ``down``, ``same``: in the top-N of both lists, moved up, down or not at all;
    - ``new``: pulled into the reranked top-N from below the first stage's cut (or from outside
      its list): promoted;
    - ``dropped``: in the first stage's top-N, among the reranker's candidates, and put below
      the reranked top-N by the reranker;
    - ``below``: below the cut in both lists (or not retrieved by the first stage and below the
      reranked cut): it never reached the top-N, so it is neither "same" nor a move that counts;
    - ``not_candidate``: the reranker never saw it (another first stage's document, outside the
      top-K of the stage the reranker reordered). Never "dropped": the reranker had no say.
    """

    doc_id: str
    first_rank: int | None
    """Rank in the first stage's candidate list (``None``: not retrieved by it)."""
    reranked_rank: int | None
    """Rank in the reranked list (``None``: not among the reranker's candidates)."""
    first_score: float | None
    rerank_score: float | None
    """The score that decided the reranked order: the cross-encoder's own score, or the blended
    score when the first stage was blended back in (``Audit.blend`` > 0)."""
    status: ShiftStatus
    shift: int | None
    """``first_rank - reranked_rank``: positive means the reranker moved it up."""
    ce_score: float | None = None
    """The cross-encoder's own score (raw model output), whatever the blend; ``None`` when the
    reranker did not score it or the audit was not given the pair scores."""

    @property
    def marker(self) -> str:
        """``▲3``, ``▼12``, ``=``, ``new (was 18)``, ``dropped (now 16)``, ``▼1, below the cut``
        or ``not a candidate``: the row's move in words short enough for a table cell."""
        if self.status == "new":
            return f"new (was {self.first_rank})" if self.first_rank else "new"
        if self.status == "dropped":
            return f"dropped (now {self.reranked_rank})"
        if self.status == "not_candidate":
            return "not a candidate"
        move = self.move
        if self.status == "below":
            return f"{move}, below the cut" if move else "below the cut"
        return move

    @property
    def move(self) -> str:
        """The rank change alone: ``▲3``, ``▼12``, ``=`` (empty when one rank is missing)."""
        if self.shift is None:
            return ""
        if self.shift == 0:
            return "="
        return f"▲{self.shift}" if self.shift > 0 else f"▼{-self.shift}"


@dataclass(frozen=True)
class Audit:
    """What the reranker did to one first stage's ranking at a top-N cut.

    ``dropped`` and ``promoted`` count only the reranker's candidates: a document of this first
    stage that the reranker never saw is listed in ``not_candidates``, apart.
    """

    first_stage: str
    reranked_stage: str
    n: int
    rows: list[ShiftRow]
    """Every document of either list, in reranked order (documents the reranker never saw last)."""
    dropped: list[ShiftRow]
    """In the first stage's top-N and among the reranker's candidates, not in the reranked
    top-N; by first-stage rank."""
    promoted: list[ShiftRow]
    """In the reranked top-N, not in the first stage's top-N."""
    kendall_tau: float | None
    """Rank correlation between the two orders over the shared candidates."""
    cutoff_score: float | None
    """The N-th reranked document's score, on the score that decided the order (blended when
    ``blend`` > 0); margins are measured against it."""
    not_candidates: list[ShiftRow] = field(default_factory=list)
    """In the first stage's top-N but never among the reranker's candidates (empty when this
    first stage is the one the reranker reordered); by first-stage rank."""
    blend: float = 0.0
    """Weight of the first-stage score in the reranked order (0: the cross-encoder alone)."""
    rerank_input: str | None = None
    """Name of the stage whose top-K the reranker reordered (its candidates)."""
    candidates: int = 0
    """How many candidates the reranker reordered."""


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
    """Audit of the reranked list against each first stage, by first-stage key. Only the
    reranker's input stage's audit says what the reranker did to its own candidates; the others
    list the documents it never saw as ``not_candidates``."""
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
                not_candidates=[ShiftRow(**r) for r in d.get("not_candidates", [])],
                blend=d.get("blend", 0.0),
                rerank_input=d.get("rerank_input"),
                candidates=d.get("candidates", 0),
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


# --------------------------------------------------------------------------------------
# Judgments: relevance labels and what the judgment store, its importers, exporters, the
# judging queue and agreement share. (rankshift.judgments holds the code; these are records.)

JudgmentStatus = Literal["graded", "skipped"]
HistoryAction = Literal["create", "update", "delete", "rejected_stale", "adopt"]
Aggregate = Literal["mean", "majority", "min", "max"]
JudgmentKey = tuple[str, str, str, str]
"""``(collection, query_id, doc_id, annotator)``: what the store's UNIQUE index is on."""
Freshness = Literal["current", "stale", "unverified", "missing"]
"""A label against the collection as it is now (see :meth:`Judgment.freshness`)."""

SKIP: Final = "skip"
"""Pass as ``grade`` to record "skip / can't judge"."""

DocHashes = Callable[[str], "str | None"]
"""A document's content hash now, by doc id (``None``: not in the collection), e.g.
:meth:`rankshift.corpus.Collection.doc_hash`."""


class JudgedCollection(Protocol):
    """What the judgment store needs of a collection (:class:`rankshift.corpus.Collection`).

    ``name`` is the identity labels are keyed by (stable across edits of the documents);
    ``fingerprint`` the content hash of the whole corpus (how labels were keyed before
    schema 2, used to adopt them); ``doc_hash`` one document's content hash now (``None`` if
    the document is not in the collection).
    """

    @property
    def name(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...

    def doc_hash(self, doc_id: str) -> str | None: ...


@dataclass(frozen=True)
class GradeScale:
    """Ordered relevance grades: grade ``min_grade + i`` is called ``labels[i]``.

    Attributes:
        labels: names of the grades, lowest first.
        min_grade: the lowest grade's number.
    """

    labels: tuple[str, ...] = ("irrelevant", "related", "relevant", "perfect")
    min_grade: int = 0

    def __post_init__(self) -> None:
        if len(self.labels) < 2:
            raise ValueError("a grade scale needs at least two grades")
        if SKIP in self.labels:
            raise ValueError(f"{SKIP!r} is reserved for 'skip / can't judge'")

    @property
    def grades(self) -> tuple[int, ...]:
        return tuple(range(self.min_grade, self.min_grade + len(self.labels)))

    def label(self, grade: int | None) -> str:
        """Name of ``grade``; ``None`` (a skip) is called ``"skip"``."""
        if grade is None:
            return SKIP
        return self.labels[self.validate(grade) - self.min_grade]

    def validate(self, grade: object) -> int:
        """Return ``grade`` if it is on the scale, else raise ValueError."""
        # bool is an int subclass; True as a grade is always a bug upstream.
        if not isinstance(grade, int) or isinstance(grade, bool) or grade not in self.grades:
            raise ValueError(f"grade must be one of {list(self.grades)} or {SKIP!r}, got {grade!r}")
        return grade


DEFAULT_SCALE = GradeScale()

_CONTEXT_FIELDS = ("stage", "model_id", "model_revision", "rank", "settings")


@dataclass(frozen=True)
class JudgmentContext:
    """What was on screen when a judgment was made.

    Attributes:
        stage: which ranking was shown (``"reranked"``, ``"bm25"``, ...).
        model_id: the reranker's model id.
        model_revision: its revision (commit hash).
        rank: the rank the document was shown at (1-based).
        settings: any other settings (k, N, fusion, ...), JSON-serialisable.
        extra: keys this version does not know (from a newer writer or another tool), kept so
            that reading and re-writing a record loses nothing.
    """

    stage: str | None = None
    model_id: str | None = None
    model_revision: str | None = None
    rank: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.extra,
            "stage": self.stage,
            "model_id": self.model_id,
            "model_revision": self.model_revision,
            "rank": self.rank,
            "settings": dict(self.settings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> JudgmentContext:
        data = dict(data or {})
        known = {k: data.pop(k) for k in _CONTEXT_FIELDS if k in data}
        return cls(
            stage=known.get("stage"),
            model_id=known.get("model_id"),
            model_revision=known.get("model_revision"),
            rank=known.get("rank"),
            settings=dict(known.get("settings") or {}),
            extra=data,
        )

    def to_json(self) -> str:
        try:
            return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"judgment context must be JSON-serialisable: {e}") from None


@dataclass(frozen=True)
class Judgment:
    """One annotator's current label for one (query, document) pair.

    Attributes:
        collection: the collection's identity (its name; a label written before schema 2 and
            not yet adopted carries the old whole-corpus fingerprint here).
        query_id: query id.
        doc_id: document id.
        annotator: who the label belongs to (a person, or a source such as ``"qrels:test"``).
        grade: the relevance grade, ``None`` when skipped.
        status: ``"graded"`` or ``"skipped"`` ("can't judge").
        query_text: the query as the annotator saw it.
        note: free-text note.
        context: what was on screen (:class:`JudgmentContext`).
        source: where the label came from (``"ui"``, ``"qrels:test"``, ...).
        version: 1 on creation, +1 on every change (deletions count, so an edit made against a
            deleted judgment's last version cannot quietly resurrect it).
        timestamp: when this version was made (ISO-8601, UTC).
        edited_by: who made this version: the annotator, or a reviewer acting for them.
        doc_hash: the content hash of the document as it was judged
            (:meth:`rankshift.corpus.Collection.doc_hash`); ``None`` when unknown (a label
            imported without the documents, or written before schema 2).
    """

    collection: str
    query_id: str
    doc_id: str
    annotator: str
    grade: int | None
    status: JudgmentStatus = "graded"
    query_text: str = ""
    note: str | None = None
    context: JudgmentContext = field(default_factory=JudgmentContext)
    source: str = "ui"
    version: int = 0
    timestamp: str = ""
    edited_by: str = ""
    doc_hash: str | None = None

    @property
    def key(self) -> JudgmentKey:
        return (self.collection, self.query_id, self.doc_id, self.annotator)

    @property
    def skipped(self) -> bool:
        return self.status == "skipped"

    def freshness(self, current_hash: str | None) -> Freshness:
        """This label against the document as it is now.

        Args:
            current_hash: the document's content hash now (``None``: not in the collection).

        Returns:
            ``"current"`` (judged on this text), ``"stale"`` (the text changed since: the
            label describes a document that no longer reads that way), ``"unverified"`` (no
            hash was stored with the label) or ``"missing"`` (the document is gone; the label
            is kept).
        """
        if current_hash is None:
            return "missing"
        if self.doc_hash is None:
            return "unverified"
        return "current" if self.doc_hash == current_hash else "stale"

    def same_content(self, other: Judgment) -> bool:
        """True when the label itself is the same (ignores version, time and editor)."""
        return (
            self.key == other.key
            and self.grade == other.grade
            and self.status == other.status
            and self.query_text == other.query_text
            and self.note == other.note
            and self.context == other.context
            and self.source == other.source
            and self.doc_hash == other.doc_hash
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the JSONL export record)."""
        return {
            "collection": self.collection,
            "query_id": self.query_id,
            "query_text": self.query_text,
            "doc_id": self.doc_id,
            "annotator": self.annotator,
            "status": self.status,
            "grade": self.grade,
            "note": self.note,
            "context": self.context.to_dict(),
            "source": self.source,
            "version": self.version,
            "timestamp": self.timestamp,
            "edited_by": self.edited_by,
            "doc_hash": self.doc_hash,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Judgment:
        missing = [k for k in ("collection", "query_id", "doc_id", "annotator") if k not in data]
        if missing:
            raise ValueError(f"judgment record lacks {', '.join(missing)}")
        grade = data.get("grade")
        status = data.get("status") or ("skipped" if grade is None else "graded")
        return cls(
            collection=str(data["collection"]),
            query_id=str(data["query_id"]),
            doc_id=str(data["doc_id"]),
            annotator=str(data["annotator"]),
            grade=None if grade is None else int(grade),
            status=status,
            query_text=str(data.get("query_text") or ""),
            note=data.get("note"),
            context=JudgmentContext.from_dict(data.get("context")),
            source=str(data.get("source") or "ui"),
            version=int(data.get("version") or 0),
            timestamp=str(data.get("timestamp") or ""),
            edited_by=str(data.get("edited_by") or data["annotator"]),
            doc_hash=data.get("doc_hash") or None,
        )


@dataclass(frozen=True)
class HistoryEntry:
    """One row of ``judgment_history``.

    Attributes:
        seq: position in the history (replay order).
        action: ``create``, ``update``, ``delete``, ``rejected_stale`` or ``adopt`` (a label
            keyed by the old corpus fingerprint re-keyed to the collection's name, unchanged).
        judgment: for create/update the judgment as written; for delete the judgment that was
            removed, with the version the deletion got; for rejected_stale the refused attempt,
            with the version the judgment actually had; for adopt the label under its new key.
        recorded_at: when the store wrote this row (ISO-8601, UTC).
        expected_version: the version the caller said it was editing, if it said.
        attempted: for rejected_stale, what was refused (``"save"`` or ``"delete"``).
        adopted_from: for adopt, the collection key the label had before.
    """

    seq: int
    action: HistoryAction
    judgment: Judgment
    recorded_at: str
    expected_version: int | None = None
    attempted: Literal["save", "delete"] | None = None
    adopted_from: str | None = None


@dataclass(frozen=True)
class ImportReport:
    """What a bulk import did."""

    created: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass(frozen=True)
class JudgmentFacets:
    """The values a collection's judgments take: what the Judgments page's filters offer."""

    query_ids: list[str]
    annotators: list[str]
    sources: list[str]
    grades: list[int | str]
    """Grades in use, lowest first, then ``"skip"`` if any judgment is a skip."""
    total: int = 0
    """How many judgments the collection has."""
