"""otel_ml.demo."""
