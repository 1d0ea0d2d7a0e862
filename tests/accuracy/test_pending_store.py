"""The pending store: bounded by count and TTL, tombstones, re-used ids, checkpoint round trip."""

import gc
import sys
import tracemalloc

import numpy as np

from otel_ml.processor.accuracy import pending as pd
from otel_ml.processor.accuracy.pending import PendingStore
from tests.support.checkpoints import through_checkpoint


def _values(n, t=0.0, model=0):
    return {"model": np.full(n, model, np.int32), "pseq": np.arange(n), "t_pred": np.full(n, t),
            "t_arrival": np.full(n, t), "y_pred": np.arange(n, dtype=float) % 3,
            "conf": np.full(n, 0.9, np.float32), "segment": np.full(n, -1, np.int32)}


def test_register_and_lookup():
    s = PendingStore(100, ttl_s=60, max_tombstones=10)
    s.register([f"id{i}" for i in range(5)], _values(5, t=10.0))
    look = s.lookup(["id3", "nope", "id0"], now=20.0)
    assert look.status.tolist() == [pd.FOUND, pd.ABSENT, pd.FOUND]
    rows = s.rows(look.seqs[[0, 2]], ("y_pred",))
    assert rows["y_pred"].tolist() == [0.0, 0.0]  # 3 % 3, 0 % 3
    s.mark_labelled(look.seqs[[0]])
    assert s.lookup(["id3"], now=20.0).status.tolist() == [pd.LABELLED]
    assert s.pending_by_model(1).tolist() == [4]


def test_cap_evicts_oldest_and_remembers_them():
    s = PendingStore(1000, ttl_s=1e9, max_tombstones=100_000)
    for b in range(10):  # 10x the cap
        s.register([f"{b}-{i}" for i in range(1000)], _values(1000))
        assert len(s) == 1000
    assert len(s.ring) == 1000
    look = s.lookup(["0-5", "9-999", "8-1"], now=0.0)
    assert look.status.tolist() == [pd.TOMB_EXPIRED, pd.FOUND, pd.TOMB_EXPIRED]


def test_one_batch_larger_than_the_cap_keeps_the_newest():
    s = PendingStore(100, ttl_s=1e9, max_tombstones=0)
    s.register([f"x{i}" for i in range(250)], _values(250))
    assert len(s) == 100
    assert s.lookup(["x249", "x150", "x149"], 0.0).status.tolist() == [pd.FOUND, pd.FOUND,
                                                                       pd.ABSENT]


def test_ttl_expiry_and_tombstone_reason():
    s = PendingStore(100, ttl_s=60, max_tombstones=10)
    s.register(["a", "b"], _values(2, t=0.0))
    s.register(["c"], _values(1, t=50.0))
    s.mark_labelled(s.lookup(["b"], 1.0).seqs)
    assert s.expire(now=70.0) == 2
    assert len(s) == 1
    look = s.lookup(["a", "b", "c"], now=70.0)
    assert look.status.tolist() == [pd.TOMB_EXPIRED, pd.TOMB_LABELLED, pd.FOUND]
    # a lookup itself notices an entry past its TTL
    assert s.lookup(["c"], now=111.0).status.tolist() == [pd.EXPIRED]
    assert len(s) == 0


def test_tombstones_are_bounded():
    s = PendingStore(10, ttl_s=1e9, max_tombstones=5)
    for b in range(4):
        s.register([f"{b}-{i}" for i in range(10)], _values(10))
    assert len(s._tombstones) == 5


def test_reused_id_replaces_the_older_registration():
    s = PendingStore(100, ttl_s=1e9, max_tombstones=10)
    s.register(["a", "b"], _values(2))
    v = _values(3)
    v["y_pred"] = np.array([7.0, 8.0, 9.0])
    s.register(["a", "c", "a"], v)  # 'a' again, twice in the batch: the last one wins
    assert len(s) == 3
    look = s.lookup(["a"], 0.0)
    assert s.rows(look.seqs, ("y_pred",))["y_pred"].tolist() == [9.0]
    assert s.pending_by_model(1).tolist() == [3]


def test_checkpoint_round_trip_through_json():
    s = PendingStore(50, ttl_s=100, max_tombstones=10)
    for b in range(3):
        s.register([f"{b}-{i}" for i in range(20)], _values(20, t=float(b)))
    s.mark_labelled(s.lookup(["2-0"], 5.0).seqs)
    s.widen_proba(2)
    data = through_checkpoint(s.to_dict())
    r = PendingStore(50, ttl_s=100, max_tombstones=10)
    r.restore(data)
    assert len(r) == len(s) == 50
    ids = [f"{b}-{i}" for b in range(3) for i in range(20)]
    assert r.lookup(ids, 5.0).status.tolist() == s.lookup(ids, 5.0).status.tolist()
    a, b = s.lookup(["1-3"], 5.0), r.lookup(["1-3"], 5.0)
    for col in ("t_pred", "t_arrival", "y_pred", "conf"):
        assert s.rows(a.seqs, (col,))[col].tolist() == r.rows(b.seqs, (col,))[col].tolist()


def test_byte_bound_evicts_the_oldest_and_the_accounting_matches_the_heap():
    """30,000 ids of ~1 KiB (about 36 MiB unbounded) against an 8 MiB bound: the store keeps the
    newest that fit, counts the rest, and what it accounts is what tracemalloc sees it hold."""
    bound = 8 * 2**20
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        s = PendingStore(1_000_000, ttl_s=1e9, max_tombstones=1000, max_bytes=bound)
        for chunk in range(30):
            s.register([f"{chunk:02d}-{i:04d}-" + "x" * 1000 for i in range(1000)], _values(1000))
            assert s.accounted_bytes <= bound
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    kept = len(s)
    assert 5000 < kept < 30_000
    assert s.evicted[pd.EVICT_BYTES] == 30_000 - kept
    assert abs(held - s.accounted_bytes) <= 0.10 * bound, (held, s.accounted_bytes)
    newest, oldest = "29-0999-" + "x" * 1000, "00-0000-" + "x" * 1000
    assert s.lookup([newest, oldest], now=0.0).status.tolist() == [pd.FOUND, pd.ABSENT]


def test_byte_accounting_follows_reused_ids_ttl_and_restore():
    s = PendingStore(100, ttl_s=10, max_tombstones=0, max_bytes=2**20)
    empty = s.accounted_bytes
    ids = [f"id-{i}-" + "y" * 200 for i in range(50)]
    s.register(ids, _values(50))
    grown = s.accounted_bytes - empty
    assert grown == sum(map(sys.getsizeof, ids)) + 50 * pd._ENTRY_OVERHEAD
    s.register(ids[:10], _values(10, t=5.0))  # re-used ids replace their registration
    assert s.accounted_bytes - empty == grown
    restored = PendingStore(100, ttl_s=10, max_tombstones=0, max_bytes=2**20)
    restored.restore(through_checkpoint(s.to_dict()))
    assert restored.accounted_bytes == s.accounted_bytes
    assert s.expire(now=12.0) == 40  # the 40 registered at t=0
    assert s.evicted[pd.EVICT_TTL] == 40
    assert s.accounted_bytes - empty == sum(map(sys.getsizeof, ids[:10])) + 10 * pd._ENTRY_OVERHEAD
