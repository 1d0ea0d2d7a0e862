"""User mistakes on `otel-ml demo` get one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from otel_ml.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """``otel-ml ARGS`` in-process: (exit status, stdout, stderr)."""
    try:
        status = main(list(args))
    except SystemExit as exc:  # argparse's own errors and --help
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("args,message", [
    (["demo", "--duration", "5"], "otel-ml demo: error: --duration: must be between 30 and 86400 seconds"),
    (["demo", "--rate", "1000"], "otel-ml demo: error: --rate: must be a number of requests per second"),
    (["demo", "--rate", "fast"], "argument --rate: expected a number, got 'fast'"),
    (["demo", "--stack-dir", "/nonexistent/prometheus"],
     "otel-ml demo: error: shipped alerting configuration incomplete: /nonexistent/prometheus/prometheus.yml"),
    (["demo", "serve", "--otlp-endpoint", "collector:4317"], "argument --otlp-endpoint: expected an http://"),
    (["demo", "serve", "--metrics-port", "70000"], "port must be between 0 and 65535"),
    (["demo", "serve", "--cycle", "10"], "otel-ml demo: error: --cycle: must be at least 60 seconds"),
    (["demo", "serve", "--routing-token-file", "/nonexistent/token"],
     "otel-ml demo: error: --routing-token-file /nonexistent/token: No such file or directory"),
])
def test_user_mistakes_are_one_line(capsys, args, message):
    status, _, err = run_cli(capsys, *args)
    assert status == 2
    assert message in err, err
    assert len([line for line in err.splitlines() if "error" in line]) == 1, err


def test_help_for_demo_and_serve(capsys):
    status, out, _ = run_cli(capsys, "demo", "--help")
    assert status == 0 and "--no-alerting-binaries" in out and "--short" in out
    status, out, _ = run_cli(capsys, "demo", "serve", "--help")
    assert status == 0 and "--routing-url" in out and "--otlp-endpoint" in out


def test_the_installed_command_prints_no_traceback():
    result = subprocess.run([sys.executable, "-m", "otel_ml.cli", "demo", "--duration", "5"], capture_output=True,
                            text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
