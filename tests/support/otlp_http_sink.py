"""A minimal OTLP/HTTP receiver for tests: decodes protobuf exports and answers like a collector.

POST /v1/traces, /v1/metrics, /v1/logs with ``application/x-protobuf`` (gzip or not) are parsed
into the opentelemetry-proto request messages and kept; the answer is the matching empty
Export*ServiceResponse (full success). Anything else gets 404 / 400 / 415.
"""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

_SIGNALS = {
    "/v1/traces": (trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse),
    "/v1/metrics": (metrics_service_pb2.ExportMetricsServiceRequest,
                    metrics_service_pb2.ExportMetricsServiceResponse),
    "/v1/logs": (logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse),
}


def any_value(value):
    """An OTLP AnyValue as a Python value (maps -> dict, arrays -> list, empty -> None)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    return getattr(value, kind)


def attributes(kvs) -> dict:
    return {kv.key: any_value(kv.value) for kv in kvs}


class OtlpHttpSink:
    """Records decoded OTLP/HTTP export requests; use as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.requests: dict[str, list] = {path: [] for path in _SIGNALS}
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                signal = _SIGNALS.get(self.path)
                if signal is None:
                    return self._answer(404, b"", "text/plain")
                if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/x-protobuf":
                    return self._answer(415, b"", "text/plain")
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request_type, response_type = signal
                message = request_type()
                try:
                    message.ParseFromString(body)
                except DecodeError:
                    return self._answer(400, b"", "text/plain")
                with sink._lock:
                    sink.requests[self.path].append(message)
                self._answer(200, response_type().SerializeToString(), "application/x-protobuf")

            def _answer(self, status: int, payload: bytes, content_type: str):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- decoded views ------------------------------------------------------------------
    def spans(self) -> list:
        with self._lock:
            reqs = list(self.requests["/v1/traces"])
        return [span for req in reqs for rs in req.resource_spans for ss in rs.scope_spans for span in ss.spans]

    def metrics(self) -> list:
        """Every Metric message received (one per export per instrument)."""
        with self._lock:
            reqs = list(self.requests["/v1/metrics"])
        return [m for req in reqs for rm in req.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]

    def metric_names(self) -> set[str]:
        return {m.name for m in self.metrics()}

    def log_records(self) -> list:
        with self._lock:
            reqs = list(self.requests["/v1/logs"])
        return [r for req in reqs for rl in req.resource_logs for sl in rl.scope_logs for r in sl.log_records]

    def resources(self, path: str = "/v1/traces") -> list[dict]:
        with self._lock:
            reqs = list(self.requests[path])
        field = {"/v1/traces": "resource_spans", "/v1/metrics": "resource_metrics", "/v1/logs": "resource_logs"}[path]
        return [attributes(r.resource.attributes) for req in reqs for r in getattr(req, field)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "OtlpHttpSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
