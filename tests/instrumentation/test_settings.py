"""OTEL_ML_* settings: documented defaults, parsing, and errors that name the variable."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from otel_ml.errors import ConfigError
from otel_ml.instrumentation.settings import ENV_VARS, Settings
from otel_ml.sdk_setup import PROMETHEUS_ENV_VARS, PrometheusSettings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "instrumentation.md"


def test_every_field_has_exactly_one_variable():
    assert set(ENV_VARS) == {f.name for f in fields(Settings)}
    names = [var for var, _ in ENV_VARS.values()]
    assert len(names) == len(set(names)) and all(n.startswith("OTEL_ML_") for n in names)


def test_environment_values_are_parsed():
    env = {"OTEL_ML_MODEL_NAME": "fraud", "OTEL_ML_MODEL_VERSION": "7", "OTEL_ML_SPAN_KIND": "SERVER",
           "OTEL_ML_LOW_CONFIDENCE_THRESHOLD": "0.55", "OTEL_ML_CLASS_CARDINALITY_LIMIT": "12",
           "OTEL_ML_EVENTS_ENABLED": "no", "OTEL_ML_CAPTURE_FEATURES": "true",
           "OTEL_ML_CAPTURE_SAMPLE_RATE": "0.25",
           "OTEL_ML_GPU_METRICS": "0", "OTEL_ML_PROCESS_METRICS": "off"}
    s = Settings.from_env(env)
    assert s == Settings(model_name="fraud", model_version="7", span_kind="server", low_confidence_threshold=0.55,
                         class_cardinality_limit=12, events_enabled=False, capture_features=True,
                         capture_sample_rate=0.25, gpu_metrics=False,
                         process_metrics=False)


def test_unset_and_empty_variables_keep_the_defaults():
    assert Settings.from_env({"OTEL_ML_MODEL_NAME": "  "}) == Settings()


@pytest.mark.parametrize("var,value,problem", [
    ("OTEL_ML_CAPTURE_SAMPLE_RATE", "1.5", "between 0 and 1"),
    ("OTEL_ML_CAPTURE_SAMPLE_RATE", "half", "must be a number"),
    ("OTEL_ML_LOW_CONFIDENCE_THRESHOLD", "nan", "between 0 and 1"),
    ("OTEL_ML_CLASS_CARDINALITY_LIMIT", "0", "positive integer"),
    ("OTEL_ML_CLASS_CARDINALITY_LIMIT", "3.5", "must be an integer"),
    ("OTEL_ML_EVENTS_ENABLED", "maybe", "true or false"),
    ("OTEL_ML_SPAN_KIND", "client", "internal, server"),
])
def test_bad_environment_values_name_the_variable(var, value, problem):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({var: value})
    assert err.value.key == var
    assert problem in str(err.value)


def test_construction_errors_name_the_field():
    with pytest.raises(ConfigError) as err:
        Settings(capture_sample_rate=-0.1)
    assert err.value.key == "capture_sample_rate"
    with pytest.raises(ConfigError) as err:
        Settings(model_version="")
    assert err.value.key == "model_version"


def test_docs_list_every_variable_with_its_default():
    text = DOCS.read_text()
    defaults = Settings()
    for field_name, (var, _) in ENV_VARS.items():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{var}`")), None)
        assert row is not None, f"{var} missing from the settings table in {DOCS.name}"
        default = getattr(defaults, field_name)
        shown = "unset" if default is None else str(default).lower() if isinstance(default, bool) else str(default)
        cells = [c.strip() for c in row.split("|")]
        assert re.sub(r"[`*]", "", cells[2]) == shown, f"{var}: documented default {cells[2]!r}, code {shown!r}"


# -- configure()'s exporter settings: the SDK side's (sdk_setup.PrometheusSettings), same variables --

def test_prometheus_variables_are_parsed_on_the_sdk_side():
    env = {"OTEL_ML_PROMETHEUS_PORT": "9465", "OTEL_ML_PROMETHEUS_HOST": "127.0.0.1"}
    assert PrometheusSettings.from_env(env) == PrometheusSettings(prometheus_port=9465, prometheus_host="127.0.0.1")
    assert PrometheusSettings.from_env({}) == PrometheusSettings()
    assert not {"prometheus_port", "prometheus_host"} & {f.name for f in fields(Settings)}


@pytest.mark.parametrize("var,value,problem", [
    ("OTEL_ML_PROMETHEUS_PORT", "70000", "between 0 and 65535"),
    ("OTEL_ML_PROMETHEUS_PORT", "http", "must be an integer"),
])
def test_bad_prometheus_variables_name_the_variable(var, value, problem):
    with pytest.raises(ConfigError) as err:
        PrometheusSettings.from_env({var: value})
    assert err.value.key == var
    assert problem in str(err.value)


def test_docs_list_the_prometheus_variables_with_their_defaults():
    text = DOCS.read_text()
    defaults = PrometheusSettings()
    for field_name, (var, _) in PROMETHEUS_ENV_VARS.items():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{var}`")), None)
        assert row is not None, f"{var} missing from the settings table in {DOCS.name}"
        default = getattr(defaults, field_name)
        shown = "unset" if default is None else str(default)
        assert [c.strip() for c in row.split("|")][2] == shown
