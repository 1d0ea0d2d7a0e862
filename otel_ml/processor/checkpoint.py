"""Checkpoints: each component's ``snapshot()`` written atomically to the state directory.

One file per component (``<state_dir>/<name>.checkpoint.json``), so a damaged file costs only
that component's state. A file is JSON with a format version and a SHA-256 of its payload;
the payload is the component's snapshot encoded by ``state_codec`` (numpy arrays and ``bytes``
tagged, base64) so sketches and reservoirs round-trip exactly. Writes go to a temporary file in
the same directory, are fsynced, renamed over the old file with ``os.replace`` and the directory is fsynced, so
a crash leaves either the old or the new checkpoint, never half of one. A checkpoint that
cannot be read is moved aside as ``*.corrupt`` and the component starts empty.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import time
from pathlib import Path

from otel_ml.atomic_file import fsync_dir, write_atomic
from otel_ml.errors import UserError
from otel_ml.processor.state_codec import CheckpointError, decode_state, encode_state

__all__ = [
    "CheckpointError",
    "CheckpointStore",
    "StateDirLocked",
    "encode_state",
    "decode_state",
    "FORMAT_VERSION",
]

_log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_SUFFIX = ".checkpoint.json"


class StateDirLocked(UserError):
    """Another processor holds the state directory."""


# -- store ----------------------------------------------------------------------------------

class CheckpointStore:
    """Reads and writes component checkpoints in one state directory (held with a lock file)."""

    def __init__(self, state_dir: str | os.PathLike):
        self.state_dir = Path(state_dir)
        self._lock_fd: int | None = None

    def open(self) -> None:
        """Create the directory and take its lock; a second processor on it gets ``StateDirLocked``."""
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.state_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UserError(f"state.state_dir: cannot use {str(self.state_dir)!r}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise StateDirLocked(
                f"state.state_dir: {str(self.state_dir)!r} is in use by another otel-ml processor") from exc
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def path_for(self, name: str) -> Path:
        return self.state_dir / f"{name}{_SUFFIX}"

    def save(self, name: str, state: dict, now: float | None = None) -> Path:
        """Write one component's state atomically; returns the file's path."""
        payload = json.dumps(encode_state(state, name), separators=(",", ":"), allow_nan=False)
        doc = {
            "format": FORMAT_VERSION,
            "component": name,
            "written_at": time.time() if now is None else now,
            "sha256": hashlib.sha256(payload.encode("utf-8")).hexdigest(),
        }
        text = json.dumps(doc, separators=(",", ":"))[:-1] + ',"state":' + payload + "}"
        return write_atomic(self.path_for(name), text.encode("utf-8"))

    def load(self, name: str) -> dict | None:
        """The state saved for ``name``; None when there is none. Raises ``CheckpointError`` when damaged."""
        path = self.path_for(name)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckpointError(f"{path}: cannot read: {exc.strerror}") from exc
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{path}: not a checkpoint (invalid JSON: {exc})") from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT_VERSION or "state" not in doc:
            found = doc.get("format") if isinstance(doc, dict) else None
            raise CheckpointError(f"{path}: unsupported checkpoint format {found!r} "
                                  f"(expected {FORMAT_VERSION})")
        payload = json.dumps(doc["state"], separators=(",", ":"), allow_nan=False)
        if hashlib.sha256(payload.encode("utf-8")).hexdigest() != doc.get("sha256"):
            raise CheckpointError(f"{path}: checksum mismatch (file damaged)")
        try:
            state = decode_state(doc["state"])
        except (KeyError, TypeError, ValueError, CheckpointError) as exc:
            raise CheckpointError(f"{path}: undecodable state: {exc}") from exc
        if not isinstance(state, dict):
            raise CheckpointError(f"{path}: state is a {type(state).__name__}, expected a mapping")
        return state

    def written_at(self, name: str) -> float | None:
        """The ``written_at`` time of ``name``'s checkpoint (None when absent or unreadable)."""
        try:
            doc = json.loads(self.path_for(name).read_bytes())
            return float(doc["written_at"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def quarantine(self, name: str) -> Path | None:
        """Move a damaged checkpoint aside as ``*.corrupt`` (kept for inspection); returns the new path."""
        path = self.path_for(name)
        if not path.exists():
            return None
        dest = path.with_name(path.name + ".corrupt")
        if dest.exists():
            dest = path.with_name(f"{path.name}.{int(time.time())}.corrupt")
        os.replace(path, dest)
        fsync_dir(self.state_dir)
        return dest
