"""Read data files into columns: CSV (standard library), Parquet (pyarrow, optional), NumPy ``.npy``.

``read_table`` is the one reader every command uses (``reference build``, ``report``). Missing
values are the same whatever the format: a blank CSV cell (any column type), a Parquet null, a
NaN in a numeric column. In a numeric CSV column the spellings NA, N/A, NaN, nan, null, NULL and
None are missing too; in a string column only an empty cell is (``"NA"`` may be a real category).
Numeric columns come back as float64 with NaN where missing, the others as object arrays of
strings (or bools) with None where missing.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from otel_ml.errors import UserError

__all__ = ["Table", "NUMERIC", "CATEGORICAL", "SUPPORTED_SUFFIXES", "CSV_NA_VALUES",
           "read_table", "read_tables"]

NUMERIC = "numeric"
CATEGORICAL = "categorical"
SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq", ".npy")
#: Cells of a numeric CSV column read as missing (besides blank ones).
CSV_NA_VALUES = frozenset({"NA", "N/A", "NaN", "nan", "NAN", "null", "NULL", "None", "#N/A"})


@dataclass
class Table:
    """Columns of one data set: name -> 1-D array (float64 with NaN for numbers, object otherwise)."""

    columns: dict[str, np.ndarray]
    kinds: dict[str, str]  # name -> numeric | categorical, from the storage type
    rows: int
    source: str


def _csv_column(cells: np.ndarray) -> tuple[np.ndarray, str]:
    """One CSV column (object array of str): float64 if every non-missing cell is a number."""
    blank = cells == ""
    for missing in (blank, None):
        if missing is None:  # second try: the NA spellings are missing too
            missing = blank | np.isin(cells, sorted(CSV_NA_VALUES))
        try:
            numbers = np.full(cells.size, np.nan)
            numbers[~missing] = np.array(cells[~missing].tolist(), dtype=np.float64)
            return numbers, NUMERIC
        except ValueError:
            continue
    out = cells.copy()
    out[blank] = None
    return out, CATEGORICAL


def _from_csv(path: Path) -> Table:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: cannot read as csv (not UTF-8: {exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise UserError(f"{path}: cannot read as csv ({exc})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not rows:
        raise UserError(f"{path}: empty file (expected a header row)")
    header = [h.strip() for h in rows[0]]
    if any(not h for h in header):
        raise UserError(f"{path}: column {header.index('') + 1} of the header has no name")
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise UserError(f"{path}: column {dup!r} appears twice in the header")
    body = [r for r in rows[1:] if r]  # a trailing empty line is no row
    widths = np.fromiter(map(len, body), dtype=np.int64, count=len(body))
    bad = np.flatnonzero(widths != len(header))
    if bad.size:
        line = next(i for i, r in enumerate(rows) if r is body[bad[0]]) + 1
        raise UserError(f"{path}: line {line} has {widths[bad[0]]} fields, the header has {len(header)}")
    grid = np.empty((len(body), len(header)), dtype=object)
    if body:
        grid[:] = body
    columns: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    for j, name in enumerate(header):
        columns[name], kinds[name] = _csv_column(grid[:, j])
    return Table(columns, kinds, len(body), str(path))


def _from_parquet(path: Path) -> Table:
    try:
        import pyarrow as pa
        from pyarrow import parquet
    except ImportError:
        raise UserError(f"{path}: reading {path.suffix} files needs pyarrow: pip install 'otel-ml[parquet]' "
                        "(or save the data as .csv)") from None
    try:
        table = parquet.read_table(path)
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path}: cannot read as {path.suffix.lstrip('.')} ({first})") from None
    columns: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    for name in table.column_names:
        col = table.column(name)
        t = col.type
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) or pa.types.is_null(t):
            values = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
            columns[name] = np.asarray(values, dtype=np.float64)  # nulls become NaN
            kinds[name] = NUMERIC
        else:
            arr = np.empty(len(col), dtype=object)
            arr[:] = col.to_pylist()
            columns[name] = arr
            kinds[name] = CATEGORICAL
    return Table(columns, kinds, table.num_rows, str(path))


def _from_npy(path: Path, names: Sequence[str] | None) -> Table:
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise UserError(f"{path}: cannot read as .npy ({str(exc).splitlines()[0]}; object arrays "
                        "are not loaded: save numbers or a structured array)") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc})") from None
    if not isinstance(data, np.ndarray):
        raise UserError(f"{path}: expected one array, got {type(data).__name__}")
    if data.dtype.names:
        cols = {n: data[n] for n in data.dtype.names}
    else:
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2:
            raise UserError(f"{path}: expected a 1-D or 2-D array, got {data.ndim} dimensions")
        width = data.shape[1]
        if names:
            if len(names) != width:
                raise UserError(f"{path}: --columns names {len(names)} columns, the array has {width}")
            col_names = list(names)
        else:
            col_names = [f"x{i}" for i in range(width)]
        cols = {n: data[:, i] for i, n in enumerate(col_names)}
    columns: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    for name, col in cols.items():
        if col.dtype.kind in "fiu":
            columns[name] = col.astype(np.float64)
            kinds[name] = NUMERIC
        elif col.dtype.kind in "bUS":
            columns[name] = col.astype(str).astype(object) if col.dtype.kind != "b" else col.astype(object)
            kinds[name] = CATEGORICAL
        else:
            raise UserError(f"{path}: column {name!r} has unsupported dtype {col.dtype}")
    rows = len(next(iter(columns.values()))) if columns else 0
    return Table(columns, kinds, rows, str(path))


def read_table(path: str | os.PathLike, columns: Sequence[str] | None = None) -> Table:
    """Read one data file (``columns``: names of a plain 2-D .npy array's columns); any problem
    is a one-line ``UserError`` naming the file."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such file")
    if not p.is_file():
        raise UserError(f"{p}: not a file")
    suffix = p.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UserError(f"{p}: unsupported file type {suffix or '(none)'} (expected {', '.join(SUPPORTED_SUFFIXES)})")
    if suffix == ".npy":
        table = _from_npy(p, columns)
    elif suffix == ".csv":
        table = _from_csv(p)
    else:
        table = _from_parquet(p)
    if table.rows == 0:
        raise UserError(f"{p}: no rows")
    return table


def read_tables(paths: Sequence[str | os.PathLike], columns: Sequence[str] | None = None) -> Table:
    """Read and concatenate several files with the same columns."""
    if not paths:
        raise UserError("no data file given")
    tables = [read_table(p, columns) for p in paths]
    first = tables[0]
    for t in tables[1:]:
        if list(t.columns) != list(first.columns):
            raise UserError(f"{t.source}: columns {list(t.columns)} differ from {first.source}'s {list(first.columns)}")
    if len(tables) == 1:
        return first
    merged = {}
    kinds = dict(first.kinds)
    for name in first.columns:
        parts = [t.columns[name] for t in tables]
        if any(t.kinds[name] != first.kinds[name] for t in tables):
            kinds[name] = CATEGORICAL
            parts = [_as_objects(p) for p in parts]
        merged[name] = np.concatenate(parts)
    return Table(merged, kinds, sum(t.rows for t in tables), ", ".join(t.source for t in tables))


def _as_objects(col: np.ndarray) -> np.ndarray:
    """A column as objects, NaN of a numeric one as None (missing stays missing)."""
    out = col.astype(object)
    if col.dtype.kind == "f":
        out[np.isnan(col)] = None
    return out
