"""What the browser tests share: the real app (``streamlit run``) on a free localhost port, and
headless Chromium to drive it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from ci_plugin import NO_BROWSER

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_browser() -> None:
    """Skip (with the ``NO_BROWSER`` reason) when Chromium or playwright is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"{NO_BROWSER}: no Chromium at {CHROMIUM}")
    pytest.importorskip("playwright.sync_api", reason=f"{NO_BROWSER}: playwright is not installed")


def free_port() -> int:
    """A localhost port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Return once the app at ``url`` answers its health check; raise with the server's log
    if the process exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200 and r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"streamlit did not become healthy in {timeout:g} s:\n{log.read_text()}")


@contextmanager
def streamlit_app(env: Mapping[str, str], log: Path) -> Iterator[str]:
    """``streamlit run app/streamlit_app.py`` on http://127.0.0.1:<free port> with exactly the
    environment ``env``, its output in ``log``. Yields the URL once the app is healthy; stops
    the server's whole process group afterwards (SIGTERM, SIGKILL after 15 s)."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "app" / "streamlit_app.py"),
        "--server.headless=true",
        "--server.address=127.0.0.1",
        f"--server.port={port}",
        "--server.fileWatcherType=none",
        "--browser.gatherUsageStats=false",
    ]
    with open(log, "wb") as out:
        # cwd=ROOT so the project's .streamlit/config.toml (XSRF, upload limit, theme) applies.
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


def launch_chromium(playwright: Playwright) -> Browser:
    """Headless Chromium from ``CHROMIUM``, with ``BROWSER_ARGS``; the caller closes it."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=BROWSER_ARGS, headless=True
    )


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium (``launch_chromium``), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Browser, errors: list[str], width: int = 1600, height: int = 1000) -> Page:
    """A new page of ``width`` x ``height`` whose uncaught script errors go into ``errors``."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


CONTENT_HEIGHT = (
    "Math.max(...[...document.querySelectorAll('section, main, div')].map(e => e.scrollHeight))"
)
"""The height of the page's content: the app's main area scrolls inside it."""


def full_page_screenshot(
    page: Page, name: str, width: int, max_height: int = 8000, settle_ms: int = 1500
) -> None:
    """``ARTIFACTS/name``: the whole page. The main area scrolls inside the app, so the viewport
    first grows to the content's height (at most ``max_height``) and the page settles."""
    height = page.evaluate(CONTENT_HEIGHT)
    page.set_viewport_size({"width": width, "height": min(int(height) + 200, max_height)})
    page.wait_for_timeout(settle_ms)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
