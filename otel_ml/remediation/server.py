"""The HTTP face of ``otel-ml remediate``.

- ``POST /v1/alerts``: Alertmanager webhook (payload v4). 200 once decided; 400 for a body that
  is not a v4 payload (Alertmanager does not retry 4xx); 401 for missing or wrong credentials;
  413 for an oversized body; 500 only for a fault of ours (Alertmanager retries those).
- ``GET /v1/routing``: the variant each model should serve, for the in-app ``RoutingClient``;
  honours ``If-None-Match`` with the ``ETag`` it sends (304 when nothing changed). The only
  route the read-only routing token may use; with it, the others answer 403.
- ``DELETE /v1/routing/<model>``: operator reset of a model to its primary (audited).
- ``GET /-/healthy``, ``GET /-/ready``: unauthenticated probes.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import ssl
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from otel_ml.errors import UserError
from otel_ml.remediation.alerts import InvalidNotificationError, parse_notification
from otel_ml.remediation.auth import ADMIN, READ, Credentials
from otel_ml.remediation.remediator import Remediator
from otel_ml.version import __version__

__all__ = ["RemediationServer", "is_loopback", "MAX_BODY_BYTES"]

_log = logging.getLogger(__name__)
MAX_BODY_BYTES = 8 * 1024 * 1024


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, app: "RemediationServer",
                 ssl_context: ssl.SSLContext | None = None):
        self.app = app
        self.ssl_context = ssl_context
        if ":" in address[0]:
            import socket
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        """With TLS, the handshake happens here, in the connection's own thread (a slow client
        cannot stall the accept loop), bounded by the handler's timeout."""
        if self.ssl_context is None:
            return super().finish_request(request, client_address)
        request.settimeout(_Handler.timeout)
        try:
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            _log.debug("TLS handshake with %s failed: %s", client_address[0], exc)
            return None
        try:
            return super().finish_request(conn, client_address)
        finally:
            conn.close()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = f"otel-ml-remediate/{__version__}"
    timeout = 15  # seconds a client may take to send its request

    def log_message(self, fmt, *args):
        _log.debug("%s " + fmt, self.client_address[0], *args)

    # --- helpers ----------------------------------------------------------------------
    def _send(self, status: int, body: dict | None = None, headers: dict | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def _authorized(self, *, read_only: bool = False) -> bool:
        """Whether the request may go on; answers 401 / 403 (audited) when not. ``read_only``:
        the routing token is enough; else admin credentials are needed."""
        app = self.server.app
        if not app.credentials.configured:
            return True
        scope = app.credentials.scope(self.headers.get("Authorization"))
        if scope == ADMIN or (scope == READ and read_only):
            return True
        where = {"path": self.path.split("?")[0], "method": self.command, "remote": self.client_address[0]}
        if scope == READ:
            app.remediator.rejected("read_only_credentials", where)
            self._send(403, {"error": "the routing token may only read GET /v1/routing"})
            return False
        reason = "missing_credentials" if not self.headers.get("Authorization") else "bad_credentials"
        app.remediator.rejected(reason, where)
        challenges = []
        if app.credentials.token is not None:
            challenges.append('Bearer realm="otel-ml-remediate"')
        if app.credentials.basic is not None:
            challenges.append('Basic realm="otel-ml-remediate"')
        self._send(401, {"error": "unauthorized"}, {"WWW-Authenticate": ", ".join(challenges)})
        return False

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None:
            self._send(411, {"error": "Content-Length required"})
            return None
        try:
            n = int(length)
        except ValueError:
            n = -1
        if n < 0:
            self._send(400, {"error": "bad Content-Length"})
            return None
        if n > MAX_BODY_BYTES:
            self.server.app.remediator.rejected("too_large", {"path": self.path, "bytes": n,
                                                              "remote": self.client_address[0]})
            self.close_connection = True
            self._send(413, {"error": f"body larger than {MAX_BODY_BYTES} bytes"})
            return None
        return self.rfile.read(n)

    # --- routes -----------------------------------------------------------------------
    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path in ("/-/healthy", "/-/ready"):
            return self._send(200, {"status": "ok"})
        if path == "/v1/routing":
            if not self._authorized(read_only=True):
                return None
            etag, doc = self.server.app.remediator.routing.view()
            if self.headers.get("If-None-Match") == etag:
                return self._send(304, None, {"ETag": etag})
            return self._send(200, doc, {"ETag": etag, "Cache-Control": "no-cache"})
        return self._send(404, {"error": f"no route {path}"})

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        if path != "/v1/alerts":
            return self._send(404 if not path.startswith("/v1/routing") else 405,
                              {"error": f"no route POST {path}"})
        if not self._authorized():
            return None
        body = self._read_body()
        if body is None:
            return None
        app = self.server.app
        try:
            notification = parse_notification(body)
        except InvalidNotificationError as exc:
            app.remediator.rejected("invalid_payload", {"path": path, "error": str(exc),
                                                        "remote": self.client_address[0]})
            return self._send(400, {"error": str(exc)})
        try:
            records = app.remediator.handle(notification)
        except Exception:  # noqa: BLE001 - answer 500 so Alertmanager retries; details to the log
            _log.exception("handling a notification failed")
            return self._send(500, {"error": "internal error; see the service log"})
        return self._send(200, {"status": "ok", "decisions": [
            {k: r.get(k) for k in ("alertname", "model", "rule", "action", "outcome", "reason")}
            for r in records]})

    def do_DELETE(self):
        path = urllib.parse.urlsplit(self.path).path
        prefix = "/v1/routing/"
        if not path.startswith(prefix) or len(path) == len(prefix):
            return self._send(404, {"error": f"no route DELETE {path}"})
        if not self._authorized():
            return None
        model = urllib.parse.unquote(path[len(prefix):])
        record = self.server.app.remediator.reset_routing(model, {"remote": self.client_address[0]})
        return self._send(200, {"model": model, "variant": "primary", "holds_dropped":
                                record["detail"]["holds_dropped"]})

    def do_PUT(self):
        return self._send(405, {"error": "method not allowed"})


class RemediationServer:
    """Serves the endpoints above on ``host:port`` (port 0 picks a free one) in a thread."""

    def __init__(self, remediator: Remediator, credentials: Credentials, host: str = "127.0.0.1",
                 port: int = 9095, *, allow_unauthenticated: bool = False,
                 ssl_context: ssl.SSLContext | None = None):
        if not credentials.configured:
            if not allow_unauthenticated:
                note = " (the routing token only reads)" if credentials.routing_token is not None else ""
                raise UserError("no credentials: pass --bearer-token-file, set OTEL_ML_REMEDIATE_TOKEN "
                                f"or pass --basic-auth-file (or --no-auth on a loopback address){note}")
            if not is_loopback(host):
                raise UserError(f"--no-auth is allowed on loopback addresses only, not {host}")
        self.remediator = remediator
        self.credentials = credentials
        try:
            self._httpd = _Server((host, port), _Handler, self, ssl_context)
        except OSError as exc:
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        self.host = host
        self.port = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self._httpd.ssl_context is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> "RemediationServer":
        # a short poll interval keeps stop() prompt; the loop is idle otherwise
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="otel-ml-remediate-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
