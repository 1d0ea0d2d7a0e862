"""The demo's models: a real scikit-learn classifier and its fallback, trained on a bundled dataset.

Breast-cancer diagnosis (scikit-learn's bundled Wisconsin data), the ten "mean" features.
The primary is a gradient-boosted ensemble on all ten. The fallback is a scaled logistic
regression on the "shape" features only (radius, perimeter, area, compactness, concavity,
concave points): slightly less accurate, but blind to the texture-type features a scanner
recalibration would shift — the drift the demo injects — so routing to it is a safe remediation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

MODEL_NAME = "breast-cancer"
PRIMARY_VERSION = "2.1.0"
FALLBACK_VERSION = "1.4.0"
N_FEATURES = 10
#: Features the demo drifts (texture, smoothness, symmetry): acquisition-dependent measurements.
DRIFTING_FEATURES = (1, 4, 8)
#: Features the fallback uses.
STABLE_FEATURES = (0, 2, 3, 5, 6, 7)


@dataclass
class DemoModels:
    primary: object
    fallback: object
    feature_names: list[str]
    classes: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_pool: np.ndarray  # held-out rows the traffic generator draws from
    y_pool: np.ndarray


def _snake(name: str) -> str:
    return name.replace(" ", "_")


def train(seed: int = 7, progress: Callable[[str], None] | None = None) -> DemoModels:
    """Train both models on a stratified split; the held-out part feeds the synthetic traffic.
    ``progress`` is told as each model is ready."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer()
    x = np.asarray(data.data[:, :N_FEATURES], dtype=float)
    y = np.asarray(data.target)
    x_train, x_pool, y_train, y_pool = train_test_split(
        x, y, test_size=0.4, random_state=seed, stratify=y)
    primary = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.08, random_state=seed)
    primary.fit(x_train, y_train)
    if progress:
        progress("primary (HistGradientBoosting)")
    stable = ColumnTransformer([("stable", "passthrough", list(STABLE_FEATURES))], remainder="drop")
    fallback = make_pipeline(stable, StandardScaler(), LogisticRegression(max_iter=500))
    fallback.fit(x_train, y_train)
    if progress:
        progress("fallback (logistic regression)")
    names = [_snake(n) for n in data.feature_names[:N_FEATURES]]
    return DemoModels(primary, fallback, names, [str(c) for c in data.target_names],
                      x_train, y_train, x_pool, y_pool)
