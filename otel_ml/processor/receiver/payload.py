"""Request bodies: bounded gunzip, protobuf parsing, and the errors bad payloads raise."""

from __future__ import annotations

import zlib
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from otel_ml.errors import OtelMlError

__all__ = ["BoundedGunzip", "MalformedPayload", "PayloadTooLarge", "gunzip_limited", "parse_protobuf"]

M = TypeVar("M", bound=Message)


class MalformedPayload(OtelMlError):
    """The body is not a valid OTLP message (answered 400 / INVALID_ARGUMENT, not retried)."""


class PayloadTooLarge(OtelMlError):
    """The body, or what it decompresses to, is over ``max_request_bytes`` (answered 413)."""


class BoundedGunzip:
    """Incremental gzip inflation (multi-member too) that refuses output over ``limit`` bytes.

    Feed the body as it arrives; output is produced at most ``limit + 1`` bytes at a time, so
    a gzip bomb is stopped just past the limit and costs no more memory than a legitimate body.
    """

    def __init__(self, limit: int):
        self._limit = limit
        self._out = bytearray()
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> None:
        while data:
            if self._inflater.eof:  # the previous member ended: the next one starts here
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                self._out += self._inflater.decompress(data, self._limit + 1 - len(self._out))
            except zlib.error as exc:
                raise MalformedPayload(f"invalid gzip body: {exc}") from None
            if len(self._out) > self._limit:
                raise PayloadTooLarge(f"decompressed body is over the {self._limit}-byte limit")
            data = self._inflater.unused_data if self._inflater.eof else b""

    def finish(self) -> bytes:
        """The whole inflated body; a stream cut inside a member is malformed."""
        if not self._inflater.eof:
            raise MalformedPayload("invalid gzip body: truncated stream")
        return bytes(self._out)


def gunzip_limited(data: bytes, limit: int) -> bytes:
    """Decompress a whole gzip body with ``BoundedGunzip``."""
    inflater = BoundedGunzip(limit)
    inflater.feed(data)
    return inflater.finish()


def parse_protobuf(body: bytes, message_type: type[M]) -> M:
    """An OTLP export request from its binary protobuf encoding."""
    message = message_type()
    try:
        message.ParseFromString(body)
    except (DecodeError, ValueError, RecursionError) as exc:
        raise MalformedPayload(f"invalid protobuf {message_type.DESCRIPTOR.name}: {exc}") from None
    return message
