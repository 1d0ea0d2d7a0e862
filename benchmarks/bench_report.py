"""Drift report cost: ``drift_report(...).to_json()`` vs a plain ``scipy.stats.ks_2samp`` loop.

20 numeric features, 100k reference x 100k current rows, in memory. The report's time includes
building the full-data references (no subsample), the data-quality checks, every statistic,
the verdicts and the JSON text; the baseline computes KS alone, feature by feature, in the same
run (interleaved rounds, median). Targets: report / loop <= 0.5; HTML of the 20 features <= 3 s.
Also prints the HTML size at 200 features.

Run: .venv/bin/python benchmarks/bench_report.py [--features 20 --rows 100000 --repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy import stats as sst

from otel_ml.report import drift_report
from otel_ml.report.html import render


def _data(features: int, ref_rows: int, cur_rows: int, seed: int = 42):
    rng = np.random.default_rng(seed)
    ref = {f"f{i}": rng.normal(0, 1 + i / 10, ref_rows) for i in range(features)}
    cur = {f"f{i}": rng.normal(0.05 * (i % 4), 1 + i / 10, cur_rows) for i in range(features)}
    for i in range(0, features, 2):  # half the features on a coarse grid (heavy ties)
        ref[f"f{i}"] = np.round(ref[f"f{i}"], 1)
        cur[f"f{i}"] = np.round(cur[f"f{i}"], 1)
    return ref, cur


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--rows", type=int, default=100_000, help="reference and current rows")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--wide-features", type=int, default=200, help="features of the page whose size is reported")
    args = parser.parse_args()

    ref, cur = _data(args.features, args.rows, args.rows)
    candidates = {
        "report_json": lambda: drift_report(ref, cur).to_json(),
        "ks_loop": lambda: [sst.ks_2samp(ref[n], cur[n]) for n in ref],
    }
    for fn in candidates.values():
        fn()  # warm-up (imports, size-keyed caches)
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(args.repeats):  # interleaved: other load hits both alike
        for name, fn in candidates.items():
            times[name].append(_timed(fn))
    report = drift_report(ref, cur)
    for name in ref:  # the report's KS is scipy's, on the full data
        assert np.isclose(report.features[name].drift.ks_statistic, sst.ks_2samp(ref[name], cur[name]).statistic,
                          rtol=1e-12, atol=1e-15)
    html_s = [_timed(lambda: render(report)) for _ in range(args.repeats)]
    html = render(report)

    wide_ref, wide_cur = _data(args.wide_features, 20_000, 20_000, seed=7)
    wide = drift_report(wide_ref, wide_cur)
    start = time.perf_counter()
    wide_html = render(wide)
    wide_s = time.perf_counter() - start

    rep, loop = (statistics.median(times[k]) for k in ("report_json", "ks_loop"))
    ratios = [r / b for r, b in zip(times["report_json"], times["ks_loop"])]
    print(f"{args.features} numeric features, {args.rows} reference x {args.rows} current rows, "
          f"median of {args.repeats}")
    print(f"  drift_report(...).to_json(), references built:  {rep * 1e3:8.1f} ms")
    print(f"  baseline scipy ks_2samp loop (KS + p only):     {loop * 1e3:8.1f} ms")
    print(f"  ratio report / ks_2samp loop:                   {rep / loop:8.3f}  (target <= 0.5; "
          f"per-round {min(ratios):.3f}..{max(ratios):.3f})")
    print(f"  HTML of {args.features} features (render):            {statistics.median(html_s):8.2f} s   "
          f"(target <= 3 s), {len(html.encode()) / 1e3:.0f} kB")
    print(f"  HTML of {args.wide_features} features (20k x 20k rows):   {wide_s:8.2f} s,  "
          f"{len(wide_html.encode()) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
