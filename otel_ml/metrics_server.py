"""A Prometheus ``/metrics`` endpoint on aiohttp, with an optional bearer token and TLS.

prometheus_client's own ``start_http_server`` has no token, and Prometheus scrapes with
``authorization.credentials_file`` and ``tls_config``; so the exposition text comes from
prometheus_client (content negotiation, ``name[]`` filters) and the serving from aiohttp, on an
event loop in its own thread. ``telemetry_setup.PrometheusEndpoint`` picks this server when a
token or TLS is asked for (the processor's ``export.metrics_*`` settings); needs aiohttp.
"""

from __future__ import annotations

import logging
import ssl
from typing import Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from otel_ml.loop_thread import LoopThread

__all__ = ["MetricsServer", "Authorizer"]

_log = logging.getLogger(__name__)


class Authorizer(Protocol):
    """Checks an ``Authorization`` header (``processor.receiver.auth.BearerAuth`` is one)."""

    def check(self, header: str | None) -> bool: ...


class MetricsServer:
    """``GET /metrics`` (and ``/``) of one registry; 401 without the token when one is set."""

    def __init__(self, registry: CollectorRegistry, auth: Authorizer | None = None,
                 ssl_context: ssl.SSLContext | None = None):
        self._registry = registry
        self._auth = auth
        self._ssl_context = ssl_context
        self._loop = LoopThread("otel-ml-metrics")
        self._runner: web.AppRunner | None = None

    @property
    def tls(self) -> bool:
        return self._ssl_context is not None

    def start(self, host: str, port: int) -> int:
        """Bind and serve in a background thread; returns the bound port. Raises OSError."""
        self._loop.start()
        try:
            return self._loop.run(self._start(host, port))
        except BaseException:
            self._loop.stop()
            raise

    async def _start(self, host: str, port: int) -> int:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/", self._metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=self._ssl_context, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        return runner.addresses[0][1]

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        if self._auth is not None and not self._auth.check(request.headers.get("Authorization")):
            return web.Response(status=401, text="missing or invalid bearer token\n",
                                headers={"WWW-Authenticate": 'Bearer realm="otel-ml"'})
        registry = self._registry
        names = request.query.getall("name[]", [])
        if names:
            registry = registry.restricted_registry(names)
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        response = web.Response(body=encoder(registry), headers={"Content-Type": content_type})
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            response.enable_compression()
        return response

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving (scrapes in progress get ``timeout`` s); idempotent."""
        runner = self._runner
        self._runner = None
        if not self._loop.running:
            return
        if runner is not None:
            try:
                self._loop.run(runner.cleanup(), timeout=timeout + 2.0)
            except Exception:  # noqa: BLE001 - stopping must not fail the caller's shutdown
                _log.debug("stopping the metrics endpoint", exc_info=True)
        self._loop.stop()
