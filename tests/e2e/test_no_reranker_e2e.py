"""The offline newcomer's first minute in headless Chromium: no reranker can load, the main area
says so with its ways out, and each button leads where it says (the sidebar's other-id box, the
same box for a service, the Train page with the demo recipe filled in). The sidebar's captions
and code spans are drawn in the theme's colours, at WCAG AA contrast on the rendered page.

Run as a script, it takes the README's screenshots on the demo collection and times the first
render with an empty cache and after a restart with the cache filled::

    .venv/bin/python tests/e2e/test_no_reranker_e2e.py --docs docs
"""

from __future__ import annotations

import os
import re
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path

if __name__ == "__main__":  # as a script: the tests folder on the path, as pytest puts it
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pytest
from e2e_support import ARTIFACTS, ROOT, chromium, open_page, require_browser, streamlit_app
from inspector_fixture import QRELS, write_collection
from test_theme_contrast import AA, contrast_ratio, hex_rgb, over, theme

pytestmark = pytest.mark.e2e

VIEWPORT = {"width": 1400, "height": 900}
NOTICE = "Reranking is unavailable"
RECIPE = "Filled in with the demo recipe"


def server(collection: Path | None, cache: Path, log: Path) -> AbstractContextManager[str]:
    """``streamlit run`` on a free localhost port with no loadable reranker: no
    ``RANKSHIFT_RERANKER``, downloads off, the Hub reranker not on disk, an empty cache (so no
    demo reranker either). ``collection`` None: the app's own default, the demo."""
    unset = ("RANKSHIFT_RERANKER", "RANKSHIFT_COLLECTION", "RANKSHIFT_BACKEND")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    if collection is not None:
        env["RANKSHIFT_COLLECTION"] = str(collection)
    env.update(
        RANKSHIFT_CACHE=str(cache),
        RANKSHIFT_JUDGMENTS=str(cache.parent / "judgments.sqlite"),
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    return streamlit_app(env, log)


def with_train_split(folder: Path) -> Path:
    """The fixture collection with a ``train`` qrels split of a query the test split lacks."""
    write_collection(folder)
    judged = {q for q, _, _ in QRELS}
    rows = [("q3", "d10", 2), ("q3", "d02", 0)]
    assert not judged & {q for q, _, _ in rows}
    text = "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in rows)
    (folder / "qrels" / "train.tsv").write_text(text, encoding="utf-8")
    return folder


def _rgb(css: str) -> tuple[int, int, int]:
    r, g, b = (int(float(x)) for x in re.findall(r"[\d.]+", css)[:3])
    return r, g, b


SHOWN_COLOURS = """e => {
  const s = getComputedStyle(e);
  let opacity = 1, bg = null;
  for (let n = e; n; n = n.parentElement) {
    const c = getComputedStyle(n);
    opacity *= parseFloat(c.opacity);
    if (!bg && n !== e && c.backgroundColor !== 'rgba(0, 0, 0, 0)') bg = c.backgroundColor;
  }
  return {color: s.color, background: s.backgroundColor, opacity: opacity, panel: bg};
}"""
"""An element's text colour, its own background, the opacity it is drawn at (its own and its
ancestors'), and the background of the panel behind it."""


def check_sidebar_contrast(page) -> None:
    """A sidebar caption and a code span in one, as rendered: the theme's colours, >= 4.5:1."""
    colours = theme()["sidebar"]
    sidebar = page.get_by_test_id("stSidebar")
    caption = sidebar.get_by_test_id("stCaptionContainer").first
    shown = caption.evaluate(SHOWN_COLOURS)
    panel = _rgb(shown["panel"])
    assert _rgb(shown["color"]) == hex_rgb(colours["textColor"])
    assert panel == hex_rgb(colours["backgroundColor"])
    text = over(_rgb(shown["color"]), panel, shown["opacity"])
    assert contrast_ratio(text, panel) >= AA, (shown, contrast_ratio(text, panel))

    code = sidebar.get_by_test_id("stCaptionContainer").locator("code").first
    shown = code.evaluate(SHOWN_COLOURS)
    assert _rgb(shown["color"]) == hex_rgb(colours["codeTextColor"])
    assert _rgb(shown["background"]) == hex_rgb(colours["codeBackgroundColor"])
    ink = over(_rgb(shown["color"]), panel, shown["opacity"])
    chip = over(_rgb(shown["background"]), panel, shown["opacity"])
    assert contrast_ratio(ink, chip) >= AA, (shown, contrast_ratio(ink, chip))


def test_no_reranker_notice_and_its_ways_out(tmp_path: Path) -> None:
    require_browser()
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    collection = with_train_split(tmp_path / "collection")
    errors: list[str] = []
    with (
        server(collection, tmp_path / "cache", tmp_path / "streamlit.log") as url,
        chromium() as browser,
    ):
        page = open_page(browser, errors, **VIEWPORT)
        page.goto(f"{url}/inspect")
        main = page.get_by_test_id("stMain")
        sidebar = page.get_by_test_id("stSidebar")
        # The notice, in the main area, before any query: unavailable, and why.
        notice = main.get_by_test_id("stAlertContainer").filter(has_text=NOTICE)
        expect(notice).to_be_visible(timeout=180_000)  # once the indexes are built
        expect(notice).to_contain_text("Cannot load reranker 'cross-encoder/")
        # The sidebar does not claim to rerank: the toggle is off and disabled, the model
        # marked as not available.
        toggle = sidebar.get_by_role("switch", name="Rerank with a cross-encoder")
        expect(toggle).not_to_be_checked()
        expect(toggle).to_be_disabled()
        expect(sidebar.get_by_role("combobox", name="Cross-encoder")).to_have_value(
            "⚠ ms-marco-MiniLM-L-6-v2 (default, not available)"
        )
        expect(sidebar.get_by_text(re.compile(r"^K = \d+ means"))).to_have_count(0)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "no-reranker.png"))

        # "Use another model id or folder…": the sidebar's box opens, with what to type.
        main.get_by_role("button", name="Use another model id or folder…").click()
        box = sidebar.get_by_role("textbox", name="Model id, folder or reranker service")
        expect(box).to_be_visible()
        expect(box).to_have_value("")
        expect(sidebar.get_by_text("the path of a model folder")).to_be_visible()

        # "Use a reranker service": the same box, with the service forms.
        main.get_by_role("button", name="Use a reranker service").click()
        expect(sidebar.get_by_text("Type a reranker service as")).to_be_visible()
        expect(box).to_have_attribute("placeholder", re.compile(r"^e\.g\. tei:http"))
        check_sidebar_contrast(page)

        # "Train a reranker": the Train page, the demo recipe filled in.
        main.get_by_role("button", name="Train a reranker").click()
        expect(page).to_have_url(re.compile(r"/train$"))
        expect(page.get_by_text(RECIPE)).to_be_visible()
        expect(page.get_by_role("textbox", name="Validation reranks the top-K of")).to_have_value(
            "hybrid(zscore,w=0.5)"
        )
        splits = page.get_by_test_id("stMultiSelect").filter(has_text="Qrels splits")
        expect(splits.get_by_text("train", exact=True)).to_be_visible()
        expect(page.get_by_role("button", name="Start training")).to_be_enabled()
        page.screenshot(path=str(ARTIFACTS / "no-reranker-train.png"))
        expect(page.get_by_test_id("stException")).to_have_count(0)
    assert not errors, errors


# ---------------------------------------------------------------------------- as a script


def first_minute(docs: Path, work: Path) -> dict[str, float]:
    """The README's screenshots on the demo collection (no reranker; one click later, the Train
    page with the recipe), and the seconds to the first render with an empty cache and after a
    restart with the cache filled: until the page's title shows, and until the notice does
    (everything prepared)."""
    from playwright.sync_api import expect

    expect.set_options(timeout=300_000)
    cache = work / "cache"
    times: dict[str, float] = {}
    with chromium() as browser:
        for run in ("empty cache", "warm cache"):
            with server(None, cache, work / f"{run.replace(' ', '-')}.log") as url:
                page = browser.new_page(viewport=VIEWPORT)
                started = time.perf_counter()
                page.goto(url)
                expect(page.get_by_text("Inspect a query")).to_be_visible()
                times[f"{run}: title"] = time.perf_counter() - started
                main = page.get_by_test_id("stMain")
                expect(main.get_by_text(NOTICE)).to_be_visible()
                times[f"{run}: ready"] = time.perf_counter() - started
                if run == "empty cache":
                    expect(page.get_by_test_id("stToast")).to_have_count(0)
                    # The sidebar's models: the toggle off, the model marked.
                    page.get_by_test_id("stSidebar").get_by_text(
                        "Models"
                    ).scroll_into_view_if_needed()
                    page.wait_for_timeout(500)
                    page.screenshot(path=str(docs / "first-minute-1.png"))
                    main.get_by_role("button", name="Train a reranker").click()
                    expect(page.get_by_text(RECIPE)).to_be_visible()
                    page.wait_for_timeout(500)
                    page.screenshot(path=str(docs / "first-minute-2.png"))
                page.close()
    return times


if __name__ == "__main__":
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=first_minute.__doc__)
    parser.add_argument("--docs", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for what, seconds in first_minute(args.docs, Path(tmp)).items():
            print(f"{what}: {seconds:.1f} s")
