"""The real app in headless Chromium: type a query, see every panel, and no injected script runs."""

from __future__ import annotations

import pytest
from e2e_support import chromium, full_page_screenshot, open_page
from inspector_fixture import IMG_TEXT, QUERY, SCRIPT_TEXT

pytestmark = pytest.mark.e2e

STAGE_NAMES = [
    "bm25(lucene,k1=1.5,b=0.75)",
    "dense(all-MiniLM-L6-v2,flat)",
    "hybrid(rrf,k=60)",
    # The app's default backend (OpenVINO is installed by `make install`): the name says so.
    "hybrid(rrf,k=60)>ce(openvino-auto:tiny-cross-encoder,len=256)",
]


def _open_document(page, title: str) -> None:
    box = page.get_by_label("Open a document", exact=False)
    box.click()
    page.keyboard.type(title)
    page.get_by_role("option", name=title, exact=False).first.click()


def test_inspect_flow_in_a_real_browser(app_server: str) -> None:
    from playwright.sync_api import expect

    # Tables and charts render lazily (plotly's bundle loads on first use): allow for it.
    expect.set_options(timeout=30_000)
    dialogs: list[str] = []
    errors: list[str] = []
    with chromium() as browser:
        page = open_page(browser, errors)
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(app_server)

        # Indexes and models build with a status box; then the page asks for a query.
        expect(page.get_by_text("Type a query, or pick one")).to_be_visible(timeout=120_000)
        query = page.get_by_label("Query", exact=True)
        query.fill(QUERY)
        query.press("Enter")

        # Four rankings side by side, named with their parameters.
        for name in STAGE_NAMES:
            expect(page.get_by_text(name, exact=True)).to_be_visible(timeout=90_000)
        expect(page.get_by_test_id("stDataFrame").nth(3)).to_be_visible()
        # The rank-shift chart and the dropped panel.
        expect(page.get_by_text("Rank shifts: Hybrid → reranked")).to_be_visible()
        expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
        expect(page.locator(".js-plotly-plot").first).to_be_visible()
        expect(page.get_by_text("Dropped from the top-10")).to_be_visible()
        expect(page.get_by_text("Latency of this query")).to_be_visible()

        # Hostile documents show as literal text and run nothing.
        _open_document(page, "Script injection")
        expect(page.get_by_text(SCRIPT_TEXT)).to_be_visible()
        _open_document(page, "Image onerror")
        expect(page.get_by_text(IMG_TEXT)).to_be_visible()
        page.wait_for_timeout(500)
        assert page.evaluate("window.__pwned") is None
        assert page.locator("script", has_text="__pwned").count() == 0
        assert page.locator("img[onerror]").count() == 0

        full_page_screenshot(page, "inspect.png", 1600)
    assert dialogs == []
    assert not [e for e in errors if "__pwned" in e]
