"""otel-ml as a pip user gets it: the wheel built from this checkout, installed into fresh virtual
environments outside the checkout. Each is built once per test process and shared.

* ``built_wheel()``: ``pip wheel --no-deps`` of the checkout (the build hook adds the stack).
* ``full_venv()``: a fresh venv with the wheel installed ``--no-deps``; its dependencies (every
  extra) come from the test interpreter's site-packages through a ``.pth`` line, so nothing is
  downloaded. The editable install of the checkout there is not visible (a ``.pth`` path line does
  not run that directory's own ``.pth`` files), so ``otel_ml`` is the wheel's copy.
* ``base_venv()``: a fresh venv with the wheel and its base dependencies only (``pip install
  WHEEL``, served from pip's cache when warm): no extra installed.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Venv:
    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def otel_ml(self) -> Path:
        return self.root / "bin" / "otel-ml"

    def run(self, *args: str, cwd: Path, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
        """``otel-ml ARGS`` as a user runs it: from ``cwd``, with no PYTHONPATH into the checkout."""
        return subprocess.run([str(self.otel_ml), *args], capture_output=True, text=True, timeout=timeout,
                              cwd=cwd, env={**clean_env(), **(env or {})})


def clean_env() -> dict:
    """The test's environment without PYTHONPATH (which would put the checkout's otel_ml first)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _scratch(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path


def _run(argv: list, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600,
                            env=clean_env(), cwd=tempfile.gettempdir(), **kw)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({result.returncode}):\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@functools.lru_cache(maxsize=None)
def built_wheel() -> Path:
    """The wheel of this checkout (setuptools from the test interpreter: no build isolation)."""
    out = _scratch("otel-ml-wheel-")
    build = _scratch("otel-ml-build-")
    # build from a copy, so no build/ or egg-info is left in the checkout
    src = build / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "state",
        ".otel-ml-state", "benchmarks"))
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "--disable-pip-version-check", str(src), "-w", str(out)])
    (wheel,) = out.glob("otel_ml-*.whl")
    return wheel


def _venv(prefix: str) -> Venv:
    venv = Venv(_scratch(prefix) / "venv")
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv.root)])
    return venv


def _pip(venv: Venv, *args) -> None:
    # the test interpreter's pip drives the install into the fresh venv (--without-pip keeps it small)
    _run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", str(venv.python),
          "install", "-q", *args])


@functools.lru_cache(maxsize=None)
def full_venv() -> Venv:
    venv = _venv("otel-ml-full-")
    _pip(venv, "--no-deps", built_wheel())
    site = Path(_run([venv.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "zz-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


@functools.lru_cache(maxsize=None)
def base_venv() -> Venv:
    venv = _venv("otel-ml-base-")
    _pip(venv, built_wheel())
    return venv
