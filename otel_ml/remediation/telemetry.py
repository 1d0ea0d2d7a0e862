"""The remediation service's self-metrics, and the Prometheus endpoint that serves them.

``RemediationMetrics`` needs only an OTel ``Meter`` (tests pass one backed by an in-memory
reader); ``start_metrics_endpoint`` builds the SDK ``MeterProvider`` on a
``telemetry_setup.PrometheusEndpoint`` (a private registry, as the app and the processor use).
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.metrics import Meter

from otel_ml import semconv
from otel_ml.semconv_instruments import create_instrument
from otel_ml.telemetry_setup import STDLIB, PrometheusEndpoint, meter_provider
from otel_ml.version import __version__

__all__ = ["RemediationMetrics", "MetricsEndpoint", "start_metrics_endpoint"]

A = semconv.Attr


class RemediationMetrics:
    """Counters for notifications received and decisions taken (by action, outcome, reason)."""

    def __init__(self, meter: Meter):
        m = semconv.Metric
        self._notifications = create_instrument(meter, m.REMEDIATION_NOTIFICATIONS)
        self._actions = create_instrument(meter, m.REMEDIATION_ACTIONS)

    def notification(self, status: str, reject_reason: str | None = None) -> None:
        attrs = {A.STATUS: status}
        if reject_reason:
            attrs[A.REJECT_REASON] = reject_reason
        self._notifications.add(1, attrs)

    def action(self, model: str, action: str, outcome: str, reason: str) -> None:
        self._actions.add(1, {A.MODEL_NAME: model, A.REMEDIATION_ACTION: action,
                              A.REMEDIATION_OUTCOME: outcome, A.REMEDIATION_REASON: reason})


@dataclass
class MetricsEndpoint:
    """A running ``/metrics`` endpoint; ``meter`` feeds it; ``close()`` stops both."""

    meter: Meter
    host: str
    port: int
    _provider: object
    _endpoint: PrometheusEndpoint

    def close(self) -> None:
        self._endpoint.close()
        self._provider.shutdown()


def start_metrics_endpoint(host: str, port: int, service_name: str = "otel-ml-remediate") -> MetricsEndpoint:
    """Serve the service's metrics at ``http://host:port/metrics`` (port 0 picks a free one)."""
    from opentelemetry.sdk.resources import Resource

    endpoint = PrometheusEndpoint()
    provider = meter_provider(Resource.create({"service.name": service_name}), [endpoint.reader])
    try:
        bound = endpoint.serve(host, port, what="--metrics-endpoint: cannot serve metrics", server=STDLIB)
    except BaseException:
        provider.shutdown()
        raise
    meter = provider.get_meter(semconv.REMEDIATION_SCOPE, __version__, schema_url=semconv.SCHEMA_URL)
    return MetricsEndpoint(meter, host, bound, provider, endpoint)
