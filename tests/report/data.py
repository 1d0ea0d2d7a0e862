"""Synthetic reference / current data sets for the report tests (numpy only)."""

import csv

import numpy as np

COLORS = ["red", "green", "blue"]


def frames(seed=0, n_ref=3000, n_cur=2000, shifts=None, colors_cur=None, with_model=True):
    """(reference, current) as dicts of columns: numeric x0..x3 (x3 coarse, with ties), color,
    label / pred / proba_0 / proba_1 of a binary classifier."""
    rng = np.random.default_rng(seed)
    shifts = shifts or {}
    out = []
    for n, is_cur in ((n_ref, False), (n_cur, True)):
        cols = {}
        for i in range(3):
            name = f"x{i}"
            cols[name] = rng.normal(size=n) + (shifts.get(name, 0.0) if is_cur else 0.0)
        cols["x3"] = np.round(rng.exponential(size=n) + (shifts.get("x3", 0.0) if is_cur else 0.0), 1)
        palette = colors_cur if (is_cur and colors_cur) else COLORS
        cols["color"] = rng.choice(palette, size=n).astype(object)
        if with_model:
            score = rng.uniform(size=n)
            label = (rng.uniform(size=n) < score).astype(np.int64)
            cols["label"] = label.astype(np.float64)
            cols["proba_1"] = score
            cols["proba_0"] = 1.0 - score
            cols["pred"] = (score >= 0.5).astype(np.float64)
        out.append(cols)
    return out[0], out[1]


def write_csv(path, cols):
    names = list(cols)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for row in zip(*(cols[n] for n in names)):
            w.writerow(row)
    return path
