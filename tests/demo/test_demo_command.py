"""`otel-ml demo` as a user runs it: the `otel-ml` script of the wheel, installed outside the
checkout (tests/support/wheel_env.py), started from an empty directory, so the stack files must
come from the package. One `--short` run with the real Prometheus and Alertmanager is shared by
the assertions; its run directory's audit log and summary.json back the printed summary.
Without the binaries on PATH the demo says how to install them and runs drift and accuracy only.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from otel_ml._support.processes import http_ok
from otel_ml.demo.model import FALLBACK_VERSION, PRIMARY_VERSION
from otel_ml.remediation.audit import read_audit
from tests.support.procs import binary
from tests.support.waiting import wait_until
from tests.support.wheel_env import clean_env, full_venv

ROOT = Path(__file__).resolve().parents[2]


def run_demo(cwd: Path, run_dir: Path, *args: str, timeout: float = 240, env: dict | None = None):
    cwd.mkdir(parents=True, exist_ok=True)
    return full_venv().run("demo", "--run-dir", str(run_dir), *args, cwd=cwd, timeout=timeout, env=env)


def executed_fallbacks(run_dir: Path) -> list[dict]:
    return [r for r in read_audit(run_dir / "remediate-state" / "audit.jsonl")
            if r["event"] == "decision" and r["action"] == "fallback" and r["outcome"] == "executed"]


def phase_start(summary: dict, name: str) -> float:
    return next(p["start_s"] for p in summary["phases"] if p["name"] == name)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """One `otel-ml demo --short` from an empty directory; (stdout, stderr, run_dir, wall seconds)."""
    binary("prometheus")
    binary("prometheus-alertmanager", "alertmanager")
    base = tmp_path_factory.mktemp("short")
    empty, run_dir = base / "empty", base / "run"
    started = time.monotonic()
    result = run_demo(empty, run_dir, "--short")
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    print(f"otel-ml demo --short: {wall:.1f}s wall")
    return result.stdout, result.stderr, run_dir, wall


@pytest.mark.real
def test_short_demo_from_an_empty_directory_shows_its_steps_and_where_to_look(short_run):
    out, err, run_dir, _ = short_run
    assert "Traceback" not in err, err[-3000:]
    # long steps announced as they happen, training per model, then the live view's lines (no TTY)
    for step in ("[1/6] starting otel-ml remediate", "[2/6] training the models",
                 "primary (HistGradientBoosting) trained after", "fallback (logistic regression) trained after",
                 "[3/6] building reference profiles", "[4/6] starting otel-ml processor",
                 "[5/6] starting prometheus", "[6/6] serving breast-cancer"):
        assert step in out, step
    assert "`for:` wait divided by 120" in out  # the compressed timings in plain words
    prom_cfg = yaml.safe_load((run_dir / "prometheus.yml").read_text())
    am_target = prom_cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0]
    prom_port = next(j for j in prom_cfg["scrape_configs"] if j["job_name"] == "prometheus")["static_configs"][0]["targets"][0]
    assert f"Prometheus UI    http://{prom_port}/alerts" in out
    assert f"Alertmanager UI  http://{am_target}" in out
    assert out.count("req/s err") >= 5, "expected a progress line every few seconds"
    # the live line's rates come from the shipped recording rules through Prometheus's API
    lines = [line for line in out.splitlines() if "req/s err" in line]
    assert any(not line.split("] ", 1)[1].startswith("- req/s") for line in lines[2:]), lines


@pytest.mark.real
def test_short_demo_alerts_and_remediates_through_the_real_binaries(short_run):
    out, _, run_dir, _ = short_run

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
    decay = acc[("decay", FALLBACK_VERSION)]
    # before the decay the primary's labels are right: its realized accuracy at the end of the
    # steady phase, or, on a loaded machine where fewer than min_labels arrived in that short
    # phase, at the end of the drift phase (inputs moved away from the training data, so the model
    # may do somewhat worse there, but the labels are still true: well above the decay's)
    steady, drift = (acc.get((p, PRIMARY_VERSION), {}) for p in ("steady", "drift"))
    if steady.get("realized") is not None and steady.get("estimated") is not None:
        assert steady["realized"] > 0.85 and steady["estimated"] > 0.85
    else:
        assert drift["realized"] > 0.8 and drift["estimated"] > 0.8, (steady, drift)
    assert decay["realized"] < 0.75 and decay["estimated"] - decay["realized"] > 0.15
    # people were told: the critical drift paged and went to chat
    kinds = {n["kind"] for n in summary["notifications"]}
    assert kinds == {"chat", "pager"}
    assert (run_dir / "prometheus.log").exists() and (run_dir / "alertmanager.log").exists()
    # the notifications are what the real Alertmanager sent to the sink, one per line of the log
    sent = [json.loads(line) for line in (run_dir / "notifications.jsonl").read_text().splitlines()]
    assert len(sent) == len(summary["notifications"]) > 0


def test_without_the_binaries_the_demo_says_how_to_install_them_and_shows_drift_and_accuracy(tmp_path):
    # PATH holds only the venv's scripts: no prometheus, no alertmanager (children run by full path)
    env = {**clean_env(), "PATH": str(full_venv().otel_ml.parent)}
    run_dir = tmp_path / "run"
    result = run_demo(tmp_path / "empty", run_dir, "--duration", "30", env=env)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert ("[5/6] Prometheus and Alertmanager are not installed: this run shows drift and accuracy only; "
            "the alert and remediation stages need the binaries") in out
    assert "install them with:  sudo apt-get install -y prometheus prometheus-alertmanager" in out
    assert "Alerts        not evaluated: Prometheus and Alertmanager did not run" in out
    assert not (run_dir / "prometheus.yml").exists() and not executed_fallbacks(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["alerts"] == [] and summary["notifications"] == [] and summary["switches"] == []
    # drift still detected, read from the processor's own /metrics (how many of the three shifted
    # features reach a tier in this 30 s run depends on the machine's speed; the run with the real
    # binaries above checks all three)
    assert set(summary["drift_detected"]) & {"mean_texture", "mean_smoothness", "mean_symmetry"}
    assert "decay" in out and "- ?" not in out


@pytest.mark.real
def test_sigterm_stops_the_demo_and_every_process_it_started(tmp_path):
    binary("prometheus")
    run_dir = tmp_path / "run"
    out_path = tmp_path / "out.txt"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("otel-ml")), "demo", "--duration", "600",
                                 "--run-dir", str(run_dir)], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
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
    # the summary is complete after an interruption: phases never reached say so, no "?" holes
    assert "(not reached: the run ended before this phase)" in text and "- ?" not in text
    assert not [u for u in urls if http_ok(u)], "a process the demo started is still serving"
