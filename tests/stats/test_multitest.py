"""Multiple-testing corrections against scipy.stats.false_discovery_control and the Bonferroni formula."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sst

from otel_ml.stats import adjust, benjamini_hochberg, bonferroni, ks_2samp_sorted


@pytest.mark.parametrize("m", [1, 2, 7, 200, 5000])
def test_bh_matches_scipy(m):
    rng = np.random.default_rng(m)
    p = np.concatenate([rng.uniform(size=m - m // 4), rng.uniform(0, 1e-3, m // 4)])
    p[::5] = p[0]  # ties
    rng.shuffle(p)
    np.testing.assert_allclose(benjamini_hochberg(p), sst.false_discovery_control(p, method="bh"),
                               rtol=1e-15, atol=0)
    np.testing.assert_array_equal(adjust(p, "bh"), benjamini_hochberg(p))


def test_bonferroni_formula_and_input_untouched():
    p = np.array([0.001, 0.02, 0.5, 0.3])
    kept = p.copy()
    np.testing.assert_allclose(bonferroni(p), [0.004, 0.08, 1.0, 1.0])
    np.testing.assert_array_equal(p, kept)
    np.testing.assert_array_equal(adjust(p, "none"), p)


def test_nan_entries_stay_nan_and_do_not_count():
    p = [0.01, np.nan, 0.04]
    bh = benjamini_hochberg(p)
    assert np.isnan(bh[1])
    np.testing.assert_allclose(bh[[0, 2]], sst.false_discovery_control([0.01, 0.04], method="bh"))
    np.testing.assert_allclose(bonferroni(p)[[0, 2]], [0.02, 0.08])
    assert benjamini_hochberg([]).size == 0 and np.isnan(bonferroni([np.nan])).all()


@pytest.mark.parametrize("bad", [[0.1, 1.5], [-0.01]])
def test_out_of_range_p_values_rejected(bad):
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        benjamini_hochberg(bad)


def test_unknown_method_named():
    with pytest.raises(ValueError, match="'holm'"):
        adjust([0.1], "holm")
    with pytest.raises(ValueError, match="1-D"):
        adjust([[0.1]], "bh")
    with pytest.raises(ValueError, match="expected numbers"):
        adjust([0.1, "x"], "bh")
    assert np.isnan(adjust([0.1, None], "bh")[1])  # None reads as a test that did not run


def test_bh_keeps_a_200_feature_null_model_quiet_where_raw_p_values_do_not():
    """200 features with no drift: raw p < 0.05 flags ~10 of them, BH (almost) none."""
    rng = np.random.default_rng(2024)
    raw = []
    for _ in range(200):
        ref = np.sort(rng.normal(size=2000))
        raw.append(ks_2samp_sorted(ref, rng.normal(size=300))[1])
    raw = np.array(raw)
    assert np.sum(raw < 0.05) >= 3
    assert np.sum(adjust(raw, "bh") < 0.05) <= 1
    assert np.sum(adjust(raw, "bonferroni") < 0.05) <= 1
