"""otel_ml.processor."""
