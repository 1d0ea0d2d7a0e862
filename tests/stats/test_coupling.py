"""Wasserstein through the quantile coupling against scipy.stats.wasserstein_distance."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sst

from otel_ml.stats.coupling import Coupling, coupling, wasserstein_coupled


def test_random_sizes_and_ties_match_scipy():
    rng = np.random.default_rng(12)
    for _ in range(300):
        n1, n2 = (int(v) for v in rng.integers(1, 120, 2))
        a = np.round(rng.normal(size=n1) * rng.uniform(0.5, 3), int(rng.integers(0, 3)))
        b = np.round(rng.normal(rng.uniform(-1, 1), 1, n2), int(rng.integers(0, 3)))
        assert wasserstein_coupled(np.sort(a), np.sort(b)) == pytest.approx(
            sst.wasserstein_distance(a, b), rel=1e-12, abs=1e-15)


def test_coupling_pieces_cover_the_unit_interval_once():
    c = Coupling(6, 4)
    assert c.width.sum() == 6 * 4
    assert np.all(np.diff(c.ref_index) >= 0) and np.all(np.diff(c.cur_index) >= 0)
    assert (c.ref_index[-1], c.cur_index[-1]) == (5, 3)
    # (0, 1/6] pairs ref 0 with cur 0; (1/6, 1/4] ref 1 with cur 0; (1/4, 1/3] ref 1 with cur 1 ...
    nonzero = c.width > 0
    assert list(zip(c.ref_index[nonzero][:3], c.cur_index[nonzero][:3], c.width[nonzero][:3])) == [
        (0, 0, 4.0), (1, 0, 2.0), (1, 1, 2.0)]


def test_small_couplings_are_cached_and_large_ones_are_not():
    assert coupling(300, 70) is coupling(300, 70)
    assert coupling(200_000, 100_000) is not coupling(200_000, 100_000)
    with pytest.raises(ValueError):
        Coupling(0, 3)
