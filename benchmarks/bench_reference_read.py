"""Reading a reference CSV: otel_ml's standard-library reader against pyarrow's, same file.

Run: .venv/bin/python benchmarks/bench_reference_read.py [--quick]

A CSV of N rows x 20 columns (18 numeric with 5 % blanks, 2 string columns with blanks) is read
by ``tabular.read_table`` (csv module + numpy; what ``reference build`` uses) and by
``pyarrow.csv.read_csv`` converted to the same numpy columns (the reader before). Best of 3
each; the figure is the ratio, measured in one run. A whole ``reference build`` is timed too, so
the read's share of it is visible.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from otel_ml.processor.reference_build import build_reference  # noqa: E402
from otel_ml.processor.tabular import read_table  # noqa: E402


def _write(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    numbers = rng.normal(size=(rows, 18)).round(6).astype(object)
    numbers[rng.random(numbers.shape) < 0.05] = ""
    colors = rng.choice(["red", "green", "blue", ""], size=rows)
    cities = rng.choice([f"city{i}" for i in range(50)] + [""], size=rows)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f"x{i}" for i in range(18)] + ["color", "city"])
        for row, c, t in zip(numbers.tolist(), colors, cities):
            w.writerow([*row, c, t])


def _arrow(path: Path) -> dict:
    from pyarrow import csv as pacsv

    table = pacsv.read_csv(path)
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}


def _best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 rows instead of 200,000")
    args = parser.parse_args()
    rows = 20_000 if args.quick else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ref.csv"
        _write(path, rows)
        ours = _best(lambda: read_table(path))
        print(f"{rows} rows x 20 columns, {path.stat().st_size / 1e6:.1f} MB")
        print(f"  otel_ml read_table (csv module + numpy): {ours * 1e3:8.1f} ms")
        try:
            theirs = _best(lambda: _arrow(path))
            print(f"  pyarrow.csv.read_csv + to_numpy:         {theirs * 1e3:8.1f} ms  "
                  f"(read_table / pyarrow = {ours / theirs:.1f}x)")
        except ImportError:
            print("  pyarrow not installed: no baseline")
        build = _best(lambda: build_reference([path], "bench", sample=5000), repeat=1)
        print(f"  whole reference build:                   {build * 1e3:8.1f} ms  (read = {ours / build:.0%})")


if __name__ == "__main__":
    main()
