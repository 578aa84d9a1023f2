"""Every page of the real app opens from its own URL in headless Chromium (and `/` opens Inspect),
with and without a query in the URL: no "Page not found" dialog, no exception, the page's own
heading. A link to a query (typed into the URL, or made by the Evaluate page's "Open in
inspector") shows that query's results after a reload and in a fresh browser context."""

from __future__ import annotations

import re
from typing import Any

import pytest
from e2e_support import chromium, open_page
from inspector_fixture import QUERIES
from test_inspect_e2e import STAGE_NAMES

pytestmark = pytest.mark.e2e

INSPECT_HEADING = "Inspect a query"
# URL path -> the heading the page shows; `/` is the Inspect page.
PAGES = {
    "": INSPECT_HEADING,
    "inspect": INSPECT_HEADING,
    "judge": "Judge",
    "judgments": "Judgments",
    "evaluate": "Evaluate the reranker",
    "train": "Train a reranker",
    "about": "About rankshift",
}
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def _open(page: Any, url: str, heading: str) -> None:
    """Go to `url` (or reload when it is None) and wait until the app has finished its run and
    shows `heading`; then no dialog and no exception may be on screen."""
    from playwright.sync_api import expect

    if url:
        page.goto(url)
    else:
        page.reload()
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible(timeout=120_000)
    page.wait_for_selector(IDLE, timeout=120_000)
    page.wait_for_timeout(500)  # a dialog sent with the run's last messages has drawn by now
    where = f"{page.url} (opened as {url or 'a reload'})"
    expect(page.get_by_role("dialog"), where).to_have_count(0)
    expect(page.get_by_text("Page not found"), where).to_have_count(0)
    expect(page.get_by_test_id("stException"), where).to_have_count(0)


def _expect_query_results(page: Any, query_id: str) -> None:
    """The inspector's URL names `query_id`, its query box holds that query, and every ranking,
    the reranked one included, is on screen."""
    from playwright.sync_api import expect

    expect(page).to_have_url(re.compile(rf"/inspect\?(.*&)?query={query_id}(&|$)"))
    expect(page.get_by_label("Query", exact=True)).to_have_value(QUERIES[query_id])
    for name in STAGE_NAMES:
        expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=90_000)
    expect(page.get_by_test_id("stDataFrame").nth(len(STAGE_NAMES) - 1)).to_be_visible()


def _in_a_new_context(browser: Any, url: str, query_id: str, errors: list[str]) -> None:
    """Open `url` in a fresh browser context (no cookies, no session): the same results."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        _open(page, url, INSPECT_HEADING)
        _expect_query_results(page, query_id)
    finally:
        context.close()


def test_every_page_opens_from_its_url_with_and_without_a_query(app_server: str) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    errors: list[str] = []
    with chromium() as browser:
        page = open_page(browser, errors)
        for path, heading in PAGES.items():
            for query in ("", "?query=q1"):
                _open(page, f"{app_server}/{path}{query}", heading)
                if path in ("", "inspect"):
                    # `/` forwards to /inspect, keeping the link's query.
                    expect(page).to_have_url(f"{app_server}/inspect{query}")
                else:
                    expect(page).to_have_url(f"{app_server}/{path}{query}")
                # The sidebar's navigation marks the page that is open.
                nav = page.get_by_test_id("stSidebarNav")
                expect(nav.locator("a[aria-current='page']")).to_have_count(1)

        # A link to a query: its results, again after a reload and in a new context.
        link = f"{app_server}/inspect?query=q1"
        _open(page, link, INSPECT_HEADING)
        _expect_query_results(page, "q1")
        _open(page, "", INSPECT_HEADING)
        _expect_query_results(page, "q1")
        _in_a_new_context(browser, link, "q1", errors)

        # A typed query goes into the URL as text, and that link opens it elsewhere.
        box = page.get_by_label("Query", exact=True)
        box.fill("bones and exercise")
        box.press("Enter")
        expect(page).to_have_url(f"{app_server}/inspect?text=bones+and+exercise")
        context = browser.new_context()
        try:
            other = context.new_page()
            _open(other, page.url, INSPECT_HEADING)
            expect(other.get_by_label("Query", exact=True)).to_have_value("bones and exercise")
            expect(other.get_by_text(STAGE_NAMES[-1], exact=True).first).to_be_visible()
        finally:
            context.close()
    assert errors == []


def test_evaluate_opens_a_query_by_a_link_that_survives_reload_and_a_new_browser(
    app_server: str,
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    errors: list[str] = []
    with chromium() as browser:
        page = open_page(browser, errors)
        _open(page, f"{app_server}/evaluate", "Evaluate the reranker")
        expect(page.get_by_text("press Run evaluation")).to_be_visible(timeout=120_000)
        page.get_by_role("button", name="Run evaluation").click()
        expect(page.get_by_text("Per query: ΔnDCG@10")).to_be_visible(timeout=120_000)

        # "Open in inspector" beside the helped/hurt chart opens the picked query.
        picker = page.get_by_label("Click a bar to open the query in the inspector", exact=False)
        expect(picker).to_be_visible()
        page.get_by_test_id("stButton").filter(has_text="Open in inspector").first.click()
        expect(page.get_by_role("heading", name=INSPECT_HEADING, exact=True)).to_be_visible(
            timeout=60_000
        )
        expect(page).to_have_url(re.compile(r"/inspect\?query=q\d$"), timeout=60_000)
        query_id = page.url.rsplit("=", 1)[1]
        assert query_id in QUERIES
        _expect_query_results(page, query_id)

        link = page.url
        _open(page, "", INSPECT_HEADING)
        _expect_query_results(page, query_id)
        _in_a_new_context(browser, link, query_id, errors)
    assert errors == []
