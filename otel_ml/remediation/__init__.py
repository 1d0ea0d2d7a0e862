"""otel_ml.remediation: automated remediation of ML alerts (R1-R3).

Service side (``otel-ml remediate``, needs the ``processor`` extra): ``policy`` (validated YAML),
``alerts`` (webhook payload v4), ``remediator`` (decisions), ``safety`` (dedup, cooldown, rate
limit), ``routing_state``, ``actions`` (argv / HTTP hooks), ``audit``, ``server``, ``service``,
``telemetry``, ``cli``. App side: ``control.RoutingClient`` (stdlib + opentelemetry-api only).

Nothing is imported here, so importing ``otel_ml.remediation.control`` inside a serving app
pulls in neither the SDK nor YAML. See docs/remediation.md.
"""
