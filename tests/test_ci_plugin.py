"""Under CI nothing may skip; without CI, a run whose browser tests did not run says so loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

SAMPLE = """
import pytest
from ci_plugin import NO_BROWSER

def test_runs():
    assert True

def test_needs_a_model():
    pytest.skip("needs the bi-encoder in HF_HUB_CACHE")

def test_in_the_browser():
    pytest.skip(f"{NO_BROWSER}: no Chromium at /usr/bin/chromium")

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_known_bug():
    assert False
"""


def run_sample(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(TESTS)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "ci_plugin", "-q", "-rA", "-p", "no:cacheprovider",
         str(tmp_path / "test_sample.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_under_ci_a_skipped_test_fails_with_its_reason(tmp_path: Path) -> None:
    out = run_sample(tmp_path, "true")
    assert out.returncode == 1, out.stdout
    assert "2 failed, 1 passed, 1 xfailed" in out.stdout
    assert "skipped under CI=true, which counts as a failure: Skipped: needs the bi-encoder" in (
        out.stdout
    )


def test_without_ci_skips_stay_skips_and_missing_browser_tests_are_announced(
    tmp_path: Path,
) -> None:
    out = run_sample(tmp_path, None)
    assert out.returncode == 0, out.stdout
    assert "1 passed, 2 skipped, 1 xfailed" in out.stdout
    assert "!!! 1 BROWSER TESTS DID NOT RUN: install Chromium (apt-get install -y chromium" in (
        out.stdout
    )
