"""The helpers remediation shares with the processor: YAML files, host:port, durations, label names."""

from __future__ import annotations

import pytest

from otel_ml import config_checks, semconv
from otel_ml.config_checks import parse_duration, parse_endpoint
from otel_ml.errors import ConfigError, UserError
from otel_ml.processor.config import load_config
from otel_ml.processor.receiver import settings as receiver_settings
from otel_ml.remediation.policy import load_policy
from otel_ml.yaml_file import load_yaml_mapping

BAD_YAML = "rules:\n  - name: a\n    matchers: ['x'\n    action: fallback\n"


def test_the_processor_and_the_policy_report_bad_yaml_alike(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_YAML)
    with pytest.raises(UserError) as processor:
        load_config(bad, env={})
    with pytest.raises(UserError) as policy:
        load_policy(bad)
    assert str(processor.value) == str(policy.value) == (
        f"{bad}: line 4, column 5: invalid YAML: expected ',' or ']', but got '<scalar>'")


def test_load_yaml_mapping(tmp_path):
    empty = tmp_path / "empty.yml"
    empty.write_text("# only a comment\n")
    assert load_yaml_mapping(empty, "policy file") == {}
    (tmp_path / "ok.yml").write_text("a: {b: 1}\n")
    assert load_yaml_mapping(tmp_path / "ok.yml", "policy file") == {"a": {"b": 1}}
    with pytest.raises(UserError, match=f"^policy file not found: {tmp_path / 'nope.yml'}$"):
        load_yaml_mapping(tmp_path / "nope.yml", "policy file")
    with pytest.raises(UserError, match="^cannot read config file .*: Is a directory$"):
        load_yaml_mapping(tmp_path, "config file")
    (tmp_path / "latin1.yml").write_bytes(b"a: \xe9\n")
    with pytest.raises(UserError, match="not UTF-8"):
        load_yaml_mapping(tmp_path / "latin1.yml", "config file")
    (tmp_path / "scalar.yml").write_text("just text\n")
    with pytest.raises(UserError, match="must be a YAML mapping, got str$"):
        load_yaml_mapping(tmp_path / "scalar.yml", "config file")


def test_one_host_port_parser():
    assert receiver_settings.parse_endpoint is config_checks.parse_endpoint
    assert parse_endpoint("127.0.0.1:9095", "--listen") == ("127.0.0.1", 9095)
    assert parse_endpoint("[::1]:0", "--listen") == ("::1", 0)
    for text, fragment in [("9095", "must be 'host:port'"), ("::1:80", "brackets"), (":80", "host is missing"),
                           ("h:65536", "port must be"), ("h:²", "port must be"), ("h:-1", "port must be")]:
        with pytest.raises(ConfigError) as info:
            parse_endpoint(text, "--listen")
        assert info.value.key == "--listen" and fragment in info.value.problem


@pytest.mark.parametrize("text, seconds", [("5m", 300), ("1h30m", 5400), ("500ms", 0.5), ("2d", 172800),
                                           ("1w", 604800), ("1y", 365 * 86400), (" 90s ", 90)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds
    assert parse_duration(text, "k", numbers=True) == seconds


@pytest.mark.parametrize("bad", ["", "5", "m5", "5 m", "1h 2m", "5mm", "1.5h", "-5s", None, 5, True])
def test_bad_durations(bad):
    with pytest.raises(ConfigError) as info:
        parse_duration(bad, "rule.for")
    assert info.value.key == "rule.for" and "must be a duration such as 30s" in info.value.problem


def test_numbers_are_seconds_only_when_asked():
    assert parse_duration(42, "k", numbers=True) == 42.0 and parse_duration(0.5, "k", numbers=True) == 0.5
    for bad in (-1, float("inf"), float("nan"), True, "42"):
        with pytest.raises(ConfigError):
            parse_duration(bad, "k", numbers=True)


def test_prometheus_label_names():
    assert semconv.prometheus_label(semconv.Attr.MODEL_NAME) == "ml_model_name"
    assert semconv.prometheus_label(semconv.Attr.MODEL_VERSION) == "ml_model_version"
    assert semconv.prometheus_label("a-b.c/d") == "a_b_c_d"
