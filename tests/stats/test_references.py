"""Reference profiles: construction, subsampling, JSON round trip and validation of bad profiles."""

from __future__ import annotations

import json

import numpy as np
import pytest

from otel_ml.errors import OtelMlError
from otel_ml.stats import CategoricalReference, EmptySampleError, InvalidReferenceError, NumericReference


def test_numeric_reference_quantile_bins():
    values = np.arange(1, 101, dtype=float)  # 1..100
    ref = NumericReference.from_values(values, bins=4)
    np.testing.assert_allclose(ref.bin_edges, np.quantile(values, [0.25, 0.5, 0.75]))
    np.testing.assert_array_equal(ref.bin_fractions, [0.25, 0.25, 0.25, 0.25])
    np.testing.assert_array_equal(ref.sorted_values, values)
    assert ref.mean == pytest.approx(50.5) and ref.std == pytest.approx(np.std(values)) and ref.count == 100
    assert not ref.sorted_values.flags.writeable


def test_tied_quantile_edges_are_deduplicated():
    values = np.concatenate([np.zeros(600), np.arange(1, 401, dtype=float)])
    ref = NumericReference.from_values(values, bins=10)
    assert ref.bin_edges[0] == 0.0 and np.all(np.diff(ref.bin_edges) > 0)
    assert ref.bins == ref.bin_edges.size + 1 < 10
    assert ref.bin_fractions[0] == pytest.approx(0.6)  # (-inf, 0] holds every zero
    assert ref.bin_fractions.sum() == pytest.approx(1.0)


def test_constant_reference_and_one_bin():
    ref = NumericReference.from_values([3.0] * 20, bins=10)
    np.testing.assert_array_equal(ref.bin_edges, [3.0])
    np.testing.assert_array_equal(ref.bin_fractions, [1.0, 0.0])
    assert ref.std == 0.0
    one = NumericReference.from_values([1.0, 2.0], bins=1)
    assert one.bin_edges.size == 0 and one.bin_fractions.tolist() == [1.0]


def test_nan_inf_are_dropped_and_all_nan_raises():
    ref = NumericReference.from_values([1.0, np.nan, 2.0, np.inf, -np.inf])
    assert ref.sorted_values.tolist() == [1.0, 2.0] and ref.count == 2
    with pytest.raises(EmptySampleError):
        NumericReference.from_values([np.nan, np.nan])
    with pytest.raises(EmptySampleError):
        NumericReference.from_values([])


def test_subsample_keeps_full_data_bins_and_moments_and_is_reproducible():
    rng = np.random.default_rng(5)
    values = rng.exponential(size=50000)
    ref = NumericReference.from_values(values, bins=10, max_sample=2000)
    again = NumericReference.from_values(values, bins=10, max_sample=2000)
    assert ref.sorted_values.size == 2000
    np.testing.assert_array_equal(ref.sorted_values, again.sorted_values)
    assert np.isin(ref.sorted_values, values).all() and np.all(np.diff(ref.sorted_values) >= 0)
    full = NumericReference.from_values(values, bins=10)
    np.testing.assert_array_equal(ref.bin_edges, full.bin_edges)
    np.testing.assert_array_equal(ref.bin_fractions, full.bin_fractions)
    assert (ref.mean, ref.std, ref.count) == (full.mean, full.std, 50000)
    other = NumericReference.from_values(values, max_sample=2000, rng=np.random.default_rng(99))
    assert not np.array_equal(other.sorted_values, ref.sorted_values)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"bins": 0}, "bins"), ({"bins": 2.5}, "bins"), ({"max_sample": 0}, "max_sample"),
])
def test_from_values_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NumericReference.from_values([1.0, 2.0], **kwargs)


def test_numeric_round_trip_through_json():
    ref = NumericReference.from_values(np.random.default_rng(1).normal(size=300), bins=7)
    back = NumericReference.from_dict(json.loads(json.dumps(ref.to_dict())))
    for name in ("sorted_values", "bin_edges", "bin_fractions"):
        np.testing.assert_array_equal(getattr(back, name), getattr(ref, name))
    assert (back.mean, back.std, back.count) == (ref.mean, ref.std, ref.count)


@pytest.mark.parametrize(("change", "field"), [
    ({"sorted_values": [2.0, 1.0]}, "sorted_values"),
    ({"sorted_values": []}, "sorted_values"),
    ({"sorted_values": [1.0, float("nan")]}, "sorted_values"),
    ({"sorted_values": ["a"]}, "sorted_values"),
    ({"bin_edges": [1.0, 1.0]}, "bin_edges"),
    ({"bin_fractions": [0.5, 0.6]}, "bin_fractions"),
    ({"bin_fractions": [1.0]}, "bin_fractions"),
    ({"bin_fractions": [1.2, -0.2]}, "bin_fractions"),
    ({"std": -1.0}, "std"),
    ({"mean": "x"}, "mean"),
    ({"count": 1}, "count"),
    ({"count": "many"}, "count"),
])
def test_bad_numeric_profile_names_the_field(change, field):
    good = {"sorted_values": [1.0, 2.0, 3.0], "bin_edges": [2.0], "bin_fractions": [2 / 3, 1 / 3]}
    NumericReference.from_dict(good)
    with pytest.raises(InvalidReferenceError) as info:
        NumericReference.from_dict({**good, **change})
    assert info.value.field == field and str(info.value).startswith(f"{field}: ")
    assert isinstance(info.value, OtelMlError) and isinstance(info.value, ValueError)  # one line in the CLI


def test_missing_key_is_named():
    with pytest.raises(InvalidReferenceError, match="bin_edges: missing"):
        NumericReference.from_dict({"sorted_values": [1.0], "bin_fractions": [1.0]})
    with pytest.raises(InvalidReferenceError, match="reference: expected a mapping"):
        NumericReference.from_dict([1, 2])


def test_categorical_reference_and_round_trip():
    ref = CategoricalReference.from_values(["b", "a", "b", "c", "b", None])
    assert ref.categories == ("a", "b", "c")
    np.testing.assert_allclose(ref.fractions, [0.2, 0.6, 0.2])
    back = CategoricalReference.from_dict(json.loads(json.dumps(ref.to_dict())))
    assert back.categories == ref.categories and back.count == 5
    np.testing.assert_array_equal(back.fractions, ref.fractions)


def test_categorical_reference_in_any_order_counts_correctly():
    ref = CategoricalReference(("z", "a", "m"), np.array([0.2, 0.5, 0.3]))
    counts, unseen = ref.index_counts(np.array(["a", "a", "m", "q", "z", "a"]))
    assert counts.tolist() == [1, 3, 1] and unseen == 1


@pytest.mark.parametrize(("d", "field"), [
    ({"categories": ["a", "a"], "fractions": [0.5, 0.5]}, "categories"),
    ({"categories": ["a", 1], "fractions": [0.5, 0.5]}, "categories"),
    ({"categories": "ab", "fractions": [0.5, 0.5]}, "categories"),
    ({"categories": ["a", "b"], "fractions": [1.0]}, "fractions"),
    ({"categories": ["a", "b"], "fractions": [1.0, 0.0]}, "fractions"),
    ({"categories": ["a", "b"], "fractions": [0.4, 0.4]}, "fractions"),
    ({"categories": [], "fractions": []}, "fractions"),
    ({"categories": ["a"], "fractions": [1.0], "count": 0}, "count"),
    ({"fractions": [1.0]}, "categories"),
])
def test_bad_categorical_profile_names_the_field(d, field):
    with pytest.raises(InvalidReferenceError) as info:
        CategoricalReference.from_dict(d)
    assert info.value.field == field


def test_empty_categorical_values_raise():
    with pytest.raises(EmptySampleError):
        CategoricalReference.from_values([None, float("nan")])
