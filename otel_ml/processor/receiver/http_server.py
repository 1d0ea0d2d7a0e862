"""OTLP/HTTP receiver: ``POST /v1/logs|metrics|traces`` (protobuf or JSON, gzip) and ``/v1/labels``.

Responses follow the OTLP/HTTP spec: the request's content type, 400 with a
``google.rpc.Status`` for malformed payloads, 503 + ``Retry-After`` when the ingest queue is
full, 413 over ``max_request_bytes`` (checked on Content-Length before reading and again while
gunzipping), 415 for other media types, 401 without the bearer token.

Memory is bounded by two limits rather than by the number of clients: at most
``max_concurrent_requests`` bodies are read and decoded at once (one more is answered 503 +
``Retry-After`` at once, counted as rejected "overloaded", instead of waiting for a slot), and at
most ``max_connections`` connections are open (one more closes the longest-idle keep-alive
connection, or is answered 503 when none is idle). Bodies that are refused are discarded in
small chunks, never buffered.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import math
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_ml.processor.contracts import Overloaded
from otel_ml.processor.receiver.auth import BearerAuth
from otel_ml.processor.receiver.export_handler import (
    REASON_INVALID_EVENT,
    REASON_MALFORMED,
    REASON_OVERLOADED,
    REASON_TOO_LARGE,
    REASON_UNAUTHENTICATED,
    REASON_UNSUPPORTED_MEDIA_TYPE,
    SIGNAL_LABELS,
    ExportHandler,
)
from otel_ml.processor.receiver.labels_api import parse_labels
from otel_ml.processor.receiver.otlp_json import parse_otlp_json, to_otlp_json
from otel_ml.processor.receiver.payload import (
    MalformedPayload,
    PayloadTooLarge,
    gunzip_limited,
    parse_protobuf,
)
from otel_ml.semconv import Event as EventName

__all__ = ["HttpReceiver", "PROTOBUF", "JSON"]

_log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

#: Seconds an idle keep-alive connection (or a slow client mid-request) may hold a thread.
_IDLE_TIMEOUT_S = 30.0
#: After refusing a body (413, 503), read (and drop) at most this much of it, for at most
#: _DRAIN_SECONDS, so that the client sees the answer instead of a connection reset.
_DRAIN_LIMIT = 1 << 20
_DRAIN_SECONDS = 2.0
#: A connection refused at the connection cap is closed once its client closes, or after this.
_LINGER_SECONDS = 2.0
#: At most this many refused connections linger; beyond, the oldest is closed at once.
_MAX_LINGERING = 64
#: Bytes read at a time when a body is discarded.
_DISCARD_CHUNK = 65536


class _Refused(Exception):
    """Answer the request with ``status`` and ``message`` (counted under ``reason`` if any)."""

    def __init__(self, status: int, message: str, reason: str | None = None,
                 headers: dict[str, str] | None = None, close: bool = False):
        self.status = status
        self.message = message
        self.reason = reason
        self.headers = headers or {}
        self.close = close
        super().__init__(message)

    @classmethod
    def overloaded(cls, exc: Overloaded, delay_s: float) -> "_Refused":
        """503 with Retry-After in whole seconds (the sink counts the rejection itself)."""
        return cls(503, f"processor overloaded: {exc}",
                   headers={"Retry-After": str(max(1, math.ceil(delay_s)))})


# path -> (signal, request type, handler method name)
_OTLP_ROUTES: dict[str, tuple[str, type[Message], str]] = {
    "/v1/logs": ("logs", ExportLogsServiceRequest, "logs"),
    "/v1/metrics": ("metrics", ExportMetricsServiceRequest, "metrics"),
    "/v1/traces": ("traces", ExportTraceServiceRequest, "traces"),
}
_LABELS_PATH = "/v1/labels"
_GRPC_CODES = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    404: code_pb2.NOT_FOUND,
    405: code_pb2.UNIMPLEMENTED,
    413: code_pb2.RESOURCE_EXHAUSTED,
    415: code_pb2.INVALID_ARGUMENT,
    503: code_pb2.UNAVAILABLE,
}


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def _cut(conn: socket.socket) -> None:
    """Shut a connection down from another thread; its handler's next read sees end of file."""
    try:
        # the plain socket's shutdown: SSLSocket.shutdown would drop the TLS state under the
        # thread still reading from it
        socket.socket.shutdown(conn, socket.SHUT_RDWR)
    except OSError:
        pass


class _Server(ThreadingHTTPServer):
    """One thread per connection, at most ``max_connections`` of them; TLS handshakes happen in
    that thread, not the accept loop. At most ``max_concurrent`` requests hold a body at once."""

    daemon_threads = True
    allow_reuse_address = True  # TIME_WAIT only: a port with a live listener still fails to bind
    request_queue_size = 128  # listen backlog (socketserver's default of 5 is for toys)

    def __init__(self, address, handler_class, ssl_context: ssl.SSLContext | None,
                 max_concurrent: int, max_connections: int, retry_after_s: int):
        self.ssl_context = ssl_context
        self.max_concurrent = max_concurrent
        self.max_connections = max_connections
        self.retry_after_s = retry_after_s
        self.connections: set[socket.socket] = set()
        #: connections waiting for their next request, longest-waiting first
        self.idle: dict[socket.socket, None] = {}
        self.open = 0  # connections accepted whose thread has not finished
        #: refused connections, half-closed, waiting for their client to close: (deadline, socket)
        self.lingering: collections.deque[tuple[float, socket.socket]] = collections.deque()
        self.reading = 0  # requests holding a slot (reading, decoding, submitting a body)
        self.busy = 0
        self.state_lock = threading.Condition()
        super().__init__(address, handler_class)

    # --- connection cap ----------------------------------------------------------------
    def process_request(self, request, client_address):
        """Runs in the accept loop: admit the connection (closing an idle one at the cap) or
        refuse it, then hand it to a thread of its own."""
        victim = None
        with self.state_lock:
            admit = self.open < self.max_connections
            if not admit and self.idle:
                victim = next(iter(self.idle))
                del self.idle[victim]
                admit = True
            if admit:
                self.open += 1
        if victim is not None:
            _cut(victim)
        if not admit:
            self._refuse_connection(request, client_address)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._connection_done()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connection_done()

    def _connection_done(self) -> None:
        with self.state_lock:
            self.open -= 1

    def _refuse_connection(self, request: socket.socket, client_address) -> None:
        """Answer 503 without a thread and without blocking the accept loop (plain HTTP; a TLS
        connection is just closed). The socket lingers, half-closed, until the client closes
        it or _LINGER_SECONDS pass (see ``service_actions``), so that what the client sends
        meanwhile does not turn into a reset that destroys the answer before it is read."""
        _log.debug("refusing a connection from %s: %d connections open", client_address,
                   self.max_connections)
        if self.ssl_context is not None:
            self.shutdown_request(request)
            return
        body = b"too many connections; retry later\n"
        head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\nRetry-After: {self.retry_after_s}\r\n"
                f"Connection: close\r\n\r\n")
        try:
            request.setblocking(False)
            request.send(head.encode("ascii") + body)
            request.shutdown(socket.SHUT_WR)
        except OSError:
            self.close_request(request)
            return
        self.lingering.append((time.monotonic() + _LINGER_SECONDS, request))
        while len(self.lingering) > _MAX_LINGERING:
            self.close_request(self.lingering.popleft()[1])

    def service_actions(self) -> None:
        """Called by the accept loop about every poll interval: close refused connections whose
        client has closed (or that have lingered long enough), discarding what they sent."""
        now = time.monotonic()
        keep: collections.deque = collections.deque()
        for deadline, sock in self.lingering:
            done = now >= deadline
            try:
                while not done:
                    if not sock.recv(_DISCARD_CHUNK):
                        done = True
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                done = True
            if done:
                self.close_request(sock)
            else:
                keep.append((deadline, sock))
        self.lingering = keep

    def server_close(self) -> None:
        super().server_close()
        while self.lingering:
            self.close_request(self.lingering.popleft()[1])

    def waiting(self, conn: socket.socket, idle: bool) -> bool:
        """Mark ``conn`` idle (waiting for a request) or not; False when it was closed to make
        room for another connection while idle."""
        with self.state_lock:
            if idle:
                self.idle[conn] = None
                return True
            try:
                del self.idle[conn]
            except KeyError:
                return False
            return True

    # --- request slots -----------------------------------------------------------------
    def take_slot(self) -> bool:
        with self.state_lock:
            if self.reading >= self.max_concurrent:
                return False
            self.reading += 1
            return True

    def release_slot(self) -> None:
        with self.state_lock:
            self.reading -= 1

    def finish_request(self, request, client_address):
        conn = request
        if self.ssl_context is not None:
            request.settimeout(_IDLE_TIMEOUT_S)
            try:
                conn = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                _log.debug("TLS handshake with %s failed: %s", client_address, exc)
                return
        with self.state_lock:
            self.connections.add(conn)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            with self.state_lock:
                self.connections.discard(conn)
                self.idle.pop(conn, None)
            if conn is not request:
                try:
                    conn.close()
                except OSError:
                    pass

    def handle_error(self, request, client_address) -> None:
        # a client that resets its connection is routine, not a traceback on stderr
        _log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def begin(self) -> None:
        with self.state_lock:
            self.busy += 1

    def end(self) -> None:
        with self.state_lock:
            self.busy -= 1
            self.state_lock.notify_all()

    def drain(self, grace: float) -> None:
        """Wait up to ``grace`` s for requests in progress, then cut every open connection."""
        deadline = time.monotonic() + grace
        with self.state_lock:
            while self.busy and (left := deadline - time.monotonic()) > 0:
                self.state_lock.wait(left)
            connections = list(self.connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _make_handler(handler: ExportHandler, auth: BearerAuth | None, max_bytes: int,
                  now_ns: Callable[[], int]):
    stats = handler.stats

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "otel-ml-receiver"
        sys_version = ""
        timeout = _IDLE_TIMEOUT_S
        #: bytes of a refused oversized body to read and drop once the answer is sent
        drain_after = 0

        # --- plumbing ----------------------------------------------------------------
        def handle(self):
            """Serve requests while the client keeps the connection; waiting for one, the
            connection is idle and may be closed to make room for a new one."""
            self.close_connection = True
            while self._next_request():
                self.handle_one_request()
                if self.close_connection:
                    break

        def _next_request(self) -> bool:
            self.server.waiting(self.connection, True)
            try:
                arrived = bool(self.rfile.peek(1))
            except OSError:  # timed out or cut
                arrived = False
            return self.server.waiting(self.connection, False) and arrived

        @contextlib.contextmanager
        def _slot(self):
            """Hold one of the server's request slots, or refuse the request with 503."""
            if not self.server.take_slot():
                text = (self.headers.get("Content-Length") or "").strip()
                if text.isdigit():
                    self.drain_after = int(text)
                elif "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    self.drain_after = _DRAIN_LIMIT
                raise _Refused(503, f"processor overloaded: {self.server.max_concurrent} requests "
                               "in progress (receiver.max_concurrent_requests)", REASON_OVERLOADED,
                               {"Retry-After": str(self.server.retry_after_s)}, close=True)
            try:
                yield
            finally:
                self.server.release_slot()

        def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
            _log.debug("%s %s", self.address_string(), format % args)

        def _send(self, status: int, body: bytes, content_type: str,
                  headers: dict[str, str] | None = None, close: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if close or self.close_connection:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)
            if self.drain_after:
                self.wfile.flush()
                self._discard(self.drain_after)
                self.drain_after = 0

        def _send_status(self, status: int, message: str, media: str,
                         headers: dict[str, str] | None = None, close: bool = False) -> None:
            """An error as a google.rpc.Status, encoded like the request (JSON otherwise)."""
            rpc = status_pb2.Status(code=_GRPC_CODES.get(status, code_pb2.UNKNOWN), message=message)
            if media == PROTOBUF:
                self._send(status, rpc.SerializeToString(), PROTOBUF, headers, close)
            else:
                self._send(status, to_otlp_json(rpc), JSON, headers, close)

        def _send_json(self, status: int, doc: dict, headers: dict[str, str] | None = None,
                       close: bool = False) -> None:
            self._send(status, json.dumps(doc).encode("utf-8"), JSON, headers, close)

        def _declared_length(self) -> int | None:
            """Content-Length, or None for a chunked body; refuses oversized and bad values."""
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                return None
            text = self.headers.get("Content-Length")
            if text is None:
                return 0
            try:
                length = int(text)
            except ValueError:
                raise _Refused(400, f"invalid Content-Length {text!r}", REASON_MALFORMED,
                               close=True) from None
            if length < 0:
                raise _Refused(400, f"invalid Content-Length {text!r}", REASON_MALFORMED, close=True)
            if length > max_bytes:
                self.drain_after = length
                raise _Refused(413, f"body of {length} bytes is over the {max_bytes}-byte limit",
                               REASON_TOO_LARGE, close=True)
            return length

        def _discard(self, length: int) -> None:
            """Read and drop part of a refused body, so that a client still sending it gets to
            read our answer instead of a connection reset."""
            left = min(length, _DRAIN_LIMIT)
            deadline = time.monotonic() + _DRAIN_SECONDS
            try:
                self.connection.settimeout(1.0)
                while left > 0 and time.monotonic() < deadline:
                    chunk = self.rfile.read1(min(left, _DISCARD_CHUNK))
                    if not chunk:
                        break
                    left -= len(chunk)
            except OSError:
                pass

        def _read_chunked(self) -> bytes:
            out = bytearray()
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise _Refused(400, "invalid chunked encoding", REASON_MALFORMED, close=True) from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(out)
                if len(out) + size > max_bytes:
                    raise _Refused(413, f"body is over the {max_bytes}-byte limit", REASON_TOO_LARGE,
                                   close=True)
                out += self.rfile.read(size)
                self.rfile.readline(1024)

        def _read_body(self) -> bytes:
            length = self._declared_length()
            body = self._read_chunked() if length is None else self.rfile.read(length)
            if length is not None and len(body) != length:
                raise _Refused(400, "body shorter than Content-Length", REASON_MALFORMED, close=True)
            encoding = (self.headers.get("Content-Encoding") or "identity").strip().lower()
            if encoding == "gzip":
                try:
                    return gunzip_limited(body, max_bytes)
                except PayloadTooLarge as exc:
                    raise _Refused(413, str(exc), REASON_TOO_LARGE) from None
                except MalformedPayload as exc:
                    raise _Refused(400, str(exc), REASON_MALFORMED) from None
            if encoding != "identity":
                raise _Refused(415, f"unsupported Content-Encoding {encoding!r} (use gzip)",
                               REASON_UNSUPPORTED_MEDIA_TYPE)
            return body

        def _skip_body(self) -> None:
            """Consume a small body we refuse early, keeping the connection usable."""
            try:
                length = self._declared_length()
            except _Refused:
                self.close_connection = True
                return
            if length is None:
                self.close_connection = True
                return
            while length > 0:  # in chunks: a refused body is never held in memory
                chunk = self.rfile.read1(min(length, _DISCARD_CHUNK))
                if not chunk:
                    self.close_connection = True
                    return
                length -= len(chunk)

        def handle_expect_100(self) -> bool:
            """Refuse an oversized body before the client sends it (``Expect: 100-continue``)."""
            text = self.headers.get("Content-Length") or ""
            if text.isdigit() and int(text) > max_bytes:
                path = self._route()
                signal = _OTLP_ROUTES[path][0] if path in _OTLP_ROUTES else SIGNAL_LABELS
                stats.rejected(signal, REASON_TOO_LARGE, 1)
                message = f"body of {text} bytes is over the {max_bytes}-byte limit"
                if path in _OTLP_ROUTES:
                    self._send_status(413, message, _media_type(self.headers.get("Content-Type")),
                                      close=True)
                else:
                    self._send_json(413, {"accepted": 0, "rejected": 0, "errors": [message]},
                                    close=True)
                return False
            return super().handle_expect_100()

        def _authorized(self) -> bool:
            return auth is None or auth.check(self.headers.get("Authorization"))

        # --- routing -----------------------------------------------------------------
        def _route(self) -> str | None:
            path = self.path.split("?", 1)[0]
            if path in _OTLP_ROUTES or path == _LABELS_PATH:
                return path
            return None

        def _wrong_method(self) -> None:
            path = self._route()
            media = _media_type(self.headers.get("Content-Type"))
            self._skip_body()
            if path is None:
                self._send_status(404, f"unknown path {self.path}", media)
            else:
                self._send_status(405, f"{self.command} is not allowed on {path}; use POST", media,
                                  {"Allow": "POST"})

        do_GET = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _wrong_method

        def do_HEAD(self):  # noqa: N802 - http.server naming
            self._skip_body()
            self.send_response(404 if self._route() is None else 405)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):  # noqa: N802 - http.server naming
            self.server.begin()
            try:
                path = self._route()
                if path is None:
                    self._skip_body()
                    self._send_status(404, f"unknown path {self.path}",
                                      _media_type(self.headers.get("Content-Type")))
                elif path == _LABELS_PATH:
                    self._labels()
                else:
                    self._otlp(*_OTLP_ROUTES[path])
            finally:
                self.server.end()

        # --- OTLP --------------------------------------------------------------------
        def _otlp(self, signal: str, request_type: type[Message], method: str) -> None:
            media = _media_type(self.headers.get("Content-Type"))
            try:
                if not self._authorized():
                    self._skip_body()
                    raise _Refused(401, "missing or invalid bearer token", REASON_UNAUTHENTICATED,
                                   {"WWW-Authenticate": 'Bearer realm="otel-ml"'})
                if media not in (PROTOBUF, JSON):
                    self._skip_body()
                    raise _Refused(415, f"unsupported Content-Type {media or '(none)'!r}; use "
                                   f"{PROTOBUF} or {JSON}", REASON_UNSUPPORTED_MEDIA_TYPE)
                with self._slot():
                    body = self._read_body()
                    try:
                        if media == PROTOBUF:
                            request = parse_protobuf(body, request_type)
                        else:
                            request = parse_otlp_json(body, request_type)
                    except MalformedPayload as exc:
                        raise _Refused(400, str(exc), REASON_MALFORMED) from None
                    del body
                    try:
                        response = getattr(handler, method)(request)
                    except Overloaded as exc:
                        raise _Refused.overloaded(exc, handler.retry_delay(exc)) from None
            except _Refused as refused:
                if refused.reason:
                    stats.rejected(signal, refused.reason, 1)
                self._send_status(refused.status, refused.message, media, refused.headers,
                                  refused.close)
                return
            if media == PROTOBUF:
                self._send(200, response.SerializeToString(), PROTOBUF)
            else:
                self._send(200, to_otlp_json(response), JSON)

        # --- labels ------------------------------------------------------------------
        def _labels(self) -> None:
            media = _media_type(self.headers.get("Content-Type"))
            try:
                if not self._authorized():
                    self._skip_body()
                    raise _Refused(401, "missing or invalid bearer token", REASON_UNAUTHENTICATED,
                                   {"WWW-Authenticate": 'Bearer realm="otel-ml"'})
                if media != JSON:
                    self._skip_body()
                    raise _Refused(415, f"unsupported Content-Type {media or '(none)'!r}; use {JSON}",
                                   REASON_UNSUPPORTED_MEDIA_TYPE)
                with self._slot():
                    body = self._read_body()
                    try:
                        doc = json.loads(body)
                    except (UnicodeDecodeError, ValueError) as exc:
                        raise _Refused(400, f"invalid JSON: {exc}", REASON_MALFORMED) from None
                    del body
                    result = parse_labels(doc, now_ns())
                    del doc
                items = len(result.events) + result.rejected
                if items:
                    stats.received(SIGNAL_LABELS, EventName.GROUND_TRUTH, items)
                if result.rejected:
                    stats.rejected(SIGNAL_LABELS, REASON_INVALID_EVENT, result.rejected)
                if not result.events:
                    if not items:
                        stats.rejected(SIGNAL_LABELS, REASON_MALFORMED, 1)
                    self._send_json(400, result.response())
                    return
                try:
                    handler.submit(SIGNAL_LABELS, result.events, len(result.events))
                except Overloaded as exc:
                    raise _Refused.overloaded(exc, handler.retry_delay(exc)) from None
            except _Refused as refused:
                if refused.reason:
                    stats.rejected(SIGNAL_LABELS, refused.reason, 1)
                self._send_json(refused.status, {"accepted": 0, "rejected": 0,
                                                 "errors": [refused.message]},
                                refused.headers, refused.close)
                return
            self._send_json(200, result.response())

    return Handler


class HttpReceiver:
    """The OTLP/HTTP server on one port (plain or TLS)."""

    def __init__(self, handler: ExportHandler, auth: BearerAuth | None, max_request_bytes: int,
                 ssl_context: ssl.SSLContext | None = None,
                 now_ns: Callable[[], int] = time.time_ns, *, max_concurrent_requests: int = 16,
                 max_connections: int = 256):
        self._handler_class = _make_handler(handler, auth, max_request_bytes, now_ns)
        self._ssl_context = ssl_context
        self._max_concurrent = max_concurrent_requests
        self._max_connections = max_connections
        #: whole seconds for Retry-After (0 would invite an immediate retry storm)
        self._retry_after_s = max(1, math.ceil(handler.retry_after_s))
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str, port: int) -> int:
        """Bind and serve in a background thread; returns the bound port. Raises OSError."""
        server_class = _Server
        if ":" in host:
            server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
        self._server = server_class((host, port), self._handler_class, self._ssl_context,
                                    self._max_concurrent, self._max_connections, self._retry_after_s)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="otel-ml-otlp-http", daemon=True)
        self._thread.start()
        return self._server.server_address[1]

    @property
    def requests_in_progress(self) -> int:
        """Requests holding a slot now (reading, decoding or submitting a body)."""
        server = self._server
        return 0 if server is None else server.reading

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet finished."""
        server = self._server
        return 0 if server is None else server.open

    @property
    def idle_connections(self) -> int:
        """Open connections waiting for a request (closed first at the connection cap)."""
        server = self._server
        if server is None:
            return 0
        with server.state_lock:
            return len(server.idle)

    def stop(self, grace: float) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.drain(grace)
        if self._thread is not None:
            self._thread.join(timeout=max(grace, 1.0))
