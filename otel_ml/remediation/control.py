"""In-app routing control: ``RoutingClient`` tells the model wrapper which variant to serve.

Pull, not push: a background thread polls ``GET /v1/routing`` on ``otel-ml remediate`` every
``interval_s`` (with jitter, ``If-None-Match`` so an unchanged answer is a bodiless 304).
Pulling needs no listening port in the serving app and survives restarts of either side.
When the service is unreachable or answers garbage, the client keeps its last known routing
and counts the failure (``ml.routing.fetch_failures`` by ``error.type``); before the first
successful fetch every model serves its primary. (The wrapper, not this client, reports the
active variant as ``ml.routing.active`` and on every span and metric as ``ml.variant``.)

Usage::

    router = RoutingClient("http://otel-ml-remediate:9095", token=os.environ["OTEL_ML_REMEDIATE_ROUTING_TOKEN"])
    router.start()
    model = InstrumentedModel(clf, name="iris", version="3", fallback=Variant(rules, "1"), router=router)

Depends on the standard library and ``opentelemetry-api`` only: it runs inside the serving app.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from opentelemetry import metrics
from opentelemetry.metrics import Meter

from otel_ml import semconv
from otel_ml.errors import ConfigError
from otel_ml.semconv_instruments import create_instrument
from otel_ml.version import __version__

__all__ = ["RoutingClient", "ROUTING_PATH"]

_log = logging.getLogger(__name__)
ROUTING_PATH = "/v1/routing"
_VARIANTS = (semconv.VARIANT_PRIMARY, semconv.VARIANT_FALLBACK, semconv.VARIANT_PREVIOUS)
_MAX_MODELS = 1000
_MAX_BODY = 4 * 1024 * 1024


class _InvalidRouting(ValueError):
    pass


def _parse(body: bytes) -> dict[str, str]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _InvalidRouting(f"not JSON: {exc}") from None
    models = doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(models, dict):
        raise _InvalidRouting("no 'models' object")
    routing = {}
    for name, entry in models.items():
        variant = entry.get("variant") if isinstance(entry, dict) else None
        if variant not in _VARIANTS:
            raise _InvalidRouting(f"model {name!r}: unknown variant {variant!r}")
        routing[name] = variant
    if len(routing) > _MAX_MODELS:
        raise _InvalidRouting(f"more than {_MAX_MODELS} models")
    return routing


class RoutingClient:
    """Implements ``variant_for(model_name)`` for ``InstrumentedModel(router=...)``."""

    def __init__(self, url: str, *, interval_s: float = 2.0, timeout_s: float = 1.0,
                 token: str | None = None, meter: Meter | None = None):
        parsed = urllib.parse.urlsplit(url or "")
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError("url", f"{url!r} is not an http:// or https:// URL of otel-ml remediate")
        if isinstance(interval_s, bool) or not isinstance(interval_s, (int, float)) or not interval_s > 0:
            raise ConfigError("interval_s", "must be a positive number of seconds")
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
            raise ConfigError("timeout_s", "must be a positive number of seconds")
        if token is not None and (not isinstance(token, str) or not token.strip()):
            raise ConfigError("token", "must be a non-empty string when given")
        path = parsed.path.rstrip("/")
        if not path.endswith(ROUTING_PATH):
            path += ROUTING_PATH
        self.url = urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, "", ""))
        self.interval_s = float(interval_s)
        self.timeout_s = float(timeout_s)
        self._token = token.strip() if token else None
        self._lock = threading.Lock()
        self._routing: dict[str, str] = {}
        self._etag: str | None = None
        self._last_success: float | None = None
        self._failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Direct connection: an app's outbound proxy settings must not reroute this control call.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        meter = meter or metrics.get_meter(semconv.INSTRUMENTATION_SCOPE, __version__,
                                           schema_url=semconv.SCHEMA_URL)
        self._failures = create_instrument(meter, semconv.Metric.ROUTING_FETCH_FAILURES)

    # --- the router protocol ----------------------------------------------------------
    def variant_for(self, model_name: str) -> str:
        """The variant ``model_name`` should serve now (``primary`` when nothing else is asked).

        Called on every inference, so lock-free: ``_routing`` is replaced whole, never mutated.
        """
        return self._routing.get(model_name, semconv.VARIANT_PRIMARY)

    @property
    def routing(self) -> dict[str, str]:
        """Last known routing (models not listed serve their primary)."""
        return dict(self._routing)

    @property
    def last_success(self) -> float | None:
        """``time.time()`` of the last successful fetch, ``None`` before the first."""
        return self._last_success

    # --- fetching ---------------------------------------------------------------------
    def refresh(self) -> bool:
        """Fetch once now; True on success. On failure the last known routing stays."""
        req = urllib.request.Request(self.url, headers={
            "Accept": "application/json", "User-Agent": f"otel-ml-routing-client/{__version__}"})
        if self._token:
            req.add_header("Authorization", f"Bearer {self._token}")
        if self._etag:
            req.add_header("If-None-Match", self._etag)
        try:
            with self._opener.open(req, timeout=self.timeout_s) as resp:
                etag = resp.headers.get("ETag")
                body = resp.read(_MAX_BODY + 1)
            if len(body) > _MAX_BODY:
                raise _InvalidRouting("response too large")
            routing = _parse(body)
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                return self._succeeded(None, self._etag)
            return self._failed(str(exc.code), exc)
        except _InvalidRouting as exc:
            return self._failed("invalid_response", exc)
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            kind = "timeout" if isinstance(exc, TimeoutError) or isinstance(reason, TimeoutError) \
                else "connection_error"
            return self._failed(kind, exc)
        return self._succeeded(routing, etag)

    def _succeeded(self, routing: dict[str, str] | None, etag: str | None) -> bool:
        with self._lock:
            if routing is not None:
                changed = {m: v for m, v in routing.items() if self._routing.get(m) != v}
                gone = [m for m in self._routing if m not in routing]
                self._routing = routing
                if changed or gone:
                    _log.info("otel_ml routing changed: %s%s", changed,
                              f"; back to primary: {gone}" if gone else "")
            self._etag = etag
            self._last_success = time.time()
            if self._failing:
                _log.info("otel_ml routing: %s reachable again", self.url)
            self._failing = False
        return True

    def _failed(self, error_type: str, exc: BaseException) -> bool:
        self._failures.add(1, {semconv.Attr.ERROR_TYPE: error_type})
        with self._lock:
            level = logging.DEBUG if self._failing else logging.WARNING
            self._failing = True
        _log.log(level, "otel_ml routing: fetching %s failed (%s: %s); keeping the last known routing",
                 self.url, error_type, exc)
        return False

    # --- lifecycle --------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            # the product's poll interval, with +-10% jitter so many replicas do not poll in step
            self._stop.wait(self.interval_s * random.uniform(0.9, 1.1))

    def start(self) -> "RoutingClient":
        """Start polling in a daemon thread (first fetch right away). Idempotent."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="otel-ml-routing-client", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop polling; the last known routing stays readable. Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout_s + 1.0 if timeout is None else timeout)
            self._thread = None

    def __enter__(self) -> "RoutingClient":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
