"""The shipped Prometheus configuration and rules, checked and unit-tested by the real promtool."""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict

import pytest
import yaml

from tests.stack import shipped
from tests.support.procs import promtool

pytestmark = pytest.mark.real


def run_promtool(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_check_config_validates_prometheus_yml_and_every_rule_file(tmp_path):
    # promtool checks that credentials files exist: the compose secrets get stand-ins, and the
    # relative rule_files are anchored where the shipped prometheus.yml is
    text = shipped.PROMETHEUS_YML.read_text().replace("/run/otel-ml-secrets/", f"{tmp_path}/")
    for name in set(re.findall(rf"{re.escape(str(tmp_path))}/([\w.-]+)", text)):
        (tmp_path / name).write_text("stand-in-token\n")
    text = re.sub(r"^(\s*- )(rules/)", rf"\g<1>{shipped.PROMETHEUS_DIR}/\g<2>", text, flags=re.M)
    config = tmp_path / "prometheus.yml"
    config.write_text(text)
    result = run_promtool("check", "config", "--lint-fatal", str(config))
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


RUNBOOKS = "https://github.com/otel-ml/otel-ml/blob/main/docs/runbooks.md#"


def _accuracy_alert(model: str, severity: str, accuracy: str, floor: str) -> dict:
    minutes = {"critical": 15, "warning": 30}[severity]
    labels = {"severity": severity, "ml_model_name": model, "ml_model_version": "1"}
    if severity == "critical":
        labels["remediation"] = "rollback"
    return {"exp_labels": labels, "exp_annotations": {
        "summary": f"{model} 1: accuracy {accuracy} is below its {severity} floor of {floor}",
        "description": f"The accuracy of {model} version 1 measured on ground-truth labels has been below "
                       f"the model's {severity} floor (ml_model:accuracy_floor_{severity}:ratio) for {minutes} minutes.",
        "runbook_url": RUNBOOKS + "mlaccuracybelowthreshold"}}


def _estimated_drop_alert(model: str, drop: str, limit: str) -> dict:
    return {"exp_labels": {"severity": "warning", "ml_model_name": model, "ml_model_version": "1"},
            "exp_annotations": {
                "summary": f"{model} 1: estimated accuracy is {drop} below its baseline",
                "description": f"Estimated from its confidences, the accuracy of {model} version 1 has been more "
                               f"than {limit} below its baseline, the model's tolerated drop "
                               "(ml_model:estimated_drop_max:ratio), for 30 minutes, before any label confirms it.",
                "runbook_url": RUNBOOKS + "mlestimatedaccuracydrop"}}


def _accuracy_test(targets, floors: list[dict], accuracy_alerts: list[dict], drop_alerts: list[dict]) -> dict:
    """A promtool test of the accuracy alerts with the given ml-model-targets.yml. Models: hard
    (55 % accurate, estimate 8 points under its baseline), strict (85 %), broken (like hard)."""
    perf = ('ml_model_performance{}{{ml_model_name="{}",ml_model_version="1",ml_segment="_all",'
            'ml_metric_name="accuracy",ml_window="count"}}')
    series = [{"series": perf.format("", m), "values": f"{v}x60"}
              for m, v in (("hard", 0.55), ("strict", 0.85), ("broken", 0.55))]
    series += [{"series": perf.format(f"_{kind}", m), "values": f"{v}x60"}
               for m in ("hard", "broken") for kind, v in (("baseline", 0.92), ("estimated", 0.84))]
    return {
        "rule_files": [str(targets), str(shipped.RULES_DIR / "ml-recording.yml"),
                       str(shipped.RULES_DIR / "ml-model-alerts.yml")],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": series,
            "promql_expr_test": floors,
            "alert_rule_test": [
                {"alertname": "MLAccuracyBelowThreshold", "eval_time": "40m", "exp_alerts": accuracy_alerts},
                {"alertname": "MLEstimatedAccuracyDrop", "eval_time": "40m", "exp_alerts": drop_alerts},
            ],
        }],
    }


def _override(doc: dict, record: str, model: str, value: float) -> None:
    """Put a per-model override in front of a target's default, as ml-model-targets.yml documents."""
    rule = next(r for g in doc["groups"] for r in g["rules"] if r["record"] == record)
    rule["expr"] = (f'label_replace(vector({value}), "ml_model_name", "{model}", "", "")\n'
                    f"or on (ml_model_name)\n{rule['expr']}")


def test_accuracy_floor_override_changes_the_verdict_for_that_model_only(tmp_path):
    """The documented per-model override (docs/stack.md#model-quality-thresholds): hard, whose
    normal accuracy is 55 %, pages under the defaults and is quiet with its own floors; strict
    gets a higher warning floor and warns at 85 %; broken, with the same numbers as hard and no
    override, keeps the defaults."""
    shipped_targets = shipped.RULES_DIR / "ml-model-targets.yml"
    # Control: the shipped defaults page for hard as for broken, and leave strict alone.
    control = tmp_path / "control.test.yml"
    control.write_text(yaml.safe_dump(_accuracy_test(
        shipped_targets, [],
        [_accuracy_alert(m, sev, "55%", floor) for m in ("hard", "broken")
         for sev, floor in (("critical", "60%"), ("warning", "70%"))],
        [_estimated_drop_alert(m, "8%", "5%") for m in ("hard", "broken")]), sort_keys=False))
    result = run_promtool("test", "rules", str(control))
    assert result.returncode == 0, result.stdout + result.stderr

    doc = shipped.load_yaml(shipped_targets)
    _override(doc, "ml_model:accuracy_floor_critical:ratio", "hard", 0.45)
    _override(doc, "ml_model:accuracy_floor_warning:ratio", "hard", 0.50)
    _override(doc, "ml_model:accuracy_floor_warning:ratio", "strict", 0.90)
    _override(doc, "ml_model:estimated_drop_max:ratio", "hard", 0.10)
    targets = tmp_path / "ml-model-targets.yml"
    targets.write_text(yaml.safe_dump(doc, sort_keys=False))

    def samples(record, values):
        return {"expr": record, "eval_time": "5m",
                "exp_samples": [{"labels": f'{record}{{ml_model_name="{m}"}}', "value": v} for m, v in values.items()]}
    test = _accuracy_test(
        targets,
        [samples("ml_model:accuracy_floor_critical:ratio", {"hard": 0.45, "strict": 0.60, "broken": 0.60}),
         samples("ml_model:accuracy_floor_warning:ratio", {"hard": 0.50, "strict": 0.90, "broken": 0.70}),
         samples("ml_model:estimated_drop_max:ratio", {"hard": 0.10, "broken": 0.05})],
        [_accuracy_alert("strict", "warning", "85%", "90%"),
         _accuracy_alert("broken", "critical", "55%", "60%"),
         _accuracy_alert("broken", "warning", "55%", "70%")],
        [_estimated_drop_alert("broken", "8%", "5%")])
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
