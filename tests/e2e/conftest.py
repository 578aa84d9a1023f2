"""Start the real app (``streamlit run``) on a free localhost port, and stop it afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from ci_plugin import NO_BROWSER
from inspector_fixture import write_collection

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
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


@pytest.fixture(scope="session")
def e2e_judgments_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The judgments database the e2e server writes to (``RANKSHIFT_JUDGMENTS``)."""
    return tmp_path_factory.mktemp("e2e-judgments") / "judgments.sqlite"


@pytest.fixture(scope="session")
def app_server(
    tmp_path_factory: pytest.TempPathFactory, tiny_cross_encoder_dir: Path, e2e_judgments_db: Path
) -> Iterator[str]:
    """The app on http://127.0.0.1:<free port>, over the fixture collection, with a reranker
    that loads (an untrained cross-encoder folder, so the dropped panel has content), and a
    judgments database of its own (``e2e_judgments_db``), never the user's."""
    if not CHROMIUM.exists():
        pytest.skip(f"{NO_BROWSER}: no Chromium at {CHROMIUM}")
    pytest.importorskip("playwright.sync_api", reason=f"{NO_BROWSER}: playwright is not installed")
    tmp = tmp_path_factory.mktemp("e2e")
    collection = write_collection(tmp / "collection")
    port = _free_port()
    env = {
        **os.environ,
        "RANKSHIFT_COLLECTION": str(collection),
        "RANKSHIFT_RERANKER": str(tiny_cross_encoder_dir),
        "RANKSHIFT_CACHE": str(tmp / "cache"),
        "RANKSHIFT_JUDGMENTS": str(e2e_judgments_db),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    log = tmp / "streamlit.log"
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
        # cwd=ROOT so the project's .streamlit/config.toml (XSRF, upload limit) applies.
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
