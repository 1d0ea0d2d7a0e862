"""`otel-ml processor` user mistakes: one line on stderr, exit code 2, never a traceback."""

from __future__ import annotations

import socket
import subprocess

import pytest

from otel_ml.cli import main
from tests.service.processor_process import OTEL_ML, ROOT


def run_main(capsys, *args: str) -> tuple[int, str]:
    code = main(["processor", "--grpc-endpoint", "127.0.0.1:0", "--http-endpoint", "127.0.0.1:0",
                 "--metrics-endpoint", "127.0.0.1:0", *args])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("otel-ml processor: error:")]
    return code, lines[0] if len(lines) == 1 else err


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("OTEL_ML_CONFIG", "OTEL_ML_PROFILES", "OTEL_ML_STATE_DIR", "OTEL_ML_GRPC_ENDPOINT",
                "OTEL_ML_HTTP_ENDPOINT", "OTEL_ML_METRICS_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)


def test_missing_config_file(capsys, tmp_path):
    code, line = run_main(capsys, "--config", str(tmp_path / "nope.yml"))
    assert code == 2
    assert line == f"otel-ml processor: error: config file not found: {tmp_path / 'nope.yml'}"


def test_bad_yaml(capsys, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("receiver: {grpc_endpoint: [\n")
    code, line = run_main(capsys, "--config", str(bad))
    assert code == 2 and line.startswith(f"otel-ml processor: error: {bad}: line ") and "invalid YAML" in line


def test_bad_endpoint_flag_names_the_key_and_the_source(capsys):
    code = main(["processor", "--grpc-endpoint", "nohost"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == ("otel-ml processor: error: receiver.grpc_endpoint: must be 'host:port', got 'nohost' "
                   "(set by command line)")


def test_port_in_use(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, line = run_main(capsys, "--metrics-endpoint", f"127.0.0.1:{port}")
    assert code == 2
    assert line.startswith(f"otel-ml processor: error: export.metrics_endpoint: cannot listen on 127.0.0.1:{port}")


def test_missing_profile_file_in_a_real_process(tmp_path):
    result = subprocess.run([OTEL_ML, "processor", "--profile", f"iris:1={tmp_path / 'iris.json'}",
                             "--grpc-endpoint", "127.0.0.1:0", "--http-endpoint", "127.0.0.1:0",
                             "--metrics-endpoint", "127.0.0.1:0"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert errors == [f"otel-ml processor: error: profile {tmp_path / 'iris.json'}: no such file"]
    assert "listening on" not in result.stdout


def test_help_lists_every_flag(capsys):
    with pytest.raises(SystemExit) as info:
        main(["processor", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--config", "--grpc-endpoint", "--http-endpoint", "--metrics-endpoint", "--state-dir",
                 "--profile", "--log-level"):
        assert flag in out
