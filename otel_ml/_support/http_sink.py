"""A local HTTP server on 127.0.0.1 that records every request (method, path, headers, body).

It stands in for Slack and PagerDuty in the demo and for any webhook target in the tests.
By default it answers ``status`` with ``{}``; ``answer(received)`` may choose another status and
body per request. Bodies over ``max_body`` bytes are cut there (the request still counts).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

__all__ = ["HttpSink", "Received"]


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body or b"null")


class HttpSink:
    """Records requests on a background thread; ``close()`` (or ``with``) stops it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, status: int = 200, *,
                 answer: Callable[[Received], tuple[int, bytes]] | None = None,
                 on_request: Callable[[Received], None] | None = None, max_body: int = 1 << 20):
        self.host = host
        self.status = status
        self.requests: list[Received] = []
        self._answer = answer
        self._on_request = on_request
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, max_body)) if length else b""
                received = Received(self.command, self.path, dict(self.headers), body)
                status, payload = sink._record(received)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_PUT = do_GET = _handle

            def log_message(self, *args):  # quiet: the sink's records are its log
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="otel-ml-http-sink",
                                        daemon=True)
        self._thread.start()

    def _record(self, received: Received) -> tuple[int, bytes]:
        answer = self._answer(received) if self._answer else (self.status, b"{}")
        with self._lock:
            self.requests.append(received)
            if self._on_request is not None and 200 <= answer[0] < 300:
                self._on_request(received)
        return answer

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def received(self, path_prefix: str = "") -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "HttpSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
