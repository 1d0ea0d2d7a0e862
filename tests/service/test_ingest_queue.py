"""The bounded ingest queue: delivery order, overload without blocking, memory bound, drain."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest

from otel_ml.processor.contracts import GroundTruthEvent, InferenceBatch, Overloaded
from otel_ml.processor.ingest_queue import IngestQueue, estimate_bytes, event_count
from tests.support.waiting import wait_until


def batch(n: int, tag: str = "m", features: int = 3) -> InferenceBatch:
    return InferenceBatch(model=tag, version="1",
                          features={f"f{i}": [float(j) for j in range(n)] for i in range(features)},
                          predictions=[0] * n)


class Recorder:
    """A component that records what it is fed; ``gate`` (when set) holds the worker."""

    def __init__(self, name: str = "rec", gate: threading.Event | None = None, fail_on: str | None = None):
        self.name = name
        self.gate = gate
        self.fail_on = fail_on
        self.events: list = []
        self.calls = 0
        self.entered = threading.Event()

    def ingest(self, events):
        self.calls += 1
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(30)
        if self.fail_on and any(getattr(e, "model", None) == self.fail_on for e in events):
            raise ValueError("bad chunk")
        self.events.extend(events)

    def evaluate(self, now):
        return []

    def snapshot(self):
        return {}

    def restore(self, state):
        pass


def test_counts_items_not_events():
    assert event_count([batch(5), GroundTruthEvent("p", 1), batch(1)]) == 7


def test_every_component_gets_every_event_in_order():
    a, b = Recorder("a"), Recorder("b")
    q = IngestQueue([a, b], max_events=10_000, max_memory_bytes=10**9)
    q.start()
    sent = [batch(3, tag=f"m{i}") for i in range(50)]
    for i in range(0, 50, 5):
        q.submit(sent[i:i + 5])
    assert q.drain(10)
    assert [e.model for e in a.events] == [e.model for e in sent]
    assert [e.model for e in b.events] == [e.model for e in sent]
    assert q.depth == 0
    q.stop()


def test_full_queue_raises_overloaded_without_blocking_and_loses_nothing_accepted():
    gate = threading.Event()
    rec = Recorder(gate=gate)
    q = IngestQueue([rec], max_events=100, max_memory_bytes=10**9, retry_after_s=2.5)
    q.start()
    q.submit([batch(10, "first")])
    assert rec.entered.wait(10)  # the worker holds "first" and waits on the gate
    accepted = []
    for i in range(20):
        try:
            q.submit([batch(10, f"b{i}")])
            accepted.append(f"b{i}")
        except Overloaded as exc:
            assert exc.retry_after_s == 2.5
            assert "queue full" in str(exc)
            break
    # 10 in the worker's hands + 9 more batches of 10 fill the bound of 100
    assert accepted == [f"b{i}" for i in range(9)]
    assert q.depth == 100
    with pytest.raises(Overloaded):
        q.submit([GroundTruthEvent("p1", 1)])
    gate.set()
    assert q.drain(10)
    assert [e.model for e in rec.events] == ["first", *accepted]
    q.submit([batch(10, "after")])  # room again
    assert q.drain(10)
    assert rec.events[-1].model == "after"
    q.stop()


def test_memory_bound_refuses_before_the_count_bound():
    gate = threading.Event()
    rec = Recorder(gate=gate)
    one = [batch(100, features=20)]
    size = estimate_bytes(one)
    q = IngestQueue([rec], max_events=1_000_000, max_memory_bytes=int(size * 2.5))
    q.start()
    q.submit([batch(1, "hold")])
    assert rec.entered.wait(10)
    q.submit(one)
    q.submit(one)
    with pytest.raises(Overloaded, match="memory"):
        q.submit(one)
    assert q.queued_bytes == 2 * size
    gate.set()
    assert q.drain(10)
    assert q.queued_bytes == 0
    q.stop()


def test_oversized_submission_is_accepted_into_an_empty_queue():
    rec = Recorder()
    q = IngestQueue([rec], max_events=10, max_memory_bytes=10**9)
    q.start()
    q.submit([batch(50)])
    assert q.drain(10)
    assert sum(e.n for e in rec.events) == 50
    q.stop()


def test_a_failing_component_does_not_stop_the_others_or_later_chunks():
    bad, good = Recorder("bad", fail_on="poison"), Recorder("good")
    errors = []
    q = IngestQueue([bad, good], max_events=1000, max_memory_bytes=10**9,
                    on_ingest_error=lambda name, exc: errors.append((name, type(exc))))
    q.start()
    q.submit([batch(1, "poison")])
    assert q.drain(10)
    q.submit([batch(1, "fine")])
    assert q.drain(10)
    assert [e.model for e in good.events] == ["poison", "fine"]
    assert [e.model for e in bad.events] == ["fine"]
    assert errors == [("bad", ValueError)]
    assert q.ingest_errors == 1
    q.stop()


def test_stop_drains_then_refuses():
    gate = threading.Event()
    rec = Recorder(gate=gate)
    q = IngestQueue([rec], max_events=1000, max_memory_bytes=10**9)
    q.start()
    for i in range(5):
        q.submit([batch(2, f"m{i}")])
    stopper = threading.Thread(target=q.stop)
    stopper.start()
    wait_until(lambda: q._stopping, timeout=10, message="stop requested")
    with pytest.raises(Overloaded, match="shutting down"):
        q.submit([batch(1)])
    gate.set()
    stopper.join(10)
    assert [e.model for e in rec.events] == [f"m{i}" for i in range(5)]
    assert q.depth == 0


@pytest.mark.parametrize("rows, batches", [(500, 4), (1, 1500)], ids=["batches", "single-items"])
def test_memory_estimate_is_within_a_small_factor_of_the_real_heap(rows, batches):
    rng = np.random.default_rng(0)

    def make():
        # the shapes the decoder produces: Python lists of floats / strings per column
        return [InferenceBatch(
            model="m", version="1",
            features={f"f{i}": rng.normal(size=rows).tolist() for i in range(20)},
            predictions=rng.integers(0, 3, rows).tolist(),
            confidences=rng.random(rows).tolist(),
            prediction_ids=[f"id-{b}-{k}" for k in range(rows)]) for b in range(batches)]

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        events = make()
        actual = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    estimate = estimate_bytes(events)
    assert actual / 2 <= estimate <= actual * 2, (estimate, actual)
