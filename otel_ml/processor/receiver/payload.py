"""Request bodies: bounded gunzip, protobuf parsing, and the errors bad payloads raise."""

from __future__ import annotations

import zlib
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from otel_ml.errors import OtelMlError

__all__ = ["MalformedPayload", "PayloadTooLarge", "gunzip_limited", "parse_protobuf"]

M = TypeVar("M", bound=Message)


class MalformedPayload(OtelMlError):
    """The body is not a valid OTLP message (answered 400 / INVALID_ARGUMENT, not retried)."""


class PayloadTooLarge(OtelMlError):
    """The body, or what it decompresses to, is over ``max_request_bytes`` (answered 413)."""


def gunzip_limited(data: bytes, limit: int) -> bytes:
    """Decompress gzip ``data`` (multi-member too), refusing output over ``limit`` bytes.

    Output is produced at most ``limit + 1`` bytes at a time, so a gzip bomb costs no more
    memory than a legitimate body.
    """
    out = bytearray()
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise MalformedPayload(f"invalid gzip body: {exc}") from None
        if len(out) > limit:
            raise PayloadTooLarge(f"decompressed body is over the {limit}-byte limit")
        if not inflater.eof:
            raise MalformedPayload("invalid gzip body: truncated stream")
        data = inflater.unused_data
        if not data:
            return bytes(out)


def parse_protobuf(body: bytes, message_type: type[M]) -> M:
    """An OTLP export request from its binary protobuf encoding."""
    message = message_type()
    try:
        message.ParseFromString(body)
    except (DecodeError, ValueError, RecursionError) as exc:
        raise MalformedPayload(f"invalid protobuf {message_type.DESCRIPTOR.name}: {exc}") from None
    return message
