"""The judgment store's own errors."""

from __future__ import annotations

from rankshift.types import Judgment, JudgmentKey

__all__ = ["JudgmentNotSaved", "JudgmentStoreBusy", "JudgmentStoreError", "StaleEditError"]


class JudgmentStoreError(Exception):
    """Base class of the store's own errors."""


class JudgmentNotSaved(JudgmentStoreError):
    """A write did not happen: nothing of it is in the database."""


class JudgmentStoreBusy(JudgmentStoreError):
    """A read could not get at the database within the retry window."""


class StaleEditError(JudgmentNotSaved):
    """The judgment changed since the caller last saw it; the edit was refused.

    The refused attempt is recorded in the history (action ``rejected_stale``).

    Attributes:
        key: ``(collection, query_id, doc_id, annotator)``.
        expected_version: the version the caller said it was editing.
        current: the judgment as it is now (``None`` if it was deleted or never existed).
        current_version: its version now (0 if it never existed; for a deleted judgment, the
            version the deletion got).
        changed_by: who made the change the caller did not see (``None`` if nobody did).
        changed_at: when (ISO-8601, UTC).
        current_grade: the grade now (``None`` if skipped, deleted or missing).
    """

    def __init__(
        self,
        key: JudgmentKey,
        expected_version: int,
        current: Judgment | None,
        current_version: int,
        changed_by: str | None,
        changed_at: str | None,
    ) -> None:
        self.key = key
        self.expected_version = expected_version
        self.current = current
        self.current_version = current_version
        self.changed_by = changed_by
        self.changed_at = changed_at
        self.current_grade = current.grade if current is not None else None
        collection, query_id, doc_id, annotator = key
        if current is not None:
            now = f"now {current.status if current.grade is None else f'grade {current.grade}'}"
        elif changed_by is not None:
            now = "now deleted"
        else:
            now = "it does not exist"
        super().__init__(
            f"judgment of {doc_id!r} for query {query_id!r} by {annotator!r} in {collection!r} "
            f"was changed by {changed_by!r} at {changed_at} ({now}, version {current_version}); "
            f"the edit was made against version {expected_version} and was not saved"
        )
