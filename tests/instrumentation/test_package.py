"""The supported library ranges live in instrumentation/package.py and the pyproject extras agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement

from otel_ml.instrumentation.onnxruntime import OnnxRuntimeInstrumentor
from otel_ml.instrumentation.package import _extras, _instruments, _instruments_any
from otel_ml.instrumentation.sklearn import SklearnInstrumentor
from otel_ml.instrumentation.torch import TorchInstrumentor

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
ENTRY_POINTS = {"sklearn": SklearnInstrumentor, "torch": TorchInstrumentor, "onnxruntime": OnnxRuntimeInstrumentor}


def test_every_entry_point_has_one_entry_in_package_py():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    names = set(project["entry-points"]["opentelemetry_instrumentor"])
    assert names == set(ENTRY_POINTS) == set(_instruments) | set(_instruments_any) == set(_extras)
    assert not set(_instruments) & set(_instruments_any)


@pytest.mark.parametrize("library", sorted(ENTRY_POINTS))
def test_instrumentors_report_their_package_py_entry(library):
    expected = _instruments.get(library) or _instruments_any[library]
    assert tuple(ENTRY_POINTS[library]().instrumentation_dependencies()) == expected


@pytest.mark.parametrize("library", sorted(ENTRY_POINTS))
def test_the_library_extra_installs_a_supported_version(library):
    """The extra named after the library asks for the same lower bound as ``_instruments``."""
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    [extra] = [Requirement(r) for r in extras[_extras[library]]]
    supported = {Requirement(r).name: Requirement(r).specifier for r in
                 _instruments.get(library) or _instruments_any[library]}
    assert extra.name in supported and str(extra.specifier) == str(supported[extra.name])
