"""The one set-up of "MeterProvider + Prometheus reader + /metrics server", shared by
``otel_ml.configure()`` (the app), the processor's export and the remediation service.

``PrometheusEndpoint`` is a private ``CollectorRegistry`` (never the process-global one, so
several services in one process never mix their series) with the ``PrometheusMetricReader``
that fills it; ``serve()`` puts it on ``http://host:port/metrics``, on one of two servers:
``AIOHTTP`` (``metrics_server.MetricsServer``: one event loop, optional bearer token and TLS; the
``[processor]`` extra, used by the processor) or ``STDLIB`` (prometheus_client's threaded
server, no token or TLS; all the ``[sdk]`` extra has, used by ``configure()`` and the remediation
service). ``meter_provider()`` builds the provider on its reader and any push readers. Nothing
here reads configuration.
"""

from __future__ import annotations

import ssl
import threading
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from otel_ml.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource

    from otel_ml.metrics_server import Authorizer

__all__ = ["PrometheusEndpoint", "meter_provider", "AIOHTTP", "STDLIB"]

AIOHTTP, STDLIB = "aiohttp", "prometheus_client"


class PrometheusEndpoint:
    """A private registry, its Prometheus reader, and (after ``serve()``) the server of both.

    ``cardinality_limits`` (instrument class -> series) is passed to the reader as the SDK's
    ``MetricReader`` takes it. Raises ImportError when the Prometheus exporter is missing.
    """

    def __init__(self, cardinality_limits: Mapping[type, int] | None = None):
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry(auto_describe=True)
        kwargs = {"cardinality_limits": dict(cardinality_limits)} if cardinality_limits else {}
        self.reader = PrometheusMetricReader(registry=self.registry, **kwargs)
        self.port: int | None = None
        self.tls = False
        self._stop: Any = None

    def serve(self, host: str, port: int, *, what: str, server: str = AIOHTTP, auth: Authorizer | None = None,
              ssl_context: ssl.SSLContext | None = None) -> int:
        """Serve the registry on ``host:port`` (port 0 picks a free one) with ``server``; returns
        the bound port. ``auth`` and ``ssl_context`` need the AIOHTTP server.

        A port that cannot be bound is a UserError ``"{what}: cannot listen on host:port: reason"``.
        Already serving: the bound port, nothing else happens.
        """
        if self._stop is not None:
            return self.port
        if server not in (AIOHTTP, STDLIB) or (server == STDLIB and (auth or ssl_context)):
            raise ValueError(f"server={server!r}: use {AIOHTTP!r} (token and TLS allowed) or {STDLIB!r}")
        try:
            if server == STDLIB:
                self.port, self._stop = _serve_stdlib(self.registry, host, port)
            else:
                self.port, self._stop = _serve_aiohttp(self.registry, host, port, auth, ssl_context)
        except OSError as exc:
            raise UserError(f"{what}: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self.tls = ssl_context is not None
        return self.port

    def close(self) -> None:
        """Stop serving (idempotent); the reader stays with its provider, which the caller shuts down."""
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()


def meter_provider(resource: Resource, readers: Iterable[Any]) -> MeterProvider:
    """An SDK MeterProvider with ``resource`` and ``readers`` (Prometheus and push readers alike)."""
    from opentelemetry.sdk.metrics import MeterProvider

    return MeterProvider(resource=resource, metric_readers=list(readers))


def _serve_stdlib(registry: Any, host: str, port: int) -> tuple[int, Any]:
    """prometheus_client's threaded HTTP server (standard library only)."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=host, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        if isinstance(thread, threading.Thread):
            thread.join(timeout=5)
    return server.server_address[1], stop


def _serve_aiohttp(registry: Any, host: str, port: int, auth: Authorizer | None,
                   ssl_context: ssl.SSLContext | None) -> tuple[int, Any]:
    """The aiohttp server (optional bearer token and TLS)."""
    from otel_ml.metrics_server import MetricsServer

    server = MetricsServer(registry, auth, ssl_context)
    return server.start(host, port), server.stop
