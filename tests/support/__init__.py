"""Shared test helpers: polling, free ports, real Prometheus/Alertmanager processes, HTTP sinks."""
