"""Column conversion and data-quality flags: exact on constructed columns."""

import math

import numpy as np

from otel_ml.processor import quality
from otel_ml.processor.quality import CHECKS
from otel_ml.semconv import QualityCheck as Q


def _counts(flags):
    return dict(zip(CHECKS, quality.flag_counts(flags).tolist()))


def test_numeric_column_masks():
    col = quality.numeric_column([1.0, None, float("nan"), float("inf"), "12", 3, True, -float("inf"), [1]])
    assert col.missing.tolist() == [False, True, False, False, False, False, False, False, False]
    assert col.mismatch.tolist() == [False, False, False, False, True, False, False, False, True]
    np.testing.assert_array_equal(col.valid, [True, False, False, False, False, True, True, False, False])
    assert col.x[5] == 3.0 and col.x[6] == 1.0 and math.isnan(col.x[4])


def test_numeric_fast_path_finds_none_apart_from_nan():
    col = quality.numeric_column([1.5, None, float("nan"), 2])
    assert col.missing.tolist() == [False, True, False, False]
    assert not col.mismatch.any()


def test_numeric_flags_count_each_check_exactly():
    # reference range 0..10, IQR fences -2..12
    values = [1.0, None, None, float("nan"), float("inf"), -float("inf"), "x", "y", "z", -1.0, 11.0, 20.0, 5]
    flags = quality.numeric_flags(quality.numeric_column(values), 0.0, 10.0, -2.0, 12.0)
    c = _counts(flags)
    assert c[Q.MISSING] == 3  # None twice and NaN: pandas' missing value is the app's null
    assert c[Q.INF] == 2
    assert c[Q.TYPE_MISMATCH] == 3
    assert c[Q.OUT_OF_RANGE] == 3  # -1, 11, 20
    assert c[Q.OUTLIER] == 1  # 20
    assert c[Q.UNSEEN_CATEGORY] == 0 and c[Q.MISSING_FEATURE] == 0
    assert flags[0] == 0 and flags[-1] == 0


def test_categorical_keys_and_flags():
    values = ["red", "blue", None, "pink", 3, 2.0, 0.5, True, float("nan"), "red"]
    col = quality.categorical_column(values)
    assert col.keys.tolist() == ["red", "blue", None, "pink", "3", "2", "0.5", "True", None, "red"]
    assert col.missing.sum() == 2
    flags = quality.categorical_flags(col, frozenset({"red", "blue", "green"}), quality.VALUE_STRING)
    c = _counts(flags)
    assert c[Q.MISSING] == 2
    assert c[Q.UNSEEN_CATEGORY] == 5  # pink, 3, 2, 0.5, True
    assert c[Q.TYPE_MISMATCH] == 3  # the three numbers (bool is not a number here)
    # a column of class labels: numbers expected, strings are the mismatch
    labels = quality.categorical_column([0, 1, "1", "cat", None])
    lf = quality.categorical_flags(labels, frozenset({"0", "1"}), quality.VALUE_NUMBER)
    lc = _counts(lf)
    assert lc[Q.TYPE_MISMATCH] == 2 and lc[Q.UNSEEN_CATEGORY] == 1 and lc[Q.MISSING] == 1


def test_numpy_columns():
    col = quality.categorical_column(np.array([1.0, 2.0, np.nan]))
    assert col.keys.tolist() == ["1", "2", None]
    num = quality.numeric_column(np.arange(4, dtype=np.int32))
    assert num.x.dtype == np.float64 and num.valid.all()


def test_constant_flags_and_counts():
    f = quality.constant_flags(7, Q.MISSING_FEATURE) | quality.constant_flags(7, Q.EXTRA_FEATURE)
    c = _counts(f)
    assert c[Q.MISSING_FEATURE] == 7 and c[Q.EXTRA_FEATURE] == 7 and sum(c.values()) == 14
    assert quality.flag_counts(np.zeros(0, dtype=np.uint16)).tolist() == [0] * len(CHECKS)


def test_huge_integers_become_infinite_not_an_error():
    col = quality.numeric_column([1.0, 10**400, -(10**400), None])
    assert col.x[1] == np.inf and col.x[2] == -np.inf and col.missing.tolist() == [False, False, False, True]
    mixed = quality.numeric_column(["a", 10**400])
    assert mixed.x[1] == np.inf and mixed.mismatch.tolist() == [True, False]
    cat = quality.categorical_column(["a", 10**400])
    assert cat.keys[0] == "a" and cat.numbers.tolist() == [False, True]


def test_numeric_nan_and_none_are_one_check_as_in_the_profile():
    # the reference profile counts a blank / NaN as missing: the runtime check has the same name
    assert "nan" not in quality.NUMERIC_CHECKS and Q.MISSING in quality.NUMERIC_CHECKS
    floats = quality.numeric_flags(quality.numeric_column(np.array([1.0, np.nan, 2.0])), 0, 5, -1, 6)
    objects = quality.numeric_flags(quality.numeric_column([1.0, None, 2.0]), 0, 5, -1, 6)
    np.testing.assert_array_equal(floats, objects)
    assert _counts(floats)[Q.MISSING] == 1
