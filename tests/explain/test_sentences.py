"""Sentences with offsets into the text as stored."""

from __future__ import annotations

from rankshift.explain import split_sentences


def test_offsets_point_at_the_text_and_blank_runs_are_not_sentences() -> None:
    text = "  Dr. Smith paid 3.50 EUR. He left at 9 a.m.!\n\nNew paragraph here.  Last one?"
    found = split_sentences(text)
    assert [s.text for s in found] == [
        "Dr. Smith paid 3.50 EUR.",
        "He left at 9 a.m.!",
        "New paragraph here.",
        "Last one?",
    ]
    for i, s in enumerate(found):
        assert s.index == i
        assert text[s.start : s.end] == s.text
    assert [s.start for s in found] == sorted(s.start for s in found)


def test_repeated_sentences_get_their_own_offsets_and_non_ascii_counts_characters() -> None:
    text = "Tromsø is cold. Tromsø is cold. Ünïcode 🙂 works."
    found = split_sentences(text)
    assert [s.text for s in found] == ["Tromsø is cold.", "Tromsø is cold.", "Ünïcode 🙂 works."]
    assert found[0].start == 0 and found[1].start == 16
    assert all(text[s.start : s.end] == s.text for s in found)


def test_empty_and_blank_texts_have_no_sentences() -> None:
    assert split_sentences("") == []
    assert split_sentences(" \n\n ") == []
