"""Alertmanager webhook notifications (payload version 4), parsed and validated.

Labels and annotations stay plain strings: they are data for the policy's matchers, the
audit log and the action's JSON context, never text that reaches a shell.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from otel_ml.errors import OtelMlError

__all__ = ["Alert", "Notification", "InvalidNotificationError", "parse_notification"]

FIRING, RESOLVED = "firing", "resolved"
_MAX_VALUE_CHARS = 16384


class InvalidNotificationError(OtelMlError, ValueError):
    """A request body that is not an Alertmanager webhook payload v4; answered with 400."""


@dataclass(frozen=True)
class Alert:
    status: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: str
    ends_at: str
    generator_url: str
    fingerprint: str

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def dedup_key(self) -> str:
        """Same alert, same status, same episode: Alertmanager's repeats share this key."""
        return self.dedup_key_for(self.status)

    def dedup_key_for(self, status: str) -> str:
        return f"{self.fingerprint}|{status}|{self.starts_at}"

    def as_dict(self) -> dict:
        return {"status": self.status, "labels": dict(self.labels),
                "annotations": dict(self.annotations), "startsAt": self.starts_at,
                "endsAt": self.ends_at, "generatorURL": self.generator_url,
                "fingerprint": self.fingerprint}


@dataclass(frozen=True)
class Notification:
    receiver: str
    status: str
    group_key: str
    group_labels: Mapping[str, str]
    external_url: str
    truncated_alerts: int
    alerts: tuple[Alert, ...]


def _str_map(obj: Any, where: str, truncate: bool = False) -> dict[str, str]:
    """A string map; overlong values are refused (labels: they are identity) or cut (annotations)."""
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise InvalidNotificationError(f"{where} must be an object of strings")
    out = {}
    for k, v in obj.items():
        if not isinstance(v, str):
            raise InvalidNotificationError(f"{where}.{k} must be a string")
        if len(v) > _MAX_VALUE_CHARS:
            if not truncate:
                raise InvalidNotificationError(f"{where}.{k} is longer than {_MAX_VALUE_CHARS} characters")
            v = v[:_MAX_VALUE_CHARS] + "...(truncated)"
        out[k] = v
    return out


def _str(obj: Mapping, key: str, where: str, required: bool = False) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise InvalidNotificationError(f"{where}.{key} is required")
        return ""
    if not isinstance(value, str):
        raise InvalidNotificationError(f"{where}.{key} must be a string")
    return value


def _status(obj: Mapping, where: str) -> str:
    status = obj.get("status")
    if status not in (FIRING, RESOLVED):
        raise InvalidNotificationError(f"{where}.status must be 'firing' or 'resolved', got {status!r}")
    return status


def parse_notification(body: bytes) -> Notification:
    """Decode a webhook body; raises ``InvalidNotificationError`` naming the bad field."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidNotificationError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidNotificationError("body must be a JSON object")
    if data.get("version") != "4":
        raise InvalidNotificationError(f"version must be \"4\" (Alertmanager webhook), got {data.get('version')!r}")
    raw_alerts = data.get("alerts")
    if not isinstance(raw_alerts, list):
        raise InvalidNotificationError("alerts must be a list")
    alerts = []
    for i, a in enumerate(raw_alerts):
        where = f"alerts[{i}]"
        if not isinstance(a, dict):
            raise InvalidNotificationError(f"{where} must be an object")
        labels = _str_map(a.get("labels"), f"{where}.labels")
        if not labels.get("alertname"):
            raise InvalidNotificationError(f"{where}.labels.alertname is required")
        alerts.append(Alert(
            status=_status(a, where), labels=labels,
            annotations=_str_map(a.get("annotations"), f"{where}.annotations", truncate=True),
            starts_at=_str(a, "startsAt", where, required=True), ends_at=_str(a, "endsAt", where),
            generator_url=_str(a, "generatorURL", where),
            fingerprint=_str(a, "fingerprint", where, required=True)))
    truncated = data.get("truncatedAlerts", 0)
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        raise InvalidNotificationError("truncatedAlerts must be a non-negative integer")
    return Notification(
        receiver=_str(data, "receiver", "body"), status=_status(data, "body"),
        group_key=_str(data, "groupKey", "body"),
        group_labels=_str_map(data.get("groupLabels"), "groupLabels"),
        external_url=_str(data, "externalURL", "body"), truncated_alerts=truncated,
        alerts=tuple(alerts))
