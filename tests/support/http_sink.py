"""The local HTTP sink that records every request (stands in for Slack, PagerDuty, webhooks):
the package's own ``otel_ml._support.http_sink``, shared with the demo."""

from otel_ml._support.http_sink import HttpSink, Received

__all__ = ["HttpSink", "Received"]
