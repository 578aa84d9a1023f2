"""The app's theme (.streamlit/config.toml) meets WCAG AA for the text people read: body text,
captions and code spans, in the main area and in the sidebar, and the warning the no-reranker
notice is drawn in, at a contrast ratio of at least 4.5:1.

Streamlit draws a caption (``st.caption``, and the help under widgets) in the text colour with
the whole element at the theme's "secondary" opacity, 0.6; an inline code span inside a caption
is faded with it. Those colours are composited over the panel's background here, as the browser
does, before the ratio is taken. The e2e test reads the same colours off the rendered page.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from rankshift.present.explain import contrast_ratio

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".streamlit" / "config.toml"
AA = 4.5
CAPTION_OPACITY = 0.6
"""Streamlit's ``opacities.secondary`` (the caption's opacity), read from its frontend below."""


# ---------------------------------------------------------------------------- WCAG 2.x


def hex_rgb(color: str) -> tuple[int, int, int]:
    value = color.strip().lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    assert len(value) == 6, f"expected #rrggbb, got {color!r}"
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def over(color: tuple[int, int, int], background: tuple[int, int, int], alpha: float):
    """``color`` at opacity ``alpha`` composited over ``background`` (what the screen shows)."""
    return tuple(round(alpha * c + (1 - alpha) * b) for c, b in zip(color, background, strict=True))


def test_the_contrast_formula() -> None:
    white, black = (255, 255, 255), (0, 0, 0)
    assert contrast_ratio(white, black) == pytest.approx(21.0)
    assert contrast_ratio(black, white) == pytest.approx(21.0)
    assert contrast_ratio((119, 119, 119), white) == pytest.approx(4.48, abs=0.01)  # #777
    assert over(black, white, 0.6) == (102, 102, 102)


# ---------------------------------------------------------------------------- the theme


def theme() -> dict[str, dict[str, str]]:
    """The main area's and the sidebar's colours as Streamlit resolves them from the config:
    ``[theme.sidebar]`` keys override ``[theme]`` ones in the sidebar."""
    config = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["theme"]
    main = {k: v for k, v in config.items() if isinstance(v, str)}
    sidebar = {**main, **config.get("sidebar", {})}
    return {"main": main, "sidebar": sidebar}


def pairs() -> list[tuple[str, tuple[int, int, int], tuple[int, int, int]]]:
    """(what, text colour as shown, background as shown) for every text checked."""
    out = []
    for area, colors in theme().items():
        for key in ("backgroundColor", "textColor", "codeTextColor", "codeBackgroundColor"):
            assert key in colors, f"set theme {key} explicitly ({area})"
        panel = hex_rgb(colors["backgroundColor"])
        text = hex_rgb(colors["textColor"])
        code, code_bg = hex_rgb(colors["codeTextColor"]), hex_rgb(colors["codeBackgroundColor"])
        out += [
            (f"{area}: body text", text, panel),
            (f"{area}: caption", over(text, panel, CAPTION_OPACITY), panel),
            (f"{area}: code span", code, code_bg),
            (
                f"{area}: code span in a caption",
                over(code, panel, CAPTION_OPACITY),
                over(code_bg, panel, CAPTION_OPACITY),
            ),
        ]
    main = theme()["main"]
    warning_bg = hex_rgb(main["yellowBackgroundColor"])
    out.append(
        ("main: warning (the no-reranker notice)", hex_rgb(main["yellowTextColor"]), warning_bg)
    )
    return out


@pytest.mark.parametrize("what, text, background", [pytest.param(*p, id=p[0]) for p in pairs()])
def test_text_meets_wcag_aa(what: str, text, background) -> None:
    ratio = contrast_ratio(text, background)
    assert ratio >= AA, f"{what}: {ratio:.2f}:1 is below {AA}:1"


def test_the_sidebar_sets_its_own_colours() -> None:
    config = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["theme"]
    assert {"backgroundColor", "textColor", "codeTextColor", "codeBackgroundColor"} <= set(
        config.get("sidebar", {})
    )


def test_captions_fade_as_this_test_assumes() -> None:
    """The installed Streamlit draws captions at ``opacities.secondary`` = 0.6 of the text
    colour (read from its frontend bundle); if that changes, the caption check must too."""
    import streamlit

    js = Path(streamlit.__file__).parent / "static" / "static" / "js"
    bundle = "".join(p.read_text(encoding="utf-8", errors="ignore") for p in js.glob("*.js"))
    opacity = re.search(r"\{secondary:(\.?\d[\d.]*),stale:", bundle)
    assert opacity, "Streamlit's opacities.secondary not found: check how captions are faded"
    assert float(opacity.group(1)) == CAPTION_OPACITY
    assert "opacity:t?e.opacities.secondary" in bundle  # the caption container's style
