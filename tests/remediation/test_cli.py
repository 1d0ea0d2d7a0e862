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
    (["--policy", "/nonexistent/policy.yml"], "policy file not found: /nonexistent/policy.yml"),
    (["--policy", str(EXAMPLE), "--listen", "9095"], "--listen: must be 'host:port', got '9095'"),
    (["--policy", str(EXAMPLE), "--listen", "127.0.0.1:99999"], "--listen: port must be an integer 0..65535"),
    (["--policy", str(EXAMPLE), "--metrics-endpoint", "::1:9"], "--metrics-endpoint: an IPv6 host must be"),
    (["--policy", str(EXAMPLE), "--bearer-token-file", "/nonexistent/token"], "bearer token file"),
    (["--policy", str(EXAMPLE), "--routing-token-file", "/nonexistent/token"], "routing token file"),
    (["--policy", str(EXAMPLE), "--no-auth", "--listen", "0.0.0.0:0"], "loopback"),
])
def test_user_mistakes_are_one_line_errors(capsys, monkeypatch, argv, fragment):
    monkeypatch.delenv("OTEL_ML_REMEDIATE_TOKEN", raising=False)
    code, err = _run(capsys, *argv)
    assert code == 2
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


def _serve_argv(tmp_path, *extra):
    token = tmp_path / "token"
    token.write_text("admin-token\n")
    return ["--policy", str(EXAMPLE), "--listen", "127.0.0.1:0", "--metrics-endpoint", "none",
            "--bearer-token-file", str(token), *extra]


@pytest.mark.parametrize("flag, where, fragment", [
    ("--state-dir", "a-file/state", "--state-dir: cannot create the folder {}: "),
    ("--state-dir", "a-dir", "--state-dir: cannot open audit log {}/audit.jsonl"),
    ("--audit-log", "/proc/nope/audit.jsonl", "--audit-log: cannot open audit log {}"),
    ("--audit-log", "a-file/audit.jsonl", "--audit-log: cannot open audit log {}"),
])
def test_unusable_state_or_audit_paths_are_one_line_errors(capsys, tmp_path, flag, where, fragment):
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "a-dir" / "audit.jsonl").mkdir()  # cannot be opened as a file
    path = where if where.startswith("/") else str(tmp_path / where)
    extra = [flag, path] if flag == "--state-dir" else [flag, path, "--state-dir", str(tmp_path / "state")]
    code, err = _run(capsys, *_serve_argv(tmp_path, *extra))
    assert code == 2, err
    shown = str(tmp_path / "a-dir") if where == "a-dir" else path
    assert fragment.format(shown) in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_yaml_error_in_the_policy_is_one_line_with_its_place(capsys, tmp_path):
    bad = tmp_path / "p.yml"
    bad.write_text("rules:\n  - name: a\n    matchers: ['x=\"1\"'\n    action: fallback\n")
    code, err = _run(capsys, "--policy", str(bad))
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"otel-ml remediate: error: {bad}: line 4, column 5: invalid YAML: ")


def test_the_routing_token_must_differ_from_the_admin_token(capsys, tmp_path):
    same = tmp_path / "same"
    same.write_text("admin-token\n")
    code, err = _run(capsys, *_serve_argv(tmp_path, "--routing-token-file", str(same)))
    assert code == 2 and "must differ from the bearer token" in err and err.count("\n") == 1


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
    token.write_text("abc\n")
    routing = tmp_path / "r"
    routing.write_text("read-only\n")
    creds = load_credentials(str(token), env={"OTEL_ML_REMEDIATE_ROUTING_TOKEN": "from-env"},
                             routing_token_file=str(routing))
    assert (creds.token, creds.routing_token) == (b"abc", b"read-only")
    assert load_credentials(None, env={"OTEL_ML_REMEDIATE_ROUTING_TOKEN": " r2 "}).routing_token == b"r2"


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
