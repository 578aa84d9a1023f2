"""Rerankers run as HTTP services: text-embeddings-inference and the Cohere v2 family.

- ``tei:http://host:port`` asks a Hugging Face text-embeddings-inference server who it is
  (``GET /info``: model, revision, batch limit, input length) and scores with ``POST /rerank``;
  its scores are raw logits, so the probability is their sigmoid, as for a local model.
- ``cohere:<base url>?model=NAME`` posts to ``/v2/rerank`` (Cohere, and Jina, Infinity and vLLM,
  which speak the same API); ``voyage:`` posts to ``/v1/rerank`` and ``mixedbread:`` to
  ``/v1/reranking``. Their scores are already relevance probabilities in [0, 1] and are shown
  as they are. Nothing is sent before the first rerank (hosted APIs bill per call).

The API key comes from the environment variable ``spec.key_env`` at each request and is sent
as ``Authorization: Bearer``; it is never part of a spec, a cache key or a message. Batches go
out ``concurrency`` at a time, each retried on 429/502/503/504 and connection failures.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from rankshift.rerank.base import Reranker
from rankshift.rerank.cache import PairScoreCache
from rankshift.rerank.http import (
    RemoteKeyError,
    RemoteRerankError,
    Service,
    scores_in_order,
    scrub,
)
from rankshift.rerank.spec import RerankerSpec

__all__ = ["CohereReranker", "RemoteKeyError", "RemoteRerankError", "TEIReranker"]

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRIES = 3
DEFAULT_CONCURRENCY = 4
DEFAULT_BATCH = 32
"""Texts per request when neither the spec nor the server says."""

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


@dataclass(frozen=True)
class _Settings:
    """The HTTP options of a spec, checked."""

    timeout: float
    retries: int
    concurrency: int
    batch: int | None
    truncate: bool | None

    @classmethod
    def of(cls, spec: RerankerSpec) -> _Settings:
        timeout = float(spec.option("timeout") or DEFAULT_TIMEOUT_S)
        retries = int(spec.option("retries") or DEFAULT_RETRIES)
        concurrency = int(spec.option("concurrency") or DEFAULT_CONCURRENCY)
        batch = spec.option("batch")
        if retries < 0:
            raise ValueError(f"retries must be 0 or more, got {retries}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be 1 or more, got {concurrency}")
        if batch is not None and int(batch) < 1:
            raise ValueError(f"batch must be 1 or more, got {batch}")
        truncate = spec.option("truncate")
        flag = None
        if truncate is not None:
            if truncate.lower() not in _TRUE + _FALSE:
                raise ValueError(f"truncate must be true or false, got {truncate!r}")
            flag = truncate.lower() in _TRUE
        return cls(timeout, retries, concurrency, None if batch is None else int(batch), flag)


def _base_url(spec: RerankerSpec) -> str:
    return spec.target.rstrip("/")


def _join(base: str, path: str) -> str:
    """``base + path``, without doubling a version segment the base already ends with
    (``https://api.voyageai.com/v1`` + ``/v1/rerank``)."""
    version = "/" + path.strip("/").split("/")[0]
    if urlsplit(base).path.rstrip("/").endswith(version):
        return base + path[len(version) :]
    return base + path


class _RemoteReranker(Reranker):
    """What the HTTP backends share: settings, the client and concurrent batches."""

    concurrency: int
    _service: Service

    def _setup(self, spec: RerankerSpec | str, cache: PairScoreCache | None) -> _Settings:
        self.spec = RerankerSpec.parse(spec)
        self.cache = cache if cache is not None else PairScoreCache()
        settings = _Settings.of(self.spec)
        self.concurrency = settings.concurrency
        return settings

    def _request(self, query: str, texts: list[str], stop: threading.Event | None) -> list[float]:
        """Scores of one batch, in input order."""
        raise NotImplementedError

    def _score_batch(self, query: str, texts: list[str]) -> list[float]:
        return self._request(query, texts, None)

    def _run_batches(
        self, query: str, batches: list[list[str]]
    ) -> Iterator[tuple[int, list[float]]]:
        """Keep at most ``concurrency`` requests in flight; yield each batch as it finishes.

        Closing the generator (a failure, a timeout) cancels the batches not yet sent and stops
        the requests in flight from retrying.
        """
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        if not batches:
            return
        stop = threading.Event()
        pool = ThreadPoolExecutor(
            max_workers=min(self.concurrency, len(batches)), thread_name_prefix="rerank-http"
        )
        try:
            futures = {pool.submit(self._request, query, b, stop): i for i, b in enumerate(batches)}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=futures.__getitem__):
                    yield futures[future], future.result()
        finally:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Close the HTTP connections (the reranker is not used afterwards)."""
        self._service.close()


class TEIReranker(_RemoteReranker):
    """A text-embeddings-inference server's reranker: ``tei:http://host:port``.

    Construction asks ``GET /info`` (raising
    :class:`~rankshift.rerank.loading.RerankerUnavailable` when the server cannot be reached
    or is not TEI); ``revision`` is the served model's ``model_sha``, ``max_length`` its
    ``max_input_length`` and the batch size its ``max_client_batch_size`` (``batch=`` may
    lower it). Scores are raw logits (``raw_scores: true``). An API key is sent when
    ``TEI_API_KEY`` (or ``key_env=``) is set.
    """

    def __init__(self, spec: RerankerSpec | str, cache: PairScoreCache | None = None) -> None:
        super().__init__()
        settings = self._setup(spec, cache)
        if self.spec.backend != "tei":
            raise ValueError(f"TEIReranker runs tei: specs, not {self.spec}")
        self.truncate = True if settings.truncate is None else settings.truncate
        self.base_url = _base_url(self.spec)
        self.url = self.base_url + "/rerank"
        assert self.spec.key_env is not None
        self._service = Service(
            self.base_url,
            "tei",
            self.spec.key_env,
            key_required=False,
            timeout=settings.timeout,
            retries=settings.retries,
            concurrency=settings.concurrency,
        )
        try:
            info = self._read_info()
        except Exception:
            self._service.close()
            raise
        self.served_model: str = info["model_id"]
        """The model the server runs, as its ``/info`` names it."""
        sha = info.get("model_sha")
        self.revision = sha if isinstance(sha, str) and sha else "unknown"
        self.max_length = _positive_int(info.get("max_input_length"))
        limit = _positive_int(info.get("max_client_batch_size"))
        if settings.batch is None:
            self.batch_size = limit or DEFAULT_BATCH
        else:
            self.batch_size = min(settings.batch, limit) if limit else settings.batch

    def _read_info(self) -> dict[str, Any]:
        from rankshift._lazy import require
        from rankshift.rerank.loading import RerankerUnavailable

        httpx = require("httpx")
        url = self.base_url + "/info"
        hint = "is a text-embeddings-inference server running there?"
        try:
            response = self._service.get("/info")
        except httpx.TimeoutException:
            raise RerankerUnavailable(
                f"tei: no answer from {url} within {self._service.timeout:g} s; {hint}"
            ) from None
        except httpx.TransportError as e:
            why = scrub(str(e) or type(e).__name__)[:120]
            raise RerankerUnavailable(f"tei: cannot reach {url} ({why}); {hint}") from None
        except RemoteKeyError as e:
            raise RerankerUnavailable(str(e)) from None
        key = self._service.key()
        if response.status_code in (401, 403):
            raise RerankerUnavailable(
                str(self._service.key_refused(response.status_code, url, key))
            )
        if response.status_code != 200:
            why = self._service.reason(response, key)[:120]
            raise RerankerUnavailable(
                f"tei: {url} answered HTTP {response.status_code} ({why}); {hint}"
            )
        try:
            info = response.json()
        except ValueError:
            raise RerankerUnavailable(f"tei: {url} did not answer JSON; {hint}") from None
        if not isinstance(info, dict) or not isinstance(info.get("model_id"), str):
            raise RerankerUnavailable(
                f"tei: {url} is not text-embeddings-inference's /info (no model_id); {hint}"
            )
        kind = info.get("model_type")
        if isinstance(kind, dict) and kind and "reranker" not in kind:
            raise RerankerUnavailable(
                f"tei: {info['model_id']} at {self.base_url} is not a reranker (model_type "
                f"{', '.join(map(str, kind))}); start the server with a reranking model"
            )
        return info

    @property
    def cache_identity(self) -> str:
        return f"tei:{self.base_url}|model={self.served_model}|truncate={self.truncate}"

    def _request(self, query: str, texts: list[str], stop: threading.Event | None) -> list[float]:
        payload = {
            "query": query,
            "texts": texts,
            "raw_scores": True,
            "truncate": self.truncate,
            "truncation_direction": "Right",
            "return_text": False,
        }
        rows = self._service.post_json(self.url, payload, stop)
        return scores_in_order(rows, len(texts), "score", self.url)


@dataclass(frozen=True)
class _Variant:
    """How one API of the Cohere family differs from the others."""

    path: str
    documents: str
    top: str
    results: str
    score: str


VARIANTS: dict[str, _Variant] = {
    "cohere": _Variant("/v2/rerank", "documents", "top_n", "results", "relevance_score"),
    "voyage": _Variant("/v1/rerank", "documents", "top_k", "data", "relevance_score"),
    "mixedbread": _Variant("/v1/reranking", "input", "top_k", "data", "score"),
}
"""Backend -> endpoint, the request's documents and result-count fields, and where the answer
keeps its results and their scores."""


class CohereReranker(_RemoteReranker):
    """A rerank API of the Cohere family: ``cohere:``, ``voyage:`` or ``mixedbread:`` with
    ``<base url>?model=NAME``.

    Scores are the service's relevance scores, already in [0, 1], and are shown as they are.
    The service reports no revision (``"unknown"``), no input length (``max_length`` None) and
    no token counts. No request is made before the first rerank: a wrong URL, model or key
    shows up there. The key is required (``COHERE_API_KEY``, ``VOYAGE_API_KEY``,
    ``MXBAI_API_KEY`` or ``key_env=``; an empty value sends none, for a local server).
    """

    def __init__(self, spec: RerankerSpec | str, cache: PairScoreCache | None = None) -> None:
        super().__init__()
        settings = self._setup(spec, cache)
        if self.spec.backend not in VARIANTS:
            raise ValueError(f"CohereReranker runs {', '.join(VARIANTS)} specs, not {self.spec}")
        model = self.spec.option("model")
        if not model:
            raise ValueError(f"{self.spec.backend}: needs ?model=NAME")
        if settings.truncate is not None and self.spec.backend != "voyage":
            raise ValueError(
                f"truncate= applies to tei: and voyage: only; {self.spec.backend} truncates as "
                "its service does"
            )
        self.model = model
        self.variant = VARIANTS[self.spec.backend]
        self.truncate = settings.truncate
        self.revision = "unknown"
        self.max_length = None
        self.batch_size = settings.batch or DEFAULT_BATCH
        self.url = _join(_base_url(self.spec), self.variant.path)
        assert self.spec.key_env is not None
        self._service = Service(
            _base_url(self.spec),
            self.spec.backend,
            self.spec.key_env,
            key_required=True,
            timeout=settings.timeout,
            retries=settings.retries,
            concurrency=settings.concurrency,
        )

    @property
    def cache_identity(self) -> str:
        truncate = "" if self.truncate is None else f"|truncate={self.truncate}"
        return f"{self.spec.backend}:{self.url}|model={self.model}{truncate}"

    def probability(self, score: float) -> float:
        """The service's relevance score, clamped to [0, 1]."""
        return min(1.0, max(0.0, score))

    def _request(self, query: str, texts: list[str], stop: threading.Event | None) -> list[float]:
        v = self.variant
        payload: dict[str, Any] = {
            "model": self.model,
            "query": query,
            v.documents: texts,
            v.top: len(texts),
        }
        if self.truncate is not None:
            payload["truncation"] = self.truncate
        answer = self._service.post_json(self.url, payload, stop)
        if not isinstance(answer, dict):
            raise RemoteRerankError(
                f"unexpected answer from {self.url}: expected an object with {v.results!r}"
            )
        return scores_in_order(answer.get(v.results), len(texts), v.score, self.url)


def _positive_int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None
