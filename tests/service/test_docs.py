"""docs/processor.md and docs/settings.md stay complete: every flag, environment variable,
setting and exported metric of the processor is documented (checked against the code, not a
hand-kept list); docs/settings.md is the generator's output, byte for byte."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from otel_ml.processor import cli
from otel_ml.processor.config import ENV_VARS, SECTIONS, ProcessorConfig
from otel_ml.processor.export import GAUGE_SPECS
from otel_ml.semconv import ALL_METRICS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "processor.md").read_text()
SETTINGS_DOC = (ROOT / "docs" / "settings.md").read_text()


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


def test_settings_reference_is_generated_from_the_classes():
    result = subprocess.run([sys.executable, "scripts/gen_settings_reference.py", "--check"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _keys(value, path=""):
    """Dotted keys of plain settings data (mappings of settings are one key)."""
    if isinstance(value, dict) and value and path.count(".") < 2 and path not in ("drift.tiers",):
        for k, v in value.items():
            yield from _keys(v, f"{path}.{k}" if path else k)
    else:
        yield path


@pytest.mark.parametrize("section", list(SECTIONS))
def test_every_setting_is_in_the_reference_and_its_section_explained(section):
    assert f"**`{section}`**" in DOC
    keys = list(_keys(ProcessorConfig().as_dict()[section], section))
    assert keys and [k for k in keys if f"| `{k}` |" not in SETTINGS_DOC] == []


def test_every_env_var_and_flag_appears_beside_its_key():
    for var, (key, _parse) in ENV_VARS.items():
        row = next(line for line in SETTINGS_DOC.splitlines() if line.startswith(f"| `{key}` |"))
        assert f"`{var}`" in row, var
    for flag, (key, _metavar, _help) in cli.SETTING_FLAGS.items():
        row = next(line for line in SETTINGS_DOC.splitlines() if line.startswith(f"| `{key}` |"))
        assert f"`{flag}`" in row, flag


def test_every_processor_metric_is_documented():
    processor_metrics = {s for s in ALL_METRICS if s.name.startswith(("ml.processor.", "ml.labels."))}
    for spec in [*GAUGE_SPECS, *processor_metrics]:
        assert any(f"`{series}`" in DOC or f"`{series} " in DOC for series in (spec.prometheus_name,
                   *spec.prometheus_series)), spec.prometheus_name
