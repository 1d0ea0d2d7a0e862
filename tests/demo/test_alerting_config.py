"""The demo's Prometheus / Alertmanager configuration, derived from the shipped files.

Checked with the real tools (promtool, amtool): valid, every rule kept with its `for:`, ranges,
offsets and forecast horizons compressed as documented (tests/demo/test_timescale.py checks the
compression itself), local targets, the webhook and the people-facing receivers
pointed at local parts, and routing that still sends a critical drift alert to the webhook
and the pager. The shipped files are never modified.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from otel_ml.demo.alerting import (
    AlertTargets, StackFiles, alertmanager_config, compress_rule_group_file, find_stack_dir,
    prepare_alerting,
)
from otel_ml.demo.timescale import DEMO_TIMESCALE, TimeScale, format_duration, parse_duration
from otel_ml.errors import ConfigError, UserError
from tests.support.procs import amtool, promtool


def targets(tmp_path: Path) -> AlertTargets:
    token = tmp_path / "token"
    token.write_text("t0k3n\n")
    return AlertTargets(app="127.0.0.1:1001", processor="127.0.0.1:1002", remediate_metrics="127.0.0.1:1003",
                        remediate_url="http://127.0.0.1:1004", token_file=token, sink_url="http://127.0.0.1:1005",
                        prometheus_port=1006, alertmanager_port=1007)


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# --- time compression ----------------------------------------------------------------------

@pytest.mark.parametrize("text,seconds", [("5m", 300), ("1h30m", 5400), ("500ms", 0.5), ("2d", 172800)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5", "m5", "5 m", "1h 2m", "5mm", None])
def test_parse_duration_rejects_garbage(bad):
    with pytest.raises(ConfigError):
        parse_duration(bad)


def test_documented_compression():
    ts = DEMO_TIMESCALE
    assert [ts.scale_for(d) for d in ("10m", "15m", "30m", "2m", "30s", "4h")] == \
        ["5s", "7500ms", "15s", "1s", "1s", "120s"]
    assert ts.scale_expr("rate(x[5m]) / rate(y[1h]) > on (a) z[1d:5m] offset 1d") == \
        "rate(x[10s]) / rate(y[120s]) > on (a) z[2880s:10s] offset 2880s"
    assert format_duration(parse_duration(ts.scale_for("5m"))) == "2500ms"
    with pytest.raises(ConfigError, match="timescale.for_factor"):
        TimeScale(for_factor=0.5)


# --- the prepared files --------------------------------------------------------------------

@pytest.fixture
def prepared(tmp_path):
    stack = find_stack_dir()
    before = digest(stack.root)
    files = prepare_alerting(stack, tmp_path / "run", targets(tmp_path))
    yield stack, files
    assert digest(stack.root) == before, "the shipped files must stay untouched"


@pytest.mark.real
def test_prepared_configuration_passes_promtool_and_amtool(prepared):
    _, files = prepared
    check = subprocess.run([promtool(), "check", "config", str(files.prometheus_yml)], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(files.rules)} rule files found" in check.stdout
    am = subprocess.run([amtool(), "check-config", str(files.alertmanager_yml)], capture_output=True, text=True,
                        timeout=60)
    assert am.returncode == 0, am.stdout + am.stderr


_RANGE = r"\[([0-9a-z]+)[:\]]"
_OFFSET = r"\boffset\s+-?([0-9a-z]+)"
_HORIZON = r"predict_linear\((?:[^()]|\([^()]*\))*?\],\s*([0-9.* ]+?)\s*\)"


def _seconds(text: str) -> float:
    """A duration, or a horizon in seconds (a number or a product of numbers)."""
    if re.fullmatch(r"[0-9.* ]+", text):
        value = 1.0
        for part in text.split("*"):
            value *= float(part)
        return value
    return parse_duration(text)


def _skeleton(expr: str) -> str:
    expr = re.sub(_HORIZON, lambda m: m.group(0).replace(m.group(1), "_"), expr)
    return re.sub(_OFFSET, "offset _", re.sub(r"\[[^\]]*\]", "[]", expr))


def test_every_rule_is_kept_with_compressed_timings(prepared):
    stack, files = prepared
    assert sorted(p.name for p in files.rules) == sorted(p.name for p in stack.rule_files())
    for source in stack.rule_files():
        shipped = [r for g in yaml.safe_load(source.read_text())["groups"] for r in g["rules"]]
        copied = [r for g in yaml.safe_load((files.prometheus_yml.parent / "rules" / source.name).read_text())["groups"]
                  for r in g["rules"]]
        assert len(copied) == len(shipped)
        for old, new in zip(shipped, copied):
            assert (old.get("alert"), old.get("record"), old.get("labels"), old.get("annotations")) == \
                   (new.get("alert"), new.get("record"), new.get("labels"), new.get("annotations"))
            if "for" in old:
                assert parse_duration(new["for"]) == DEMO_TIMESCALE.for_seconds(parse_duration(old["for"]))
            for pattern in (_RANGE, _OFFSET, _HORIZON):  # every data-axis duration, by the range factor
                old_values = [_seconds(v) for v in re.findall(pattern, old["expr"])]
                new_values = [_seconds(v) for v in re.findall(pattern, new["expr"])]
                assert new_values == [DEMO_TIMESCALE.range_seconds(v) for v in old_values], (pattern, new["expr"])
            assert _skeleton(old["expr"]) == _skeleton(new["expr"])
    copied = {r.get("alert", r.get("record")): r["expr"] for p in files.rules
              for g in yaml.safe_load(p.read_text())["groups"] for r in g["rules"]}
    # the constructs the shipped rules use, each seen compressed at least once
    assert "offset 2880s" in copied["MLBusinessOutcomeDrop"]
    assert "[120s], 480)" in copied["MLInferenceLatencyTrendingToSLO"]


def test_prometheus_scrapes_the_local_endpoints_under_the_shipped_job_names(prepared, tmp_path):
    _, files = prepared
    cfg = yaml.safe_load(files.prometheus_yml.read_text())
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in cfg["scrape_configs"]}
    assert jobs == {"ml-serving": ["127.0.0.1:1001"], "otel-ml-processor": ["127.0.0.1:1002"],
                    "otel-ml-remediate": ["127.0.0.1:1003"], "alertmanager": ["127.0.0.1:1007"],
                    "prometheus": ["127.0.0.1:1006"]}
    assert not any(k.endswith("_sd_configs") for j in cfg["scrape_configs"] for k in j)
    assert cfg["global"]["scrape_interval"] == cfg["global"]["evaluation_interval"] == "1s"
    assert cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:1007"]


def test_alertmanager_receivers_point_at_local_parts(prepared, tmp_path):
    _, files = prepared
    cfg = yaml.safe_load(files.alertmanager_yml.read_text())
    receivers = {r["name"]: r for r in cfg["receivers"]}
    hook = receivers["otel-ml-remediate"]["webhook_configs"][0]
    assert hook["url"] == "http://127.0.0.1:1004/v1/alerts"
    assert hook["http_config"]["authorization"]["credentials_file"] == str(tmp_path / "token")
    assert hook["send_resolved"] is True
    slack_file = Path(cfg["global"]["slack_api_url_file"])
    assert slack_file.read_text().strip() == "http://127.0.0.1:1005/slack"
    pager = receivers["pager-and-slack-critical"]["pagerduty_configs"][0]
    assert pager["url"] == "http://127.0.0.1:1005/pagerduty" and Path(pager["routing_key_file"]).is_file()
    assert cfg["route"]["group_wait"] == "1s" and cfg["route"]["group_interval"] == "2500ms"
    assert (files.alertmanager_yml.parent / "templates").is_dir()


@pytest.mark.real
def test_a_critical_drift_alert_still_routes_to_the_webhook_and_the_pager(prepared):
    _, files = prepared
    result = subprocess.run(
        [amtool(), "config", "routes", "test", f"--config.file={files.alertmanager_yml}",
         "--verify.receivers=otel-ml-remediate,pager-and-slack-critical",
         "alertname=MLFeatureDrift", "severity=critical", "remediation=retrain", "ml_model_name=breast-cancer"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# --- bad input -----------------------------------------------------------------------------

def test_missing_shipped_file_is_one_clear_error(tmp_path):
    stack = find_stack_dir()
    partial = tmp_path / "prometheus"
    shutil.copytree(stack.root, partial)
    (partial / "alertmanager" / "alertmanager.yml").unlink()
    with pytest.raises(UserError, match="alertmanager.yml not found"):
        find_stack_dir(partial)
    with pytest.raises(UserError, match="no rule files"):
        empty = tmp_path / "empty"
        shutil.copytree(stack.root, empty, ignore=shutil.ignore_patterns("*.yml"))
        (empty / "prometheus.yml").write_text("global: {}\n")
        (empty / "alertmanager" / "alertmanager.yml").write_text("route: {receiver: x}\n")
        StackFiles(empty).check()


def test_routing_without_a_remediation_webhook_is_refused(tmp_path):
    shipped = {"route": {"receiver": "slack"}, "receivers": [{"name": "slack", "slack_configs": [{"channel": "#x"}]}]}
    with pytest.raises(UserError, match="no webhook receiver for otel-ml remediate"):
        alertmanager_config(shipped, targets(tmp_path), tmp_path / "secrets")


def test_a_rule_file_without_groups_is_refused():
    with pytest.raises(UserError, match="groups"):
        compress_rule_group_file({"rules": []})


def test_binaries_are_found_on_path_under_either_alertmanager_name(tmp_path, monkeypatch):
    from otel_ml.demo.alerting import find_binaries

    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_binaries() is None

    def tool(name):
        path = tmp_path / name
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
        return str(path)

    prom = tool("prometheus")
    assert find_binaries() is None  # Prometheus alone is not an alert path
    am = tool("alertmanager")
    assert (find_binaries().prometheus, find_binaries().alertmanager) == (prom, am)
    debian = tool("prometheus-alertmanager")
    assert find_binaries().alertmanager == debian  # the Debian name first
