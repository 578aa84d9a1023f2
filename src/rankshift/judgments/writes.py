"""Writes to the judgment store: one label, a bulk import, and adopting legacy labels.

Every method here is one transaction: it happens entirely or not at all, and its history rows
are written with it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, Literal

from rankshift.judgments.connection import StoreConnection
from rankshift.judgments.errors import StaleEditError
from rankshift.judgments.importers import qrels_judgments, read_csv, read_jsonl
from rankshift.judgments.rows import Change, judgment_from_row, same_content
from rankshift.judgments.textfiles import TextFile
from rankshift.judgments.transactions import utc_now
from rankshift.types import (
    SKIP,
    DocHashes,
    ImportReport,
    JudgedCollection,
    Judgment,
    JudgmentContext,
    JudgmentKey,
    JudgmentStatus,
    Qrels,
)

__all__ = ["StoreWrites"]


class StoreWrites(StoreConnection):
    """The writing half of :class:`rankshift.judgments.JudgmentStore`."""

    # -- single writes -----------------------------------------------------------------

    def save(
        self,
        collection: str,
        query_id: str,
        doc_id: str,
        annotator: str,
        grade: int | Literal["skip"],
        *,
        query_text: str | None = None,
        note: str | None = None,
        context: JudgmentContext | Mapping[str, Any] | None = None,
        source: str = "ui",
        expected_version: int | None = None,
        edited_by: str | None = None,
        doc_hash: str | None = None,
    ) -> Judgment:
        """Create or replace one annotator's judgment of one pair.

        Semantics of ``expected_version`` (the UI always passes the version it showed):

        * ``None``: no check. Creates the judgment, or replaces the annotator's current one.
        * ``0``: "I saw no judgment": creates it, refuses if one exists now.
        * ``v >= 1``: "I saw version v": replaces it, refuses if the version is not ``v`` now
          (changed, or deleted, since).

        A refusal raises :class:`StaleEditError` and records the attempt in the history.

        Args:
            collection: the collection's identity (its name).
            query_id: query id.
            doc_id: document id.
            annotator: whose judgment this is.
            grade: a grade on the store's scale, or :data:`SKIP` ("can't judge").
            query_text: the query's text; ``None`` keeps the text already stored.
            note: free-text note (replaces the previous note; ``None`` clears it).
            context: what was on screen, a :class:`JudgmentContext` or a dict of its fields.
            source: where the label comes from.
            expected_version: see above.
            edited_by: who is making the change, if not the annotator (a reviewer).
            doc_hash: the content hash of the document as it was shown
                (:meth:`rankshift.corpus.Collection.doc_hash`); ``None`` leaves the label
                unverified (it can never be found stale).

        Returns:
            The judgment as saved (with its new version and timestamp).

        Raises:
            StaleEditError: the judgment is not at ``expected_version``.
            JudgmentNotSaved: the write failed; nothing was written.
            ValueError: invalid input (checked before anything is written).
        """
        key: JudgmentKey = (collection, query_id, doc_id, annotator)
        for name, value in zip(("collection", "query_id", "doc_id", "annotator"), key, strict=True):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        if grade == SKIP:
            status: JudgmentStatus = "skipped"
            value: int | None = None
        else:
            status, value = "graded", self.scale.validate(grade)
        if not isinstance(context, JudgmentContext):
            context = JudgmentContext.from_dict(context)
        context.to_json()  # fail on an unserialisable context before the transaction
        if expected_version is not None and expected_version < 0:
            raise ValueError(f"expected_version must be >= 0, got {expected_version}")

        def op() -> Judgment | StaleEditError:
            now = utc_now()
            row = self._current_row(key)
            draft = Judgment(
                *key,
                grade=value,
                status=status,
                query_text=(row["query_text"] if row else "") if query_text is None else query_text,
                note=note,
                context=context,
                source=source,
                timestamp=now,
                edited_by=edited_by or annotator,
                doc_hash=doc_hash,
            )
            if expected_version is not None and (row["version"] if row else 0) != expected_version:
                stale = self._stale(key, expected_version, row)
                attempt = replace(draft, version=stale.current_version)
                self._append_history(
                    [Change("rejected_stale", attempt, None, expected_version, "save")], now
                )
                return stale
            if row is None:
                last = self._last_history_row(key)
                change = Change(
                    "create",
                    replace(draft, version=(last["version"] if last else 0) + 1),
                    expected_version=expected_version,
                )
            else:
                change = Change(
                    "update",
                    replace(draft, version=row["version"] + 1),
                    row["id"],
                    expected_version,
                )
            self._write_current([change])
            self._append_history([change], now)
            return change.judgment

        result = self._write(op, f"save the judgment of {doc_id!r} for {query_id!r}")
        if isinstance(result, StaleEditError):
            raise result
        return result

    def delete(
        self,
        collection: str,
        query_id: str,
        doc_id: str,
        annotator: str,
        *,
        expected_version: int | None = None,
        edited_by: str | None = None,
    ) -> Judgment | None:
        """Delete one annotator's judgment of one pair.

        ``expected_version`` works as in :meth:`save`: ``None`` deletes whatever is there,
        ``v`` deletes only version ``v`` and otherwise raises :class:`StaleEditError` (the
        refused attempt is recorded). The deletion is recorded in the history with version
        ``v + 1``, and a later re-creation continues from there.

        Returns:
            The judgment that was deleted, or ``None`` if there was none (and no version was
            expected).

        Raises:
            StaleEditError: the judgment is not at ``expected_version``.
            JudgmentNotSaved: the deletion failed; nothing changed.
        """
        key: JudgmentKey = (collection, query_id, doc_id, annotator)

        def op() -> Judgment | StaleEditError | None:
            now = utc_now()
            row = self._current_row(key)
            if expected_version is not None and (row["version"] if row else 0) != expected_version:
                stale = self._stale(key, expected_version, row)
                attempt = Judgment(
                    *key,
                    grade=None,
                    status="skipped",
                    version=stale.current_version,
                    timestamp=now,
                    edited_by=edited_by or annotator,
                )
                if row is not None:
                    attempt = replace(
                        judgment_from_row(row), timestamp=now, edited_by=edited_by or annotator
                    )
                self._append_history(
                    [Change("rejected_stale", attempt, None, expected_version, "delete")], now
                )
                return stale
            if row is None:
                return None
            current = judgment_from_row(row)
            gone = replace(
                current,
                version=current.version + 1,
                timestamp=now,
                edited_by=edited_by or annotator,
            )
            change = Change("delete", gone, row["id"], expected_version)
            self._write_current([change])
            self._append_history([change], now)
            return current

        result = self._write(op, f"delete the judgment of {doc_id!r} for {query_id!r}")
        if isinstance(result, StaleEditError):
            raise result
        return result

    # -- bulk writes -------------------------------------------------------------------

    def import_judgments(
        self, judgments: Iterable[Judgment], *, keep_timestamps: bool = True
    ) -> ImportReport:
        """Write many judgments in ONE transaction: all of them, or none.

        Each record replaces its annotator's current judgment of the pair (no version check:
        an import is an authoritative source). A record identical in content to the stored
        one is left alone, so importing the same file twice changes nothing. Versions are
        this store's own; the records' versions are ignored.

        Args:
            judgments: the records; a pair may appear once per annotator.
            keep_timestamps: keep each record's ``timestamp`` (when it was judged) if it has
                one; otherwise stamp it with the import time.

        Returns:
            Counts of created, updated and unchanged judgments.

        Raises:
            ValueError: a record is invalid or listed twice (nothing is written).
            JudgmentNotSaved: the write failed (nothing is written).
        """
        records: dict[JudgmentKey, Judgment] = {}
        contexts: dict[JudgmentKey, str] = {}
        by_object: dict[int, str] = {}  # qrels imports share one context object
        for j in judgments:
            if not all(j.key):
                raise ValueError(f"judgment with an empty id: {j.key}")
            if j.key in records:
                raise ValueError(f"judgment listed twice: {j.key}")
            if j.status == "graded":
                self.scale.validate(j.grade)
            elif j.status != "skipped" or j.grade is not None:
                raise ValueError(f"invalid status/grade {j.status!r}/{j.grade!r} for {j.key}")
            ctx = by_object.get(id(j.context))
            if ctx is None:
                ctx = by_object[id(j.context)] = j.context.to_json()
            contexts[j.key] = ctx
            records[j.key] = j

        groups = sorted({(k[0], k[3]) for k in records})

        def op() -> ImportReport:
            now = utc_now()
            existing: dict[JudgmentKey, dict[str, Any]] = {}
            deleted_at: dict[JudgmentKey, int] = {}
            for collection, annotator in groups:
                for row in self._query(
                    "SELECT * FROM judgments WHERE collection = ? AND annotator = ?",
                    [collection, annotator],
                ):
                    existing[(collection, row["query_id"], row["doc_id"], annotator)] = row
                # Versions continue across a deletion (see Judgment.version); a deletion is
                # always the highest version of a pair that is absent from the table.
                for row in self._query(
                    "SELECT query_id, doc_id, MAX(version) AS version FROM judgment_history "
                    "WHERE collection = ? AND annotator = ? AND action = 'delete' "
                    "GROUP BY query_id, doc_id",
                    [collection, annotator],
                ):
                    deleted_at[(collection, row["query_id"], row["doc_id"], annotator)] = row[
                        "version"
                    ]
            changes: list[Change] = []
            unchanged = 0
            for key, j in records.items():
                row = existing.get(key)
                ctx = contexts[key]
                if row is not None and same_content(row, j, ctx):
                    unchanged += 1
                    continue
                version = row["version"] + 1 if row else deleted_at.get(key, 0) + 1
                # Positional construction: dataclasses.replace costs ~30 us a call, which is
                # most of a 10k-row import.
                stamped = Judgment(
                    *key,
                    j.grade,
                    j.status,
                    j.query_text,
                    j.note,
                    j.context,
                    j.source,
                    version,
                    j.timestamp if keep_timestamps and j.timestamp else now,
                    j.edited_by or j.annotator,
                    j.doc_hash,
                )
                if row is None:
                    changes.append(Change("create", stamped, context_json=ctx))
                else:
                    changes.append(Change("update", stamped, row["id"], context_json=ctx))
            if changes:
                self._write_current(changes)
                self._append_history(changes, now)
            created = sum(c.action == "create" for c in changes)
            return ImportReport(created, len(changes) - created, unchanged)

        return self._write(op, f"import {len(records)} judgments")

    def import_qrels(
        self,
        collection: str,
        qrels: Qrels,
        *,
        annotator: str,
        source: str | None = None,
        query_texts: Mapping[str, str] | None = None,
        doc_hashes: DocHashes | None = None,
    ) -> ImportReport:
        """Import qrels as the judgments of one named annotator, in one transaction.

        Args:
            collection: the collection's identity.
            qrels: ``qrels[query_id][doc_id] = grade``; every grade must be on the scale.
            annotator: the name the labels are stored under, e.g. ``"qrels:test"``.
            source: the ``source`` field (default: the annotator name).
            query_texts: query texts by id, to store with the labels (optional).
            doc_hashes: the documents' content hashes now, stored with the labels so a later
                edit of a document shows its labels stale (``None``: unverified labels).

        Returns:
            Counts of created, updated and unchanged judgments.
        """
        # Qrels carry no query text; keep what is stored rather than blank it.
        texts = {
            r["query_id"]: r["query_text"]
            for r in self._read(
                lambda: self._query(
                    "SELECT DISTINCT query_id, query_text FROM judgments "
                    "WHERE collection = ? AND annotator = ? AND query_text != ''",
                    [collection, annotator],
                )
            )
        }
        texts.update(query_texts or {})
        records = qrels_judgments(
            collection,
            qrels,
            annotator=annotator,
            scale=self.scale,
            source=source,
            query_texts=texts,
            doc_hashes=doc_hashes,
        )
        return self.import_judgments(records, keep_timestamps=False)

    def import_trec_qrels(
        self, collection: str, path: str | os.PathLike[str], **kwargs: Any
    ) -> ImportReport:
        """Import a TREC qrels file (``qid iter docid rel``); see :meth:`import_qrels`."""
        from rankshift.corpus import load_qrels

        return self.import_qrels(collection, load_qrels(path, "trec"), **kwargs)

    def import_beir_qrels(
        self, collection: str, path: str | os.PathLike[str], **kwargs: Any
    ) -> ImportReport:
        """Import a BEIR qrels TSV (``query-id corpus-id score``); see :meth:`import_qrels`."""
        from rankshift.corpus import load_qrels

        return self.import_qrels(collection, load_qrels(path, "beir"), **kwargs)

    def import_jsonl(self, file: TextFile, *, collection: str | None = None) -> ImportReport:
        """Import records written by :meth:`export_jsonl` (one transaction).

        Args:
            file: path or open text file.
            collection: store the records under this collection instead of their own.
        """
        return self.import_judgments(read_jsonl(file, collection=collection))

    def import_csv(self, file: TextFile, *, collection: str | None = None) -> ImportReport:
        """Import a CSV written by :meth:`export_csv` (one transaction; escaping is undone)."""
        return self.import_judgments(read_csv(file, collection=collection))

    # -- legacy labels -----------------------------------------------------------------

    def adopt(self, collection: JudgedCollection) -> int:
        """Re-key labels written under ``collection``'s fingerprint to its name.

        Before schema 2 labels were keyed by a hash of the whole corpus, which the database
        cannot map to a name. The same fingerprint means the same documents, so each such
        label is moved to ``collection.name`` with the document hash filled in exactly. The
        label is otherwise unchanged (grade, note, version, timestamp); the history records
        an ``adopt`` row, and :meth:`history` keeps showing the rows from before. A label the
        name already has (same query, document and annotator) is left where it is.

        Cheap when there is nothing to adopt (one indexed read, no write lock): call it
        whenever a collection is opened.

        Returns:
            How many labels were adopted.
        """
        name, fingerprint = collection.name, collection.fingerprint
        if not fingerprint or fingerprint == name:
            return 0
        sql = (
            "SELECT * FROM judgments AS old WHERE old.collection = ? AND NOT EXISTS ("
            "SELECT 1 FROM judgments AS new WHERE new.collection = ? "
            "AND new.query_id = old.query_id AND new.doc_id = old.doc_id "
            "AND new.annotator = old.annotator)"
        )
        if not self._read(lambda: self._query(sql + " LIMIT 1", [fingerprint, name])):
            return 0

        def op() -> int:
            changes = []
            for row in self._query(sql, [fingerprint, name]):
                old = judgment_from_row(row)
                new = replace(
                    old, collection=name, doc_hash=old.doc_hash or collection.doc_hash(old.doc_id)
                )
                changes.append(Change("adopt", new, row["id"], adopted_from=fingerprint))
            if changes:
                self._write_current(changes)
                self._append_history(changes, utc_now())
            return len(changes)

        return self._write(op, f"adopt the labels of {name!r}")
