"""OTLP/gRPC receiver: the collector ``LogsService``, ``MetricsService`` and ``TraceService``.

Requests arrive as raw bytes and are parsed here, so a malformed payload is answered
INVALID_ARGUMENT (grpcio's own deserializer would say INTERNAL). A full ingest queue is
answered UNAVAILABLE with a ``google.rpc.RetryInfo`` in the trailing metadata
``google.rpc.retryinfo-bin``, which OTLP exporters honour as their back-off.

Size: ``receiver.max_request_bytes`` is enforced here, in the handler, so an oversized request
is answered RESOURCE_EXHAUSTED and counted (reason ``too_large``) like over HTTP. The transport
limit is set a little above it (``transport_limit``); only a message past that one is refused
by gRPC itself before any handler runs, uncounted.
"""

from __future__ import annotations

import errno
import logging
import socket
from concurrent import futures
from typing import Callable

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from otel_ml.errors import UserError
from otel_ml.processor.contracts import Overloaded
from otel_ml.processor.receiver.auth import BearerAuth
from otel_ml.processor.receiver.export_handler import (
    REASON_MALFORMED,
    REASON_TOO_LARGE,
    REASON_UNAUTHENTICATED,
    SIGNAL_LOGS,
    SIGNAL_METRICS,
    SIGNAL_TRACES,
    ExportHandler,
)
from otel_ml.processor.receiver.payload import MalformedPayload, parse_protobuf

__all__ = ["GrpcReceiver", "GrpcBindError", "RETRY_INFO_KEY", "retry_info_bytes", "transport_limit"]

_log = logging.getLogger(__name__)

RETRY_INFO_KEY = "google.rpc.retryinfo-bin"
_WORKERS = 8
_MAX_MESSAGE_BYTES = 2**31 - 1


class GrpcBindError(UserError):
    """The OTLP/gRPC receiver cannot listen: unresolvable host, port in use, address not local."""


def transport_limit(max_request_bytes: int) -> int:
    """gRPC's own receive limit: an eighth (at least 1 MiB) above the limit the handler enforces,
    so requests a little over it reach the handler and are answered and counted there."""
    return min(max_request_bytes + max(max_request_bytes // 8, 1 << 20), _MAX_MESSAGE_BYTES)


def _check_bindable(host: str, port: int) -> None:
    """Resolve ``host`` and try the port with a plain socket first, so the error names the cause
    (and gRPC core does not log its own raw bind failure)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise GrpcBindError(f"cannot listen for OTLP/gRPC: cannot resolve host {host!r} "
                            f"({exc.strerror})") from None
    if port == 0:
        return
    failures = []
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC does
            try:
                probe.bind(address)
            except OSError as exc:
                failures.append(exc)
                continue
        return  # one usable address is enough for gRPC (it binds every resolved one it can)
    if any(exc.errno == errno.EADDRINUSE for exc in failures):
        raise GrpcBindError(f"cannot listen for OTLP/gRPC on {host}:{port}: port {port} is already "
                            f"in use")
    detail = failures[0].strerror if failures else "no address"
    raise GrpcBindError(f"cannot listen for OTLP/gRPC on {host}:{port}: {detail} "
                        f"(is {host} an address of this host?)")


def retry_info_bytes(delay_s: float) -> bytes:
    """A serialized ``google.rpc.RetryInfo`` asking the client to wait ``delay_s`` seconds."""
    seconds = int(delay_s)
    nanos = int(round((delay_s - seconds) * 1e9))
    return RetryInfo(retry_delay=Duration(seconds=seconds, nanos=nanos)).SerializeToString()


def _service(module, name: str) -> str:
    return module.DESCRIPTOR.services_by_name[name].full_name


class GrpcReceiver:
    """The OTLP/gRPC server (plain or TLS) on one port."""

    def __init__(self, handler: ExportHandler, auth: BearerAuth | None, max_request_bytes: int,
                 credentials: grpc.ServerCredentials | None = None):
        self._handler = handler
        self._auth = auth
        self._max_bytes = max_request_bytes
        self._credentials = credentials
        self._server: grpc.Server | None = None

    def _method(self, signal: str, request_type: type[Message],
                handle: Callable[[Message], Message]) -> grpc.RpcMethodHandler:
        stats = self._handler.stats
        auth = self._auth
        handler = self._handler
        max_bytes = self._max_bytes

        def export(raw: bytes, context: grpc.ServicerContext) -> Message:
            if auth is not None:
                header = next((v for k, v in context.invocation_metadata() if k == "authorization"), None)
                if not auth.check(header if isinstance(header, str) else None):
                    stats.rejected(signal, REASON_UNAUTHENTICATED, 1)
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
            if len(raw) > max_bytes:
                stats.rejected(signal, REASON_TOO_LARGE, 1)
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                              f"request of {len(raw)} bytes is over receiver.max_request_bytes "
                              f"({max_bytes}); send smaller batches")
            try:
                request = parse_protobuf(raw, request_type)
            except MalformedPayload as exc:
                stats.rejected(signal, REASON_MALFORMED, 1)
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            try:
                return handle(request)
            except Overloaded as exc:
                context.set_trailing_metadata(((RETRY_INFO_KEY, retry_info_bytes(handler.retry_delay(exc))),))
                context.abort(grpc.StatusCode.UNAVAILABLE, f"processor overloaded: {exc}")

        return grpc.unary_unary_rpc_method_handler(
            export, request_deserializer=None, response_serializer=lambda m: m.SerializeToString())

    def start(self, host: str, port: int) -> int:
        """Bind and serve; returns the bound port. Raises ``GrpcBindError`` when binding fails."""
        _check_bindable(host, port)
        h = self._handler
        handlers = [
            grpc.method_handlers_generic_handler(
                _service(logs_service_pb2, "LogsService"),
                {"Export": self._method(SIGNAL_LOGS, logs_service_pb2.ExportLogsServiceRequest, h.logs)}),
            grpc.method_handlers_generic_handler(
                _service(metrics_service_pb2, "MetricsService"),
                {"Export": self._method(SIGNAL_METRICS, metrics_service_pb2.ExportMetricsServiceRequest,
                                        h.metrics)}),
            grpc.method_handlers_generic_handler(
                _service(trace_service_pb2, "TraceService"),
                {"Export": self._method(SIGNAL_TRACES, trace_service_pb2.ExportTraceServiceRequest,
                                        h.traces)}),
        ]
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="otel-ml-otlp-grpc"),
            handlers=handlers,
            options=[
                ("grpc.max_receive_message_length", transport_limit(self._max_bytes)),
                # without this a second process could bind the same port and steal traffic
                ("grpc.so_reuseport", 0),
            ],
        )
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            if self._credentials is None:
                bound = server.add_insecure_port(address)
            else:
                bound = server.add_secure_port(address, self._credentials)
        except RuntimeError as exc:  # newer grpcio raises instead of returning 0
            raise GrpcBindError(f"cannot listen for OTLP/gRPC on {address}: {exc}") from None
        if not bound:
            raise GrpcBindError(f"cannot listen for OTLP/gRPC on {address}: the port is in use or "
                                f"the address is not available")
        server.start()
        self._server = server
        return bound

    def stop(self, grace: float) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace).wait(grace + 1.0)
