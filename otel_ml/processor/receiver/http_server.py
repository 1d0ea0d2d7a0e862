"""OTLP/HTTP receiver on aiohttp's server: ``POST /v1/logs|metrics|traces`` and ``/v1/labels``.

aiohttp (a maintained HTTP/1.1 server with the llhttp parser) does the protocol: request
framing, chunked bodies (malformed chunk sizes are a 400), keep-alive, ``Expect``, TLS. What
is ours is in ``http_handlers`` (routing, auth, media types, bounded body reads, answers) and
here: the event loop's thread, and the connection cap.

Memory is bounded by limits rather than by the number of clients: at most
``max_concurrent_requests`` bodies are read and decoded at once (one more is answered 503 +
``Retry-After`` at once, counted as rejected "overloaded"), each body must arrive within
``body_timeout_s`` (else 408, counted "timeout", and its slot is free again), and at most
``max_connections`` connections are open (one more closes the longest-idle keep-alive
connection, or is answered 503 when none is idle, counted "overloaded"). Refused bodies are drained for at most
``_DRAIN_SECONDS`` in small reads, never buffered.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import ssl
import time
from typing import Callable

from aiohttp import web
from aiohttp.web_protocol import RequestHandler, RequestPayloadError

from otel_ml.loop_thread import LoopThread
from otel_ml.processor.receiver.auth import BearerAuth
from otel_ml.processor.receiver.export_handler import REASON_MALFORMED, REASON_OVERLOADED, ExportHandler
from otel_ml.processor.receiver.http_handlers import JSON, PROTOBUF, OtlpHttpHandler, signal_of

__all__ = ["HttpReceiver", "PROTOBUF", "JSON"]

_log = logging.getLogger(__name__)

#: Seconds an idle keep-alive connection is kept open.
_IDLE_TIMEOUT_S = 30.0
#: After refusing a body (413, 503, 408...), read and drop what the client still sends for at
#: most this long, so that it reads our answer instead of a connection reset.
_DRAIN_SECONDS = 2.0
#: A connection refused at the connection cap is closed once its client closes, or after this.
_LINGER_SECONDS = 2.0
#: At most this many refused connections linger; beyond, the oldest is closed at once.
_MAX_LINGERING = 64
#: Bytes aiohttp buffers per connection before it stops reading from the socket.
_READ_BUFSIZE = 1 << 18


class _Protocol(RequestHandler):
    """aiohttp's connection handler; a request its parser refuses (bad request line, headers,
    Content-Length or chunk framing) is answered 400, counted as malformed and logged at DEBUG
    (a hostile client must not be able to fill the log with tracebacks)."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # aiohttp queues a framing error met inside a body as the *next* request and leaves the
        # body being read open, so the handler would wait for its deadline: fail that body now
        request = getattr(self, "_current_request", None)
        messages = getattr(self, "_messages", None)
        if request is not None and messages:
            error = messages[-1][0]
            if getattr(error, "status", None) == 400 and hasattr(error, "exc"):
                request.content.set_exception(RequestPayloadError(error.message))

    def handle_error(self, request, status=500, exc=None, message=None):
        if status != 400 or self._manager is None:
            return super().handle_error(request, status, exc, message)
        # the path is unknown when the request line itself was bad: counted under "http"
        signal = signal_of(getattr(request, "path", "")) or "http"
        self._manager.stats.rejected(signal, REASON_MALFORMED, 1)
        _log.debug("malformed request from %s: %s", request.remote, message or exc)
        if request.writer.output_size > 0:
            raise ConnectionError("the response had started; the connection is broken")
        response = web.Response(status=400, text=f"400 Bad Request\n\n{message or exc}",
                                content_type="text/plain")
        response.force_close()
        return response


class _Server(web.Server):
    """aiohttp's low-level server with a connection cap: at the cap, the longest-idle
    connection makes room, or the new one is answered 503 and closed."""

    def __init__(self, handler: Callable, *, stats, max_connections: int, retry_after_s: int,
                 tls: bool, **kwargs):
        super().__init__(handler, **kwargs)
        self.stats = stats
        self.max_connections = max_connections
        self._retry_after_s = retry_after_s
        self._tls = tls
        self.open: set[RequestHandler] = set()
        #: admitted connections not serving a request, longest-idle first
        self.idle_connections: dict[RequestHandler, None] = {}
        self._lingering: collections.deque[RequestHandler] = collections.deque()

    def __call__(self) -> RequestHandler:
        return _Protocol(self, loop=self._loop, **self._kwargs)

    # --- Connections (what the request handler reports) --------------------------------
    def busy(self, connection) -> None:
        self.idle_connections.pop(connection, None)

    def idle(self, connection) -> None:
        if connection in self.open:
            self.idle_connections[connection] = None

    # --- the cap -----------------------------------------------------------------------
    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        if len(self.open) >= self.max_connections and self.idle_connections:
            victim = next(iter(self.idle_connections))
            self._forget(victim)
            victim.force_close()
        if len(self.open) < self.max_connections:
            self.open.add(handler)
            self.idle_connections[handler] = None
            return
        self._refuse(handler, transport)

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        self._forget(handler)

    def _forget(self, handler: RequestHandler) -> None:
        self.open.discard(handler)
        self.idle_connections.pop(handler, None)

    def _refuse(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        """Answer 503 and half-close (plain HTTP; a TLS connection is just closed). What the
        client sends meanwhile is ignored until it closes, or _LINGER_SECONDS pass, so that
        it does not turn into a reset that destroys the answer before it is read."""
        _log.debug("refusing a connection: %d connections open", len(self.open))
        # what it would have sent is unknown (no request was read): counted under "http"
        self.stats.rejected("http", REASON_OVERLOADED, 1)
        if self._tls or not transport.can_write_eof():
            handler.force_close()
            return
        body = b"too many connections; retry later\n"
        head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\nRetry-After: {self._retry_after_s}\r\n"
                f"Connection: close\r\n\r\n").encode("ascii")
        transport.write(head + body)
        transport.write_eof()
        handler.close()  # ignores what arrives from now on
        self._loop.call_later(_LINGER_SECONDS, handler.force_close)
        self._lingering.append(handler)
        while len(self._lingering) > _MAX_LINGERING:
            self._lingering.popleft().force_close()


class HttpReceiver:
    """The OTLP/HTTP server on one port (plain or TLS), on an event loop in its own thread."""

    def __init__(self, handler: ExportHandler, auth: BearerAuth | None, max_request_bytes: int,
                 ssl_context: ssl.SSLContext | None = None,
                 now_ns: Callable[[], int] = time.time_ns, *, max_concurrent_requests: int = 16,
                 max_connections: int = 256, body_timeout_s: float = 10.0):
        self._export_handler = handler
        self._auth = auth
        self._max_bytes = max_request_bytes
        self._ssl_context = ssl_context
        self._now_ns = now_ns
        self._max_concurrent = max_concurrent_requests
        self._max_connections = max_connections
        self._body_timeout_s = body_timeout_s
        #: whole seconds for Retry-After (0 would invite an immediate retry storm)
        self._retry_after_s = max(1, math.ceil(handler.retry_after_s))
        self._loop = LoopThread("otel-ml-otlp-http")
        self._runner: web.ServerRunner | None = None
        self._site: web.TCPSite | None = None
        self._server: _Server | None = None
        self._requests: OtlpHttpHandler | None = None

    def start(self, host: str, port: int) -> int:
        """Bind and serve in a background thread; returns the bound port. Raises OSError."""
        self._loop.start()
        try:
            return self._loop.run(self._start(host, port))
        except BaseException:
            self._loop.stop()
            raise

    async def _start(self, host: str, port: int) -> int:
        server = _Server(self._handle, stats=self._export_handler.stats,
                         max_connections=self._max_connections, retry_after_s=self._retry_after_s,
                         tls=self._ssl_context is not None, keepalive_timeout=_IDLE_TIMEOUT_S,
                         lingering_time=_DRAIN_SECONDS, read_bufsize=_READ_BUFSIZE,
                         auto_decompress=False, access_log=None)
        self._requests = OtlpHttpHandler(
            self._export_handler, self._auth, self._max_bytes, self._now_ns,
            max_concurrent=self._max_concurrent, retry_after_s=self._retry_after_s,
            body_timeout_s=self._body_timeout_s, connections=server)
        runner = web.ServerRunner(server, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=self._ssl_context, backlog=128,
                           reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._server, self._runner, self._site = server, runner, site
        return runner.addresses[0][1]

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        return await self._requests(request)

    @property
    def requests_in_progress(self) -> int:
        """Requests holding a slot now (reading, decoding or submitting a body)."""
        return 0 if self._requests is None else self._requests.reading

    @property
    def open_connections(self) -> int:
        """Connections admitted and not yet closed."""
        return 0 if self._server is None else len(self._server.open)

    @property
    def idle_connections(self) -> int:
        """Open connections waiting for a request (closed first at the connection cap)."""
        return 0 if self._server is None else len(self._server.idle_connections)

    def stop(self, grace: float) -> None:
        """Stop accepting, let requests in progress finish for up to ``grace`` s, close the rest."""
        runner = self._runner
        self._runner = None
        if not self._loop.running:
            return
        if runner is not None:
            try:
                self._loop.run(self._shutdown(runner, grace), timeout=grace + 5.0)
            except Exception:  # noqa: BLE001 - stopping must not fail the caller's shutdown
                _log.debug("stopping the OTLP/HTTP server", exc_info=True)
        self._loop.stop()

    async def _shutdown(self, runner: web.ServerRunner, grace: float) -> None:
        """Close the listener, finish requests in progress for up to ``grace`` s, close all."""
        if self._site is not None:
            await self._site.stop()
        server = self._server
        if server is not None:
            server.pre_shutdown()
            await server.shutdown(grace)
        await runner.cleanup()
        # connections still draining a refused body or lingering: end their tasks here, so
        # that none is left pending when the loop stops
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
