"""A real local HTTP server that stands in for a remote service in tests (importable as
``http_double``).

It listens on 127.0.0.1 on a free port, in a thread, and answers each request from a script:
per ``(method, path)`` a fixed :class:`Reply`, a list of replies used in turn (the last one
repeats), or a function of the :class:`Seen` request. It records every request it got, with its
headers, and counts the requests it was handling at once::

    with HttpDouble() as server:
        server.on("POST", "/rerank", [Reply(429, headers={"Retry-After": "0"}), Reply(200, [...])])
        ...  # point the client at server.url
        assert len(server.requests) == 2
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: status, headers, body (JSON-able, or ``bytes``/``str`` sent as they
    are) and a delay in seconds before answering."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    """A request the server got."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Script = Reply | list[Reply] | Callable[[Seen], Reply]


class HttpDouble:
    """The test double server (a context manager: started on enter, stopped on exit)."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._routes: dict[tuple[str, str], Script] = {}
        self._used: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def on(self, method: str, path: str, script: Script) -> None:
        """Answer ``method path`` from ``script`` (replaces an earlier script and restarts it)."""
        with self._lock:
            self._routes[(method, path)] = script
            self._used[(method, path)] = 0

    def seen(self, method: str, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def _reply(self, seen: Seen) -> Reply:
        route = (seen.method, seen.path.split("?")[0])
        with self._lock:
            self.requests.append(seen)
            script = self._routes.get(route)
            n = self._used.get(route, 0)
            self._used[route] = n + 1
        if script is None:
            return Reply(404, {"error": f"no route {route[0]} {route[1]}"})
        if isinstance(script, Reply):
            return script
        if isinstance(script, list):
            return script[min(n, len(script) - 1)]
        return script(seen)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                with double._lock:
                    double.in_flight += 1
                    double.max_in_flight = max(double.max_in_flight, double.in_flight)
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                    body = self.rfile.read(length) if length else b""
                    seen = Seen(
                        self.command,
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                    reply = double._reply(seen)
                    if reply.delay and double._stopping.wait(reply.delay):
                        return
                    if isinstance(reply.body, bytes):
                        data = reply.body
                    elif isinstance(reply.body, str):
                        data = reply.body.encode()
                    else:
                        data = json.dumps(reply.body).encode()
                    self.send_response(reply.status)
                    headers = {"Content-Type": "application/json", **reply.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)
                finally:
                    with double._lock:
                        double.in_flight -= 1

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> HttpDouble:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> HttpDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
