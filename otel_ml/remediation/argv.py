"""Command lines from the policy, with alert values substituted as inert data.

A policy command is an argv list. An element may hold template fields such as ``{model}`` or
``{label.team}``; each element renders to exactly one argument, whatever the value holds
(spaces, quotes, ``;``, ``$(...)``): no shell ever sees it. Two more guards: a value with a NUL
byte is refused, and so is a value starting with ``-`` that fills a whole element (it would
read as an option); write ``--model={model}`` instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence, Union

from otel_ml.errors import OtelMlError

__all__ = ["ArgvTemplate", "TemplateError", "UnsafeArgumentError", "FIELDS"]

#: Template fields a command element may use, besides ``{label.NAME}``.
FIELDS = ("model", "version", "alertname", "severity", "status", "fingerprint", "rule",
                "action", "phase")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_LABEL_KEY = re.compile(r"label\.[A-Za-z_][A-Za-z0-9_]*")

_Part = Union[str, tuple]  # literal text, or ("ph", key)


class TemplateError(OtelMlError, ValueError):
    """A command element with an unknown template field or an unpaired brace."""


class UnsafeArgumentError(OtelMlError, ValueError):
    """An alert value that cannot be passed safely as an argument."""


@dataclass(frozen=True)
class _Element:
    parts: tuple[_Part, ...]

    @property
    def is_single_field(self) -> bool:
        return len(self.parts) == 1 and isinstance(self.parts[0], tuple)


def _parse_element(text: str) -> _Element:
    parts: list[_Part] = []
    literal: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        literal.append(text[pos:m.start()])
        pos = m.end()
        token = m.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
            continue
        if m.group(1) is None:
            raise TemplateError(f"unpaired '{token}' in {text!r} (write '{token * 2}' for a literal brace)")
        key = m.group(1).strip()
        if key not in FIELDS and not _LABEL_KEY.fullmatch(key):
            allowed = ", ".join("{%s}" % p for p in FIELDS)
            raise TemplateError(f"unknown template field {{{key}}} in {text!r}; allowed: {allowed}, {{label.NAME}}")
        if "".join(literal):
            parts.append("".join(literal))
        literal = []
        parts.append(("ph", key))
    literal.append(text[pos:])
    if "".join(literal):
        parts.append("".join(literal))
    return _Element(tuple(parts))


@dataclass(frozen=True)
class ArgvTemplate:
    """A validated argv list; ``render`` substitutes template fields element by element."""

    elements: tuple[_Element, ...]
    source: tuple[str, ...]

    @classmethod
    def parse(cls, argv: Sequence[str]) -> "ArgvTemplate":
        """Validate ``argv``; raises ``TemplateError`` with the element's index on a bad one."""
        if not argv:
            raise TemplateError("must be a non-empty list: the program followed by its arguments")
        elements = []
        for i, item in enumerate(argv):
            if not isinstance(item, str):
                raise TemplateError(f"[{i}] must be a string, got {type(item).__name__}")
            try:
                elements.append(_parse_element(item))
            except TemplateError as exc:
                raise TemplateError(f"[{i}] {exc}") from None
        if any(isinstance(p, tuple) for p in elements[0].parts):
            raise TemplateError("[0] the program must be a fixed path, not a template field")
        return cls(tuple(elements), tuple(argv))

    def render(self, values: Mapping[str, str]) -> list[str]:
        """One string per element. Missing values render empty.

        Raises ``UnsafeArgumentError`` for a NUL byte, or for a whole-element value that
        starts with '-' (it would be read as an option).
        """
        out = []
        for i, element in enumerate(self.elements):
            pieces = []
            for part in element.parts:
                if isinstance(part, tuple):
                    value = str(values.get(part[1], ""))
                    if "\x00" in value:
                        raise UnsafeArgumentError(f"argument {i}: value of {{{part[1]}}} contains a NUL byte")
                    if element.is_single_field and value.startswith("-"):
                        raise UnsafeArgumentError(
                            f"argument {i}: value of {{{part[1]}}} starts with '-' and would read as an "
                            f"option; write the element as --name={{{part[1]}}}")
                    pieces.append(value)
                else:
                    pieces.append(part)
            out.append("".join(pieces))
        return out
