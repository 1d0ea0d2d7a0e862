"""Learned reference profiles: a model version without one keeps its first N events raw, then
profiles them (``profiles.learn_from_first_n``)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from otel_ml.processor.contracts import InferenceBatch
from otel_ml.processor.profile import Profile
from otel_ml.processor.profile_build import build_profile
from otel_ml.processor.state_codec import read_array

__all__ = ["ProfileLearner"]


class ProfileLearner:
    """The first ``target`` events of a version without a profile, kept raw until they become one."""

    def __init__(self, target: int, max_features: int):
        self.target = target
        self.max_features = max_features
        self.rows = 0
        self.features: dict[str, list] = {}
        self.predictions: list = []
        self.confidences: list = []

    @property
    def done(self) -> bool:
        return self.rows >= self.target

    def add(self, batch: InferenceBatch) -> tuple[int, int]:
        """Take rows of ``batch`` until the target; returns (rows taken, feature values dropped by the cap)."""
        take = min(batch.n, self.target - self.rows)
        dropped = 0
        for name, values in batch.features.items():
            col = self.features.get(name)
            if col is None:
                if len(self.features) >= self.max_features:
                    dropped += take
                    continue
                col = self.features[name] = [None] * self.rows
            col.extend(values[:take])
        for name, col in self.features.items():
            if name not in batch.features:
                col.extend([None] * take)
        self.predictions.extend(batch.predictions[:take])
        self.confidences.extend(batch.confidences[:take] if batch.confidences is not None else [None] * take)
        self.rows += take
        return take, dropped

    def build(self, model: str, version: str, bins: int, rng: np.random.Generator) -> Profile | None:
        """The learned profile; None when no feature and no prediction holds a usable value.
        A feature with no usable value is left out of the schema (it then counts as extra)."""
        profile = build_profile(model, version, self.features, self.predictions, self.confidences,
                                bins=bins, source=f"learned from the first {self.rows} events",
                                learned=True, rng=rng, skip_empty=True)
        if not profile.features and profile.prediction is None:
            return None
        return profile

    def to_dict(self) -> dict[str, Any]:
        """Raw columns as object arrays (mixed None / str / numbers) for the checkpoint codec."""
        return {"target": self.target, "rows": self.rows,
                "features": {k: _objects(v) for k, v in self.features.items()},
                "predictions": _objects(self.predictions),
                "confidences": _objects(self.confidences)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], target: int, max_features: int) -> "ProfileLearner":
        out = cls(target, max_features)
        out.rows = int(d["rows"])
        out.features = {k: read_array(v, object).tolist() for k, v in d["features"].items()}
        out.predictions = read_array(d["predictions"], object).tolist()
        out.confidences = read_array(d["confidences"], object).tolist()
        return out


def _objects(values: list) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr
