"""OTLP/gRPC receiver: the collector ``LogsService``, ``MetricsService`` and ``TraceService``.

Requests arrive as raw bytes and are parsed here, so a malformed payload is answered
INVALID_ARGUMENT (grpcio's own deserializer would say INTERNAL). A full ingest queue is
answered UNAVAILABLE with a ``google.rpc.RetryInfo`` in the trailing metadata
``google.rpc.retryinfo-bin``, which OTLP exporters honour as their back-off.
"""

from __future__ import annotations

import logging
from concurrent import futures
from typing import Callable

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from otel_ml.processor.contracts import Overloaded
from otel_ml.processor.receiver.auth import BearerAuth
from otel_ml.processor.receiver.export_handler import (
    REASON_MALFORMED,
    REASON_UNAUTHENTICATED,
    SIGNAL_LOGS,
    SIGNAL_METRICS,
    SIGNAL_TRACES,
    ExportHandler,
)
from otel_ml.processor.receiver.payload import MalformedPayload, parse_protobuf

__all__ = ["GrpcReceiver", "RETRY_INFO_KEY", "retry_info_bytes"]

_log = logging.getLogger(__name__)

RETRY_INFO_KEY = "google.rpc.retryinfo-bin"
_WORKERS = 8


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

        def export(raw: bytes, context: grpc.ServicerContext) -> Message:
            if auth is not None:
                header = next((v for k, v in context.invocation_metadata() if k == "authorization"), None)
                if not auth.check(header if isinstance(header, str) else None):
                    stats.rejected(signal, REASON_UNAUTHENTICATED, 1)
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
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
        """Bind and serve; returns the bound port. Raises RuntimeError when binding fails."""
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
                ("grpc.max_receive_message_length", self._max_bytes),
                # without this a second process could bind the same port and steal traffic
                ("grpc.so_reuseport", 0),
            ],
        )
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if self._credentials is None:
            bound = server.add_insecure_port(address)
        else:
            bound = server.add_secure_port(address, self._credentials)
        if not bound:
            raise RuntimeError(f"failed to bind {address}")
        server.start()
        self._server = server
        return bound

    def stop(self, grace: float) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace).wait(grace + 1.0)
