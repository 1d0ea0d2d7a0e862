"""otel_ml.instrumentation."""
