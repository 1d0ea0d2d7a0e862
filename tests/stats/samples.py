"""Sample pairs (reference, current) for the oracle tests: sizes, shapes and ties that stress the merge."""

from __future__ import annotations

import numpy as np


def _normal(rng, n, shift=0.0):
    return rng.normal(shift, 1.0, n)


def sample_pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(id, reference, current) pairs, generated from fixed seeds."""
    rng = np.random.default_rng(20240611)
    pairs = [
        ("normal-same-500x300", _normal(rng, 500), _normal(rng, 300)),
        ("normal-shift-2000x700", _normal(rng, 2000), _normal(rng, 700, 0.3)),
        ("lognormal-vs-scaled-5000x1000", rng.lognormal(0, 1, 5000), rng.lognormal(0, 1.3, 1000)),
        ("uniform-tiny-7x5", rng.uniform(size=7), rng.uniform(size=5)),
        ("one-vs-many-1x50", np.array([0.3]), rng.uniform(size=50)),
        ("rounded-ties-3000x800", np.round(_normal(rng, 3000), 1), np.round(_normal(rng, 800, 0.1), 1)),
        ("integers-heavy-ties-1000x1000", rng.poisson(3, 1000).astype(float), rng.poisson(3.4, 1000).astype(float)),
        ("shared-values-exact-ties", np.repeat([1.0, 2.0, 3.0], [10, 20, 30]), np.repeat([1.0, 2.0, 4.0], [5, 5, 5])),
        ("disjoint-1000x200", _normal(rng, 1000), _normal(rng, 200, 20.0)),
        ("constant-ref", np.full(100, 2.5), _normal(rng, 60, 2.5)),
        ("constant-both-equal", np.full(40, 1.0), np.full(30, 1.0)),
        ("bimodal-vs-normal-20000x5000",
         np.concatenate([_normal(rng, 10000, -2), _normal(rng, 10000, 2)]), _normal(rng, 5000)),
    ]
    return pairs


PAIRS = sample_pairs()
PAIR_IDS = [p[0] for p in PAIRS]
