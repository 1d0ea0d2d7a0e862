"""Former home of the statistics' errors, kept so that modules written against it still import:
use ``otel_ml.stats.errors``. Delete once nothing imports it."""

from otel_ml.stats.errors import EmptySampleError, InvalidReferenceError

__all__ = ["EmptySampleError", "InvalidReferenceError"]
