"""Checks shared by every settings class, so a bad value gets one wording everywhere:
``key.path: message, got X`` (``windows.count_size: must be between 1 and 100000, got 0``).

Every settings section is a frozen dataclass: its field declarations hold the defaults and a
one-line meaning (``setting(default, "...")``), its ``__post_init__`` checks values under keys
relative to the section, and ``from_mapping(cls, data, path)`` builds it from parsed YAML,
naming every error by its full key. Stdlib only."""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from dataclasses import MISSING, field, fields, is_dataclass
from typing import Any, Callable, Iterable, Mapping, TypeVar

from otel_ml.errors import ConfigError

__all__ = [
    "join", "check_mapping", "setting", "section_field", "section_types", "from_mapping", "rekey",
    "check_int", "check_positive_int", "check_number", "check_bool", "check_choice", "check_file",
    "parse_bool", "parse_int", "parse_float", "env_value", "parse_endpoint", "parse_duration",
]

T = TypeVar("T")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _fail(key: str, problem: str, shown: str) -> ConfigError:
    return ConfigError(key, f"{problem}, got {shown}")


def join(prefix: str, name: str) -> str:
    """The dotted key ``prefix.name`` (``name`` alone at the root)."""
    return f"{prefix}.{name}" if prefix else name


# -- declaring and reading settings sections ----------------------------------------------

def setting(default: Any = MISSING, doc: str = "", *, factory: Callable[[], Any] | None = None,
            entries: type | None = None) -> Any:
    """A settings field: its default (or ``factory``) and its one-line meaning, which the
    generated settings reference (``scripts/gen_settings_reference.py``) prints. ``entries``:
    the settings class of each value of a mapping keyed by name (e.g. per model)."""
    meta: dict[str, Any] = {"doc": doc}
    if entries is not None:
        meta["entries"] = entries
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def section_field(cls: type, doc: str = "") -> Any:
    """A nested settings section (a YAML mapping read with ``from_mapping``); default: ``cls()``."""
    return field(default_factory=cls, metadata={"doc": doc, "section": cls})


def section_types(cls: type) -> dict[str, type]:
    """The nested sections of settings class ``cls``: field name -> settings class."""
    return {f.name: f.metadata["section"] for f in fields(cls) if "section" in f.metadata}


def check_mapping(data: Any, key: str, allowed: Iterable[str], *, optional: bool = False,
                  renamed: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``data`` as a dict, if it is a mapping whose keys are all in ``allowed``.

    ``optional``: None counts as an empty mapping. A key of ``renamed`` (a former name) gets its
    message there (what to write instead); another unknown key is named in full, with the
    closest allowed key when there is one, else the allowed keys.
    """
    if data is None and optional:
        return {}
    if not isinstance(data, Mapping):
        raise _fail(key or "<root>", "must be a mapping", type(data).__name__)
    allowed = tuple(allowed)
    for name in data:
        if name in allowed:
            continue
        if renamed and name in renamed:
            raise ConfigError(join(key, str(name)), renamed[name])
        close = difflib.get_close_matches(str(name), allowed, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
        raise ConfigError(join(key, str(name)), f"unknown key ({hint})")
    return dict(data)


def rekey(prefix: str, build: Callable[[], T]) -> T:
    """``build()``; a ``ConfigError`` about a key relative to ``prefix`` is raised again with
    the full key ``prefix.key``."""
    try:
        return build()
    except ConfigError as exc:
        raise ConfigError(join(prefix, exc.key), exc.problem) from None


def from_mapping(cls: type[T], data: Any, path: str = "") -> T:
    """Settings class ``cls`` from a parsed YAML mapping (None: every default).

    Keys are the fields; a nested section (``section_field``) is read the same way; the
    class attribute ``RENAMED`` (former key -> what to write instead) answers a former name.
    The class checks its values in ``__post_init__``; every error names ``path.key``.
    """
    values = check_mapping(data, path, (f.name for f in fields(cls)), optional=True,
                           renamed=getattr(cls, "RENAMED", None))
    for name, sub in section_types(cls).items():
        if name in values:
            values[name] = from_mapping(sub, values[name], join(path, name))
    return rekey(path, lambda: cls(**values))


def as_plain(value: Any) -> Any:
    """Settings as plain data (dicts, lists, scalars): for comparisons, logs and docs."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): as_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_plain(v) for v in value]
    return value


# -- values -------------------------------------------------------------------------------

def _show(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def _bounds(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    """``between 1 and 10``, ``> 0``, ``> 0 and <= 1``, ... ("" without bounds)."""
    if lo is not None and hi is not None and not (lo_open or hi_open):
        return f"between {_show(lo)} and {_show(hi)}"
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {_show(lo)}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {_show(hi)}")
    return " and ".join(parts)


def _check_bounds(key: str, value: float, lo: float | None, hi: float | None, lo_open: bool,
                  hi_open: bool) -> None:
    if not math.isfinite(value):
        problem = f"must be a finite number {_bounds(lo, hi, lo_open, hi_open)}".rstrip()
        raise _fail(key, problem, repr(value))
    too_low = lo is not None and (value <= lo if lo_open else value < lo)
    too_high = hi is not None and (value >= hi if hi_open else value > hi)
    if too_low or too_high:
        raise _fail(key, f"must be {_bounds(lo, hi, lo_open, hi_open)}", repr(value))


def check_int(key: str, value: Any, lo: int | None = None, hi: int | None = None, *,
              lo_open: bool = False, allow_none: bool = False) -> int | None:
    """``value``, if it is an integer (not a bool) within ``[lo, hi]`` (``(lo, ...`` if ``lo_open``)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(key, "must be an integer", repr(value))
    _check_bounds(key, value, lo, hi, lo_open, False)
    return value


def check_positive_int(key: str, value: Any) -> int:
    """``value``, if it is an integer >= 1 (a count)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(key, "must be a positive integer", repr(value))
    return value


def check_number(key: str, value: Any, lo: float | None = None, hi: float | None = None, *,
                 lo_open: bool = False, hi_open: bool = False, allow_none: bool = False) -> float | None:
    """``float(value)``, if it is a finite number (not a bool) within the bounds (closed unless open)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(key, "must be a number", repr(value))
    _check_bounds(key, value, lo, hi, lo_open, hi_open)
    return float(value)


def check_bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(key, "must be true or false", repr(value))
    return value


def check_choice(key: str, value: Any, options: Iterable[str]) -> str:
    options = tuple(options)
    if value not in options:
        raise _fail(key, f"must be one of {', '.join(options)}", repr(value))
    return value


def check_file(key: str, path: Any) -> str | None:
    """``path`` (None allowed), if it names an existing file."""
    if path is None:
        return None
    if not isinstance(path, str) or not path:
        raise _fail(key, "must be a file path", repr(path))
    if not os.path.isfile(path):
        raise ConfigError(key, f"file not found: {path}")
    return path


# -- environment variables ----------------------------------------------------------------

def parse_bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("must be true or false")


def parse_int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("must be an integer") from None


def parse_float(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError("must be a number") from None


def env_value(key: str, raw: str, parse: Callable[[str], T]) -> T:
    """``parse(raw)``; a ``ValueError`` becomes a ``ConfigError`` quoting ``raw``."""
    try:
        return parse(raw)
    except ValueError as exc:
        raise _fail(key, str(exc), repr(raw)) from None


# -- addresses and durations ----------------------------------------------------------------

def parse_endpoint(value: Any, key: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` for IPv6) into its parts; ``ConfigError(key, ...)`` if bad.

    ``key`` names the setting or the flag (``receiver.grpc_endpoint``, ``--listen``)."""
    if not isinstance(value, str) or ":" not in value:
        raise _fail(key, "must be 'host:port'", repr(value))
    host, _, port_text = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise _fail(key, "an IPv6 host must be in brackets, e.g. '[::1]:4317'", repr(value))
    if not host:
        raise _fail(key, "host is missing", repr(value))
    if not (port_text.isascii() and port_text.isdigit()) or not 0 <= int(port_text) <= 65535:
        raise _fail(key, "port must be an integer 0..65535", repr(port_text))
    return host, int(port_text)


_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000,
                "w": 7 * 86_400_000, "y": 365 * 86_400_000}


def parse_duration(value: Any, key: str = "duration", *, numbers: bool = False) -> float:
    """Seconds of a Prometheus duration: whole numbers with units ``ms s m h d w y``, combined
    (``90s``, ``15m``, ``1h30m``, ``500ms``). ``numbers``: a YAML number (not a string) is a
    count of seconds too. Negative, fractional (``1.5h``: write ``90m``) or unitless text is a
    ``ConfigError(key, ...)``."""
    expected = ("must be a duration such as 30s, 15m, 1h30m or a number of seconds" if numbers
                else "must be a duration such as 30s, 15m or 1h30m")
    if numbers and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise _fail(key, "must be a non-negative number of seconds", repr(value))
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise _fail(key, expected, repr(value))
    text = value.strip()
    pos, total_ms = 0, 0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total_ms += int(m.group(1)) * _DURATION_MS[m.group(2)]
        pos = m.end()
    if pos != len(text):
        raise _fail(key, expected, repr(value))
    return total_ms / 1000.0
