"""Pure drift and data-quality statistics (numpy / scipy; no OTel, no I/O).

Usage::

    ref = NumericReference.from_values(training_column, bins=10, max_sample=50_000)
    result = numeric_drift(ref, window_values)        # KS (+p), PSI, Wasserstein, JS
    p_adj = adjust([r.ks_p_value for r in results], "bh")
    tier = severity(result.ks_statistic, DEFAULT_TIERS[METHOD_KS], p_adj[0])

Every statistic agrees with SciPy's reference implementation on the same data
(see tests/stats); the KS p-value is scipy's asymptotic one.
"""

from otel_ml.stats.categorical import (
    UNSEEN_EXPECTED_SHARE, CategoricalDrift, categorical_drift, categorical_drift_counts, contingency_chi2,
    cramers_v,
)
from otel_ml.stats.divergence import PSI_EPS, bin_fractions, jensen_shannon, psi
from otel_ml.stats.multitest import (
    ADJUST_BH, ADJUST_BONFERRONI, ADJUST_METHODS, ADJUST_NONE, adjust, benjamini_hochberg, bonferroni,
)
from otel_ml.stats.numeric import (
    NumericDrift, clear_caches, ks_2samp_sorted, ks_p_value, numeric_drift, numeric_drift_many,
    wasserstein_sorted,
)
from otel_ml.stats.outliers import iqr_bounds, outside_range
from otel_ml.stats.verdict import DRIFTED_SEVERITY, ColumnVerdict, MethodVerdict, column_verdicts
from otel_ml.stats.references import DEFAULT_BINS, CategoricalReference, NumericReference
from otel_ml.stats.errors import EmptySampleError, InvalidReferenceError, InvalidTiersError, StatsError
from otel_ml.stats.severity import (
    CATEGORICAL_METHODS, DEFAULT_ALPHA, DEFAULT_TIERS, METHOD_CHI2, METHOD_JENSEN_SHANNON, METHOD_KS,
    METHOD_PSI, METHOD_WASSERSTEIN, METHODS_WITH_P_VALUE, NUMERIC_METHODS, SEVERITY_CRITICAL, SEVERITY_INFO,
    SEVERITY_NAMES, SEVERITY_NONE, SEVERITY_WARNING, Tiers, severities, severity,
)

__all__ = [
    # references
    "NumericReference", "CategoricalReference", "DEFAULT_BINS",
    # errors (ValueError subclasses under StatsError)
    "StatsError", "EmptySampleError", "InvalidReferenceError", "InvalidTiersError",
    # numeric drift
    "NumericDrift", "numeric_drift", "numeric_drift_many",
    "ks_2samp_sorted", "ks_p_value", "wasserstein_sorted", "clear_caches",
    # categorical drift
    "CategoricalDrift", "categorical_drift", "categorical_drift_counts", "contingency_chi2", "cramers_v",
    "UNSEEN_EXPECTED_SHARE",
    # binned divergences
    "psi", "jensen_shannon", "bin_fractions", "PSI_EPS",
    # multiple testing
    "benjamini_hochberg", "bonferroni", "adjust",
    "ADJUST_BH", "ADJUST_BONFERRONI", "ADJUST_NONE", "ADJUST_METHODS",
    # severity
    "METHOD_KS", "METHOD_PSI", "METHOD_WASSERSTEIN", "METHOD_JENSEN_SHANNON", "METHOD_CHI2",
    "NUMERIC_METHODS", "CATEGORICAL_METHODS", "METHODS_WITH_P_VALUE",
    "SEVERITY_NONE", "SEVERITY_INFO", "SEVERITY_WARNING", "SEVERITY_CRITICAL", "SEVERITY_NAMES",
    "DEFAULT_ALPHA", "Tiers", "DEFAULT_TIERS", "severity", "severities",
    # verdicts (the processor's and the report's)
    "column_verdicts", "ColumnVerdict", "MethodVerdict", "DRIFTED_SEVERITY",
    # outliers
    "iqr_bounds", "outside_range",
]
