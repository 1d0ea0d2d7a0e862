"""``otel-ml demo``: every part of otel_ml on one machine, with no Docker and no Collector.

Start-up (each long step prints a progress line): ``otel-ml remediate`` with the demo policy,
the models trained and their reference profiles built, ``otel-ml processor`` loading them, the
instrumented serving app's telemetry (OTLP straight to the processor, RED metrics on /metrics),
then the real Prometheus and Alertmanager on the shipped rules and routing, once every endpoint
they scrape exists. Without those two binaries the demo says so, prints the line that installs
them and runs the drift and accuracy part only. Then the synthetic traffic starts.
While traffic runs (steady, then input drift, then label decay) the live view refreshes about
once a second; at the end everything is stopped and a summary printed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import TextIO

from otel_ml._support.processes import ManagedProcess, free_ports, http_ok
from otel_ml.demo.alerting import (
    INSTALL_LINE, AlertingStack, AlertTargets, find_binaries, find_stack_dir, prepare_alerting,
)
from otel_ml.demo.app import AppSettings, DemoApp
from otel_ml.demo.model import DRIFTING_FEATURES, FALLBACK_VERSION, MODEL_NAME, PRIMARY_VERSION, train
from otel_ml.demo.monitor import AlertView, Monitor, PrometheusApi, prometheus_alert_views
from otel_ml.demo.notify_sink import NotificationSink
from otel_ml.demo.options import DRIFT_SD, LABEL_FLIP, DemoOptions, processor_config, write_processor_config
from otel_ml.demo.reference import write_profiles
from otel_ml.demo.summary import RunFacts, render_summary, write_summary_json
from otel_ml.demo.timescale import DEMO_TIMESCALE
from otel_ml.demo.view import LiveView
from otel_ml.errors import UserError
from otel_ml.semconv import VARIANT_FALLBACK, VARIANT_PRIMARY

__all__ = ["run_demo", "DemoRun", "POLICY_RESOURCE"]

POLICY_RESOURCE = "remediation-policy.yaml"
_READY_TIMEOUT_S = 90.0
_CHILD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class _Progress:
    """Numbered progress lines for the start-up steps."""

    def __init__(self, out: TextIO, steps: int):
        self.out = out
        self.steps = steps
        self.n = 0

    def step(self, text: str) -> float:
        self.n += 1
        print(f"[{self.n}/{self.steps}] {text}", file=self.out, flush=True)
        return time.monotonic()

    def note(self, text: str) -> None:
        print(f"      {text}", file=self.out, flush=True)


class DemoRun:
    """One run: owns its directory, ports, child processes and threads."""

    def __init__(self, options: DemoOptions, out: TextIO | None = None):
        self.options = options
        self.out = out or sys.stdout
        self.stack_files = find_stack_dir(options.stack_dir)
        if options.run_dir:
            self.run_dir = Path(options.run_dir).resolve()
            try:  # the secrets directory proves the run directory is one we can write in
                (self.run_dir / "secrets").mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UserError(f"--run-dir {options.run_dir}: cannot use it as the run directory: "
                                f"{exc.strerror or exc}") from None
            self.keep = True
        else:
            self.run_dir = Path(tempfile.mkdtemp(prefix="otel-ml-demo-"))
            self.keep = options.keep_dir
        names = ("app", "grpc", "http", "processor", "remediate", "remediate_metrics", "prometheus", "alertmanager")
        self.ports = dict(zip(names, free_ports(len(names))))
        self.versions = {VARIANT_PRIMARY: PRIMARY_VERSION, VARIANT_FALLBACK: FALLBACK_VERSION}
        self.binaries = find_binaries() if options.alerting_binaries else None
        self.processes: list[ManagedProcess] = []
        self.sink: NotificationSink | None = None
        self.stack: AlertingStack | None = None
        self.app: DemoApp | None = None
        self.baseline: dict[str, float] = {}
        self.feature_names: list[str] = []
        self.token = ""  # admin: Alertmanager's webhook posts
        self.routing_token = ""  # read-only: the app's RoutingClient (GET /v1/routing only)
        self.alert_path = ""
        self.monitor: Monitor | None = None
        self._stop = threading.Event()
        self._stopped = False

    # --- paths and urls -------------------------------------------------------------------
    def url(self, port_name: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[port_name]}{path}"

    @property
    def audit_path(self) -> Path:
        return self.run_dir / "remediate-state" / "audit.jsonl"

    def _child_env(self) -> dict:
        return {**os.environ, **_CHILD_ENV}

    # --- start-up -----------------------------------------------------------------------
    @staticmethod
    def _write_secret(path: Path, value: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others
        with os.fdopen(fd, "w") as fh:
            fh.write(value + "\n")

    def _write_secrets(self) -> tuple[Path, Path]:
        """The admin token file (webhook) and the read-only routing token file (the app)."""
        secrets_dir = self.run_dir / "secrets"
        secrets_dir.mkdir(exist_ok=True)
        token_file = secrets_dir / "remediate-token"
        routing_token_file = secrets_dir / "remediate-routing-token"
        self.token = secrets.token_urlsafe(24)
        self.routing_token = secrets.token_urlsafe(24)
        self._write_secret(token_file, self.token)
        self._write_secret(routing_token_file, self.routing_token)
        return token_file, routing_token_file

    def _start_remediate(self, token_file: Path, routing_token_file: Path) -> ManagedProcess:
        policy = self.run_dir / "remediation-policy.yml"
        policy.write_text(resources.files("otel_ml.demo").joinpath(POLICY_RESOURCE).read_text())
        proc = ManagedProcess(
            [sys.executable, "-m", "otel_ml.cli", "remediate", "--policy", str(policy),
             "--listen", f"127.0.0.1:{self.ports['remediate']}",
             "--metrics-endpoint", f"127.0.0.1:{self.ports['remediate_metrics']}",
             "--state-dir", str(self.audit_path.parent), "--bearer-token-file", str(token_file),
             "--routing-token-file", str(routing_token_file)],
            self.run_dir / "remediate.log", name="otel-ml remediate",
            ready=lambda: http_ok(self.url("remediate", "/-/ready")), cwd=self.run_dir, env=self._child_env())
        self.processes.append(proc)
        return proc

    def _start_alerting(self, token_file: Path) -> None:
        targets = AlertTargets(
            app=f"127.0.0.1:{self.ports['app']}", processor=f"127.0.0.1:{self.ports['processor']}",
            remediate_metrics=f"127.0.0.1:{self.ports['remediate_metrics']}",
            remediate_url=self.url("remediate"), token_file=token_file, sink_url=self.sink.url,
            prometheus_port=self.ports["prometheus"], alertmanager_port=self.ports["alertmanager"])
        files = prepare_alerting(self.stack_files, self.run_dir, targets, DEMO_TIMESCALE)
        self.stack = AlertingStack(self.binaries, files, self.ports["prometheus"], self.ports["alertmanager"])
        self.stack.start()
        self.processes.extend(self.stack.processes)

    def _start_processor(self, profiles: list[str]) -> ManagedProcess:
        config = processor_config(self.options, grpc_port=self.ports["grpc"], http_port=self.ports["http"],
                                  metrics_port=self.ports["processor"], profiles=profiles,
                                  state_dir=self.run_dir / "processor-state")
        path = write_processor_config(config, self.run_dir / "processor.yml")
        proc = ManagedProcess(
            [sys.executable, "-m", "otel_ml.cli", "processor", "--config", str(path), "--log-level", "info"],
            self.run_dir / "processor.log", name="otel-ml processor",
            ready=lambda: http_ok(self.url("processor", "/metrics")), cwd=self.run_dir, env=self._child_env())
        self.processes.append(proc)
        return proc

    def start(self) -> None:
        """Everything up to the first request; each long step shows progress."""
        progress = _Progress(self.out, 6)
        print(f"otel-ml demo: run directory {self.run_dir}", file=self.out, flush=True)
        token_file, routing_token_file = self._write_secrets()
        self.sink = NotificationSink(self.run_dir / "notifications.jsonl")

        progress.step(f"starting otel-ml remediate (demo policy) on {self.url('remediate')}")
        remediate = self._start_remediate(token_file, routing_token_file)

        t = progress.step("training the models: HistGradientBoosting (primary, 10 features), "
                          "logistic regression (fallback, 6 shape features)")
        models = train(progress=lambda what: progress.note(f"{what} trained after {time.monotonic() - t:.1f}s"))
        held_out = [float((m.predict(models.x_pool) == models.y_pool).mean())
                    for m in (models.primary, models.fallback)]
        progress.note(f"done in {time.monotonic() - t:.1f}s; held-out accuracy {held_out[0]:.3f} / {held_out[1]:.3f}")

        t = progress.step("building reference profiles from the training data (5-fold out-of-fold predictions)")
        refs = write_profiles(models, self.run_dir / "profiles")
        self.baseline = refs.baseline_accuracy
        progress.note(f"done in {time.monotonic() - t:.1f}s; baseline accuracy "
                      + ", ".join(f"{v} {a:.3f}" for v, a in refs.baseline_accuracy.items()))

        t = progress.step(f"starting otel-ml processor (OTLP gRPC :{self.ports['grpc']}, "
                          f"metrics {self.url('processor', '/metrics')})")
        processor = self._start_processor(refs.processor_entries())
        scenario = self.options.scenario(DRIFTING_FEATURES)
        self.app = DemoApp(models, scenario, AppSettings(
            otlp_endpoint=self.url("grpc"), metrics_port=self.ports["app"], routing_url=self.url("remediate"),
            routing_token=self.routing_token, rate=self.options.rate, label_delay_s=self.options.label_delay_s,
            label_share=self.options.label_share))
        self.app.start_telemetry()  # its /metrics is up before Prometheus first scrapes it
        self.feature_names = models.feature_names

        if self.binaries is not None:
            progress.step(f"starting {self.binaries.versions()} with the shipped rules and routing")
            progress.note(f"alert timings compressed to fit the demo: each rule's `for:` wait divided by "
                          f"{DEMO_TIMESCALE.for_factor:g}, its time windows by {DEMO_TIMESCALE.range_factor:g} "
                          f"(a 10-minute wait becomes {DEMO_TIMESCALE.for_seconds(600.0):g} s)")
            self._start_alerting(token_file)
            self.alert_path = (f"via real {self.binaries.versions()} (shipped rules and routing, "
                               f"timings compressed)")
        else:
            why = ("--no-alerting-binaries given" if not self.options.alerting_binaries else
                   "Prometheus and Alertmanager are not installed")
            progress.step(f"{why}: this run shows drift and accuracy only; the alert and remediation "
                          f"stages need the binaries")
            if self.options.alerting_binaries:
                progress.note(f"install them with:  {INSTALL_LINE}")
            self.alert_path = "not evaluated: Prometheus and Alertmanager did not run (drift and accuracy only)"
        for proc in [remediate, processor, *(self.stack.processes if self.stack else [])]:
            proc.wait_ready(_READY_TIMEOUT_S)
        progress.note(f"all services ready after {time.monotonic() - t:.1f}s")
        if self.stack is not None:
            progress.note(f"Prometheus UI    {self.stack.prometheus_url}/alerts   (rules, alerts, graphs)")
            progress.note(f"Alertmanager UI  {self.stack.alertmanager_url}   (grouped notifications, silences)")

        phases = ", ".join(f"{p.name} {p.seconds:.0f}s" for p in scenario.phases)
        progress.step(f"serving {MODEL_NAME} at {self.options.rate:g} req/s for {scenario.total_s:.0f}s "
                      f"({phases}); metrics {self.url('app', '/metrics')}")

    # --- running ------------------------------------------------------------------------
    def _alert_views(self) -> list[AlertView]:
        if self.stack is not None:
            return prometheus_alert_views(self.stack.rule_alerts())
        return []

    def run_traffic(self) -> Monitor:
        app = self.app
        started_at = time.time()
        monitor = self.monitor = Monitor(
            app=app, audit_path=self.audit_path, alerts=self._alert_views,
            notifications=lambda: len(self.sink.snapshot()), versions=self.versions, started_at=started_at,
            model_name=MODEL_NAME, prometheus=PrometheusApi(self.stack.prometheus_url) if self.stack else None,
            processor_metrics_url=self.url("processor", "/metrics"))
        acc = 0.0
        for phase in app.scenario.phases:
            monitor.record.phases.append((phase.name, acc, acc + phase.seconds))
            acc += phase.seconds
        urls = ({"Prometheus": self.stack.prometheus_url, "Alertmanager": self.stack.alertmanager_url}
                if self.stack else {})
        view = LiveView(self.out, title=f"otel-ml demo: {MODEL_NAME}", started_at=started_at, urls=urls)
        drifted = ", ".join(self.feature_names[i] for i in DRIFTING_FEATURES)
        notes = {"drift": f"{drifted} shifted", "decay": f"{drifted} shifted, {LABEL_FLIP:.0%} of labels flipped"}
        app.start_traffic()
        while not app.finished and not self._stop.is_set():
            snap = monitor.poll()
            view.show(snap, notes.get(snap.phase, ""))
            self._stop.wait(1.0)
        monitor.poll()
        return monitor

    def stop(self) -> None:
        """Stop the app and every child process (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self.app is not None:
            self.app.stop()
        for proc in self.processes:  # all shut down in parallel, then each is waited for
            proc.terminate()
        for proc in reversed(self.processes):
            proc.stop()
        if self.sink is not None:
            self.sink.close()

    def facts(self, monitor: Monitor) -> RunFacts:
        app = self.app
        drifted = ", ".join(self.feature_names[i] for i in DRIFTING_FEATURES)
        logs = [p.log_path.name for p in self.processes] + ["remediate-state/audit.jsonl", "notifications.jsonl"]
        return RunFacts(
            record=monitor.record, requests=app.totals.requests, errors=app.totals.errors,
            predictions=app.totals.predictions, labels=app.totals.labels, by_variant=dict(app.totals.by_variant),
            versions=self.versions, baseline=self.baseline, alert_path=self.alert_path, run_dir=self.run_dir,
            kept=self.keep, notifications=self.sink.snapshot(), actions=monitor.audit.actions(), logs=logs,
            drift_note=f"{drifted} +{DRIFT_SD:g} sd; decay: {LABEL_FLIP:.0%} of labels flipped")

    def cleanup(self) -> None:
        if not self.keep:
            shutil.rmtree(self.run_dir, ignore_errors=True)


def _interrupt_on_sigterm(stack: ExitStack) -> None:
    """SIGTERM stops the demo like Ctrl-C does, so its child processes are stopped too."""
    if threading.current_thread() is not threading.main_thread():
        return

    def on_term(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    stack.callback(signal.signal, signal.SIGTERM, previous)


def run_demo(options: DemoOptions, out: TextIO | None = None) -> int:
    """Run the demo to the end (or Ctrl-C / SIGTERM) and print the summary; returns the exit status.

    A start-up failure keeps the run directory, since the error names a log file in it.
    """
    from threadpoolctl import threadpool_limits

    out = out or sys.stdout
    run = DemoRun(options, out)
    status = 0
    with ExitStack() as stack:
        # one thread per BLAS / OpenMP pool: the model serves small batches, and threads fighting
        # over the cores cost far more than they bring
        stack.enter_context(threadpool_limits(limits=1))
        stack.callback(run.cleanup)
        stack.callback(run.stop)
        _interrupt_on_sigterm(stack)
        try:
            run.start()
            run.run_traffic()
        except KeyboardInterrupt:
            print("\ninterrupted: stopping the demo", file=out, flush=True)
            status = 130
        except UserError:
            run.keep = True
            raise
        run.stop()
        monitor = run.monitor
        if monitor is not None:
            facts = run.facts(monitor)
            monitor.audit.poll()
            facts.actions = monitor.audit.actions()
            facts.decisions = [r for r in monitor.audit.records if r.get("event") == "decision"]
            if run.keep:
                write_summary_json(facts, run.run_dir / "summary.json")
            print(render_summary(facts), file=out, flush=True)
    return status
