"""A pytest plugin (loaded by tests/conftest.py): under CI nothing may skip, and a run without a
browser says so loudly.

``CI=true`` turns every skip into a failure: a test that did not run for a missing model, data set
or browser is a test that did not pass. Without CI (a developer's ``make test``), skips stay skips,
and a run whose browser tests were skipped ends with a line saying how to make them run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

NO_BROWSER = "browser test not run"
"""The start of the skip reason of every browser test that could not run."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which counts as a failure: {reason}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    browser = [r for r in skipped if NO_BROWSER in str(r.longrepr)]
    if browser:
        terminalreporter.write_line(
            f"!!! {len(browser)} BROWSER TESTS DID NOT RUN: install Chromium "
            "(apt-get install -y chromium, to /usr/bin/chromium) and run make test again !!!",
            red=True,
            bold=True,
        )
