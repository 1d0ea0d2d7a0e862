"""otel_ml.stats."""
