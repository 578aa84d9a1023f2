"""Talking to a reranking service: requests with retries and backoff, and one-line errors.

Used by :mod:`rankshift.rerank.remote`. The API key is read from the environment at request
time and goes into the ``Authorization`` header only: every message built here is scrubbed of
it (a server may echo the key back in an error), so it never reaches a log, a report or a cache.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from rankshift._lazy import require

if TYPE_CHECKING:
    import httpx

RETRY_STATUS = frozenset({429, 502, 503, 504})
"""Statuses that mean "busy, try again": the request is retried with backoff."""
BACKOFF_S = 0.5
"""First wait before a retry; doubled at each further retry."""
BACKOFF_CAP_S = 10.0
RETRY_AFTER_CAP_S = 30.0
"""Longest wait a server's ``Retry-After`` header can ask for."""
REASON_CHARS = 200
"""How much of a server's error message an exception quotes."""

_BEARER = re.compile(r"(?i)\b(bearer|api[-_ ]?key)([\"':= ]+)[^\s\"',;]+")


class RemoteRerankError(RuntimeError):
    """A reranking service failed a request; the message is one line and never holds a key."""


class RemoteKeyError(RemoteRerankError):
    """The API key is missing, or the service rejected it (the message names the variable)."""


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt + 1``: 0.5, 1, 2, ... at most 10."""
    return min(BACKOFF_CAP_S, BACKOFF_S * 2**attempt)


def retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP date) in seconds, at most 30; None when
    absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(text).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(RETRY_AFTER_CAP_S, max(0.0, seconds))


def scrub(text: str, secrets: Sequence[str | None] = ()) -> str:
    """``text`` on one line with the secrets and anything that looks like a bearer token or an
    API key replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _BEARER.sub(r"\1\2***", text)
    return " ".join(text.split())


def server_message(response: httpx.Response) -> str:
    """The error text a service sent: its JSON ``error``/``message``/``detail``, else the body."""
    try:
        data = response.json()
    except ValueError:
        return response.text
    if isinstance(data, dict):
        for field in ("error", "message", "detail"):
            value = data.get(field)
            if isinstance(value, str):
                return value
            if value is not None:
                return json.dumps(value)
    return response.text


class Service:
    """One service's HTTP client (an ``httpx.Client``, shared by the request threads).

    Args:
        base_url: the service's base URL, without a trailing slash.
        label: how messages name the service, e.g. ``cohere``.
        key_env: the environment variable holding the API key.
        key_required: True when a request without a key is refused before it is sent (hosted
            APIs); False sends none when the variable is unset (a TEI server without a key).
        timeout: seconds one request may take.
        retries: retries of a request refused as busy or failed on the way.
        concurrency: requests the caller keeps in flight at once.
    """

    def __init__(
        self,
        base_url: str,
        label: str,
        key_env: str,
        key_required: bool,
        timeout: float,
        retries: int,
        concurrency: int,
    ) -> None:
        httpx = require("httpx")
        self.base_url = base_url
        self.label = label
        self.key_env = key_env
        self.key_required = key_required
        self.timeout = timeout
        self.retries = retries
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=concurrency + 1, max_keepalive_connections=concurrency
            ),
            follow_redirects=False,
        )

    def close(self) -> None:
        self.client.close()

    def key(self) -> str | None:
        """The API key from the environment now; None when unset and not required."""
        value = os.environ.get(self.key_env)
        if value is None:
            if self.key_required:
                raise RemoteKeyError(
                    f"{self.label}: no API key: set the environment variable {self.key_env} "
                    "(to an empty value for a server that needs none)"
                )
            return None
        value = value.strip()
        if any(ord(c) < 0x21 or ord(c) > 0x7E for c in value):
            raise RemoteKeyError(
                f"{self.label}: the API key in ${self.key_env} holds characters an HTTP header "
                "cannot carry"
            )
        return value or None

    def headers(self, key: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def key_refused(self, status: int, url: str, key: str | None) -> RemoteKeyError:
        if key:
            why = f"it rejected the API key from ${self.key_env}"
        else:
            why = f"it needs an API key: set the environment variable {self.key_env}"
        return RemoteKeyError(f"HTTP {status} from {url}: {why}")

    def reason(self, response: httpx.Response, key: str | None) -> str:
        """The server's error message on one line, scrubbed, at most 200 characters."""
        text = scrub(server_message(response), [key])
        return text[:REASON_CHARS] or "(empty answer)"

    def get(self, path: str) -> httpx.Response:
        """One GET (no retries); transport errors raise httpx's own exceptions."""
        return self.client.get(self.base_url + path, headers=self.headers(self.key()))

    def post_json(self, url: str, payload: Any, stop: threading.Event | None = None) -> Any:
        """POST ``payload`` as JSON and return the answer's JSON.

        Retries on 429/502/503/504 and on connection failures, up to ``retries`` times, waiting
        as ``Retry-After`` asks (at most 30 s) or 0.5 s, 1 s, 2 s, ... (at most 10 s). Setting
        ``stop`` abandons the request before its next attempt.

        Raises:
            RemoteKeyError: no key, or the service refused it (401/403).
            RemoteRerankError: any other failure, with a one-line reason.
        """
        httpx = require("httpx")
        attempt = 0
        while True:
            if stop is not None and stop.is_set():
                raise RemoteRerankError(f"request to {url} abandoned")
            key = self.key()
            again = attempt < self.retries
            tried = f" (gave up after {attempt} {'retry' if attempt == 1 else 'retries'})"
            tried = tried if attempt else ""
            try:
                response = self.client.post(url, json=payload, headers=self.headers(key))
            except httpx.TimeoutException as e:
                if isinstance(e, httpx.ConnectTimeout) and again:
                    self._wait(backoff(attempt), stop)
                    attempt += 1
                    continue
                raise RemoteRerankError(
                    f"timed out: no answer from {url} within {self.timeout:g} s{tried}"
                ) from None
            except httpx.TransportError as e:
                if again:
                    self._wait(backoff(attempt), stop)
                    attempt += 1
                    continue
                what = scrub(str(e) or type(e).__name__, [key])[:REASON_CHARS]
                raise RemoteRerankError(f"cannot reach {url}{tried}: {what}") from None
            status = response.status_code
            if status in RETRY_STATUS and again:
                wait = retry_after(response.headers.get("retry-after"))
                self._wait(backoff(attempt) if wait is None else wait, stop)
                attempt += 1
                continue
            if status in (401, 403):
                raise self.key_refused(status, url, key)
            if not 200 <= status < 300:
                raise RemoteRerankError(
                    f"HTTP {status} from {url}{tried}: {self.reason(response, key)}"
                )
            try:
                return response.json()
            except ValueError:
                body = scrub(response.text, [key])[:80]
                raise RemoteRerankError(
                    f"malformed JSON from {url} (HTTP {status}): {body!r}"
                ) from None

    @staticmethod
    def _wait(seconds: float, stop: threading.Event | None) -> None:
        if stop is None:
            time.sleep(seconds)
        elif stop.wait(seconds):
            raise RemoteRerankError("request abandoned")


def scores_in_order(rows: Any, n: int, score_key: str, where: str) -> list[float]:
    """Scores of a batch of ``n`` texts in input order, from a service's ``[{index, score}]``
    rows (which come sorted by score). Raises :class:`RemoteRerankError` unless the rows give
    each index in ``range(n)`` exactly one finite number."""
    if not isinstance(rows, list):
        raise RemoteRerankError(
            f"unexpected answer from {where}: expected a list of results, got {type(rows).__name__}"
        )
    scores: list[float | None] = [None] * n
    for row in rows:
        index = row.get("index") if isinstance(row, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < n:
            raise RemoteRerankError(
                f"unexpected answer from {where}: result index {index!r} is not one of the "
                f"{n} texts sent"
            )
        score = row.get(score_key)
        if (
            not isinstance(score, int | float)
            or isinstance(score, bool)
            or not math.isfinite(score)
        ):
            raise RemoteRerankError(
                f"unexpected answer from {where}: result {index} has no numeric {score_key!r}"
            )
        if scores[index] is not None:
            raise RemoteRerankError(f"unexpected answer from {where}: index {index} came twice")
        scores[index] = float(score)
    missing = [i for i, s in enumerate(scores) if s is None]
    if missing:
        raise RemoteRerankError(
            f"unexpected answer from {where}: scores for {n - len(missing)} of {n} texts "
            f"(index {missing[0]} missing)"
        )
    return [float(s) for s in scores if s is not None]
