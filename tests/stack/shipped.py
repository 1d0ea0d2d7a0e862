"""Loaders for the shipped stack files, and the test-time copies of them.

The shipped files are never modified: ``prometheus_for_test`` / ``alertmanager_for_test`` /
``scaled_rule_files`` write transformed copies into a test's directory (local targets, HTTP sinks
instead of Slack and PagerDuty, shorter waits and windows). The time compression is the demo's
own (``otel_ml.demo.timescale``), so the tests exercise the code the demo runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from otel_ml.demo.timescale import (
    DEMO_TIMESCALE, TimeScale, compress_alertmanager_timings, compress_rule_group_file, parse_duration,
)

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "prometheus"
PROMETHEUS_YML = PROMETHEUS_DIR / "prometheus.yml"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
ALERTMANAGER_YML = PROMETHEUS_DIR / "alertmanager" / "alertmanager.yml"
ALERTMANAGER_TEMPLATES = PROMETHEUS_DIR / "alertmanager" / "templates"
COMPOSE_YML = ROOT / "docker-compose.yml"
COLLECTOR_DIR = ROOT / "collector-config"
GRAFANA_DIR = ROOT / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
RUNBOOKS_MD = ROOT / "docs" / "runbooks.md"

SEVERITIES = ("critical", "warning", "info")
REMEDIATIONS = ("fallback", "rollback", "retrain", "scale")
# The alert names agreed across the project (docs/runbooks.md has a section for each).
ALERT_NAMES = (
    "MLInferenceErrorRate", "MLInferenceLatencyP95", "MLInferenceLatencyTrendingToSLO",
    "MLServiceDown", "MLFeatureDrift", "MLPredictionDrift", "MLLowConfidenceRatio",
    "MLAccuracyBelowThreshold", "MLAccuracyDecay", "MLEstimatedAccuracyDrop", "MLDataQuality",
    "MLGPUSaturated", "MLGPUMemoryHigh", "MLModelStale", "MLProcessorFallingBehind",
    "MLBusinessOutcomeDrop", "MLAvailabilityBurnRate", "MLLatencyBurnRate", "MLMultivariateDrift",
    "MLSegmentDrift",
)


def load_yaml(path: Path):
    return yaml.safe_load(Path(path).read_text())


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def rule_test_files() -> list[Path]:
    return sorted(RULE_TESTS_DIR.glob("*.test.yml"))


def all_rules() -> list[dict]:
    """Every rule of every shipped rule file, with ``_file`` and ``_group`` added."""
    out = []
    for path in rule_files():
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                out.append({**rule, "_file": path.name, "_group": group["name"]})
    return out


def alerting_rules() -> list[dict]:
    return [r for r in all_rules() if "alert" in r]


def recording_rules() -> list[dict]:
    return [r for r in all_rules() if "record" in r]


#: Seconds in a Prometheus duration such as ``1h30m`` or ``500ms`` (the demo's parser).
duration_s = parse_duration


# --- docker compose -------------------------------------------------------------------------

_ENV_REF = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def env_defaults(text: str) -> str:
    """``${VAR:-default}`` (compose) or ``${env:VAR:-default}`` (Collector) -> ``default``; ``${VAR}`` -> ""."""
    return _ENV_REF.sub(lambda m: m.group(2) or "", text).replace("$$", "$")


def compose() -> dict:
    return yaml.safe_load(env_defaults(COMPOSE_YML.read_text()))


# --- Grafana --------------------------------------------------------------------------------

def dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))  # collapsed rows keep their panels inside
    return out


def prometheus_targets(dashboard: dict):
    """(panel, target) for every PromQL query of the dashboard."""
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            ds = target.get("datasource") or panel.get("datasource") or {}
            if resolve_datasource(ds, variables)["type"] == "prometheus":
                yield panel, target


def resolve_datasource(ds: dict, variables: dict) -> dict:
    """A panel/target datasource with a ``${var}`` uid replaced by the variable's current value."""
    uid = ds.get("uid", "")
    m = re.fullmatch(r"\$\{?(\w+)\}?", uid or "")
    if m:
        var = variables[m.group(1)]
        return {"type": var["query"], "uid": var["current"]["value"]}
    return ds


def substitute(expr: str, values: dict[str, str]) -> str:
    """Grafana's template substitution for ``$var``, ``${var}`` and ``[[var]]``.

    ``$1``-style names are regex back-references of ``label_replace``: Grafana leaves a name it
    has no variable for untouched, and no dashboard variable is purely numeric.
    """
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name.isdigit():
            return m.group(0)
        if name not in values:
            raise KeyError(f"no value for template variable {name!r} in {expr!r}")
        return values[name]
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]", repl, expr)


# --- test-time copies -----------------------------------------------------------------------

def timescale_for_test(factor: float) -> TimeScale:
    """Every duration of the rules times ``factor`` (< 1), none under a second (the scrape interval)."""
    return TimeScale.uniform(1 / factor, min_s=1.0)


def scale_expr(expr: str, factor: float) -> str:
    """Ranges, subqueries, offsets and predict_linear horizons (all durations) times ``factor``."""
    return timescale_for_test(factor).scale_expr(expr)


def scaled_rule_files(dest: Path, factor: float) -> list[Path]:
    """Copies of the shipped rule files with every duration (``for:``, ranges, offsets, forecast
    horizons) times ``factor``, compressed by the demo's ``compress_rule_group_file``."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for path in rule_files():
        doc = compress_rule_group_file(load_yaml(path), timescale_for_test(factor))
        target = dest / path.name
        target.write_text(yaml.safe_dump(doc, sort_keys=False))
        out.append(target)
    return out


def prometheus_for_test(rule_paths: list[Path], targets: dict[str, list[str]],
                        alertmanager: str | None, interval: str = "1s",
                        secrets_dir: Path | None = None) -> str:
    """The shipped prometheus.yml with local targets for the named jobs (others dropped); the
    credentials files it names under /run/otel-ml-secrets are read from ``secrets_dir``."""
    doc = load_yaml(PROMETHEUS_YML)
    doc["global"]["scrape_interval"] = interval
    doc["global"]["scrape_timeout"] = interval
    doc["global"]["evaluation_interval"] = interval
    doc["rule_files"] = [str(p) for p in rule_paths]
    jobs = []
    for job in doc["scrape_configs"]:
        if job["job_name"] in targets:
            job = {k: v for k, v in job.items() if not k.endswith("_sd_configs")}
            job["static_configs"] = [{"targets": targets[job["job_name"]]}]
            auth = job.get("authorization")
            if auth and "credentials_file" in auth:
                if secrets_dir is None:
                    raise ValueError(f"job {job['job_name']} reads {auth['credentials_file']}: "
                                     "pass secrets_dir")
                name = Path(auth["credentials_file"]).name
                job["authorization"] = {**auth, "credentials_file": str(secrets_dir / name)}
            jobs.append(job)
    missing = set(targets) - {j["job_name"] for j in jobs}
    if missing:
        raise KeyError(f"prometheus.yml has no job {sorted(missing)}")
    doc["scrape_configs"] = jobs
    if alertmanager:
        doc["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [alertmanager]}]}]
    else:
        doc.pop("alerting", None)
    return yaml.safe_dump(doc, sort_keys=False)


def alertmanager_for_test(sink_url: str, token_file: Path, timescale: TimeScale = DEMO_TIMESCALE) -> str:
    """The shipped routing, inhibition and templates, with every receiver posting to a sink.

    Slack posts to ``/slack/<receiver>``, PagerDuty to ``/pagerduty/<receiver>``, the webhook to
    ``/webhook/<receiver>`` (bearer token from ``token_file``). Waits and intervals compressed as
    the demo compresses them (root: group_wait 30s -> 1s, group_interval 5m -> 2500ms); the
    shipped resolve_timeout is kept, because the tests post alerts by hand without an ``endsAt``
    (Prometheus always sends one) and they must stay active while the test reads them.
    """
    shipped = load_yaml(ALERTMANAGER_YML)
    doc = compress_alertmanager_timings(shipped, timescale)
    doc["global"] = {k: v for k, v in doc["global"].items() if not k.endswith("_file")}
    doc["global"]["resolve_timeout"] = shipped["global"].get("resolve_timeout", "5m")
    doc["templates"] = [str(ALERTMANAGER_TEMPLATES / "*.tmpl")]
    for receiver in doc["receivers"]:
        name = receiver["name"]
        for cfg in receiver.get("slack_configs", []):
            cfg["api_url"] = f"{sink_url}/slack/{name}"
        for cfg in receiver.get("pagerduty_configs", []):
            cfg.pop("routing_key_file", None)
            cfg["routing_key"] = "test-routing-key"
            cfg["url"] = f"{sink_url}/pagerduty/{name}"
        for cfg in receiver.get("webhook_configs", []):
            cfg["url"] = f"{sink_url}/webhook/{name}"
            cfg["http_config"]["authorization"]["credentials_file"] = str(token_file)
    return yaml.safe_dump(doc, sort_keys=False)
