"""One error tree: every public exception class otel_ml defines derives from ``OtelMlError``."""

from __future__ import annotations

import ast
import builtins
import importlib
from pathlib import Path

import pytest

from otel_ml.errors import OtelMlError

PACKAGE = Path(__file__).resolve().parent.parent / "otel_ml"


def _public_exception_classes() -> list[tuple[str, str]]:
    """Public classes whose bases are exceptions (builtin, or otel_ml's own, to a fixed point)."""
    classes = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases}
                classes.append((module, node.name, bases))
    exceptions = {n for n in dir(builtins) if isinstance(getattr(builtins, n), type)
                  and issubclass(getattr(builtins, n), BaseException)}
    grown = True
    while grown:
        grown = False
        for _, name, bases in classes:
            if name not in exceptions and bases & exceptions:
                exceptions.add(name)
                grown = True
    return [(module, name) for module, name, bases in classes
            if bases & exceptions and not name.startswith("_")]


def test_the_scan_finds_the_known_classes():
    names = {name for _, name in _public_exception_classes()}
    assert {"Overloaded", "RoutingCapacityError", "MatcherSyntaxError", "InvalidNotificationError",
            "TemplateError", "UnsafeArgumentError", "EmptySampleError", "RecordRejected"} <= names


@pytest.mark.parametrize(("module", "name"), _public_exception_classes())
def test_every_public_exception_derives_from_otel_ml_error(module, name):
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, OtelMlError), f"{module}.{name}"


@pytest.mark.parametrize(("module", "name", "builtin"), [
    ("otel_ml.remediation.matchers", "MatcherSyntaxError", ValueError),
    ("otel_ml.remediation.alerts", "InvalidNotificationError", ValueError),
    ("otel_ml.remediation.argv", "TemplateError", ValueError),
    ("otel_ml.remediation.argv", "UnsafeArgumentError", ValueError),
    ("otel_ml.remediation.routing_state", "RoutingCapacityError", RuntimeError),
])
def test_the_builtin_base_stays_for_existing_except_clauses(module, name, builtin):
    assert issubclass(getattr(importlib.import_module(module), name), builtin)
