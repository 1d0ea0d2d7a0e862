"""Build a reference profile from training (or first-week production) data files (P2).

Reads CSV and Parquet (via pyarrow) and NumPy ``.npy`` files (structured arrays: field names are
column names; plain 1-D / 2-D arrays: ``columns=`` names them, else x0, x1, ...). Several files
are concatenated; they must hold the same columns.

Column roles are inferred from names and can be overridden:
  prediction  prediction, predictions, pred, y_pred, predicted
  confidence  confidence, conf, proba, probability, score
  target      target, label, labels, y, y_true, ground_truth
  features    every other column (or exactly ``features=``)
With no prediction column but a target, the target's distribution serves as the prediction
reference (a model's predictions should follow the label distribution it was trained on).
Kinds: numeric columns are numeric, string / bool columns categorical, ``categorical=`` forces it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from otel_ml.errors import UserError
from otel_ml.processor.profile import (
    ALL_VERSIONS, CATEGORICAL, NUMERIC, Profile, build_profile, infer_kind,
)
from otel_ml.stats.sample_errors import EmptySampleError

__all__ = [
    "PREDICTION_NAMES",
    "CONFIDENCE_NAMES",
    "TARGET_NAMES",
    "SUPPORTED_SUFFIXES",
    "Table",
    "Roles",
    "load_table",
    "load_tables",
    "infer_roles",
    "build_reference",
    "describe",
]

PREDICTION_NAMES = ("prediction", "predictions", "pred", "y_pred", "predicted")
CONFIDENCE_NAMES = ("confidence", "conf", "proba", "probability", "score")
TARGET_NAMES = ("target", "label", "labels", "y", "y_true", "ground_truth")
SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq", ".npy")


@dataclass
class Table:
    """Columns of one data set: name -> 1-D array (float64 with NaN for numbers, object otherwise)."""

    columns: dict[str, np.ndarray]
    kinds: dict[str, str]  # name -> numeric | categorical, from the storage type
    rows: int
    source: str


@dataclass(frozen=True)
class Roles:
    features: tuple[str, ...]
    prediction: str | None
    confidence: str | None
    target: str | None


def _arrow_table(path: Path):
    if path.suffix.lower() == ".csv":
        from pyarrow import csv
        return csv.read_csv(path)
    from pyarrow import parquet
    return parquet.read_table(path)


def _from_arrow(path: Path) -> Table:
    try:
        import pyarrow as pa
    except ImportError:
        raise UserError(f"{path}: reading {path.suffix} files needs pyarrow: pip install 'otel-ml[parquet]'") from None
    try:
        table = _arrow_table(path)
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path}: cannot read as {path.suffix.lstrip('.')} ({first})") from None
    columns: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    for name in table.column_names:
        col = table.column(name)
        t = col.type
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
            columns[name] = np.asarray(col.cast(pa.float64()).to_numpy(), dtype=np.float64)
            kinds[name] = NUMERIC
        elif pa.types.is_null(t):
            columns[name] = np.full(len(col), None, dtype=object)
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


def load_table(path: str | os.PathLike, columns: Sequence[str] | None = None) -> Table:
    """Read one data file; any problem is a one-line ``UserError`` naming the file."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such file")
    if not p.is_file():
        raise UserError(f"{p}: not a file")
    suffix = p.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UserError(f"{p}: unsupported file type {suffix or '(none)'} (expected {', '.join(SUPPORTED_SUFFIXES)})")
    table = _from_npy(p, columns) if suffix == ".npy" else _from_arrow(p)
    if table.rows == 0:
        raise UserError(f"{p}: no rows")
    return table


def load_tables(paths: Sequence[str | os.PathLike], columns: Sequence[str] | None = None) -> Table:
    """Read and concatenate several files with the same columns."""
    if not paths:
        raise UserError("no data file given")
    tables = [load_table(p, columns) for p in paths]
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
            parts = [p.astype(object) for p in parts]
        merged[name] = np.concatenate(parts)
    return Table(merged, kinds, sum(t.rows for t in tables), ", ".join(t.source for t in tables))


def _pick(names: Sequence[str], candidates: Sequence[str]) -> str | None:
    lowered = {n.lower(): n for n in names}
    for c in candidates:
        if c in lowered:
            return lowered[c]
    return None


def infer_roles(columns: Sequence[str], features: Sequence[str] | None = None,
                prediction: str | None = None, confidence: str | None = None,
                target: str | None = None) -> Roles:
    """Assign roles to columns: explicit arguments win, names decide the rest (see module docs)."""
    available = list(columns)
    for flag, value in (("--prediction", prediction), ("--confidence", confidence), ("--target", target)):
        if value is not None and value not in available:
            raise UserError(f"{flag} {value!r}: no such column (columns: {', '.join(available)})")
    for name in features or ():
        if name not in available:
            raise UserError(f"--features: no column {name!r} (columns: {', '.join(available)})")
    taken = set(features or ())
    if prediction is None:
        prediction = _pick([c for c in available if c not in taken], PREDICTION_NAMES)
    if confidence is None:
        confidence = _pick([c for c in available if c not in taken], CONFIDENCE_NAMES)
    if target is None:
        target = _pick([c for c in available if c not in taken], TARGET_NAMES)
    roles = [r for r in (prediction, confidence, target) if r is not None]
    if len(set(roles)) != len(roles):
        raise UserError(f"one column has two roles (prediction={prediction}, confidence={confidence}, target={target})")
    if features:
        clash = set(features) & set(roles)
        if clash:
            raise UserError(f"--features: {', '.join(sorted(clash))} also has the prediction/confidence/target role")
        feats = tuple(features)
    else:
        feats = tuple(c for c in available if c not in roles)
    if not feats:
        raise UserError("no feature column left after assigning prediction/confidence/target roles")
    return Roles(feats, prediction, confidence, target)


def build_reference(paths: Sequence[str | os.PathLike], model: str, version: str | None = None, *,
                    features: Sequence[str] | None = None, prediction: str | None = None,
                    confidence: str | None = None, target: str | None = None,
                    categorical: Sequence[str] = (), columns: Sequence[str] | None = None,
                    bins: int = 10, sample: int | None = 5000, seed: int = 0) -> tuple[Profile, Roles]:
    """Load ``paths`` and build the profile of ``model`` (``version`` None: every version)."""
    if not model:
        raise UserError("--model is required and must not be empty")
    if bins < 2:
        raise UserError(f"--bins must be >= 2, got {bins}")
    if sample is not None and sample < 1:
        raise UserError(f"--sample must be >= 1, got {sample}")
    table = load_tables(paths, columns)
    roles = infer_roles(list(table.columns), features, prediction, confidence, target)
    for name in categorical:
        if name not in table.columns:
            raise UserError(f"--categorical: no column {name!r} (columns: {', '.join(table.columns)})")
    forced = set(categorical)
    kinds = {f: (CATEGORICAL if f in forced else table.kinds[f]) for f in roles.features}
    pred_col = roles.prediction or roles.target
    pred_values = table.columns[pred_col] if pred_col else None
    pred_kind = None
    if pred_col is not None:
        pred_kind = CATEGORICAL if pred_col in forced else infer_kind(pred_values, prediction=True)
    conf_values = table.columns[roles.confidence] if roles.confidence else None
    if conf_values is not None:
        _check_confidences(table, roles.confidence)
    rng = np.random.default_rng(seed)
    try:
        profile = build_profile(
            model, version or ALL_VERSIONS, {f: table.columns[f] for f in roles.features},
            pred_values, conf_values, kinds=kinds, prediction_kind=pred_kind, bins=bins,
            max_sample=sample, source=table.source, rng=rng)
    except EmptySampleError as exc:
        raise UserError(f"{table.source}: {exc}") from None
    if roles.prediction is not None and roles.target is not None:
        profile.performance = _performance(table, roles, pred_kind, conf_values)
    return profile, roles


def _check_confidences(table: Table, name: str) -> None:
    """A confidence is a probability: numbers in [0, 1], NaN / null for a missing one."""
    if table.kinds[name] != NUMERIC:
        raise UserError(f"confidence column {name!r} is not numeric")
    values = np.asarray(table.columns[name], dtype=np.float64)  # an all-null column: all NaN
    bad = (values < 0.0) | (values > 1.0)  # NaN compares false: missing is fine; inf is not
    if bad.any():
        present = values[~np.isnan(values)]
        raise UserError(
            f"{table.source}: confidence column {name!r} ranges {present.min():g}..{present.max():g}"
            f" ({int(bad.sum())} of {values.size} values outside [0, 1]); confidences must be "
            "probabilities in [0, 1] (NaN for a missing one): pick the right column with "
            "--confidence or rename this one")


def _performance(table: Any, roles: Roles, pred_kind: str | None, conf_values: Any) -> dict:
    """Baseline metrics (and CBPE calibration data) from labelled reference predictions."""
    from otel_ml.processor.accuracy.reference import performance_section
    from otel_ml.processor.accuracy.settings import TASK_CLASSIFICATION, TASK_REGRESSION

    task = TASK_CLASSIFICATION if pred_kind == CATEGORICAL else TASK_REGRESSION
    try:
        return performance_section(
            table.columns[roles.target], table.columns[roles.prediction],
            confidences=conf_values if task == TASK_CLASSIFICATION else None, task=task)
    except UserError as exc:
        raise UserError(f"{table.source}: target {roles.target!r}: {exc}") from None


def describe(profile: Profile, roles: Roles | None = None) -> str:
    """A few human-readable lines about a profile (printed by the CLI)."""
    lines = [f"profile of model {profile.model!r} version {profile.version!r}: {profile.rows} rows "
             f"from {profile.source or '?'}"]
    for name, col in profile.features.items():
        lines.append(f"  feature {name}: {_describe_col(col)}")
    if profile.prediction is not None:
        origin = ""
        if roles is not None and roles.prediction is None and roles.target is not None:
            origin = f" (from target column {roles.target!r})"
        lines.append(f"  prediction{origin}: {_describe_col(profile.prediction)}")
    if profile.confidence is not None:
        lines.append(f"  confidence: {_describe_col(profile.confidence)}")
    return "\n".join(lines)


def _describe_col(col: Any) -> str:
    if col.kind == NUMERIC:
        return (f"numeric, range {col.min:g}..{col.max:g}, mean {col.mean:g}, std {col.std:g}, "
                f"missing {col.missing_rate:.1%}")
    return f"categorical, {len(col.categories)} categories, missing {col.missing_rate:.1%}"
