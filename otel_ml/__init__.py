"""otel_ml: OpenTelemetry observability for machine-learning serving.

The instrumentation API (decorator, context manager, model wrapper, events) lives in
``otel_ml.instrumentation``; ``configure()`` sets up the OTel SDK for apps that have none.
"""

from otel_ml.version import __version__

__all__ = ["__version__"]
