"""Numpy arrays in JSON checkpoints: dtype, shape and base64 of the raw little-endian bytes."""

from __future__ import annotations

import base64

import numpy as np

__all__ = ["encode_array", "decode_array"]


def encode_array(arr: np.ndarray) -> dict:
    a = np.ascontiguousarray(arr)
    dtype = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
    return {"dtype": dtype.str, "shape": list(a.shape),
            "data": base64.b64encode(a.astype(dtype, copy=False).tobytes()).decode("ascii")}


def decode_array(data: dict) -> np.ndarray:
    """Inverse of ``encode_array``; a malformed entry raises ``ValueError``."""
    try:
        dtype = np.dtype(data["dtype"])
        shape = tuple(int(s) for s in data["shape"])
        raw = base64.b64decode(data["data"], validate=True)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed array entry: {exc!r}") from None
    if dtype.hasobject:
        raise ValueError("object arrays are not accepted in checkpoints")
    arr = np.frombuffer(raw, dtype=dtype)
    return arr.reshape(shape).copy()
