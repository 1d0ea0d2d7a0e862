"""Static checks every change must pass: no undefined names, unused imports or syntax errors."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_pyflakes_rules_are_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is part of the dev extra: run scripts/setup.sh dev"
    result = subprocess.run([ruff, "check", "--select", "F,E9", "--no-cache", "otel_ml", "tests",
                             "benchmarks", "scripts"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_metric_reference_is_generated_from_semconv():
    result = subprocess.run([sys.executable, "scripts/gen_metric_reference.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
