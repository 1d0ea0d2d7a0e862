"""Drift reports: compare a current data set with a reference outside the processor.

    from otel_ml.report import drift_report
    report = drift_report("train.csv", "last_week.csv", target="label", prediction="pred")
    report.drifted            # drifted features, worst first
    report.to_html("report.html"); report.to_json("report.json")

or ``otel-ml report train.csv last_week.csv -o report.html``. Statistics, severity tiers and the
multiple-testing correction are the processor's (``otel_ml.stats``); see docs/report.md.
"""

from otel_ml.report.build import drift_report
from otel_ml.report.model import FORMAT, FORMAT_VERSION, ColumnReport, DriftReport

__all__ = ["drift_report", "DriftReport", "ColumnReport", "FORMAT", "FORMAT_VERSION"]
