"""The processor service: receivers -> ingest queue -> components -> gauges, with checkpoints.

``Processor(config)`` wires the parts; ``start()`` restores state and binds every server,
``run()`` blocks until SIGTERM/SIGINT, ``stop()`` shuts down gracefully (receivers first, then
the queue is drained, then a final checkpoint) and is idempotent. An evaluation loop refreshes
the exported gauges every ``evaluation.interval_s``; a checkpoint loop saves state every
``state.checkpoint_interval_s``.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Callable, Sequence

from opentelemetry.metrics import Meter

from otel_ml.errors import OtelMlError, UserError
from otel_ml.processor.checkpoint import CheckpointError, CheckpointStore
from otel_ml.processor.config import ProcessorConfig
from otel_ml.processor.contracts import Component, Point
from otel_ml.processor.export import MetricsExport
from otel_ml.processor.ingest_queue import IngestQueue

__all__ = ["Processor", "ComponentFactory"]

_log = logging.getLogger(__name__)

#: Builds a fresh component from the OTel meter it records its own instruments on.
ComponentFactory = Callable[[Meter], Component]

# Seconds graceful stop waits for the queue to drain before the final checkpoint.
_DRAIN_TIMEOUT_S = 30.0


class Processor:
    """One processor instance: ``start()``, ``stop()``, ``run()``, ``evaluate_now()``, ``checkpoint_now()``."""

    def __init__(
        self,
        config: ProcessorConfig,
        *,
        clock: Callable[[], float] = time.time,
        component_factories: Sequence[ComponentFactory] | None = None,
    ):
        self.config = config
        self._clock = clock
        # profiles are loaded here: a bad file fails before anything is bound or started
        self._factories = list(component_factories) if component_factories is not None \
            else default_component_factories(config, clock)
        self.export = MetricsExport(config.export)
        try:
            self.components: list[Component] = [make(self.export.meter) for make in self._factories]
        except BaseException:
            self.export.shutdown()
            raise
        self.queue = IngestQueue(
            self.components, max_events=config.ingest.queue_max_events,
            max_memory_bytes=config.ingest.max_memory_bytes,
            retry_after_s=config.receiver.retry_after_s)
        self.export.observe_queue(lambda: self.queue.depth, self.queue.capacity)
        self.store = CheckpointStore(config.state.state_dir) if config.state.state_dir else None
        self.receivers = None
        self._eval_lock = threading.Lock()
        self._ckpt_lock = threading.Lock()
        self._stop_event = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False
        self._stopped = False
        self.last_checkpoint: float | None = None
        self.last_evaluation: float | None = None

    # -- ports ---------------------------------------------------------------------------
    @property
    def grpc_port(self) -> int | None:
        return getattr(self.receivers, "grpc_port", None)

    @property
    def http_port(self) -> int | None:
        return getattr(self.receivers, "http_port", None)

    @property
    def metrics_port(self) -> int | None:
        return self.export.metrics_port

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Restore state, bind every server and start the loops; returns once listening."""
        if self._started:
            return
        check_exposure(self.config)
        self._started = True
        try:
            if self.store is not None:
                self.store.open()
                self._restore()
            else:
                _log.warning("no state.state_dir: state is kept in memory only and lost on restart")
            self.queue.start()
            self.export.start()
            self.receivers = _make_receivers(self.config, self.queue, self.export.receiver_stats)
            try:
                self.receivers.start()
            except OSError as exc:
                raise UserError(f"receiver: cannot listen: {exc.strerror or exc}") from exc
        except BaseException:
            self.stop(checkpoint=False)
            raise
        self._spawn("otel-ml-evaluate", self.config.evaluation.interval_s, self._evaluate_tick)
        if self.store is not None:
            self._spawn("otel-ml-checkpoint", self.config.state.checkpoint_interval_s, self._checkpoint_tick)

    def stop(self, checkpoint: bool = True) -> None:
        """Graceful stop: receivers, loops, drain the queue, final checkpoint. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._stop_event.set()
        if self.receivers is not None:
            try:
                self.receivers.stop()
            except OtelMlError:
                _log.exception("stopping the receivers failed")
        for thread in self._threads:
            thread.join(10)
        if not self.queue.stop(drain=True, timeout=_DRAIN_TIMEOUT_S):
            _log.error("ingest queue not drained within %ss; %d events lost", _DRAIN_TIMEOUT_S,
                       self.queue.depth)
        if checkpoint and self.store is not None and self._started:
            self.checkpoint_now()
        self.export.shutdown()
        if self.store is not None:
            self.store.close()

    def run(self, on_started: Callable[["Processor"], None] | None = None) -> int:
        """Start (when needed) and block until SIGTERM or SIGINT, then stop gracefully.

        Signal handlers are installed before starting, so a signal during start-up still
        ends in a graceful stop; ``on_started`` is called once every server is bound.
        """
        received: list[int] = []

        def on_signal(signum, _frame):
            received.append(signum)
            self._stop_event.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            if on_started is not None:
                on_started(self)
            while not self._stop_event.is_set():
                self._stop_event.wait(1.0)
            if received:
                _log.info("received %s, shutting down", signal.Signals(received[0]).name)
        finally:
            self.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return 0

    # -- evaluation ----------------------------------------------------------------------
    def evaluate_now(self, now: float | None = None) -> list[Point]:
        """Evaluate every component once and publish the gauges; returns the points."""
        with self._eval_lock:
            started = time.perf_counter()
            now = self._clock() if now is None else now
            points: list[Point] = []
            for component in list(self.components):
                try:
                    points.extend(component.evaluate(now))
                except Exception:  # noqa: BLE001 - one failing component must not blank the others
                    _log.exception("component %r failed to evaluate", component.name)
            self.export.publish(points)
            self.last_evaluation = self._clock()
            self.export.record_evaluation(time.perf_counter() - started, self.last_evaluation)
            return points

    def _evaluate_tick(self) -> None:
        self.evaluate_now()

    # -- checkpoints ---------------------------------------------------------------------
    def checkpoint_now(self) -> bool:
        """Save every component's snapshot; False (and a log line) when one could not be saved."""
        if self.store is None:
            return False
        ok = True
        with self._ckpt_lock:
            now = self._clock()
            states = []
            # every snapshot between the same two ingest chunks, so the components agree on
            # which events they hold; encoding and writing happen after the worker resumes
            with self.queue.between_chunks():
                for component in list(self.components):
                    try:
                        states.append((component.name, component.snapshot()))
                    except CheckpointError as exc:
                        ok = False
                        _log.error("checkpoint of %r failed: %s", component.name, exc)
            for name, state in states:
                try:
                    self.store.save(name, state, now=now)
                except (CheckpointError, OSError) as exc:
                    ok = False
                    _log.error("checkpoint of %r failed: %s", name, exc)
            if ok:
                self.last_checkpoint = now
                self.export.record_checkpoint(now)
        return ok

    def _checkpoint_tick(self) -> None:
        self.checkpoint_now()

    def _restore(self) -> None:
        """Restore each component from its checkpoint; a damaged one is set aside and starts empty."""
        for index, component in enumerate(list(self.components)):
            name = component.name
            try:
                state = self.store.load(name)
                if state is None:
                    _log.info("no checkpoint for %r in %s: starting empty", name, self.store.state_dir)
                    continue
                component.restore(state)
            except Exception as exc:  # noqa: BLE001 - any damage (or an old format) must not crash-loop
                kept = self.store.quarantine(name)
                _log.error("checkpoint of %r is unusable (%s); kept aside as %s, starting empty",
                           name, exc, kept)
                self.components[index] = self._factories[index](self.export.meter)
                continue
            written = self.store.written_at(name)
            age = f", {self._clock() - written:.0f}s old" if written else ""
            _log.info("restored %r from %s%s", name, self.store.path_for(name), age)

    # -- loops ---------------------------------------------------------------------------
    def _spawn(self, name: str, interval_s: float, tick: Callable[[], None]) -> None:
        def loop():
            while not self._stop_event.wait(interval_s):
                try:
                    tick()
                except Exception:  # noqa: BLE001 - a loop must outlive one failed round
                    _log.exception("%s round failed", name)

        thread = threading.Thread(target=loop, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)


# -- wiring of the parts other modules provide ----------------------------------------------

#: (setting, CLI flag, token setting, its environment variable) of every listening address.
_LISTENERS = (
    ("receiver.grpc_endpoint", "--grpc-endpoint", "receiver.bearer_token_file", "OTEL_ML_BEARER_TOKEN_FILE"),
    ("receiver.http_endpoint", "--http-endpoint", "receiver.bearer_token_file", "OTEL_ML_BEARER_TOKEN_FILE"),
    ("export.metrics_endpoint", "--metrics-endpoint", "export.metrics_bearer_token_file",
     "OTEL_ML_METRICS_BEARER_TOKEN_FILE"),
)


def check_exposure(config: ProcessorConfig) -> None:
    """Refuse to listen beyond loopback without a bearer token (a one-line UserError)."""
    from otel_ml.config_checks import parse_endpoint
    from otel_ml.processor.receiver.auth import is_loopback

    tokens = {"receiver.bearer_token_file": config.receiver.bearer_token_file
              or config.receiver.bearer_token,
              "export.metrics_bearer_token_file": config.export.metrics_bearer_token_file}
    for setting, flag, token_setting, env in _LISTENERS:
        section, key = setting.split(".")
        endpoint = getattr(getattr(config, section), key)
        if not endpoint or tokens[token_setting]:
            continue
        host, _ = parse_endpoint(endpoint, setting)
        if not is_loopback(host):
            raise UserError(f"{setting} ({flag}) {endpoint} is not a loopback address: set "
                            f"{token_setting} (env {env}) so that clients must present a bearer "
                            "token, or listen on 127.0.0.1")


def _make_receivers(config: ProcessorConfig, sink, stats):
    from otel_ml.processor.receiver import Receivers

    try:
        return Receivers(config.receiver, sink=sink, stats=stats)
    except OSError as exc:
        raise UserError(f"receiver: cannot start: {exc}") from exc


def load_profiles(config: ProcessorConfig):
    """A ``ProfileStore`` with every configured reference profile loaded; a bad file is a UserError."""
    from otel_ml.processor.profile import ALL_VERSIONS, ProfileStore

    store = ProfileStore()
    for source in config.reference_profiles:
        # MODEL=FILE (no version) applies the profile to every version of the model
        store.load(source.model, source.version or ALL_VERSIONS, source.path)
    return store


def default_component_factories(config: ProcessorConfig, clock: Callable[[], float]) -> list[ComponentFactory]:
    """The drift engine and the accuracy tracker, each rebuilt from scratch when called.

    The reference profiles are loaded once, here (a bad file fails before anything binds), and
    shared: both components only read them.
    """
    from otel_ml.processor.accuracy import AccuracyTracker
    from otel_ml.processor.admission import ModelSlots
    from otel_ml.processor.drift_engine import DriftEngine

    profiles = load_profiles(config)
    # one set of model-version slots (limits.max_models / max_versions_per_model) for both;
    # the drift engine's admit() decides refusals when a request arrives (see IngestQueue)
    slots = ModelSlots.from_limits(config.limits, profiles)
    return [
        lambda meter: DriftEngine(config.engine, profiles, meter=meter, clock=clock, slots=slots),
        lambda meter: AccuracyTracker(config.accuracy, profiles=profiles, meter=meter, clock=clock,
                                      slots=slots),
    ]
