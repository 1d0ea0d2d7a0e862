"""The packages' lazy re-exports: ``__all__`` and the export map agree, and each name resolves."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest


@pytest.mark.parametrize("package", ["otel_ml", "otel_ml.processor"])
def test_every_public_name_resolves_to_its_module(package):
    module = importlib.import_module(package)
    assert set(module.__all__) - {"__version__"} == set(module._EXPORTS)
    for name in module.__all__:
        value = getattr(module, name)
        if name != "__version__":
            assert getattr(importlib.import_module(module._EXPORTS[name]), name) is value
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'no_such_name'"):
        module.no_such_name  # noqa: B018


def test_importing_the_packages_loads_neither_the_sdk_nor_the_service():
    code = ("import sys, otel_ml, otel_ml.processor; "
            "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'otel_ml.processor.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
