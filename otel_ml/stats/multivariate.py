"""Multivariate drift: joint changes that per-feature tests cannot see (a correlation change).

Method used by the processor: a **domain classifier**. A gradient-boosted classifier
(scikit-learn ``HistGradientBoostingClassifier``: fast, NaN-aware, non-linear) learns to tell
reference rows from window rows on one half of a balanced sample; its ROC AUC on the other half
is the score (0.5: indistinguishable). The p-value is the one-sided Mann-Whitney U test of the
held-out scores (AUC = U / (n_ref n_cur)): exact given the training half, since held-out rows of
the same distribution are exchangeable under it, so no per-window calibration is needed.
Calibration on the reference (``fit_domain_reference``): each of ``chunks`` contiguous chunks
of the reference against the rest gives an AUC; ``null_bound`` = their mean + 3 sd is the
reference's own variation (a reference drawn over time may differ between its chunks). A window
is tiered only when its AUC exceeds that and 0.5 + 3 sd of the null AUC at the window's held-out
size (``null_auc_sd``): without that a 100-row window (50 held-out rows a side, sd 0.058) would
reach the 0.61 tier by chance in about 3% of null windows, since p < alpha alone allows 5%.

Why not PCA reconstruction error (NannyML's default; ``fit_pca_reference`` keeps it for
comparison): on 2,000-row windows against a 5,000-row reference (``benchmarks/bench_drift.py
--multivariate``, 10 windows each), a correlation 0 -> 0.8 between two N(0,1) features was
flagged (severity >= 2) in 0/10 windows by PCA and 10/10 by the domain classifier, with 2 features
and with 18 more independent ones; 0 -> 0.5 was significant (p < 0.05) for the classifier in 10/10
windows, flagged 3/10 (2 features) and 0/10 (20 features); neither flagged null windows. PCA
keeping 65% of the variance of isotropic features keeps every component of 2 features (the error
is identically 0), and with more features it sees a new correlation only when the discarded axes
happen to line up with it; it does see a feature decorrelating from a latent structure. PCA is
cheaper (0.2x the univariate tests on 20 features x 5,000 rows, one thread); the classifier costs
about 8x them, bounded by ``max_rows``.

Severity: tiers on the AUC (``severity.DEFAULT_TIERS["domain_classifier"]``, 0.57 / 0.61 / 0.67,
the AUC of the mean shifts at which the KS tiers are crossed), and a tier above none also needs
p < alpha and AUC above the bound described above (``MultivariateDrift.null_bound``).
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.stats import mannwhitneyu
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier

from otel_ml.stats.errors import EmptySampleError, InvalidReferenceError
from otel_ml.stats.severity import (
    DEFAULT_ALPHA, DEFAULT_TIERS, METHOD_DOMAIN_CLASSIFIER, SEVERITY_NONE, Tiers, severity,
)

__all__ = [
    "METHOD_PCA_RECONSTRUCTION", "MIN_ROWS", "MultivariateDrift", "DomainClassifierReference",
    "fit_domain_reference", "domain_auc", "held_out_scores", "null_auc_sd", "PcaReference", "fit_pca_reference",
]

METHOD_PCA_RECONSTRUCTION = "pca_reconstruction"
#: Fewer usable rows than this on either side: no verdict.
MIN_ROWS = 50
_NULL_SDS = 3.0
_CLASSIFIER = dict(max_iter=50, max_leaf_nodes=15, learning_rate=0.1, early_stopping=False)


@dataclass(frozen=True)
class MultivariateDrift:
    """One window's multivariate verdict: score (AUC or mean error), p-value, tier, rows used."""

    method: str
    score: float
    p_value: float
    severity: int
    rows: int
    null_bound: float


def _matrix(x: Any, width: int | None = None) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"rows: expected a 2-D array (rows x features), got shape {arr.shape}")
    if width is not None and arr.shape[1] != width:
        raise ValueError(f"rows: expected {width} feature columns, got {arr.shape[1]}")
    arr = np.where(np.isfinite(arr), arr, np.nan)
    return arr[~np.isnan(arr).all(axis=1)]  # a row with no value says nothing about the joint law


def _sample(x: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    return x if x.shape[0] <= size else x[rng.choice(x.shape[0], size, replace=False)]


def held_out_scores(ref: np.ndarray, cur: np.ndarray, rng: np.random.Generator,
                    max_rows: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """The classifier's P(current) for held-out reference rows and held-out current rows.

    Balanced: each side is sampled down to min(len(ref), len(cur), max_rows) rows, half of each
    trains the classifier, the other half is scored.
    """
    m = min(ref.shape[0], cur.shape[0], max_rows)
    if m < MIN_ROWS:
        raise EmptySampleError(f"domain classifier: {m} usable rows, needs at least {MIN_ROWS} a side")
    a, b = _sample(ref, m, rng), _sample(cur, m, rng)
    half = m // 2
    train = np.vstack((a[:half], b[:half]))
    label = np.r_[np.zeros(half), np.ones(half)]
    clf = HistGradientBoostingClassifier(**_CLASSIFIER, random_state=int(rng.integers(2**31 - 1)))
    clf.fit(train, label)
    return clf.predict_proba(a[half:])[:, 1], clf.predict_proba(b[half:])[:, 1]


def domain_auc(ref: np.ndarray, cur: np.ndarray, rng: np.random.Generator,
               max_rows: int = 2000) -> tuple[float, float, int]:
    """(held-out AUC, one-sided Mann-Whitney p-value, rows per side) of reference vs current."""
    s_ref, s_cur = held_out_scores(ref, cur, rng, max_rows)
    u = mannwhitneyu(s_cur, s_ref, alternative="greater")
    auc = float(u.statistic) / (s_cur.size * s_ref.size)
    return auc, float(u.pvalue), min(ref.shape[0], cur.shape[0], max_rows)


def null_auc_sd(held_out: int) -> float:
    """Standard deviation of the AUC of ``held_out`` vs ``held_out`` exchangeable scores
    (Mann-Whitney U without ties: sqrt((n1 + n2 + 1) / (12 n1 n2)))."""
    return math.sqrt((2 * held_out + 1) / (12.0 * held_out * held_out))


def _encode(x: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(x, dtype="<f4").tobytes()).decode("ascii")


def _decode(text: str, width: int) -> np.ndarray:
    flat = np.frombuffer(base64.b64decode(text, validate=True), dtype="<f4").astype(np.float64)
    if width <= 0 or flat.size % width:
        raise InvalidReferenceError("sample", f"{flat.size} values do not fill rows of {width} features")
    return flat.reshape(-1, width)


@dataclass(frozen=True, eq=False)
class DomainClassifierReference:
    """What the domain classifier needs from the reference: feature order, a row sample
    (float32, NaN = missing) and the calibration on the reference's own chunks."""

    features: tuple[str, ...]
    sample: np.ndarray
    chunk_aucs: tuple[float, ...]
    max_rows: int = 2000

    method = METHOD_DOMAIN_CLASSIFIER

    @property
    def null_bound(self) -> float:
        """Mean + 3 sd of the chunk AUCs (0.5 without calibration): the reference's own variation."""
        if len(self.chunk_aucs) < 2:
            return 0.5
        c = np.asarray(self.chunk_aucs)
        return float(max(0.5, c.mean() + _NULL_SDS * c.std(ddof=1)))

    def score(self, rows: Any, rng: np.random.Generator, tiers: Tiers | None = None,
              alpha: float = DEFAULT_ALPHA) -> MultivariateDrift:
        """Verdict on a window (rows x ``features``, NaN = missing); ``EmptySampleError`` when
        fewer than ``MIN_ROWS`` rows hold a value."""
        cur = _matrix(rows, len(self.features))
        auc, p, m = domain_auc(self.sample, cur, rng, self.max_rows)
        tiers = tiers or DEFAULT_TIERS[METHOD_DOMAIN_CLASSIFIER]
        bound = max(self.null_bound, 0.5 + _NULL_SDS * null_auc_sd(m - m // 2))
        sev = severity(auc, tiers, p, alpha) if auc > bound else SEVERITY_NONE
        return MultivariateDrift(METHOD_DOMAIN_CLASSIFIER, auc, p, sev, m, bound)

    def to_dict(self) -> dict[str, Any]:
        return {"method": METHOD_DOMAIN_CLASSIFIER, "features": list(self.features),
                "rows": int(self.sample.shape[0]), "max_rows": self.max_rows,
                "sample_f4_base64": _encode(self.sample), "chunk_aucs": list(self.chunk_aucs)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "DomainClassifierReference":
        """Inverse of ``to_dict``; ``InvalidReferenceError`` names the bad field."""
        if d.get("method") != METHOD_DOMAIN_CLASSIFIER:
            raise InvalidReferenceError("method", f"expected {METHOD_DOMAIN_CLASSIFIER!r}, got {d.get('method')!r}")
        feats = d.get("features")
        if not isinstance(feats, list) or len(feats) < 2 or not all(isinstance(f, str) for f in feats):
            raise InvalidReferenceError("features", "expected a list of at least 2 feature names")
        text = d.get("sample_f4_base64")
        if not isinstance(text, str):
            raise InvalidReferenceError("sample_f4_base64", "expected a base64 string")
        try:
            sample = _decode(text, len(feats))
        except ValueError as exc:  # binascii.Error is a ValueError
            raise InvalidReferenceError("sample_f4_base64", str(exc)) from None
        aucs = d.get("chunk_aucs", [])
        if not isinstance(aucs, list) or not all(isinstance(a, (int, float)) and 0 <= a <= 1 for a in aucs):
            raise InvalidReferenceError("chunk_aucs", "expected a list of numbers in [0, 1]")
        max_rows = d.get("max_rows", 2000)
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < MIN_ROWS:
            raise InvalidReferenceError("max_rows", f"expected an integer >= {MIN_ROWS}, got {max_rows!r}")
        return cls(tuple(feats), sample, tuple(float(a) for a in aucs), max_rows)


def fit_domain_reference(rows: Any, features: Sequence[str], rng: np.random.Generator, *,
                         max_rows: int = 2000, chunks: int = 5) -> DomainClassifierReference:
    """Reference of the domain classifier from reference rows (in their order; NaN = missing).

    Calibration: each of ``chunks`` contiguous chunks against a sample of the other rows (left
    out when a chunk would hold fewer than ``MIN_ROWS`` rows). The stored sample is a uniform one
    of at most ``max_rows`` rows.
    """
    x = _matrix(rows, len(features))
    if len(features) < 2:
        raise ValueError(f"features: a multivariate reference needs at least 2, got {len(features)}")
    if x.shape[0] < 2 * MIN_ROWS:
        raise EmptySampleError(f"multivariate reference: {x.shape[0]} usable rows, needs {2 * MIN_ROWS}")
    aucs = []
    if chunks >= 2 and x.shape[0] // chunks >= MIN_ROWS:
        bounds = np.linspace(0, x.shape[0], chunks + 1).astype(int)
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            rest = np.vstack((x[:lo], x[hi:]))
            aucs.append(domain_auc(rest, x[lo:hi], rng, max_rows)[0])
    return DomainClassifierReference(tuple(features), _sample(x, max_rows, rng).astype(np.float32).astype(np.float64),
                                     tuple(aucs), max_rows)


# --- PCA reconstruction error (kept for comparison; see the module docstring) ------------------


@dataclass(frozen=True, eq=False)
class PcaReference:
    """NannyML's data-reconstruction drift: standardise, PCA keeping ``variance`` of it, mean
    squared reconstruction error per window, compared with the error on held-out reference rows."""

    means: np.ndarray
    scales: np.ndarray
    components: np.ndarray  # k x d, orthonormal rows
    error_mean: float
    error_std: float
    error_rows: int

    method = METHOD_PCA_RECONSTRUCTION

    def errors(self, rows: Any) -> np.ndarray:
        """Squared reconstruction error per row; a missing value is imputed with the reference mean."""
        z = (_matrix(rows, self.means.size) - self.means) / self.scales
        z = np.nan_to_num(z, nan=0.0)
        recon = (z @ self.components.T) @ self.components
        return ((z - recon) ** 2).sum(axis=1)

    def score(self, rows: Any, alpha: float = DEFAULT_ALPHA) -> tuple[float, int]:
        """(mean error, severity): two-sided Welch z-test of the window's mean error against the
        held-out reference's; tiers on the relative change |mean / reference mean - 1|
        (0.1 / 0.2 / 0.3), as NannyML thresholds a change of the mean error."""
        e = self.errors(rows)
        if e.size < MIN_ROWS:
            raise EmptySampleError(f"pca reconstruction: {e.size} usable rows, needs {MIN_ROWS}")
        mean = float(e.mean())
        se = math.sqrt(self.error_std ** 2 / self.error_rows + e.var(ddof=1) / e.size)
        z = (mean - self.error_mean) / se if se > 0 else 0.0
        p = math.erfc(abs(z) / math.sqrt(2.0))
        change = abs(mean / self.error_mean - 1.0) if self.error_mean > 0 else 0.0
        return mean, severity(change, Tiers(0.1, 0.2, 0.3), p, alpha)


def fit_pca_reference(rows: Any, rng: np.random.Generator, variance: float = 0.65) -> PcaReference:
    """Fit on a random half of the reference rows, calibrate the error on the other half."""
    x = _matrix(rows)
    if x.shape[0] < 2 * MIN_ROWS:
        raise EmptySampleError(f"pca reference: {x.shape[0]} usable rows, needs {2 * MIN_ROWS}")
    means = np.nanmean(x, axis=0)
    scales = np.nanstd(x, axis=0)
    scales = np.where(scales > 0, scales, 1.0)
    order = rng.permutation(x.shape[0])
    fit, held = x[order[: x.shape[0] // 2]], x[order[x.shape[0] // 2:]]
    z = np.nan_to_num((fit - means) / scales, nan=0.0)
    pca = PCA(n_components=variance, svd_solver="full").fit(z)
    ref = PcaReference(means, scales, pca.components_, 0.0, 0.0, 1)
    e = ref.errors(held)
    return PcaReference(means, scales, pca.components_, float(e.mean()), float(e.std(ddof=1)), int(e.size))
