"""Options of ``otel-ml demo`` and the processor settings they imply, validated on construction."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from otel_ml.demo.app import MAX_BATCH
from otel_ml.demo.scenario import PHASE_DECAY, PHASE_DRIFT, PHASE_STEADY, Phase, Scenario
from otel_ml.demo.timescale import DEMO_TIMESCALE
from otel_ml.errors import ConfigError

__all__ = ["DemoOptions", "SHORT_DURATION_S", "DEFAULT_DURATION_S", "DEMO_STALE_AFTER_S", "processor_config"]

#: Traffic seconds of ``--short`` (plus about 15 s of start-up and shut-down).
SHORT_DURATION_S = 50.0
DEFAULT_DURATION_S = 240.0
MIN_DURATION_S = 30.0
MAX_RATE = 200.0
#: Phase shares of the traffic time: a short steady start, then drift, then drift with label decay.
PHASE_SHARES = {PHASE_STEADY: 0.2, PHASE_DRIFT: 0.45, PHASE_DECAY: 0.35}
DRIFT_SD = 2.5
LABEL_FLIP = 0.35
#: Drift and accuracy windows of the demo's processor (seconds; the processor's defaults are
#: 300 and 3600): a phase change shows within seconds.
DRIFT_WINDOW_S = 30
ACCURACY_WINDOW_S = 60
#: Seconds without traffic after which a model version counts as no longer serving and its drift,
#: data-quality and accuracy gauges end (so its alerts resolve): the processor's default of 15
#: minutes on the demo's compressed time axis (like the rules' range windows, / 30), 30 s. That
#: is also the drift time window, so a version that serves again starts with an expired one.
DEMO_STALE_AFTER_S = DEMO_TIMESCALE.range_seconds(900.0)


@dataclass(frozen=True)
class DemoOptions:
    """One demo run."""

    duration_s: float = DEFAULT_DURATION_S
    rate: float = 25.0  # requests per second (1..8 rows each)
    alerting_binaries: bool = True  # False: no Prometheus / Alertmanager even when installed
    keep_dir: bool = False
    run_dir: str | None = None
    stack_dir: str | None = None
    label_delay_s: float = 2.0
    label_share: float = 0.9
    #: Seconds a model version may go without traffic before the processor stops exporting its
    #: gauges (``windows.stale_after_s``, ``accuracy.window.stale_after_s``), so the alerts
    #: of a version that no longer serves resolve; its state is kept.
    stale_after_s: float = DEMO_STALE_AFTER_S

    def __post_init__(self):
        d = self.duration_s
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not MIN_DURATION_S <= d <= 86400:
            raise ConfigError("duration", f"must be between {MIN_DURATION_S:g} and 86400 seconds, got {d!r}")
        r = self.rate
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r <= MAX_RATE:
            raise ConfigError("rate", f"must be a number of requests per second in (0, {MAX_RATE:g}], got {r!r}")
        if not 0 <= self.label_delay_s <= 60:
            raise ConfigError("label_delay_s", "must be between 0 and 60 seconds")
        if not 0 < self.label_share <= 1:
            raise ConfigError("label_share", "must be in (0, 1]")
        s = self.stale_after_s
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 < s <= 86400:
            raise ConfigError("stale_after_s", f"must be a number of seconds in (0, 86400], got {s!r}")

    def scenario(self, drift_features: tuple[int, ...]) -> Scenario:
        steady = self.duration_s * PHASE_SHARES[PHASE_STEADY]
        drift = self.duration_s * PHASE_SHARES[PHASE_DRIFT]
        return Scenario([
            Phase(PHASE_STEADY, steady),
            Phase(PHASE_DRIFT, drift, shift_features=drift_features, shift_sd=DRIFT_SD),
            Phase(PHASE_DECAY, self.duration_s - steady - drift, shift_features=drift_features,
                  shift_sd=DRIFT_SD, label_flip=LABEL_FLIP),
        ])

    @property
    def predictions_per_s(self) -> float:
        return self.rate * (MAX_BATCH + 1) / 2.0


def _clamp(value: float, lo: int, hi: int) -> int:
    return int(min(hi, max(lo, round(value))))


def processor_config(options: DemoOptions, *, grpc_port: int, http_port: int, metrics_port: int,
                     profiles: list[str], state_dir: Path) -> dict:
    """The processor's configuration for a run: windows sized to hold about five seconds of
    traffic (so a phase change shows within seconds), evaluation every second, and a version
    that stops serving goes stale (its gauges end) after ``options.stale_after_s``; the state
    of idle versions is released on the processor's own default (a day)."""
    count = _clamp(options.predictions_per_s * 5, 200, 5000)
    labelled = _clamp(options.predictions_per_s * options.label_share * 4, 200, 5000)
    return {
        "receiver": {"grpc_endpoint": f"127.0.0.1:{grpc_port}", "http_endpoint": f"127.0.0.1:{http_port}"},
        "windows": {"count_size": count, "time_s": DRIFT_WINDOW_S, "time_panes": 5,
                    "min_events": min(100, count // 2), "seed": 0, "stale_after_s": options.stale_after_s},
        "profiles": {"learn_from_first_n": 0},
        "accuracy": {"window": {"count": labelled, "time_s": ACCURACY_WINDOW_S, "min_labels": min(100, labelled // 2),
                                "min_predictions": min(100, labelled // 2),
                                "stale_after_s": options.stale_after_s},
                     "baseline": {"source": "reference"},
                     "labels": {"grace_s": 60}},
        "export": {"metrics_endpoint": f"127.0.0.1:{metrics_port}"},
        "state": {"state_dir": str(state_dir), "checkpoint_interval_s": 10},
        "evaluation": {"interval_s": 1},
        "reference_profiles": list(profiles),
    }


def write_processor_config(config: dict, path: Path) -> Path:
    path.write_text("# otel-ml processor configuration written by `otel-ml demo` for this run.\n"
                    + yaml.safe_dump(config, sort_keys=False))
    return path
