"""otel_ml.processor: the drift / data-quality / accuracy processor service (P1-P10).

Usage::

    from otel_ml.processor import Processor, load_config

    processor = Processor(load_config("processor.yml"))
    processor.run()            # until SIGTERM / SIGINT; or start() ... stop()

or from the shell: ``otel-ml processor --config processor.yml`` (docs/processor.md).

The names below are loaded on first use, so that importing a submodule (for instance
``otel_ml.processor.contracts`` from the receivers) does not pull in the whole service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_ml.lazy_exports import lazy_exports

__all__ = [
    "Processor",
    "ProcessorConfig",
    "load_config",
    "ProfileSource",
    "ExportSettings",
    "StateSettings",
    "IngestSettings",
    "EvaluationSettings",
    "MetricsExport",
    "IngestQueue",
    "CheckpointStore",
    "CheckpointError",
]

# public name -> module defining it
_EXPORTS = {
    "Processor": "otel_ml.processor.service",
    "ProcessorConfig": "otel_ml.processor.config",
    "load_config": "otel_ml.processor.config",
    "ProfileSource": "otel_ml.processor.config",
    "ExportSettings": "otel_ml.processor.config",
    "StateSettings": "otel_ml.processor.config",
    "IngestSettings": "otel_ml.processor.config",
    "EvaluationSettings": "otel_ml.processor.config",
    "MetricsExport": "otel_ml.processor.export",
    "IngestQueue": "otel_ml.processor.ingest_queue",
    "CheckpointStore": "otel_ml.processor.checkpoint",
    "CheckpointError": "otel_ml.processor.checkpoint",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from otel_ml.processor.checkpoint import CheckpointError, CheckpointStore
    from otel_ml.processor.config import (
        EvaluationSettings,
        ExportSettings,
        IngestSettings,
        ProcessorConfig,
        ProfileSource,
        StateSettings,
        load_config,
    )
    from otel_ml.processor.export import MetricsExport
    from otel_ml.processor.ingest_queue import IngestQueue
    from otel_ml.processor.service import Processor


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
