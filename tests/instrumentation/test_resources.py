"""Resource gauges: GPUs through an NVML stand-in, a missing driver / library, process metrics from
the system-metrics instrumentation, and the app's queue depth."""

from __future__ import annotations

import logging
import sys
from types import SimpleNamespace

import pytest

from otel_ml.instrumentation import GpuMetrics, observe_queue_depth
from otel_ml.instrumentation.resources import enable_process_metrics
from otel_ml.semconv import Attr, Metric

M = Metric
GPU_METRICS = [M.GPU_UTILIZATION, M.GPU_MEMORY_USAGE, M.GPU_MEMORY_LIMIT, M.GPU_MEMORY_UTILIZATION,
               M.GPU_TEMPERATURE, M.GPU_POWER]


class FakeNvml:
    """Plays nvidia-ml-py (``pynvml``) for two GPUs; the second can be made to fail."""

    NVML_TEMPERATURE_GPU = 0

    class NVMLError(Exception):
        pass

    def __init__(self, init_error=False):
        self.init_error = init_error
        self.broken = set()
        self.shutdowns = 0
        self.gpus = [
            dict(uuid="GPU-aaaa", name=b"NVIDIA H100 80GB HBM3", util=87, used=60 * 2**30, total=80 * 2**30,
                 temp=71, power_mw=312_500),
            dict(uuid="GPU-bbbb", name="NVIDIA L4", util=5, used=1 * 2**30, total=24 * 2**30, temp=40,
                 power_mw=28_000),
        ]

    def nvmlInit(self):
        if self.init_error:
            raise self.NVMLError("NVML Shared Library Not Found")

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def _gpu(self, h):
        if h in self.broken:
            raise self.NVMLError("GPU is lost")
        return self.gpus[h]

    def nvmlDeviceGetName(self, h):
        return self.gpus[h]["name"]

    def nvmlDeviceGetUUID(self, h):
        return self.gpus[h]["uuid"]

    def nvmlDeviceGetUtilizationRates(self, h):
        return SimpleNamespace(gpu=self._gpu(h)["util"], memory=0)

    def nvmlDeviceGetMemoryInfo(self, h):
        g = self._gpu(h)
        return SimpleNamespace(used=g["used"], total=g["total"], free=g["total"] - g["used"])

    def nvmlDeviceGetTemperature(self, h, sensor):
        assert sensor == self.NVML_TEMPERATURE_GPU
        return self._gpu(h)["temp"]

    def nvmlDeviceGetPowerUsage(self, h):
        return self._gpu(h)["power_mw"]


def _by_gpu(metrics, spec):
    return {p.attributes[Attr.HW_ID]: p for p in metrics.get(spec.name, [])}


def test_gpu_gauges_per_device(otel):
    nvml = FakeNvml()
    gpu = GpuMetrics(otel.meter_provider, nvml=nvml)
    assert gpu.start() and gpu.devices == 2
    m = otel.metrics()
    util = _by_gpu(m, M.GPU_UTILIZATION)
    assert {k: p.value for k, p in util.items()} == {"GPU-aaaa": 0.87, "GPU-bbbb": 0.05}
    assert dict(util["GPU-aaaa"].attributes) == {Attr.HW_ID: "GPU-aaaa", Attr.HW_NAME: "gpu0", Attr.HW_VENDOR: "nvidia",
                                                 Attr.HW_MODEL: "NVIDIA H100 80GB HBM3", Attr.HW_GPU_TASK: "general"}
    assert {k: p.value for k, p in _by_gpu(m, M.GPU_MEMORY_USAGE).items()} == {"GPU-aaaa": 60 * 2**30,
                                                                                "GPU-bbbb": 2**30}
    assert {k: p.value for k, p in _by_gpu(m, M.GPU_MEMORY_LIMIT).items()} == {"GPU-aaaa": 80 * 2**30,
                                                                                "GPU-bbbb": 24 * 2**30}
    assert _by_gpu(m, M.GPU_MEMORY_UTILIZATION)["GPU-aaaa"].value == pytest.approx(0.75)
    temp = _by_gpu(m, M.GPU_TEMPERATURE)
    assert temp["GPU-aaaa"].value == 71 and temp["GPU-aaaa"].attributes[Attr.HW_TYPE] == "gpu"
    assert _by_gpu(m, M.GPU_POWER)["GPU-aaaa"].value == pytest.approx(312.5)
    gpu.shutdown()
    assert nvml.shutdowns == 1
    gpu.shutdown()
    assert nvml.shutdowns == 1
    assert all(not otel.metrics().get(spec.name) for spec in GPU_METRICS)


def test_a_failing_device_is_skipped_and_logged_once(otel, caplog):
    nvml = FakeNvml()
    gpu = GpuMetrics(otel.meter_provider, nvml=nvml)
    gpu.start()
    nvml.broken.add(1)
    with caplog.at_level(logging.WARNING, logger="otel_ml"):
        otel.metrics()
        m = otel.metrics()
    assert set(_by_gpu(m, M.GPU_UTILIZATION)) == {"GPU-aaaa"}
    assert sum("utilization of GPU-bbbb failed" in r.getMessage() for r in caplog.records) == 1


def test_missing_driver_means_no_gpu_series_one_log_line_no_exception(otel, caplog):
    with caplog.at_level(logging.DEBUG, logger="otel_ml"):
        gpu = GpuMetrics(otel.meter_provider, nvml=FakeNvml(init_error=True))
        assert gpu.start() is False
        m = otel.metrics()
    assert all(spec.name not in m for spec in GPU_METRICS)
    lines = [r for r in caplog.records if r.name.startswith("otel_ml")]
    assert len(lines) == 1 and "NVML unavailable: NVML Shared Library Not Found" in lines[0].getMessage()


def test_missing_library_means_one_log_line(otel, caplog, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    with caplog.at_level(logging.DEBUG, logger="otel_ml"):
        assert GpuMetrics(otel.meter_provider).start() is False
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("otel_ml")]
    assert lines == ["otel_ml: no GPU metrics (nvidia-ml-py is not installed)"]
    assert all(spec.name not in otel.metrics() for spec in GPU_METRICS)


def test_no_gpu_on_this_machine_does_not_raise(otel):
    # the real nvidia-ml-py: a GPU-less machine answers with NVMLError, a GPU machine with devices
    gpu = GpuMetrics(otel.meter_provider)
    started = gpu.start()
    assert started == bool(otel.metrics().get(M.GPU_UTILIZATION.name))
    gpu.shutdown()


def test_queue_depth_from_an_app_callback(otel):
    queue = []
    handle = observe_queue_depth(lambda: len(queue), model_name="m", meter_provider=otel.meter_provider)
    queue.extend(range(7))
    [point] = otel.metrics()[M.QUEUE_DEPTH.name]
    assert point.value == 7 and dict(point.attributes) == {Attr.MODEL_NAME: "m"}
    handle.close()
    assert M.QUEUE_DEPTH.name not in otel.metrics()


def test_a_failing_queue_callback_only_drops_its_own_point(otel):
    observe_queue_depth(lambda: 1 / 0, model_name="bad", meter_provider=otel.meter_provider)
    observe_queue_depth(lambda: 3, model_name="good", meter_provider=otel.meter_provider)
    assert {p.attributes[Attr.MODEL_NAME]: p.value for p in otel.metrics()[M.QUEUE_DEPTH.name]} == {"good": 3}


def test_process_metrics_come_from_system_metrics_instrumentation(otel):
    instrumentor = enable_process_metrics(otel.meter_provider)
    try:
        assert type(instrumentor).__module__ == "opentelemetry.instrumentation.system_metrics"
        names = set(otel.metrics())
        assert {"process.cpu.time", "process.cpu.utilization", "process.memory.usage",
                "process.memory.virtual"} <= names
        assert not [n for n in names if n.startswith("system.")]  # process-only configuration
        assert enable_process_metrics(otel.meter_provider) is None  # already instrumented: left alone
    finally:
        instrumentor.uninstrument()
