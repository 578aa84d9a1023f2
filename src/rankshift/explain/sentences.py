"""A document's text as sentences, each with its character offsets in the text.

Split by ``sentencex`` (Wikimedia's rule-based segmenter: abbreviations, decimals, quotes and
some 300 languages), then each sentence is found in order in the original text, so offsets
always point at the text as stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from rankshift._lazy import require


@dataclass(frozen=True)
class Sentence:
    """One sentence: ``text == document_text[start:end]`` (surrounding whitespace excluded)."""

    index: int
    start: int
    end: int
    text: str


def split_sentences(text: str, language: str = "en") -> list[Sentence]:
    """The sentences of ``text`` in order, with their offsets (blank runs are not sentences).

    Args:
        text: the document's text (without its title).
        language: an ISO 639 code for the segmenter's rules (default English).
    """
    segment = require("sentencex").segment
    out: list[Sentence] = []
    pos = 0
    for piece in segment(language, text):
        body = piece.strip()
        if not body:
            continue
        start = text.find(body, pos)
        if start < 0:  # the segmenter changed the text: keep the offsets honest, skip it
            continue
        end = start + len(body)
        out.append(Sentence(len(out), start, end, body))
        pos = end
    return out
