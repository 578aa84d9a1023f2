"""The judgment store: relevance labels in SQLite, one current label per key, full history.

A *judgment* is one annotator's grade for one (query, document) pair of one collection. The
store keeps exactly one current judgment per ``(collection, query_id, doc_id, annotator)``
(a UNIQUE index enforces it) and appends every change to ``judgment_history`` in the same
transaction, so the history alone can rebuild the current table
(:meth:`JudgmentStore.replay_history`).

Labels are keyed by the collection's *name* (stable when documents are added, removed or
corrected) and each carries the content hash of the document it judged. A label whose
document text has changed since is *stale*: listed (and marked) but left out of qrels unless
asked for. Labels written before schema 2 were keyed by the whole corpus's fingerprint; opening
a collection whose fingerprint is that one adopts them (:meth:`JudgmentStore.adopt`).

Concurrency model:

* One :class:`JudgmentStore` per thread. Each store opens its own SQLite connection, and
  :mod:`sqlite3` refuses to use a connection from another thread, so sharing a store across
  threads fails loudly instead of corrupting a transaction. Processes and threads may open as
  many stores on one file as they like.
* WAL mode, so readers never block the writer and the writer never blocks readers.
* Every write is one short ``BEGIN IMMEDIATE`` transaction (:mod:`.transactions`). A caller
  never sees ``database is locked`` and never gets a return value for a write that was not
  committed.
* Optimistic concurrency: a caller that shows a judgment passes the version it showed as
  ``expected_version``; if someone changed the judgment since, the write is refused with
  :class:`StaleEditError` and the refused attempt is itself recorded in the history.

The store is split by concern: :mod:`.connection` (the connection and its plumbing),
:mod:`.writes` (saves, deletes, imports, adoption) and this module (reads, qrels, exports).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from rankshift.judgments.aggregate import aggregate_qrels
from rankshift.judgments.exporters import write_beir_qrels, write_csv, write_jsonl, write_trec_qrels
from rankshift.judgments.frames import judgments_frame
from rankshift.judgments.rows import history_from_row, judgment_from_row, where
from rankshift.judgments.textfiles import TextFile
from rankshift.judgments.writes import StoreWrites
from rankshift.types import (
    SKIP,
    Aggregate,
    DocHashes,
    HistoryEntry,
    JudgedCollection,
    Judgment,
    JudgmentFacets,
    JudgmentKey,
    Qrels,
)

if TYPE_CHECKING:
    import pandas as pd

    from rankshift.judgments.agreement import AgreementResult, KappaWeights

__all__ = ["JudgmentStore"]


class JudgmentStore(StoreWrites):
    """Relevance judgments in one SQLite file.

    Use one store per thread (see the module docstring) and close it when done::

        with JudgmentStore("judgments.db") as store:
            j = store.save("demo", "q1", "d7", "alice", 2, doc_hash=coll.doc_hash("d7"))
            store.save("demo", "q1", "d7", "alice", 3, expected_version=j.version)

    Args:
        path: the database file (created, and migrated, on first open).
        scale: the grade scale that writes are checked against.
        busy_timeout: seconds SQLite itself waits for a lock before reporting busy.
        retry_for: seconds the store keeps retrying a busy operation before giving up with
            :class:`JudgmentNotSaved` (writes) or :class:`JudgmentStoreBusy` (reads).
        synchronous: ``FULL`` (default) makes an acknowledged write survive power loss;
            ``NORMAL`` is faster and still survives a crash of the process.
    """

    # -- reads -------------------------------------------------------------------------

    def get(self, collection: str, query_id: str, doc_id: str, annotator: str) -> Judgment | None:
        """The current judgment of one pair by one annotator, or ``None``."""
        row = self._read(lambda: self._current_row((collection, query_id, doc_id, annotator)))
        return judgment_from_row(row) if row else None

    def list_judgments(
        self,
        collection: str | None,
        query_id: str | None = None,
        annotator: str | None = None,
        *,
        doc_id: str | None = None,
        query_ids: Collection[str] | None = None,
        annotators: Collection[str] | None = None,
        sources: Collection[str] | None = None,
        grades: Collection[int | str] | None = None,
        include_skipped: bool = True,
        doc_hashes: DocHashes | None = None,
        include_stale: bool = False,
    ) -> list[Judgment]:
        """Current judgments, ordered by collection, query, document and annotator.

        Every filter is a SQL ``WHERE`` clause; a ``None`` filter keeps everything.

        Args:
            collection: the collection's identity (``None``: all collections).
            query_id: only this query.
            annotator: only this annotator.
            doc_id: only this document.
            query_ids: only these queries.
            annotators: only these annotators.
            sources: only these sources.
            grades: only these grades (``"skip"`` selects skips).
            include_skipped: include "skip / can't judge" records.
            doc_hashes: the documents' content hashes now; when given, stale labels (whose
                document text changed since) are left out unless ``include_stale``.
            include_stale: keep stale labels even when ``doc_hashes`` is given.
        """
        clause, params = where(
            collection,
            query_id,
            annotator,
            doc_id,
            query_ids=query_ids,
            annotators=annotators,
            sources=sources,
            grades=grades,
            include_skipped=include_skipped,
        )
        rows = self._read(
            lambda: self._query(
                f"SELECT * FROM judgments {clause} "
                "ORDER BY collection, query_id, doc_id, annotator",
                params,
            )
        )
        judgments = [judgment_from_row(r) for r in rows]
        if doc_hashes is not None and not include_stale:
            judgments = [j for j in judgments if j.freshness(doc_hashes(j.doc_id)) != "stale"]
        return judgments

    def collections(self) -> list[str]:
        """Collection identities that have judgments (names; fingerprints not yet adopted)."""
        rows = self._read(
            lambda: self._query("SELECT DISTINCT collection FROM judgments ORDER BY collection")
        )
        return [r["collection"] for r in rows]

    def annotators(self, collection: str) -> list[str]:
        """Annotators with judgments in ``collection``."""
        return self.facets(collection).annotators

    def facets(self, collection: str) -> JudgmentFacets:
        """The queries, annotators, sources and grades ``collection``'s judgments use."""

        def distinct(column: str) -> list[Any]:
            return [
                r[column]
                for r in self._query(
                    f"SELECT DISTINCT {column} FROM judgments WHERE collection = ? "
                    f"AND {column} IS NOT NULL ORDER BY {column}",
                    [collection],
                )
            ]

        def op() -> JudgmentFacets:
            grades: list[int | str] = distinct("grade")
            skips = self._query(
                "SELECT COUNT(*) AS n FROM judgments WHERE collection = ? AND status = 'skipped'",
                [collection],
            )[0]["n"]
            if skips:
                grades.append(SKIP)
            total = self._query(
                "SELECT COUNT(*) AS n FROM judgments WHERE collection = ?", [collection]
            )[0]["n"]
            return JudgmentFacets(
                query_ids=distinct("query_id"),
                annotators=distinct("annotator"),
                sources=distinct("source"),
                grades=grades,
                total=total,
            )

        return self._read(op)

    def labels_per_query(self, collection: str, annotator: str | None = None) -> dict[str, int]:
        """How many judgments each query of ``collection`` has (by ``annotator`` if given)."""
        clause, params = where(collection, annotator=annotator)
        rows = self._read(
            lambda: self._query(
                f"SELECT query_id, COUNT(*) AS n FROM judgments {clause} "
                "GROUP BY query_id ORDER BY query_id",
                params,
            )
        )
        return {r["query_id"]: r["n"] for r in rows}

    def _keys_of(self, collection: str) -> list[str]:
        """``collection`` and every key it adopted labels from."""
        rows = self._query(
            "SELECT DISTINCT adopted_from FROM judgment_history "
            "WHERE action = 'adopt' AND collection = ?",
            [collection],
        )
        return [collection, *(r["adopted_from"] for r in rows)]

    def history(
        self, collection: str, query_id: str, doc_id: str, annotator: str | None = None
    ) -> list[HistoryEntry]:
        """Every recorded change (and refused attempt) for one pair, oldest first.

        Includes the rows recorded under a fingerprint the collection adopted labels from.
        """

        def op() -> list[dict]:
            keys = self._keys_of(collection)
            sql = (
                f"SELECT * FROM judgment_history WHERE collection IN "
                f"({', '.join('?' for _ in keys)}) AND query_id = ? AND doc_id = ?"
            )
            params = [*keys, query_id, doc_id]
            if annotator is not None:
                sql += " AND annotator = ?"
                params.append(annotator)
            return self._query(sql + " ORDER BY seq", params)

        return [history_from_row(r) for r in self._read(op)]

    def replay_history(self, collection: str | None = None) -> list[Judgment]:
        """Rebuild the current judgments from the history alone.

        Creates and updates set a pair's state, deletes remove it, adoptions move it to its
        new key, refused attempts are skipped. The result is ordered like
        :meth:`list_judgments` and equals it whenever the store is consistent.
        """

        def op() -> list[dict]:
            if collection is None:
                return self._query("SELECT * FROM judgment_history ORDER BY seq")
            keys = self._keys_of(collection)
            return self._query(
                "SELECT * FROM judgment_history WHERE collection IN "
                f"({', '.join('?' for _ in keys)}) ORDER BY seq",
                keys,
            )

        state: dict[JudgmentKey, Judgment] = {}
        for row in self._read(op):
            entry = history_from_row(row)
            j = entry.judgment
            if entry.action in ("create", "update"):
                state[j.key] = j
            elif entry.action == "delete":
                state.pop(j.key, None)
            elif entry.action == "adopt":
                state.pop((entry.adopted_from or "", j.query_id, j.doc_id, j.annotator), None)
                state[j.key] = j
        return [state[k] for k in sorted(state) if collection is None or k[0] == collection]

    def as_dataframe(
        self,
        collection: str | None = None,
        query_id: str | None = None,
        annotator: str | None = None,
        *,
        sources: Collection[str] | None = None,
        include_skipped: bool = True,
        doc_hashes: DocHashes | None = None,
    ) -> pd.DataFrame:
        """Current judgments as a tidy frame (see :func:`~rankshift.judgments.frames.judgments_frame`).

        With ``doc_hashes`` every label is listed, stale ones too, with its ``freshness``.
        """
        judgments = self.list_judgments(
            collection, query_id, annotator, sources=sources, include_skipped=include_skipped
        )
        return judgments_frame(judgments, self.scale, doc_hashes)

    # -- qrels and exports -------------------------------------------------------------

    def qrels(
        self,
        collection: str,
        aggregate: Aggregate = "mean",
        annotators: Collection[str] | None = None,
        include_sources: Collection[str] | None = None,
        *,
        doc_hashes: DocHashes | None = None,
        include_stale: bool = False,
    ) -> Qrels:
        """Qrels for evaluation, combining several annotators per pair.

        Args:
            collection: the collection's identity.
            aggregate: how several grades of one pair become one: ``mean`` rounded half up,
                ``majority`` with ties broken toward the lower grade, ``min`` or ``max``
                (see :func:`~rankshift.judgments.aggregate.aggregate_grades`).
            annotators: only these annotators (``None``: all).
            include_sources: only judgments from these sources (``None``: all, which mixes
                imported qrels with labels made in the UI; pass e.g. ``["ui"]`` to keep them
                apart).
            doc_hashes: the documents' content hashes now: stale labels are left out.
                Without it no label can be found stale.
            include_stale: count stale labels anyway.

        Returns:
            ``qrels[query_id][doc_id] = grade``; skips are left out.
        """
        judgments = self.list_judgments(
            collection,
            annotators=annotators,
            sources=include_sources,
            include_skipped=False,
            doc_hashes=doc_hashes,
            include_stale=include_stale,
        )
        return aggregate_qrels(judgments, aggregate)

    def collection_qrels(
        self,
        collection: JudgedCollection,
        aggregate: Aggregate = "mean",
        annotators: Collection[str] | None = None,
        include_sources: Collection[str] | None = None,
        *,
        include_stale: bool = False,
    ) -> Qrels:
        """:meth:`qrels` of a loaded collection: adopts its legacy labels, leaves stale ones out.

        What evaluation and training read: labels keyed by the collection's name, minus those
        whose document changed since it was judged (unless ``include_stale``).
        """
        self.adopt(collection)
        return self.qrels(
            collection.name,
            aggregate,
            annotators,
            include_sources,
            doc_hashes=collection.doc_hash,
            include_stale=include_stale,
        )

    def collection_judgments(
        self, collection: JudgedCollection, query_id: str | None = None, **filters: Any
    ) -> list[Judgment]:
        """:meth:`list_judgments` of a loaded collection, stale labels left out by default.

        Adopts the collection's legacy labels first. ``filters`` are those of
        :meth:`list_judgments` (``include_stale=True`` keeps stale labels).
        """
        self.adopt(collection)
        return self.list_judgments(
            collection.name, query_id, doc_hashes=collection.doc_hash, **filters
        )

    def export_trec_qrels(self, collection: str, file: TextFile, **qrels_args: Any) -> int:
        """Write TREC qrels (``qid 0 docid rel``) from :meth:`qrels`; returns lines written."""
        return write_trec_qrels(self.qrels(collection, **qrels_args), file)

    def export_beir_qrels(self, collection: str, file: TextFile, **qrels_args: Any) -> int:
        """Write BEIR qrels (TSV with header) from :meth:`qrels`; returns rows written."""
        return write_beir_qrels(self.qrels(collection, **qrels_args), file)

    def export_csv(self, file: TextFile, collection: str | None = None, **filters: Any) -> int:
        """Write judgments as CSV, safe to open in a spreadsheet; returns rows written.

        Text cells pass through :func:`~rankshift.judgments.exporters.csv_escape`; grade and
        version stay plain numbers. ``filters`` are those of :meth:`list_judgments`.
        """
        return write_csv(self.list_judgments(collection, **filters), file)

    def export_jsonl(self, file: TextFile, collection: str | None = None, **filters: Any) -> int:
        """Write judgments as JSONL, full records including context; returns lines written."""
        return write_jsonl(self.list_judgments(collection, **filters), file)

    # -- agreement ---------------------------------------------------------------------

    def agreement(
        self,
        collection: str,
        *,
        annotators: Collection[str] | None = None,
        include_sources: Collection[str] | None = None,
        kappa_weights: KappaWeights = None,
        per_query: bool = True,
    ) -> list[AgreementResult]:
        """Agreement between annotators in ``collection``.

        See :func:`rankshift.judgments.agreement.agreement`; ``annotators`` and
        ``include_sources`` filter the judgments first.
        """
        from rankshift.judgments.agreement import agreement

        judgments = self.list_judgments(collection, annotators=annotators, sources=include_sources)
        return agreement(
            judgments, scale=self.scale, kappa_weights=kappa_weights, per_query=per_query
        )

    def agreement_frame(self, collection: str, **kwargs: Any) -> pd.DataFrame:
        """:meth:`agreement` as a tidy frame (see :func:`rankshift.judgments.agreement.agreement_frame`)."""
        from rankshift.judgments.agreement import agreement_frame

        return agreement_frame(self.agreement(collection, **kwargs))
