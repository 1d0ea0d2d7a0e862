"""Patching support for the auto-instrumentors: wrap class attributes, restore the exact originals.

A plain function is replaced by a ``functools.wraps`` wrapper; any other descriptor (such as
scikit-learn's ``available_if``, which hides ``predict_proba`` when the estimator cannot
compute it) by a descriptor that delegates ``__get__`` to the original, so ``hasattr``
behaves as before. Every wrapper carries ``MARKER``; ``Patcher.restore`` puts back the very
objects it replaced.
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import Any, Callable, Collection

from opentelemetry.instrumentation.dependencies import DependencyConflict, get_dependency_conflicts
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from otel_ml.instrumentation.call import InferenceCall, inside_inference
from otel_ml.instrumentation.package import _instruments, _instruments_any
from otel_ml.instrumentation.settings import Settings
from otel_ml.instrumentation.telemetry import telemetry_for
from otel_ml.instrumentation.wrappers import default_settings, guarded

__all__ = ["MARKER", "Patcher", "Handler", "AutoCall", "LibraryInstrumentor", "report_conflict"]

_log = logging.getLogger(__name__)
MARKER = "__otel_ml_instrumented__"


def report_conflict(log: logging.Logger, conflict: Any) -> None:
    """An instrumentor that cannot patch says why: a library that is simply not installed is
    normal under a zero-code start (DEBUG, as upstream instrumentors do); an installed library
    of an unsupported version is a WARNING."""
    missing = getattr(conflict, "found", None) is None and not getattr(conflict, "found_any", None)
    log.log(logging.DEBUG if missing else logging.WARNING, "otel_ml: %s", conflict)


class LibraryInstrumentor(BaseInstrumentor):
    """A BaseInstrumentor for the library ``package._instruments[library]`` names.

    ``opentelemetry-instrument`` checks a distribution's ``instruments`` extra, then calls
    ``instrument(skip_dep_check=True)``. otel-ml ships three instrumentors in one distribution
    with an extra per library, so that check covers none of them: the library's own check runs
    here in that case, and logs through the subclass's ``_logger`` (DEBUG when the library is
    absent, WARNING for a wrong version). Otherwise BaseInstrumentor checks as usual.
    """

    library: str = ""
    _logger = _log

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments.get(self.library) or _instruments_any[self.library]

    def _check_dependency_conflicts(self) -> DependencyConflict | None:
        if self.library in _instruments_any:
            return get_dependency_conflicts([], self.instrumentation_dependencies())
        return get_dependency_conflicts(self.instrumentation_dependencies())

    def instrument(self, **kwargs: Any):
        if kwargs.get("skip_dep_check") and not self._is_instrumented_by_opentelemetry:
            conflict = self._check_dependency_conflicts()
            if conflict:
                report_conflict(self._logger, conflict)
                return None
        return super().instrument(**kwargs)


#: handler(instance, attribute name, bound original, args, kwargs) -> result
Handler = Callable[[Any, str, Callable[..., Any], tuple, dict], Any]


class _WrappedDescriptor:
    """Stands in for a non-function descriptor; wraps what the original's ``__get__`` returns."""

    def __init__(self, original: Any, name: str, handler: Handler):
        self.original = original
        self.name = name
        self.handler = handler
        setattr(self, MARKER, True)
        self.__doc__ = getattr(original, "__doc__", None)

    def __set_name__(self, owner, name):
        pass

    def __get__(self, obj, owner=None):
        got = self.original.__get__(obj, owner)  # may raise AttributeError: hasattr() stays honest
        if obj is None:
            return got
        handler, name = self.handler, self.name

        @functools.wraps(got)
        def bound(*args, **kwargs):
            return handler(obj, name, got, args, kwargs)
        return bound


class Patcher:
    """Replaces methods defined on classes and restores the originals (identity preserved)."""

    def __init__(self):
        self._patched: list[tuple[type, str, Any, Any]] = []

    @property
    def patched(self) -> list[tuple[type, str]]:
        return [(cls, name) for cls, name, _, _ in self._patched]

    def patch(self, cls: type, name: str, handler: Handler) -> bool:
        """Wrap ``cls.<name>`` if ``cls`` itself defines it; False when absent or already wrapped."""
        original = cls.__dict__.get(name)
        if original is None or getattr(original, MARKER, False):
            return False
        if isinstance(original, (staticmethod, classmethod, property)):
            return False
        if inspect.isfunction(original):
            @functools.wraps(original)
            def wrapper(self, *args, **kwargs):
                return handler(self, name, original.__get__(self, type(self)), args, kwargs)
            setattr(wrapper, MARKER, True)
            replacement: Any = wrapper
        elif hasattr(original, "__get__"):
            replacement = _WrappedDescriptor(original, name, handler)
        else:
            return False
        setattr(cls, name, replacement)
        self._patched.append((cls, name, original, replacement))
        return True

    def restore(self) -> None:
        """Put every original back (only where our wrapper is still the attribute)."""
        for cls, name, original, replacement in reversed(self._patched):
            if cls.__dict__.get(name) is replacement:
                setattr(cls, name, original)
        self._patched.clear()


class AutoCall:
    """What an instrumentor needs to time a call: providers, settings, model naming."""

    def __init__(self, *, tracer_provider=None, meter_provider=None, logger_provider=None,
                 settings: Settings | None = None,
                 model_name_hook: Callable[[Any], tuple[str | None, str | None] | None] | None = None):
        self.settings = settings or default_settings()
        self.telemetry = telemetry_for(tracer_provider, meter_provider, logger_provider)
        self.model_name_hook = model_name_hook

    @classmethod
    def from_instrument_kwargs(cls, kwargs: dict) -> "AutoCall":
        """The options every instrumentor's ``instrument(**kwargs)`` accepts (providers, settings,
        ``model_name_hook``); absent ones fall back to the globals and the environment."""
        return cls(tracer_provider=kwargs.get("tracer_provider"),
                   meter_provider=kwargs.get("meter_provider"),
                   logger_provider=kwargs.get("logger_provider"),
                   settings=kwargs.get("settings"),
                   model_name_hook=kwargs.get("model_name_hook"))

    def names(self, instance: Any) -> tuple[str, str]:
        """Model name and version: the hook's answer, else OTEL_ML_MODEL_NAME / _VERSION, else
        the class name and the default version."""
        name = version = None
        if self.model_name_hook is not None:
            answer = guarded("model_name_hook", self.model_name_hook, instance)
            if answer:
                name, version = answer
        name = name or self.settings.model_name or type(instance).__name__
        return name, version or self.settings.version_or_default

    def run(self, instance: Any, bound: Callable[..., Any], args: tuple, kwargs: dict, *,
            batch_size: int | None, record: Callable[[InferenceCall, Any], None] | None,
            names: tuple[str, str] | None = None, task: str = "auto") -> Any:
        """Call ``bound(*args, **kwargs)`` inside one inference span unless already inside one."""
        if inside_inference():
            return bound(*args, **kwargs)
        name, version = names or self.names(instance)
        call = guarded("starting the inference span", InferenceCall, self.telemetry, self.settings, name, version,
                       batch_size=batch_size, task=task)
        if call is None:
            return bound(*args, **kwargs)
        with call:
            result = bound(*args, **kwargs)
            if record is not None:
                guarded("recording outputs", record, call, result)
        return result
