"""The demo's Slack and PagerDuty: the shared local HTTP sink (``otel_ml._support.http_sink``)
pointed at by Alertmanager, read back as the notifications a person would have received.

``POST /slack`` takes a Slack incoming-webhook payload, ``POST /pagerduty`` (or a path ending in
``/enqueue``) a PagerDuty Events API v2 event; both answer like the real services. Every accepted
body is also appended to ``notifications.jsonl`` in the run directory.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from otel_ml._support.http_sink import HttpSink, Received

__all__ = ["Notification", "NotificationSink", "CHAT", "PAGER"]

CHAT = "chat"
PAGER = "pager"


@dataclass(frozen=True)
class Notification:
    at: float  # time.time() when received
    kind: str  # chat | pager
    channel: str  # Slack channel, or "pagerduty"
    title: str
    status: str  # firing | resolved | trigger | resolve | ""
    text: str = ""  # the body a person reads (Slack attachment text, PagerDuty details)


def _is_pager(path: str) -> bool:
    return "pagerduty" in path or path.endswith("/enqueue")


def _body(received: Received) -> dict | None:
    try:
        body = received.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def summarise(received: Received, at: float | None = None) -> Notification:
    """What a person would have seen for one accepted request."""
    now = time.time() if at is None else at
    body = _body(received) or {}
    if _is_pager(received.path):
        payload = body.get("payload") or {}
        title = str(payload.get("summary") or body.get("description") or "")
        details = payload.get("custom_details") or body.get("details") or {}
        text = "\n".join(str(v) for v in details.values()) if isinstance(details, dict) else str(details)
        return Notification(now, PAGER, "pagerduty", title, str(body.get("event_action", "")), text)
    attachments = body.get("attachments") or [{}]
    title = str(attachments[0].get("title") or body.get("text") or "")
    status = "resolved" if title.startswith("[RESOLVED") else "firing" if title.startswith("[FIRING") else ""
    return Notification(now, CHAT, str(body.get("channel") or ""), title, status,
                        str(attachments[0].get("text") or ""))


def _answer(received: Received) -> tuple[int, bytes]:
    """Slack answers 200 "ok"; PagerDuty 202 with a status object; a non-object body 400."""
    if _body(received) is None:
        return 400, b'{"error": "expected a JSON object"}'
    if _is_pager(received.path):
        return 202, b'{"status": "success"}'
    return 200, b"ok"


class NotificationSink:
    """The sink plus the notifications it accepted; ``close()`` stops it."""

    def __init__(self, log_path: Path | None = None):
        self._log_path = Path(log_path) if log_path else None
        self.notifications: list[Notification] = []
        self._lock = threading.Lock()
        self._http = HttpSink(answer=_answer, on_request=self._accepted)

    def _accepted(self, received: Received) -> None:
        note = summarise(received)
        with self._lock:
            self.notifications.append(note)
            if self._log_path is not None:
                with open(self._log_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"at": note.at, "path": received.path, "body": _body(received)}) + "\n")

    @property
    def url(self) -> str:
        return self._http.url

    def snapshot(self) -> list[Notification]:
        with self._lock:
            return list(self.notifications)

    def close(self) -> None:
        self._http.close()
