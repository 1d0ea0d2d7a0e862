#!/usr/bin/env python3
"""Generate docs/metrics.md, the metric and attribute reference, from otel_ml/semconv.py.

    .venv/bin/python scripts/gen_metric_reference.py          # rewrite docs/metrics.md
    .venv/bin/python scripts/gen_metric_reference.py --check  # exit 1 when it is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from otel_ml import semconv  # noqa: E402

TARGET = ROOT / "docs" / "metrics.md"

_GROUPS = (
    ("Instrumentation (inside the serving app)", ("ml.inference", "ml.prediction.confidence",
     "ml.prediction.class", "ml.prediction.low_confidence", "ml.predictions", "ml.instrumentation",
     "ml.outcome.value", "ml.model.info", "ml.model.age", "ml.serving", "hw.", "ml.routing")),
    ("Processor: drift and data quality", ("ml.drift", "ml.prediction.low_confidence.ratio",
                                           "ml.data_quality")),
    ("Processor: accuracy, labels and outcomes", ("ml.model.performance", "ml.model.confusion",
                                                  "ml.labels", "ml.outcome.mean")),
    ("Processor: self-metrics", ("ml.processor",)),
    ("Remediation service", ("ml.remediation",)),
)


def _group_of(spec: semconv.MetricSpec) -> str:
    best, best_len = _GROUPS[-1][0], -1
    for title, prefixes in _GROUPS:
        for prefix in prefixes:
            if spec.name.startswith(prefix) and len(prefix) > best_len:
                best, best_len = title, len(prefix)
    return best


def render() -> str:
    lines = [
        "# Metric and attribute reference",
        "",
        "Generated from `otel_ml/semconv.py` by `scripts/gen_metric_reference.py`; do not edit by hand",
        "(a test fails when this file and the code disagree).",
        "",
        "OTel names are dotted with the unit in metadata; the Prometheus column is the name the OTel",
        "Prometheus exporter gives the series (histograms add `_bucket`, `_sum`, `_count`). Attribute",
        "dots become underscores in Prometheus labels.",
        "",
    ]
    for title, _ in _GROUPS:
        specs = [s for s in semconv.ALL_METRICS if _group_of(s) == title]
        if not specs:
            continue
        lines += [f"## {title}", "", "| OTel instrument | kind | unit | Prometheus | attributes | description |",
                  "|---|---|---|---|---|---|"]
        for s in specs:
            attrs = ", ".join(f"`{a}`" for a in s.attributes) or "—"
            unit = f"`{s.unit}`" if s.unit else "—"
            lines.append(f"| `{s.name}` | {s.kind.value} | {unit} | `{s.prometheus_name}` | {attrs} | "
                         f"{s.description} |")
        lines.append("")
    lines += ["## Attributes", "", "| constant | key |", "|---|---|"]
    for name, value in vars(semconv.Attr).items():
        if name.isupper():
            lines.append(f"| `Attr.{name}` | `{value}` |")
    lines += ["", "## Events (OTLP log records, `LogRecord.event_name`)", "", "| constant | event name |",
              "|---|---|"]
    for name, value in vars(semconv.EventName).items():
        if name.isupper():
            lines.append(f"| `EventName.{name}` | `{value}` |")
    lines += ["", "Event body keys (an AnyValue map): " +
              ", ".join(f"`{v}`" for k, v in vars(semconv.Body).items() if k.isupper()) + ".", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when docs/metrics.md is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print("docs/metrics.md is out of date: run scripts/gen_metric_reference.py", file=sys.stderr)
            return 1
        return 0
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
