"""Any reranker rankshift can load, served over HTTP with the APIs other tools already speak.

- Hugging Face text-embeddings-inference (TEI): ``GET /info``, ``GET /health``, ``POST /rerank``
  with TEI's request and answer shapes and its error body ``{"error", "error_type"}``;
- Cohere v2: ``POST /v2/rerank`` (``model``, ``query``, ``documents``, ``top_n``,
  ``max_tokens_per_doc``), answering ``{"id", "results", "meta"}``.

Scores come from :meth:`~rankshift.rerank.base.Reranker.score_texts`, so the pair-score cache
applies. With a bearer token set, every endpoint but ``/health`` needs it. Only the ``serve``
command imports this module (it imports FastAPI).
"""

from __future__ import annotations

import hmac
import math
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.exceptions import HTTPException

from rankshift import __version__
from rankshift.rerank.base import Reranker
from rankshift.rerank.http import scrub

MAX_CONCURRENT_REQUESTS = 40
"""Requests scored at once: FastAPI runs the endpoints in anyio's thread pool of 40; the model
itself takes one batch at a time (the reranker's lock)."""

_DTYPES = {"torch": "float32", "bf16": "bfloat16", "onnx": "float32", "openvino": "float32"}

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _direction(value: Any) -> Any:
    return value.capitalize() if isinstance(value, str) else value


def _document(value: Any) -> Any:
    """A Cohere document: a string, or an object with a ``text`` string (Cohere v1, Jina)."""
    if isinstance(value, dict):
        if isinstance(value.get("text"), str):
            return value["text"]
        raise ValueError("a document is a string or an object with a 'text' string")
    return value


class TEIRerankRequest(BaseModel):
    """TEI's ``RerankRequest``: unknown fields are ignored, types are not coerced."""

    model_config = ConfigDict(strict=True)
    query: str
    texts: list[str]
    truncate: bool | None = None
    truncation_direction: Annotated[Literal["Left", "Right"], BeforeValidator(_direction)] = "Right"
    raw_scores: bool = False
    return_text: bool = False


class CohereRerankRequest(BaseModel):
    """Cohere's v2 ``RerankRequest`` (``return_documents`` as in v1 and Jina)."""

    model_config = ConfigDict(strict=True)
    model: str
    query: str
    documents: list[Annotated[str, BeforeValidator(_document)]]
    top_n: int | None = Field(None, ge=1)
    max_tokens_per_doc: int | None = Field(None, ge=1)
    return_documents: bool = False


def _error(status: int, message: str, kind: str, **headers: str) -> JSONResponse:
    """TEI's error body; ``message`` repeats it for Cohere-style clients."""
    body = {"error": message, "error_type": kind, "message": message}
    return JSONResponse(body, status_code=status, headers=headers or None)


class _Failure(Exception):
    """A request the endpoint refuses, with its HTTP status."""

    def __init__(self, status: int, message: str, kind: str = "validation") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def _field_errors(exc: RequestValidationError) -> str:
    """Pydantic's errors as ``field: problem`` phrases a person can read."""
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ()) if x != "body"]
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "json_invalid":
            parts.append(
                f"the request body is not valid JSON ({err.get('ctx', {}).get('error', msg)})"
            )
        elif not loc:
            parts.append(f"the request body must be a JSON object: {msg}")
        else:
            parts.append(f"{'.'.join(loc)}: {msg}")
    return "; ".join(dict.fromkeys(parts)) or "invalid request"


class _Guard:
    """ASGI middleware: the bearer token (all but ``/health``), then the body size, checked on
    ``Content-Length`` and on the bytes actually received, before anything is parsed."""

    def __init__(self, app: Any, token: str | None, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.expected is not None and scope.get("path") != "/health":
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                why = "a bearer token is required" if not given else "wrong bearer token"
                reply = _error(
                    401,
                    f"{why}: send the header 'Authorization: Bearer <token>'",
                    "unauthorized",
                    **{"WWW-Authenticate": "Bearer"},
                )
                await reply(scope, receive, send)
                return
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._too_large(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        reply = _error(413, f"request body larger than {self.max_body_bytes} bytes", "validation")
        await reply(scope, receive, send)


def _labels(reranker: Reranker) -> dict[str, Any]:
    """TEI's reranker ``model_type``: the one label the served score stands for."""
    config = getattr(getattr(reranker, "model", None), "config", None)
    names = dict(getattr(config, "id2label", None) or {})
    index = getattr(reranker, "label", None)
    name = str(names.get(0 if index is None else index, "LABEL_0"))
    return {"reranker": {"id2label": {"0": name}, "label2id": {name: 0}}}


def _info(reranker: Reranker, max_client_batch_size: int) -> dict[str, Any]:
    backend = reranker.spec.backend
    dtype = _DTYPES.get(backend, "int8" if backend.endswith("-int8") else "unknown")
    batch = max(1, int(reranker.batch_size))
    return {
        "model_id": reranker.model_id,
        "model_sha": reranker.revision,
        "model_dtype": dtype,
        "model_type": _labels(reranker),
        "max_concurrent_requests": MAX_CONCURRENT_REQUESTS,
        "max_input_length": reranker.max_length,
        "max_batch_tokens": batch * (reranker.max_length or 512),
        "max_batch_requests": batch,
        "max_client_batch_size": max_client_batch_size,
        "auto_truncate": True,
        "tokenization_workers": 1,
        "version": __version__,
        "sha": None,
        "docker_label": None,
    }


def _cut_to_tokens(reranker: Reranker, texts: list[str], limit: int) -> list[str]:
    """Each text cut after its first ``limit`` tokens (Cohere's ``max_tokens_per_doc``)."""
    tokenizer = getattr(reranker, "tokenizer", None)
    if tokenizer is None:
        if reranker.max_length is not None and limit >= reranker.max_length:
            return texts  # the model reads fewer tokens than that anyway
        raise _Failure(
            422,
            f"max_tokens_per_doc: {reranker.model_id} cannot cut documents by tokens; leave it out",
        )
    with reranker.lock:  # a fast tokenizer must not be used by two threads at once
        enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    return [
        text if len(offsets) <= limit else text[: offsets[limit - 1][1]]
        for text, offsets in zip(texts, enc["offset_mapping"], strict=True)
    ]


def create_app(
    reranker: Reranker,
    *,
    token: str | None = None,
    max_client_batch_size: int = 64,
    max_body_bytes: int = 2_000_000,
) -> FastAPI:
    """The HTTP app serving ``reranker`` (see the module docstring); run it with uvicorn."""
    app = FastAPI(title="rankshift serve", version=__version__)
    info = _info(reranker, max_client_batch_size)

    def secret_free(text: str) -> str:
        return scrub(text, [token])

    def check_batch(field: str, texts: list[str]) -> None:
        if not texts:
            raise _Failure(422, f"{field}: must not be empty", "empty")
        if len(texts) > max_client_batch_size:
            raise _Failure(
                413,
                f"{field}: batch size {len(texts)} > maximum allowed batch size "
                f"{max_client_batch_size}",
            )

    def score(query: str, texts: list[str]) -> list[float]:
        try:
            found, _ = reranker.score_texts(query, texts)
        except Exception as e:
            why = secret_free(f"{type(e).__name__}: {e}")[:300]
            print(f"rankshift serve: reranking failed: {why}", file=sys.stderr, flush=True)
            raise _Failure(500, f"reranking failed: {why}", "backend") from None
        scores = [s for s, _, _ in found]
        if any(not math.isfinite(s) for s in scores):
            raise _Failure(500, "the reranker returned a score that is not a number", "backend")
        return scores

    def ranked(scores: list[float]) -> list[int]:
        return sorted(range(len(scores)), key=lambda i: (-scores[i], i))

    @app.exception_handler(_Failure)
    async def refused(request: Request, exc: _Failure) -> JSONResponse:
        return _error(exc.status, exc.message, exc.kind)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _field_errors(exc), "validation")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "validation")
        return _error(exc.status_code, str(exc.detail), kind, **(exc.headers or {}))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        return _error(500, f"internal error: {type(exc).__name__}", "backend")

    @app.get("/health")
    def health() -> Response:
        return Response(status_code=200)

    @app.get("/info")
    def get_info() -> JSONResponse:
        return JSONResponse(info)

    @app.post("/rerank")
    def rerank(req: TEIRerankRequest) -> JSONResponse:
        check_batch("texts", req.texts)
        if req.truncation_direction == "Left":
            raise _Failure(
                422,
                "truncation_direction: Left is not supported; this server's models "
                "truncate on the right only (send Right or leave it out)",
            )
        if req.truncate is False and reranker.max_length:
            counts = reranker.count_tokens(req.query, req.texts)
            for i, n in enumerate(counts or []):
                if n > reranker.max_length:
                    raise _Failure(
                        413,
                        f"texts.{i}: the (query, text) pair has {n} tokens, more than "
                        f"the {reranker.max_length} the model reads; send truncate: true to "
                        "let the server cut it",
                    )
        scores = score(req.query, req.texts)
        out = []
        for i in ranked(scores):
            s = scores[i] if req.raw_scores else reranker.probability(scores[i])
            row: dict[str, Any] = {"index": i, "score": s}
            if req.return_text:
                row["text"] = req.texts[i]
            out.append(row)
        return JSONResponse(out)

    @app.post("/v2/rerank")
    def cohere_rerank(req: CohereRerankRequest) -> JSONResponse:
        check_batch("documents", req.documents)
        texts = list(req.documents)
        if req.max_tokens_per_doc is not None:
            texts = _cut_to_tokens(reranker, texts, req.max_tokens_per_doc)
        scores = score(req.query, texts)
        results = []
        for i in ranked(scores)[: req.top_n]:
            row: dict[str, Any] = {"index": i, "relevance_score": reranker.probability(scores[i])}
            if req.return_documents:
                row["document"] = {"text": req.documents[i]}
            results.append(row)
        meta = {"api_version": {"version": "2", "is_experimental": False}}
        return JSONResponse({"id": str(uuid.uuid4()), "results": results, "meta": meta})

    app.add_middleware(_Guard, token=token, max_body_bytes=max_body_bytes)
    return app
