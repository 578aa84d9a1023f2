"""The "Why this score?" panel: the cost line, the heat strip over the document, the table of
influential sentences, the best-passage line and the token attributions, as text, HTML and
frames (the app renders them; the CLI prints the same words).

The heat strip colours each sentence by its *drop* (the score minus the score without it): red
where leaving it out lowers the score, blue where it raises it, white where it changes nothing,
stronger for larger effects. Document text is HTML-escaped; every span sets both its background
and its text colour (black or white, whichever contrasts more), so the contrast ratio is at
least 4.5:1 on every shade (WCAG 2.1, 1.4.3) in a light or a dark theme.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from rankshift.explain import (
    Occlusion,
    OcclusionPlan,
    PassageFinding,
    SentenceEffect,
    TokenExplanation,
)
from rankshift.present.text import shorten

RED = (196, 30, 58)
"""Leaving the sentence out lowers the score (it supports the score)."""
BLUE = (29, 78, 216)
"""Leaving the sentence out raises the score (it holds the score down)."""
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
STRIP_CLASS = "rankshift-heat"
"""The heat strip's CSS class (the browser test finds it by this)."""


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _luminance(rgb: tuple[int, int, int]) -> float:
    """Relative luminance (WCAG 2.1)."""

    def channel(c: int) -> float:
        x = c / 255
        return x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG contrast ratio of two colours, from 1 (same) to 21 (black on white)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def effect_rgb(drop: float, scale: float) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Background and text colour of a sentence with this drop, ``scale`` being the largest
    absolute drop of the document (0: every sentence white)."""
    t = 0.0 if scale <= 0 else min(1.0, abs(drop) / scale)
    hue = RED if drop > 0 else BLUE
    bg = tuple(round(w + (h - w) * t) for w, h in zip(WHITE, hue, strict=True))
    bg3 = (bg[0], bg[1], bg[2])
    fg = BLACK if contrast_ratio(BLACK, bg3) >= contrast_ratio(WHITE, bg3) else WHITE
    return bg3, fg


def cost_caption(plan: OcclusionPlan) -> str:
    """What explaining the document will cost, said before it runs."""
    n = plan.n_sentences
    if n == 0:
        return "The document has no text to attribute: 1 pair (the document itself)."
    what = f"{n} sentence{'s' if n != 1 else ''}: {plan.n_pairs} pairs"
    if plan.n_beyond:
        what += (
            f" (2n + 1, less {plan.n_beyond} sentence{'s' if plan.n_beyond != 1 else ''} past "
            "the token window, whose removal cannot change the score)"
        )
    else:
        what += " (2n + 1: the document, each sentence left out, each sentence alone)"
    if plan.windows:
        what += f", read as {plan.windows} passage windows (MaxP)"
    rate = 1000 / plan.ms_per_pair if plan.ms_per_pair > 0 else 0
    basis = "measured" if plan.measured else "assumed"
    return (
        f"{what}; about {_seconds(plan.seconds)} at the {basis} {rate:.0f} pairs/s. Pairs already "
        "in the pair-score cache cost nothing."
    )


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"


def result_caption(occ: Occlusion) -> str:
    """The full score and what the attribution cost."""
    cached = occ.n_pairs - occ.n_scored if occ.n_scored <= occ.n_pairs else 0
    scored = (
        f"{occ.n_scored} scored now, {cached} from the pair-score cache"
        if occ.n_scored <= occ.n_pairs
        else f"{occ.n_scored} passage windows scored now"
    )
    return (
        f"Score {occ.full_score:.3f} for the whole document · {occ.n_pairs} pairs ({scored}) "
        f"in {_seconds(occ.seconds)} · drop = score − score without the sentence"
    )


def _span(effect: SentenceEffect, scale: float, text: str) -> str:
    bg, fg = effect_rgb(effect.drop, scale)
    tip = f"sentence {effect.sentence.index + 1}: drop {effect.drop:+.3f}, alone {effect.alone:.3f}"
    style = f"background:{_hex(bg)};color:{_hex(fg)};border-radius:3px;padding:1px 2px"
    if effect.beyond_window:
        tip += " (past the token window)"
        style += ";text-decoration:underline dotted"
    return (
        f'<span class="{STRIP_CLASS}-sentence" data-drop="{effect.drop:.4f}" '
        f'title="{html.escape(tip)}" style="{style}">{html.escape(text)}</span>'
    )


def heat_strip_html(
    occ: Occlusion, text: str, title: str = "", window_end: int | None = None
) -> str:
    """The document text with each sentence on its colour (see the module), as safe HTML.

    Args:
        occ: the occlusion of this document.
        text: the document's text (the offsets of ``occ`` point into it).
        title: shown first, uncoloured (it is kept in every variant).
        window_end: offset in ``text`` where a FirstP reranker stops reading: a ✂ marks it.
    """
    scale = occ.scale
    parts = [
        f'<div class="{STRIP_CLASS}" style="background:#ffffff;color:#000000;'
        "padding:0.6em 0.8em;border:1px solid #d0d0d0;border-radius:6px;line-height:1.7;"
        'white-space:pre-wrap;font-size:0.95em">'
    ]
    if title:
        parts.append(f"<strong>{html.escape(title)}</strong>\n")
    pos = 0
    cut_shown = window_end is None
    for e in occ.effects:
        s = e.sentence
        gap = text[pos : s.start]
        if not cut_shown and window_end is not None and s.start >= window_end:
            parts.append(html.escape(gap))
            parts.append(
                '<span title="the reranker reads nothing past here" '
                'style="background:#000000;color:#ffffff;padding:0 4px;border-radius:3px">'
                "✂ window ends</span> "
            )
            cut_shown = True
            gap = ""
        parts.append(html.escape(gap))
        parts.append(_span(e, scale, text[s.start : s.end]))
        pos = s.end
    parts.append(html.escape(text[pos:]))
    parts.append("</div>")
    return "".join(parts)


def legend_html(scale: float) -> str:
    """What the colours mean, with swatches at full strength and the scale in score units."""

    def swatch(drop: float, label: str) -> str:
        bg, fg = effect_rgb(drop, 1.0)
        return (
            f'<span style="background:{_hex(bg)};color:{_hex(fg)};padding:1px 6px;'
            f'border-radius:3px;border:1px solid #d0d0d0">{html.escape(label)}</span>'
        )

    return (
        '<div style="font-size:0.85em;line-height:2">'
        + " ".join(
            [
                swatch(1.0, "removing it lowers the score"),
                swatch(0.0, "no effect"),
                swatch(-1.0, "removing it raises the score"),
            ]
        )
        + f" full colour: a change of {scale:.3f} in score"
        + "</div>"
    )


def sentence_frame(occ: Occlusion, width: int = 140, top: int | None = None) -> pd.DataFrame:
    """The sentences, most influential first (by drop): rank, sentence number, drop, the
    score alone, and the sentence shortened."""
    rows: list[dict[str, Any]] = []
    for rank, e in enumerate(occ.ranked[:top] if top else occ.ranked, 1):
        rows.append(
            {
                "rank": rank,
                "sentence": e.sentence.index + 1,
                "drop": e.drop,
                "alone": e.alone,
                "text": shorten(e.sentence.text, width)
                + (" (past the token window)" if e.beyond_window else ""),
            }
        )
    return pd.DataFrame(rows, columns=["rank", "sentence", "drop", "alone", "text"])


def passage_line(finding: PassageFinding) -> str | None:
    """The best passage and what MaxP would make of it; None when there is nothing to say
    (the document fits in one window, or the reranker reports no tokens)."""
    if finding.reason or finding.best is None or not finding.long:
        return None
    best = finding.best
    assert finding.maxp_score is not None and finding.firstp_score is not None
    line = (
        f"Best passage: tokens {best.token_start + 1}-{best.token_end} of "
        f"{best.total_tokens:,}, {finding.where} ({finding.windows} windows). MaxP score "
        f"{finding.maxp_score:.3f} vs FirstP (the first window) {finding.firstp_score:.3f}"
    )
    if finding.firstp_rank is not None and finding.maxp_rank is not None:
        verb = (
            "rises to"
            if finding.maxp_rank < finding.firstp_rank
            else "stays at"
            if finding.maxp_rank == finding.firstp_rank
            else "falls to"
        )
        line += (
            f"; scored by its best passage it {verb} #{finding.maxp_rank} (#{finding.firstp_rank}"
            f" as read now) among {finding.candidates} candidates, the others' scores unchanged"
        )
    return line + "."


def passage_excerpt(finding: PassageFinding, text: str, width: int = 400) -> str | None:
    """The start of the best passage's text (None without a finding)."""
    if finding.best is None or not finding.long:
        return None
    return shorten(text[finding.best.char_start : finding.best.char_end], width)


def token_frame(tokens: TokenExplanation, side: str) -> pd.DataFrame:
    """One side's top words (``query`` or ``document``): word and attribution."""
    rows = tokens.query if side == "query" else tokens.document
    return pd.DataFrame(
        [{"word": t.text, "attribution": t.attribution} for t in rows],
        columns=["word", "attribution"],
    )


def token_caption(tokens: TokenExplanation) -> str:
    """How the token attributions were made and how to read them (or why there are none)."""
    if tokens.reason:
        return tokens.reason
    parts = [
        f"Integrated gradients over the input embeddings, 2 × {tokens.steps} steps in "
        f"{_seconds(tokens.seconds)} ({tokens.n_tokens} tokens read)."
    ]
    if tokens.passage is not None:
        parts.append(
            f"Attributed on the best passage (tokens {tokens.passage[0] + 1}-{tokens.passage[1]})."
        )
    if tokens.score is not None and tokens.empty_document_score is not None:
        parts.append(
            f"Document words share score − score with the document blanked out "
            f"({tokens.score:.3f} − {tokens.empty_document_score:.3f}); query words share "
            f"score − score with the query blanked out ({tokens.score:.3f} − "
            f"{tokens.empty_query_score:.3f}). Positive words lift the score."
        )
    if tokens.delta is not None:
        parts.append(f"Integration error {tokens.delta:.3f}.")
    return " ".join(parts)


def token_cost_caption(steps: int, ms_per_pair: float | None, max_length: int | None) -> str:
    """What token attribution will cost, said before it runs (a backward pass is about two
    forward passes, so a step costs about three pairs, for each of the two sides)."""
    rate = ms_per_pair if ms_per_pair and ms_per_pair > 0 else 100.0 * (max_length or 256) / 256
    seconds = 2 * steps * 3 * rate / 1000
    return (
        f"Integrated gradients: 2 × {steps} forward and backward passes of the pair, about "
        f"{_seconds(seconds)}."
    )
