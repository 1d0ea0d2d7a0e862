"""Crash-safe JSON state files: write to a temporary file, fsync, rename over the old one."""

from __future__ import annotations

import json
from pathlib import Path

from otel_ml.atomic_file import write_atomic
from otel_ml.errors import UserError

__all__ = ["write_json_atomic", "read_json", "StateFileError"]


class StateFileError(UserError):
    """A state file exists but cannot be read back; refusing to start beats forgetting state."""


def write_json_atomic(path: Path, data: dict) -> None:
    """Replace ``path`` with ``data``; a crash leaves either the old or the new file, whole."""
    text = json.dumps(data, separators=(",", ":"), sort_keys=True)  # C encoder, unlike dump()
    write_atomic(path, text.encode("utf-8"))


def read_json(path: Path) -> dict | None:
    """The file's object, or ``None`` when it does not exist yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(f"cannot read state file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateFileError(f"state file {path} is corrupt ({exc}); move it away to start afresh") from None
    if not isinstance(data, dict):
        raise StateFileError(f"state file {path} is corrupt (not a JSON object); move it away to start afresh")
    return data
