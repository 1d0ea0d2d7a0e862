"""Reference profiles of the demo's two models, built in-process from the training data.

Each model version gets a profile of the training features plus the distribution of its own
predictions and confidences, and a ``performance`` section (baseline accuracy and the isotonic
calibration that confidence-based estimation needs). Predictions come from 5-fold
cross-validation, not from the fitted model scoring its own training rows, so the baseline and
the calibration describe unseen data the way production will.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from otel_ml.demo.model import FALLBACK_VERSION, MODEL_NAME, PRIMARY_VERSION, DemoModels
from otel_ml.processor.accuracy.reference import performance_section
from otel_ml.processor.profile import CATEGORICAL, NUMERIC, Profile
from otel_ml.processor.profile_build import build_profile

__all__ = ["ReferenceFiles", "out_of_fold_proba", "build_model_profile", "write_profiles"]

CV_FOLDS = 5


@dataclass(frozen=True)
class ReferenceFiles:
    """Where each version's profile was written and the baseline accuracy it carries."""

    paths: dict[str, Path]  # version -> profile file
    baseline_accuracy: dict[str, float]  # version -> cross-validated accuracy

    def processor_entries(self) -> list[str]:
        """``MODEL:VERSION=FILE`` entries for the processor's ``reference_profiles``."""
        return [f"{MODEL_NAME}:{version}={path}" for version, path in self.paths.items()]


def out_of_fold_proba(estimator, x: np.ndarray, y: np.ndarray, seed: int = 7) -> np.ndarray:
    """Class probabilities of every training row from a model that did not see that row."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
    return cross_val_predict(clone(estimator), x, y, cv=folds, method="predict_proba")


def build_model_profile(version: str, feature_names: list[str], x: np.ndarray, y: np.ndarray,
                        proba: np.ndarray, classes: np.ndarray) -> Profile:
    """Profile of one model version: features, predictions, confidences and performance."""
    top = proba.argmax(axis=1)
    predicted = np.asarray(classes)[top]
    confidence = proba[np.arange(len(top)), top]
    performance = performance_section(y.tolist(), predicted.tolist(), probabilities=proba,
                                      classes=[c.item() if hasattr(c, "item") else c for c in classes])
    features = {name: x[:, j] for j, name in enumerate(feature_names)}
    return build_profile(
        MODEL_NAME, version, features, predicted, confidence,
        kinds={name: NUMERIC for name in feature_names}, prediction_kind=CATEGORICAL,
        source=f"demo training data ({len(y)} rows, {CV_FOLDS}-fold out-of-fold predictions)",
        performance=performance, rng=np.random.default_rng(0))


def write_profiles(models: DemoModels, directory: Path) -> ReferenceFiles:
    """Build and save the primary's and the fallback's profiles under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    baseline: dict[str, float] = {}
    for version, estimator in ((PRIMARY_VERSION, models.primary), (FALLBACK_VERSION, models.fallback)):
        proba = out_of_fold_proba(estimator, models.x_train, models.y_train)
        classes = np.unique(models.y_train)
        profile = build_model_profile(version, models.feature_names, models.x_train, models.y_train,
                                      proba, classes)
        path = directory / f"{MODEL_NAME}-{version}.profile.json"
        profile.save(path)
        paths[version] = path
        baseline[version] = float((classes[proba.argmax(axis=1)] == models.y_train).mean())
    return ReferenceFiles(paths, baseline)
