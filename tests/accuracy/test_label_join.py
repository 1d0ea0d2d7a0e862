"""Joining labels to predictions: any delay, any order, duplicates, early labels, expired ids,
invalid labels, restart mid-join; each label counted once by result on ml.labels.received."""


import numpy as np
import pytest

from otel_ml.processor.admission import ModelSlots
from otel_ml.semconv import Attr, LabelResult as R, Metric
from tests.support.checkpoints import through_checkpoint

from .helpers import batch, find, labels, make_tracker, perf, results, sums

SMALL = {"window": {"count": 50, "time_s": None, "min_labels": 1, "min_predictions": 1,
                    "max_events": 1000},
         "baseline": {"labels": 1000}, "decay": {"thresholds": {"accuracy": {"absolute": 0.05}}}}


def _accuracy(tracker, clock):
    return perf(tracker.evaluate(clock.t), Metric.PERFORMANCE, "accuracy", "none")


def test_labels_join_whatever_their_order_and_delay():
    tracker, reader, clock = make_tracker(SMALL)
    tracker.ingest([batch("m", ["a", "b", "c", "d"], [1, 0, 1, 1], t_ns=int(clock.t * 1e9))])
    clock.t += 7 * 86400  # a week later, in reverse order
    tracker.ingest(labels(["d", "c"], [0, 1]))
    clock.t += 30
    tracker.ingest(labels(["b", "a"], [0, 1]))
    assert results(reader) == {R.JOINED: 4}
    assert _accuracy(tracker, clock) == 0.75
    pts = tracker.evaluate(clock.t)
    assert find(pts, Metric.LABELS_PENDING, **{Attr.MODEL_NAME: "m"}) == 0
    assert find(pts, Metric.LABELS_COVERAGE, **{Attr.WINDOW: "count"}) == 1.0
    # the lag histogram saw the two delays
    (lag,) = sums(reader, Metric.LABELS_LAG.name).values()
    assert lag.count == 4
    assert lag.sum == pytest.approx(2 * 7 * 86400 + 2 * (7 * 86400 + 30))


def test_duplicate_labels_count_once_and_the_first_wins():
    tracker, reader, clock = make_tracker(SMALL)
    tracker.ingest([batch("m", ["a", "b"], ["x", "y"])])
    tracker.ingest(labels(["a", "a"], ["x", "y"]))  # duplicate in one batch
    tracker.ingest(labels(["a", "b"], ["y", "y"]))  # duplicate in a later batch
    assert results(reader) == {R.JOINED: 2, R.DUPLICATE: 2}
    assert _accuracy(tracker, clock) == 1.0  # a=x (first label) and b=y


def test_label_before_its_prediction_is_held_then_joined():
    tracker, reader, clock = make_tracker(SMALL)
    tracker.ingest(labels(["early"], [1], model="m", version="1"))
    assert results(reader) == {R.HELD: 1}
    clock.t += 100
    tracker.ingest([batch("m", ["early", "other"], [1, 0])])
    assert results(reader) == {R.HELD: 1, R.JOINED: 1}
    assert _accuracy(tracker, clock) == 1.0
    pts = tracker.evaluate(clock.t)
    assert find(pts, Metric.LABELS_PENDING, **{Attr.MODEL_NAME: "m"}) == 1
    assert find(pts, Metric.LABELS_COVERAGE, **{Attr.WINDOW: "count"}) == 0.5


def test_held_label_with_no_prediction_becomes_unknown_after_the_grace_period():
    tracker, reader, clock = make_tracker({**SMALL, "labels": {"grace_s": 60}})
    tracker.ingest(labels(["ghost"], [1], model="m", version="1"))
    tracker.evaluate(clock.t + 59)
    assert results(reader) == {R.HELD: 1}
    tracker.evaluate(clock.t + 61)
    counted = sums(reader, Metric.LABELS_RECEIVED.name)
    assert counted[frozenset({Attr.MODEL_NAME: "m", Attr.MODEL_VERSION: "1",
                              Attr.LABEL_RESULT: R.UNKNOWN}.items())] == 1
    clock.t += 100
    tracker.ingest([batch("m", ["ghost"], [1])])  # too late: nothing joins
    assert R.JOINED not in results(reader)


def test_held_labels_are_bounded():
    tracker, reader, clock = make_tracker({**SMALL, "labels": {"max_held": 3}})
    tracker.ingest(labels([f"g{i}" for i in range(5)], [1] * 5))
    assert results(reader) == {R.HELD: 5, R.UNKNOWN: 2}
    tracker.ingest([batch("m", ["g0", "g4"], [1, 1])])  # g0 was pushed out, g4 was held
    assert results(reader)[R.JOINED] == 1


def test_labels_for_expired_predictions_are_counted_expired():
    # stale_after_s past the TTL: the version still exports (its pending count drops to 0);
    # its slot outlives both (limits.version_idle_s one day)
    tracker, reader, clock = make_tracker({**SMALL, "pending": {"ttl_s": 3600},
                                           "window": {**SMALL["window"], "stale_after_s": 7200}},
                                          slots=ModelSlots(50, 5, 86400.0))
    tracker.ingest([batch("m", ["a", "b"], [1, 1])])
    clock.t += 3601
    tracker.ingest(labels(["a"], [1]))  # noticed at lookup
    tracker.evaluate(clock.t)  # sweeps 'b'
    tracker.ingest(labels(["b"], [1]))  # tombstone
    assert results(reader) == {R.EXPIRED: 2}
    assert find(tracker.evaluate(clock.t), Metric.LABELS_PENDING, **{Attr.MODEL_NAME: "m"}) == 0


def test_predictions_pushed_out_by_the_cap_count_expired_and_memory_stays_bounded():
    tracker, reader, clock = make_tracker({**SMALL, "pending": {"max_predictions": 100}})
    for b in range(20):
        tracker.ingest([batch("m", [f"{b}-{i}" for i in range(50)], [1] * 50)])
    assert len(tracker._pending) == 100
    tracker.ingest(labels(["0-1", "19-49"], [1, 1]))
    assert results(reader) == {R.EXPIRED: 1, R.JOINED: 1}


def test_invalid_labels_are_counted_and_lose_nothing_else():
    tracker, reader, clock = make_tracker(SMALL)
    tracker.ingest([batch("m", ["a", "b", "c"], [1, 0, 1]),
                    batch("r", ["x", "y"], [1.5, 2.5], version="2")])
    tracker.ingest(labels(["", "a", "b", "c"], [1, None, float("nan"), 1])
                   + labels(["x", "y"], ["cat", 2.0]))  # a string for a regression model
    assert results(reader) == {R.INVALID: 4, R.JOINED: 2}
    # 'a' is still pending: a valid label later joins it
    tracker.ingest(labels(["a"], [1]))
    assert results(reader)[R.JOINED] == 3
    assert _accuracy(tracker, clock) == 1.0


def test_labels_of_two_models_in_one_batch_join_their_own_model():
    tracker, reader, clock = make_tracker(SMALL)
    tracker.ingest([batch("m1", ["a", "b"], ["x", "x"]), batch("m2", ["c", "d"], [3, 4])])
    tracker.ingest(labels(["d", "a", "c", "b"], [4, "x", 0, "y"]))
    pts = tracker.evaluate(clock.t)
    accs = {p.attributes[Attr.MODEL_NAME]: p.value for p in pts
            if p.spec is Metric.PERFORMANCE and p.attributes[Attr.METRIC_NAME] == "accuracy"
            and p.attributes[Attr.WINDOW] == "count"}
    assert accs == {"m1": 0.5, "m2": 0.5}
    counted = sums(reader, Metric.LABELS_RECEIVED.name)
    for model in ("m1", "m2"):
        assert counted[frozenset({Attr.MODEL_NAME: model, Attr.MODEL_VERSION: "1",
                                  Attr.LABEL_RESULT: R.JOINED}.items())] == 2


def test_restart_mid_join_loses_no_pending_prediction():
    tracker, reader, clock = make_tracker(SMALL)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    pred = np.where(rng.random(200) < 0.7, y, (y + 1) % 3)
    ids = [f"p{i}" for i in range(200)]
    tracker.ingest([batch("m", ids[:150], pred[:150])])
    tracker.ingest(labels(ids[:60], y[:60].tolist()))
    tracker.ingest(labels(["early"], [2]))  # held at checkpoint time
    saved = through_checkpoint(tracker.snapshot())  # what the checkpoint file holds

    restarted, reader2, _ = make_tracker(SMALL, clock=clock)
    restarted.restore(saved)
    restarted.ingest([batch("m", ids[150:] + ["early"], pred[150:].tolist() + [2])])
    restarted.ingest(labels(ids[60:], y[60:].tolist()))
    assert results(reader2) == {R.JOINED: 141}  # 140 + the held one
    # the count window holds the last 50 joins: predictions p150..p199
    expected = np.mean((pred == y)[150:])
    assert _accuracy(restarted, clock) == pytest.approx(expected)
    assert find(restarted.evaluate(clock.t), Metric.LABELS_PENDING, **{Attr.MODEL_NAME: "m"}) == 0


def test_a_malformed_snapshot_is_refused_and_the_state_kept():
    tracker, reader, clock = make_tracker(SMALL)
    tracker.ingest([batch("m", ["a"], [1])])
    with pytest.raises(ValueError):
        tracker.restore({"format_version": 99})
    snap = tracker.snapshot()
    snap["pending"]["ids"] = ["a", "b"]  # lengths no longer match
    with pytest.raises(ValueError):
        tracker.restore(snap)
    tracker.ingest(labels(["a"], [1]))
    assert results(reader) == {R.JOINED: 1}


def test_ingest_and_evaluate_from_two_threads():
    import threading

    tracker, reader, clock = make_tracker(SMALL)
    errors = []
    done = threading.Event()

    def evaluate_loop():
        try:
            while not done.is_set():
                tracker.evaluate(clock.t)
        except Exception as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    thread = threading.Thread(target=evaluate_loop)
    thread.start()
    try:
        for b in range(40):
            ids = [f"{b}-{i}" for i in range(50)]
            tracker.ingest([batch("m", ids, [b % 2] * 50, segments=["s1", "s2"] * 25)])
            tracker.ingest(labels(ids, [b % 2] * 50))
    finally:
        done.set()
        thread.join()
    assert errors == []
    assert results(reader) == {R.JOINED: 2000}
    assert _accuracy(tracker, clock) == 1.0
