"""The fast Kolmogorov survival function against scipy.stats.kstwo.sf and scipy.special.smirnov."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sst
from scipy.special import smirnov

from otel_ml.stats import ks_2samp_sorted
from otel_ml.stats.kolmogorov import kstwo_sf, smirnov_sf


@pytest.mark.parametrize("n", [141, 977, 5000, 20000])
def test_smirnov_sf_matches_scipy_across_the_fast_range(n):
    for nx2 in [2.2, 2.5, 4.0, 9.0, 30.0, 100.0, 250.0, 369.0]:
        x = np.sqrt(nx2 / n)
        if x >= 1:
            continue
        expected = smirnov(n, x)
        assert smirnov_sf(n, x) == pytest.approx(expected, rel=1e-10, abs=1e-300), nx2


@pytest.mark.parametrize(("n", "x"), [(1, 0.3), (2, 0.5), (7, 0.01), (50, 0.2), (60, 0.9), (500, 0.6)])
def test_smirnov_sf_small_and_edge_cases(n, x):
    assert smirnov_sf(n, x) == pytest.approx(smirnov(n, x), rel=1e-10, abs=1e-300)


def test_smirnov_sf_rejects_out_of_range():
    with pytest.raises(ValueError):
        smirnov_sf(10, 1.0)
    with pytest.raises(ValueError):
        smirnov_sf(0, 0.5)


@pytest.mark.parametrize("n", [1, 5, 100, 140, 141, 1000, 30000])
def test_kstwo_sf_matches_scipy_in_every_branch(n):
    # d from 0 to 1 crosses every branch of scipy's kolmogn (Ruben-Gambino, DMTW,
    # Pomeranz, Pelz-Good, 2*smirnov, zero) for this n.
    z = np.concatenate([[0.0, 0.4, 0.9, 1.2], np.sqrt([2.2, 3, 8, 40, 200, 369.9, 371]), [5.0]])
    d = np.unique(np.clip(np.concatenate([z / np.sqrt(n), [0.5 / n, 0.75 / n, 1 / n, 0.3, 0.5, 0.7, 1.0]]), 0, 1))
    expected = sst.kstwo.sf(d, n)
    got = kstwo_sf(d, n)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-300)
    assert kstwo_sf(float(d[3]), n) == pytest.approx(float(expected[3]), rel=1e-9)  # scalar in, scalar out
    assert np.ndim(kstwo_sf(float(d[3]), n)) == 0


@pytest.mark.parametrize("shift", [0.04, 0.07, 0.1, 0.15, 0.3])
def test_ks_p_values_in_the_fast_range_match_ks_2samp(shift):
    """Sizes whose effective n (2727) is above 140, shifts putting n*D^2 in [2.2, 370)."""
    rng = np.random.default_rng(int(shift * 1000))
    ref = rng.normal(size=30000)
    cur = rng.normal(shift, 1.0, 3000)
    d, p = ks_2samp_sorted(np.sort(ref), cur)
    expected = sst.ks_2samp(ref, cur, method="asymp")
    assert d == expected.statistic
    assert p == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
