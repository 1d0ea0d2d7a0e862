"""Errors the drift statistics raise: no usable data, or a reference that does not hold together."""

from __future__ import annotations

from otel_ml.errors import OtelMlError, UserError

__all__ = ["EmptySampleError", "InvalidReferenceError"]


class EmptySampleError(OtelMlError, ValueError):
    """A sample has no usable value (empty, or nothing left after dropping NaN/inf/None).

    A drift test on zero observations has no answer; callers report the window's
    missing/NaN counts as data quality instead.
    """


class InvalidReferenceError(UserError, ValueError):
    """A reference profile's fields are inconsistent (unsorted sample, fractions not summing to 1, ...).

    The message names the offending field, e.g. ``bin_fractions: must sum to 1 (got 0.9)``.
    """

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")
