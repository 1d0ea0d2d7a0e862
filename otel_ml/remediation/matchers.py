"""Alertmanager-style label matchers (``name="v"``, ``!=``, ``=~``, ``!~``) for the policy.

Same semantics as Alertmanager: regular expressions are anchored (they must match the whole
value) and a missing label reads as the empty string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from otel_ml.errors import OtelMlError

__all__ = ["Matcher", "parse_matcher", "MatcherSyntaxError"]

_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


class MatcherSyntaxError(OtelMlError, ValueError):
    """A matcher string that does not read as ``label OP value``."""


@dataclass(frozen=True)
class Matcher:
    """One label condition; ``op`` is one of ``=``, ``!=``, ``=~``, ``!~``."""

    name: str
    op: str
    value: str
    _regex: re.Pattern | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if not _LABEL_NAME.fullmatch(self.name):
            raise MatcherSyntaxError(f"invalid label name {self.name!r}")
        if self.op not in ("=", "!=", "=~", "!~"):
            raise MatcherSyntaxError(f"invalid operator {self.op!r} (use =, !=, =~ or !~)")
        if self.op in ("=~", "!~"):
            try:
                object.__setattr__(self, "_regex", re.compile(self.value, re.DOTALL))
            except re.error as exc:
                raise MatcherSyntaxError(f"invalid regular expression {self.value!r}: {exc}") from None

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = self._regex.fullmatch(actual) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher as written in Alertmanager's ``matchers:`` lists; value quotes optional."""
    if not isinstance(text, str):
        raise MatcherSyntaxError(f"expected a string like 'severity=\"critical\"', got {type(text).__name__}")
    m = _MATCHER.match(text)
    if not m:
        raise MatcherSyntaxError(f"{text!r} is not 'label OP value' with OP one of =, !=, =~, !~")
    name, op, raw = m.groups()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        value = re.sub(r'\\[\\"n]', lambda e: _ESCAPES[e.group(0)], raw[1:-1])
    elif '"' in raw:
        raise MatcherSyntaxError(f"{text!r}: unbalanced quotes in the value")
    else:
        value = raw
    return Matcher(name, op, value)
