"""Drift method names, severity tiers and their defaults (numbers only; no I/O)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from otel_ml.stats.errors import InvalidTiersError

__all__ = [
    "METHOD_KS", "METHOD_PSI", "METHOD_WASSERSTEIN", "METHOD_JENSEN_SHANNON", "METHOD_CHI2",
    "METHOD_DOMAIN_CLASSIFIER",
    "NUMERIC_METHODS", "CATEGORICAL_METHODS", "METHODS_WITH_P_VALUE",
    "SEVERITY_NONE", "SEVERITY_INFO", "SEVERITY_WARNING", "SEVERITY_CRITICAL", "SEVERITY_NAMES",
    "DEFAULT_ALPHA", "Tiers", "DEFAULT_TIERS", "severity", "severities",
]

# Values of the ml.drift.method attribute (semconv.Attr.DRIFT_METHOD).
METHOD_KS = "ks"
METHOD_PSI = "psi"
METHOD_WASSERSTEIN = "wasserstein"
METHOD_JENSEN_SHANNON = "jensenshannon"
METHOD_CHI2 = "chi2"
#: Multivariate (subject "multivariate"): AUC of a classifier told reference rows from window rows.
METHOD_DOMAIN_CLASSIFIER = "domain_classifier"

NUMERIC_METHODS = (METHOD_KS, METHOD_PSI, METHOD_WASSERSTEIN, METHOD_JENSEN_SHANNON)
CATEGORICAL_METHODS = (METHOD_CHI2, METHOD_PSI, METHOD_JENSEN_SHANNON)
#: Methods that come with a p-value; their tiers need a significant adjusted p-value.
METHODS_WITH_P_VALUE = frozenset({METHOD_KS, METHOD_CHI2})

SEVERITY_NONE, SEVERITY_INFO, SEVERITY_WARNING, SEVERITY_CRITICAL = 0, 1, 2, 3
#: Alert-label spelling of each tier (Prometheus `severity` label).
SEVERITY_NAMES = {SEVERITY_NONE: "none", SEVERITY_INFO: "info",
                  SEVERITY_WARNING: "warning", SEVERITY_CRITICAL: "critical"}

DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class Tiers:
    """Score thresholds: a score >= ``info`` is info, >= ``warning`` warning, >= ``critical`` critical."""

    info: float
    warning: float
    critical: float

    def __post_init__(self) -> None:
        for key in ("info", "warning", "critical"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
                    or not math.isfinite(value) or value < 0:
                raise InvalidTiersError(f"tiers.{key}", f"must be a finite number >= 0, got {value!r}")
            object.__setattr__(self, key, float(value))
        if self.warning < self.info:
            raise InvalidTiersError("tiers.warning", f"must be >= info ({self.warning} < {self.info})")
        if self.critical < self.warning:
            raise InvalidTiersError("tiers.critical", f"must be >= warning ({self.critical} < {self.warning})")


# KS and PSI tiers are the seeds' (and the requirements') defaults. The others are chosen
# so that they agree with those on small shifts:
# - wasserstein is scored in units of the reference standard deviation
#   (NumericDrift.wasserstein_normalized). A mean shift of d sd of a normal feature gives
#   W = d and KS D = 2*Phi(d/2) - 1, so KS's 0.10 / 0.15 / 0.25 are crossed at d = 0.25 /
#   0.38 / 0.64, which are the tiers.
# - jensenshannon (base-2 distance on the PSI bins): for small changes JSD ~ chi2-div / 8
#   nats and PSI ~ chi2-div, so distance ~ sqrt(PSI / (8 ln 2)): PSI's 0.10 / 0.20 / 0.25
#   become 0.13 / 0.19 / 0.21.
# - chi2 is scored by Cramer's V of reference vs current (see categorical_drift):
#   V^2 ~ chi2-div / 4 ~ PSI / 4, so V ~ sqrt(PSI) / 2: 0.16 / 0.22 / 0.25.
# - domain_classifier is scored by the classifier's held-out ROC AUC. A mean shift of d sd of
#   one normal feature separates at best with AUC = Phi(d / sqrt(2)); KS's d = 0.25 / 0.38 /
#   0.64 give 0.57 / 0.61 / 0.67.
DEFAULT_TIERS: dict[str, Tiers] = {
    METHOD_KS: Tiers(0.10, 0.15, 0.25),
    METHOD_PSI: Tiers(0.10, 0.20, 0.25),
    METHOD_WASSERSTEIN: Tiers(0.25, 0.38, 0.64),
    METHOD_JENSEN_SHANNON: Tiers(0.13, 0.19, 0.21),
    METHOD_CHI2: Tiers(0.16, 0.22, 0.25),
    METHOD_DOMAIN_CLASSIFIER: Tiers(0.57, 0.61, 0.67),
}


def _check_alpha(alpha: float) -> None:
    if not (0 < alpha <= 1):
        raise ValueError(f"alpha: must be in (0, 1], got {alpha!r}")


def severity(score: float, tiers: Tiers, p_value_adjusted: float | None = None,
             alpha: float = DEFAULT_ALPHA) -> int:
    """Tier of one drift score (SEVERITY_NONE..SEVERITY_CRITICAL).

    Pass ``p_value_adjusted`` for methods that have a p-value (ks, chi2): any tier
    above none then also needs ``p_value_adjusted < alpha``. A NaN score, or a NaN
    p-value, is none.
    """
    _check_alpha(alpha)
    if score is None or math.isnan(score):
        return SEVERITY_NONE
    if p_value_adjusted is not None and not (p_value_adjusted < alpha):
        return SEVERITY_NONE
    if score >= tiers.critical:
        return SEVERITY_CRITICAL
    if score >= tiers.warning:
        return SEVERITY_WARNING
    if score >= tiers.info:
        return SEVERITY_INFO
    return SEVERITY_NONE


def severities(scores: ArrayLike, tiers: Tiers, p_values_adjusted: ArrayLike | None = None,
               alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """``severity`` over an array of scores (and matching adjusted p-values) at once; int8 array."""
    _check_alpha(alpha)
    s = np.asarray(scores, dtype=np.float64)
    thresholds = np.array([tiers.info, tiers.warning, tiers.critical])
    with np.errstate(invalid="ignore"):
        tier = np.searchsorted(thresholds, np.nan_to_num(s, nan=-np.inf), side="right").astype(np.int8)
    if p_values_adjusted is not None:
        p = np.asarray(p_values_adjusted, dtype=np.float64)
        if p.shape != s.shape:
            raise ValueError(f"p_values_adjusted: shape {p.shape} does not match scores {s.shape}")
        tier[~(p < alpha)] = SEVERITY_NONE
    return tier
