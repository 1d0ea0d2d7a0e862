"""The report's statistics against SciPy on the full data, and its verdicts against the drift engine's."""

import numpy as np
import pytest
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from otel_ml.config_checks import from_mapping
from otel_ml.processor.contracts import InferenceBatch
from otel_ml.processor.drift_engine import DriftEngine
from otel_ml.processor.engine_settings import EngineSettings
from otel_ml.processor.profile import ProfileStore
from otel_ml.processor.profile_build import build_profile
from otel_ml.report import drift_report
from otel_ml.semconv import Attr, Metric
from tests.report.data import frames

NUMERIC = ["x0", "x1", "x2", "x3"]


@pytest.fixture(scope="module")
def data():
    return frames(seed=3, shifts={"x1": 0.35, "x2": 1.0, "x3": 0.3}, colors_cur=["red", "green", "blue", "teal"])


@pytest.fixture(scope="module")
def report(data):
    ref, cur = data
    return drift_report(ref, cur, target="label", prediction="pred", probabilities=["proba_0", "proba_1"])


def _ref_bins(ref_values, bins=10):
    s = np.sort(ref_values)
    edges = np.unique(np.quantile(s, np.arange(1, bins) / bins))
    return edges


def _shares(edges, values):
    idx = np.searchsorted(edges, values, side="left")  # bins (-inf, e0], (e0, e1], ...
    return np.bincount(idx, minlength=edges.size + 1) / values.size


@pytest.mark.parametrize("name", NUMERIC)
def test_numeric_statistics_equal_scipy_on_the_full_data(report, data, name):
    ref, cur = data
    f = report.to_dict()["features"][name]
    oracle = sps.ks_2samp(ref[name], cur[name], method="asymp")
    assert f["ks_statistic"] == pytest.approx(sps.ks_2samp(ref[name], cur[name]).statistic, rel=1e-12, abs=1e-15)
    assert f["ks_p_value"] == pytest.approx(oracle.pvalue, rel=1e-9, abs=1e-300)
    assert f["wasserstein"] == pytest.approx(sps.wasserstein_distance(ref[name], cur[name]), rel=1e-9)
    edges = _ref_bins(ref[name])
    p, q = _shares(edges, ref[name]), _shares(edges, cur[name])
    assert f["jensenshannon"] == pytest.approx(jensenshannon(p, q, base=2), rel=1e-9, abs=1e-12)
    pf, qf = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
    assert f["psi"] == pytest.approx(float(np.sum((qf - pf) * np.log(qf / pf))), rel=1e-9, abs=1e-12)
    assert f["n_reference"] == ref[name].size and f["n_current"] == cur[name].size


def test_categorical_statistics_equal_scipy(data):
    ref, cur = data
    # A reference built from data is a second sample: chi-square is scipy's two-sample
    # chi2_contingency (one empty "unseen" cell dropped), Cramer's V that table's.
    n = 2000
    rng = np.random.default_rng(9)
    ref_c = rng.choice(["a", "b", "c", "d"], size=n, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
    cur_c = rng.choice(["a", "b", "c", "d"], size=n, p=[0.3, 0.3, 0.25, 0.15]).astype(object)
    f = drift_report({"c": ref_c}, {"c": cur_c}).to_dict()["features"]["c"]
    cats = ["a", "b", "c", "d"]
    ref_counts = np.array([np.count_nonzero(ref_c == c) for c in cats])
    cur_counts = np.array([np.count_nonzero(cur_c == c) for c in cats])
    table = np.vstack([ref_counts, cur_counts])
    two_sample = sps.chi2_contingency(table)
    assert f["chi2_statistic"] == pytest.approx(two_sample.statistic, rel=1e-9)
    assert f["chi2_p_value"] == pytest.approx(two_sample.pvalue, rel=1e-9)
    chi2 = sps.chi2_contingency(table, correction=False).statistic
    assert f["cramers_v"] == pytest.approx(np.sqrt(chi2 / table.sum()), rel=1e-9)
    assert f["jensenshannon"] == pytest.approx(
        jensenshannon(np.append(ref_counts, 0), np.append(cur_counts, 0), base=2), rel=1e-9)
    assert f["unseen_ratio"] == 0 and f["unseen_categories"] == {}


def test_p_values_are_adjusted_together_by_benjamini_hochberg(report):
    d = report.to_dict()
    cols = list(d["features"].values()) + list(d["predictions"].values())
    raw = [c.get("ks_p_value", c.get("chi2_p_value")) for c in cols]
    adj = [c.get("ks_p_value_adjusted", c.get("chi2_p_value_adjusted")) for c in cols]
    assert np.allclose(adj, sps.false_discovery_control(raw, method="bh"), rtol=1e-12, atol=0)


def test_severities_on_shifted_and_unshifted_features(report):
    d = report.to_dict()["features"]
    assert d["x0"]["severity"] == 0 and not d["x0"]["drifted"]  # same distribution
    assert d["x2"]["severity"] == 3 and d["x2"]["severities"]["ks"] == 3  # shifted by 1 sd
    assert 1 <= d["x1"]["severity"] <= 2  # shifted by 0.35 sd: KS D ~ 0.14, W ~ 0.35 sd
    assert d["color"]["severity"] == 3 and d["color"]["unseen_categories"]["teal"] > 300
    assert report.drifted[:1] == ["x2"] or report.drifted[0] in ("x2", "color")
    assert set(report.drifted) == {n for n, f in d.items() if f["severity"] >= 2}
    assert report.ranking()[-1] == "x0"


def test_report_on_a_profile_gives_the_drift_engines_gauges(data):
    """Same profile, same rows: the report's scores, adjusted p-values, severities and quality
    ratios are the gauges of the drift engine's count window."""
    ref, cur = data
    rng = np.random.default_rng(5)
    feats = NUMERIC + ["color"]
    profile = build_profile("m", "1", {f: ref[f] for f in feats}, ref["pred"], ref["proba_1"], max_sample=1500, rng=rng)
    cur_rows = {f: list(cur[f]) for f in feats}
    cur_rows["x0"][:7] = [None, float("nan"), "oops", 99.0, -99.0, None, None]  # data-quality findings
    n = len(cur["x0"])
    settings = from_mapping(EngineSettings, {"windows": {"count_size": n, "min_events": 10},
                                            "profiles": {"learn_from_first_n": 0}})
    store = ProfileStore()
    store.add(profile)
    engine = DriftEngine(settings, store, clock=lambda: 1000.0)
    engine.ingest([InferenceBatch("m", "1", cur_rows, list(cur["pred"]), list(cur["proba_1"]))])
    gauges = {}
    for p in engine.evaluate(1000.0):
        a = p.attributes
        if a.get(Attr.WINDOW) == "count":
            gauges[(p.spec.name, a.get(Attr.DRIFT_SUBJECT), a.get(Attr.FEATURE_NAME),
                    a.get(Attr.DRIFT_METHOD) or a.get(Attr.DATA_QUALITY_CHECK))] = p.value
    current = {**cur_rows, "pred": cur["pred"], "conf": cur["proba_1"]}
    rep = drift_report(profile, current, features=feats, prediction="pred", confidence="conf")
    compared = 0
    for subject, cols in (("feature", rep.features), ("prediction", rep.predictions)):
        for key, col in cols.items():
            name = col.name if subject == "feature" else key
            subj = subject if subject == "feature" else key
            for method, v in col.verdict.methods.items():
                g = (subj, name if subject == "feature" else subj, method)
                assert v.score == pytest.approx(gauges[(Metric.DRIFT_SCORE.name, *g)], rel=1e-12)
                assert v.severity == gauges[(Metric.DRIFT_SEVERITY.name, *g)]
                if v.p_value_adjusted is not None:
                    assert v.p_value_adjusted == pytest.approx(gauges[(Metric.DRIFT_P_VALUE_ADJUSTED.name, *g)],
                                                               rel=1e-12)
                compared += 1
            if subject == "feature":
                for check, ratio in col.quality.items():
                    assert ratio == pytest.approx(gauges[(Metric.DATA_QUALITY_RATIO.name, None, name, check)])
    assert compared == 4 * 4 + 3 + 3 + 4  # numeric features, color, prediction (categorical), confidence
    drifted = gauges[(Metric.DRIFTED_FEATURES.name, None, None, None)]
    assert len(rep.drifted) == drifted >= 2
    q = rep.features["x0"].quality
    assert q["missing"] == pytest.approx(4 / n) and q["type_mismatch"] == pytest.approx(1 / n)
    nums = np.array([v for v in cur_rows["x0"] if isinstance(v, float) and np.isfinite(v)])
    outside = np.count_nonzero((nums < profile.features["x0"].min) | (nums > profile.features["x0"].max))
    assert "nan" not in q and q["out_of_range"] == pytest.approx(outside / n) and outside >= 2
