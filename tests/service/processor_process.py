"""``otel-ml processor`` as a real subprocess on free loopback ports, and reading its /metrics."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
OTEL_ML = str(Path(sys.executable).with_name("otel-ml"))
_LISTEN = re.compile(r"(OTLP/gRPC|OTLP/HTTP|metrics) listening on (?:https?://)?[^:]+:(\d+)")


class ProcessorProcess:
    """Starts ``otel-ml processor`` with ``args`` (ports 0), waits for its three listening lines."""

    def __init__(self, workdir: Path, args: list[str], env: dict | None = None, name: str = "processor"):
        self.stderr_path = workdir / f"{name}.stderr.log"
        self._stderr = open(self.stderr_path, "wb")
        argv = [OTEL_ML, "processor", "--grpc-endpoint", "127.0.0.1:0", "--http-endpoint", "127.0.0.1:0",
                "--metrics-endpoint", "127.0.0.1:0", *args]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        full_env.update(env or {})
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._stderr, cwd=ROOT,
                                     env=full_env, text=True)
        self.ports: dict[str, int] = {}
        #: the "listening on" lines, as printed
        self.banner: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        wait_until(self._listening, timeout=60, message=f"{name} listening lines")

    def _read_stdout(self):
        for line in self.proc.stdout:
            self._lines.put(line)

    def _listening(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"processor exited {self.proc.returncode}: {self.log()[-3000:]}")
        while not self._lines.empty():
            line = self._lines.get()
            match = _LISTEN.search(line)
            if match:
                self.ports[match.group(1)] = int(match.group(2))
                self.banner.append(line.strip())
        return len(self.ports) == 3

    @property
    def grpc_port(self) -> int:
        return self.ports["OTLP/gRPC"]

    @property
    def http_port(self) -> int:
        return self.ports["OTLP/HTTP"]

    @property
    def metrics_port(self) -> int:
        return self.ports["metrics"]

    def log(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def scrape(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()

    def value(self, series: str, **labels: str) -> float | None:
        """The value of the one sample of ``series`` whose labels include ``labels`` (None if absent)."""
        return sample(self.scrape(), series, **labels)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._stderr.close()

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._stderr.close()
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._stderr.closed:
            self._stderr.close()


def sample(text: str, series: str, **labels: str) -> float | None:
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    found = [line for line in text.splitlines()
             if (line.startswith(series + "{") or line.startswith(series + " "))
             and all(w in line for w in wanted)]
    if not found:
        return None
    assert len(found) == 1, found
    return float(found[0].rsplit(" ", 1)[1])


def total(text: str, series: str, **labels: str) -> float:
    """Sum of every sample of ``series`` whose labels include ``labels``."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(series + "{") and all(w in line for w in wanted))
