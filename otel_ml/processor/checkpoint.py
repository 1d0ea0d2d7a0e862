"""Checkpoints: each component's ``snapshot()`` written atomically to the state directory.

One file per component (``<state_dir>/<name>.checkpoint.json``), so a damaged file costs only
that component's state. A file is JSON with a format version and a SHA-256 of its payload;
the payload encodes plain data plus ``bytes`` and numpy arrays (tagged, base64) so sketches
and reservoirs round-trip exactly. Writes go to a temporary file in the same directory,
are fsynced, renamed over the old file with ``os.replace`` and the directory is fsynced, so
a crash leaves either the old or the new checkpoint, never half of one. A checkpoint that
cannot be read is moved aside as ``*.corrupt`` and the component starts empty.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from otel_ml.atomic_file import fsync_dir, write_atomic
from otel_ml.errors import OtelMlError, UserError

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
_TAG = "__otel_ml__"


class CheckpointError(OtelMlError):
    """A state cannot be encoded, or a checkpoint file cannot be decoded."""


class StateDirLocked(UserError):
    """Another processor holds the state directory."""


# -- codec ----------------------------------------------------------------------------------

def encode_state(value: Any, path: str = "$") -> Any:
    """Turn a snapshot into JSON-ready data; ``path`` names the position in errors."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {_TAG: "float", "v": repr(value)}
    if isinstance(value, np.generic):
        return encode_state(value.item(), path)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {_TAG: "bytes", "v": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return {_TAG: "objarray", "v": encode_state(value.tolist(), path)}
        arr = np.ascontiguousarray(value)
        return {_TAG: "ndarray", "dtype": arr.dtype.str, "shape": list(arr.shape),
                "v": base64.b64encode(arr.tobytes()).decode("ascii")}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and _TAG not in value:
            return {k: encode_state(v, f"{path}.{k}") for k, v in value.items()}
        return {_TAG: "map", "v": [[encode_state(k, f"{path}<key>"), encode_state(v, f"{path}[{k!r}]")]
                                   for k, v in value.items()]}
    if isinstance(value, list):
        return [encode_state(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {_TAG: "tuple", "v": [encode_state(v, f"{path}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, (set, frozenset)):
        return {_TAG: "set", "v": [encode_state(v, f"{path}[]") for v in value]}
    raise CheckpointError(f"{path}: cannot checkpoint a value of type {type(value).__name__}")


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def decode_state(data: Any) -> Any:
    """Inverse of ``encode_state``."""
    if isinstance(data, list):
        return [decode_state(v) for v in data]
    if not isinstance(data, dict):
        return data
    tag = data.get(_TAG)
    if tag is None:
        return {k: decode_state(v) for k, v in data.items()}
    v = data["v"]
    if tag == "float":
        return float(v)
    if tag == "bytes":
        return base64.b64decode(v)
    if tag == "ndarray":
        raw = base64.b64decode(v)
        return np.frombuffer(raw, dtype=np.dtype(data["dtype"])).reshape(data["shape"]).copy()
    if tag == "objarray":
        return np.array(decode_state(v), dtype=object)
    if tag == "map":
        return {_hashable(decode_state(k)): decode_state(val) for k, val in v}
    if tag == "tuple":
        return tuple(decode_state(x) for x in v)
    if tag == "set":
        return {_hashable(decode_state(x)) for x in v}
    raise CheckpointError(f"unknown tag {tag!r}")


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
