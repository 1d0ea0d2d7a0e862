"""Business outcomes (I9) join predictions like labels and export their mean per window."""

import numpy as np
import pytest

from otel_ml.semconv import Attr, Metric

from .helpers import batch, find, labels, make_tracker, outcome, points_of

SETTINGS = {"window": {"count": 100, "time_s": 300, "min_labels": 1, "min_predictions": 1,
                       "max_events": 1000}}


def _mean(points, name, window="count"):
    return find(points, Metric.OUTCOME_MEAN, **{Attr.OUTCOME_NAME: name, Attr.WINDOW: window})


def test_outcomes_join_by_prediction_id_and_average_per_name():
    tracker, _, clock = make_tracker(SETTINGS)
    ids = [f"o{i}" for i in range(20)]
    tracker.ingest([batch("shop", ids, [1] * 20)])
    tracker.ingest(labels(ids[:5], [1] * 5))  # labelled predictions still take outcomes
    revenue = np.arange(20, dtype=float)
    clicks = [1.0, 0.0] * 10
    tracker.ingest([outcome(i, "revenue", v) for i, v in zip(ids, revenue)]
                   + [outcome(i, "click", c) for i, c in zip(ids, clicks)])
    pts = tracker.evaluate(clock.t)
    assert _mean(pts, "revenue") == pytest.approx(revenue.mean())
    assert _mean(pts, "click") == pytest.approx(0.5)
    assert _mean(pts, "revenue", "time") == pytest.approx(revenue.mean())
    attrs = [p.attributes for p in points_of(pts, Metric.OUTCOME_MEAN)]
    assert all(a[Attr.MODEL_NAME] == "shop" and a[Attr.MODEL_VERSION] == "1" for a in attrs)
    clock.t += 301  # out of the time window, still in the count window
    pts = tracker.evaluate(clock.t)
    assert _mean(pts, "revenue", "time") is None
    assert _mean(pts, "revenue") == pytest.approx(revenue.mean())


def test_outcome_before_its_prediction_is_held_and_bad_ones_are_dropped():
    tracker, _, clock = make_tracker({**SETTINGS, "labels": {"grace_s": 60}})
    tracker.ingest([outcome("early", "revenue", 5.0), outcome("ghost", "revenue", 100.0),
                    outcome("early", "revenue", float("nan")), outcome("", "revenue", 1.0)])
    clock.t += 10
    tracker.ingest([batch("shop", ["early"], [1])])
    pts = tracker.evaluate(clock.t)
    assert _mean(pts, "revenue") == 5.0
    tracker.evaluate(clock.t + 61)  # 'ghost' is dropped after the grace period
    tracker.ingest([batch("shop", ["ghost"], [1])])
    assert _mean(tracker.evaluate(clock.t + 61), "revenue") == 5.0
