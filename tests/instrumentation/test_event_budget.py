"""Inference events stay under their byte budget as real OTLP protobuf, and lose no row.

Sizes are measured with the OTLP exporter's own encoder (the bytes a gRPC export carries), not
with otel_ml's estimate; the rows of the split records are put back together and compared with
what the model returned.
"""

from __future__ import annotations

import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

from otel_ml.instrumentation import Settings, inference
from otel_ml.instrumentation.events import EVENT_BYTE_BUDGET
from otel_ml.sdk_setup import LOG_EXPORT_BATCH
from otel_ml.semconv import Attr, Body, Metric

from .conftest import point_map

GRPC_DEFAULT_LIMIT = 4 * 1024 * 1024


def _record_bytes(otel) -> list[int]:
    return [encode_logs([d]).ByteSize() for d in otel.log_exporter.get_finished_logs()]


@pytest.mark.parametrize("n, n_features", [(1000, 16), (5000, 4), (300, 60)])
def test_a_large_batch_is_split_into_records_under_the_budget_and_keeps_every_row(otel, n, n_features):
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, n_features))
    proba = rng.dirichlet(np.ones(3), size=n)
    names = [f"feature_{j}" for j in range(n_features)]
    settings = Settings(capture_features=True)
    with inference("m", "1", settings=settings, **otel.providers) as call:
        ids = call.record_outputs(probabilities=proba, classes=["a", "b", "c"], features=X, feature_names=names,
                                  segment="eu")
    sizes = _record_bytes(otel)
    assert len(sizes) > 1 and max(sizes) <= EVENT_BYTE_BUDGET, sizes
    # an export batch of LOG_EXPORT_BATCH such records stays far below the gRPC receiver's default
    assert LOG_EXPORT_BATCH * max(sizes) < GRPC_DEFAULT_LIMIT / 2
    bodies = [r.body for r in otel.logs()]
    assert sum(len(b[Body.PREDICTION_IDS]) for b in bodies) == n
    assert [i for b in bodies for i in b[Body.PREDICTION_IDS]] == ids
    joined = np.array([v for b in bodies for v in b[Body.FEATURES]["feature_3"]])
    assert np.array_equal(joined, X[:, 3])
    assert [v for b in bodies for v in b[Body.CONFIDENCE]] == proba.max(axis=1).tolist()
    assert [v for b in bodies for v in b[Body.PROBABILITIES]["c"]] == proba[:, 2].tolist()
    assert {b[Body.SEGMENT] for b in bodies} == {"eu"}
    assert all(r.attributes[Attr.MODEL_NAME] == "m" for r in otel.logs())
    assert point_map(otel.metrics(), Metric.INFERENCE_EVENTS.name, Attr.MODEL_NAME) == {"m": n}
    assert call.problems == []


def test_a_small_batch_stays_one_record(otel):
    with inference("m", "1", settings=Settings(capture_features=True), **otel.providers) as call:
        call.record_outputs(["x"] * 20, confidences=np.full(20, 0.5), features=np.ones((20, 8)))
    assert len(otel.logs()) == 1


def test_a_row_over_the_budget_goes_out_without_features_and_is_counted(otel):
    n_features = EVENT_BYTE_BUDGET // 8  # ~11 bytes each: one row alone is over the budget
    X = np.ones((3, n_features))
    with inference("m", "1", settings=Settings(capture_features=True), **otel.providers) as call:
        call.record_outputs([0, 1, 1], confidences=[0.9, 0.8, 0.7], features=X)
    sizes = _record_bytes(otel)
    assert max(sizes) <= EVENT_BYTE_BUDGET
    bodies = [r.body for r in otel.logs()]
    assert all(Body.FEATURES not in b for b in bodies)
    assert [v for b in bodies for v in b[Body.PREDICTION]] == [0, 1, 1]
    assert [p.reason for p in call.problems] == ["event_too_large"]
    assert point_map(otel.metrics(), Metric.INVALID_TELEMETRY.name, Attr.REJECT_REASON) == {"event_too_large": 3}
