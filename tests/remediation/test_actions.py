"""Hooks run for real: argv commands (never a shell) and HTTP POSTs to a local sink."""

from __future__ import annotations

import sys

import psutil
import pytest

from otel_ml.remediation.actions import run_hook
from otel_ml.remediation.argv import ArgvTemplate
from otel_ml.remediation.policy import Hook
from tests.support.http_sink import HttpSink
from tests.support.waiting import free_port, wait_until

from .conftest import recorded_runs, recorder_command

HOSTILE = "iris'; touch {p} && echo $(touch {p}) `touch {p}` | tee {p} > {p} \"\\ \n* ?[a] ~ $HOME %s"


def _values(**over):
    base = {"model": "iris", "version": "3", "alertname": "MLFeatureDrift", "severity": "critical",
            "status": "firing", "fingerprint": "abc", "rule": "r", "action": "retrain", "phase": "do"}
    return {**base, **over}


def _hook(argv, timeout=20.0):
    return Hook(command=ArgvTemplate.parse(argv), timeout_s=timeout)


def test_shell_metacharacters_reach_the_command_as_one_inert_argument(tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    pwned = tmp_path / "pwned"
    hostile = HOSTILE.format(p=pwned)
    hook = _hook(recorder_command(out, 0, "{model}", "--team={label.team}", "fixed"))
    result = run_hook(hook, _values(model=hostile, **{"label.team": hostile}), {"alert": {"x": hostile}})
    assert result.ok, result
    (run,) = recorded_runs(out)
    assert run["args"] == [hostile, f"--team={hostile}", "fixed"]
    assert run["env"]["OTEL_ML_MODEL_NAME"] == hostile
    assert run["stdin"] == {"alert": {"x": hostile}}
    assert not pwned.exists()


@pytest.mark.parametrize("value, fragment", [("--delete-everything", "starts with '-'"),
                                             ("iris\x00--x", "NUL byte")])
def test_unsafe_values_are_refused_before_anything_runs(tmp_path, value, fragment):
    out = tmp_path / "runs"
    out.mkdir()
    result = run_hook(_hook(recorder_command(out, 0, "{model}")), _values(model=value), {})
    assert not result.ok and result.reason == "unsafe_argument" and fragment in result.detail["error"]
    assert recorded_runs(out) == []


def test_option_like_value_is_fine_inside_a_name_value_element(tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    assert run_hook(_hook(recorder_command(out, 0, "--model={model}")), _values(model="-x"), {}).ok
    assert recorded_runs(out)[0]["args"] == ["--model=-x"]


def test_the_service_token_is_not_inherited(tmp_path, monkeypatch):
    monkeypatch.setenv("OTEL_ML_REMEDIATE_TOKEN", "top-secret")
    monkeypatch.setenv("OTEL_ML_REMEDIATE_ROUTING_TOKEN", "read-secret")
    monkeypatch.setenv("OTEL_ML_SOMETHING_ELSE", "kept")
    out = tmp_path / "runs"
    out.mkdir()
    assert run_hook(_hook(recorder_command(out)), _values(), {}).ok
    env = recorded_runs(out)[0]["env"]
    assert "OTEL_ML_REMEDIATE_TOKEN" not in env and env["OTEL_ML_SOMETHING_ELSE"] == "kept"
    assert "OTEL_ML_REMEDIATE_ROUTING_TOKEN" not in env
    assert env["OTEL_ML_ALERT_NAME"] == "MLFeatureDrift" and env["OTEL_ML_REMEDIATION_PHASE"] == "do"


def test_timeout_kills_the_hook_and_its_children(tmp_path):
    pid_file = tmp_path / "child.pid"
    code = ("import subprocess, sys, time; "
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
            f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(120)")
    result = run_hook(_hook([sys.executable, "-c", code], timeout=4.0), _values(), {})
    assert not result.ok and result.reason == "timeout"
    grandchild = int(pid_file.read_text())

    def gone():
        try:
            return psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_until(gone, timeout=10, message="grandchild killed")


def test_missing_program_is_a_failed_spawn(tmp_path):
    result = run_hook(_hook([str(tmp_path / "no-such-program")]), _values(), {})
    assert not result.ok and result.reason == "spawn_failed"


def test_url_hook_posts_the_context_with_the_token(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("trainer-token\n")
    context = {"model": "iris", "alert": {"labels": {"x": "$(rm -rf /)"}}}
    with HttpSink() as sink:
        hook = Hook(url=sink.url + "/v1/retrain", bearer_token_file=str(token_file), timeout_s=5)
        result = run_hook(hook, _values(), context)
        assert result.ok and result.detail["http_status"] == 200
        (req,) = sink.received("/v1/retrain")
    assert req.method == "POST" and req.json() == context
    assert req.headers["Authorization"] == "Bearer trainer-token"
    assert req.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("status", [500, 404, 302])
def test_url_hook_error_statuses_fail(status):
    with HttpSink(status=status) as sink:
        result = run_hook(Hook(url=sink.url + "/x", timeout_s=5), _values(), {})
    assert not result.ok and result.reason == "http_error" and result.detail["http_status"] == status


def test_url_hook_unreachable():
    result = run_hook(Hook(url=f"http://127.0.0.1:{free_port()}/x", timeout_s=2), _values(), {})
    assert not result.ok and result.reason == "connection_error"
