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


@pytest.fixture
def no_demo_start(monkeypatch):
    """Should a bad path get past the checks, fail at once rather than run a whole demo."""
    from otel_ml.demo import runner

    def start(self):
        raise AssertionError(f"the demo started in {self.run_dir}")
    monkeypatch.setattr(runner.DemoRun, "start", start)


def assert_one_line(status: int, err: str, *fragments: str) -> None:
    assert status == 2, err
    assert "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("otel-ml demo: error: "), err
    for fragment in fragments:
        assert fragment in err, err


@pytest.mark.parametrize("where", ["under_a_file", "a_file", "name_too_long", "secrets_is_a_file"])
def test_unusable_run_dir_is_one_line(capsys, tmp_path, no_demo_start, where):
    afile = tmp_path / "afile"
    afile.write_text("not a directory\n")
    if where == "secrets_is_a_file":  # an existing directory the demo cannot write its secrets into
        run_dir = tmp_path / "run"
        run_dir.mkdir()
        (run_dir / "secrets").write_text("")
    else:
        run_dir = {"under_a_file": afile / "x", "a_file": afile, "name_too_long": tmp_path / ("x" * 300)}[where]
    status, _, err = run_cli(capsys, "demo", "--run-dir", str(run_dir), "--no-alerting-binaries")
    assert_one_line(status, err, f"--run-dir {run_dir}")
    assert not (tmp_path / "afile").is_dir()


def test_unreadable_stack_dir_is_one_line(capsys, tmp_path, no_demo_start):
    stack_dir = tmp_path / ("x" * 300)  # the kernel refuses the name: OSError, not "not found"
    status, _, err = run_cli(capsys, "demo", "--stack-dir", str(stack_dir), "--run-dir", str(tmp_path / "run"))
    assert_one_line(status, err, f"--stack-dir {stack_dir}", "too long")
    assert not (tmp_path / "run").exists(), "no run directory for a demo that cannot start"


@pytest.mark.parametrize("kind", ["directory", "binary"])
def test_unreadable_routing_token_file_is_one_line(capsys, tmp_path, kind):
    path = tmp_path / "token"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"\xff\xfe\x00token")
    status, _, err = run_cli(capsys, "demo", "serve", "--routing-token-file", str(path))
    assert_one_line(status, err, f"--routing-token-file {path}")


def test_serve_help_names_the_routing_token_variable(capsys):
    status, out, _ = run_cli(capsys, "demo", "serve", "--help")
    flat = " ".join(out.split())
    assert status == 0 and "$OTEL_ML_REMEDIATE_ROUTING_TOKEN" in flat
    assert "$OTEL_ML_REMEDIATE_TOKEN" not in flat  # the admin token is no app's business
