"""docs/processor.md stays complete: every flag, environment variable, setting and exported
metric of the processor is documented (checked against the code, not a hand-kept list)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from otel_ml.processor import cli
from otel_ml.processor.config import ENV_VARS, SECTIONS, ProcessorConfig
from otel_ml.processor.export import GAUGE_SPECS
from otel_ml.semconv import ALL_METRICS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "processor.md").read_text()


def test_every_flag_is_documented():
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    sub = parser._subparsers._group_actions[0].choices["processor"]
    flags = [opt for action in sub._actions for opt in action.option_strings if opt.startswith("--")]
    missing = [f for f in flags if f != "--help" and f"`{f}" not in DOC]
    assert not missing


def test_every_env_var_is_documented():
    for var in [*ENV_VARS, "OTEL_ML_CONFIG", "OTEL_ML_PROFILES", "OTEL_ML_LOG_LEVEL"]:
        assert f"`{var}`" in DOC, var


@pytest.mark.parametrize("section", [s for s in SECTIONS if s != "accuracy"])
def test_every_setting_is_documented(section):
    assert f"**`{section}`**" in DOC
    keys = ProcessorConfig().as_dict()[section]
    assert [k for k in keys if not any(f"`{k}{end}" in DOC for end in ("`", ",", "."))] == []


def test_accuracy_subsections_are_documented():
    for sub in ProcessorConfig().as_dict()["accuracy"]:
        assert f"`{sub}`" in DOC, sub


def test_every_processor_metric_is_documented():
    processor_metrics = {s for s in ALL_METRICS if s.name.startswith(("ml.processor.", "ml.labels."))}
    for spec in [*GAUGE_SPECS, *processor_metrics]:
        assert any(f"`{series}`" in DOC or f"`{series} " in DOC for series in (spec.prometheus_name,
                   *spec.prometheus_series)), spec.prometheus_name
