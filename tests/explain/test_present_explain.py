"""The panel's words, HTML and frames: escaped text, readable colours, the cost said first."""

from __future__ import annotations

import re

import pytest

from rankshift.explain import (
    Occlusion,
    OcclusionPlan,
    PassageFinding,
    SentenceEffect,
    TokenExplanation,
    split_sentences,
)
from rankshift.present import explain as views
from rankshift.rerank.passages import Window

TEXT = "Plain first. <script>alert(1)</script> is here. Last & least."


def occlusion(drops: list[float], beyond: int | None = None) -> Occlusion:
    sentences = split_sentences(TEXT)
    assert len(sentences) == len(drops)
    effects = [
        SentenceEffect(
            s,
            d,
            alone=1.0 + s.index,
            without=5.0 - d,
            beyond_window=beyond is not None and s.index >= beyond,
        )
        for s, d in zip(sentences, drops, strict=True)
    ]
    return Occlusion("q", "d1", "model", 5.0, effects, 2 * len(drops) + 1, 7, 1.25)


def test_contrast_of_every_shade_is_at_least_4_5_to_1() -> None:
    for i in range(-50, 51):
        bg, fg = views.effect_rgb(i / 50, 1.0)
        assert views.contrast_ratio(bg, fg) >= 4.5, (i, bg, fg)
    assert views.contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert views.effect_rgb(0.0, 0.0) == ((255, 255, 255), (0, 0, 0))


def test_red_where_leaving_out_lowers_the_score_blue_where_it_raises() -> None:
    red, _ = views.effect_rgb(1.0, 1.0)
    blue, _ = views.effect_rgb(-1.0, 1.0)
    faint, _ = views.effect_rgb(0.1, 1.0)
    assert red == views.RED and blue == views.BLUE
    assert faint[0] > faint[2] and sum(faint) > sum(red)  # lighter, still reddish


def test_heat_strip_escapes_the_text_and_colours_each_sentence() -> None:
    occ = occlusion([2.0, -1.0, 0.0])
    html = views.heat_strip_html(occ, TEXT, title="A <b>title</b>")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;title&lt;/b&gt;" in html and "Last &amp; least." in html
    spans = re.findall(
        r'data-drop="([-0-9.]+)"[^>]*style="background:(#[0-9a-f]{6});color:(#[0-9a-f]{6})', html
    )
    assert [float(d) for d, _, _ in spans] == [2.0, -1.0, 0.0]
    assert spans[0][1] == "#c41e3a" and spans[2][1] == "#ffffff"
    assert f'class="{views.STRIP_CLASS}"' in html
    # Every character of the text is shown once, in order.
    shown = re.sub(r"<[^>]+>", "", html).replace("&lt;", "<").replace("&gt;", ">")
    assert shown.replace("&amp;", "&").endswith(TEXT)


def test_the_window_cut_is_marked_before_the_first_unread_sentence() -> None:
    sentences = split_sentences(TEXT)
    occ = occlusion([1.0, 0.0, 0.0], beyond=1)
    html = views.heat_strip_html(occ, TEXT, window_end=sentences[1].start)
    assert html.count("✂ window ends") == 1
    assert html.index("✂") < html.index("&lt;script&gt;")
    assert "text-decoration:underline dotted" in html
    assert "✂" not in views.heat_strip_html(occ, TEXT)


def test_sentence_table_is_ordered_by_drop_and_marks_unread_sentences() -> None:
    frame = views.sentence_frame(occlusion([0.5, 2.0, -1.0], beyond=2))
    assert frame["sentence"].tolist() == [2, 1, 3]
    assert frame["rank"].tolist() == [1, 2, 3]
    assert frame["drop"].tolist() == [2.0, 0.5, -1.0]
    assert frame["text"].iloc[2].endswith("(past the token window)")
    assert len(views.sentence_frame(occlusion([0.5, 2.0, -1.0]), top=2)) == 2


def test_cost_is_said_in_pairs_and_seconds() -> None:
    plan = OcclusionPlan(12, 25, 0, 2.5, 100.0, True)
    text = views.cost_caption(plan)
    assert text.startswith("12 sentences: 25 pairs (2n + 1") and "about 2.5 s" in text
    assert "measured 10 pairs/s" in text
    skipped = views.cost_caption(OcclusionPlan(12, 20, 5, 2.0, 100.0, False))
    assert "less 5 sentences past the token window" in skipped and "assumed" in skipped
    assert "1 pair" in views.cost_caption(OcclusionPlan(0, 1, 0, 0.1, 100.0, False))
    assert "7 scored now, 0 from the pair-score cache" in views.result_caption(occlusion([1, 0, 0]))


def test_passage_line_names_the_tokens_where_they_sit_and_the_ranks() -> None:
    best = Window(3, 609, 860, 3000, 4200, "t", 1400)
    finding = PassageFinding(
        "d1",
        windows=6,
        best=best,
        firstp_score=1.0,
        maxp_score=3.0,
        window_end=1200,
        firstp_rank=14,
        maxp_rank=3,
        candidates=100,
    )
    line = views.passage_line(finding)
    assert line is not None
    assert line.startswith("Best passage: tokens 610-860 of 1,400, beyond the window (6 windows)")
    assert "rises to #3 (#14 as read now) among 100 candidates" in line
    short = PassageFinding("d2", windows=1, best=Window(0, 0, 40, 0, 200, "t", 40))
    assert views.passage_line(short) is None
    assert views.passage_line(PassageFinding("d3", reason="a service")) is None


def test_token_caption_gives_the_reason_when_there_are_no_tokens() -> None:
    assert views.token_caption(TokenExplanation(reason="no gradients")) == "no gradients"
    assert views.token_frame(TokenExplanation(reason="x"), "query").empty
    assert "2 × 20" in views.token_cost_caption(20, 50.0, 256)


def test_legend_names_both_colours_and_the_scale() -> None:
    legend = views.legend_html(0.25)
    assert "removing it lowers the score" in legend and "removing it raises the score" in legend
    assert "a change of 0.250 in score" in legend and legend.count("<span") == 3
