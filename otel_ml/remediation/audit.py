"""Append-only audit log: one JSON object per line for every remediation decision and its reason.

The file is opened with ``O_APPEND`` and each record goes out in a single ``write``, so
concurrent writers never interleave; ``fsync`` follows each record, or each batch (the decisions
on one notification, before the webhook answers). Nothing here ever truncates or rewrites the file.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from otel_ml.errors import UserError

__all__ = ["AuditLog", "AuditLogError", "read_audit"]


class AuditLogError(UserError):
    """The audit log cannot be opened (its folder cannot be made, no permission, ...)."""


class AuditLog:
    """Appends records with ``ts`` (RFC 3339, UTC) and ``ts_unix`` added."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time, fsync: bool = True):
        self.path = Path(path)
        self._clock = clock
        self._fsync = fsync
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise AuditLogError(f"cannot open audit log {self.path}: {exc.strerror or exc}") from None

    def write(self, record: dict[str, Any], *, sync: bool = True) -> dict[str, Any]:
        """Append one record; ``sync=False`` defers the fsync to a later ``sync()`` (batches)."""
        now = self._clock()
        full = {"ts": _dt.datetime.fromtimestamp(now, _dt.timezone.utc).isoformat(timespec="milliseconds"),
                "ts_unix": round(now, 3), **record}
        line = (json.dumps(full, ensure_ascii=False, sort_keys=False, default=str) + "\n").encode("utf-8")
        with self._lock:
            if self._fd < 0:
                raise ValueError("audit log is closed")
            os.write(self._fd, line)
            if self._fsync and sync:
                os.fsync(self._fd)
        return full

    def sync(self) -> None:
        """Make every record written so far durable."""
        with self._lock:
            if self._fd >= 0 and self._fsync:
                os.fsync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def read_audit(path: str | Path) -> list[dict]:
    """Every record in an audit log file (for tests and tooling)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
