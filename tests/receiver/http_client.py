"""A one-request HTTP client for the receiver tests (fresh connection each time)."""

from __future__ import annotations

import http.client

from google.rpc import status_pb2

PB = "application/x-protobuf"
JS = "application/json"


def post(port, path, body: bytes, content_type=PB, headers=None, method="POST", tls=None):
    """One request on a fresh connection; returns (status, headers, body)."""
    if tls is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    else:
        conn = http.client.HTTPSConnection("localhost", port, timeout=10, context=tls)
    try:
        hdrs = {"Content-Type": content_type, **(headers or {})}
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def rpc_status(body: bytes) -> status_pb2.Status:
    return status_pb2.Status.FromString(body)
