"""Turn what a user hands ``drift_report`` into columns: DataFrames, dicts, files, profiles.

Files go through the reader ``otel-ml reference build`` uses (``reference_build.load_table``),
so a CSV means the same thing to both commands.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from otel_ml.errors import UserError
from otel_ml.processor.profile import CATEGORICAL, NUMERIC, Profile
from otel_ml.processor.profile_build import infer_kind
from otel_ml.processor.reference_build import Table, load_table, load_tables

__all__ = ["load_data", "load_reference", "column_kind"]

_PathLike = (str, os.PathLike)


def _is_profile_path(obj: Any) -> bool:
    return isinstance(obj, _PathLike) and Path(obj).suffix.lower() == ".json"


def load_reference(obj: Any) -> Table | Profile:
    """The reference: a profile (object or ``.json`` file written by ``reference build``) or data."""
    if isinstance(obj, Profile):
        return obj
    if _is_profile_path(obj):
        return Profile.load(obj)
    return load_data(obj, "reference")


def load_data(obj: Any, role: str) -> Table:
    """Columns of a DataFrame, a mapping of columns, a CSV/Parquet/.npy path (or a list of them)."""
    if isinstance(obj, Profile) or _is_profile_path(obj):
        raise UserError(f"{role}: a profile holds no rows to compare; give the {role} data itself")
    if isinstance(obj, Table):
        table = obj
    elif isinstance(obj, _PathLike):
        table = load_table(obj)
    elif isinstance(obj, (list, tuple)) and obj and all(isinstance(p, _PathLike) for p in obj):
        table = load_tables(list(obj))
    elif _is_dataframe(obj):
        table = _from_columns({str(c): obj[c].to_numpy() for c in obj.columns}, f"{role} DataFrame")
    elif isinstance(obj, Mapping):
        table = _from_columns(obj, f"{role} columns")
    else:
        raise UserError(f"{role}: expected a DataFrame, a mapping of columns, a CSV/Parquet path"
                        f"{' or a profile' if role == 'reference' else ''}, got {type(obj).__name__}")
    if table.rows == 0:
        raise UserError(f"{role} data {table.source}: no rows")
    return table


def _is_dataframe(obj: Any) -> bool:
    return hasattr(obj, "columns") and hasattr(obj, "to_numpy") and hasattr(obj, "__getitem__")


def _from_columns(columns: Mapping[Any, Any], source: str) -> Table:
    out: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    rows = None
    for name, values in columns.items():
        arr = _as_column(values, f"{source}: column {name!r}")
        if rows is None:
            rows = len(arr)
        elif len(arr) != rows:
            raise UserError(f"{source}: column {name!r} has {len(arr)} values, the first column has {rows}")
        key = str(name)
        if arr.dtype.kind in "fiu":
            out[key], kinds[key] = arr.astype(np.float64, copy=False), NUMERIC
        else:
            obj = arr.astype(object, copy=False)
            out[key] = obj
            kinds[key] = CATEGORICAL if arr.dtype.kind in "bUS" else infer_kind(obj)
    return Table(out, kinds, rows or 0, source)


def _as_column(values: Any, where: str) -> np.ndarray:
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    try:
        arr = np.asarray(values) if isinstance(values, np.ndarray) else np.asarray(list(values), dtype=object)
    except TypeError:
        raise UserError(f"{where}: expected a sequence of values, got {type(values).__name__}") from None
    if arr.ndim != 1:
        raise UserError(f"{where}: expected one value per row, got shape {arr.shape}")
    if arr.dtype == object and arr.size and set(map(type, arr)) <= {int, float}:
        return arr.astype(np.float64)  # plain numbers; with None they stay objects (None is "missing")
    return arr


def column_kind(table: Table, name: str, forced: Sequence[str] = ()) -> str:
    """Numeric or categorical: forced by ``categorical=``, else the column's storage type."""
    return CATEGORICAL if name in forced else table.kinds[name]
