"""Checkpoint files: exact round trip, atomic replacement, damage detection, state-dir lock."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from datasketches import kll_floats_sketch

from otel_ml.processor.checkpoint import (
    CheckpointError,
    CheckpointStore,
    StateDirLocked,
    decode_state,
    encode_state,
)


def rich_state():
    sketch = kll_floats_sketch(200)
    for x in np.random.default_rng(1).normal(size=5000):
        sketch.update(float(x))
    return {
        "reservoir": np.random.default_rng(2).normal(size=(64, 3)),
        "counts": np.arange(10, dtype=np.int32),
        "mask": np.array([True, False, True]),
        "labels": np.array(["a", None, 3], dtype=object),
        "sketch": sketch.serialize(),
        "nan": float("nan"), "inf": float("-inf"), "big": 2**70,
        "text": "résumé ✓",
        "by_class": {0: 1.5, "1": 2, (2, "x"): [1, 2]},
        "pair": (1, "two"),
        "seen": {"a", "b"},
        "nested": [{"x": None, "y": True}],
        "scalar": np.float32(0.25),
    }


def assert_same(a, b):
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        assert a.tolist() == b.tolist()
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    elif isinstance(a, np.generic):
        assert b == a.item()
    else:
        assert a == b and type(a) is type(b)


def test_round_trip_is_exact_including_a_real_kll_sketch(tmp_path):
    store = CheckpointStore(tmp_path)
    store.open()
    state = rich_state()
    store.save("drift", state, now=123.0)
    back = store.load("drift")
    assert_same(state, back)
    restored = kll_floats_sketch.deserialize(back["sketch"])
    original = kll_floats_sketch.deserialize(state["sketch"])
    for q in (0.1, 0.5, 0.9):
        assert restored.get_quantile(q) == original.get_quantile(q)
    assert store.written_at("drift") == 123.0
    store.close()


def test_unsupported_value_names_its_path():
    with pytest.raises(CheckpointError, match=r"drift\.models\[1\]\.obj: cannot checkpoint .*object"):
        encode_state({"models": [1, {"obj": object()}]}, "drift")


def test_save_replaces_atomically_and_leaves_no_temp_files(tmp_path, monkeypatch):
    store = CheckpointStore(tmp_path)
    store.open()
    store.save("acc", {"n": 1})
    store.save("acc", {"n": 2})
    assert store.load("acc") == {"n": 2}

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.save("acc", {"n": 3})
    monkeypatch.undo()
    assert store.load("acc") == {"n": 2}  # the old checkpoint survives a failed write
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "acc.checkpoint.json"]
    store.close()


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[: len(raw) // 2], "invalid JSON"),
    (lambda raw: raw.replace(b'"n":41', b'"n":42'), "checksum mismatch"),
    (lambda raw: raw.replace(b'"format":1', b'"format":99'), "unsupported checkpoint format 99"),
    (lambda raw: b"\xff\xfe garbage", "invalid JSON"),
], ids=["truncated", "bit-flip", "future-format", "binary-garbage"])
def test_damaged_files_are_detected_and_quarantined(tmp_path, damage, message):
    store = CheckpointStore(tmp_path)
    store.open()
    path = store.save("drift", {"n": 41, "xs": [1.0, 2.0]})
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError, match=message):
        store.load("drift")
    kept = store.quarantine("drift")
    assert kept.name == "drift.checkpoint.json.corrupt" and kept.exists()
    assert store.load("drift") is None  # the next start begins empty
    store.close()


def test_missing_checkpoint_is_none(tmp_path):
    store = CheckpointStore(tmp_path / "new" / "dir")
    store.open()
    assert store.load("drift") is None
    store.close()


def test_a_second_processor_cannot_take_the_same_state_dir(tmp_path):
    first = CheckpointStore(tmp_path)
    first.open()
    second = CheckpointStore(tmp_path)
    with pytest.raises(StateDirLocked, match="in use by another otel-ml processor"):
        second.open()
    first.close()
    second.open()
    second.close()


def test_file_is_plain_json_with_format_and_checksum(tmp_path):
    store = CheckpointStore(tmp_path)
    store.open()
    doc = json.loads(store.save("x", {"a": [1, 2]}).read_text())
    assert doc["format"] == 1 and doc["component"] == "x" and len(doc["sha256"]) == 64
    assert decode_state(doc["state"]) == {"a": [1, 2]}
    store.close()
