"""Start the real Prometheus and Alertmanager (Debian packages) on free loopback ports.

Missing binaries fail the test with the command that installs them; they are never skipped,
because CI must prove the real alert path.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from otel_ml._support.processes import ManagedProcess as SharedManagedProcess

from .waiting import PollAborted, free_port, wait_until

INSTALL_HINT = "run scripts/test.sh as root (or: sudo apt-get install -y prometheus prometheus-alertmanager)"


def binary(*names: str) -> str:
    """Absolute path of the first of ``names`` on PATH; fails the test when none is installed."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(f"required binary {' or '.join(names)} not found: {INSTALL_HINT}", pytrace=False)


def promtool() -> str:
    return binary("promtool")


def amtool() -> str:
    return binary("amtool")


class ManagedProcess(SharedManagedProcess):
    """The package's ManagedProcess (``otel_ml._support.processes``) with the tests' conventions:
    the log in ``workdir/log_name``, ``env`` added to the test's environment, and ``alive()``
    for ``wait_until`` predicates."""

    def __init__(self, argv: list[str], workdir: Path, log_name: str, *, cwd: Path | None = None,
                 env: dict | None = None):
        super().__init__(argv, Path(workdir) / log_name, cwd=cwd or workdir, env={**os.environ, **(env or {})})

    def alive(self) -> bool:
        """A ``wait_until`` predicate piece: aborts the wait at once when the process has exited."""
        if self.proc.poll() is not None:
            raise PollAborted(f"{self.proc.args[:3]} exited: {self.log()[-3000:]}")
        return True

    def _wait_ready(self, message: str) -> None:
        """Poll ``_probe`` (up to 60 s; at once ``PollAborted`` when the process exits); on any
        failure the process is stopped and its log closed before the error propagates."""
        try:
            wait_until(self._probe, timeout=60, message=message)
        except BaseException:
            self.stop()
            raise

    def stop(self, grace_s: float = 15.0):
        return super().stop(grace_s)


def http_json(url: str, data: bytes | None = None, timeout: float = 5.0):
    req = urllib.request.Request(url, data=data)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


class Prometheus(ManagedProcess):
    """A real Prometheus on 127.0.0.1 with the given configuration text."""

    def __init__(self, config_text: str, workdir: Path | None = None, extra_args: list[str] = ()):
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="prom-"))
        self.port = free_port()
        cfg = self.workdir / "prometheus.yml"
        cfg.write_text(config_text)
        argv = [binary("prometheus"), f"--config.file={cfg}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-lifecycle",
                *extra_args]
        super().__init__(argv, self.workdir, "prometheus.log")
        self._wait_ready(f"prometheus ready on {self.port}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _probe(self):
        if self.proc.poll() is not None:
            raise PollAborted(f"prometheus exited with status {self.proc.returncode} at start-up: "
                              f"{self.log()[-2000:]}")
        with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
            return r.status == 200

    def query(self, expr: str) -> list[dict]:
        """Instant query; returns the result vector (raises on a PromQL error)."""
        body = http_json(self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        if body.get("status") != "success":
            raise RuntimeError(f"query {expr!r} failed: {body}")
        return body["data"]["result"]

    def alerts(self) -> list[dict]:
        return http_json(self.url + "/api/v1/alerts")["data"]["alerts"]

    def targets_up(self) -> bool:
        active = http_json(self.url + "/api/v1/targets")["data"]["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)


class Alertmanager(ManagedProcess):
    """A real Alertmanager on 127.0.0.1 with the given configuration text."""

    def __init__(self, config_text: str, workdir: Path | None = None, extra_args: list[str] = ()):
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="am-"))
        self.port = free_port()
        cfg = self.workdir / "alertmanager.yml"
        cfg.write_text(config_text)
        argv = [binary("prometheus-alertmanager", "alertmanager"), f"--config.file={cfg}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                # no gossip: a single instance with no cluster port to collide on
                "--cluster.listen-address=", *extra_args]
        super().__init__(argv, self.workdir, "alertmanager.log")
        self._wait_ready(f"alertmanager ready on {self.port}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _probe(self):
        if self.proc.poll() is not None:
            raise PollAborted(f"alertmanager exited with status {self.proc.returncode} at start-up: "
                              f"{self.log()[-2000:]}")
        with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
            return r.status == 200

    def alerts(self) -> list[dict]:
        return http_json(self.url + "/api/v2/alerts")
