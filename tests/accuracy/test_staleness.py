"""A model version that stops serving stops exporting (``accuracy.window.stale_after_s``).

After a fallback or a rollout the old version gets no more traffic; with a count window its
last values would never change and alerts such as MLAccuracyDecay would keep firing. A version
with no prediction and no joined label or outcome for ``stale_after_s`` exports nothing but
``ml.labels.pending`` (while predictions of it still wait for labels); activity brings its
gauges back; the last-activity time survives a checkpoint.
"""


import numpy as np
import pytest

from otel_ml.config_checks import from_mapping
from otel_ml.errors import ConfigError
from otel_ml.processor.accuracy import AccuracySettings
from otel_ml.semconv import Attr, LabelResult as R, Metric
from tests.support.checkpoints import through_checkpoint

from .helpers import batch, find, labels, make_tracker, outcome, perf, results

STALE = 900.0
SETTINGS = {"window": {"count": 20, "time_s": 600, "min_labels": 1, "min_predictions": 1,
                       "max_events": 1000, "stale_after_s": STALE},
            "baseline": {"source": "first_labels", "labels": 20},
            "trend": {"block_labels": 10, "windows": 3, "min_windows": 2}}

#: every gauge kind the fixture below produces while the version serves
ALL_GAUGES = {Metric.PERFORMANCE, Metric.PERFORMANCE_ESTIMATED, Metric.PERFORMANCE_BASELINE,
              Metric.PERFORMANCE_DECAY, Metric.PERFORMANCE_DECAY_P_VALUE,
              Metric.PERFORMANCE_DECAY_SIGNIFICANT, Metric.PERFORMANCE_TREND,
              Metric.PERFORMANCE_TIME_TO_THRESHOLD, Metric.CONFUSION, Metric.LABELS_COVERAGE,
              Metric.LABELS_PENDING, Metric.OUTCOME_MEAN}


def _serve(tracker, clock, version="1", blocks=4, seed=1):
    """Four minutes of traffic, accuracy falling; 10 of each 15 predictions labelled.
    Returns the ids still waiting for a label and their predictions."""
    rng = np.random.default_rng(seed)
    waiting, predicted = [], []
    for b in range(blocks):
        y = rng.integers(0, 2, 15)
        pred = np.where(rng.random(15) < 0.9 - 0.1 * b, y, 1 - y)
        conf = rng.uniform(0.5, 1.0, 15)
        ids = [f"{version}-{b}-{i}" for i in range(15)]
        tracker.ingest([batch("m", ids, pred.tolist(), conf=conf.tolist(), version=version,
                              t_ns=int(clock.t * 1e9))])
        tracker.ingest(labels(ids[:10], y[:10].tolist()))
        waiting += ids[10:]
        predicted += pred[10:].tolist()
        clock.t += 60
    tracker.ingest([outcome(f"{version}-0-1", "click", 1.0)])
    return waiting, predicted


def _of(points, version):
    return [p for p in points if p.attributes.get(Attr.MODEL_VERSION) == version]


def _specs(points, version="1"):
    return {p.spec for p in _of(points, version)}


def _pending(points, version="1"):
    return find(points, Metric.LABELS_PENDING, **{Attr.MODEL_VERSION: version})


def test_setting_default_and_validation():
    assert AccuracySettings().window.stale_after_s == 900.0
    assert from_mapping(AccuracySettings, {"window": {"stale_after_s": 60}}, "accuracy").window.stale_after_s == 60.0
    for bad in (0, -5, float("nan"), float("inf"), "15m", True, None):
        with pytest.raises(ConfigError) as err:
            from_mapping(AccuracySettings, {"window": {"stale_after_s": bad}}, "accuracy")
        assert err.value.key == "accuracy.window.stale_after_s"


def test_gauges_stop_after_stale_after_and_only_pending_stays():
    tracker, _, clock = make_tracker(SETTINGS)
    _serve(tracker, clock)
    last = clock.t  # the outcome above was the last activity
    assert _specs(tracker.evaluate(last)) == ALL_GAUGES

    at_limit = tracker.evaluate(last + STALE)
    assert _specs(at_limit) == ALL_GAUGES  # exactly stale_after_s: still serving

    stale = tracker.evaluate(last + STALE + 1)
    assert _specs(stale) == {Metric.LABELS_PENDING}
    assert _pending(stale) == 20  # labels may still come for these
    assert _specs(tracker.evaluate(last + 29 * 86400)) == {Metric.LABELS_PENDING}
    assert tracker.evaluate(last + 31 * 86400) == []  # pending.ttl_s: the predictions left


def test_a_stale_version_without_pending_predictions_exports_nothing():
    tracker, _, clock = make_tracker(SETTINGS)
    waiting, predicted = _serve(tracker, clock)
    tracker.ingest(labels(waiting, predicted))
    assert _pending(tracker.evaluate(clock.t)) == 0
    assert tracker.evaluate(clock.t + STALE + 1) == []


def test_a_late_label_brings_the_gauges_back_with_its_value():
    tracker, reader, clock = make_tracker(SETTINGS)
    waiting, predicted = _serve(tracker, clock)
    before = perf(tracker.evaluate(clock.t), Metric.PERFORMANCE, "accuracy", "none")
    assert before > 0.5
    clock.t += 7 * 86400  # a week later, long stale
    assert _specs(tracker.evaluate(clock.t)) == {Metric.LABELS_PENDING}

    # the 20 late labels all say the prediction was wrong: they fill the count window (20)
    tracker.ingest(labels(waiting, [1 - p for p in predicted]))
    assert results(reader)[R.JOINED] == 60
    back = tracker.evaluate(clock.t)
    assert {Metric.PERFORMANCE, Metric.PERFORMANCE_DECAY, Metric.CONFUSION} <= _specs(back)
    assert perf(back, Metric.PERFORMANCE, "accuracy", "none") == 0.0
    assert _pending(back) == 0
    # and it goes quiet again stale_after_s after that label: nothing pending, nothing at all
    assert _specs(tracker.evaluate(clock.t + STALE)) != set()
    assert tracker.evaluate(clock.t + STALE + 1) == []


def test_a_late_outcome_or_a_new_prediction_brings_the_gauges_back():
    tracker, _, clock = make_tracker(SETTINGS)
    _serve(tracker, clock)
    clock.t += STALE + 1
    assert _specs(tracker.evaluate(clock.t)) == {Metric.LABELS_PENDING}
    tracker.ingest([outcome("1-2-3", "click", 0.0)])
    assert Metric.OUTCOME_MEAN in _specs(tracker.evaluate(clock.t))

    clock.t += STALE + 1
    assert _specs(tracker.evaluate(clock.t)) == {Metric.LABELS_PENDING}
    tracker.ingest([batch("m", ["new"], [1], conf=[0.9])])
    assert Metric.PERFORMANCE_ESTIMATED in _specs(tracker.evaluate(clock.t))


def test_labels_that_join_nothing_are_not_activity():
    tracker, reader, clock = make_tracker(SETTINGS)
    _serve(tracker, clock)
    clock.t += STALE + 1
    tracker.ingest(labels(["1-0-0", "1-0-1"], [1, 0]))  # already labelled: duplicates
    assert results(reader)[R.DUPLICATE] == 2
    assert _specs(tracker.evaluate(clock.t)) == {Metric.LABELS_PENDING}


def test_after_a_rollout_only_the_new_version_exports():
    tracker, _, clock = make_tracker(SETTINGS)
    _serve(tracker, clock, version="1")
    for k in range(20):  # v2 keeps serving, one batch a minute, past v1's stale_after_s
        ids = [f"2-{k}-{i}" for i in range(5)]
        tracker.ingest([batch("m", ids, [1, 0, 1, 1, 0], conf=[0.9] * 5, version="2")])
        tracker.ingest(labels(ids, [1, 0, 0, 1, 0]))
        clock.t += 60
    points = tracker.evaluate(clock.t)
    assert _specs(points, "1") == {Metric.LABELS_PENDING}
    assert perf(_of(points, "2"), Metric.PERFORMANCE, "accuracy", "none") == 0.8
    assert {p.attributes[Attr.MODEL_VERSION] for p in points
            if p.spec is Metric.PERFORMANCE} == {"2"}


def test_restore_keeps_the_last_activity_time():
    tracker, _, clock = make_tracker(SETTINGS)
    _serve(tracker, clock)
    last = clock.t
    saved = through_checkpoint(tracker.snapshot())
    assert saved["models"][0]["last_activity"] == last

    clock.t = last + STALE + 1  # the processor was down for longer than stale_after_s
    restarted, _, _ = make_tracker(SETTINGS, clock=clock)
    restarted.restore(saved)
    assert _specs(restarted.evaluate(clock.t)) == {Metric.LABELS_PENDING}

    clock.t = last + 10  # a quick restart: still serving, and stale at the same moment as before
    quick, _, _ = make_tracker(SETTINGS, clock=clock)
    quick.restore(saved)
    assert _specs(quick.evaluate(last + STALE)) == ALL_GAUGES
    assert _specs(quick.evaluate(last + STALE + 1)) == {Metric.LABELS_PENDING}


def test_a_snapshot_without_last_activity_restores_with_now():
    tracker, _, clock = make_tracker(SETTINGS)
    _serve(tracker, clock)
    saved = through_checkpoint(tracker.snapshot())
    for model in saved["models"]:
        del model["last_activity"]  # written before the setting existed
    clock.t += 5 * 86400
    restarted, _, _ = make_tracker(SETTINGS, clock=clock)
    restarted.restore(saved)
    assert {Metric.PERFORMANCE, Metric.PERFORMANCE_DECAY, Metric.CONFUSION} <= _specs(
        restarted.evaluate(clock.t))
    assert _specs(restarted.evaluate(clock.t + STALE + 1)) == {Metric.LABELS_PENDING}


def test_a_bad_last_activity_is_refused():
    tracker, _, clock = make_tracker(SETTINGS)
    _serve(tracker, clock)
    saved = through_checkpoint(tracker.snapshot())
    saved["models"][0]["last_activity"] = "yesterday"
    with pytest.raises(ValueError):
        tracker.restore(saved)
