"""Model-version slots shared by the drift engine and the accuracy tracker: one admission
decision per request, each refused prediction counted once, reserved and idle slots."""

from __future__ import annotations

import numpy as np
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_ml.config_checks import from_mapping
from otel_ml.errors import ConfigError
from otel_ml.processor.accuracy import AccuracyTracker
from otel_ml.processor.accuracy.pending import EVICT_RELEASED
from otel_ml.processor.accuracy.settings import AccuracySettings
from otel_ml.processor.admission import (
    REASON_CARDINALITY,
    REASON_UNKNOWN_MODEL,
    ModelSlots,
)
from otel_ml.processor.config import ProcessorConfig
from otel_ml.processor.drift_engine import DriftEngine
from otel_ml.processor.engine_settings import EngineSettings
from otel_ml.processor.ingest_queue import IngestQueue
from otel_ml.processor.profile import ProfileStore
from otel_ml.processor.profile_build import build_profile
from otel_ml.processor.service import default_component_factories
from otel_ml.semconv import Attr, Metric
from tests.accuracy.helpers import Clock, batch


def _counter(reader, spec) -> dict:
    out = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == spec.name:
                    for dp in metric.data.data_points:
                        out[tuple(sorted(dp.attributes.items()))] = dp.value
    return out


def _profile(model: str, version: str):
    rng = np.random.default_rng(1)
    return build_profile(model, version, {"x": rng.normal(size=300)}, rng.integers(0, 2, 300),
                         rng.uniform(0.5, 1, 300))


def _parts(limits: dict, store: ProfileStore | None = None, clock=None):
    store = store if store is not None else ProfileStore()
    clock = clock or Clock()
    settings = from_mapping(EngineSettings, {"limits": limits})
    slots = ModelSlots.from_limits(settings.limits, store)
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    engine = DriftEngine(settings, store, meter=meter, clock=clock, slots=slots)
    tracker = AccuracyTracker(AccuracySettings(), profiles=store, meter=meter, clock=clock, slots=slots)
    queue = IngestQueue([engine, tracker], max_events=10_000, max_memory_bytes=2**26)
    queue.start()
    return queue, engine, tracker, reader, clock


def test_refusal_is_decided_at_submit_and_counted_once():
    queue, engine, tracker, reader, _ = _parts({"max_models": 1})
    try:
        admission = queue.submit([batch("a", ["a1", "a2"], [1, 0]), batch("b", ["b1", "b2", "b3"], [1, 1, 0])])
        assert admission.refused == {1: REASON_UNKNOWN_MODEL}
        assert len(admission.messages) == 1 and "limits.max_models (1)" in admission.messages[0]
        assert queue.drain(10)
    finally:
        queue.stop()
    assert engine.tracked() == [("a", "1")]
    assert list(tracker._by_key) == [("a", "1")]
    overflow = _counter(reader, Metric.PROC_CARDINALITY_OVERFLOW)
    assert overflow == {((Attr.CARDINALITY_KIND, "model"),): 3}  # the 3 predictions of b, once


def test_profiled_models_and_versions_have_reserved_slots():
    store = ProfileStore()
    store.add(_profile("fraud", "*"))  # every version: the model's slot is reserved
    store.add(_profile("churn", "7"), "churn", "7")  # this version's slot is reserved too
    queue, engine, tracker, reader, _ = _parts({"max_models": 3, "max_versions_per_model": 2}, store)
    try:
        junk = [batch(f"junk{i}", [f"j{i}"], [1]) for i in range(3)]
        junk_versions = [batch("churn", [f"c{v}"], [1], version=str(v)) for v in range(3)]
        admission = queue.submit(junk + junk_versions + [batch("fraud", ["f"], [1]),
                                                         batch("churn", ["c7"], [1], version="7")])
    finally:
        queue.stop()
    # 3 models - 2 reserved = 1 slot for the rest; 2 versions - 1 reserved = 1 for churn's others
    assert admission.refused == {1: REASON_UNKNOWN_MODEL, 2: REASON_UNKNOWN_MODEL,
                                 4: REASON_CARDINALITY, 5: REASON_CARDINALITY}
    assert sorted(engine.tracked()) == [("churn", "0"), ("churn", "7"), ("fraud", "1"), ("junk0", "1")]


def test_idle_slots_are_freed_and_pending_predictions_keep_theirs_until_needed():
    queue, engine, tracker, reader, clock = _parts({"max_models": 2, "version_idle_s": 3600})
    try:
        queue.submit([batch("labelled-later", ["p1", "p2"], [1, 0])])  # waits for labels: pinned
        queue.submit([batch("done", [None], [1])])  # no id: nothing waits
        assert queue.drain(10)
        clock.t += 3601
        engine.evaluate(clock.t)
        tracker.evaluate(clock.t)
        # periodic release frees the idle version with nothing pending, keeps the pinned one
        assert sorted(engine.slots.keys()) == [("labelled-later", "1")]
        assert list(tracker._by_key) == [("labelled-later", "1")]
        # a newcomer fills the freed slot; the next needs the pinned one: it is released
        assert queue.submit([batch("new-1", ["n1"], [1])]).refused == {}
        assert queue.submit([batch("new-2", ["n2"], [1])]).refused == {}
        assert queue.drain(10)
        tracker.evaluate(clock.t)
    finally:
        queue.stop()
    assert sorted(engine.slots.keys()) == [("new-1", "1"), ("new-2", "1")]
    assert sorted(tracker._by_key) == [("new-1", "1"), ("new-2", "1")]
    assert tracker._pending.evicted[EVICT_RELEASED] == 2
    evicted = _counter(reader, Metric.PROC_PENDING_EVICTED)
    assert evicted == {((Attr.REJECT_REASON, EVICT_RELEASED),): 2}


def test_the_model_cap_is_one_shared_setting():
    with pytest.raises(ConfigError, match=r"^accuracy\.limits\.max_models: moved: the model cap is the "
                                          r"top-level limits\.max_models"):
        from_mapping(AccuracySettings, {"limits": {"max_models": 100}}, "accuracy")
    config = ProcessorConfig.from_mapping({"limits": {"max_models": 7}})
    engine, tracker = [make(None) for make in default_component_factories(config, Clock())]
    assert engine.slots is tracker.slots and engine.slots.max_models == 7
