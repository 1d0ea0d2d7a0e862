"""The shipped Prometheus configuration and rules, checked and unit-tested by the real promtool."""

from __future__ import annotations

import subprocess
from collections import defaultdict

import pytest
import yaml

from tests.stack import shipped
from tests.support.procs import promtool

pytestmark = pytest.mark.real


def run_promtool(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_check_config_validates_prometheus_yml_and_every_rule_file():
    result = run_promtool("check", "config", "--lint-fatal", str(shipped.PROMETHEUS_YML))
    assert result.returncode == 0, result.stdout + result.stderr
    # rule_files is relative to prometheus.yml: the check must have read every shipped rule file.
    for path in shipped.rule_files():
        assert path.name in result.stdout, f"{path.name} not checked:\n{result.stdout}"


def test_check_rules_lint_clean():
    result = run_promtool("check", "rules", "--lint-fatal", *map(str, shipped.rule_files()))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", shipped.rule_test_files(), ids=lambda p: p.name)
def test_rule_unit_tests_pass(test_file):
    result = run_promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_test_rules_fails_on_a_wrong_expectation(tmp_path):
    """The unit tests can fail: a copy expecting a different annotation value is rejected."""
    source = shipped.RULE_TESTS_DIR / "serving-red.test.yml"
    doc = shipped.load_yaml(source)
    doc["rule_files"] = [str((source.parent / f).resolve()) for f in doc["rule_files"]]
    alert = next(t for t in doc["tests"][0]["alert_rule_test"] if t["exp_alerts"])
    alert["exp_alerts"][0]["exp_annotations"]["summary"] = "iris 2: 7% of inference calls fail"
    broken = tmp_path / "broken.test.yml"
    broken.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = run_promtool("test", "rules", str(broken))
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def _longest_for(alertname: str) -> float:
    return max(shipped.duration_s(r.get("for", "0s")) for r in shipped.alerting_rules()
               if r["alert"] == alertname)


def test_every_alerting_rule_has_a_firing_and_a_quiet_unit_test():
    """Each (alert, severity) is expected to fire somewhere, and each alert is expected silent
    at a time past its longest ``for:`` (so quietness is not just a pending alert)."""
    fired: set[tuple[str, str]] = set()
    quiet: dict[str, float] = defaultdict(float)
    for path in shipped.rule_test_files():
        for case in shipped.load_yaml(path)["tests"]:
            for check in case.get("alert_rule_test", []):
                name = check["alertname"]
                expected = check.get("exp_alerts") or []
                for alert in expected:
                    fired.add((name, alert["exp_labels"]["severity"]))
                if not expected:
                    quiet[name] = max(quiet[name], shipped.duration_s(check["eval_time"]))
    rules = {(r["alert"], r["labels"]["severity"]) for r in shipped.alerting_rules()}
    assert rules - fired == set(), "alerting rules without a firing test"
    for name in {n for n, _ in rules}:
        assert name in quiet, f"{name} has no quiet test"
        assert quiet[name] >= _longest_for(name), (
            f"{name}: quiet case at {quiet[name]}s is not past its longest for: ({_longest_for(name)}s)")


def test_slo_target_override_for_one_model(tmp_path):
    """The documented per-model override (docs/stack.md#slo-targets) works and leaves the
    default for the other models."""
    doc = shipped.load_yaml(shipped.RULES_DIR / "slo-targets.yml")
    rule = next(r for r in doc["groups"][0]["rules"] if r["record"] == "slo:availability_objective:ratio")
    rule["expr"] = ('label_replace(vector(0.999), "ml_model_name", "fraud", "", "")\n'
                    "or on (ml_model_name)\n" + rule["expr"])
    rules = tmp_path / "slo-targets.yml"
    rules.write_text(yaml.safe_dump(doc, sort_keys=False))
    series = 'ml_inference_requests_total{{ml_model_name="{}",ml_status="ok"}}'
    test = {
        "rule_files": [str(rules), str(shipped.RULES_DIR / "slo.yml")],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            # 0.2 % errors: within iris's 0.5 % budget, 2x fraud's 0.1 % budget (ticket at 1x).
            "input_series": [
                {"series": series.format("iris"), "values": "0+998x60"},
                {"series": series.format("iris").replace('"ok"', '"error"'), "values": "0+2x60"},
                {"series": series.format("fraud"), "values": "0+998x60"},
                {"series": series.format("fraud").replace('"ok"', '"error"'), "values": "0+2x60"},
            ],
            "promql_expr_test": [{
                "expr": "slo:availability_objective:ratio", "eval_time": "5m",
                "exp_samples": [
                    {"labels": 'slo:availability_objective:ratio{ml_model_name="fraud"}', "value": 0.999},
                    {"labels": 'slo:availability_objective:ratio{ml_model_name="iris"}', "value": 0.995},
                ],
            }],
            "alert_rule_test": [{
                "alertname": "MLAvailabilityBurnRate", "eval_time": "30m",
                "exp_alerts": [{
                    "exp_labels": {"severity": "warning", "slo": "availability", "ml_model_name": "fraud"},
                    "exp_annotations": {
                        "summary": "fraud is burning its availability error budget too fast",
                        "description": "The failed share of inference calls of fraud is 0.2% over the long "
                                       "window, a burn rate that spends the error budget early (windows "
                                       "1d/2h at 3x and 3d/6h at 1x).",
                        "runbook_url": "https://github.com/otel-ml/otel-ml/blob/main/docs/runbooks.md#mlavailabilityburnrate",
                    },
                }],
            }],
        }],
    }
    test_file = tmp_path / "override.test.yml"
    test_file.write_text(yaml.safe_dump(test, sort_keys=False))
    result = run_promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_scaled_rule_copies_are_valid_and_leave_the_shipped_files_untouched(tmp_path):
    """The end-to-end test's time-compressed copies: valid rules, every duration divided."""
    before = {p: p.read_bytes() for p in shipped.rule_files()}
    copies = shipped.scaled_rule_files(tmp_path, 1 / 60)
    assert {p: p.read_bytes() for p in shipped.rule_files()} == before
    result = run_promtool("check", "rules", *map(str, copies))
    assert result.returncode == 0, result.stdout + result.stderr
    scaled = {r.get("alert", r.get("record")) + r.get("labels", {}).get("severity", ""): r
              for p in copies for g in shipped.load_yaml(p)["groups"] for r in g["rules"]}
    assert scaled["MLInferenceErrorRatecritical"]["for"] == "5s"
    assert scaled["MLAccuracyBelowThresholdwarning"]["for"] == "30s"
    assert "[5s]" in scaled["ml_model:inference_error:ratio_rate5m"]["expr"]
    assert "[72m]" not in scaled["slo:sli_error:ratio_rate3d"]["expr"]
    assert "[4320s]" in scaled["slo:sli_error:ratio_rate3d"]["expr"]
    assert "offset 1440s" in scaled["MLBusinessOutcomeDropwarning"]["expr"]
    assert "predict_linear(ml_model:inference_duration_seconds:p95_rate5m[60s], 240)" in \
        scaled["MLInferenceLatencyTrendingToSLOinfo"]["expr"]
