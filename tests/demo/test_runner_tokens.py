"""The demo's two remediation secrets: the admin token for the webhook, a separate read-only
routing token for the serving app (``otel-ml remediate --routing-token-file``)."""

from __future__ import annotations

import io
import stat
import urllib.error
import urllib.request

from otel_ml.demo.options import DemoOptions
from otel_ml.demo.runner import DemoRun


def status_of(url: str, token: str, body: bytes | None = None) -> int:
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_remediate_gets_a_separate_read_only_routing_token(tmp_path):
    run = DemoRun(DemoOptions(run_dir=str(tmp_path / "run"), alerting_binaries=False), out=io.StringIO())
    try:
        token_file, routing_file = run._write_secrets()
        assert run.token and run.routing_token and run.routing_token != run.token
        assert token_file.read_text().strip() == run.token
        assert routing_file.read_text().strip() == run.routing_token
        for path in (token_file, routing_file):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

        run._start_remediate(token_file, routing_file).wait_ready(60)
        routing, alerts = run.url("remediate", "/v1/routing"), run.url("remediate", "/v1/alerts")
        assert status_of(routing, run.routing_token) == 200  # the app's token reads the routing
        assert status_of(alerts, run.routing_token, b"{}") == 403  # and nothing else
        assert status_of(routing, run.token) == 200
        assert status_of(alerts, run.token, b"{}") == 400  # admin: past auth, refused as no v4 payload
        assert status_of(routing, "not-a-token") == 401
    finally:
        run.stop()
