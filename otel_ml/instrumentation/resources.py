"""Process CPU / memory (from the OTel ecosystem's system-metrics instrumentation) and the
serving app's queue depth (an observable gauge over a callback the app supplies)."""

from __future__ import annotations

import logging
from typing import Callable

from opentelemetry.metrics import Observation

from otel_ml.errors import ConfigError
from otel_ml.instrumentation.telemetry import instruments_for
from otel_ml.semconv import Attr

__all__ = ["PROCESS_METRICS_CONFIG", "enable_process_metrics", "QueueDepth", "observe_queue_depth"]

_log = logging.getLogger(__name__)

#: Process-only configuration for SystemMetricsInstrumentor: no host-wide system.* series.
#: process.thread.count and process.open_file_descriptor.count are left out: their Prometheus
#: names end in "_count", which `promtool check metrics` rejects for non-histograms.
PROCESS_METRICS_CONFIG: dict[str, list[str] | None] = {
    "process.cpu.time": ["user", "system"],
    "process.cpu.utilization": ["user", "system"],
    "process.memory.usage": None,
    "process.memory.virtual": None,
    "process.context_switches": ["involuntary", "voluntary"],
}


def enable_process_metrics(meter_provider=None):
    """Turn on ``opentelemetry-instrumentation-system-metrics`` for this process only.

    Returns the instrumentor, or None when it is missing or already instrumented (for
    example by ``opentelemetry-instrument``, whose configuration then stands)."""
    try:
        from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor
    except ImportError:
        _log.info("otel_ml: no process metrics (opentelemetry-instrumentation-system-metrics is not installed)")
        return None
    existing = getattr(SystemMetricsInstrumentor, "_instance", None)
    if existing is not None and existing.is_instrumented_by_opentelemetry:
        _log.debug("otel_ml: system metrics already instrumented; keeping that configuration")
        return None
    instrumentor = SystemMetricsInstrumentor(config=dict(PROCESS_METRICS_CONFIG))
    instrumentor.instrument(meter_provider=meter_provider)
    return instrumentor


class QueueDepth:
    """Reports ``callback()`` as ``ml.serving.queue.depth`` on every collection until ``close()``."""

    def __init__(self, callback: Callable[[], float], *, model_name: str | None = None, meter_provider=None):
        if not callable(callback):
            raise ConfigError("callback", "must be a callable returning the number of queued requests")
        self.callback = callback
        self.model_name = model_name
        self._instruments = instruments_for(meter_provider)
        self._instruments.add_source(self, pin=True)

    def queue_observations(self) -> list[Observation]:
        try:
            value = float(self.callback())
        except Exception as exc:  # noqa: BLE001 - an app callback failing must not stop collection
            _log.warning("otel_ml: queue depth callback failed: %r", exc)
            return []
        return [Observation(value, {Attr.MODEL_NAME: self.model_name} if self.model_name else {})]

    def close(self) -> None:
        self._instruments.remove_source(self)


def observe_queue_depth(callback: Callable[[], float], *, model_name: str | None = None,
                        meter_provider=None) -> QueueDepth:
    """Report ``callback()`` as the serving queue depth on every collection; ``close()`` stops it."""
    return QueueDepth(callback, model_name=model_name, meter_provider=meter_provider)
