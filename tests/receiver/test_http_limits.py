"""OTLP/HTTP receiver limits over real sockets: concurrent request bodies and open connections."""

from __future__ import annotations

import http.client
import json
import socket
import time

from google.rpc import code_pb2

from tests.support.waiting import wait_until

from .http_client import JS, PB, post, rpc_status
from .otlp_builders import inference, request


def _payload(pid: str) -> bytes:
    return request(inference(pid=pid, features={"text": "x" * 2000})).SerializeToString()


class SlowRequest:
    """A POST whose headers and first half of the body are sent; ``finish`` sends the rest."""

    def __init__(self, port: int, path: str, body: bytes, content_type: str = PB):
        self.body = body
        self.half = len(body) // 2
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("ascii")
        self.sock.sendall(head + body[:self.half])

    def finish(self) -> int:
        self.sock.sendall(self.body[self.half:])
        response = http.client.HTTPResponse(self.sock, method="POST")
        response.begin()
        response.read()
        return response.status

    def close(self) -> None:
        self.sock.close()


def _timed_post(port, path, body, content_type=PB):
    started = time.monotonic()
    status, headers, resp = post(port, path, body, content_type)
    return status, headers, resp, time.monotonic() - started


def test_requests_beyond_max_concurrent_requests_get_503_at_once(start_receivers, sink, stats):
    receivers = start_receivers(grpc_endpoint="", max_concurrent_requests=2, retry_after_s=2.0)
    port = receivers.http_port
    slow = [SlowRequest(port, "/v1/logs", _payload(f"slow-{i}")) for i in range(2)]
    try:
        wait_until(lambda: receivers._http.requests_in_progress == 2, timeout=10,
                   message="both slow requests to hold a slot")
        # a third body would be one more buffer: refused at once, not queued behind the slow ones
        status, headers, body, elapsed = _timed_post(port, "/v1/logs", _payload("third"))
        assert status == 503 and elapsed < 5.0
        assert headers["Retry-After"] == "2" and headers["Connection"] == "close"
        assert rpc_status(body).code == code_pb2.UNAVAILABLE
        assert "max_concurrent_requests" in rpc_status(body).message
        labels = json.dumps({"labels": [{"prediction_id": "slow-0", "label": 1}]}).encode()
        status, headers, body, elapsed = _timed_post(port, "/v1/labels", labels, JS)
        assert status == 503 and headers["Retry-After"] == "2" and elapsed < 5.0
        assert "max_concurrent_requests" in json.loads(body)["errors"][0]
        assert stats.rejected_counts == {("logs", "overloaded"): 1, ("labels", "overloaded"): 1}
        assert sink.snapshot() == []
        # the slow requests complete, and their slots are free again
        assert [s.finish() for s in slow] == [200, 200]
    finally:
        for s in slow:
            s.close()
    wait_until(lambda: receivers._http.requests_in_progress == 0, timeout=10, message="slots released")
    assert post(port, "/v1/logs", _payload("after"))[0] == 200
    assert post(port, "/v1/labels", labels, JS)[0] == 200
    assert [e.prediction_ids for e in sink.snapshot()[:3]] == [["slow-0"], ["slow-1"], ["after"]]


def test_refused_requests_do_not_hold_slots(start_receivers, sink):
    """Unauthorised and wrongly typed bodies are discarded outside the slots."""
    receivers = start_receivers(grpc_endpoint="", max_concurrent_requests=1, bearer_token="t")
    port = receivers.http_port
    auth = {"Authorization": "Bearer t"}
    slow = SlowRequest(port, "/v1/logs", _payload("x"), content_type="text/plain")
    try:
        wait_until(lambda: receivers._http.open_connections == 1, timeout=10)
        assert receivers._http.requests_in_progress == 0
        assert post(port, "/v1/logs", _payload("ok"), headers=auth)[0] == 200
        assert slow.finish() == 401
    finally:
        slow.close()


def test_connection_cap_closes_the_longest_idle_connection(start_receivers, sink):
    receivers = start_receivers(grpc_endpoint="", max_connections=2)
    port = receivers.http_port
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(3)]

    def send(conn, pid):
        conn.request("POST", "/v1/logs", body=_payload(pid), headers={"Content-Type": PB})
        response = conn.getresponse()
        response.read()
        return response.status

    try:
        assert send(conns[0], "a") == 200
        wait_until(lambda: receivers._http.idle_connections == 1, timeout=10,
                   message="the first connection to wait for its next request")
        assert send(conns[1], "b") == 200
        wait_until(lambda: receivers._http.idle_connections == 2, timeout=10,
                   message="both keep-alive connections to wait for a request")
        assert send(conns[2], "c") == 200  # over the cap: the longest-idle connection made room
        assert send(conns[1], "b2") == 200
        # the first connection was closed by the server; http.client notices on its next request
        try:
            conns[0].request("POST", "/v1/logs", body=_payload("a2"), headers={"Content-Type": PB})
            conns[0].getresponse()
            raise AssertionError("the longest-idle connection was not closed")
        except (http.client.RemoteDisconnected, ConnectionError):
            pass
    finally:
        for conn in conns:
            conn.close()
    assert [e.prediction_ids[0] for e in sink.snapshot()] == ["a", "b", "c", "b2"]
    wait_until(lambda: receivers._http.open_connections == 0, timeout=10, message="threads to end")


def test_connection_cap_without_idle_connection_answers_503(start_receivers, sink, stats):
    receivers = start_receivers(grpc_endpoint="", max_connections=1, retry_after_s=3.0)
    port = receivers.http_port
    slow = SlowRequest(port, "/v1/logs", _payload("slow"))
    try:
        wait_until(lambda: receivers._http.requests_in_progress == 1, timeout=10)
        status, headers, body, elapsed = _timed_post(port, "/v1/logs", _payload("refused"))
        assert status == 503 and headers["Retry-After"] == "3" and elapsed < 5.0
        assert b"too many connections" in body
        assert stats.rejected_counts == {("http", "overloaded"): 1}  # answered and counted
        assert receivers._http.open_connections == 1
        assert slow.finish() == 200
        wait_until(lambda: receivers._http.idle_connections == 1, timeout=10,
                   message="the finished connection to wait for its next request")
        # the finished connection is kept alive but idle: a new client takes its place
        assert post(port, "/v1/logs", _payload("next"))[0] == 200
        slow.sock.settimeout(5)
        assert slow.sock.recv(1) == b""
    finally:
        slow.close()
    assert [e.prediction_ids[0] for e in sink.snapshot()] == ["slow", "next"]
