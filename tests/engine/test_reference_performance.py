"""`otel-ml reference build` records the baseline performance when a target column is present."""

import csv

import numpy as np
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from otel_ml.processor.profile import Profile
from otel_ml.processor.reference_build import build_reference


def _write(path, x, pred, conf, target):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"f{i}" for i in range(x.shape[1])] + ["prediction", "confidence", "target"])
        for row, p, c, t in zip(x, pred, conf, target):
            w.writerow([*row, p, c, t])


def test_classification_baseline_equals_sklearn(tmp_path):
    data = load_wine()
    x, y = data.data[:, :6], data.target
    model = LogisticRegression(max_iter=3000).fit(x[::2], y[::2])
    pred, conf = model.predict(x), model.predict_proba(x).max(axis=1)
    _write(tmp_path / "ref.csv", x, pred, conf, y)

    profile, roles = build_reference([tmp_path / "ref.csv"], "wine", "1")
    assert roles.target == "target" and roles.prediction == "prediction"
    perf = profile.performance
    assert perf["task"] == "classification" and perf["n"] == len(y)
    assert np.isclose(perf["metrics"]["accuracy"]["none"], accuracy_score(y, pred))
    assert np.isclose(perf["metrics"]["f1"]["macro"], f1_score(y, pred, average="macro"))

    profile.save(tmp_path / "wine.json")
    assert Profile.load(tmp_path / "wine.json").performance == perf


def test_no_target_means_no_performance_section(tmp_path):
    data = load_wine()
    x = data.data[:, :4]
    with open(tmp_path / "ref.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"f{i}" for i in range(4)])
        w.writerows(x.tolist())
    profile, _ = build_reference([tmp_path / "ref.csv"], "wine")
    assert profile.performance is None
