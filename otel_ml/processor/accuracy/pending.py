"""The pending store: predictions that may still receive a label or an outcome, by prediction id.

A ring of the newest ``max_predictions`` registrations (columns in numpy) plus a dict from
prediction id to the registration's sequence number. A batch registers with one dict update
and array writes. An entry leaves the store when ``max_predictions`` newer ones have arrived
(cap) or ``ttl_s`` after it arrived (TTL); its id then goes to a bounded tombstone list so a
late label is counted as ``expired`` (or ``duplicate`` if it was labelled) instead of held.
Joined entries stay until they leave, so a second label is a ``duplicate`` and outcomes can
still join after the label.

Memory is bounded in bytes as well (``max_bytes``): ``accounted_bytes`` is the ring's allocated
rows plus, per live entry, its id string (``sys.getsizeof``) and index entry, plus the
tombstones. Past the bound the oldest tombstones go first, then the oldest entries (as the
count cap does). ``evicted`` counts entries that left unlabelled, by reason.
"""

from __future__ import annotations

import sys
from collections import Counter, OrderedDict
from itertools import compress, repeat
from operator import is_not

import numpy as np

from otel_ml.processor.state_codec import read_array
from otel_ml.processor.accuracy.ring import ColumnRing

__all__ = ["PendingStore", "Lookup", "FOUND", "LABELLED", "EXPIRED", "TOMB_EXPIRED",
           "TOMB_LABELLED", "ABSENT", "EVICT_COUNT", "EVICT_BYTES", "EVICT_TTL", "EVICT_RELEASED"]

# reasons an unlabelled prediction left the store (``PendingStore.evicted``)
EVICT_COUNT = "max_predictions"
EVICT_BYTES = "max_bytes"
EVICT_TTL = "ttl"
EVICT_RELEASED = "released"  # its model version's slot was released
# CPython bytes of one index entry (dict slot and key hash, the boxed int seq) beside its id
# string, and of one tombstone (ordered-dict slot and link) beside its id string
_ENTRY_OVERHEAD = 100
_TOMB_OVERHEAD = 110

# lookup outcomes
FOUND, LABELLED, EXPIRED, TOMB_EXPIRED, TOMB_LABELLED, ABSENT = range(6)

COLUMNS = {
    "alive": ("?", None),
    "labelled": ("?", None),
    "model": ("i4", None),  # index of the model version's state in the tracker
    "pseq": ("i8", None),  # row in that model version's prediction window ring
    "t_pred": ("f8", None),  # event time of the prediction (s)
    "t_arrival": ("f8", None),  # processor clock when registered (s): TTL runs from here
    "y_pred": ("f8", None),  # class code, or the regression value
    "conf": ("f8", None),  # float64: calibration maps are steep near 1.0
    "segment": ("i4", None),
    "proba": ("f8", 0),  # widened to the largest stored class count on demand
}


class Lookup:
    """Result of looking up a batch of ids: store sequence numbers and an outcome code each."""

    __slots__ = ("seqs", "status")

    def __init__(self, seqs: np.ndarray, status: np.ndarray):
        self.seqs = seqs
        self.status = status


class PendingStore:
    def __init__(self, max_predictions: int, ttl_s: float, max_tombstones: int,
                 max_bytes: int | None = None):
        self.ttl_s = float(ttl_s)
        self.max_tombstones = int(max_tombstones)
        self.max_bytes = None if max_bytes is None else int(max_bytes)
        self.ring = ColumnRing(max_predictions, COLUMNS, initial=1024)
        self._ids = np.empty(self.ring.storage, dtype=object)  # id at each ring position
        self._index: dict[str, int] = {}  # id -> store seq of its live registration
        self._tombstones: OrderedDict[str, bool] = OrderedDict()  # id -> was labelled
        self._id_bytes = 0  # ids and index entries of live registrations
        self._tomb_bytes = 0
        self._cursor = 0  # entries below this seq were all evicted by the byte bound
        self.evicted: Counter[str] = Counter()  # unlabelled entries that left, by reason

    # --- size ---------------------------------------------------------------------------
    def __len__(self) -> int:
        """Predictions in the store (labelled or not)."""
        return len(self._index)

    @property
    def accounted_bytes(self) -> int:
        """Memory the store holds: allocated ring rows, live ids with their index entries, tombstones."""
        row = sum(col.itemsize * (col.shape[1] if col.ndim == 2 else 1)
                  for col in (self.ring.column(n) for n in COLUMNS)) + self._ids.itemsize
        return self.ring.storage * row + self._id_bytes + self._tomb_bytes

    def pending_by_model(self, n_models: int) -> np.ndarray:
        """Unlabelled predictions in the store, per model-version index."""
        _, cols = self.ring.tail(names=("alive", "labelled", "model"))
        waiting = cols["alive"] & ~cols["labelled"]
        return np.bincount(cols["model"][waiting], minlength=n_models)[:n_models]

    # --- registration -------------------------------------------------------------------
    def _sync_ids(self) -> None:
        size = self.ring.storage
        if self._ids.shape[0] != size:  # the ring grew: positions equal seqs before a wrap
            grown = np.empty(size, dtype=object)
            grown[: self._ids.shape[0]] = self._ids
            self._ids = grown

    def register(self, ids: list[str], values: dict[str, np.ndarray]) -> np.ndarray:
        """Add predictions (ids non-empty strings); returns their store sequence numbers.

        A re-used id replaces the older registration. Entries pushed out by the cap become
        tombstones.
        """
        n = len(ids)
        if n == 0:
            return np.empty(0, dtype=np.int64)
        ring = self.ring
        start = ring.total
        ring.reserve(start + n)
        self._sync_ids()
        seqs = np.arange(start, start + n, dtype=np.int64)
        keep_from = max(0, n - ring.capacity)
        # entries about to be overwritten by the cap
        if start + n > ring.capacity:
            old = seqs[keep_from:] - ring.capacity
            old = old[old >= 0]
            self._evict(old, EVICT_COUNT)
        # older registrations of re-used ids
        prev = [s for s in map(self._index.get, ids) if s is not None]
        if prev:
            prev_arr = np.fromiter(prev, dtype=np.int64, count=len(prev))
            self._drop_ids(prev_arr[ring.held(prev_arr)])
            ring.set("alive", prev_arr, False)
        ring.append(n, {**values, "alive": np.ones(n, bool), "labelled": np.zeros(n, bool)})
        pos = ring.positions(seqs[keep_from:])
        kept_ids = ids[keep_from:]
        self._ids[pos] = kept_ids
        self._index.update(zip(kept_ids, seqs[keep_from:].tolist()))
        self._id_bytes += sum(map(sys.getsizeof, kept_ids)) + _ENTRY_OVERHEAD * len(kept_ids)
        # an id repeated inside the batch: only its last row stays alive
        current = np.fromiter(map(self._index.__getitem__, kept_ids), dtype=np.int64,
                              count=len(kept_ids))
        repeated = current != seqs[keep_from:]
        if repeated.any():
            self._drop_ids(seqs[keep_from:][repeated])
            ring.set("alive", seqs[keep_from:][repeated], False)
        self._bound_bytes()
        return seqs

    def _drop_ids(self, seqs: np.ndarray) -> None:
        """Forget the id strings at ``seqs`` (rows no longer alive), keeping the accounting."""
        pos = self.ring.positions(seqs)
        gone = [i for i in self._ids[pos].tolist() if i is not None]
        self._id_bytes -= sum(map(sys.getsizeof, gone)) + _ENTRY_OVERHEAD * len(gone)
        self._ids[pos] = None

    def _bound_bytes(self) -> None:
        """Past ``max_bytes``: drop the oldest tombstones, then evict the oldest entries."""
        if self.max_bytes is None:
            return
        excess = self.accounted_bytes - self.max_bytes
        while excess > 0 and self._tombstones:
            key, _ = self._tombstones.popitem(last=False)
            freed = sys.getsizeof(key) + _TOMB_OVERHEAD
            self._tomb_bytes -= freed
            excess -= freed
        if excess <= 0 or not self._index:
            return
        # oldest first, from a cursor: no pass over the whole ring (its large temporary arrays
        # would fragment the heap that the id strings live in)
        per_entry = max(1, self._id_bytes // max(1, len(self._index)))
        seq = max(self._cursor, self.ring.first_seq)
        while excess > 0 and seq < self.ring.total:
            take = np.arange(seq, min(seq + max(1, -(-excess // per_entry)), self.ring.total))
            seq = int(take[-1]) + 1
            before = self._id_bytes
            self._evict(take, EVICT_BYTES, tombstones=False)
            excess -= before - self._id_bytes
        self._cursor = seq

    def _evict(self, seqs: np.ndarray, reason: str, tombstones: bool = True) -> None:
        """Remove live entries at ``seqs`` and remember their ids as tombstones (not when the
        byte bound evicts: tombstones would take the room back)."""
        if seqs.size == 0:
            return
        ring = self.ring
        pos = ring.positions(seqs)
        alive = ring.column("alive")[pos]
        if not alive.any():
            return
        pos = pos[alive]
        labelled = ring.column("labelled")[pos]
        self.evicted[reason] += int(np.count_nonzero(~labelled))
        gone = self._ids[pos].tolist()
        for key in gone:
            self._index.pop(key, None)
        self._id_bytes -= sum(map(sys.getsizeof, gone)) + _ENTRY_OVERHEAD * len(gone)
        ring.column("alive")[pos] = False
        self._ids[pos] = None
        if self.max_tombstones and tombstones:
            tomb = self._tombstones
            fresh = [k for k in gone if k not in tomb]
            tomb.update(zip(gone, labelled.tolist()))
            self._tomb_bytes += sum(map(sys.getsizeof, fresh)) + _TOMB_OVERHEAD * len(fresh)
            excess = len(tomb) - self.max_tombstones
            for _ in range(max(0, excess)):
                key, _ = tomb.popitem(last=False)
                self._tomb_bytes -= sys.getsizeof(key) + _TOMB_OVERHEAD

    def alive_by_model(self, n_models: int) -> np.ndarray:
        """Predictions in the store (labelled or not), per model-version index."""
        _, cols = self.ring.tail(names=("alive", "model"))
        return np.bincount(cols["model"][cols["alive"]], minlength=n_models)[:n_models]

    def evict_model(self, model: int) -> int:
        """Evict every entry of one model-version index (its slot was released); returns how many."""
        seqs, cols = self.ring.tail(names=("alive", "model"))
        gone = cols["alive"] & (cols["model"] == model)
        count = int(gone.sum())
        if count:
            self._evict(seqs[gone], EVICT_RELEASED)
        return count

    def expire(self, now: float) -> int:
        """Evict entries older than the TTL; returns how many left."""
        if not self._index:
            return 0
        seqs, cols = self.ring.tail(names=("alive", "t_arrival"))
        old = cols["alive"] & (cols["t_arrival"] < now - self.ttl_s)
        count = int(old.sum())
        if count:
            self._evict(seqs[old], EVICT_TTL)
        return count

    # --- lookups ------------------------------------------------------------------------
    def lookup(self, ids: list[str], now: float) -> Lookup:
        """Find ids; an entry past its TTL is evicted here and reported ``EXPIRED``."""
        n = len(ids)
        found = list(map(self._index.get, ids))
        hit = np.fromiter(map(is_not, found, repeat(None)), dtype=bool, count=n)
        seqs = np.full(n, -1, dtype=np.int64)
        if hit.any():
            seqs[hit] = np.fromiter(compress(found, hit.tolist()), dtype=np.int64)
        status = np.full(n, ABSENT, dtype=np.int8)
        if hit.any():
            hs = seqs[hit]
            labelled = self.ring.get("labelled", hs)
            old = self.ring.get("t_arrival", hs) < now - self.ttl_s
            st = np.where(labelled, LABELLED, FOUND).astype(np.int8)
            st[old] = np.where(labelled[old], TOMB_LABELLED, EXPIRED)
            status[hit] = st
            if old.any():
                self._evict(hs[old], EVICT_TTL)
        miss = ~hit
        if miss.any() and self._tombstones:
            tomb = self._tombstones
            miss_idx = np.flatnonzero(miss)
            marks = [tomb.get(ids[i]) for i in miss_idx.tolist()]
            for i, mark in zip(miss_idx.tolist(), marks):
                if mark is not None:
                    status[i] = TOMB_LABELLED if mark else TOMB_EXPIRED
        return Lookup(seqs, status)

    def contains(self, ids: list[str]) -> list[str]:
        """The ids among ``ids`` that are in the store."""
        return [i for i in ids if i in self._index]

    def mark_labelled(self, seqs: np.ndarray) -> None:
        self.ring.set("labelled", seqs, True)

    def rows(self, seqs: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        return {name: self.ring.get(name, seqs) for name in names}

    def widen_proba(self, width: int) -> None:
        self.ring.widen("proba", width)

    # --- checkpoint ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Live entries only, oldest first (a restore re-registers them in order)."""
        seqs, cols = self.ring.tail()
        alive = cols.pop("alive")
        ids = self._ids[self.ring.positions(seqs[alive])].tolist()
        return {
            "ids": ids,
            "columns": {k: v[alive] for k, v in cols.items()},
            "tombstones": [[k, v] for k, v in self._tombstones.items()],
        }

    def restore(self, data: dict) -> None:
        ids = [str(i) for i in data["ids"]]
        cols = {k: read_array(v) for k, v in data["columns"].items() if k in COLUMNS}
        if any(len(v) != len(ids) for v in cols.values()):
            raise ValueError("pending store columns and ids differ in length")
        if "proba" in cols and cols["proba"].ndim == 2:
            self.widen_proba(cols["proba"].shape[1])
        labelled = cols.pop("labelled", np.zeros(len(ids), bool))
        seqs = self.register(ids, cols)
        self.ring.set("labelled", seqs, labelled)
        self._tombstones = OrderedDict((str(k), bool(v)) for k, v in data.get("tombstones", []))
        self._tomb_bytes = (sum(map(sys.getsizeof, self._tombstones))
                            + _TOMB_OVERHEAD * len(self._tombstones))
        self._bound_bytes()
