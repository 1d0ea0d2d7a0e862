"""GPU utilization, memory, temperature and power per device through NVML (``nvidia-ml-py``).

Observable gauges named by the OTel hardware conventions (``hw.gpu.utilization``,
``hw.gpu.memory.usage`` / ``.limit`` / ``.utilization``, ``hw.temperature``, ``hw.power``)
with ``hw.id`` (GPU UUID), ``hw.name``, ``hw.vendor``, ``hw.model``. Without the library, a
driver or a GPU there are no GPU series and exactly one log line; NVML errors never raise.
"""

from __future__ import annotations

import logging
import threading
from types import ModuleType
from typing import Any, Callable, Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from otel_ml import semconv
from otel_ml.semconv_instruments import create_instrument
from otel_ml.semconv import Attr, Metric
from otel_ml.version import __version__

__all__ = ["GpuMetrics"]

_log = logging.getLogger(__name__)
_VENDOR = "nvidia"


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class GpuMetrics:
    """Registers the GPU observable gauges on ``start()`` when NVML answers; ``nvml`` may be an
    object with the ``pynvml`` interface (tests pass a stand-in)."""

    def __init__(self, meter_provider=None, nvml: ModuleType | Any | None = None):
        self._meter_provider = meter_provider
        self._nvml = nvml
        self._devices: list[tuple[Any, dict]] = []
        self._running = False
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    @property
    def devices(self) -> int:
        return len(self._devices)

    def start(self) -> bool:
        """Initialise NVML and register the gauges; False (after one log line) when no GPU."""
        nvml = self._nvml
        if nvml is None:
            try:
                import pynvml as nvml  # nvidia-ml-py
            except ImportError:
                _log.info("otel_ml: no GPU metrics (nvidia-ml-py is not installed)")
                return False
        error = getattr(nvml, "NVMLError", OSError)
        try:
            nvml.nvmlInit()
        except (error, OSError) as exc:
            _log.info("otel_ml: no GPU metrics (NVML unavailable: %s)", exc)
            return False
        self._nvml = nvml
        try:
            count = nvml.nvmlDeviceGetCount()
            devices = []
            for index in range(count):  # devices, a handful at most
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                model = _text(nvml.nvmlDeviceGetName(handle))
                devices.append((handle, {Attr.HW_ID: _text(nvml.nvmlDeviceGetUUID(handle)),
                                         Attr.HW_NAME: f"gpu{index}", Attr.HW_VENDOR: _VENDOR,
                                         Attr.HW_MODEL: model}))
        except (error, OSError) as exc:
            _log.info("otel_ml: no GPU metrics (NVML device query failed: %s)", exc)
            self._shutdown_nvml()
            return False
        if not devices:
            _log.info("otel_ml: no GPU metrics (NVML reports no GPU)")
            self._shutdown_nvml()
            return False
        self._devices = devices
        self._running = True
        meter = metrics.get_meter(semconv.INSTRUMENTATION_SCOPE, __version__, self._meter_provider,
                                  schema_url=semconv.SCHEMA_URL)
        m = Metric
        for spec, callback in ((m.GPU_UTILIZATION, self._utilization),
                               (m.GPU_MEMORY_USAGE, self._memory("used")),
                               (m.GPU_MEMORY_LIMIT, self._memory("total")),
                               (m.GPU_MEMORY_UTILIZATION, self._memory("ratio")),
                               (m.GPU_TEMPERATURE, self._temperature),
                               (m.GPU_POWER, self._power)):
            create_instrument(meter, spec, callbacks=[callback])
        _log.info("otel_ml: GPU metrics for %d device(s)", len(devices))
        return True

    def shutdown(self) -> None:
        """Stop reporting and release NVML. Idempotent."""
        if self._running:
            self._running = False
            self._shutdown_nvml()

    def _shutdown_nvml(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass

    # --- callbacks ----------------------------------------------------------------------
    def _each(self, what: str, read: Callable[[Any], Iterable[tuple[float, dict]]]) -> list[Observation]:
        if not self._running:
            return []
        error = getattr(self._nvml, "NVMLError", OSError)
        out = []
        for handle, attrs in self._devices:
            try:
                out.extend(Observation(value, {**attrs, **extra}) for value, extra in read(handle))
            except (error, OSError) as exc:
                key = f"{what}:{attrs[Attr.HW_ID]}"
                with self._lock:
                    first = key not in self._warned
                    self._warned.add(key)
                if first:
                    _log.warning("otel_ml: NVML %s of %s failed: %s", what, attrs[Attr.HW_ID], exc)
        return out

    def _utilization(self, options: CallbackOptions) -> list[Observation]:
        nvml = self._nvml
        return self._each("utilization", lambda h: [
            (nvml.nvmlDeviceGetUtilizationRates(h).gpu / 100.0, {Attr.HW_GPU_TASK: "general"})])

    def _memory(self, field: str) -> Callable[[CallbackOptions], list[Observation]]:
        nvml = self._nvml

        def read(handle):
            info = nvml.nvmlDeviceGetMemoryInfo(handle)
            if field == "ratio":
                return [(info.used / info.total if info.total else 0.0, {})]
            return [(getattr(info, field), {})]

        return lambda options: self._each(f"memory.{field}", read)

    def _temperature(self, options: CallbackOptions) -> list[Observation]:
        nvml = self._nvml
        sensor = getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
        return self._each("temperature", lambda h: [
            (float(nvml.nvmlDeviceGetTemperature(h, sensor)), {Attr.HW_TYPE: "gpu"})])

    def _power(self, options: CallbackOptions) -> list[Observation]:
        nvml = self._nvml
        return self._each("power", lambda h: [
            (nvml.nvmlDeviceGetPowerUsage(h) / 1000.0, {Attr.HW_TYPE: "gpu"})])  # mW -> W
