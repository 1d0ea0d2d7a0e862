"""Accuracy with delayed labels (P6), estimation without labels (P7) and outcome joins (I9).

``AccuracyTracker`` is the processor Component (name ``accuracy``); ``AccuracySettings`` its
validated ``accuracy`` configuration section; ``performance_section`` builds the reference
profile's ``performance`` section (baseline metrics and calibration) from labelled data.
"""

from otel_ml.processor.accuracy.reference import (
    ReferenceFormatError, ReferencePerformance, performance_section,
)
from otel_ml.processor.accuracy.settings import AccuracySettings
from otel_ml.processor.accuracy.tracker import AccuracyTracker

__all__ = [
    "AccuracyTracker",
    "AccuracySettings",
    "performance_section",
    "ReferencePerformance",
    "ReferenceFormatError",
]
