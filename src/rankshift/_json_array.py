"""The elements of a top-level JSON array, read from a file a chunk at a time.

A corpus exported as one JSON array (``[{...}, {...}]``) can be larger than memory would like
twice over; :func:`array_elements` holds one element and one chunk at a time, and gives each
element's text with the line it starts on, so a bad element is reported like a bad JSONL line.
The elements themselves are parsed by the caller (``json.loads``): this module only finds where
each one starts and ends, tracking strings and bracket nesting.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20
"""Bytes read at a time."""

_BOM = "\ufeff"
_WS = re.compile(r"[ \t\r\n]*")
_STRUCTURE = re.compile(r'[\[\]{}"]')
_IN_STRING = re.compile(r'["\\]')
_SCALAR_END = re.compile(r"[\s,\]]")
_CLOSE = {"}": "{", "]": "["}


class ArrayError(ValueError):
    """The file is not a well-formed JSON array. ``line`` is 1-based."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


class _Text:
    """A window on the decoded file: ``buf``, and a cursor that knows its line number."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.buf = ""
        self.mark, self.mark_line = 0, 1  # a position in buf and its line number
        self.offset = 0  # bytes read so far
        self.eof = False
        self.first = True

    def more(self) -> bool:
        """Append the next chunk; False at the end of the file."""
        if self.eof:
            return False
        data = self.f.read(CHUNK)
        final = not data
        try:
            text = self.decoder.decode(data, final=final)
        except UnicodeDecodeError as e:
            pending = len(e.object) - len(data)
            where = self.offset - pending + e.start
            line = self.line(len(self.buf)) + bytes(e.object[: e.start]).count(b"\n")
            raise ArrayError(
                line, f"not valid UTF-8 (byte 0x{e.object[e.start]:02x} at offset {where})"
            ) from None
        self.offset += len(data)
        if self.first and text:
            text = text.removeprefix(_BOM)
            self.first = False
        self.buf += text
        self.eof = final
        return bool(text) or not final

    def line(self, pos: int) -> int:
        """The line number of position ``pos`` (counted on from the cursor, which moves there)."""
        if pos < self.mark:
            return self.mark_line - self.buf.count("\n", pos, self.mark)
        self.mark_line += self.buf.count("\n", self.mark, pos)
        self.mark = pos
        return self.mark_line

    def compact(self, pos: int) -> int:
        """Forget what lies before ``pos`` once that is more than a chunk; returns where ``pos``
        is now. (Dropping it at every element would copy the buffer once per element.)"""
        if pos < CHUNK:
            return pos
        self.line(pos)
        self.buf = self.buf[pos:]
        self.mark = 0
        return 0

    def skip_ws(self, pos: int) -> int:
        """The position of the next non-whitespace character, or -1 at the end of the file."""
        while True:
            pos = _WS.match(self.buf, pos).end()  # type: ignore[union-attr]
            if pos < len(self.buf):
                return pos
            if not self.more():
                return -1

    def search(self, pattern: re.Pattern[str], pos: int, start: int) -> re.Match[str]:
        """The next match of ``pattern`` from ``pos``, reading on; the file ending first is an
        error blamed on the element that starts at ``start``."""
        while True:
            m = pattern.search(self.buf, pos)
            if m is not None:
                return m
            pos = max(pos, len(self.buf))
            if not self.more():
                raise ArrayError(self.line(start), "the file ends inside this array element")

    def string_end(self, pos: int, start: int) -> int:
        """The position after the closing quote of a string whose text starts at ``pos``."""
        while True:
            m = self.search(_IN_STRING, pos, start)
            if m.group() == '"':
                return m.end()
            pos = m.end() + 1  # skip the escaped character
            while pos > len(self.buf):
                if not self.more():
                    raise ArrayError(self.line(start), "the file ends inside this array element")

    def element_end(self, start: int) -> int:
        """The position just after the element that starts at ``start``."""
        first = self.buf[start]
        if first == '"':
            return self.string_end(start + 1, start)
        if first not in "[{":
            return self.search(_SCALAR_END, start, start).start()
        stack: list[str] = []
        pos = start
        while True:
            m = self.search(_STRUCTURE, pos, start)
            pos = m.end()
            ch = m.group()
            if ch == '"':
                pos = self.string_end(pos, start)
            elif ch in "[{":
                stack.append(ch)
            elif stack.pop() != _CLOSE[ch] or not stack:
                return pos  # closed, or mismatched: json.loads reports the latter


def starts_with_bracket(path: Path) -> bool:
    """True when the first character of the file (after a BOM and whitespace) is ``[``."""
    with open(path, "rb") as f:
        head = f.read(4096)
        while head and not head.lstrip(b"\xef\xbb\xbf \t\r\n"):
            more = f.read(4096)
            if not more:
                break
            head += more
    return head.lstrip(b"\xef\xbb\xbf").lstrip(b" \t\r\n").startswith(b"[")


def array_elements(path: Path) -> Iterator[tuple[int, str]]:
    """Each element of the JSON array in ``path``: the line it starts on, and its text.

    Raises:
        ArrayError: not valid UTF-8, not an array, an element or the array not closed, a
            trailing comma, or text after the closing bracket.
        OSError: the file cannot be read.
    """
    with open(path, "rb") as f:
        t = _Text(f)
        pos = t.skip_ws(0)
        if pos < 0 or t.buf[pos] != "[":
            raise ArrayError(t.line(max(pos, 0)), "expected a JSON array '['")
        pos = t.skip_ws(pos + 1)
        if pos >= 0 and t.buf[pos] == "]":
            pos = t.skip_ws(pos + 1)
        else:
            while True:
                if pos < 0:
                    raise ArrayError(t.line(len(t.buf)), "the JSON array is not closed with ']'")
                pos = t.compact(pos)
                end = t.element_end(pos)
                yield t.line(pos), t.buf[pos:end]
                pos = t.skip_ws(end)
                if pos < 0:
                    raise ArrayError(t.line(len(t.buf)), "the JSON array is not closed with ']'")
                if t.buf[pos] == "]":
                    pos = t.skip_ws(pos + 1)
                    break
                if t.buf[pos] != ",":
                    raise ArrayError(t.line(pos), "expected ',' or ']' after an array element")
                pos = t.skip_ws(pos + 1)
                if pos >= 0 and t.buf[pos] == "]":
                    raise ArrayError(t.line(pos), "trailing comma before ']'")
        if pos >= 0:
            raise ArrayError(t.line(pos), "unexpected text after the JSON array")
