"""The one codec of checkpoint data: component snapshots hold raw values, this turns them into JSON.

Components hand their ``snapshot()`` over as plain data plus numpy arrays (float, int, bool and
object arrays of mixed None / str / number), ``bytes`` (sketches) and non-finite floats;
``encode_state`` tags what JSON cannot hold (arrays as dtype, shape and base64 of the raw bytes)
and ``decode_state`` gives the same values back. Restoring components read arrays with
``read_array``, which also takes the encodings that checkpoints written before this codec used
(float lists with null for NaN, ``{"f": "nan"}`` values, ``{"dtype", "shape", "data"}`` arrays,
base64 sketch strings), so those checkpoints stay loadable under the same format version.
"""

from __future__ import annotations

import base64
import math
from typing import Any, Mapping

import numpy as np

from otel_ml.errors import OtelMlError

__all__ = ["CheckpointError", "encode_state", "decode_state", "read_array", "read_bytes"]

_TAG = "__otel_ml__"
_NONFINITE = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


class CheckpointError(OtelMlError):
    """A state cannot be encoded, or a checkpoint file cannot be decoded."""


def encode_state(value: Any, path: str = "$") -> Any:
    """Turn a snapshot into JSON-ready data; ``path`` names the position in errors."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {_TAG: "float", "v": repr(value)}
    if isinstance(value, np.generic):
        return encode_state(value.item(), path)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {_TAG: "bytes", "v": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return {_TAG: "objarray", "v": encode_state(value.tolist(), path)}
        arr = np.ascontiguousarray(value)
        return {_TAG: "ndarray", "dtype": arr.dtype.str, "shape": list(arr.shape),
                "v": base64.b64encode(arr.tobytes()).decode("ascii")}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and _TAG not in value:
            return {k: encode_state(v, f"{path}.{k}") for k, v in value.items()}
        return {_TAG: "map", "v": [[encode_state(k, f"{path}<key>"), encode_state(v, f"{path}[{k!r}]")]
                                   for k, v in value.items()]}
    if isinstance(value, list):
        return [encode_state(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {_TAG: "tuple", "v": [encode_state(v, f"{path}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, (set, frozenset)):
        return {_TAG: "set", "v": [encode_state(v, f"{path}[]") for v in value]}
    raise CheckpointError(f"{path}: cannot checkpoint a value of type {type(value).__name__}")


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def _object_array(values: list) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def decode_state(data: Any) -> Any:
    """Inverse of ``encode_state``."""
    if isinstance(data, list):
        return [decode_state(v) for v in data]
    if not isinstance(data, dict):
        return data
    tag = data.get(_TAG)
    if tag is None:
        return {k: decode_state(v) for k, v in data.items()}
    v = data["v"]
    if tag == "float":
        return float(v)
    if tag == "bytes":
        return base64.b64decode(v)
    if tag == "ndarray":
        raw = base64.b64decode(v)
        return np.frombuffer(raw, dtype=np.dtype(data["dtype"])).reshape(data["shape"]).copy()
    if tag == "objarray":
        return _object_array(decode_state(v))
    if tag == "map":
        return {_hashable(decode_state(k)): decode_state(val) for k, val in v}
    if tag == "tuple":
        return tuple(decode_state(x) for x in v)
    if tag == "set":
        return {_hashable(decode_state(x)) for x in v}
    raise CheckpointError(f"unknown tag {tag!r}")


# -- readers used by restore (current values and the earlier checkpoints' encodings) ----------


def _legacy_array(data: Mapping[str, Any]) -> np.ndarray:
    """An array as checkpoints before the one codec wrote it: dtype, shape, base64 ``data``."""
    dtype = np.dtype(data["dtype"])
    if dtype.hasobject:
        raise ValueError("object arrays are not accepted in checkpoints")
    raw = base64.b64decode(data["data"], validate=True)
    return np.frombuffer(raw, dtype=dtype).reshape(tuple(int(s) for s in data["shape"])).copy()


def read_array(value: Any, dtype: Any = None) -> np.ndarray:
    """The array a snapshot held under a key, as ``dtype`` (object arrays keep None, str and
    numbers as they are). Raises ``ValueError`` for anything that is not an array's encoding."""
    if isinstance(value, np.ndarray):
        arr = value
    elif isinstance(value, Mapping) and "data" in value and "dtype" in value:
        arr = _legacy_array(value)
    elif isinstance(value, (list, tuple)):
        if np.dtype(dtype if dtype is not None else np.float64).hasobject:
            # earlier learners spelled non-finite floats {"f": "nan"}
            return _object_array([_NONFINITE[v["f"]] if isinstance(v, dict) and "f" in v else v
                                  for v in value])
        arr = np.array(value, dtype=np.float64 if dtype is None else dtype)  # None reads as NaN
    else:
        raise ValueError(f"expected an array, got {type(value).__name__}")
    if dtype is None:
        return arr
    if np.dtype(dtype).hasobject and not arr.dtype.hasobject:
        return _object_array(arr.tolist())
    return arr.astype(dtype, copy=False)


def read_bytes(value: Any) -> bytes:
    """Bytes a snapshot held (earlier checkpoints: a base64 string)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return base64.b64decode(value, validate=True)
    raise ValueError(f"expected bytes, got {type(value).__name__}")
