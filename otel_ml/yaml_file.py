"""Reading a YAML file that holds a mapping (the processor's config, the remediation policy).

Every problem is one ``UserError`` line: a missing or unreadable file, bad YAML as
``FILE: line 3, column 7: invalid YAML: expected ',' or ']', but got ':'``, or a document that
is not a mapping. PyYAML is imported on first use, so importing this module costs nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from otel_ml.errors import UserError

__all__ = ["load_yaml_mapping"]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def load_yaml_mapping(path: str | os.PathLike, what: str) -> dict[str, Any]:
    """The mapping in the YAML file ``path`` (``{}`` for an empty document).

    ``what`` names the file in the errors: ``config file not found: /etc/x.yml``."""
    import yaml  # the processor extra; imported here so this module stays importable without it

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{what} not found: {p}") from None
    except OSError as exc:
        raise UserError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"cannot read {what} {p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["unreadable"])[0]
        raise UserError(f"{p}:{where} invalid YAML: {_one_line(problem)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{p}: the configuration must be a YAML mapping, got {type(data).__name__}")
    return data
