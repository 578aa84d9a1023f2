"""Collection loaders with strict validation.

Every loader reads the whole file, checks every line and only then returns: a bad file raises
:class:`CollectionLoadError` naming the file, the line and the reason, and nothing is
half-loaded. A UTF-8 byte-order mark at the start of a file is accepted (spreadsheet exports
write one); any other non-UTF-8 byte is an error.

Supported inputs:

* JSON corpus: one object per line (JSONL) with ``_id`` or ``id``, ``text``, optional ``title``
  and ``metadata`` (the BEIR ``corpus.jsonl`` layout), or the same objects in one JSON array
  (``[{...}, {...}]``, read element by element, never whole).
* CSV/TSV corpus: a header row with an id column (``_id``, ``id`` or ``doc_id``), ``text`` and
  optional ``title``; other columns become metadata.
* Queries: JSONL or a JSON array (``_id``/``id``, ``text``), or TSV (``id<TAB>text``, no header).
* Qrels: TREC (``qid iter docid rel``) or BEIR TSV (header ``query-id corpus-id score``).
* A BEIR folder: ``corpus.jsonl``, optional ``queries.jsonl`` and ``qrels/<split>.tsv``.

Lenient by default, strict on request: a document whose text is empty (or ``null``) is left
out and listed in :attr:`Collection.empty_documents`, and a BEIR folder's qrels may name
queries that ``queries.jsonl`` lacks (evaluation reports them, see
:func:`rankshift.evaluation.metrics.check_qrels`). With ``strict=True`` both are errors.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple

from rankshift._reading import (
    CollectionLoadError,
    check_unique,
    id_of,
    json_records,
    lines,
    read_text,
    text_of,
)
from rankshift.types import Document, Qrels, Query

_ID_KEYS = ("_id", "id", "doc_id")


@dataclass(frozen=True)
class Collection:
    """Documents, queries and qrels of one collection, with a content fingerprint.

    Two identities, for two purposes: ``fingerprint`` hashes every document, so it keys what
    must be rebuilt when any text changes (indexes, caches); ``name`` stays the same when
    documents are added, removed or corrected, so it keys what must survive that (relevance
    labels, with :meth:`doc_hash` telling which documents changed under them).
    """

    name: str
    """The collection's identity: chosen by the user, or the folder name / file stem."""
    documents: dict[str, Document]
    queries: dict[str, Query] = field(default_factory=dict)
    qrels: dict[str, Qrels] = field(default_factory=dict)
    """Qrels by split name (``test``, ``train``...)."""
    path: str | None = None
    fingerprint: str = ""
    empty_documents: tuple[str, ...] = ()
    """Ids of documents left out because their text is empty, in file order."""
    queries_file: str | None = None
    """The file the query texts were read from (``None``: none was read)."""
    _doc_hashes: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    """Memo of :meth:`doc_hash` (documents never change in a loaded collection)."""

    @property
    def doc_ids(self) -> list[str]:
        return list(self.documents)

    def doc_hash(self, doc_id: str) -> str | None:
        """The content hash of one document (title and text), ``None`` if it is not here.

        Computed on first use and remembered; a judgment stores it, so a later edit of the
        document's text shows its labels as stale.
        """
        cached = self._doc_hashes.get(doc_id)
        if cached is not None:
            return cached
        doc = self.documents.get(doc_id)
        if doc is None:
            return None
        # A memo only: setting a key is atomic, and two threads computing it agree.
        digest = self._doc_hashes[doc_id] = hash_document(doc)
        return digest

    def queries_for(self, split: str | None) -> dict[str, Query]:
        """Queries that have qrels in ``split`` (all queries when ``split`` is None)."""
        if split is None:
            return dict(self.queries)
        judged = self.qrels.get(split, {})
        return {qid: q for qid, q in self.queries.items() if qid in judged}

    def __len__(self) -> int:
        return len(self.documents)

    def left_out_note(self, examples: int = 5) -> str | None:
        """What loading left out, in one line (``None``: nothing), e.g.
        ``2 empty documents left out: 'd4', 'd9'``."""
        n = len(self.empty_documents)
        if not n:
            return None
        shown = ", ".join(repr(d) for d in self.empty_documents[:examples])
        more = f" and {n - examples} more" if n > examples else ""
        return f"{n} empty document{'s' if n > 1 else ''} left out: {shown}{more}"


def hash_document(doc: Document) -> str:
    """A content hash of one document's title and text (what a relevance label judged).

    Metadata and the id are left out: moving a document to another id is not an edit of it,
    and metadata is not what an annotator reads.
    """
    h = hashlib.sha256()
    for part in (doc.title, doc.text):
        b = part.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()[:16]


def fingerprint_documents(documents: Mapping[str, Document]) -> str:
    """A stable content hash of the documents (ids, titles, texts), used to key caches.

    Document order does not matter; metadata does not change what retrievers see, so it is
    left out.
    """
    h = hashlib.sha256()
    for doc_id in sorted(documents):
        doc = documents[doc_id]
        for part in (doc_id, doc.title, doc.text):
            b = part.encode("utf-8")
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------------------
# Corpus


def _doc_text(path: Path, number: int, record: Mapping[str, Any], strict: bool) -> str | None:
    """A document's text; ``None`` for an empty or ``null`` one (left out) unless ``strict``."""
    if not strict and "text" in record:
        value = record["text"]
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
    return text_of(path, number, record)


class _Corpus(NamedTuple):
    documents: dict[str, Document]
    empty: dict[str, int]
    """Left-out empty documents: id -> line."""


def _finish(path: Path, corpus: _Corpus) -> _Corpus:
    if corpus.documents:
        return corpus
    if corpus.empty:
        first, line = next(iter(corpus.empty.items()))
        n = len(corpus.empty)
        raise CollectionLoadError(
            path, line, f"every document has an empty text ({n} documents, e.g. {first!r})"
        )
    raise CollectionLoadError(path, None, "no documents")


def load_jsonl_corpus(path: str | Path, strict: bool = False) -> dict[str, Document]:
    """Load a JSONL corpus (``_id``/``id``, ``title``, ``text``, optional ``metadata``), or the
    same objects in one JSON array.

    Args:
        path: the file.
        strict: an empty text is an error, instead of a document left out.
    """
    return _jsonl_corpus(Path(path), strict).documents


def _jsonl_corpus(path: Path, strict: bool) -> _Corpus:
    docs: dict[str, Document] = {}
    empty: dict[str, int] = {}
    seen: dict[str, int] = {}
    for number, rec in json_records(path):
        doc_id = id_of(path, number, rec, _ID_KEYS)
        check_unique(path, number, doc_id, seen, "document id")
        text = _doc_text(path, number, rec, strict)
        title = rec.get("title")
        title = "" if title is None else title  # not `or ""`: false, 0 or [] are errors
        if not isinstance(title, str):
            raise CollectionLoadError(path, number, "'title' must be a string")
        metadata = rec.get("metadata")
        metadata = {} if metadata is None else metadata
        if not isinstance(metadata, dict):
            raise CollectionLoadError(path, number, "'metadata' must be an object")
        if text is None:
            empty[doc_id] = number
            continue
        docs[doc_id] = Document(doc_id=doc_id, text=text, title=title, metadata=metadata)
    return _finish(path, _Corpus(docs, empty))


def _csv_rows(path: Path, delimiter: str) -> Iterator[tuple[int, dict[str, str]]]:
    text = read_text(path)
    if not text.strip():
        raise CollectionLoadError(path, None, "no documents")  # like an empty JSONL file
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise CollectionLoadError(path, line, "NUL byte in a CSV file")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise CollectionLoadError(path, 1, "missing header row")
        header = [h.strip() for h in header]
        if len(set(header)) != len(header):
            raise CollectionLoadError(path, 1, "duplicate column names in the header")
        for row in reader:
            number = reader.line_num
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise CollectionLoadError(
                    path, number, f"expected {len(header)} fields, got {len(row)}"
                )
            yield number, dict(zip(header, row, strict=True))
    except csv.Error as e:
        raise CollectionLoadError(path, reader.line_num or 1, f"malformed CSV: {e}") from None


def load_csv_corpus(
    path: str | Path, delimiter: str | None = None, strict: bool = False
) -> dict[str, Document]:
    """Load a CSV or TSV corpus with a header (id column, ``text``, optional ``title``).

    Args:
        path: the file. ``.tsv`` files are tab-separated unless ``delimiter`` says otherwise.
        delimiter: the field separator; default ``\\t`` for ``.tsv``, ``,`` otherwise.
        strict: an empty text is an error, instead of a document left out.
    """
    return _csv_corpus(Path(path), delimiter, strict).documents


def _header_problem(header: list[str], delimiter: str) -> str | None:
    """Why a CSV header cannot be a corpus's, listing the columns it has."""
    missing = []
    if not any(k in header for k in _ID_KEYS):
        missing.append("id column (_id, id or doc_id)")
    if "text" not in header:
        missing.append("'text' column")
    if not missing:
        return None
    found = ", ".join(repr(h) for h in header[:12]) + (", ..." if len(header) > 12 else "")
    hint = ""
    if len(header) == 1:
        other = next((d for d in ("\t", ";", ",", "|") if d != delimiter and d in header[0]), None)
        if other is not None:
            hint = f"; is the file separated by {other!r} rather than {delimiter!r}?"
    return f"no {' and no '.join(missing)} in the header (columns found: {found}){hint}"


def _csv_corpus(path: Path, delimiter: str | None, strict: bool) -> _Corpus:
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    docs: dict[str, Document] = {}
    empty: dict[str, int] = {}
    seen: dict[str, int] = {}
    id_key: str | None = None
    for number, row in _csv_rows(path, delimiter):
        if id_key is None:
            problem = _header_problem(list(row), delimiter)
            if problem:
                raise CollectionLoadError(path, 1, problem)
            id_key = next(k for k in _ID_KEYS if k in row)
        doc_id = id_of(path, number, row, (id_key,))
        check_unique(path, number, doc_id, seen, "document id")
        text = _doc_text(path, number, row, strict)
        if text is None:
            empty[doc_id] = number
            continue
        metadata = {k: v for k, v in row.items() if k not in (id_key, "text", "title")}
        docs[doc_id] = Document(
            doc_id=doc_id, text=text, title=row.get("title", "").strip(), metadata=metadata
        )
    return _finish(path, _Corpus(docs, empty))


CORPUS_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".tsv")
"""File types a corpus can be read from (JSON: one object per line, or one array)."""


def load_corpus(path: str | Path, strict: bool = False) -> dict[str, Document]:
    """Load a corpus file, choosing the format from the extension (.jsonl/.json, .csv, .tsv).

    Empty documents are left out (``strict``: an error); :func:`load_collection` lists them.
    """
    return _corpus(Path(path), strict).documents


def _corpus(path: Path, strict: bool) -> _Corpus:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return _jsonl_corpus(path, strict)
    if suffix in (".csv", ".tsv"):
        return _csv_corpus(path, None, strict)
    raise CollectionLoadError(
        path,
        None,
        f"unknown corpus format '{suffix}' (expected a BEIR folder or a "
        f"{', '.join(CORPUS_SUFFIXES)} file)",
    )


# --------------------------------------------------------------------------------------
# Queries and qrels


def load_queries(path: str | Path) -> dict[str, Query]:
    """Load queries from JSONL or a JSON array (``_id``/``id``, ``text``), or a headerless
    ``id<TAB>text`` TSV."""
    path = Path(path)
    queries: dict[str, Query] = {}
    seen: dict[str, int] = {}
    is_tsv = path.suffix.lower() == ".tsv"
    records: Iterator[tuple[int, dict[str, Any]]] = (
        ((number, _tsv_query(path, number, line)) for number, line in lines(read_text(path)))
        if is_tsv
        else json_records(path)
    )
    for number, rec in records:
        qid = id_of(path, number, rec, _ID_KEYS)
        check_unique(path, number, qid, seen, "query id")
        text = text_of(path, number, rec)
        metadata = rec.get("metadata")
        metadata = {} if metadata is None else metadata
        if not isinstance(metadata, dict):
            raise CollectionLoadError(path, number, "'metadata' must be an object")
        queries[qid] = Query(query_id=qid, text=text, metadata=metadata)
    return queries


def _tsv_query(path: Path, number: int, line: str) -> dict[str, Any]:
    parts = line.split("\t")
    if len(parts) != 2:
        raise CollectionLoadError(path, number, "expected 'id<TAB>text'")
    return {"_id": parts[0], "text": parts[1]}


QrelsFormat = Literal["auto", "trec", "beir"]


def load_qrels(path: str | Path, fmt: QrelsFormat = "auto") -> Qrels:
    """Load graded qrels.

    Args:
        path: the file.
        fmt: ``trec`` (``qid iter docid rel``, whitespace separated), ``beir`` (TSV with the
            header ``query-id corpus-id score``) or ``auto``: BEIR when the first line is that
            header, TREC otherwise.

    Returns:
        ``qrels[query_id][doc_id] = relevance``. A pair listed twice is an error, even with the
        same grade, because it usually means two files were concatenated.
    """
    return _load_qrels_lines(path, fmt)[0]


def _load_qrels_lines(path: str | Path, fmt: QrelsFormat = "auto") -> tuple[Qrels, dict[str, int]]:
    """:func:`load_qrels`, plus the line where each query id first appears."""
    path = Path(path)
    rows = list(lines(read_text(path)))
    if not rows:
        raise CollectionLoadError(path, None, "no qrels")
    first = rows[0][1].split("\t")
    has_header = [c.strip().lower() for c in first[:2]] == ["query-id", "corpus-id"]
    if fmt == "auto":
        fmt = "beir" if has_header else "trec"
    if fmt == "beir":
        if not has_header:
            raise CollectionLoadError(path, rows[0][0], "missing header 'query-id corpus-id score'")
        rows = rows[1:]
    qrels: Qrels = {}
    seen: dict[str, int] = {}
    first_line: dict[str, int] = {}
    for number, line in rows:
        parts = line.split("\t") if fmt == "beir" else line.split()
        if fmt == "beir" and len(parts) != 3:
            raise CollectionLoadError(
                path, number, f"expected 3 tab-separated fields, got {len(parts)}"
            )
        if fmt == "trec" and len(parts) != 4:
            raise CollectionLoadError(
                path, number, f"expected 4 fields (qid iter docid rel), got {len(parts)}"
            )
        qid, doc_id, rel = (
            (parts[0], parts[1], parts[2]) if fmt == "beir" else (parts[0], parts[2], parts[3])
        )
        qid, doc_id, rel = qid.strip(), doc_id.strip(), rel.strip()
        if not qid or not doc_id:
            raise CollectionLoadError(path, number, "empty query or document id")
        try:
            grade = int(rel)
        except ValueError:
            raise CollectionLoadError(
                path, number, f"relevance must be an integer, got {rel!r:.20}"
            ) from None
        check_unique(path, number, f"{qid} {doc_id}", seen, "judgment")
        qrels.setdefault(qid, {})[doc_id] = grade
        first_line.setdefault(qid, number)
    return qrels, first_line


# --------------------------------------------------------------------------------------
# Collections


def load_beir_folder(path: str | Path, name: str | None = None, strict: bool = False) -> Collection:
    """Load a BEIR folder: ``corpus.jsonl``, optional ``queries.jsonl`` and ``qrels/*.tsv``.

    Args:
        path: the folder.
        name: the collection's name (default: the folder's).
        strict: an empty document, or a qrels query id that ``queries.jsonl`` lacks, is an
            error (by default the first is left out and the second left to evaluation to
            report).
    """
    path = Path(path)
    corpus_path = path / "corpus.jsonl"
    if not corpus_path.exists():
        here = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())[:8]
        found = f" (the folder holds: {', '.join(here)})" if here else " (the folder is empty)"
        raise CollectionLoadError(corpus_path, None, f"a BEIR folder needs corpus.jsonl{found}")
    corpus = _jsonl_corpus(corpus_path, strict)
    queries_path = path / "queries.jsonl"
    queries = load_queries(queries_path) if queries_path.exists() else {}
    qrels: dict[str, Qrels] = {}
    qrels_dir = path / "qrels"
    if qrels_dir.is_dir():
        for split_file in sorted(qrels_dir.glob("*.tsv")):
            split, first_line = _load_qrels_lines(split_file)
            unknown = [q for q in split if queries and q not in queries]
            if unknown and strict:
                raise CollectionLoadError(
                    split_file,
                    first_line[unknown[0]],
                    f"{len(unknown)} judged query ids have no text in queries.jsonl, "
                    f"e.g. {unknown[0]!r}",
                )
            qrels[split_file.stem] = split
    return Collection(
        name=name or path.resolve().name,
        documents=corpus.documents,
        queries=queries,
        qrels=qrels,
        path=str(path),
        fingerprint=fingerprint_documents(corpus.documents),
        empty_documents=tuple(corpus.empty),
        queries_file=str(queries_path) if queries_path.exists() else None,
    )


def load_collection(
    path: str | Path,
    name: str | None = None,
    queries: str | Path | None = None,
    qrels: dict[str, str | Path] | None = None,
    strict: bool = False,
) -> Collection:
    """Load a collection from a BEIR folder or a single corpus file.

    Args:
        path: a BEIR folder, or a ``.jsonl``/``.json``/``.csv``/``.tsv`` corpus file.
        name: display name (default: the folder or file name).
        queries: an extra queries file (for a single corpus file).
        qrels: extra qrels files by split name.
        strict: empty documents (and, in a BEIR folder, qrels naming queries that
            ``queries.jsonl`` lacks) are errors instead of being left out.
    """
    path = Path(path)
    if not path.exists():
        raise CollectionLoadError(path, None, "no such file or folder")
    if path.is_dir():
        coll = load_beir_folder(path, name=name, strict=strict)
    else:
        corpus = _corpus(path, strict)
        coll = Collection(
            name=name or path.stem,
            documents=corpus.documents,
            path=str(path),
            fingerprint=fingerprint_documents(corpus.documents),
            empty_documents=tuple(corpus.empty),
        )
    if queries is None and not qrels:
        return coll
    extra_queries = dict(coll.queries)
    if queries is not None:
        extra_queries.update(load_queries(queries))
    extra_qrels = dict(coll.qrels)
    for split, qrels_path in (qrels or {}).items():
        extra_qrels[split] = load_qrels(qrels_path)
    return replace(
        coll,
        queries=extra_queries,
        qrels=extra_qrels,
        queries_file=str(queries) if queries is not None else coll.queries_file,
    )


def collection_from_documents(
    documents: list[Document] | dict[str, Document],
    name: str = "in-memory",
    queries: dict[str, Query] | None = None,
    qrels: dict[str, Qrels] | None = None,
) -> Collection:
    """Build a collection in memory (tests, uploads)."""
    if isinstance(documents, list):
        docs: dict[str, Document] = {}
        for d in documents:
            if d.doc_id in docs:
                raise ValueError(f"duplicate document id {d.doc_id!r}")
            docs[d.doc_id] = d
    else:
        docs = dict(documents)
    return Collection(
        name=name,
        documents=docs,
        queries=queries or {},
        qrels=qrels or {},
        fingerprint=fingerprint_documents(docs),
    )
