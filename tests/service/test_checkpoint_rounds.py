"""The drift engine's and the accuracy tracker's checkpoints of one round hold the same events,
even when the round starts while the ingest worker has applied a chunk to one and not the other."""

from __future__ import annotations

import threading

import numpy as np

from otel_ml.config_checks import from_mapping
from otel_ml.processor.accuracy import AccuracyTracker
from otel_ml.processor.admission import ModelSlots
from otel_ml.processor.checkpoint import CheckpointStore
from otel_ml.processor.contracts import InferenceBatch
from otel_ml.processor.drift_engine import DriftEngine
from otel_ml.processor.engine_settings import EngineSettings
from otel_ml.processor.profile import ProfileStore
from otel_ml.processor.profile_build import build_profile
from otel_ml.processor.service import Processor
from tests.service.test_processor import config
from tests.support.checkpoints import through_checkpoint
from tests.support.waiting import wait_until

MODEL, VERSION = "fraud", "3"


class GatedTracker(AccuracyTracker):
    """The real tracker whose ingest waits at a gate: the worker stops between the components."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.entered = threading.Event()
        self.proceed = threading.Event()
        self.proceed.set()

    def ingest(self, events):
        self.entered.set()
        assert self.proceed.wait(60), "gate never opened"
        super().ingest(events)


def drift_predictions(state: dict) -> int:
    (version,) = state["versions"]
    return int(version["count"]["pos"])


def accuracy_predictions(state: dict) -> int:
    (model,) = [m for m in state["models"] if m is not None]
    return int(model["predictions"]["total"])


def batch(rng: np.random.Generator, n: int) -> InferenceBatch:
    return InferenceBatch(MODEL, VERSION, {"x": rng.normal(size=n).tolist()},
                          rng.integers(0, 2, n).tolist(), rng.uniform(0.5, 1.0, n).tolist())


def test_a_checkpoint_round_waits_for_the_chunk_every_component_has_not_yet_applied(tmp_path):
    rng = np.random.default_rng(5)
    profiles = ProfileStore()
    profiles.add(build_profile(MODEL, VERSION, {"x": rng.normal(size=400)}, rng.integers(0, 2, 400),
                               rng.uniform(0.5, 1.0, 400), rng=rng))
    settings = EngineSettings()
    slots = ModelSlots.from_limits(settings.limits, profiles)
    trackers: list[GatedTracker] = []

    def tracker(meter):
        trackers.append(GatedTracker(profiles=profiles, meter=meter, slots=slots))
        return trackers[-1]

    proc = Processor(config(tmp_path), component_factories=[
        lambda meter: DriftEngine(settings, profiles, meter=meter, slots=slots), tracker])
    proc.start()
    gated = trackers[-1]
    reader = CheckpointStore(proc.store.state_dir)  # reads only: the processor holds the lock
    try:
        proc.queue.submit([batch(rng, 300)])
        assert proc.queue.drain(30)
        gated.proceed.clear()
        gated.entered.clear()
        proc.queue.submit([batch(rng, 100)])
        # the worker has applied the 100 predictions to the drift engine and waits at the tracker
        wait_until(gated.entered.is_set, timeout=30, message="worker between the two components")
        saved = []
        round_ = threading.Thread(target=lambda: saved.append(proc.checkpoint_now()), daemon=True)
        round_.start()
        round_.join(0.5)  # time for a round that does not wait for the worker to write both files
        gated.proceed.set()
        round_.join(30)
        assert saved == [True]
        drift, accuracy = reader.load("drift"), reader.load("accuracy")
        assert drift_predictions(drift) == accuracy_predictions(accuracy) == 400
    finally:
        gated.proceed.set()
        proc.stop(checkpoint=False)


def test_a_snapshot_is_a_copy_that_later_ingests_do_not_change():
    """The service encodes and writes snapshots after the worker resumes: they must not share
    buffers with the live windows and rings."""
    rng = np.random.default_rng(6)
    profiles = ProfileStore()
    profiles.add(build_profile(MODEL, VERSION, {"x": rng.normal(size=400)}, rng.integers(0, 2, 400),
                               rng.uniform(0.5, 1.0, 400), rng=rng))
    settings = from_mapping(EngineSettings, {"windows": {"count_size": 200}})
    drift = DriftEngine(settings, profiles, clock=lambda: 1000.0)
    accuracy = AccuracyTracker(profiles=profiles, clock=lambda: 1000.0, slots=drift.slots)
    first = batch(rng, 150)
    for component in (drift, accuracy):
        component.ingest([first])
    snapshots = {c.name: c.snapshot() for c in (drift, accuracy)}
    later = batch(rng, 150)  # wraps the count window's ring buffer over the first values
    for component in (drift, accuracy):
        component.ingest([later])
    back = DriftEngine(settings, profiles, clock=lambda: 1000.0)
    back.restore(through_checkpoint(snapshots["drift"]))
    assert back.window_events(MODEL, VERSION) == (150, 150)
    fresh = DriftEngine(settings, profiles, clock=lambda: 1000.0)
    fresh.ingest([first])
    assert back.evaluate(1000.0) == fresh.evaluate(1000.0)
    (model,) = [m for m in through_checkpoint(snapshots["accuracy"])["models"] if m is not None]
    assert model["predictions"]["total"] == 150
    np.testing.assert_array_equal(model["predictions"]["columns"]["y_pred"],
                                  np.asarray(first.predictions, dtype=float))
