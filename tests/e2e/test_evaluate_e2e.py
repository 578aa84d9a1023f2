"""The Evaluate page in headless Chromium: run the first stages and their reranked versions over
the fixture's judged queries, see the table and the helped/hurt chart, and click a bar to open
that query in the inspector."""

from __future__ import annotations

import pytest
from e2e_support import chromium, full_page_screenshot, open_page
from inspector_fixture import QUERIES

pytestmark = pytest.mark.e2e


def test_evaluate_flow_in_a_real_browser(app_server: str) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    errors: list[str] = []
    with chromium() as browser:
        page = open_page(browser, errors)
        page.goto(f"{app_server}/evaluate")

        # Indexes and models load; the default pipelines are the sidebar's first stages
        # and the reranked hybrid (the server's reranker is a loadable local folder).
        expect(page.get_by_text("press Run evaluation")).to_be_visible(timeout=120_000)
        page.get_by_role("button", name="Run evaluation").click()

        expect(page.get_by_text("Mean over the query set, per pipeline")).to_be_visible(
            timeout=120_000
        )
        table = page.get_by_test_id("stDataFrame").first
        expect(table).to_be_visible()
        expect(page.get_by_text("Does the reranker help Hybrid?")).to_be_visible()
        expect(page.get_by_text("Per query: ΔnDCG@10")).to_be_visible()
        chart = page.get_by_test_id("stPlotlyChart").first
        expect(chart.locator(".js-plotly-plot")).to_be_visible()
        bars = chart.locator(".barlayer .point")
        expect(bars.first).to_be_visible()
        assert bars.count() == 2  # the two judged queries
        expect(page.get_by_text("What the reranker did to each query")).to_be_visible()

        full_page_screenshot(page, "evaluate.png", 1600)

        # Clicking a bar opens that query in the inspector. Plotly listens on the drag
        # layer above the bars, so click where the bar is rather than on its element.
        box = bars.first.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        expect(page.get_by_text("Inspect a query")).to_be_visible(timeout=60_000)
        query = page.get_by_label("Query", exact=True)
        expect(query).not_to_have_value("", timeout=60_000)
        assert query.input_value() in (QUERIES["q1"], QUERIES["q2"])
    assert errors == []
