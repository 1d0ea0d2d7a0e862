"""Decode-only floor of the processor's ingest path.

Serialized OTLP ``ExportLogsServiceRequest`` payloads of realistic inference events (20
features: 16 numeric, 2 integer, 2 categorical; prediction, confidence, two-class
probabilities, prediction id, trace/span ids) in both body forms:

* single: one log record per prediction, 512 records per request (the SDK's batch size);
* batch:  columnar records of 64 predictions, 8 records per request.

For each form it times protobuf ``ParseFromString`` alone (the baseline: bytes dropped after
parsing) and parse + ``decode_logs`` into ``InferenceBatch`` events, and prints items/s for
each and the ratio. Run: ``.venv/bin/python benchmarks/bench_ingest_decode.py [--quick]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from otel_ml.processor.receiver.decode import decode_logs
from otel_ml.semconv import Attr, Body
from otel_ml.semconv import EventName

N_NUMERIC, N_INT, N_CAT = 16, 2, 2
CATEGORIES = ["web", "ios", "android", "partner"]


def _value(v) -> AnyValue:
    if isinstance(v, str):
        return AnyValue(string_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    return AnyValue(double_value=v)


def _kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def _kvlist(pairs: dict[str, AnyValue]) -> AnyValue:
    return AnyValue(kvlist_value=KeyValueList(values=[_kv(k, v) for k, v in pairs.items()]))


def _array(values) -> AnyValue:
    return AnyValue(array_value=ArrayValue(values=[_value(v) for v in values]))


def _features(rng: random.Random) -> dict:
    f = {f"num_{i}": rng.gauss(0.0, 1.0) for i in range(N_NUMERIC)}
    f.update({f"int_{i}": rng.randrange(100) for i in range(N_INT)})
    f.update({f"cat_{i}": rng.choice(CATEGORIES) for i in range(N_CAT)})
    return f


def _attrs(pid: str | None) -> list[KeyValue]:
    attrs = [_kv(Attr.MODEL_NAME, _value("churn")), _kv(Attr.MODEL_VERSION, _value("7")),
             _kv(Attr.VARIANT, _value("primary"))]
    if pid is not None:
        attrs.append(_kv(Attr.PREDICTION_ID, _value(pid)))
    return attrs


def single_request(rng: random.Random, start: int, n: int = 512) -> bytes:
    records = []
    for i in range(n):
        p1 = rng.random()
        body = _kvlist({
            Body.FEATURES: _kvlist({k: _value(v) for k, v in _features(rng).items()}),
            Body.PREDICTION: _value(int(p1 > 0.5)),
            Body.CONFIDENCE: _value(max(p1, 1 - p1)),
            Body.PROBABILITIES: _kvlist({"0": _value(1 - p1), "1": _value(p1)}),
        })
        records.append(LogRecord(
            time_unix_nano=time.time_ns(), event_name=EventName.INFERENCE, body=body,
            attributes=_attrs(f"pred-{start + i}"), trace_id=rng.randbytes(16), span_id=rng.randbytes(8)))
    return _wrap(records)


def batch_request(rng: random.Random, start: int, records: int = 8, size: int = 64) -> bytes:
    out = []
    for r in range(records):
        rows = [_features(rng) for _ in range(size)]
        p1 = [rng.random() for _ in range(size)]
        base = start + r * size
        body = _kvlist({
            Body.PREDICTION_IDS: _array([f"pred-{base + i}" for i in range(size)]),
            Body.FEATURES: _kvlist({k: _array([row[k] for row in rows]) for k in rows[0]}),
            Body.PREDICTION: _array([int(p > 0.5) for p in p1]),
            Body.CONFIDENCE: _array([max(p, 1 - p) for p in p1]),
            Body.PROBABILITIES: _kvlist({"0": _array([1 - p for p in p1]), "1": _array(p1)}),
        })
        out.append(LogRecord(
            time_unix_nano=time.time_ns(), event_name=EventName.INFERENCE, body=body,
            attributes=_attrs(None), trace_id=rng.randbytes(16), span_id=rng.randbytes(8)))
    return _wrap(out)


def _wrap(records: list[LogRecord]) -> bytes:
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        scope_logs=[ScopeLogs(log_records=records)])]).SerializeToString()


def _parse_only(payloads: list[bytes]) -> int:
    for raw in payloads:
        ExportLogsServiceRequest.FromString(raw)
    return 0


def _parse_decode(payloads: list[bytes], merge: bool) -> int:
    items = 0
    for raw in payloads:
        result = decode_logs(ExportLogsServiceRequest.FromString(raw), merge=merge)
        assert result.rejected == 0
        items += sum(e.n for e in result.events)
    return items


def _median_rate(fn, payloads, items: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(payloads)
        times.append(time.perf_counter() - t0)
    return items / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16, help="payloads per form (512 items each)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="4 payloads, 3 repeats")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.repeats = 4, 3
    rng = random.Random(7)
    forms = {
        "single": [single_request(rng, i * 512) for i in range(args.requests)],
        "batch": [batch_request(rng, i * 512) for i in range(args.requests)],
    }
    print(f"{args.requests} requests x 512 items per form, {N_NUMERIC + N_INT + N_CAT} features, "
          f"median of {args.repeats} runs")
    print(f"{'form':<8}{'bytes/item':>11}{'parse only':>16}{'parse+decode':>16}{'decode share':>14}")
    for form, payloads in forms.items():
        items = _parse_decode(payloads, merge=True)
        assert items == 512 * args.requests
        size = sum(map(len, payloads)) / items
        parse = _median_rate(_parse_only, payloads, items, args.repeats)
        full = _median_rate(lambda p: _parse_decode(p, merge=True), payloads, items, args.repeats)
        print(f"{form:<8}{size:>11.0f}{parse:>12,.0f}/s{full:>12,.0f}/s{1 - full / parse:>13.0%}")
        if form == "single":
            unmerged = _median_rate(lambda p: _parse_decode(p, merge=False), payloads, items,
                                    args.repeats)
            print(f"{'  (no merge: one batch per item)':<35}{unmerged:>12,.0f}/s "
                  f"({unmerged / full:.2f}x of merged)")


if __name__ == "__main__":
    main()
