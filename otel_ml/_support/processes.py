"""Child processes with their output in a log file, a readiness probe polled with a deadline,
and a stop that escalates from SIGTERM to SIGKILL; plus free loopback ports and a GET probe.

The demo runs the processor, the remediation service, Prometheus and Alertmanager with these;
the test suite's ``tests/support/procs.py`` builds on the same class.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Sequence

from otel_ml.errors import UserError

__all__ = ["ManagedProcess", "ProcessFailed", "free_port", "free_ports", "http_ok", "wait_for"]


class ProcessFailed(UserError):
    """A background process could not start, exited or did not become ready; names its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports on 127.0.0.1 that are free right now (all held while choosing)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """True when GET ``url`` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; returns the last result."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)  # the poll interval, not a wait for a state


class ManagedProcess:
    """A child process with its output in ``log_path`` and an optional readiness probe."""

    def __init__(self, argv: Sequence[str], log_path: Path, *, name: str | None = None,
                 ready: Callable[[], bool] | None = None, cwd: Path | None = None, env: dict | None = None):
        self.argv = [str(a) for a in argv]
        self.name = name or Path(self.argv[0]).name
        self.log_path = Path(log_path)
        self._ready = ready
        self._log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=cwd, env=env)
        except OSError as exc:
            self._log.close()
            raise ProcessFailed(f"cannot start {self.name} ({self.argv[0]}): {exc.strerror or exc}") from None

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        """The whole log so far."""
        if not self._log.closed:
            self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 5) -> str:
        return "\n".join(self.log().strip().splitlines()[-lines:])

    def check_running(self) -> None:
        """``ProcessFailed`` naming the log when the process has exited."""
        if not self.running:
            raise ProcessFailed(f"{self.name} exited with status {self.proc.returncode}; "
                                f"see {self.log_path}: {self.log_tail(1)}")

    def wait_ready(self, timeout: float) -> None:
        """Block until the probe passes; ``ProcessFailed`` when the process dies or time runs out."""
        def probe() -> bool:
            self.check_running()
            return self._ready is None or bool(self._ready())

        if not wait_for(probe, timeout):
            raise ProcessFailed(f"{self.name} not ready after {timeout:.0f}s; see {self.log_path}")

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM) without waiting; ``stop()`` then waits."""
        if self.proc.poll() is None:
            self.proc.terminate()

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace_s``; idempotent. Returns the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode
