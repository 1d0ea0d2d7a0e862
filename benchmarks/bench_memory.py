"""DriftEngine memory under 1x and 10x traffic: peak RSS must stay flat (within 10%).

Feeds events with 20 features (18 numeric, 1 categorical, 1 categorical flood of fresh ids that
the category cap must absorb) to several model versions, with a simulated clock running at
``--rate`` events per second so the time windows fill, roll and expire. After the 1x phase and
after 10x as many events, it prints the process's current and peak RSS, the engine's growth over
the pre-ingest baseline, and, as the baseline measured in the same run, what keeping every value
(an unbounded window) would have held. Ingest throughput (events/s, median over batches) is
printed as well. Exit status 1 when peak RSS grew more than 10% between the phases.

Run: .venv/bin/python benchmarks/bench_memory.py [--events 100000] [--versions 5]
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

from otel_ml.processor.contracts import InferenceBatch
from otel_ml.processor.drift_engine import DriftEngine
from otel_ml.processor.engine_settings import EngineSettings
from otel_ml.processor.profile import ProfileStore, build_profile

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events in the 1x phase (all versions)")
    parser.add_argument("--versions", type=int, default=5, help="model versions fed in turn")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rate", type=float, default=200.0,
                        help="simulated events per second (default: the 1x phase spans 500 s, past the 300 s window)")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    ref = {f"f{i}": rng.normal(size=5000) for i in range(N_NUMERIC)}
    ref["color"] = np.asarray(COLORS, dtype=object)[rng.integers(0, 4, 5000)].tolist()
    ref["user_id"] = np.char.add("u", rng.integers(0, 10**9, 5000).astype(str)).tolist()
    profile = build_profile("bench", "*", ref, rng.integers(0, 3, 5000), rng.uniform(0.2, 1, 5000),
                            kinds={"user_id": "categorical"}, max_sample=2000)
    store = ProfileStore()
    store.add(profile)
    settings = EngineSettings.from_mapping({"windows": {"seed": 1}, "limits": {"max_categories": 100}})
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
