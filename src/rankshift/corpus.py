"""Collection loaders with strict validation.

Every loader reads the whole file, checks every line and only then returns: a bad file raises
:class:`CollectionLoadError` naming the file, the line and the reason, and nothing is
half-loaded. A UTF-8 byte-order mark at the start of a file is accepted (spreadsheet exports
write one); any other non-UTF-8 byte is an error.

Supported inputs:

* JSONL corpus: one object per line with ``_id`` or ``id``, ``text``, optional ``title`` and
  ``metadata`` (the BEIR ``corpus.jsonl`` layout).
* CSV/TSV corpus: a header row with an id column (``_id``, ``id`` or ``doc_id``), ``text`` and
  optional ``title``; other columns become metadata.
* Queries: JSONL (``_id``/``id``, ``text``) or TSV (``id<TAB>text``, no header).
* Qrels: TREC (``qid iter docid rel``) or BEIR TSV (header ``query-id corpus-id score``).
* A BEIR folder: ``corpus.jsonl``, optional ``queries.jsonl`` and ``qrels/<split>.tsv``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rankshift.types import Document, Qrels, Query

_BOM = b"\xef\xbb\xbf"
_ID_KEYS = ("_id", "id", "doc_id")


class CollectionLoadError(ValueError):
    """A collection file could not be loaded. ``line`` is 1-based (``None``: the whole file)."""

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


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
# Low-level reading


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CollectionLoadError(path, None, "file not found") from None
    except IsADirectoryError:
        raise CollectionLoadError(path, None, "is a directory, expected a file") from None
    except OSError as e:
        raise CollectionLoadError(path, None, f"cannot read: {e.strerror or e}") from None
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise CollectionLoadError(
            path, line, f"not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})"
        ) from None


def _lines(text: str) -> Iterator[tuple[int, str]]:
    # Split on \n only: str.splitlines() also splits on \x0b, \x1c, \u2028... which would make
    # the reported line numbers disagree with every editor.
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if line.strip():
            yield number, line


def _parse_json_object(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise CollectionLoadError(
            path, number, f"invalid JSON: {e.msg} (column {e.colno})"
        ) from None
    except (ValueError, RecursionError) as e:
        raise CollectionLoadError(path, number, f"invalid JSON: {type(e).__name__}") from None
    if not isinstance(obj, dict):
        raise CollectionLoadError(path, number, f"expected a JSON object, got {type(obj).__name__}")
    # json.loads turns an escaped lone surrogate ("\\ud800") into a str that cannot be encoded
    # back to UTF-8, which would fail later (fingerprint, tokenizers, SQLite) far from this line.
    if "\\u" in line and _has_lone_surrogate(obj):
        raise CollectionLoadError(
            path, number, "a \\u escape encodes a lone surrogate, which is not valid Unicode"
        )
    return obj


def _has_lone_surrogate(obj: Any) -> bool:
    stack = [obj]  # iterative: the object may be nested nearly as deep as the recursion limit
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _id_of(path: Path, number: int, record: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        if key in record:
            value = record[key]
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise CollectionLoadError(
                    path, number, f"'{key}' must be a string or an integer, got {value!r:.40}"
                )
            value = str(value).strip()
            if not value:
                raise CollectionLoadError(path, number, f"empty '{key}'")
            return value
    raise CollectionLoadError(path, number, f"missing id (expected one of {', '.join(keys)})")


def _text_of(path: Path, number: int, record: Mapping[str, Any], key: str = "text") -> str:
    if key not in record or record[key] is None:
        raise CollectionLoadError(path, number, f"missing '{key}'")
    value = record[key]
    if not isinstance(value, str):
        raise CollectionLoadError(path, number, f"'{key}' must be a string")
    if not value.strip():
        raise CollectionLoadError(path, number, f"empty '{key}'")
    return value


def _check_unique(path: Path, number: int, key: str, seen: dict[str, int], what: str) -> None:
    if key in seen:
        raise CollectionLoadError(
            path, number, f"duplicate {what} {key!r} (first seen on line {seen[key]})"
        )
    seen[key] = number


# --------------------------------------------------------------------------------------
# Corpus


def load_jsonl_corpus(path: str | Path) -> dict[str, Document]:
    """Load a JSONL corpus (``_id``/``id``, ``title``, ``text``, optional ``metadata``)."""
    path = Path(path)
    docs: dict[str, Document] = {}
    seen: dict[str, int] = {}
    for number, line in _lines(_read_text(path)):
        rec = _parse_json_object(path, number, line)
        doc_id = _id_of(path, number, rec, _ID_KEYS)
        _check_unique(path, number, doc_id, seen, "document id")
        text = _text_of(path, number, rec)
        title = rec.get("title")
        title = "" if title is None else title  # not `or ""`: false, 0 or [] are errors
        if not isinstance(title, str):
            raise CollectionLoadError(path, number, "'title' must be a string")
        metadata = rec.get("metadata")
        metadata = {} if metadata is None else metadata
        if not isinstance(metadata, dict):
            raise CollectionLoadError(path, number, "'metadata' must be an object")
        docs[doc_id] = Document(doc_id=doc_id, text=text, title=title, metadata=metadata)
    if not docs:
        raise CollectionLoadError(path, None, "no documents")
    return docs


def _csv_rows(path: Path, delimiter: str) -> Iterator[tuple[int, dict[str, str]]]:
    text = _read_text(path)
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


def load_csv_corpus(path: str | Path, delimiter: str | None = None) -> dict[str, Document]:
    """Load a CSV or TSV corpus with a header (id column, ``text``, optional ``title``).

    Args:
        path: the file. ``.tsv`` files are tab-separated unless ``delimiter`` says otherwise.
        delimiter: the field separator; default ``\\t`` for ``.tsv``, ``,`` otherwise.
    """
    path = Path(path)
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    docs: dict[str, Document] = {}
    seen: dict[str, int] = {}
    id_key: str | None = None
    for number, row in _csv_rows(path, delimiter):
        if id_key is None:
            id_key = next((k for k in _ID_KEYS if k in row), None)
            if id_key is None:
                raise CollectionLoadError(path, 1, "no id column (_id, id or doc_id) in header")
            if "text" not in row:
                raise CollectionLoadError(path, 1, "no 'text' column in header")
        doc_id = _id_of(path, number, row, (id_key,))
        _check_unique(path, number, doc_id, seen, "document id")
        text = _text_of(path, number, row)
        metadata = {k: v for k, v in row.items() if k not in (id_key, "text", "title")}
        docs[doc_id] = Document(
            doc_id=doc_id, text=text, title=row.get("title", "").strip(), metadata=metadata
        )
    if not docs:
        raise CollectionLoadError(path, None, "no documents")
    return docs


def load_corpus(path: str | Path) -> dict[str, Document]:
    """Load a corpus file, choosing the format from the extension (.jsonl/.json, .csv, .tsv)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return load_jsonl_corpus(path)
    if suffix in (".csv", ".tsv"):
        return load_csv_corpus(path)
    raise CollectionLoadError(
        path, None, f"unknown corpus format '{suffix}' (expected .jsonl, .csv or .tsv)"
    )


# --------------------------------------------------------------------------------------
# Queries and qrels


def load_queries(path: str | Path) -> dict[str, Query]:
    """Load queries from JSONL (``_id``/``id``, ``text``) or a headerless ``id<TAB>text`` TSV."""
    path = Path(path)
    queries: dict[str, Query] = {}
    seen: dict[str, int] = {}
    is_tsv = path.suffix.lower() == ".tsv"
    for number, line in _lines(_read_text(path)):
        if is_tsv:
            parts = line.split("\t")
            if len(parts) != 2:
                raise CollectionLoadError(path, number, "expected 'id<TAB>text'")
            rec: dict[str, Any] = {"_id": parts[0], "text": parts[1]}
        else:
            rec = _parse_json_object(path, number, line)
        qid = _id_of(path, number, rec, _ID_KEYS)
        _check_unique(path, number, qid, seen, "query id")
        text = _text_of(path, number, rec)
        metadata = rec.get("metadata")
        metadata = {} if metadata is None else metadata
        if not isinstance(metadata, dict):
            raise CollectionLoadError(path, number, "'metadata' must be an object")
        queries[qid] = Query(query_id=qid, text=text, metadata=metadata)
    return queries


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
    lines = list(_lines(_read_text(path)))
    if not lines:
        raise CollectionLoadError(path, None, "no qrels")
    first = lines[0][1].split("\t")
    has_header = [c.strip().lower() for c in first[:2]] == ["query-id", "corpus-id"]
    if fmt == "auto":
        fmt = "beir" if has_header else "trec"
    if fmt == "beir":
        if not has_header:
            raise CollectionLoadError(
                path, lines[0][0], "missing header 'query-id corpus-id score'"
            )
        lines = lines[1:]
    qrels: Qrels = {}
    seen: dict[str, int] = {}
    first_line: dict[str, int] = {}
    for number, line in lines:
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
        _check_unique(path, number, f"{qid} {doc_id}", seen, "judgment")
        qrels.setdefault(qid, {})[doc_id] = grade
        first_line.setdefault(qid, number)
    return qrels, first_line


# --------------------------------------------------------------------------------------
# Collections


def load_beir_folder(path: str | Path, name: str | None = None) -> Collection:
    """Load a BEIR folder: ``corpus.jsonl``, optional ``queries.jsonl`` and ``qrels/*.tsv``."""
    path = Path(path)
    corpus_path = path / "corpus.jsonl"
    if not corpus_path.exists():
        raise CollectionLoadError(corpus_path, None, "a BEIR folder needs corpus.jsonl")
    documents = load_jsonl_corpus(corpus_path)
    queries_path = path / "queries.jsonl"
    queries = load_queries(queries_path) if queries_path.exists() else {}
    qrels: dict[str, Qrels] = {}
    qrels_dir = path / "qrels"
    if qrels_dir.is_dir():
        for split_file in sorted(qrels_dir.glob("*.tsv")):
            split, first_line = _load_qrels_lines(split_file)
            unknown = [q for q in split if queries and q not in queries]
            if unknown:
                raise CollectionLoadError(
                    split_file,
                    first_line[unknown[0]],
                    f"{len(unknown)} query ids not in queries.jsonl, e.g. {unknown[0]!r}",
                )
            qrels[split_file.stem] = split
    return Collection(
        name=name or path.resolve().name,
        documents=documents,
        queries=queries,
        qrels=qrels,
        path=str(path),
        fingerprint=fingerprint_documents(documents),
    )


def load_collection(
    path: str | Path,
    name: str | None = None,
    queries: str | Path | None = None,
    qrels: dict[str, str | Path] | None = None,
) -> Collection:
    """Load a collection from a BEIR folder or a single corpus file.

    Args:
        path: a BEIR folder, or a ``.jsonl``/``.csv``/``.tsv`` corpus file.
        name: display name (default: the folder or file name).
        queries: an extra queries file (for a single corpus file).
        qrels: extra qrels files by split name.
    """
    path = Path(path)
    if path.is_dir():
        coll = load_beir_folder(path, name=name)
    else:
        documents = load_corpus(path)
        coll = Collection(
            name=name or path.stem,
            documents=documents,
            path=str(path),
            fingerprint=fingerprint_documents(documents),
        )
    if queries is None and not qrels:
        return coll
    extra_queries = dict(coll.queries)
    if queries is not None:
        extra_queries.update(load_queries(queries))
    extra_qrels = dict(coll.qrels)
    for split, qrels_path in (qrels or {}).items():
        extra_qrels[split] = load_qrels(qrels_path)
    return Collection(
        name=coll.name,
        documents=coll.documents,
        queries=extra_queries,
        qrels=extra_qrels,
        path=coll.path,
        fingerprint=coll.fingerprint,
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
