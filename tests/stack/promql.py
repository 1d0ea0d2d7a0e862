"""Just enough PromQL reading for the wiring tests: metric names and label matchers of selectors.

A tokenizer, not a parser: strings, range durations and label lists (by, without, on, ignoring,
group_left, group_right) are skipped; an identifier that is neither a keyword nor followed by "("
is a metric name; "{...}" after it holds its matchers. Syntax is checked elsewhere (promtool for
rules, a real Prometheus for dashboard queries).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<number>(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)(?:[smhdwy]|ms)*)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){},@])
""", re.VERBOSE)

KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan", "start", "end"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
_LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}


class PromQLSyntaxError(ValueError):
    """The tokenizer met a character PromQL does not have."""


@dataclass
class Selector:
    name: str | None
    matchers: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (op, value)


def tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            raise PromQLSyntaxError(f"unexpected {expr[pos:pos + 20]!r} in {expr!r}")
        kind = m.lastgroup
        if kind not in ("ws", "comment"):
            out.append((kind, m.group()))
        pos = m.end()
    return out


def _unquote(s: str) -> str:
    return s[1:-1]


def selectors(expr: str) -> list[Selector]:
    """Every vector selector of ``expr`` with its label matchers."""
    toks = tokens(expr)
    found: list[Selector] = []
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else ""
        if kind == "ident" and text in _LABEL_LISTS and nxt == "(":
            i = _skip_parens(toks, i + 1)
            continue
        if kind == "ident" and (text in KEYWORDS or text in AGGREGATIONS or nxt == "("):
            i += 1
            continue
        if kind == "ident" or (kind == "op" and text == "{"):
            sel = Selector(text if kind == "ident" else None)
            j = i + 1 if kind == "ident" else i
            if j < len(toks) and toks[j][1] == "{":
                j = _read_matchers(toks, j, sel)
            found.append(sel)
            i = j
            continue
        i += 1
    return found


def metric_names(expr: str) -> set[str]:
    names = set()
    for sel in selectors(expr):
        if sel.name:
            names.add(sel.name)
        elif "__name__" in sel.matchers and sel.matchers["__name__"][0] == "=":
            names.add(sel.matchers["__name__"][1])
    return names


def label_list_values(expr: str, keyword: str) -> set[str]:
    """Labels named in every ``keyword (...)`` clause, e.g. the output labels of ``by``."""
    toks, labels = tokens(expr), set()
    for i, (kind, text) in enumerate(toks):
        if kind == "ident" and text == keyword and i + 1 < len(toks) and toks[i + 1][1] == "(":
            j = i + 2
            while j < len(toks) and toks[j][1] != ")":
                if toks[j][0] == "ident":
                    labels.add(toks[j][1])
                j += 1
    return labels


def _skip_parens(toks, i: int) -> int:
    depth = 0
    while i < len(toks):
        if toks[i][1] == "(":
            depth += 1
        elif toks[i][1] == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise PromQLSyntaxError("unbalanced parentheses")


def _read_matchers(toks, i: int, sel: Selector) -> int:
    i += 1  # past "{"
    while i < len(toks) and toks[i][1] != "}":
        if toks[i][1] == ",":
            i += 1
            continue
        label, op, value = toks[i], toks[i + 1], toks[i + 2]
        if label[0] not in ("ident", "string") or op[1] not in ("=", "!=", "=~", "!~") or value[0] != "string":
            raise PromQLSyntaxError(f"bad matcher near {label[1]!r}")
        name = _unquote(label[1]) if label[0] == "string" else label[1]
        sel.matchers[name] = (op[1], _unquote(value[1]))
        i += 3
    if i >= len(toks):
        raise PromQLSyntaxError("unclosed '{'")
    return i + 1
