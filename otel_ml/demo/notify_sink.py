"""A local stand-in for Slack and PagerDuty: records what Alertmanager (or the built-in
evaluator) would have sent to people, so the demo can show "notifications sent".

``POST /slack`` takes a Slack incoming-webhook payload, ``POST /pagerduty`` (or any path ending
in ``/enqueue``) a PagerDuty Events API v2 event. Every request is kept as a ``Notification``
with the channel and title a person would have seen; the body is also appended to
``notifications.jsonl`` in the run directory.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["Notification", "NotificationSink", "CHAT", "PAGER"]

CHAT = "chat"
PAGER = "pager"
_MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class Notification:
    at: float  # time.time() when received
    kind: str  # chat | pager
    channel: str  # Slack channel, or "pagerduty"
    title: str
    status: str  # firing | resolved | trigger | resolve | ""
    text: str = ""  # the body a person reads (Slack attachment text, PagerDuty details)


def _summarise(path: str, body: dict) -> Notification:
    now = time.time()
    if "pagerduty" in path or path.endswith("/enqueue"):
        payload = body.get("payload") or {}
        action = str(body.get("event_action", ""))
        title = str(payload.get("summary") or body.get("description") or "")
        details = payload.get("custom_details") or body.get("details") or {}
        text = "\n".join(str(v) for v in details.values()) if isinstance(details, dict) else str(details)
        return Notification(now, PAGER, "pagerduty", title, action, text)
    attachments = body.get("attachments") or [{}]
    title = str(attachments[0].get("title") or body.get("text") or "")
    status = "resolved" if title.startswith("[RESOLVED") else "firing" if title.startswith("[FIRING") else ""
    return Notification(now, CHAT, str(body.get("channel") or ""), title, status,
                        str(attachments[0].get("text") or ""))


class NotificationSink:
    """An HTTP server on 127.0.0.1 recording notifications; ``close()`` stops it."""

    def __init__(self, log_path: Path | None = None, host: str = "127.0.0.1", port: int = 0):
        self.notifications: list[Notification] = []
        self._lock = threading.Lock()
        self._log_path = Path(log_path) if log_path else None
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(min(length, _MAX_BODY)) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                    if not isinstance(body, dict):
                        raise ValueError("not an object")
                except ValueError:
                    self._answer(400, b'{"error": "expected a JSON object"}')
                    return
                sink._record(self.path, body)
                # PagerDuty answers 202 with a status object; Slack answers 200 "ok"
                self._answer(202 if "pagerduty" in self.path else 200,
                             b'{"status": "success"}' if "pagerduty" in self.path else b"ok")

            def _answer(self, status: int, payload: bytes):
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="otel-ml-demo-sink",
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _record(self, path: str, body: dict) -> None:
        note = _summarise(path, body)
        with self._lock:
            self.notifications.append(note)
            if self._log_path is not None:
                with open(self._log_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"at": note.at, "path": path, "body": body}) + "\n")

    def snapshot(self) -> list[Notification]:
        with self._lock:
            return list(self.notifications)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
