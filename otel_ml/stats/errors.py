"""Errors the statistics raise: no usable data, a reference or tiers that do not hold together.

All are ``ValueError``s under ``StatsError``; the layer knows nothing of configuration files or
the CLI, so callers that load user input (profiles, processor config) re-raise these as a
``ConfigError`` / ``UserError`` naming the full key.
"""

from __future__ import annotations

from otel_ml.errors import OtelMlError

__all__ = ["StatsError", "EmptySampleError", "InvalidReferenceError", "InvalidTiersError"]


class StatsError(OtelMlError, ValueError):
    """Base of the errors ``otel_ml.stats`` raises on purpose."""


class EmptySampleError(StatsError):
    """A sample has no usable value (empty, or nothing left after dropping NaN/inf/None).

    A drift test on zero observations has no answer; callers report the window's
    missing/NaN counts as data quality instead.
    """


class InvalidReferenceError(StatsError):
    """A reference profile's fields are inconsistent (unsorted sample, fractions not summing to 1, ...).

    The message names the offending field, e.g. ``bin_fractions: must sum to 1 (got 0.9)``.
    """

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class InvalidTiersError(StatsError):
    """Severity tiers that are not finite, non-negative and ordered; the message names the tier,
    e.g. ``tiers.warning: must be >= info (0.1 < 0.2)``."""

    def __init__(self, key: str, problem: str):
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")
