"""Checkpoints written before the one codec (arrays as JSON lists, {"f": "nan"} learner values,
base64 sketch strings, accuracy's {"dtype", "shape", "data"} arrays) still restore, under the
same file format version; ``fixtures/checkpoint_v1`` was written by that code."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from otel_ml.config_checks import from_mapping
from otel_ml.processor.accuracy import AccuracyTracker
from otel_ml.processor.checkpoint import CheckpointStore
from otel_ml.processor.contracts import InferenceBatch
from otel_ml.processor.drift_engine import DriftEngine
from otel_ml.processor.engine_settings import EngineSettings
from otel_ml.processor.profile import Profile, ProfileStore
from otel_ml.processor.state_codec import read_array, read_bytes
from tests.support.checkpoints import through_checkpoint

FIXTURE = Path(__file__).parent / "fixtures" / "checkpoint_v1"
SETTINGS = {"windows": {"count_size": 50, "time_s": 300, "time_panes": 3, "min_events": 10,
                        "reservoir_size": 20, "sketch_k": 20, "seed": 1},
            "profiles": {"learn_from_first_n": 40}}


@pytest.fixture
def old_state(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "state")
    store = CheckpointStore(tmp_path / "state")
    store.open()
    yield store
    store.close()


def components():
    profiles = ProfileStore()
    profiles.add(Profile.load(FIXTURE / "profile.json"), "m", "1")
    eng = DriftEngine(from_mapping(EngineSettings, SETTINGS), profiles, clock=lambda: 1000.0)
    return eng, AccuracyTracker(profiles=profiles, clock=lambda: 1000.0, slots=eng.slots)


def test_an_old_drift_checkpoint_restores_windows_and_a_half_done_learner(old_state):
    eng, _ = components()
    eng.restore(old_state.load("drift"))
    assert eng.window_events("m", "1") == (50, 70)
    (learner,) = [v["learner"] for v in eng.snapshot()["versions"] if v["model"] == "learning"]
    assert learner["rows"] == 25 and math.isnan(learner["features"]["x"][0])  # {"f": "nan"} read back
    again, _ = components()
    again.restore(through_checkpoint(eng.snapshot()))  # and the new encoding holds the same
    assert again.evaluate(1000.0) == eng.evaluate(1000.0) != []
    rng = np.random.default_rng(0)
    eng.ingest([InferenceBatch("learning", "1", {"x": rng.normal(size=15).tolist()},
                               rng.integers(0, 2, 15).tolist())])
    assert eng.profile_for("learning", "1").rows == 40  # the restored 25 + 15 completed it


def test_an_old_accuracy_checkpoint_restores_pending_predictions(old_state):
    _, acc = components()
    acc.restore(old_state.load("accuracy"))
    state = acc.snapshot()
    assert len(state["pending"]["ids"]) == 95
    (m,) = [s for s in state["models"] if s is not None and s["model"] == "m"]
    assert m["predictions"]["total"] == 70 and m["realized"]["total"] == 10
    assert isinstance(state["pending"]["columns"]["y_pred"], np.ndarray)


@pytest.mark.parametrize("old, dtype, expected", [
    ([1.5, None, 3.0], np.float64, [1.5, math.nan, 3.0]),
    ([["a"], None], None, None),
    (["a", None, 2, {"f": "-inf"}], object, ["a", None, 2, -math.inf]),
    ({"dtype": "<i4", "shape": [2], "data": "AQAAAAIAAAA="}, None, [1, 2]),
    ([1, 2], np.uint16, [1, 2]),
])
def test_read_array_takes_the_old_encodings(old, dtype, expected):
    if expected is None:
        with pytest.raises(ValueError):
            read_array(old, dtype)
        return
    got = read_array(old, dtype)
    assert got.dtype == np.dtype(dtype if dtype is not None else np.int32)
    np.testing.assert_array_equal(got, np.array(expected, dtype=got.dtype))


def test_read_bytes_takes_base64_and_bytes():
    assert read_bytes("AAE=") == read_bytes(b"\x00\x01") == b"\x00\x01"
    with pytest.raises(ValueError):
        read_bytes(3)
