"""Bringing your own collection: JSON-array corpora, empty documents left out (or, strict, an
error), and load messages that say what is wrong with the path or the file."""

from __future__ import annotations

import json
import random
import tracemalloc
from pathlib import Path

import pytest

from rankshift import _json_array
from rankshift.corpus import (
    CollectionLoadError,
    load_collection,
    load_corpus,
    load_csv_corpus,
    load_jsonl_corpus,
    load_queries,
)
from rankshift.types import Document


def write(directory: Path, name: str, content: str | bytes) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def load_error(fn, *args, **kwargs) -> CollectionLoadError:
    with pytest.raises(CollectionLoadError) as info:
        fn(*args, **kwargs)
    return info.value


RECORDS = [
    {"_id": "cat", "title": "Cats", "text": "A cat purrs.", "metadata": {"lang": "en"}},
    {"id": 2, "text": 'A dog [plays] {fetch}, "with" a ball \\ and a stick.\nTwo lines.'},
    {"_id": "café", "text": 'caf\u00e9 \U0001f600 ] } , " [', "metadata": {"k": [1, {"a": None}]}},
]


# --------------------------------------------------------------------------------------
# JSON arrays


@pytest.mark.parametrize("indent", [None, 2])
def test_a_json_array_loads_like_the_same_records_as_jsonl(tmp_path: Path, indent) -> None:
    array = write(tmp_path, "corpus.json", json.dumps(RECORDS, indent=indent, ensure_ascii=False))
    lines = write(tmp_path, "corpus.jsonl", "".join(json.dumps(r) + "\n" for r in RECORDS))
    assert load_corpus(array) == load_corpus(lines)
    assert load_corpus(array)["2"] == Document("2", RECORDS[1]["text"])
    # The collection loader reads it too, named after the file, with the same fingerprint.
    assert load_collection(array).fingerprint == load_collection(lines).fingerprint


def test_arrays_are_recognised_by_content_in_any_json_suffix(tmp_path: Path) -> None:
    body = "\ufeff  \n" + json.dumps(RECORDS)  # a BOM and blank lines before the bracket
    for name in ("a.json", "b.jsonl", "c.ndjson"):
        assert len(load_jsonl_corpus(write(tmp_path, name, body))) == 3


def test_queries_can_be_a_json_array(tmp_path: Path) -> None:
    path = write(
        tmp_path, "queries.json", '[{"_id": "q1", "text": "cats"}, {"id": 2, "text": "x"}]'
    )
    assert {q: v.text for q, v in load_queries(path).items()} == {"q1": "cats", "2": "x"}


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        ('[\n{"_id": "a", "text": "x"},\n{"_id": "b",\n "text": oops}\n]', 4, "invalid JSON"),
        ('[\n{"_id": "a", "text": "x"},\n["b", "y"]\n]', 3, "expected a JSON object, got list"),
        ('[\n{"_id": "a", "text": "x"},\n]', 3, "trailing comma"),
        ('[\n{"_id": "a", "text": "x"}\n{"_id": "b", "text": "y"}]', 3, "expected ',' or ']'"),
        ('[\n{"_id": "a", "text": "x"},\n{"_id": "b", "text": "y"}\n', 4, "not closed"),
        ('[\n{"_id": "a", "text": "x"},\n{"_id": "b", "text": "y\n', 3, "file ends inside"),
        ('[{"_id": "a", "text": "x"}]\n{"_id": "b"}', 2, "unexpected text after the JSON array"),
        ('[{"_id": "a", "text": "x"},\n {"_id": "a", "text": "y"}]', 2, "duplicate document id"),
    ],
)
def test_a_bad_array_names_the_line(tmp_path: Path, content: str, line: int, reason: str) -> None:
    path = write(tmp_path, "c.json", content)
    err = load_error(load_corpus, path)
    assert (err.path, err.line) == (str(path), line)
    assert reason in err.reason


def test_an_empty_array_has_no_documents(tmp_path: Path) -> None:
    err = load_error(load_corpus, write(tmp_path, "c.json", "[ ]\n"))
    assert (err.line, err.reason) == (None, "no documents")


def test_non_utf8_in_an_array_names_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path, "c.json", b'[\n{"_id": "a", "text": "x"},\n{"_id": "b", "text": "\xe9"}]'
    )
    err = load_error(load_corpus, path)
    assert err.line == 3 and "not valid UTF-8" in err.reason and "0xe9" in err.reason


def test_elements_and_characters_split_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the chunk size, the array reads as json.loads reads the whole file: escapes,
    brackets inside strings and multi-byte characters cut between two reads included."""
    rng = random.Random(3)
    alphabet = 'ab "\\[]{},:\n\té€😀'
    records = [
        {
            "_id": f"d{i}",
            "text": "x" + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))),
            "metadata": {"n": [rng.random(), None, True, {"deep": [[]]}]},
        }
        for i in range(60)
    ]
    path = write(tmp_path, "c.json", json.dumps(records, ensure_ascii=False, indent=1))
    expected = {r["_id"]: r["text"] for r in records}
    for chunk in (1, 2, 3, 7, 64):
        monkeypatch.setattr(_json_array, "CHUNK", chunk)
        assert {d: doc.text for d, doc in load_corpus(path).items()} == expected, chunk


def test_a_large_array_is_read_a_chunk_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reading the elements never holds the file's text: the peak is about a chunk, not the file.
    monkeypatch.setattr(_json_array, "CHUNK", 1 << 16)
    text = "lorem ipsum dolor sit amet " * 20
    with open(tmp_path / "big.json", "w", encoding="utf-8") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps({"_id": str(i), "text": text}) for i in range(8000)))
        f.write("\n]\n")
    size = (tmp_path / "big.json").stat().st_size
    assert size > 4_000_000
    tracemalloc.start()
    try:
        count = sum(1 for _ in _json_array.array_elements(tmp_path / "big.json"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 8000
    assert peak < size / 8, (peak, size)


# --------------------------------------------------------------------------------------
# Empty documents


EMPTY_JSONL = "".join(
    json.dumps(r) + "\n"
    for r in [
        {"_id": "a", "text": "alpha"},
        {"_id": "b", "text": ""},
        {"_id": "c", "text": "  \t "},
        {"_id": "d", "title": "Only a title", "text": None},
        {"_id": "e", "text": "epsilon"},
    ]
)


def test_empty_documents_are_left_out_and_listed(tmp_path: Path) -> None:
    coll = load_collection(write(tmp_path, "c.jsonl", EMPTY_JSONL))
    assert coll.doc_ids == ["a", "e"]
    assert coll.empty_documents == ("b", "c", "d")
    assert coll.left_out_note() == "3 empty documents left out: 'b', 'c', 'd'"
    assert coll.fingerprint == load_collection(write(tmp_path, "d.jsonl", EMPTY_JSONL)).fingerprint


def test_strict_keeps_the_hard_stop(tmp_path: Path) -> None:
    path = write(tmp_path, "c.jsonl", EMPTY_JSONL)
    err = load_error(load_collection, path, strict=True)
    assert (err.line, err.reason) == (2, "empty 'text'")
    csv = write(tmp_path, "c.csv", "id,text\na,alpha\nb,\n")
    assert load_csv_corpus(csv) == {"a": Document("a", "alpha")}
    assert load_error(load_csv_corpus, csv, strict=True).line == 3


def test_a_note_names_five_ids_and_counts_the_rest(tmp_path: Path) -> None:
    rows = "id,text\nkeep,x\n" + "".join(f"e{i},\n" for i in range(8))
    coll = load_collection(write(tmp_path, "c.csv", rows))
    assert coll.left_out_note() == (
        "8 empty documents left out: 'e0', 'e1', 'e2', 'e3', 'e4' and 3 more"
    )


def test_a_corpus_of_empty_documents_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "c.jsonl", '{"_id": "x", "text": ""}\n{"_id": "y", "text": " "}\n')
    err = load_error(load_collection, path)
    assert err.line == 1
    assert err.reason == "every document has an empty text (2 documents, e.g. 'x')"


def test_a_beir_folder_leaves_empty_documents_out(tmp_path: Path) -> None:
    root = tmp_path / "b"
    write(root, "corpus.jsonl", EMPTY_JSONL)
    write(root, "queries.jsonl", '{"_id": "q1", "text": "alpha"}\n')
    write(root, "qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\ta\t1\nq1\tb\t2\n")
    coll = load_collection(root)
    assert coll.empty_documents == ("b", "c", "d")
    assert coll.qrels["test"] == {"q1": {"a": 1, "b": 2}}  # evaluation reports 'b'
    assert coll.queries_file == str(root / "queries.jsonl")


# --------------------------------------------------------------------------------------
# What the messages say


def test_a_missing_path_says_it_does_not_exist(tmp_path: Path) -> None:
    err = load_error(load_collection, tmp_path / "typo")
    assert str(err) == f"{tmp_path / 'typo'}: no such file or folder"


def test_a_csv_without_a_text_column_lists_the_columns(tmp_path: Path) -> None:
    err = load_error(load_corpus, write(tmp_path, "c.csv", "doc_id,body,title\n1,x,y\n"))
    assert err.reason == (
        "no 'text' column in the header (columns found: 'doc_id', 'body', 'title')"
    )
    err = load_error(load_corpus, write(tmp_path, "d.csv", "id\ttext\n1\tx\n"))
    assert "columns found: 'id\\ttext'" in err.reason
    assert "separated by '\\t' rather than ','" in err.reason


def test_a_folder_without_corpus_says_what_it_holds(tmp_path: Path) -> None:
    write(tmp_path, "docs.json", "[]")
    write(tmp_path, "qrels/test.tsv", "q 0 d 1\n")
    err = load_error(load_collection, tmp_path)
    assert err.reason == "a BEIR folder needs corpus.jsonl (the folder holds: docs.json, qrels/)"
