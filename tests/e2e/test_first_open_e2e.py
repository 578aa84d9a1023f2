"""The first open of a collection in headless Chromium: the page lists what it prepares with an
estimate for each stage and marks each done; a second open in the same server prepares nothing;
after a restart the indexes come from the cache on disk."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from e2e_support import ARTIFACTS, chromium, require_browser, streamlit_app
from inspector_fixture import write_collection

pytestmark = pytest.mark.e2e

READY = "Type a query, or pick one"


def server(collection: Path, cache: Path, log: Path) -> AbstractContextManager[str]:
    """The app over ``collection`` with no reranker, its indexes cached in ``cache``."""
    env = {
        **os.environ,
        "RANKSHIFT_COLLECTION": str(collection),
        "RANKSHIFT_RERANKER": "none",
        "RANKSHIFT_CACHE": str(cache),
        "RANKSHIFT_JUDGMENTS": str(cache.parent / "judgments.sqlite"),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    return streamlit_app(env, log)


def test_first_open_shows_its_stages_and_a_second_open_comes_from_the_cache(tmp_path) -> None:
    require_browser()
    from playwright.sync_api import expect

    expect.set_options(timeout=120_000)
    collection = write_collection(tmp_path / "collection")
    cache = tmp_path / "cache"
    with chromium() as browser:
        with server(collection, cache, tmp_path / "first.log") as url:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            expect(page.get_by_label("Query", exact=True)).to_be_visible()
            status = page.get_by_text("Preparing the search:")
            expect(status).to_be_visible()
            expect(page.get_by_text("BM25 index over 12 documents")).to_be_visible()
            encoding = page.get_by_text("Encoding 12 documents with the bi-encoder: ")
            expect(encoding).to_be_visible()
            expect(page.get_by_text("Loading the bi-encoder all-MiniLM-L6-v2")).to_be_visible()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "first-open.png"))
            expect(page.get_by_text(READY)).to_be_visible()
            expect(status).to_have_count(0)  # the box goes once everything is ready

            # A second open in the same server: nothing to prepare, no status box.
            again = browser.new_page()
            again.goto(url)
            expect(again.get_by_text(READY)).to_be_visible()
            expect(again.get_by_text("Preparing the search:")).to_have_count(0)
            assert any(cache.glob("indexes/*/dense-*/embeddings.npy"))

        # After a restart the indexes are read from the disk cache, not built again.
        with server(collection, cache, tmp_path / "second.log") as url:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            expect(page.get_by_text("Dense index, from the cache on disk")).to_be_visible()
            expect(page.get_by_text(READY)).to_be_visible()
            expect(page.get_by_text("Encoding 12 documents")).to_have_count(0)
