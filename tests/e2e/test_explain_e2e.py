"""The real app in headless Chromium: open a document, explain its score, see the heat strip."""

from __future__ import annotations

import pytest
from e2e_support import ARTIFACTS, chromium, open_page
from inspector_fixture import QUERY, SCRIPT_TEXT

pytestmark = pytest.mark.e2e


def test_explaining_a_document_shows_the_heat_strip(app_server: str) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    errors: list[str] = []
    with chromium() as browser:
        page = open_page(browser, errors)
        page.goto(app_server)
        expect(page.get_by_text("Type a query, or pick one")).to_be_visible(timeout=120_000)
        query = page.get_by_label("Query", exact=True)
        query.fill(QUERY)
        query.press("Enter")

        # Wait for the reranked results, then open the document with an injected <script>.
        expect(page.get_by_text("Rank shifts: Hybrid → reranked")).to_be_visible(timeout=90_000)
        box = page.get_by_label("Open a document", exact=False)
        box.scroll_into_view_if_needed()
        box.click()
        page.keyboard.type("Script injection")
        expect(page.get_by_role("option", name="Script injection", exact=False)).to_have_count(1)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Script injection")).to_be_visible()

        expect(page.get_by_text("Why this score?")).to_be_visible()
        expect(page.get_by_text("pairs (2n + 1", exact=False)).to_be_visible()
        button = page.get_by_role("button", name="Explain this score")
        button.scroll_into_view_if_needed()
        button.click()

        strip = page.locator(".rankshift-heat")
        expect(strip).to_be_visible(timeout=60_000)
        sentences = strip.locator(".rankshift-heat-sentence")
        assert sentences.count() >= 2
        # Each sentence carries its colour, and the hostile text is shown as text.
        style = sentences.first.get_attribute("style") or ""
        assert "background:" in style and "color:" in style
        expect(strip).to_contain_text(SCRIPT_TEXT)
        assert page.evaluate("window.__pwned") is None
        expect(page.get_by_text("Most influential sentences")).to_be_visible()

        strip.scroll_into_view_if_needed()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "explain.png"), full_page=False)
    assert not [e for e in errors if "__pwned" in e]
