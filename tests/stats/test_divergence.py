"""PSI, Jensen-Shannon and reference-bin shares: definitions checked by hand and against SciPy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from otel_ml.stats import EmptySampleError, bin_fractions, jensen_shannon, psi
from otel_ml.stats.divergence import bin_fractions_from_cdf


def test_psi_by_hand():
    # (0.5-0.25)ln(0.5/0.25) + (0.25-0.25)*0 + (0.25-0.5)ln(0.25/0.5) = 0.5 ln 2
    assert psi([0.25, 0.25, 0.5], [0.5, 0.25, 0.25]) == pytest.approx(0.5 * math.log(2), rel=1e-15)
    assert psi([0.2, 0.8], [0.2, 0.8]) == 0.0
    # symmetric by construction
    assert psi([0.1, 0.9], [0.3, 0.7]) == pytest.approx(psi([0.3, 0.7], [0.1, 0.9]), rel=1e-15)


def test_psi_floor_keeps_empty_bins_finite_and_is_configurable():
    value = psi([0.5, 0.5], [1.0, 0.0])
    expected = 0.5 * math.log(1.0 / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    assert value == pytest.approx(expected, rel=1e-15)
    looser = psi([0.5, 0.5], [1.0, 0.0], eps=1e-2)
    assert looser == pytest.approx(0.5 * math.log(2) + (0.01 - 0.5) * math.log(0.01 / 0.5), rel=1e-15)
    assert looser < value


@pytest.mark.parametrize(("ref", "cur", "match"), [
    ([0.5, 0.5], [1.0], "cur_fractions: 1 bins"),
    ([], [], "ref_fractions: must not be empty"),
    ([0.5, np.nan], [0.5, 0.5], "ref_fractions: shares must be finite"),
    ([0.5, 0.5], [-0.1, 1.1], "cur_fractions: shares must be finite and >= 0"),
])
def test_psi_rejects_bad_shares(ref, cur, match):
    with pytest.raises(ValueError, match=match):
        psi(ref, cur)


def test_psi_rejects_bad_eps():
    with pytest.raises(ValueError, match="eps"):
        psi([1.0], [1.0], eps=0.0)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("base", [2.0, math.e, 10.0])
def test_jensen_shannon_matches_scipy(seed, base):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 30))
    p = rng.random(k) * (rng.random(k) > 0.2)  # some zero cells
    q = rng.random(k) * 3
    p[0] += 0.1
    assert jensen_shannon(p, q, base=base) == pytest.approx(jensenshannon(p, q, base=base), rel=1e-12)


def test_jensen_shannon_bounds_and_identity():
    assert jensen_shannon([0.3, 0.7], [0.3, 0.7]) == 0.0
    assert jensen_shannon([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)  # disjoint, base 2
    with pytest.raises(ValueError, match="positive total"):
        jensen_shannon([0.0, 0.0], [0.5, 0.5])
    with pytest.raises(ValueError, match="base"):
        jensen_shannon([0.5, 0.5], [0.5, 0.5], base=1.0)


def test_bin_fractions_right_closed_bins():
    edges = [1.0, 2.0, 3.0]  # bins (-inf,1], (1,2], (2,3], (3,inf)
    values = [0.0, 1.0, 1.5, 2.0, 2.0, 3.5, np.nan, np.inf]
    np.testing.assert_array_equal(bin_fractions(edges, values), np.array([2, 3, 0, 1]) / 6)
    np.testing.assert_array_equal(bin_fractions([], [1.0, 2.0]), [1.0])
    with pytest.raises(EmptySampleError):
        bin_fractions(edges, [np.nan])
    with pytest.raises(ValueError, match="strictly increasing"):
        bin_fractions([2.0, 1.0], [1.0])


def test_bin_shares_from_an_exact_cdf_match_the_binned_values_and_numpy_histogram():
    rng = np.random.default_rng(4)
    values = rng.normal(size=2000)
    edges = np.array([-1.0, -0.2, 0.0, 0.7, 1.5])
    cdf = np.searchsorted(np.sort(values), edges, side="right") / values.size  # exact CDF at the edges
    shares = bin_fractions_from_cdf(cdf)
    np.testing.assert_allclose(shares, bin_fractions(edges, values), atol=1e-12)
    hist, _ = np.histogram(values, bins=np.concatenate(([values.min() - 1], edges, [values.max() + 1])))
    np.testing.assert_allclose(shares, hist / values.size, atol=1e-12)


def test_bin_shares_of_an_approximate_non_monotone_cdf_are_never_negative():
    shares = bin_fractions_from_cdf([0.30, 0.29, 0.8])
    assert shares.tolist() == pytest.approx([0.30, 0.0, 0.51, 0.2])
