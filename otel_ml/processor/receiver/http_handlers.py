"""OTLP/HTTP requests on aiohttp: routing, auth, media types, bounded body reads and the answers.

Every refusal is answered in the request's content type (a ``google.rpc.Status`` for OTLP, the
labels document for ``/v1/labels``) and counted on the ``ReceiverStats`` with its reason.
Everything runs on the server's event loop; a request holds one of ``max_concurrent`` slots
(``http_slots``) from the moment its body is read until its events are submitted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from typing import Callable, Protocol

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
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
from otel_ml.processor.receiver.http_slots import MIN_HOLD_FRACTION, Slot, Slots
from otel_ml.processor.receiver.anyvalue import ID_TOO_LONG
from otel_ml.processor.receiver.labels_api import parse_labels
from otel_ml.processor.receiver.otlp_json import load_json, parse_otlp_json, to_otlp_json
from otel_ml.processor.receiver.payload import (
    BoundedGunzip,
    MalformedPayload,
    PayloadTooLarge,
    parse_protobuf,
)
from otel_ml.semconv import EventName

__all__ = ["OtlpHttpHandler", "PROTOBUF", "JSON", "REASON_TIMEOUT", "signal_of"]

_log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
#: A request body that did not arrive within ``receiver.body_timeout_s``.
REASON_TIMEOUT = "timeout"

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
    408: code_pb2.DEADLINE_EXCEEDED,
    413: code_pb2.RESOURCE_EXHAUSTED,
    415: code_pb2.INVALID_ARGUMENT,
    503: code_pb2.UNAVAILABLE,
}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Connections(Protocol):
    """What the server tracks per connection: busy with a request, or idle (closable at the cap)."""

    def busy(self, connection: object) -> None: ...

    def idle(self, connection: object) -> None: ...


def signal_of(path: str) -> str | None:
    """The signal a path's requests are counted under, None for unknown paths."""
    if path in _OTLP_ROUTES:
        return _OTLP_ROUTES[path][0]
    return SIGNAL_LABELS if path == _LABELS_PATH else None


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


class _Refused(Exception):
    """Answer with ``status`` and ``message``, counted under ``reason`` when there is one."""

    def __init__(self, status: int, message: str, reason: str | None = None,
                 headers: dict[str, str] | None = None, close: bool = False, abort: bool = False):
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason
        #: ``abort``: close right after the answer, draining nothing (the framing is broken)
        self.headers, self.close, self.abort = headers or {}, close or abort, abort


def _overloaded(exc: Overloaded, delay_s: float) -> _Refused:
    """503 with Retry-After in whole seconds (the sink counts the rejection itself)."""
    return _Refused(503, f"processor overloaded: {exc}",
                    headers={"Retry-After": str(max(1, math.ceil(delay_s)))})


def _status_body(status: int, message: str, media: str) -> tuple[bytes, str]:
    """An error as a google.rpc.Status, encoded like the request (JSON otherwise)."""
    rpc = status_pb2.Status(code=_GRPC_CODES.get(status, code_pb2.UNKNOWN), message=message)
    if media == PROTOBUF:
        return rpc.SerializeToString(), PROTOBUF
    return to_otlp_json(rpc), JSON


class OtlpHttpHandler:
    """The aiohttp request handler for ``/v1/logs|metrics|traces`` and ``/v1/labels``."""

    def __init__(self, handler: ExportHandler, auth: BearerAuth | None, max_bytes: int,
                 now_ns: Callable[[], int], *, max_concurrent: int, retry_after_s: int,
                 body_timeout_s: float, connections: Connections):
        self._handler = handler
        self._stats = handler.stats
        self._auth = auth
        self._max_bytes = max_bytes
        self._now_ns = now_ns
        self._max_concurrent = max_concurrent
        self._retry_after_s = retry_after_s
        self._body_timeout_s = body_timeout_s
        self._connections = connections
        self._slots = Slots(max_concurrent, min_hold_s=MIN_HOLD_FRACTION * body_timeout_s)

    @property
    def reading(self) -> int:
        """Requests holding a slot (reading, decoding or submitting a body)."""
        return self._slots.in_use

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        connection = request.protocol
        self._connections.busy(connection)
        try:
            path = request.path
            if request.method != "POST":
                return self._wrong_method(request, path)
            if path in _OTLP_ROUTES:
                return await self._otlp(request, *_OTLP_ROUTES[path])
            if path == _LABELS_PATH:
                return await self._labels(request)
            body, media = _status_body(404, f"unknown path {path}",
                                       _media_type(request.headers.get("Content-Type")))
            return web.Response(status=404, body=body, content_type=media)
        finally:
            self._connections.idle(connection)

    # --- answers -----------------------------------------------------------------------
    @staticmethod
    async def _answer(request: web.BaseRequest, response: web.Response,
                      refused: _Refused) -> web.Response:
        """``response``; when ``refused.close``, the connection closes after it, once the rest of
        the body is drained (for a short while). An aborted request, or one that still waits for
        ``100 Continue`` (it will send no body), is closed at once instead."""
        if not refused.close:
            return response
        response.force_close()
        if refused.abort or request.headers.get("Expect", "").lower() == "100-continue":
            try:
                await response.prepare(request)
                await response.write_eof()
            except ConnectionError:
                pass  # the client is gone: nobody to answer
            request.protocol.force_close()
        return response

    def _wrong_method(self, request: web.BaseRequest, path: str) -> web.Response:
        known = signal_of(path) is not None
        if request.method == "HEAD":
            return web.Response(status=405 if known else 404)
        media = _media_type(request.headers.get("Content-Type"))
        if not known:
            body, ctype = _status_body(404, f"unknown path {path}", media)
            return web.Response(status=404, body=body, content_type=ctype)
        body, ctype = _status_body(405, f"{request.method} is not allowed on {path}; use POST", media)
        return web.Response(status=405, body=body, content_type=ctype, headers={"Allow": "POST"})

    def _check_auth(self, request: web.BaseRequest) -> None:
        if self._auth is not None and not self._auth.check(request.headers.get("Authorization")):
            raise _Refused(401, "missing or invalid bearer token", REASON_UNAUTHENTICATED,
                           {"WWW-Authenticate": 'Bearer realm="otel-ml"'})

    # --- bodies ------------------------------------------------------------------------
    def _check_body_headers(self, request: web.BaseRequest) -> bool:
        """Refuse an oversized declared length or an unknown encoding; True when gzip."""
        length = request.content_length
        if length is not None and length > self._max_bytes:
            raise _Refused(413, f"body of {length} bytes is over the {self._max_bytes}-byte limit",
                           REASON_TOO_LARGE, close=True)
        encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding not in ("identity", "gzip"):
            raise _Refused(415, f"unsupported Content-Encoding {encoding!r} (use gzip)",
                           REASON_UNSUPPORTED_MEDIA_TYPE)
        return encoding == "gzip"

    def _take_slot(self) -> Slot:
        slot = self._slots.take()
        if slot is None:
            raise _Refused(503, f"processor overloaded: {self._max_concurrent} requests in progress "
                           "(receiver.max_concurrent_requests)", REASON_OVERLOADED,
                           {"Retry-After": str(self._retry_after_s)}, close=True)
        return slot

    async def _read_body(self, request: web.BaseRequest, gzipped: bool, slot: Slot) -> bytes:
        """The whole (inflated) body, bounded in size and in time. It is read by a task of its
        own, which ``Slots`` cancels when a waiting request needs the slot of this slow body."""
        if request.headers.get("Expect", "").lower() == "100-continue":
            await request.writer.write(_CONTINUE)
        slot.reader = asyncio.ensure_future(self._receive(request.content, gzipped, slot))
        try:
            async with asyncio.timeout(self._body_timeout_s):
                return await slot.reader
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not slot.evicted or (task is not None and task.cancelling()):
                raise  # the server is stopping
            elapsed = time.monotonic() - slot.started
            raise _Refused(408, f"request body too slow ({slot.received} bytes in {elapsed:.1f} s) "
                           "while other requests waited for a slot (receiver.max_concurrent_requests)",
                           REASON_TIMEOUT, close=True) from None
        except TimeoutError:
            raise _Refused(408, f"request body not received within {self._body_timeout_s:g} s "
                           "(receiver.body_timeout_s)", REASON_TIMEOUT, close=True) from None
        finally:
            slot.reader.cancel()

    async def _receive(self, content, gzipped: bool, slot: Slot) -> bytes:
        limit = self._max_bytes
        inflater = BoundedGunzip(limit) if gzipped else None
        parts: list[bytes] = []
        try:
            while chunk := await content.readany():
                slot.received += len(chunk)
                if slot.received > limit:
                    raise _Refused(413, f"body is over the {limit}-byte limit", REASON_TOO_LARGE,
                                   close=True)
                if inflater is not None:
                    inflater.feed(chunk)
                else:
                    parts.append(chunk)
            if inflater is not None:
                return inflater.finish()
        except PayloadTooLarge as exc:
            raise _Refused(413, str(exc), REASON_TOO_LARGE, close=True) from None
        except MalformedPayload as exc:
            raise _Refused(400, str(exc), REASON_MALFORMED, close=True) from None
        except (RequestPayloadError, HttpProcessingError) as exc:
            # broken framing (a bad chunk size, a body shorter than Content-Length): aiohttp's
            # parser stops there and the connection cannot be reused
            raise _Refused(400, f"invalid request body: {exc}", REASON_MALFORMED, abort=True) from None
        except ConnectionError:
            # the client closed before the body was complete (shorter than its Content-Length)
            raise _Refused(400, f"connection closed after {slot.received} bytes of the body",
                           REASON_MALFORMED, abort=True) from None
        return parts[0] if len(parts) == 1 else b"".join(parts)

    # --- OTLP --------------------------------------------------------------------------
    async def _otlp(self, request: web.BaseRequest, signal: str, request_type: type[Message],
                    method: str) -> web.Response:
        media = _media_type(request.headers.get("Content-Type"))
        try:
            self._check_auth(request)
            if media not in (PROTOBUF, JSON):
                raise _Refused(415, f"unsupported Content-Type {media or '(none)'!r}; use "
                               f"{PROTOBUF} or {JSON}", REASON_UNSUPPORTED_MEDIA_TYPE)
            gzipped = self._check_body_headers(request)
            slot = self._take_slot()
            try:
                body = await self._read_body(request, gzipped, slot)
                try:
                    if media == PROTOBUF:
                        message = parse_protobuf(body, request_type)
                    else:
                        message = parse_otlp_json(body, request_type)
                except MalformedPayload as exc:
                    raise _Refused(400, str(exc), REASON_MALFORMED) from None
                del body
                try:
                    response = getattr(self._handler, method)(message)
                except Overloaded as exc:
                    raise _overloaded(exc, self._handler.retry_delay(exc)) from None
            finally:
                self._slots.release(slot)
        except _Refused as refused:
            if refused.reason:
                self._stats.rejected(signal, refused.reason, 1)
            body, ctype = _status_body(refused.status, refused.message, media)
            return await self._answer(request, web.Response(
                status=refused.status, body=body, content_type=ctype, headers=refused.headers),
                refused)
        if media == PROTOBUF:
            return web.Response(body=response.SerializeToString(), content_type=PROTOBUF)
        return web.Response(body=to_otlp_json(response), content_type=JSON)

    # --- labels ------------------------------------------------------------------------
    async def _labels(self, request: web.BaseRequest) -> web.Response:
        media = _media_type(request.headers.get("Content-Type"))
        stats = self._stats
        try:
            self._check_auth(request)
            if media != JSON:
                raise _Refused(415, f"unsupported Content-Type {media or '(none)'!r}; use {JSON}",
                               REASON_UNSUPPORTED_MEDIA_TYPE)
            gzipped = self._check_body_headers(request)
            slot = self._take_slot()
            try:
                body = await self._read_body(request, gzipped, slot)
                try:
                    doc = load_json(body)
                except MalformedPayload as exc:
                    raise _Refused(400, str(exc), REASON_MALFORMED) from None
                del body
                result = parse_labels(doc, self._now_ns(), self._handler.max_prediction_id_length)
                del doc
                items = len(result.events) + result.rejected
                if items:
                    stats.received(SIGNAL_LABELS, EventName.GROUND_TRUTH, items)
                if result.id_too_long:
                    stats.rejected(SIGNAL_LABELS, ID_TOO_LONG, result.id_too_long)
                if result.rejected > result.id_too_long:
                    stats.rejected(SIGNAL_LABELS, REASON_INVALID_EVENT, result.rejected - result.id_too_long)
                if not result.events:
                    if not items:
                        stats.rejected(SIGNAL_LABELS, REASON_MALFORMED, 1)
                    return _json_response(400, result.response())
                try:
                    self._handler.submit(SIGNAL_LABELS, result.events, len(result.events))
                except Overloaded as exc:
                    raise _overloaded(exc, self._handler.retry_delay(exc)) from None
            finally:
                self._slots.release(slot)
        except _Refused as refused:
            if refused.reason:
                stats.rejected(SIGNAL_LABELS, refused.reason, 1)
            response = _json_response(refused.status, {"accepted": 0, "rejected": 0,
                                                       "errors": [refused.message]}, refused.headers)
            return await self._answer(request, response, refused)
        return _json_response(200, result.response())


def _json_response(status: int, doc: dict, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(doc).encode("utf-8"), content_type=JSON,
                        headers=headers)
