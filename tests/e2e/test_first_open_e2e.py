"""The first open of a collection in headless Chromium: the page lists what it prepares with an
estimate for each stage and marks each done; a second open in the same server prepares nothing;
after a restart the indexes come from the cache on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ARTIFACTS, CHROMIUM, ROOT, _free_port, _wait_healthy
from inspector_fixture import write_collection
from test_inspect_e2e import BROWSER_ARGS

pytestmark = pytest.mark.e2e

READY = "Type a query, or pick one"


@contextmanager
def server(collection: Path, cache: Path, log: Path) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "RANKSHIFT_COLLECTION": str(collection),
        "RANKSHIFT_RERANKER": "none",
        "RANKSHIFT_CACHE": str(cache),
        "RANKSHIFT_JUDGMENTS": str(cache.parent / "judgments.sqlite"),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "streamlit_app.py"),
           "--server.headless=true", "--server.address=127.0.0.1", f"--server.port={port}",
           "--server.fileWatcherType=none", "--browser.gatherUsageStats=false"]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def test_first_open_shows_its_stages_and_a_second_open_comes_from_the_cache(tmp_path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"browser test not run: no Chromium at {CHROMIUM}")
    pytest.importorskip("playwright.sync_api", reason="browser test not run: no playwright")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=120_000)
    collection = write_collection(tmp_path / "collection")
    cache = tmp_path / "cache"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=BROWSER_ARGS, headless=True
        )
        try:
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
        finally:
            browser.close()
