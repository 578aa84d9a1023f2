"""The Judge page in headless Chromium: name yourself, pick a query, judge three documents
(two with the keyboard shortcuts, one with the mouse), reload, and find all three labels
still there: on the page and in the database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from e2e_support import chromium, full_page_screenshot, open_page

from rankshift.judgments import JudgmentStore

pytestmark = pytest.mark.e2e

ANNOTATOR = "Ada E2E"
QUERY_ID = "q2"


def _judged(count: int) -> re.Pattern[str]:
    return re.compile(rf"^{count} of \d+ judged by you$")


def _settle(page) -> None:
    """Wait for the rerun to finish: a key pressed mid-run can reach buttons being redrawn."""
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]')"
        "?.getAttribute('data-test-script-state') === 'notRunning'"
    )


def test_judge_three_documents_and_reload(app_server: str, e2e_judgments_db: Path) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    errors: list[str] = []
    with chromium() as browser:
        page = open_page(browser, errors, 1400)
        page.goto(f"{app_server}/judge")

        # A name, once: the URL keeps it.
        page.get_by_label("Your name").fill(ANNOTATOR)
        page.get_by_role("button", name="Start judging").click()
        expect(page.get_by_text(f"Judging as {ANNOTATOR}")).to_be_visible(timeout=60_000)

        # Pick the query (indexes and models may still be loading on a fresh server).
        picker = page.get_by_label("Query", exact=True)
        expect(picker).to_be_visible(timeout=120_000)
        picker.click()
        page.get_by_role("option", name=re.compile(rf"^{QUERY_ID}: ")).click()
        expect(page.get_by_text("does exercise make bones stronger").first).to_be_visible()
        expect(page.get_by_text(_judged(0))).to_be_visible(timeout=120_000)
        assert f"query={QUERY_ID}" in page.url and "annotator=Ada" in page.url

        # Two labels by keyboard (focus off the select box first), one by mouse. Each
        # progress step is read back from the database by the rerun after the save.
        _settle(page)
        page.get_by_role("heading", name="Judge").click()
        page.keyboard.press("2")
        expect(page.get_by_text(_judged(1))).to_be_visible()
        _settle(page)
        page.keyboard.press("0")
        expect(page.get_by_text(_judged(2))).to_be_visible()
        _settle(page)
        page.get_by_role("button", name=re.compile(r"3 · perfect")).click()
        expect(page.get_by_text(_judged(3))).to_be_visible()
        expect(page.get_by_text(re.compile(r"Saved d\d+: 3 · perfect"))).to_be_visible()

        # Digits typed into the note field are text, not grade shortcuts.
        _settle(page)
        note = page.get_by_label("Note (saved with the grade you click)")
        note.click()
        note.press_sequentially("12")
        page.wait_for_timeout(300)
        _settle(page)
        expect(page.get_by_text(_judged(3))).to_be_visible()
        expect(note).to_have_value("12")

        # A browser refresh is a new session: the URL brings back who and which query.
        page.reload()
        expect(page.get_by_text(f"Judging as {ANNOTATOR}")).to_be_visible(timeout=60_000)
        expect(page.get_by_text(_judged(3))).to_be_visible(timeout=60_000)
        page.get_by_role("radio", name="List", exact=True).click()
        saved = page.get_by_text(re.compile(r"Saved · [0-3S] · .+ · version 1"))
        expect(saved).to_have_count(3)

        # The whole list.
        full_page_screenshot(page, "judge.png", 1400, max_height=6000, settle_ms=800)

    with JudgmentStore(e2e_judgments_db) as store:
        labels = store.list_judgments(None, annotator=ANNOTATOR)
    assert len(labels) == 3
    assert {j.query_id for j in labels} == {QUERY_ID}
    assert sorted(j.grade for j in labels) == [0, 2, 3]
    assert all(j.context.settings["blind"] for j in labels)
    assert all(str(j.context.model_id).endswith("tiny-cross-encoder") for j in labels)
    assert errors == []
