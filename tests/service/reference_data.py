"""A real dataset and model for the end-to-end tests: scikit-learn's breast-cancer data, a
logistic regression trained on it, and the reference profile built from both."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from otel_ml.processor.profile_build import build_profile

MODEL, VERSION = "cancer", "1"
SHIFTED, STEADY = "mean radius", "mean texture"


@dataclass
class Reference:
    profile_path: Path
    features: dict[str, np.ndarray]
    predictions: np.ndarray
    confidences: np.ndarray
    std: dict[str, float]

    def rows(self, n: int, rng: np.random.Generator, shift_sd: float = 2.0):
        """``n`` rows drawn from the data, with SHIFTED moved by ``shift_sd`` standard deviations."""
        idx = rng.integers(0, len(self.predictions), n)
        feats = {k: v[idx].copy() for k, v in self.features.items()}
        feats[SHIFTED] = feats[SHIFTED] + shift_sd * self.std[SHIFTED]
        return feats, self.predictions[idx], self.confidences[idx]


def build_reference(directory: Path) -> Reference:
    data = load_breast_cancer()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(data.data, data.target)
    predictions = model.predict(data.data)
    confidences = model.predict_proba(data.data).max(axis=1)
    features = {name: data.data[:, i] for i, name in enumerate(data.feature_names)}
    profile = build_profile(MODEL, VERSION, features, predictions, confidences, source="sklearn breast_cancer")
    path = directory / "cancer-1.profile.json"
    profile.save(path)
    return Reference(path, features, predictions, confidences,
                     {k: float(np.std(v)) for k, v in features.items()})
