"""Fuzzing the loaders: whatever bytes a user uploads, the only possible failure is a
``CollectionLoadError`` that names the file and (for a problem on a line) a real line.

Inputs are arbitrary bytes and, more usefully, valid files of each format mangled by random
insertions, deletions, truncations, stray bytes, BOMs, NULs, lone-surrogate escapes, JSON nested
100k deep and integers too long to parse. Whatever does load must be usable downstream: every
id and text encodes as UTF-8 (the fingerprint, the tokenizers and SQLite need that).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rankshift.corpus import (
    Collection,
    CollectionLoadError,
    load_beir_folder,
    load_collection,
    load_csv_corpus,
    load_jsonl_corpus,
    load_qrels,
    load_queries,
)
from rankshift.types import Document, Query

# Derandomized, so every run checks the same inputs; RANKSHIFT_FUZZ_EXAMPLES=5000 for a longer hunt.
FUZZ = settings(
    max_examples=int(os.environ.get("RANKSHIFT_FUZZ_EXAMPLES", "80")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

BOM = b"\xef\xbb\xbf"

# Valid files, one list of lines per format.
VALID: dict[str, list[bytes]] = {
    "corpus.jsonl": [
        b'{"_id": "d1", "title": "T", "text": "alpha beta"}',
        b'{"id": 2, "text": "gamma", "metadata": {"k": [1, 2.5, null]}}',
        b'{"_id": "d3", "text": "caf\xc3\xa9 \\u00e9 \\ud83d\\ude00"}',
    ],
    "corpus.json": [
        b"[",
        b'{"_id": "d1", "title": "T", "text": "alpha beta"},',
        b'{"id": 2,',
        b' "text": "gamma", "metadata": {"k": [1, 2.5, null]}},',
        b'{"_id": "d3", "text": "caf\xc3\xa9 \\u00e9 \\ud83d\\ude00"}',
        b"]",
    ],
    "corpus.csv": [b"id,title,text,extra", b'1,T,"hello, world",x', b'2,,"two\nlines",y'],
    "corpus.tsv": [b"doc_id\ttext\tlang", b"a\talpha\ten", b"b\tbeta\tfr"],
    "queries.jsonl": [b'{"_id": "q1", "text": "cats?"}', b'{"id": "q2", "text": "dogs"}'],
    "queries.tsv": [b"q1\tcats?", b"q2\tdogs"],
    "queries.json": [
        b"[",
        b'{"_id": "q1", "text": "cats?"},',
        b'{"id": "q2", "text": "dogs"}',
        b"]",
    ],
    "qrels.txt": [b"q1 0 d1 1", b"q1 0 d2 0", b"q2 Q0 d1 2"],
    "qrels.tsv": [b"query-id\tcorpus-id\tscore", b"q1\td1\t1", b"q2\td2\t0"],
}

# Fragments that break parsers in interesting ways.
NASTY = [
    b'"', b"{", b"}", b"[", b"]", b",", b":", b"\t", b"\n", b"\r", b"\r\n", b"\x00", BOM,
    b"\\", b"\\ud800", b"\\udfff", b"\xff", b"\xc3", b"\xed\xa0\x80", b" ", b"\x0b", b"\x1c",
    b"\xe2\x80\xa8", b"null", b"true", b"1e999", b"NaN", b"-0", b"9" * 5000, b"1" * 4000,
    b'"_id"', b'"text"', b"query-id\tcorpus-id\tscore",
]  # fmt: skip

WHOLE_LINES = [
    b"[" * 100_000,
    b"{" * 100_000,
    b'{"a":' * 50_000,
    b'{"_id": ' + b"9" * 5000 + b', "text": "x"}',
    b'{"_id": ' + b"1" * 4000 + b', "text": "x"}',
    b'{"_id": "deep", "text": "x", "metadata": {"m": ' + b"[" * 400 + b"]" * 400 + b"}}",
    b'{"_id": ' + b"[" * 900 + b"]" * 900 + b', "text": "x"}',
    b'{"_id": "s", "text": "\\ud800"}',
    b'{"_id": "k", "text": "x", "metadata": {"\\udc00": 1}}',
    b"q1 0 d1 " + b"9" * 5000,
    b"q1\td1\t" + b"9" * 5000,
    b"x" * 200_000,  # longer than the csv module's field limit
    b"",
    b"   ",
]


@st.composite
def mangled(draw: st.DrawFn, lines: list[bytes]) -> bytes:
    """A valid file with a few random mutations."""
    lines = list(lines)
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if not lines:
            lines.append(b"")
        line = lines[i]
        op = draw(st.sampled_from(["insert", "delete", "truncate", "replace", "dup", "drop"]))
        pos = draw(st.integers(0, len(line)))
        if op == "insert":
            frag = draw(st.one_of(st.sampled_from(NASTY), st.binary(min_size=1, max_size=4)))
            lines[i] = line[:pos] + frag + line[pos:]
        elif op == "delete":
            lines[i] = line[:pos] + line[pos + draw(st.integers(1, 8)) :]
        elif op == "truncate":
            lines[i] = line[:pos]
        elif op == "replace":
            lines[i] = draw(st.sampled_from(WHOLE_LINES))
        elif op == "dup":
            lines.insert(i, line)
        else:
            del lines[i]
    body = b"\n".join(lines) + draw(st.sampled_from([b"", b"\n", b"\r\n"]))
    return (BOM + body) if draw(st.booleans()) else body


def content(kind: str) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=200), mangled(VALID[kind]))


def physical_lines(data: bytes) -> int:
    # The csv module also ends a line at a lone \r, so allow for the larger count.
    return len(re.split(rb"\r\n|\r|\n", data))


WHOLE_FILE_REASONS = {"no documents", "no qrels"}


def check(call: Callable[[], Any], files: dict[Path, bytes]) -> Any:
    """Run a loader: it returns something usable or raises a well-formed CollectionLoadError."""
    try:
        result = call()
    except CollectionLoadError as e:
        assert e.path in {str(p) for p in files}, e
        data = files[Path(e.path)]
        if e.line is None:
            assert e.reason in WHOLE_FILE_REASONS, e
        else:
            assert data.strip(), e  # an empty file has no line to blame
            assert 1 <= e.line <= physical_lines(data), e
        assert str(e).startswith(e.path), e
        return None
    assert_usable(result)
    return result


def assert_usable(result: Any) -> None:
    if isinstance(result, Collection):
        assert result.documents and len(result.fingerprint) == 16
        for value in (result.documents, result.queries, *result.qrels.values()):
            assert_usable(value)
        return
    assert isinstance(result, dict)
    for key, value in result.items():
        key.encode("utf-8")
        assert key == key.strip() and key
        if isinstance(value, Document):
            value.full_text.encode("utf-8")
            assert value.text.strip() and value.doc_id == key
        elif isinstance(value, Query):
            value.text.encode("utf-8")
            assert value.text.strip() and value.query_id == key
        else:  # qrels: doc_id -> grade
            assert all(isinstance(g, int) for g in value.values())
            for doc_id in value:
                doc_id.encode("utf-8")


def in_tmp(files: dict[str, bytes], run: Callable[[Path], Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        written = {}
        for name, data in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written[path] = data
        check(lambda: run(root), written)


@FUZZ
@given(data=content("corpus.jsonl"))
def test_jsonl_corpus(data: bytes) -> None:
    in_tmp({"c.jsonl": data}, lambda r: load_jsonl_corpus(r / "c.jsonl"))


@FUZZ
@given(data=content("corpus.json"))
def test_json_array_corpus(data: bytes) -> None:
    in_tmp({"c.json": data}, lambda r: load_jsonl_corpus(r / "c.json"))


@FUZZ
@given(data=content("queries.json"))
def test_queries_json_array(data: bytes) -> None:
    in_tmp({"q.json": data}, lambda r: load_queries(r / "q.json"))


@FUZZ
@given(data=content("corpus.csv"), delimiter=st.sampled_from([None, ",", ";"]))
def test_csv_corpus(data: bytes, delimiter: str | None) -> None:
    in_tmp({"c.csv": data}, lambda r: load_csv_corpus(r / "c.csv", delimiter=delimiter))


@FUZZ
@given(data=content("corpus.tsv"))
def test_tsv_corpus(data: bytes) -> None:
    in_tmp({"c.tsv": data}, lambda r: load_csv_corpus(r / "c.tsv"))


@FUZZ
@given(data=content("queries.jsonl"))
def test_queries_jsonl(data: bytes) -> None:
    in_tmp({"q.jsonl": data}, lambda r: load_queries(r / "q.jsonl"))


@FUZZ
@given(data=content("queries.tsv"))
def test_queries_tsv(data: bytes) -> None:
    in_tmp({"q.tsv": data}, lambda r: load_queries(r / "q.tsv"))


@FUZZ
@given(
    data=st.one_of(content("qrels.txt"), content("qrels.tsv")),
    fmt=st.sampled_from(["auto", "trec", "beir"]),
)
def test_qrels(data: bytes, fmt: Any) -> None:
    in_tmp({"qrels.tsv": data}, lambda r: load_qrels(r / "qrels.tsv", fmt=fmt))


BEIR_FILES = {
    "corpus.jsonl": "corpus.jsonl",
    "queries.jsonl": "queries.jsonl",
    "qrels/test.tsv": "qrels.tsv",
}


@FUZZ
@given(target=st.sampled_from(sorted(BEIR_FILES)), data=st.data())
def test_beir_folder(target: str, data: st.DataObject) -> None:
    files = {name: b"\n".join(VALID[kind]) + b"\n" for name, kind in BEIR_FILES.items()}
    files[target] = data.draw(content(BEIR_FILES[target]), label=target)
    in_tmp(files, load_beir_folder)
    in_tmp(files, load_collection)


@FUZZ
@given(
    corpus=st.sampled_from(["corpus.jsonl", "corpus.csv", "corpus.tsv"]),
    target=st.sampled_from(["corpus", "queries", "qrels"]),
    data=st.data(),
)
def test_collection_from_files(corpus: str, target: str, data: st.DataObject) -> None:
    names = {"corpus": corpus, "queries": "queries.tsv", "qrels": "qrels.txt"}
    files = {names[k]: b"\n".join(VALID[names[k]]) for k in names}
    files[names[target]] = data.draw(content(names[target]), label=target)
    in_tmp(
        files,
        lambda r: load_collection(
            r / corpus, queries=r / "queries.tsv", qrels={"test": r / "qrels.txt"}
        ),
    )


LOADERS: dict[str, Callable[[Path], Any]] = {
    "corpus.jsonl": load_jsonl_corpus,
    "corpus.json": load_jsonl_corpus,
    "corpus.csv": load_csv_corpus,
    "corpus.tsv": load_csv_corpus,
    "queries.jsonl": load_queries,
    "queries.tsv": load_queries,
    "queries.json": load_queries,
    "qrels.txt": lambda p: load_qrels(p, fmt="trec"),
    "qrels.tsv": load_qrels,
}


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_every_nasty_line_and_fragment(kind: str) -> None:
    # Random search may miss a rare input; this sweep puts each nasty line in place of the
    # second line, and each nasty fragment in the middle of it, in every format.
    lines = VALID[kind]
    middle = len(lines[1]) // 2
    variants = [[lines[0], whole, *lines[2:]] for whole in WHOLE_LINES]
    variants += [[lines[0], lines[1][:middle] + f + lines[1][middle:], *lines[2:]] for f in NASTY]
    for variant in variants:
        body = b"\n".join(variant) + b"\n"
        in_tmp({kind: body}, lambda r: LOADERS[kind](r / kind))
        in_tmp({kind: BOM + body}, lambda r: LOADERS[kind](r / kind))


def test_the_valid_seeds_load() -> None:
    # The mutations start from valid files; if these did not load, the fuzzing above would
    # only ever exercise error paths.
    for kind, lines in VALID.items():
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / kind
            path.write_bytes(b"\n".join(lines))
            if kind.startswith("corpus"):
                assert len(load_collection(path)) in (2, 3)
            elif kind.startswith("queries"):
                assert set(load_queries(path)) == {"q1", "q2"}
            else:
                assert set(load_qrels(path)) == {"q1", "q2"}
