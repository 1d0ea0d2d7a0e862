"""Synthetic traffic for the demo, in phases: steady, input drift, then label decay.

Rows are bootstrapped from held-out data with a little jitter (so no two requests are equal).
``drift`` shifts chosen features by a multiple of their standard deviation (covariate shift);
``decay`` flips a share of the ground-truth labels (concept shift: the inputs look the same, the
right answer changed), which realized accuracy sees and confidence-based estimation cannot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PHASE_STEADY = "steady"
PHASE_DRIFT = "drift"
PHASE_DECAY = "decay"


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    shift_features: tuple[int, ...] = ()
    shift_sd: float = 0.0
    label_flip: float = 0.0


@dataclass
class Scenario:
    """A timeline of phases; ``phase_at(t)`` says which applies ``t`` seconds in."""

    phases: list[Phase] = field(default_factory=list)

    @classmethod
    def default(cls, total_s: float, drift_features=(1, 4, 8)) -> "Scenario":
        third = total_s / 3.0
        return cls([
            Phase(PHASE_STEADY, third),
            Phase(PHASE_DRIFT, third, shift_features=tuple(drift_features), shift_sd=2.5),
            Phase(PHASE_DECAY, total_s - 2 * third, shift_features=tuple(drift_features),
                  shift_sd=2.5, label_flip=0.35),
        ])

    @property
    def total_s(self) -> float:
        return sum(p.seconds for p in self.phases)

    def phase_at(self, t: float) -> Phase:
        acc = 0.0
        for phase in self.phases:
            acc += phase.seconds
            if t < acc:
                return phase
        return self.phases[-1]


class TrafficGenerator:
    """Draws request batches and their (possibly shifted) ground truth, vectorised."""

    def __init__(self, x_pool: np.ndarray, y_pool: np.ndarray, seed: int = 11):
        self.x_pool = np.asarray(x_pool, dtype=float)
        self.y_pool = np.asarray(y_pool)
        self.sd = self.x_pool.std(axis=0)
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int, phase: Phase) -> tuple[np.ndarray, np.ndarray]:
        idx = self.rng.integers(0, len(self.x_pool), size=size)
        x = self.x_pool[idx] + self.rng.normal(0.0, 0.05, size=(size, self.x_pool.shape[1])) * self.sd
        y = self.y_pool[idx].copy()
        if phase.shift_features and phase.shift_sd:
            cols = list(phase.shift_features)
            x[:, cols] += phase.shift_sd * self.sd[cols]
        if phase.label_flip:
            flip = self.rng.random(size) < phase.label_flip
            y[flip] = 1 - y[flip]
        return x, y
