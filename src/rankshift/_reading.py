"""Reading collection files: bytes to checked lines and JSON records, and the error that
names the file, the line and the reason when they are not what a loader needs.

Private to :mod:`rankshift.corpus`, which re-exports :class:`CollectionLoadError`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rankshift._json_array import ArrayError, array_elements, starts_with_bracket

_BOM = b"\xef\xbb\xbf"


class CollectionLoadError(ValueError):
    """A collection file could not be loaded. ``line`` is 1-based (``None``: the whole file)."""

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


def read_text(path: Path) -> str:
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


def lines(text: str) -> Iterator[tuple[int, str]]:
    # Split on \n only: str.splitlines() also splits on \x0b, \x1c, \u2028... which would make
    # the reported line numbers disagree with every editor.
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if line.strip():
            yield number, line


def parse_json_object(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        # An array element may span lines: blame the line of the error, not of its start.
        raise CollectionLoadError(
            path, number + e.lineno - 1, f"invalid JSON: {e.msg} (column {e.colno})"
        ) from None
    except (ValueError, RecursionError) as e:
        raise CollectionLoadError(path, number, f"invalid JSON: {type(e).__name__}") from None
    if not isinstance(obj, dict):
        raise CollectionLoadError(path, number, f"expected a JSON object, got {type(obj).__name__}")
    # json.loads turns an escaped lone surrogate ("\\ud800") into a str that cannot be encoded
    # back to UTF-8, which would fail later (fingerprint, tokenizers, SQLite) far from this line.
    if "\\u" in line and has_lone_surrogate(obj):
        raise CollectionLoadError(
            path, number, "a \\u escape encodes a lone surrogate, which is not valid Unicode"
        )
    return obj


def has_lone_surrogate(obj: Any) -> bool:
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


def json_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The objects of a JSONL file, or of a file holding one JSON array, with their lines."""
    try:
        is_array = starts_with_bracket(path)
    except OSError:
        is_array = False  # read_text reports it
    if not is_array:
        for number, line in lines(read_text(path)):
            yield number, parse_json_object(path, number, line)
        return
    try:
        for number, text in array_elements(path):
            yield number, parse_json_object(path, number, text)
    except ArrayError as e:
        raise CollectionLoadError(path, e.line, e.reason) from None
    except OSError as e:
        raise CollectionLoadError(path, None, f"cannot read: {e.strerror or e}") from None


def id_of(path: Path, number: int, record: Mapping[str, Any], keys: tuple[str, ...]) -> str:
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


def text_of(path: Path, number: int, record: Mapping[str, Any], key: str = "text") -> str:
    if key not in record or record[key] is None:
        raise CollectionLoadError(path, number, f"missing '{key}'")
    value = record[key]
    if not isinstance(value, str):
        raise CollectionLoadError(path, number, f"'{key}' must be a string")
    if not value.strip():
        raise CollectionLoadError(path, number, f"empty '{key}'")
    return value


def check_unique(path: Path, number: int, key: str, seen: dict[str, int], what: str) -> None:
    if key in seen:
        raise CollectionLoadError(
            path, number, f"duplicate {what} {key!r} (first seen on line {seen[key]})"
        )
    seen[key] = number
