"""OTLP/HTTP receiver against hostile clients over raw sockets: broken chunk framing, trickled
bodies, deeply nested JSON, gzip bombs. Each is answered, counted, and costs the others nothing."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import threading

import pytest
from google.rpc import code_pb2

from tests.support.waiting import wait_until

from .http_client import JS, PB, post, rpc_status
from .otlp_builders import inference, request

_HEAD = ("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n{extra}\r\n")


def _head(path="/v1/logs", ctype=PB, **headers) -> bytes:
    extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return _HEAD.format(path=path, ctype=ctype, extra=extra).encode("ascii")


def _reply(sock: socket.socket) -> tuple[int, bytes]:
    """(status, body) of the one response on ``sock``, which the server then closes."""
    response = http.client.HTTPResponse(sock, method="POST")
    response.begin()
    return response.status, response.read()


def _ok_payload(pid: str) -> bytes:
    return request(inference(pid=pid)).SerializeToString()


@pytest.mark.parametrize("framing", [b"-1\r\n" + b"x" * 4096, b"zz\r\nab\r\n0\r\n\r\n",
                                     b"5\r\nab\r\n0\r\n\r\n", b"ffffffffffffffffff\r\nab"],
                         ids=["negative", "not-hex", "short-chunk", "overflowing-size"])
def test_malformed_chunk_framing_is_400(start_receivers, sink, stats, framing):
    receivers = start_receivers(grpc_endpoint="")
    with socket.create_connection(("127.0.0.1", receivers.http_port), timeout=10) as sock:
        sock.sendall(_head(Transfer_Encoding="chunked") + framing)
        status, _ = _reply(sock)
        sock.settimeout(5)
        assert sock.recv(1) == b""  # the connection is closed: nothing more of it is read
    assert status == 400
    assert sum(n for (_, reason), n in stats.rejected_counts.items() if reason == "malformed") == 1
    assert sink.snapshot() == []
    assert post(receivers.http_port, "/v1/logs", _ok_payload("next"))[0] == 200


def test_negative_chunk_size_after_the_request_started(start_receivers, sink, stats):
    """The bad size arrives while the request holds a slot: it is refused there, and frees it."""
    receivers = start_receivers(grpc_endpoint="")
    with socket.create_connection(("127.0.0.1", receivers.http_port), timeout=10) as sock:
        sock.sendall(_head(Transfer_Encoding="chunked") + b"4\r\nabcd\r\n")
        wait_until(lambda: receivers._http.requests_in_progress == 1, timeout=10,
                   message="the chunked request to hold a slot")
        sock.sendall(b"-1\r\n" + b"x" * 65536)
        status, _ = _reply(sock)
    assert status == 400
    assert sum(n for (_, reason), n in stats.rejected_counts.items() if reason == "malformed") == 1
    wait_until(lambda: receivers._http.requests_in_progress == 0, timeout=10, message="slot freed")
    assert sink.snapshot() == []


class _Trickler:
    """Sends headers announcing a 100 kB body, then one byte every 20 ms: always making some
    progress (no idle timeout would catch it), never finishing."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(_head(Content_Length="100000") + b"\x0a")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        try:
            while not self.stop.wait(0.02):  # the client's pace, not a wait for the server
                self.sock.send(b"\x00")
        except OSError:
            pass  # the server cut us off

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def test_trickled_body_is_cut_off_while_other_clients_succeed(start_receivers, sink, stats):
    receivers = start_receivers(grpc_endpoint="", max_concurrent_requests=3, body_timeout_s=1.0)
    port = receivers.http_port
    tricklers = [_Trickler(port) for _ in range(2)]
    try:
        wait_until(lambda: receivers._http.requests_in_progress == 2, timeout=10,
                   message="both tricklers to hold a slot")
        # meanwhile, other clients are served
        answered = [post(port, "/v1/logs", _ok_payload(f"ok-{i}"))[0] for i in range(5)]
        assert answered == [200] * 5
        # the tricklers are cut off at the body deadline, answered and counted
        for t in tricklers:
            status, body = _reply(t.sock)
            assert status == 408
            assert rpc_status(body).code == code_pb2.DEADLINE_EXCEEDED
            assert "body_timeout_s" in rpc_status(body).message
        wait_until(lambda: receivers._http.requests_in_progress == 0, timeout=10,
                   message="the tricklers' slots to be free")
    finally:
        for t in tricklers:
            t.close()
    assert stats.rejected_counts == {("logs", "timeout"): 2}
    assert [e.prediction_ids[0] for e in sink.snapshot()] == [f"ok-{i}" for i in range(5)]


def test_tricklers_holding_every_slot_yield_them_to_waiting_requests(start_receivers, sink, stats):
    """Every slot trickled: a waiting request gets one as soon as a trickler has held it for half
    the body deadline (here 2 s of a 4 s deadline), without waiting for the deadline itself."""
    receivers = start_receivers(grpc_endpoint="", max_concurrent_requests=2, body_timeout_s=4.0)
    port = receivers.http_port
    tricklers = [_Trickler(port) for _ in range(2)]
    try:
        wait_until(lambda: receivers._http.requests_in_progress == 2, timeout=10,
                   message="the tricklers to hold every slot")
        assert post(port, "/v1/logs", _ok_payload("refused"))[0] == 503
        # still trickling, yet a legitimate request gets a slot
        wait_until(lambda: post(port, "/v1/logs", _ok_payload("in"))[0] == 200, timeout=10,
                   message="a legitimate request to be served while the tricklers still send")
        assert not any(t.stop.is_set() for t in tricklers)
        answers = [_reply(t.sock) for t in tricklers]
    finally:
        for t in tricklers:
            t.close()
    assert [status for status, _ in answers] == [408, 408]
    messages = [rpc_status(body).message for _, body in answers]
    # at least the first was evicted for the waiting request; the other maybe too, or at the deadline
    assert any("too slow" in m and "max_concurrent_requests" in m for m in messages), messages
    assert stats.rejected_counts[("logs", "timeout")] == 2
    assert sink.snapshot()[0].prediction_ids == ["in"]


@pytest.mark.parametrize("path", ["/v1/logs", "/v1/labels"])
def test_deeply_nested_json_is_400_and_counted(start_receivers, sink, stats, path):
    receivers = start_receivers(grpc_endpoint="")
    deep = b'{"resourceLogs": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    status, headers, body = post(receivers.http_port, path, deep, JS)
    assert status == 400 and headers["Content-Type"] == JS
    doc = json.loads(body)
    message = doc["message"] if path == "/v1/logs" else doc["errors"][0]
    assert "nested too deeply" in message
    signal = "logs" if path == "/v1/logs" else "labels"
    assert stats.rejected_counts == {(signal, "malformed"): 1}
    assert sink.snapshot() == []
    # the server is fine: the next request on a fresh connection is served
    assert post(receivers.http_port, "/v1/logs", _ok_payload("after"))[0] == 200


def test_chunked_gzip_bomb_is_413_and_counted(start_receivers, sink, stats):
    """Inflation is incremental and bounded even when the compressed body arrives in chunks."""
    receivers = start_receivers(grpc_endpoint="", max_request_bytes=1 << 20)
    bomb = gzip.compress(b"\0" * (64 << 20), compresslevel=9)  # 64 MiB from ~64 KiB
    assert len(bomb) < (1 << 20)
    chunks = [bomb[i:i + 4096] for i in range(0, len(bomb), 4096)]
    conn = http.client.HTTPConnection("127.0.0.1", receivers.http_port, timeout=10)
    try:
        conn.request("POST", "/v1/logs", body=iter(chunks), encode_chunked=True,
                     headers={"Content-Type": PB, "Content-Encoding": "gzip"})
        response = conn.getresponse()
        status, body = response.status, response.read()
    finally:
        conn.close()
    assert status == 413 and "decompressed" in rpc_status(body).message
    assert stats.rejected_counts == {("logs", "too_large"): 1}
    assert sink.snapshot() == []


def test_body_cut_short_by_the_client_is_counted(start_receivers, sink, stats):
    """The client half-closes before sending all of Content-Length: counted as malformed."""
    receivers = start_receivers(grpc_endpoint="")
    with socket.create_connection(("127.0.0.1", receivers.http_port), timeout=10) as sock:
        sock.sendall(_head(Content_Length="1000") + b"\x0a\x05short")
        wait_until(lambda: receivers._http.requests_in_progress == 1, timeout=10,
                   message="the request to hold a slot")
        sock.shutdown(socket.SHUT_WR)
        wait_until(lambda: stats.rejected_counts[("logs", "malformed")] == 1, timeout=10,
                   message="the cut body to be counted")
    wait_until(lambda: receivers._http.requests_in_progress == 0, timeout=10, message="slot freed")
    assert sink.snapshot() == []
