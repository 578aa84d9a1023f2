"""Collection loaders: every good layout loads, every bad file names the file, line and reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rankshift.corpus import (
    CollectionLoadError,
    collection_from_documents,
    fingerprint_documents,
    load_beir_folder,
    load_collection,
    load_corpus,
    load_csv_corpus,
    load_jsonl_corpus,
    load_qrels,
    load_queries,
)
from rankshift.types import Document, Query


def write(directory: Path, name: str, content: str | bytes) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def jsonl(*records: object) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def load_error(fn, *args, **kwargs) -> CollectionLoadError:
    with pytest.raises(CollectionLoadError) as info:
        fn(*args, **kwargs)
    return info.value


# --------------------------------------------------------------------------------------
# Good inputs


def test_jsonl_corpus_with_underscore_id_title_and_metadata(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "corpus.jsonl",
        jsonl(
            {"_id": "cat", "title": "Cats", "text": "A cat purrs.", "metadata": {"lang": "en"}},
            {"_id": "dog", "text": "A dog plays."},
        ),
    )
    docs = load_jsonl_corpus(path)
    assert docs == {
        "cat": Document("cat", "A cat purrs.", title="Cats", metadata={"lang": "en"}),
        "dog": Document("dog", "A dog plays.", title="", metadata={}),
    }
    assert list(docs) == ["cat", "dog"]  # file order is kept
    assert docs["cat"].full_text == "Cats\nA cat purrs."


def test_jsonl_corpus_with_plain_id_and_integer_ids(tmp_path: Path) -> None:
    path = write(
        tmp_path, "c.jsonl", jsonl({"id": 7, "text": "seven"}, {"id": "8", "text": "eight"})
    )
    docs = load_corpus(path)
    assert list(docs) == ["7", "8"]
    assert docs["7"].text == "seven"


def test_blank_lines_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path, "c.jsonl", '{"_id": "a", "text": "x"}\r\n\r\n   \n{"_id": "b", "text": "y"}\r\n'
    )
    assert list(load_jsonl_corpus(path)) == ["a", "b"]


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    body = jsonl({"_id": "café", "text": "crème brûlée"})
    path = write(tmp_path, "c.jsonl", b"\xef\xbb\xbf" + body.encode("utf-8"))
    assert load_jsonl_corpus(path)["café"].text == "crème brûlée"


def test_csv_corpus_extra_columns_become_metadata(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "corpus.csv",
        'doc_id,title,text,source,year\nd1,First,"Hello, world",web,2020\nd2,,"two\nlines",book,1999\n',
    )
    docs = load_corpus(path)
    assert docs == {
        "d1": Document("d1", "Hello, world", "First", {"source": "web", "year": "2020"}),
        "d2": Document("d2", "two\nlines", "", {"source": "book", "year": "1999"}),
    }


def test_tsv_corpus_with_bom_header(tmp_path: Path) -> None:
    path = write(tmp_path, "corpus.tsv", b"\xef\xbb\xbfid\ttext\tlang\nx\tsome text\ten\n")
    assert load_corpus(path) == {"x": Document("x", "some text", "", {"lang": "en"})}


def test_queries_jsonl_and_tsv(tmp_path: Path) -> None:
    j = write(
        tmp_path, "queries.jsonl", jsonl({"_id": "q1", "text": "cats?"}, {"id": 2, "text": "dogs?"})
    )
    t = write(tmp_path, "queries.tsv", "q1\tcats?\n2\tdogs?\n")
    expected = {"q1": Query("q1", "cats?"), "2": Query("2", "dogs?")}
    assert load_queries(j) == expected
    assert load_queries(t) == expected


def test_trec_qrels(tmp_path: Path) -> None:
    path = write(tmp_path, "qrels.txt", "q1 0 d1 2\nq1 0 d2 0\nq2\tQ0\td1\t1\n")
    assert load_qrels(path) == {"q1": {"d1": 2, "d2": 0}, "q2": {"d1": 1}}
    assert load_qrels(path, fmt="trec") == load_qrels(path)


def test_beir_qrels_with_header(tmp_path: Path) -> None:
    path = write(tmp_path, "test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td3\t2\n")
    assert load_qrels(path) == {"q1": {"d1": 1, "d3": 2}}
    assert load_qrels(path, fmt="beir") == load_qrels(path)


def beir_folder(root: Path, qrels: str = "query-id\tcorpus-id\tscore\nq1\td1\t1\n") -> Path:
    write(root, "corpus.jsonl", jsonl({"_id": "d1", "text": "one"}, {"_id": "d2", "text": "two"}))
    write(root, "queries.jsonl", jsonl({"_id": "q1", "text": "first"}, {"_id": "q2", "text": "x"}))
    write(root, "qrels/test.tsv", qrels)
    return root


def test_beir_folder(tmp_path: Path) -> None:
    root = beir_folder(tmp_path / "mini")
    write(root, "qrels/dev.tsv", "query-id\tcorpus-id\tscore\nq2\td2\t0\n")
    coll = load_collection(root)
    assert coll.name == "mini"
    assert coll.doc_ids == ["d1", "d2"]
    assert set(coll.queries) == {"q1", "q2"}
    assert coll.qrels == {"test": {"q1": {"d1": 1}}, "dev": {"q2": {"d2": 0}}}
    assert list(coll.queries_for("test")) == ["q1"]
    assert coll.fingerprint == fingerprint_documents(coll.documents)
    assert load_beir_folder(root) == coll


def test_single_file_with_extra_queries_and_qrels(tmp_path: Path) -> None:
    corpus = write(tmp_path, "docs.csv", "id,text\na,alpha\nb,beta\n")
    queries = write(tmp_path, "q.tsv", "q1\talpha?\n")
    qrels = write(tmp_path, "r.txt", "q1 0 a 1\n")
    coll = load_collection(corpus, queries=queries, qrels={"test": qrels})
    assert coll.name == "docs"
    assert coll.queries == {"q1": Query("q1", "alpha?")}
    assert coll.qrels == {"test": {"q1": {"a": 1}}}


# --------------------------------------------------------------------------------------
# Bad inputs: the file, the 1-based line and a reason that says what is wrong


GOOD = '{"_id": "ok", "text": "fine"}\n'


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"_id": "a", "text": "x"', "invalid JSON"),
        ("not json at all", "invalid JSON"),
        ('["a", "x"]', "expected a JSON object, got list"),
        ('"just a string"', "expected a JSON object, got str"),
        ('{"text": "no id"}', "missing id"),
        ('{"_id": "", "text": "x"}', "empty '_id'"),
        ('{"_id": 1.5, "text": "x"}', "'_id' must be a string or an integer"),
        ('{"_id": true, "text": "x"}', "'_id' must be a string or an integer"),
        ('{"_id": "a"}', "missing 'text'"),
        ('{"_id": "a", "text": null}', "missing 'text'"),
        ('{"_id": "a", "text": "   "}', "empty 'text'"),
        ('{"_id": "a", "text": 3}', "'text' must be a string"),
        ('{"_id": "a", "text": "x", "title": 3}', "'title' must be a string"),
        ('{"_id": "a", "text": "x", "title": false}', "'title' must be a string"),
        ('{"_id": "a", "text": "x", "metadata": [1]}', "'metadata' must be an object"),
        ('{"_id": "a", "text": "x", "metadata": ""}', "'metadata' must be an object"),
        ('{"_id": "a", "text": "x\\ud800"}', "surrogate"),
        ("[" * 100_000, "invalid JSON"),
    ],
)
def test_jsonl_corpus_bad_line(tmp_path: Path, line: str, reason: str) -> None:
    path = write(tmp_path, "corpus.jsonl", GOOD + "\n" + line + "\n" + GOOD)
    # strict: an empty text is an error too (by default that document is left out)
    err = load_error(load_jsonl_corpus, path, strict=True)
    assert (err.path, err.line) == (str(path), 3)
    assert reason in err.reason
    assert str(err).startswith(f"{path}:3: ")


def test_duplicate_id_names_the_first_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.jsonl",
        jsonl({"_id": "a", "text": "x"}, {"_id": "b", "text": "y"}, {"id": "a", "text": "z"}),
    )
    err = load_error(load_jsonl_corpus, path)
    assert err.line == 3
    assert "duplicate document id 'a'" in err.reason
    assert "first seen on line 1" in err.reason


def test_integer_and_string_ids_that_collide_are_duplicates(tmp_path: Path) -> None:
    path = write(tmp_path, "c.jsonl", jsonl({"_id": 1, "text": "x"}, {"_id": "1", "text": "y"}))
    assert load_error(load_jsonl_corpus, path).line == 2


def test_non_utf8_bytes_report_their_line(tmp_path: Path) -> None:
    body = GOOD.encode() + GOOD.replace("ok", "b").encode() + b'{"_id": "c", "text": "caf\xe9"}\n'
    path = write(tmp_path, "c.jsonl", body)
    err = load_error(load_jsonl_corpus, path)
    assert err.line == 3
    assert "not valid UTF-8" in err.reason and "0xe9" in err.reason


def test_empty_corpus_is_an_error(tmp_path: Path) -> None:
    err = load_error(load_jsonl_corpus, write(tmp_path, "c.jsonl", "\n  \n"))
    assert (err.line, err.reason) == (None, "no documents")


@pytest.mark.parametrize(
    ("name", "content", "line", "reason"),
    [
        ("c.csv", "id,text\na,alpha\nb,beta,extra\n", 3, "expected 2 fields, got 3"),
        ("c.tsv", "id\ttext\na\talpha\tx\ty\n", 2, "expected 2 fields, got 4"),
        ("c.csv", "id,text\na,alpha\nb,\n", 3, "empty 'text'"),
        ("c.csv", "id,text\na,alpha\na,again\n", 3, "first seen on line 2"),
        ("c.csv", "title,text\nT,alpha\n", 1, "no id column (_id, id or doc_id) in the header"),
        (
            "c.csv",
            "id,body\na,alpha\n",
            1,
            "no 'text' column in the header (columns found: 'id', 'body')",
        ),
        ("c.csv", "id,text,id\na,alpha,b\n", 1, "duplicate column names"),
        ("c.csv", 'id,text\na,"unclosed\n', 2, "malformed CSV"),
        ("c.csv", "id,text\na,al\x00pha\n", 2, "NUL byte"),
    ],
)
def test_csv_corpus_bad_input(
    tmp_path: Path, name: str, content: str, line: int, reason: str
) -> None:
    path = write(tmp_path, name, content)
    err = load_error(load_csv_corpus, path, strict=True)
    assert (err.path, err.line) == (str(path), line)
    assert reason in err.reason


def test_queries_tsv_needs_two_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "q.tsv", "q1\tok\nq2 no tab\n")
    err = load_error(load_queries, path)
    assert err.line == 2 and "id<TAB>text" in err.reason


def test_duplicate_query_id(tmp_path: Path) -> None:
    path = write(tmp_path, "q.jsonl", jsonl({"_id": "q", "text": "a"}, {"_id": "q", "text": "b"}))
    err = load_error(load_queries, path)
    assert err.line == 2 and "duplicate query id 'q'" in err.reason


@pytest.mark.parametrize(
    ("content", "fmt", "line", "reason"),
    [
        ("q1 0 d1 1\nq1 0 d2 high\n", "auto", 2, "relevance must be an integer, got 'high'"),
        ("q1 0 d1 1\nq1 0 d2 1.5\n", "trec", 2, "relevance must be an integer"),
        ("query-id\tcorpus-id\tscore\nq1\td1\tyes\n", "auto", 2, "must be an integer"),
        ("q1 0 d1 1\nq2 0 d1 0\nq1 0 d1 2\n", "auto", 3, "duplicate judgment 'q1 d1'"),
        ("q1 0 d1\n", "trec", 1, "expected 4 fields"),
        ("query-id\tcorpus-id\tscore\nq1 d1 1\n", "beir", 2, "expected 3 tab-separated"),
        ("q1\td1\t1\n", "beir", 1, "missing header"),
    ],
)
def test_qrels_bad_input(tmp_path: Path, content: str, fmt: str, line: int, reason: str) -> None:
    path = write(tmp_path, "qrels.tsv", content)
    err = load_error(load_qrels, path, fmt=fmt)
    assert (err.path, err.line) == (str(path), line)
    assert reason in err.reason


def test_duplicate_qrels_pair_names_the_first_line(tmp_path: Path) -> None:
    path = write(tmp_path, "qrels.txt", "q1 0 d1 1\nq2 0 d1 0\nq1 0 d1 1\n")
    assert "first seen on line 1" in load_error(load_qrels, path).reason


def test_qrels_query_ids_unknown_to_queries_strict(tmp_path: Path) -> None:
    qrels = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq9\td2\t1\nq8\td1\t0\n"
    root = beir_folder(tmp_path / "b", qrels=qrels)
    assert set(load_collection(root).qrels["test"]) == {"q1", "q9", "q8"}  # evaluation reports them
    err = load_error(load_collection, root, strict=True)
    assert err.path == str(root / "qrels" / "test.tsv")
    assert err.line == 3  # the first judgment whose query id is unknown
    assert "2 judged query ids have no text in queries.jsonl" in err.reason and "'q9'" in err.reason


def test_beir_folder_without_corpus(tmp_path: Path) -> None:
    write(tmp_path, "queries.jsonl", jsonl({"_id": "q", "text": "x"}))
    err = load_error(load_collection, tmp_path)
    assert err.path == str(tmp_path / "corpus.jsonl") and "needs corpus.jsonl" in err.reason
    assert "(the folder holds: queries.jsonl)" in err.reason


def test_beir_folder_names_the_bad_file(tmp_path: Path) -> None:
    root = beir_folder(tmp_path / "b")
    write(root, "queries.jsonl", jsonl({"_id": "q1", "text": "ok"}) + "{oops\n")
    err = load_error(load_collection, root)
    assert (err.path, err.line) == (str(root / "queries.jsonl"), 2)


def test_unknown_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "corpus.xml", "<doc/>")
    for loader in (load_corpus, load_collection):
        err = load_error(loader, path)
        assert (err.path, err.line) == (str(path), None)
        assert "unknown corpus format '.xml'" in err.reason
        assert "a BEIR folder or a .jsonl, .json, .ndjson, .csv, .tsv file" in err.reason


def test_missing_file(tmp_path: Path) -> None:
    for loader in (load_corpus, load_jsonl_corpus, load_queries, load_qrels):
        err = load_error(loader, tmp_path / "nope.jsonl")
        assert err.path == str(tmp_path / "nope.jsonl")
        assert (err.line, err.reason) == (None, "file not found")


@pytest.mark.parametrize("name", ["nope.jsonl", "nope", "no/such/folder"])
def test_a_collection_path_that_does_not_exist_says_so(tmp_path: Path, name: str) -> None:
    # It used to say "unknown corpus format ''" for a path without a suffix.
    err = load_error(load_collection, tmp_path / name)
    assert (err.path, err.line, err.reason) == (
        str(tmp_path / name),
        None,
        "no such file or folder",
    )


def test_a_failing_load_returns_nothing(tmp_path: Path) -> None:
    # 999 good lines and one bad last line: a streaming loader would already have handed out
    # the good documents; this one raises before returning anything.
    good = "".join(json.dumps({"_id": str(i), "text": f"doc {i}"}) + "\n" for i in range(999))
    path = write(tmp_path, "c.jsonl", good + '{"_id": "last"}\n')
    result = None
    with pytest.raises(CollectionLoadError):
        result = load_jsonl_corpus(path)
    assert result is None
    root = beir_folder(tmp_path / "b", qrels="query-id\tcorpus-id\tscore\nq1\td1\tx\n")
    with pytest.raises(CollectionLoadError):
        result = load_collection(root)
    assert result is None


# --------------------------------------------------------------------------------------
# Fingerprint


def test_fingerprint_ignores_document_order_and_metadata() -> None:
    a = [Document("1", "one", "T"), Document("2", "two")]
    b = [Document("2", "two", metadata={"x": 1}), Document("1", "one", "T")]
    assert collection_from_documents(a).fingerprint == collection_from_documents(b).fingerprint


@pytest.mark.parametrize(
    "changed",
    [
        [Document("1", "one!", "T"), Document("2", "two")],  # a text
        [Document("1", "one", "T2"), Document("2", "two")],  # a title
        [Document("1", "one", "T"), Document("3", "two")],  # an id
        [Document("1", "one", "T")],  # a document removed
        # the same characters split differently between title and text ("T" + "one")
        [Document("1", "ne", "To"), Document("2", "two")],
    ],
)
def test_fingerprint_changes_with_content(changed: list[Document]) -> None:
    base = fingerprint_documents(
        {d.doc_id: d for d in [Document("1", "one", "T"), Document("2", "two")]}
    )
    assert fingerprint_documents({d.doc_id: d for d in changed}) != base


def test_fingerprint_of_a_loaded_file_matches_the_in_memory_one(tmp_path: Path) -> None:
    path = write(tmp_path, "c.jsonl", jsonl({"_id": "b", "text": "y"}, {"_id": "a", "text": "x"}))
    loaded = load_collection(path)
    built = collection_from_documents([Document("a", "x"), Document("b", "y")])
    assert loaded.fingerprint == built.fingerprint
    assert len(loaded.fingerprint) == 16
