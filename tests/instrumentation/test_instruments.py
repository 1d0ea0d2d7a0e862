"""One factory turns a semconv ``MetricSpec`` into an OTel instrument, and every module uses it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Gauge, Histogram, InMemoryMetricReader, Sum

from otel_ml import semconv
from otel_ml.semconv_instruments import create_instrument
from otel_ml.semconv import ALL_METRICS, MetricKind, MetricSpec

ROOT = Path(__file__).resolve().parents[2]
K = MetricKind

# kind -> (exported data type, monotonic sum?)
EXPECTED = {
    K.COUNTER: (Sum, True),
    K.UP_DOWN_COUNTER: (Sum, False),
    K.HISTOGRAM: (Histogram, None),
    K.GAUGE: (Gauge, None),
    K.OBSERVABLE_GAUGE: (Gauge, None),
    K.OBSERVABLE_COUNTER: (Sum, True),
    K.OBSERVABLE_UP_DOWN_COUNTER: (Sum, False),
}
OBSERVABLE = {K.OBSERVABLE_GAUGE, K.OBSERVABLE_COUNTER, K.OBSERVABLE_UP_DOWN_COUNTER}


def _one(options: CallbackOptions):
    return [Observation(1)]


def _collect(reader: InMemoryMetricReader) -> dict:
    data = reader.get_metrics_data()
    return {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


@pytest.mark.parametrize("kind", list(MetricKind))
def test_every_kind_makes_the_instrument_its_spec_names(kind):
    spec = MetricSpec(f"test.{kind.value}", kind, "s", f"a {kind.value}")
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("t")
    instrument = create_instrument(meter, spec, callbacks=[_one] if kind in OBSERVABLE else None)
    if kind is K.HISTOGRAM:
        instrument.record(1.0)
    elif kind is K.GAUGE:
        instrument.set(1.0)
    elif kind not in OBSERVABLE:
        instrument.add(1)
    metric = _collect(reader)[spec.name]
    data_type, monotonic = EXPECTED[kind]
    assert (metric.unit, metric.description) == ("s", f"a {kind.value}")
    assert type(metric.data) is data_type
    if monotonic is not None:
        assert metric.data.is_monotonic is monotonic


def test_a_gauge_spec_with_callbacks_is_observed():
    spec = MetricSpec("test.reported_gauge", K.GAUGE, "1", "reported at collection")
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("t")
    create_instrument(meter, spec, callbacks=[lambda options: [Observation(0.25)]])
    [point] = _collect(reader)[spec.name].data.data_points
    assert point.value == 0.25


def test_histogram_bucket_advice_is_passed_on():
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("t")
    hist = create_instrument(meter, semconv.Metric.INFERENCE_DURATION,
                             explicit_bucket_boundaries_advisory=(0.5, 1.0))
    hist.record(0.7)
    [point] = _collect(reader)[semconv.Metric.INFERENCE_DURATION.name].data.data_points
    assert tuple(point.explicit_bounds) == (0.5, 1.0)


def test_observable_kinds_need_callbacks_and_others_refuse_them():
    meter = MeterProvider().get_meter("t")
    with pytest.raises(ValueError, match="callbacks"):
        create_instrument(meter, MetricSpec("test.obs", K.OBSERVABLE_GAUGE, "1", "x"))
    with pytest.raises(ValueError, match="callbacks"):
        create_instrument(meter, MetricSpec("test.hist", K.HISTOGRAM, "1", "x"), callbacks=[_one])
    with pytest.raises(ValueError, match="bucket"):
        create_instrument(meter, MetricSpec("test.cnt2", K.COUNTER, "1", "x"),
                          explicit_bucket_boundaries_advisory=[1.0])


def test_every_semconv_metric_can_be_created():
    meter = MeterProvider().get_meter("t")
    for spec in ALL_METRICS:
        assert create_instrument(meter, spec, callbacks=[_one] if spec.kind in OBSERVABLE else None)


_HAND_ROLLED = re.compile(r"\.create_(counter|up_down_counter|histogram|gauge|observable_\w+)\(")


def test_no_module_creates_instruments_by_hand():
    offenders = []
    for path in sorted((ROOT / "otel_ml").rglob("*.py")):
        if path.name == "semconv_instruments.py" and path.parent.name == "otel_ml":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if _HAND_ROLLED.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "use otel_ml.semconv_instruments.create_instrument:\n" + "\n".join(offenders)


def test_the_instrumentation_side_imports_no_sdk():
    source = (ROOT / "otel_ml" / "semconv_instruments.py").read_text()
    assert "opentelemetry.sdk" not in source


def test_the_span_name_comes_from_semconv():
    from otel_ml.instrumentation import SPAN_NAME, call

    assert semconv.SPAN_INFERENCE == "ml.inference" and "SPAN_INFERENCE" in semconv.__all__
    assert SPAN_NAME is semconv.SPAN_INFERENCE
    assert '"ml.inference"' not in Path(call.__file__).read_text()


def test_the_number_test_is_defined_once():
    from otel_ml.instrumentation import capture, outputs

    assert capture._IS_NUMBER is outputs._IS_NUMBER
    assert "frompyfunc" not in re.sub(r"_IS_NULL = .*|_IS_FLOAT = .*", "",
                                      Path(capture.__file__).read_text())
