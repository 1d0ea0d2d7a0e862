"""Column conversion and per-value data-quality checks (P5), vectorised per column.

A column arrives as a list of JSON-ish values (number, string, bool, None). ``numeric_column``
and ``categorical_column`` turn it into numpy arrays plus masks in a handful of C-level passes
(no Python loop per value); ``numeric_flags`` / ``categorical_flags`` turn those into one
``uint16`` bit set per value, one bit per ``semconv.QualityCheck``. Windows store the bit sets
and count them with ``flag_counts``.

Check semantics (per value of a feature in the reference schema):
  missing          None / null / NaN, in every column: the app's null, pandas' NaN, a blank CSV
                   cell and a Parquet null are all one "missing" (the profile's missing_rate)
  inf              +-inf in a numeric column
  type_mismatch    a string in a numeric column; a number in a column whose reference values are
                   strings, or a string in one whose reference values are numbers (bools count
                   as the strings "True" / "False")
  out_of_range     finite value outside the reference [min, max]
  outlier          finite value outside the reference IQR fences (Q1 - 3 IQR, Q3 + 3 IQR)
  unseen_category  category absent from the reference
  missing_feature  the event carries no such feature at all
  extra_feature    the event carries a feature the reference schema lacks
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from otel_ml.semconv import QualityCheck
from otel_ml.stats.outliers import outside_range

__all__ = [
    "CHECKS",
    "NUMERIC_CHECKS",
    "CATEGORICAL_CHECKS",
    "EXTRA_CHECKS",
    "bit",
    "NumericColumn",
    "CategoricalColumn",
    "numeric_column",
    "categorical_column",
    "numeric_flags",
    "categorical_flags",
    "constant_flags",
    "flag_counts",
    "outside_probability",
    "VALUE_STRING",
    "VALUE_NUMBER",
]

#: Every check, in bit order (bit i of a flag set is CHECKS[i]). Bit 1 once held a separate
#: "nan" check, now counted as missing; it stays reserved so checkpointed flags keep their meaning.
CHECKS: tuple[str, ...] = (
    QualityCheck.MISSING,
    "_reserved",
    QualityCheck.INF,
    QualityCheck.OUT_OF_RANGE,
    QualityCheck.UNSEEN_CATEGORY,
    QualityCheck.TYPE_MISMATCH,
    QualityCheck.OUTLIER,
    QualityCheck.MISSING_FEATURE,
    QualityCheck.EXTRA_FEATURE,
)
_INDEX = {name: i for i, name in enumerate(CHECKS)}

#: Checks reported for a numeric / categorical schema feature and for an extra feature.
NUMERIC_CHECKS = (QualityCheck.MISSING, QualityCheck.INF, QualityCheck.TYPE_MISMATCH,
                  QualityCheck.OUT_OF_RANGE, QualityCheck.OUTLIER, QualityCheck.MISSING_FEATURE)
CATEGORICAL_CHECKS = (QualityCheck.MISSING, QualityCheck.TYPE_MISMATCH, QualityCheck.UNSEEN_CATEGORY,
                      QualityCheck.MISSING_FEATURE)
EXTRA_CHECKS = (QualityCheck.EXTRA_FEATURE,)

#: Value types a categorical reference can hold.
VALUE_STRING = "string"
VALUE_NUMBER = "number"

_NONE = type(None)
_NUMBER_TYPES = frozenset({int, float, bool, np.float64, np.float32, np.int64, np.int32, np.bool_})
_PLAIN_NUMBERS = frozenset({int, float, np.float64, np.float32, np.int64, np.int32})
_NONE_TYPES = frozenset({_NONE})
_STRING_TYPES = frozenset({str, np.str_})
_BOOL_TYPES = frozenset({bool, np.bool_})


def bit(check: str) -> int:
    """The flag bit of one check."""
    return 1 << _INDEX[check]


_B_MISSING = bit(QualityCheck.MISSING)
_B_INF = bit(QualityCheck.INF)
_B_RANGE = bit(QualityCheck.OUT_OF_RANGE)
_B_UNSEEN = bit(QualityCheck.UNSEEN_CATEGORY)
_B_TYPE = bit(QualityCheck.TYPE_MISMATCH)
_B_OUTLIER = bit(QualityCheck.OUTLIER)


@dataclass(slots=True)
class NumericColumn:
    """A column read as numbers: ``x`` is NaN wherever the value is not a number."""

    x: np.ndarray  # float64
    missing: np.ndarray  # bool: None
    mismatch: np.ndarray  # bool: not a number (string, list, ...)

    @property
    def valid(self) -> np.ndarray:
        """Finite numbers: the values drift statistics use."""
        return np.isfinite(self.x)


@dataclass(slots=True)
class CategoricalColumn:
    """A column read as category keys (str); ``keys`` holds None where the value is missing."""

    keys: np.ndarray  # object: str | None
    missing: np.ndarray  # bool
    numbers: np.ndarray  # bool: the value was a number (not a bool)
    strings: np.ndarray  # bool: the value was a string

    @property
    def valid(self) -> np.ndarray:
        return ~self.missing


def _floats(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Numbers (and None) as float64; integers beyond float range become +-inf."""
    try:
        return np.array(values, dtype=np.float64)
    except OverflowError:  # a Python int past 1.8e308: rare bad input, converted one by one
        return np.array([_clamped_float(v) for v in values], dtype=np.float64)


def _clamped_float(v: Any) -> float:
    try:
        return np.nan if v is None else float(v)
    except OverflowError:
        return float("inf") if v > 0 else float("-inf")


def _type_array(values: Sequence[Any], n: int) -> np.ndarray:
    return np.fromiter(map(type, values), dtype=object, count=n)


def _isin_types(types: np.ndarray, allowed: frozenset) -> np.ndarray:
    return np.fromiter(map(allowed.__contains__, types), dtype=bool, count=len(types))


def numeric_column(values: Sequence[Any] | np.ndarray) -> NumericColumn:
    """Read a column as float64 with masks for None and non-numbers."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        x = values.astype(np.float64, copy=False)
        none = np.zeros(len(x), dtype=bool)
        return NumericColumn(x, none, none.copy())
    n = len(values)
    present = set(map(type, values))
    if present <= _NUMBER_TYPES | {_NONE}:
        # Fast path: numpy turns None into NaN; a second pass finds the None values.
        x = _floats(values) if n else np.empty(0)
        if _NONE in present:
            missing = np.equal(np.array(values, dtype=object), None)
        else:
            missing = np.zeros(n, dtype=bool)
        return NumericColumn(x, missing, np.zeros(n, dtype=bool))
    types = _type_array(values, n)
    missing = _isin_types(types, _NONE_TYPES)
    numeric = _isin_types(types, _NUMBER_TYPES)
    x = np.full(n, np.nan)
    if numeric.any():
        x[numeric] = _floats(np.asarray(values, dtype=object)[numeric])
    return NumericColumn(x, missing, ~(numeric | missing))


def _number_keys(nums: np.ndarray) -> np.ndarray:
    """Category keys of numbers: integral values without a decimal point ("3"), others repr."""
    out = nums.astype(str).astype(object)
    with np.errstate(invalid="ignore"):
        integral = np.isfinite(nums) & (nums == np.round(nums)) & (np.abs(nums) < 2**53)
    if integral.any():
        out[integral] = nums[integral].astype(np.int64).astype(str).astype(object)
    return out


def categorical_column(values: Sequence[Any] | np.ndarray) -> CategoricalColumn:
    """Read a column as string category keys; numbers become keys like "3" or "0.5"."""
    n = len(values)
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        nums = values.astype(np.float64)
        missing = np.isnan(nums)
        keys = _number_keys(nums)
        keys[missing] = None
        return CategoricalColumn(keys, missing, ~missing, np.zeros(n, dtype=bool))
    obj = np.empty(n, dtype=object)
    obj[:] = values if not isinstance(values, np.ndarray) else values.astype(object)
    present = set(map(type, obj))
    if present <= {str, _NONE, np.str_}:
        missing = np.equal(obj, None) if _NONE in present else np.zeros(n, dtype=bool)
        return CategoricalColumn(obj, missing, np.zeros(n, dtype=bool), ~missing)
    types = _type_array(obj, n)
    missing = _isin_types(types, _NONE_TYPES)
    strings = _isin_types(types, _STRING_TYPES)
    numbers = _isin_types(types, _PLAIN_NUMBERS)
    bools = _isin_types(types, _BOOL_TYPES)
    keys = obj.copy()
    if numbers.any():
        nums = _floats(obj[numbers])
        nan = np.isnan(nums)
        k = _number_keys(nums)
        k[nan] = None
        keys[numbers] = k
        idx = np.flatnonzero(numbers)[nan]
        missing[idx] = True
        numbers[idx] = False
    if bools.any():
        keys[bools] = np.where(obj[bools].astype(bool), "True", "False").astype(object)
    other = ~(missing | strings | numbers | bools)
    if other.any():  # lists, dicts: keep a readable key; they will be unseen categories
        keys[other] = np.array(list(map(repr, obj[other])), dtype=object)
    return CategoricalColumn(keys, missing, numbers, strings | bools | other)


def numeric_flags(col: NumericColumn, lo: float, hi: float, fence_lo: float,
                  fence_hi: float) -> np.ndarray:
    """One check bit set per value of a numeric schema feature (range and outlier: the
    reference [min, max] and IQR fences, by ``stats.outliers.outside_range``)."""
    x = col.x
    flags = np.zeros(len(x), dtype=np.uint16)
    flags[col.missing | (np.isnan(x) & ~col.mismatch)] |= _B_MISSING
    flags[col.mismatch] |= _B_TYPE
    flags[np.isinf(x)] |= _B_INF
    flags[outside_range(x, lo, hi)] |= _B_RANGE
    flags[outside_range(x, fence_lo, fence_hi)] |= _B_OUTLIER
    return flags


def categorical_flags(col: CategoricalColumn, categories: frozenset[str],
                      value_type: str) -> np.ndarray:
    """One check bit set per value of a categorical schema feature."""
    n = len(col.keys)
    flags = np.zeros(n, dtype=np.uint16)
    flags[col.missing] |= _B_MISSING
    seen = np.fromiter(map(categories.__contains__, col.keys), dtype=bool, count=n)
    flags[~col.missing & ~seen] |= _B_UNSEEN
    wrong = col.numbers if value_type == VALUE_STRING else col.strings
    flags[wrong] |= _B_TYPE
    return flags


def outside_probability(x: np.ndarray, floor: float = 0.0, tolerance: float = 1e-9) -> np.ndarray:
    """Which values cannot be a top-class probability: outside [floor, 1] (floor = 1/k for k
    classes), +-inf included; NaN (missing) is not flagged."""
    with np.errstate(invalid="ignore"):
        return (x < floor - tolerance) | (x > 1.0 + tolerance)


def constant_flags(n: int, check: str) -> np.ndarray:
    """``n`` values all failing one check (missing_feature, extra_feature)."""
    return np.full(n, bit(check), dtype=np.uint16)


def flag_counts(flags: np.ndarray) -> np.ndarray:
    """Number of values failing each check, in ``CHECKS`` order (int64, len(CHECKS))."""
    if flags.size == 0:
        return np.zeros(len(CHECKS), dtype=np.int64)
    # One pass: count each distinct bit set, then add the sets' counts per bit.
    per_set = np.bincount(flags, minlength=1 << len(CHECKS))
    has_bit = (np.arange(per_set.size)[:, None] >> np.arange(len(CHECKS))) & 1
    return (per_set @ has_bit).astype(np.int64)
