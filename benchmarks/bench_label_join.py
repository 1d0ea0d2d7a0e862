"""Label join: throughput (labels/s), memory per pending prediction, RSS flat at the cap.

Run: .venv/bin/python benchmarks/bench_label_join.py [--quick]

1. Throughput: batches of 1000 ground-truth events joined to registered predictions, with the
   real OTel SDK meter (labels-received counter, label-lag histogram). Baseline in the same run:
   a naive per-label Python join (dict of records, no windows, no metrics); the tracker without
   a meter is shown too, to separate its own cost from the OTel SDK's per-record cost.
2. Memory per pending prediction: RSS growth over N registered predictions (uuid4-hex ids) / N.
3. Flat at the cap: with the pending store full, feed 5x its cap more predictions (a third of
   them labelled); RSS after each cap's worth must stay flat (max/min over those rounds).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
import uuid
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402

from otel_ml.config_checks import from_mapping  # noqa: E402
from otel_ml.processor.accuracy import AccuracySettings, AccuracyTracker  # noqa: E402
from otel_ml.processor.contracts import GroundTruthEvent, InferenceBatch  # noqa: E402

BATCH = 1000


def _tracker(cap: int, meter=True) -> AccuracyTracker:
    settings = from_mapping(AccuracySettings, {
        "pending": {"max_predictions": cap, "max_tombstones": 10_000},
        "window": {"count": 1000, "time_s": 3600, "max_events": 20_000}}, "accuracy")
    m = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("bench") if meter else None
    return AccuracyTracker(settings, meter=m)


def _batch(rng: np.random.Generator):
    """One inference batch of BATCH binary predictions (fresh uuid4-hex ids) and its labels."""
    ids = [uuid.uuid4().hex for _ in range(BATCH)]
    y = rng.integers(0, 2, BATCH)
    p1 = rng.random(BATCH)
    return (InferenceBatch("bench", "1", {}, (p1 > 0.5).astype(int).tolist(),
                           confidences=np.maximum(p1, 1 - p1).tolist(),
                           probabilities={"0": (1 - p1).tolist(), "1": p1.tolist()},
                           prediction_ids=ids), y.tolist())


def _batches(n: int, rng: np.random.Generator):
    return [_batch(rng) for _ in range(0, n, BATCH)]


def _label_events(batch: InferenceBatch, y: list):
    return [GroundTruthEvent(i, v) for i, v in zip(batch.prediction_ids, y)]


def _naive_join(data, events) -> None:
    """Baseline: a plain per-label Python join (dict of records, flags, lists), no windows."""
    store = {}
    now = time.time()
    for b, _ in data:
        for i, p in zip(b.prediction_ids, b.predictions):
            store[i] = [p, False, now]
    t0 = time.perf_counter()
    held, lags, correct, dup = {}, [], 0, 0
    for ev in events:
        for e in ev:
            rec = store.get(e.prediction_id)
            if rec is None:
                held[e.prediction_id] = e.label
            elif rec[1]:
                dup += 1
            else:
                rec[1] = True
                correct += rec[0] == e.label
                lags.append(now - rec[2])
    return time.perf_counter() - t0


def throughput(n: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    join_rates, naive_rates, nometer_rates = [], [], []
    for _ in range(repeats):
        data = _batches(n, rng)
        for with_meter, rates in ((True, join_rates), (False, nometer_rates)):
            tracker = _tracker(cap=2 * n, meter=with_meter)
            for b, _ in data:
                tracker.ingest([b])
            events = [_label_events(b, y) for b, y in data]
            t0 = time.perf_counter()
            for ev in events:
                tracker.ingest(ev)
            rates.append(n / (time.perf_counter() - t0))
        naive_rates.append(n / _naive_join(data, [_label_events(b, y) for b, y in data]))
    join, naive, nometer = (statistics.median(r) for r in (join_rates, naive_rates, nometer_rates))
    print(f"label join (tracker, real SDK meter): {join:>10,.0f} labels/s "
          f"(median of {repeats}, {n:,} labels in batches of {BATCH})")
    print(f"label join (tracker, no meter)      : {nometer:>10,.0f} labels/s")
    print(f"baseline: naive per-label dict join : {naive:>10,.0f} labels/s (no windows, no metrics)")
    print(f"  target >= 500,000 labels/s with the meter on: {'met' if join >= 500_000 else 'NOT met'} "
          "(the lag histogram takes a batch's lags in O(1) SDK calls: otel_ml.bulk_histogram)")
    print(f"  ratio tracker(no meter)/naive: {nometer / naive:.2f}   "
          f"share of time in the OTel SDK (lag histogram + counters): {1 - join / nometer:.0%}")


def _rss() -> int:
    gc.collect()
    return psutil.Process().memory_info().rss


def memory_per_pending(n: int) -> None:
    """Bytes kept per registered prediction (tracemalloc: Python objects and numpy buffers).

    Batches are made and dropped one at a time, so the id strings the store keeps are counted,
    as they are when ids come from decoded events. The store's arrays grow by doubling, so the
    figure is taken with the store exactly full (n = its cap, a power-of-two multiple of 1024).
    """
    rng = np.random.default_rng(1)
    tracker = _tracker(cap=n)
    tracker.ingest([_batch(rng)[0]])  # model state and first storage
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(n // BATCH - 1):
        tracker.ingest([_batch(rng)[0]])
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    count = len(tracker._pending) - BATCH
    print(f"memory per pending prediction: {grown / count:,.0f} bytes "
          f"({grown / 2**20:,.1f} MiB over {count:,} predictions: 32-char id, 2 class "
          f"probabilities; includes the window rings' share)")


def flat_at_cap(cap: int, rounds: int) -> None:
    rng = np.random.default_rng(2)
    tracker = _tracker(cap=cap)
    rss = []
    for r in range(rounds + 1):
        for _ in range(cap // BATCH):
            b, y = _batch(rng)
            tracker.ingest([b])
            if rng.random() < 1 / 3:
                tracker.ingest(_label_events(b, y))
        tracker.evaluate(time.time())
        rss.append(_rss())
        if r == 0:
            print(f"pending store full at {cap:,}: RSS {rss[0] / 2**20:,.1f} MiB")
    growth = max(rss[1:]) / rss[0]
    spread = max(rss[1:]) / min(rss[1:])
    print(f"then {rounds}x the cap more traffic, RSS after each: "
          + ", ".join(f"{v / 2**20:,.1f}" for v in rss[1:]) + " MiB")
    print(f"  max/at-cap = {growth:.3f} (one-off: eviction starts, tombstones fill); "
          f"spread over the further rounds max/min = {spread:.3f} "
          f"({'flat' if spread < 1.05 else 'GROWING'})")
    print(f"pending entries: {len(tracker._pending):,} (cap {cap:,})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (CI smoke run)")
    args = parser.parse_args()
    n, cap, repeats = (20_000, 64 * 1024, 3) if args.quick else (100_000, 256 * 1024, 5)
    throughput(n, repeats)
    memory_per_pending(cap)
    flat_at_cap(cap, rounds=5)


if __name__ == "__main__":
    main()
