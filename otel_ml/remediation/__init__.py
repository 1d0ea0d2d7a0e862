"""otel_ml.remediation."""
