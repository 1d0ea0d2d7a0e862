"""The JSON contract of docs/report.md, field by field, and the text summary."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from otel_ml.report import FORMAT, FORMAT_VERSION, drift_report
from tests.report.data import frames

DOC = Path(__file__).resolve().parents[2] / "docs" / "report.md"

TOP = {"format", "format_version", "otel_ml_version", "created_at", "reference", "current", "settings",
       "summary", "columns", "features", "predictions", "performance", "multivariate"}
COMMON = {"kind", "severity", "severity_name", "drifted", "compared", "n_reference", "n_current", "severities",
          "quality", "summary"}
NUMERIC = COMMON | {"ks_statistic", "ks_p_value", "ks_p_value_adjusted", "psi", "wasserstein",
                    "wasserstein_normalized", "jensenshannon"}
CATEGORICAL = COMMON | {"chi2_statistic", "chi2_p_value", "chi2_p_value_adjusted", "psi", "cramers_v",
                        "jensenshannon", "unseen_ratio", "unseen_categories", "unseen_categories_total"}
SUMMARY = {"features", "compared", "drifted", "drifted_share", "worst_severity", "severity_counts", "ranking",
           "methods"}
PERFORMANCE = {"task", "classes", "positive_class", "n_reference", "n_current", "n_current_labelled",
               "min_labels", "min_predictions", "reference", "current", "estimated", "decay"}


@pytest.fixture(scope="module")
def data():
    ref, cur = frames(seed=11, shifts={"x2": 0.8}, colors_cur=["red", "green", "teal"])
    cur["x0"] = cur["x0"].astype(object)
    cur["x0"][:10] = None  # missing values in the current data
    cur["extra"] = np.zeros(len(cur["x1"]))
    return ref, cur


@pytest.fixture(scope="module")
def doc():
    d = json.loads(drift_report(*data.__wrapped__(), target="label", prediction="pred",
                                probabilities=["proba_0", "proba_1"]).to_json())
    return d


def test_top_level_and_sources(doc, data):
    ref, cur = data
    assert set(doc) == TOP
    assert doc["format"] == FORMAT == "otel-ml-drift-report" and doc["format_version"] == FORMAT_VERSION == 1
    assert doc["reference"] == {"source": "reference columns", "rows": 3000, "kind": "data", "sampled": False}
    assert doc["current"] == {"source": "current columns", "rows": 2000}
    mv = doc["multivariate"]  # the four numeric features together
    assert set(mv) == {"method", "score", "p_value", "severity", "null_bound", "rows", "features"}
    assert mv["method"] == "domain_classifier" and mv["features"] == ["x0", "x1", "x2", "x3"]
    assert 0 <= mv["score"] <= 1 and 0 <= mv["p_value"] <= 1 and mv["severity"] in (0, 1, 2, 3)
    assert doc["columns"] == {"roles": ["label", "pred", "proba_0", "proba_1"], "only_in_reference": [],
                              "only_in_current": ["extra"]}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", doc["created_at"])
    s = doc["settings"]
    assert (s["correction"], s["alpha"], s["bins"], s["drifted_from"]) == ("bh", 0.05, 10, 2)
    assert s["tiers"]["ks"] == {"info": 0.1, "warning": 0.15, "critical": 0.25}
    assert set(s["tiers"]) == {"ks", "psi", "wasserstein", "jensenshannon", "chi2", "domain_classifier"}


def test_feature_objects(doc):
    feats = doc["features"]
    assert list(feats) == ["x0", "x1", "x2", "x3", "color"]  # reference order, roles and extras left out
    for name in ("x0", "x1", "x2", "x3"):
        f = feats[name]
        assert set(f) == NUMERIC and f["kind"] == "numeric"
        assert set(f["severities"]) == {"ks", "psi", "wasserstein", "jensenshannon"}
        assert f["severity"] == max(f["severities"].values())
        assert set(f["quality"]) == {"missing", "inf", "type_mismatch", "out_of_range", "outlier",
                                     "reference_missing"}
        assert set(f["summary"]["reference"]) == {"mean", "std", "min", "median", "max"}
        assert 0 <= f["ks_statistic"] <= 1 and 0 <= f["ks_p_value"] <= f["ks_p_value_adjusted"] <= 1
        assert 0 <= f["jensenshannon"] <= 1 and f["psi"] >= 0 and f["wasserstein"] >= 0
    x0 = feats["x0"]
    assert x0["quality"]["missing"] == pytest.approx(10 / 2000) and x0["n_current"] == 1990
    c = feats["color"]
    assert set(c) == CATEGORICAL and c["kind"] == "categorical"
    assert set(c["severities"]) == {"chi2", "psi", "jensenshannon"}
    assert set(c["quality"]) == {"missing", "type_mismatch", "unseen_category", "reference_missing"}
    assert list(c["unseen_categories"]) == ["teal"] and c["unseen_categories_total"] == 1
    assert c["unseen_ratio"] == pytest.approx(c["unseen_categories"]["teal"] / 2000)
    assert c["quality"]["unseen_category"] == pytest.approx(c["unseen_ratio"])
    for f in feats.values():
        assert f["severity_name"] == ["none", "info", "warning", "critical"][f["severity"]]
        assert f["drifted"] == (f["severity"] >= 2) and f["compared"] is True


def test_summary(doc):
    s, feats = doc["summary"], doc["features"]
    assert set(s) == SUMMARY
    drifted = [n for n, f in feats.items() if f["severity"] >= 2]
    assert s["features"] == s["compared"] == 5 and s["drifted"] == len(drifted) >= 2
    assert s["drifted_share"] == pytest.approx(len(drifted) / 5)
    assert s["worst_severity"] == 3
    assert sum(s["severity_counts"].values()) == 5
    sev = [feats[n]["severity"] for n in s["ranking"]]
    assert sorted(s["ranking"]) == sorted(feats) and sev == sorted(sev, reverse=True)
    assert s["methods"] == {"numeric": ["ks", "psi", "wasserstein", "jensenshannon"],
                            "categorical": ["chi2", "psi", "jensenshannon"], "correction": "bh", "alpha": 0.05,
                            "drifted_from": "warning"}


def test_prediction_and_performance(doc, data):
    ref, cur = data
    assert set(doc["predictions"]) == {"prediction"}
    assert set(doc["predictions"]["prediction"]) == CATEGORICAL
    p = doc["performance"]
    assert set(p) == PERFORMANCE
    assert (p["task"], p["classes"], p["positive_class"]) == ("classification", ["0", "1"], "1")
    assert p["n_reference"] == 3000 and p["n_current_labelled"] == 2000
    y, yhat = cur["label"], cur["pred"]
    assert p["current"]["accuracy"]["none"] == pytest.approx(skm.accuracy_score(y, yhat))
    assert p["current"]["f1"]["binary"] == pytest.approx(skm.f1_score(y, yhat))
    assert p["current"]["f1"]["macro"] == pytest.approx(skm.f1_score(y, yhat, average="macro"))
    assert p["current"]["roc_auc"]["binary"] == pytest.approx(skm.roc_auc_score(y, cur["proba_1"]))
    assert p["reference"]["accuracy"]["none"] == pytest.approx(skm.accuracy_score(ref["label"], ref["pred"]))
    # calibrated scores: the label-free estimate lands near the realized accuracy
    assert abs(p["estimated"]["accuracy"]["none"] - p["current"]["accuracy"]["none"]) < 0.04
    assert set(p["decay"]["accuracy"]) == {"average", "drop", "p_value", "significant"}


def test_regression_metrics_equal_scikit_learn():
    rng = np.random.default_rng(4)
    ref = {"x": rng.normal(size=500), "y": rng.normal(size=500)}
    ref["yhat"] = ref["y"] + rng.normal(0, 0.1, 500)
    cur = {"x": rng.normal(size=400), "y": rng.normal(size=400)}
    cur["yhat"] = cur["y"] + rng.normal(0.2, 0.3, 400)
    p = drift_report(ref, cur, target="y", prediction="yhat").to_dict()["performance"]
    assert p["task"] == "regression" and p["estimated"] == {}
    assert p["current"]["mae"]["none"] == pytest.approx(skm.mean_absolute_error(cur["y"], cur["yhat"]))
    assert p["current"]["r2"]["none"] == pytest.approx(skm.r2_score(cur["y"], cur["yhat"]))
    assert p["reference"]["rmse"]["none"] == pytest.approx(np.sqrt(skm.mean_squared_error(ref["y"], ref["yhat"])))
    assert p["decay"]["mae"]["significant"] is True


def test_json_is_strict_and_written_atomically(tmp_path, data):
    rep = drift_report(*data)
    path = tmp_path / "r.json"
    text = rep.to_json(path)
    assert path.read_text() == text
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}")) == rep.to_dict()
    assert rep.to_dict()["performance"] is None


def test_every_contract_key_is_documented(doc):
    text = DOC.read_text()
    keys = TOP | NUMERIC | CATEGORICAL | SUMMARY | PERFORMANCE | set(doc["settings"]) | set(doc["reference"])
    missing = sorted(k for k in keys if f"`{k}`" not in text)
    assert not missing, f"docs/report.md does not name {missing}"


def test_text_summary_lists_drifted_features_first(data):
    rep = drift_report(*data, features=["x0", "x1", "x2", "x3", "color"])
    lines = repr(rep).splitlines()
    assert lines[0].startswith(f"DriftReport: {len(rep.drifted)} of 5 features drifted")
    named = [ln.split()[1] for ln in lines[1:] if "all features together" not in ln]
    assert named == rep.ranking() and named[: len(rep.drifted)] == rep.drifted
    assert lines[-1].split()[0] == "none"


def test_a_feature_without_usable_current_values_is_reported_not_compared():
    rng = np.random.default_rng(6)
    ref = {"a": rng.normal(size=300), "b": rng.normal(size=300), "c": rng.choice(["u", "v"], size=300)}
    cur = {"a": rng.normal(size=200), "b": [None] * 200, "c": [None] * 200}
    rep = drift_report(ref, cur)
    d = rep.to_dict()["features"]
    for name in ("b", "c"):
        assert d[name]["compared"] is False and d[name]["severity"] == 0 and d[name]["n_current"] == 0
        assert d[name]["quality"]["missing"] == 1.0
    assert "ks_statistic" not in d["b"] and "chi2_statistic" not in d["c"]
    assert rep.to_dict()["summary"]["compared"] == 1
    assert "no usable current value" in repr(rep)
    assert rep.to_html().count("<svg") == 1


@pytest.mark.parametrize("columns, known, expected", [
    (["proba_0", "proba_1"], set(), {"0": "proba_0", "1": "proba_1"}),
    (["p0", "p1"], {"0", "1"}, {"0": "p0", "1": "p1"}),
    (["prob_setosa", "prob_versicolor"], {"setosa", "versicolor"}, {"setosa": "prob_setosa",
                                                                    "versicolor": "prob_versicolor"}),
    (["0=p_neg", "1=p_pos"], set(), {"0": "p_neg", "1": "p_pos"}),
    (["cat", "dog"], set(), {"cat": "cat", "dog": "dog"}),
])
def test_probability_columns_map_to_classes(columns, known, expected):
    from otel_ml.report.accuracy import probability_classes

    assert probability_classes(columns, known) == expected
