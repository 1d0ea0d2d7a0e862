"""Label join: throughput (labels/s), memory per pending prediction, RSS flat at the cap.

Run: .venv/bin/python benchmarks/bench_label_join.py [--quick]

1. Throughput: batches of 1000 ground-truth events joined to registered predictions, with the
   real OTel SDK meter (labels-received counter, label-lag histogram). Baseline in the same run:
   the floor any join must pay in Python, i.e. reading each event's id and label and one dict
   lookup per label. Printed as medians over repeats and the ratio to the floor.
2. Memory per pending prediction: RSS growth over N registered predictions (uuid4-hex ids) / N.
3. Flat at the cap: with the pending store full, feed 5x its cap more predictions (a third of
   them labelled); RSS after each cap's worth must stay flat.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402

from otel_ml.processor.accuracy import AccuracySettings, AccuracyTracker  # noqa: E402
from otel_ml.processor.contracts import GroundTruthEvent, InferenceBatch  # noqa: E402

BATCH = 1000


def _tracker(cap: int, meter=True) -> AccuracyTracker:
    settings = AccuracySettings.from_mapping({
        "pending": {"max_predictions": cap, "max_tombstones": 10_000},
        "window": {"count": 1000, "time_s": 3600, "max_events": 20_000}})
    m = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("bench") if meter else None
    return AccuracyTracker(settings, meter=m)


def _batches(n: int, rng: np.random.Generator, prefix: str = ""):
    out = []
    for start in range(0, n, BATCH):
        ids = [uuid.uuid4().hex for _ in range(BATCH)]
        y = rng.integers(0, 2, BATCH)
        p1 = rng.random(BATCH)
        out.append((InferenceBatch("bench", "1", {}, (p1 > 0.5).astype(int).tolist(),
                                   confidences=np.maximum(p1, 1 - p1).tolist(),
                                   probabilities={"0": (1 - p1).tolist(), "1": p1.tolist()},
                                   prediction_ids=ids), y.tolist()))
    return out


def _label_events(batch: InferenceBatch, y: list):
    return [GroundTruthEvent(i, v) for i, v in zip(batch.prediction_ids, y)]


def throughput(n: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    join_rates, floor_rates, nometer_rates = [], [], []
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
        index = {i: k for k, (b, _) in enumerate(data) for i in b.prediction_ids}
        events = [_label_events(b, y) for b, y in data]
        t0 = time.perf_counter()
        for ev in events:
            ids = [e.prediction_id for e in ev]
            _labels = [e.label for e in ev]
            _found = list(map(index.get, ids))
        floor_rates.append(n / (time.perf_counter() - t0))
    join, floor, nometer = (statistics.median(r) for r in (join_rates, floor_rates, nometer_rates))
    print(f"label join   : {join:>12,.0f} labels/s (median of {repeats}, {n:,} labels, real SDK meter)")
    print(f"  no meter   : {nometer:>12,.0f} labels/s")
    print(f"  floor      : {floor:>12,.0f} labels/s (read id+label, one dict lookup per label)")
    print(f"  ratio join/floor: {join / floor:.3f}   meter cost: {1 - join / nometer:.1%}")


def _rss() -> int:
    gc.collect()
    return psutil.Process().memory_info().rss


def memory_per_pending(n: int) -> None:
    rng = np.random.default_rng(1)
    data = _batches(n, rng)
    tracker = _tracker(cap=n)
    tracker.ingest([data[0][0]])  # allocate the model state and first storage
    before = _rss()
    for b, _ in data[1:]:
        tracker.ingest([b])
    grown = _rss() - before
    per = grown / (n - BATCH)
    print(f"memory per pending prediction: {per:,.0f} bytes "
          f"(RSS +{grown / 2**20:,.1f} MiB over {n - BATCH:,} predictions, 32-char ids, "
          f"2 class probabilities)")


def flat_at_cap(cap: int, rounds: int) -> None:
    rng = np.random.default_rng(2)
    tracker = _tracker(cap=cap)
    rss = []
    for r in range(rounds + 1):
        for b, y in _batches(cap, rng):
            tracker.ingest([b])
            if rng.random() < 1 / 3:
                tracker.ingest(_label_events(b, y))
        tracker.evaluate(time.time())
        rss.append(_rss())
        if r == 0:
            print(f"pending store full at {cap:,}: RSS {rss[0] / 2**20:,.1f} MiB")
    growth = max(rss[1:]) / rss[0]
    print(f"after {rounds}x the cap more traffic: RSS "
          + ", ".join(f"{v / 2**20:,.1f}" for v in rss[1:])
          + f" MiB; max/full = {growth:.3f} ({'flat' if growth < 1.10 else 'GROWING'})")
    print(f"pending entries: {len(tracker._pending):,} (cap {cap:,})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (CI smoke run)")
    args = parser.parse_args()
    n, cap, repeats = (20_000, 50_000, 3) if args.quick else (100_000, 200_000, 5)
    throughput(n, repeats)
    memory_per_pending(n * 2)
    flat_at_cap(cap, rounds=5)


if __name__ == "__main__":
    main()
