"""Policy validation (table-driven from policies/invalid_*.yml) and the policy's semantics."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from otel_ml import semconv
from otel_ml.errors import ConfigError, UserError
from otel_ml.remediation.policy import Policy, RateLimit, load_policy, parse_policy

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
EXAMPLE = ROOT / "examples" / "remediation-policy.yml"
INVALID = sorted((HERE / "policies").glob("invalid_*.yml"))
AGREED_ALERTS = {
    "MLInferenceErrorRate", "MLInferenceLatencyP95", "MLInferenceLatencyTrendingToSLO", "MLServiceDown",
    "MLFeatureDrift", "MLPredictionDrift", "MLLowConfidenceRatio", "MLAccuracyBelowThreshold",
    "MLAccuracyDecay", "MLEstimatedAccuracyDrop", "MLDataQuality", "MLGPUSaturated", "MLGPUMemoryHigh",
    "MLModelStale", "MLProcessorFallingBehind", "MLBusinessOutcomeDrop", "MLAvailabilityBurnRate",
    "MLLatencyBurnRate",
}


def _expectation(path: Path) -> tuple[str, str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), path
    key, _, fragment = first[len("# expect: "):].partition(" | ")
    return key, fragment


def test_there_are_invalid_cases():
    assert len(INVALID) >= 20


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_policy_names_the_bad_key(path):
    key, fragment = _expectation(path)
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    assert info.value.key == key
    assert fragment in info.value.problem


def test_file_problems_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_policy(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("rules: [unclosed\n")
    with pytest.raises(UserError) as info:
        load_policy(bad)
    assert str(info.value).startswith(f"{bad}: line 2, column 1: invalid YAML: ")
    assert "\n" not in str(info.value)
    empty = tmp_path / "empty.yml"
    empty.write_text("# nothing\n")
    with pytest.raises(UserError, match="empty"):
        load_policy(empty)
    listy = tmp_path / "list.yml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(UserError, match="must be a YAML mapping, got list"):
        load_policy(listy)


@pytest.mark.parametrize("text, seconds", [
    ("90s", 90), ("15m", 900), ("1h30m", 5400), ("2d", 172800), ("1w", 604800), ("250ms", 0.25),
    (42, 42), (0.5, 0.5), ("0s", 0),
])
def test_durations(text, seconds):
    policy = parse_policy({"defaults": {"cooldown": text}, "rules": [{"name": "a", "action": "fallback"}]})
    assert policy.rules[0].cooldown_s == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["15 m", "m15", "1h-", "", "-5s", "1.5h", "5", True, None, [1], -1])
def test_bad_durations_name_the_key(text):
    with pytest.raises(ConfigError) as info:
        parse_policy({"defaults": {"cooldown": text}, "rules": [{"name": "a", "action": "fallback"}]})
    assert info.value.key == "defaults.cooldown"


def test_model_and_version_labels_default_to_the_semconv_attributes():
    policy = parse_policy({"rules": [{"name": "a", "action": "fallback"}]})
    assert policy.model_label == semconv.prometheus_label(semconv.Attr.MODEL_NAME) == "ml_model_name"
    assert policy.version_label == semconv.prometheus_label(semconv.Attr.MODEL_VERSION) == "ml_model_version"
    assert (Policy(rules=()).model_label, Policy(rules=()).version_label) == (policy.model_label,
                                                                              policy.version_label)


def test_defaults_fill_rules_and_rules_override():
    policy = parse_policy({
        "defaults": {"cooldown": "5m", "rate_limit": {"max_actions": 2, "window": "30m"},
                     "undo_on_resolve": True, "timeout": "10s"},
        "rules": [
            {"name": "a", "action": "fallback"},
            {"name": "b", "action": "rollback", "cooldown": "1h", "undo_on_resolve": False,
             "rate_limit": {"max_actions": 1, "window": "1d"}},
            {"name": "c", "action": "retrain", "url": "http://trainer:8080/x", "timeout": 3},
            {"name": "d", "action": "scale", "command": ["/bin/scale", "up"]},
        ]})
    a, b, c, d = policy.rules
    assert (a.cooldown_s, a.rate_limit, a.undo_on_resolve) == (300, RateLimit(2, 1800), True)
    assert (b.cooldown_s, b.rate_limit, b.undo_on_resolve) == (3600, RateLimit(1, 86400), False)
    # not reversible: the default does not turn undo on
    assert c.undo_on_resolve is False and c.hook.timeout_s == 3 and c.hook.url == "http://trainer:8080/x"
    assert d.undo_on_resolve is False and d.undo_hook is None and d.hook.timeout_s == 10


def test_first_match_wins_unless_continue():
    policy = parse_policy({"rules": [
        {"name": "crit-fallback", "alertname": ["MLInferenceErrorRate", "MLServiceDown"],
         "matchers": ['severity="critical"'], "action": "fallback", "continue": True},
        {"name": "crit-retrain", "matchers": ['severity=~"crit.*"', 'ml_model_name!~"canary-.*"'],
         "action": "retrain", "command": ["/bin/true"]},
        {"name": "rest", "action": "notify-only"},
    ]})
    names = lambda **labels: [r.name for r in policy.match(labels)]  # noqa: E731
    assert names(alertname="MLInferenceErrorRate", severity="critical", ml_model_name="iris") == [
        "crit-fallback", "crit-retrain"]
    assert names(alertname="MLInferenceErrorRate", severity="critical", ml_model_name="canary-1") == [
        "crit-fallback", "rest"]
    assert names(alertname="MLFeatureDrift", severity="critical", ml_model_name="iris") == ["crit-retrain"]
    assert names(alertname="MLFeatureDrift", severity="warning") == ["rest"]


def test_shipped_example_is_valid_and_uses_agreed_alert_names():
    policy = load_policy(EXAMPLE)
    used = {name for rule in policy.rules for name in rule.alertnames}
    assert used and used <= AGREED_ALERTS
    actions = {rule.action for rule in policy.rules}
    assert actions == {"fallback", "rollback", "retrain", "scale", "notify-only"}


def test_shipped_example_matches_the_shipped_prometheus_rules():
    """Every alert the shipped rules mark with `remediation: X` reaches a rule of action X."""
    rule_files = sorted((ROOT / "prometheus" / "rules").glob("*.yml"))
    alerts = []
    for f in rule_files:
        for group in (yaml.safe_load(f.read_text()) or {}).get("groups", []):
            for r in group.get("rules", []):
                if "alert" in r and "remediation" in (r.get("labels") or {}):
                    alerts.append(r)
    if not alerts:
        pytest.fail("prometheus/rules carries no alert with a remediation label; the example cannot be checked")
    policy = load_policy(EXAMPLE)
    for r in alerts:
        labels = {"alertname": r["alert"], **{k: str(v) for k, v in r["labels"].items()}}
        hits = policy.match(labels)
        assert hits, f"{labels} matches no rule"
        assert hits[0].action == labels["remediation"], (labels, hits[0].name)
