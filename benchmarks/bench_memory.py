"""DriftEngine memory under 1x and 10x traffic: peak RSS must stay flat (within 10%).

Feeds events with 20 features (18 numeric, 1 categorical, 1 categorical flood of fresh ids that
the category cap must absorb) to several model versions, with a simulated clock running at
``--rate`` events per second so the time windows fill, roll and expire. After the 1x phase and
after 10x as many events, it prints the process's current and peak RSS, the engine's growth over
the pre-ingest baseline, and, as the baseline measured in the same run, what keeping every value
(an unbounded window) would have held. Ingest throughput (events/s, median over batches) is
printed as well. Exit status 1 when peak RSS grew more than 10% between the phases.

With ``--pending`` it measures the accuracy tracker's pending-label store instead: a flood of
``--predictions`` predictions whose ids all have ``--id-length`` characters (the longest the
receiver accepts when ``receiver.max_prediction_id_length`` is set to it), in batches, into a
tracker whose ``accuracy.pending.max_bytes`` is ``--pending-mb``. It prints the RSS growth over
the baseline (the same tracker warmed up, measured in the same run) against the bound, and what
an unbounded store would have held. Exit status 1 when the growth passes the bound by over 10%.

Run: .venv/bin/python benchmarks/bench_memory.py [--events 100000] [--versions 5]
     .venv/bin/python benchmarks/bench_memory.py --pending [--predictions 120000] [--id-length 4096]
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import time

import numpy as np
import psutil

from otel_ml.config_checks import from_mapping
from otel_ml.processor.accuracy import AccuracyTracker
from otel_ml.processor.accuracy.pending import EVICT_BYTES
from otel_ml.processor.accuracy.settings import AccuracySettings
from otel_ml.processor.contracts import InferenceBatch
from otel_ml.processor.drift_engine import DriftEngine
from otel_ml.processor.engine_settings import EngineSettings
from otel_ml.processor.profile import ProfileStore
from otel_ml.processor.profile_build import build_profile

N_NUMERIC = 18
COLORS = ["red", "green", "blue", "black"]


class SimClock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


def _rss_mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


def _peak_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return peak / 1024


def _batch(rng: np.random.Generator, model: str, version: str, n: int) -> InferenceBatch:
    x = rng.normal(size=(N_NUMERIC, n))
    feats = {f"f{i}": x[i].tolist() for i in range(N_NUMERIC)}
    feats["color"] = np.asarray(COLORS, dtype=object)[rng.integers(0, len(COLORS), n)].tolist()
    feats["user_id"] = np.char.add("u", rng.integers(0, 10**9, n).astype(str)).tolist()  # cardinality flood
    return InferenceBatch(model, version, feats, rng.integers(0, 3, n).tolist(), rng.uniform(0.2, 1.0, n).tolist())


def _feed(engine: DriftEngine, clock: SimClock, rng, versions: list[tuple[str, str]], events: int,
          batch: int, rate: float, durations: list[float]) -> int:
    fed = 0
    while fed < events:
        for model, version in versions:
            b = _batch(rng, model, version, batch)
            start = time.perf_counter()
            engine.ingest([b])
            durations.append(time.perf_counter() - start)
            fed += batch
            clock.t += batch / rate
    return fed


def pending_flood(predictions: int, id_length: int, bound_mb: float, batch: int) -> int:
    """RSS growth of the pending store under a flood of maximum-length ids, against its bound."""
    bound = int(bound_mb * 2**20)
    settings = from_mapping(AccuracySettings, {"pending": {"max_bytes": bound}}, "accuracy")
    clock = SimClock()
    tracker = AccuracyTracker(settings, clock=clock)
    rng = np.random.default_rng(0)
    counter = iter(range(10**12))

    def flood(n: int) -> None:
        for start in range(0, n, batch):
            k = min(batch, n - start)
            ids = [f"{next(counter):012d}".ljust(id_length, "x") for _ in range(k)]
            tracker.ingest([InferenceBatch("bench", "1", {}, rng.integers(0, 2, k).tolist(),
                                           rng.uniform(0.5, 1, k).tolist(), prediction_ids=ids)])
            clock.t += 1.0

    flood(batch)  # warm-up: the model state, its windows and the ring's first storage exist
    tracker.evaluate(clock.t)
    gc.collect()
    base = _rss_mib()
    started = time.perf_counter()
    flood(predictions)
    elapsed = time.perf_counter() - started
    gc.collect()
    grown = _rss_mib() - base
    store = tracker._pending
    per_id = id_length + 49 + 100 + 66  # string, index entry, ring row
    print(f"pending store flood: {predictions:,} predictions, ids of {id_length} characters, "
          f"bound accuracy.pending.max_bytes {bound_mb:g} MiB")
    print(f"  RSS growth over the warmed-up baseline: {grown:7.1f} MiB = {grown / bound_mb:.3f} x the bound "
          f"(limit 1.10); store accounts {store.accounted_bytes / 2**20:.1f} MiB, keeps {len(store):,}")
    print(f"  evicted for max_bytes: {store.evicted[EVICT_BYTES]:,}; an unbounded store would hold "
          f">= {predictions * per_id / 2**20:.1f} MiB ({predictions * per_id / bound:.2f} x the bound)")
    print(f"  ingest {predictions / elapsed:,.0f} predictions/s")
    return 0 if grown <= 1.10 * bound_mb else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events in the 1x phase (all versions)")
    parser.add_argument("--versions", type=int, default=5, help="model versions fed in turn")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rate", type=float, default=200.0,
                        help="simulated events per second (default: the 1x phase spans 500 s, past the 300 s window)")
    parser.add_argument("--pending", action="store_true", help="measure the pending-label store instead")
    parser.add_argument("--predictions", type=int, default=120_000, help="--pending: predictions in the flood")
    parser.add_argument("--id-length", type=int, default=4096,
                        help="--pending: characters per prediction id (receiver.max_prediction_id_length raised to it)")
    parser.add_argument("--pending-mb", type=float, default=256.0,
                        help="--pending: accuracy.pending.max_bytes in MiB (default: the default bound)")
    args = parser.parse_args()
    if args.pending:
        return pending_flood(args.predictions, args.id_length, args.pending_mb, 1000)

    rng = np.random.default_rng(0)
    ref = {f"f{i}": rng.normal(size=5000) for i in range(N_NUMERIC)}
    ref["color"] = np.asarray(COLORS, dtype=object)[rng.integers(0, 4, 5000)].tolist()
    ref["user_id"] = np.char.add("u", rng.integers(0, 10**9, 5000).astype(str)).tolist()
    profile = build_profile("bench", "*", ref, rng.integers(0, 3, 5000), rng.uniform(0.2, 1, 5000),
                            kinds={"user_id": "categorical"}, max_sample=2000)
    store = ProfileStore()
    store.add(profile)
    settings = from_mapping(EngineSettings, {"windows": {"seed": 1}, "limits": {"max_categories": 100}})
    clock = SimClock()
    engine = DriftEngine(settings, store, clock=clock)
    versions = [("bench", str(v)) for v in range(args.versions)]

    # warm-up: every version gets its windows and one evaluation, so lazy allocations are done
    durations: list[float] = []
    _feed(engine, clock, rng, versions, args.batch * len(versions), args.batch, args.rate, durations)
    engine.evaluate(clock.t)
    gc.collect()
    base_rss = _rss_mib()

    rows = []
    naive_bytes_per_event = (N_NUMERIC + 1 + 2) * 8 + 2 * 60  # floats + two short strings kept forever
    total = 0
    for label, events in (("1x", args.events), ("10x", 9 * args.events)):
        durations = []
        total += _feed(engine, clock, rng, versions, events, args.batch, args.rate, durations)
        engine.evaluate(clock.t)
        gc.collect()
        rows.append((label, total, _rss_mib(), _peak_mib(), statistics.median(durations)))
        naive = total * naive_bytes_per_event / 2**20
        print(f"{label:>4}: {total:>9,} events  rss {rows[-1][2]:7.1f} MiB  peak {rows[-1][3]:7.1f} MiB  "
              f"engine growth {rows[-1][2] - base_rss:6.1f} MiB  | unbounded window would hold "
              f">= {naive:8.1f} MiB  | ingest {args.batch / rows[-1][4]:,.0f} events/s (median batch)")

    (_, _, rss1, peak1, _), (_, _, rss10, peak10, _) = rows
    ratio = peak10 / peak1
    print(f"peak RSS 10x / 1x: {ratio:.3f} (limit 1.10); current RSS 10x / 1x: {rss10 / rss1:.3f}")
    print(f"category overflow values: {engine.overflow.totals.get('category', 0):,}  "
          f"(the user_id flood folded into '_overflow')")
    return 0 if ratio <= 1.10 else 1


if __name__ == "__main__":
    sys.exit(main())
