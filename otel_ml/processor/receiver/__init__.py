"""The processor's OTLP receivers (P1): OTLP/gRPC and OTLP/HTTP (+ ``POST /v1/labels``).

Usage::

    receivers = Receivers(ReceiverSettings(grpc_endpoint="127.0.0.1:4317"), sink, stats)
    receivers.start()          # binds both ports (0 picks a free one: see grpc_port/http_port)
    ...
    receivers.stop()

Decoded events go to the ``EventSink`` (one ``submit`` per request); self-metrics go to the
``ReceiverStats``. The receivers know nothing else about the processor.
"""

from __future__ import annotations

import ssl

import grpc

from otel_ml.errors import UserError
from otel_ml.processor.contracts import EventSink, ReceiverStats
from otel_ml.processor.receiver.auth import BearerAuth, server_tls_context
from otel_ml.processor.receiver.decode import DecodeResult, decode_logs
from otel_ml.processor.receiver.export_handler import ExportHandler
from otel_ml.processor.receiver.grpc_server import GrpcReceiver
from otel_ml.processor.receiver.http_server import HttpReceiver
from otel_ml.processor.receiver.settings import ReceiverSettings, parse_endpoint

__all__ = ["Receivers", "ReceiverSettings", "DecodeResult", "decode_logs"]


def _read(path: str, key: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise UserError(f"receiver.{key}: cannot read {path}: {exc}") from exc


class Receivers:
    """Starts and stops the gRPC and HTTP receivers configured in ``settings``."""

    def __init__(self, settings: ReceiverSettings, sink: EventSink, stats: ReceiverStats):
        self.settings = settings
        self._sink = sink
        self._stats = stats
        self._grpc: GrpcReceiver | None = None
        self._http: HttpReceiver | None = None
        self.grpc_port: int | None = None
        self.http_port: int | None = None

    def _tls(self) -> tuple[ssl.SSLContext | None, grpc.ServerCredentials | None]:
        s = self.settings
        if not s.tls_enabled:
            return None, None
        context = server_tls_context(s.tls_cert_file, s.tls_key_file, "receiver.tls_cert_file")
        credentials = grpc.ssl_server_credentials(
            [(_read(s.tls_key_file, "tls_key_file"), _read(s.tls_cert_file, "tls_cert_file"))])
        return context, credentials

    def start(self) -> None:
        """Bind both endpoints; a taken port or unusable address raises ``UserError``."""
        if self._grpc is not None or self._http is not None:
            raise UserError("receivers already started")
        s = self.settings
        token = s.token()
        auth = BearerAuth(token) if token else None
        ssl_context, credentials = self._tls()
        handler = ExportHandler(self._sink, self._stats, merge=s.merge_events,
                                retry_after_s=s.retry_after_s,
                                max_prediction_id_length=s.max_prediction_id_length)
        try:
            if s.grpc_endpoint:
                host, port = parse_endpoint(s.grpc_endpoint, "receiver.grpc_endpoint")
                receiver = GrpcReceiver(handler, auth, s.max_request_bytes, credentials)
                self.grpc_port = receiver.start(host, port)  # GrpcBindError names the cause
                self._grpc = receiver
            if s.http_endpoint:
                host, port = parse_endpoint(s.http_endpoint, "receiver.http_endpoint")
                receiver_http = HttpReceiver(handler, auth, s.max_request_bytes, ssl_context,
                                             max_concurrent_requests=s.max_concurrent_requests,
                                             max_connections=s.max_connections,
                                             body_timeout_s=s.body_timeout_s)
                try:
                    self.http_port = receiver_http.start(host, port)
                except OSError as exc:
                    raise UserError(f"cannot listen for OTLP/HTTP on {s.http_endpoint}: "
                                    f"{exc.strerror or exc}") from exc
                self._http = receiver_http
        except BaseException:
            self.stop(grace=0)
            raise

    def stop(self, grace: float = 2.0) -> None:
        """Stop accepting, let requests in progress finish for up to ``grace`` s. Idempotent."""
        grpc_receiver, self._grpc = self._grpc, None
        http_receiver, self._http = self._http, None
        if http_receiver is not None:
            http_receiver.stop(grace)
        if grpc_receiver is not None:
            grpc_receiver.stop(grace)

    def __enter__(self) -> "Receivers":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
