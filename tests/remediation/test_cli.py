"""`otel-ml remediate`: one-line errors for user mistakes, --check, the metrics endpoint."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from otel_ml import semconv
from otel_ml.cli import main
from otel_ml.errors import UserError
from otel_ml.remediation.auth import load_credentials
from otel_ml.remediation.telemetry import RemediationMetrics, start_metrics_endpoint

from .test_policy import EXAMPLE


def _run(capsys, *argv):
    code = main(["remediate", *argv])
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("argv, fragment", [
    (["--policy", "/nonexistent/policy.yml"], "policy file /nonexistent/policy.yml not found"),
    (["--policy", str(EXAMPLE), "--listen", "9095"], "--listen '9095': expected HOST:PORT"),
    (["--policy", str(EXAMPLE), "--listen", "127.0.0.1:99999"], "port must be a number"),
    (["--policy", str(EXAMPLE), "--bearer-token-file", "/nonexistent/token"], "bearer token file"),
    (["--policy", str(EXAMPLE), "--no-auth", "--listen", "0.0.0.0:0"], "loopback"),
])
def test_user_mistakes_are_one_line_errors(capsys, monkeypatch, argv, fragment):
    monkeypatch.delenv("OTEL_ML_REMEDIATE_TOKEN", raising=False)
    code, err = _run(capsys, *argv)
    assert code == 2
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


def test_invalid_policy_names_the_file_and_key(capsys, tmp_path):
    bad = tmp_path / "p.yml"
    bad.write_text("rules:\n  - {name: a, action: reboot}\n")
    code, err = _run(capsys, "--policy", str(bad))
    assert code == 2 and f"policy {bad}: rules[0].action: must be one of" in err


def test_missing_credentials_refuse_to_start(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("OTEL_ML_REMEDIATE_TOKEN", raising=False)
    code, err = _run(capsys, "--policy", str(EXAMPLE), "--listen", "127.0.0.1:0", "--metrics-endpoint", "none",
                     "--state-dir", str(tmp_path))
    assert code == 2 and "no credentials" in err


def test_check_prints_the_rules(capsys):
    assert main(["remediate", "--policy", str(EXAMPLE), "--check"]) == 0
    out = capsys.readouterr().out
    assert "error-rate-fallback: MLInferenceErrorRate" in out and "OK, 5 rules" in out


def test_credentials_sources(tmp_path):
    token = tmp_path / "t"
    token.write_text("  abc \n")
    assert load_credentials(str(token), env={}).token == b"abc"
    assert load_credentials(None, env={"OTEL_ML_REMEDIATE_TOKEN": "xyz"}).token == b"xyz"
    basic = tmp_path / "b"
    basic.write_text("am:pa:ss\n")
    assert load_credentials(basic_auth_file=str(basic), env={}).basic == (b"am", b"pa:ss")
    basic.write_text("no-colon\n")
    with pytest.raises(UserError, match="user:password"):
        load_credentials(basic_auth_file=str(basic), env={})
    token.write_text("\n")
    with pytest.raises(UserError, match="empty"):
        load_credentials(str(token), env={})


def test_metrics_endpoint_serves_semconv_names_and_refuses_a_busy_port():
    endpoint = start_metrics_endpoint("127.0.0.1", 0)
    try:
        m = RemediationMetrics(endpoint.meter)
        m.notification("firing")
        m.action("iris", "fallback", "executed", "alert_firing")
        with urllib.request.urlopen(f"http://127.0.0.1:{endpoint.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        samples = {s.name: s for fam in text_string_to_metric_families(text) for s in fam.samples}
        action = samples[semconv.Metric.REMEDIATION_ACTIONS.prometheus_name]
        assert action.value == 1 and action.labels["ml_remediation_outcome"] == "executed"
        assert samples[semconv.Metric.REMEDIATION_NOTIFICATIONS.prometheus_name].labels["ml_status"] == "firing"
        with pytest.raises(UserError, match="cannot serve metrics"):
            start_metrics_endpoint("127.0.0.1", endpoint.port)
    finally:
        endpoint.close()
