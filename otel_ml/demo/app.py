"""The demo's serving app: the instrumented model under synthetic traffic, with delayed labels.

``DemoApp`` sets up its own OTel SDK (never the global one): OTLP to the processor (or a
Collector) for inference and ground-truth events, a Prometheus endpoint for the RED metrics.
The model is an ``InstrumentedModel`` whose ``RoutingClient`` pulls routing from
``otel-ml remediate``, so a remediation shows up as ``ml.variant="fallback"`` on the metrics.

One traffic thread sends ``rate`` requests per second (batches of 1 to 8 rows drawn by the
``TrafficGenerator`` for the current phase) and, ``label_delay_s`` later, reports the ground truth
of a ``label_share`` of the predictions in one columnar call, as a labelling pipeline would.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from otel_ml.demo.model import FALLBACK_VERSION, MODEL_NAME, PRIMARY_VERSION, DemoModels
from otel_ml.demo.scenario import Phase, Scenario, TrafficGenerator
from otel_ml.errors import ConfigError, InvalidTelemetryError
from otel_ml.semconv import INSTRUMENTATION_SCOPE, SCHEMA_URL
from otel_ml.version import __version__

__all__ = ["AppSettings", "DemoApp", "TrafficTotals", "MAX_BATCH"]

_log = logging.getLogger(__name__)
#: Rows per request are drawn uniformly from 1..MAX_BATCH.
MAX_BATCH = 8
#: Labels are sent at most this often (one columnar event per flush).
_LABEL_FLUSH_S = 0.5


@dataclass(frozen=True)
class AppSettings:
    """How the demo app runs; validated on construction."""

    otlp_endpoint: str  # URL of an OTLP receiver (the processor, or a Collector)
    otlp_protocol: str = "grpc"
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0  # 0: a free port
    routing_url: str | None = None  # otel-ml remediate; None: always the primary
    routing_token: str | None = None
    routing_interval_s: float = 1.0
    rate: float = 25.0  # requests per second
    label_delay_s: float = 2.0
    label_share: float = 0.9
    traces: bool = False  # the embedded demo has no trace store
    export_interval_ms: int = 10_000
    service_name: str = "example-app"
    seed: int = 11

    def __post_init__(self):
        if not isinstance(self.otlp_endpoint, str) or "://" not in self.otlp_endpoint:
            raise ConfigError("otlp_endpoint", f"must be a URL such as http://127.0.0.1:4317, not {self.otlp_endpoint!r}")
        if self.otlp_protocol not in ("grpc", "http/protobuf"):
            raise ConfigError("otlp_protocol", "must be grpc or http/protobuf")
        port = self.metrics_port
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError("metrics_port", "must be an integer port between 0 and 65535")
        _check_range("rate", self.rate, 0.0, 1000.0, low_open=True)
        _check_range("routing_interval_s", self.routing_interval_s, 0.0, 3600.0, low_open=True)
        _check_range("label_delay_s", self.label_delay_s, 0.0, 3600.0)
        _check_range("label_share", self.label_share, 0.0, 1.0)


def _check_range(key: str, value, lo: float, hi: float, low_open: bool = False) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and \
        (value > lo if low_open else value >= lo) and value <= hi
    if not ok:
        raise ConfigError(key, f"must be a number in {'(' if low_open else '['}{lo:g}, {hi:g}], got {value!r}")


@dataclass
class TrafficTotals:
    """What the traffic thread did so far (read without a lock: plain counters)."""

    requests: int = 0
    errors: int = 0
    predictions: int = 0
    labels: int = 0
    label_errors: int = 0
    by_variant: collections.Counter = field(default_factory=collections.Counter)


class DemoApp:
    """The instrumented model, its SDK, its routing client and the traffic thread."""

    def __init__(self, models: DemoModels, scenario: Scenario, settings: AppSettings, *,
                 loop_scenario: bool = False, clock: Callable[[], float] = time.monotonic):
        self.models = models
        self.scenario = scenario
        self.settings = settings
        self.loop_scenario = loop_scenario
        self._clock = clock
        self.totals = TrafficTotals()
        self._stop = threading.Event()
        self._closed = False
        self._held_phase: Phase | None = None
        self._thread: threading.Thread | None = None
        self._pending_labels: collections.deque = collections.deque()
        self._started_at: float | None = None
        self.sdk = None
        self.router = None
        self.model = None

    # --- lifecycle ------------------------------------------------------------------------
    def start_telemetry(self) -> int:
        """Set up the SDK, the routing client and the instrumented model; returns the /metrics port."""
        from otel_ml.instrumentation import InstrumentedModel, Settings, Variant
        from otel_ml.sdk_setup import configure

        s = self.settings
        self.sdk = configure(
            service_name=s.service_name, endpoint=s.otlp_endpoint, protocol=s.otlp_protocol,
            prometheus_port=s.metrics_port, prometheus_host=s.metrics_host, traces=s.traces,
            export_interval_ms=s.export_interval_ms, gpu_metrics=True, process_metrics=True,
            resource_attributes={"deployment.environment": "demo"}, set_global=False)
        meter = self.sdk.meter_provider.get_meter(INSTRUMENTATION_SCOPE, __version__, schema_url=SCHEMA_URL)
        if s.routing_url:
            from otel_ml.remediation.control import RoutingClient

            self.router = RoutingClient(s.routing_url, interval_s=s.routing_interval_s,
                                        token=s.routing_token, meter=meter).start()
        trained = time.time()
        telemetry = Settings(capture_features=True, capture_sample_rate=1.0, gpu_metrics=False)
        self.model = InstrumentedModel(
            self.models.primary, name=MODEL_NAME, version=PRIMARY_VERSION,
            fallback=Variant(self.models.fallback, FALLBACK_VERSION, trained_at=trained, framework="sklearn"),
            router=self.router, endpoint="/v1/predict", framework="sklearn", trained_at=trained,
            feature_names=self.models.feature_names, settings=telemetry,
            tracer_provider=self.sdk.tracer_provider, meter_provider=self.sdk.meter_provider,
            logger_provider=self.sdk.logger_provider)
        return self.sdk.prometheus_port

    def start_traffic(self) -> None:
        """Start sending requests (phase time starts now)."""
        if self.model is None:
            self.start_telemetry()
        self._started_at = self._clock()
        self._thread = threading.Thread(target=self._run, name="otel-ml-demo-traffic", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop traffic, send the labels still pending, flush and shut the SDK down. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self._flush_labels(force=True)
        if self.router is not None:
            self.router.stop()
        if self.model is not None:
            self.model.close()
        if self.sdk is not None:
            self.sdk.force_flush(5_000)
            self.sdk.shutdown()
            self.sdk = None

    # --- state --------------------------------------------------------------------------
    @property
    def metrics_port(self) -> int | None:
        return self.sdk.prometheus_port if self.sdk is not None else None

    @property
    def elapsed(self) -> float:
        """Seconds since traffic started (0 before)."""
        return 0.0 if self._started_at is None else self._clock() - self._started_at

    def hold_phase(self, phase: Phase | None) -> None:
        """Serve ``phase`` from now on whatever the clock says (None: follow the scenario again)."""
        self._held_phase = phase

    @property
    def phase(self) -> Phase:
        if self._held_phase is not None:
            return self._held_phase
        t = self.elapsed
        if self.loop_scenario:
            t %= self.scenario.total_s
        return self.scenario.phase_at(t)

    @property
    def finished(self) -> bool:
        """True once the scenario's time is over (never when it loops; a held phase does not
        extend it)."""
        return not self.loop_scenario and self._started_at is not None and self.elapsed >= self.scenario.total_s

    @property
    def active_variant(self) -> str:
        return self.model.active_variant if self.model is not None else "primary"

    # --- traffic ------------------------------------------------------------------------
    def _run(self) -> None:
        gen = TrafficGenerator(self.models.x_pool, self.models.y_pool, seed=self.settings.seed)
        sizes = np.random.default_rng(self.settings.seed + 1)
        period = 1.0 / self.settings.rate
        next_at = self._clock()
        last_flush = next_at
        while not self._stop.is_set() and not self.finished:
            phase = self.phase
            x, y = gen.batch(int(sizes.integers(1, MAX_BATCH + 1)), phase)
            self._request(x, y, sizes)
            now = self._clock()
            if now - last_flush >= _LABEL_FLUSH_S:
                self._flush_labels()
                last_flush = now
            next_at += period
            if next_at < now - 1.0:  # fell behind by more than a second: do not burst to catch up
                next_at = now
            self._stop.wait(max(0.0, next_at - now))

    def _request(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> None:
        from otel_ml.instrumentation import last_prediction_ids

        variant = self.active_variant
        try:
            self.model.predict_proba(x)
        except Exception as exc:  # noqa: BLE001 - a failed request is counted, the traffic goes on
            self.totals.errors += 1
            _log.debug("demo request failed: %r", exc)
            return
        finally:
            self.totals.requests += 1
            self.totals.by_variant[variant] += 1
        self.totals.predictions += len(y)
        ids = np.asarray(last_prediction_ids(), dtype=object)
        keep = (ids != None) & (rng.random(len(ids)) < self.settings.label_share)  # noqa: E711
        if keep.any():
            due = self._clock() + self.settings.label_delay_s
            self._pending_labels.append((due, ids[keep], y[keep]))

    def _flush_labels(self, force: bool = False) -> None:
        """Send every label whose delay has passed, in one columnar ground-truth event."""
        from otel_ml.instrumentation import record_ground_truths

        if self.sdk is None:
            return
        now = self._clock()
        ids, labels = [], []
        while self._pending_labels and (force or self._pending_labels[0][0] <= now):
            _, batch_ids, batch_labels = self._pending_labels.popleft()
            ids.append(batch_ids)
            labels.append(batch_labels)
        if not ids:
            return
        all_ids = np.concatenate(ids)
        all_labels = np.concatenate(labels)
        try:
            record_ground_truths(all_ids.tolist(), all_labels.tolist(), model_name=MODEL_NAME,
                                 meter_provider=self.sdk.meter_provider,
                                 logger_provider=self.sdk.logger_provider,
                                 tracer_provider=self.sdk.tracer_provider)
            self.totals.labels += len(all_ids)
        except InvalidTelemetryError as exc:
            self.totals.label_errors += 1
            _log.warning("demo: some labels were not sent: %s", exc)
