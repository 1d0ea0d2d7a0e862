"""`otel-ml demo` as a user runs it (through the installed `otel-ml` script), in its short modes.

With the real Prometheus and Alertmanager binaries the summary must report the drift alert and
the fallback remediation; with `--no-alerting-binaries` the built-in evaluator must still
remediate. Each run keeps its directory, whose audit log and summary.json back the text.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from otel_ml.demo.model import FALLBACK_VERSION, PRIMARY_VERSION
from otel_ml.demo.processes import http_ok
from otel_ml.remediation.audit import read_audit
from tests.support.procs import binary
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
OTEL_ML = Path(sys.executable).with_name("otel-ml")


def run_demo(run_dir: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    assert OTEL_ML.exists(), f"the otel-ml script is not installed next to {sys.executable}"
    return subprocess.run([str(OTEL_ML), "demo", "--run-dir", str(run_dir), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def executed_fallbacks(run_dir: Path) -> list[dict]:
    return [r for r in read_audit(run_dir / "remediate-state" / "audit.jsonl")
            if r["event"] == "decision" and r["action"] == "fallback" and r["outcome"] == "executed"]


def phase_start(summary: dict, name: str) -> float:
    return next(p["start_s"] for p in summary["phases"] if p["name"] == name)


@pytest.mark.real
def test_short_demo_with_the_real_alert_path_reports_drift_alert_and_fallback(tmp_path):
    binary("prometheus")
    binary("prometheus-alertmanager", "alertmanager")
    run_dir = tmp_path / "run"
    result = run_demo(run_dir, "--short")
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]

    # long steps announced as they happen, then the live view's progress lines (no TTY here)
    for step in ("[1/6] starting otel-ml remediate", "[2/6] training the models",
                 "[3/6] building reference profiles", "[4/6] starting otel-ml processor",
                 "[5/6] starting prometheus", "[6/6] serving breast-cancer"):
        assert step in out, step
    assert out.count("req/s err") >= 5, "expected a progress line every few seconds"

    summary_text = out[out.index("otel-ml demo: summary"):]
    assert "via real prometheus" in summary_text
    assert f"MLFeatureDrift critical {PRIMARY_VERSION}" in summary_text
    assert "fallback executed: primary -> fallback  [MLFeatureDrift critical" in summary_text
    assert "variant switches: +" in summary_text and "primary -> fallback" in summary_text

    summary = json.loads((run_dir / "summary.json").read_text())
    drift_at = phase_start(summary, "drift")
    fired = [a for a in summary["alerts"] if a["name"] == "MLFeatureDrift" and a["severity"] == "critical"
             and a["version"] == PRIMARY_VERSION]
    assert fired and min(a["fired_t"] for a in fired) >= drift_at, "the drift alert fired only after drift began"
    assert {a["what"] for a in fired} <= {"mean_texture", "mean_smoothness", "mean_symmetry"}
    shifted = {"mean_texture", "mean_smoothness", "mean_symmetry"}
    detected = summary["drift_detected"]
    assert shifted <= set(detected) and all(detected[f]["t"] >= drift_at for f in shifted)
    assert all(summary["max_ks"][f] > 0.5 for f in shifted)
    assert all(ks < 0.25 for f, ks in summary["max_ks"].items() if f not in shifted)
    switch = summary["switches"][0]
    assert (switch["from"], switch["to"]) == ("primary", "fallback") and switch["t"] >= drift_at
    assert summary["traffic"]["by_variant"]["fallback"] > 0 and summary["traffic"]["errors"] == 0

    # the audit log backs the summary: one executed switch, triggered by the drift alert
    (fallback,) = executed_fallbacks(run_dir)
    assert fallback["alertname"] == "MLFeatureDrift" and fallback["receiver"] == "otel-ml-remediate"

    # accuracy per phase: the decay phase's flipped labels sink realized accuracy while the
    # confidence-based estimate stays up (the documented limit of estimation)
    acc = {(a["phase"], a["version"]): a for a in summary["accuracy"]}
    steady = acc[("steady", PRIMARY_VERSION)]
    decay = acc[("decay", FALLBACK_VERSION)]
    assert steady["realized"] > 0.85 and steady["estimated"] > 0.85
    assert decay["realized"] < 0.75 and decay["estimated"] - decay["realized"] > 0.15
    # people were told: the critical drift paged and went to chat
    kinds = {n["kind"] for n in summary["notifications"]}
    assert kinds == {"chat", "pager"}
    assert (run_dir / "prometheus.log").exists() and (run_dir / "alertmanager.log").exists()


def test_builtin_evaluator_still_remediates(tmp_path):
    run_dir = tmp_path / "run"
    result = run_demo(run_dir, "--no-alerting-binaries", "--duration", "30")
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "--no-alerting-binaries: the demo evaluates the shipped rule thresholds itself" in out
    assert "via the built-in evaluator" in out
    assert not (run_dir / "prometheus.yml").exists(), "no Prometheus may be configured in this mode"
    (fallback,) = executed_fallbacks(run_dir)
    assert fallback["alertname"] == "MLFeatureDrift" and fallback["severity"] == "critical"
    assert fallback["receiver"] == "otel-ml-remediate"  # the webhook payload names the receiver
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["switches"][0]["to"] == "fallback"
    assert summary["switches"][0]["t"] >= phase_start(summary, "drift")
    assert any(n["kind"] == "pager" and "MLFeatureDrift" in n["title"] for n in summary["notifications"])


@pytest.mark.real
def test_sigterm_stops_the_demo_and_every_process_it_started(tmp_path):
    binary("prometheus")
    run_dir = tmp_path / "run"
    out_path = tmp_path / "out.txt"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen([str(OTEL_ML), "demo", "--duration", "600", "--run-dir", str(run_dir)],
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_until(lambda: "[6/6] serving" in out_path.read_text(), timeout=120, message="the demo serving")
        prom_cfg = yaml.safe_load((run_dir / "prometheus.yml").read_text())
        endpoints = {job["job_name"]: job["static_configs"][0]["targets"][0] for job in prom_cfg["scrape_configs"]}
        urls = [f"http://{endpoints[job]}/metrics" for job in ("ml-serving", "otel-ml-processor", "otel-ml-remediate",
                                                               "prometheus", "alertmanager")]
        assert wait_until(lambda: all(http_ok(u) for u in urls), timeout=30, message="every endpoint up")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out_path.read_text()
    assert "interrupted: stopping the demo" in text and "otel-ml demo: summary" in text
    assert "Traceback" not in text
    assert not [u for u in urls if http_ok(u)], "a process the demo started is still serving"
