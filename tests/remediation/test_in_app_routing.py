"""R2 end to end in one process: an alert switches the real service, the RoutingClient pulls it, and
InstrumentedModel serves the fallback with the variant on every span and metric point."""

from __future__ import annotations

import numpy as np
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_ml import semconv
from otel_ml.instrumentation import InstrumentedModel, Variant
from otel_ml.remediation.control import RoutingClient

from .conftest import TOKEN, http, make_alert, make_notification

A = semconv.Attr


class Constant:
    """A stand-in model answering one class for every row."""

    def __init__(self, label: int):
        self.label = label

    def predict(self, X):
        return np.full(len(X), self.label)


def _served(reader) -> dict[tuple, float]:
    out = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == semconv.Metric.INFERENCE_REQUESTS.name:
                    for p in metric.data.data_points:
                        out[(p.attributes[A.VARIANT], p.attributes[A.MODEL_VERSION])] = p.value
    return out


def test_alert_switches_the_served_variant_and_telemetry_shows_it(service_factory):
    svc = service_factory({"rules": [{"name": "fb", "alertname": "MLInferenceErrorRate",
                                      "action": "fallback", "cooldown": 0}]})
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    client = RoutingClient(svc.url, token=TOKEN, timeout_s=2, meter=meter_provider.get_meter("t"))
    model = InstrumentedModel(Constant(1), name="iris", version="3", fallback=Variant(Constant(0), "1-rules"),
                              router=client, tracer_provider=tracer_provider, meter_provider=meter_provider)
    X = np.zeros((4, 2))
    try:
        assert client.refresh()
        assert model.predict(X).tolist() == [1, 1, 1, 1]

        alert = make_alert("MLInferenceErrorRate", ml_model_name="iris", ml_model_version="3")
        assert http("POST", svc.url + "/v1/alerts", make_notification(alert))[0] == 200
        assert client.refresh()
        assert model.predict(X).tolist() == [0, 0, 0, 0]

        assert http("POST", svc.url + "/v1/alerts", make_notification({**alert, "status": "resolved"}))[0] == 200
        assert client.refresh()
        assert model.predict(X).tolist() == [1, 1, 1, 1]

        served = [(s.attributes[A.VARIANT], s.attributes[A.MODEL_VERSION]) for s in spans.get_finished_spans()]
        assert served == [("primary", "3"), ("fallback", "1-rules"), ("primary", "3")]
        assert _served(reader) == {("primary", "3"): 2, ("fallback", "1-rules"): 1}
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()
