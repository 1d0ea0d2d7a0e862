"""Lazy re-exports for a package's ``__init__``: a name is imported from its module on first use.

Used by ``otel_ml`` and ``otel_ml.processor`` so that importing the package (or one of its
submodules) pulls in neither the OTel SDK nor the whole service. Standard library only.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` for ``package``, which re-exports each name
    of ``exports`` (public name -> defining module); a loaded name is cached on the package."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
