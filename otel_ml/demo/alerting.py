"""The real alert path for the demo: the shipped Prometheus rules and Alertmanager routing, run
locally against the demo's endpoints with compressed timings.

``prepare_alerting(stack_dir, run_dir, targets)`` writes, under ``run_dir``:

* ``prometheus.yml`` derived from the shipped one: the serving app, the processor, the
  remediation service, Alertmanager and Prometheus itself scraped on 127.0.0.1 every second
  (the other jobs of the full stack are left out), alerts sent to the local Alertmanager;
* ``rules/*.yml``: copies of every shipped rule file with ``for:``, range windows, offsets and
  forecast horizons compressed as ``timescale`` documents (the shipped files are never modified);
* ``alertmanager.yml`` derived from the shipped routing: timings compressed, the remediation
  webhook pointed at the demo's ``otel-ml remediate`` (bearer token from a file), Slack and
  PagerDuty pointed at a local recording sink; plus the templates and the secret files.

``find_binaries()`` locates ``prometheus`` and ``prometheus-alertmanager`` (or ``alertmanager``)
on PATH; ``AlertingStack`` starts both on free loopback ports and stops them.
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from otel_ml._support.processes import ManagedProcess, http_ok
from otel_ml.demo.timescale import (
    DEMO_TIMESCALE, TimeScale, compress_alertmanager_timings, compress_rule_group_file, format_duration,
)
from otel_ml.errors import UserError
from otel_ml.stack_files import stack_root

__all__ = [
    "StackFiles",
    "AlertTargets",
    "AlertingFiles",
    "AlertingBinaries",
    "AlertingStack",
    "find_stack_dir",
    "find_binaries",
    "prepare_alerting",
    "compress_rule_group_file",
    "prometheus_config",
    "alertmanager_config",
    "SCRAPE_INTERVAL",
    "JOB_APP",
    "JOB_PROCESSOR",
    "JOB_REMEDIATE",
    "INSTALL_LINE",
]

#: How to install the real binaries on Debian and Ubuntu (the names the demo looks for).
INSTALL_LINE = "sudo apt-get install -y prometheus prometheus-alertmanager"

SCRAPE_INTERVAL = "1s"
# Job names of the shipped prometheus.yml (rules such as MLServiceDown select on them).
JOB_APP = "ml-serving"
JOB_PROCESSOR = "otel-ml-processor"
JOB_REMEDIATE = "otel-ml-remediate"
JOB_ALERTMANAGER = "alertmanager"
JOB_PROMETHEUS = "prometheus"


@dataclass(frozen=True)
class StackFiles:
    """The shipped alerting configuration (``prometheus/`` of the stack this package carries)."""

    root: Path

    @property
    def prometheus_yml(self) -> Path:
        return self.root / "prometheus.yml"

    @property
    def rules_dir(self) -> Path:
        return self.root / "rules"

    @property
    def alertmanager_yml(self) -> Path:
        return self.root / "alertmanager" / "alertmanager.yml"

    @property
    def templates_dir(self) -> Path:
        return self.root / "alertmanager" / "templates"

    def rule_files(self) -> list[Path]:
        return sorted(self.rules_dir.glob("*.yml"))

    def check(self) -> "StackFiles":
        missing = [p for p in (self.prometheus_yml, self.rules_dir, self.alertmanager_yml) if not p.exists()]
        if missing:
            raise UserError(f"shipped alerting configuration incomplete: {missing[0]} not found")
        if not self.rule_files():
            raise UserError(f"no rule files (*.yml) in {self.rules_dir}")
        return self


def find_stack_dir(explicit: str | Path | None = None) -> StackFiles:
    """The shipped ``prometheus/`` directory: ``explicit``, else the one installed with the package
    (the wheel's copy, or the checkout's own for a source or editable install)."""
    if explicit:
        try:
            return StackFiles(Path(explicit)).check()
        except OSError as exc:  # e.g. a path too long or a directory we may not read
            raise UserError(f"--stack-dir {explicit}: {exc.strerror or exc}") from None
    return StackFiles(stack_root() / "prometheus").check()


@dataclass(frozen=True)
class AlertTargets:
    """Addresses the prepared configuration points at (all on 127.0.0.1)."""

    app: str  # host:port of the serving app's /metrics
    processor: str  # host:port of the processor's /metrics
    remediate_metrics: str  # host:port of otel-ml remediate's /metrics
    remediate_url: str  # base URL of otel-ml remediate (webhook at /v1/alerts)
    token_file: Path  # bearer token otel-ml remediate accepts
    sink_url: str  # base URL of the notification sink (Slack, PagerDuty stand-in)
    prometheus_port: int
    alertmanager_port: int


@dataclass(frozen=True)
class AlertingFiles:
    """What ``prepare_alerting`` wrote."""

    prometheus_yml: Path
    rules: list[Path]
    alertmanager_yml: Path
    data_dir: Path


def _static(target: str) -> list[dict]:
    return [{"targets": [target]}]


def prometheus_config(shipped: dict, targets: AlertTargets, rules_glob: str) -> dict:
    """The shipped prometheus.yml, scraping the demo's local endpoints every second."""
    local = {
        JOB_APP: targets.app,
        JOB_PROCESSOR: targets.processor,
        JOB_REMEDIATE: targets.remediate_metrics,
        JOB_ALERTMANAGER: f"127.0.0.1:{targets.alertmanager_port}",
        JOB_PROMETHEUS: f"127.0.0.1:{targets.prometheus_port}",
    }
    cfg = json.loads(json.dumps(shipped))
    glob = cfg.setdefault("global", {})
    glob.update({"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_INTERVAL,
                 "evaluation_interval": SCRAPE_INTERVAL})
    cfg["rule_files"] = [rules_glob]
    cfg["alerting"] = {"alertmanagers": [{"static_configs": _static(local[JOB_ALERTMANAGER])}]}
    jobs = []
    for job in cfg.get("scrape_configs", []):
        target = local.get(job.get("job_name"))
        if target is None:
            continue  # part of the full stack only (Collector, Thanos, Tempo, Grafana)
        kept = {k: v for k, v in job.items() if not k.endswith("_sd_configs") and k != "static_configs"}
        kept.pop("scrape_interval", None)
        kept.pop("scrape_timeout", None)
        kept.pop("authorization", None)  # the demo's endpoints listen on loopback without a token
        kept["static_configs"] = _static(target)
        jobs.append(kept)
    missing = sorted(set(local) - {j["job_name"] for j in jobs})
    for name in missing:  # a job the shipped file lacks still has to be scraped
        jobs.append({"job_name": name, "static_configs": _static(local[name])})
    cfg["scrape_configs"] = jobs
    return cfg


def alertmanager_config(shipped: dict, targets: AlertTargets, secrets_dir: Path,
                        timescale: TimeScale = DEMO_TIMESCALE) -> dict:
    """The shipped routing with local receivers, local secret files and compressed timings."""
    cfg = compress_alertmanager_timings(shipped, timescale)
    secrets_dir.mkdir(parents=True, exist_ok=True)
    slack_url = secrets_dir / "slack-webhook-url"
    slack_url.write_text(targets.sink_url + "/slack\n")
    pagerduty_key = secrets_dir / "pagerduty-routing-key"
    pagerduty_key.write_text("otel-ml-demo\n")
    smtp_password = secrets_dir / "smtp-password"
    smtp_password.write_text("unused-in-the-demo\n")
    glob = cfg["global"]
    glob["slack_api_url_file"] = str(slack_url)
    if "smtp_auth_password_file" in glob:
        glob["smtp_auth_password_file"] = str(smtp_password)
    webhooks = 0
    for receiver in cfg.get("receivers", []):
        for hook in receiver.get("webhook_configs", []) or []:
            if str(hook.get("url", "")).rstrip("/").endswith("/v1/alerts"):
                hook["url"] = targets.remediate_url.rstrip("/") + "/v1/alerts"
                hook["http_config"] = {"authorization": {"type": "Bearer",
                                                         "credentials_file": str(targets.token_file)}}
                webhooks += 1
        for pd in receiver.get("pagerduty_configs", []) or []:
            pd["url"] = targets.sink_url + "/pagerduty"
            pd.pop("routing_key", None)
            pd.pop("service_key", None)
            pd.pop("service_key_file", None)
            pd["routing_key_file"] = str(pagerduty_key)
        for slack in receiver.get("slack_configs", []) or []:
            slack.pop("api_url", None)
            slack["api_url_file"] = str(slack_url)
    if webhooks == 0:
        raise UserError("the shipped alertmanager.yml has no webhook receiver for otel-ml remediate "
                        "(a webhook_configs url ending in /v1/alerts)")
    return cfg


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None


def _header(source: Path, what: str) -> str:
    return (f"# Generated by otel-ml demo from {source} ({what}).\n"
            "# Timings compressed as otel_ml/demo/timescale.py documents; edit the shipped file, not this one.\n")


def prepare_alerting(stack: StackFiles, run_dir: Path, targets: AlertTargets,
                     timescale: TimeScale = DEMO_TIMESCALE) -> AlertingFiles:
    """Write the demo's Prometheus and Alertmanager configuration under ``run_dir``."""
    run_dir = Path(run_dir)
    rules_dir = run_dir / "rules"
    rules_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in stack.rule_files():
        compressed = compress_rule_group_file(_load_yaml(source), timescale)
        target = rules_dir / source.name
        target.write_text(_header(source, "for:, ranges, offsets and forecast horizons compressed")
                          + yaml.safe_dump(compressed, sort_keys=False, width=120))
        written.append(target)
    prom_yml = run_dir / "prometheus.yml"
    prom_cfg = prometheus_config(_load_yaml(stack.prometheus_yml), targets, str(rules_dir / "*.yml"))
    prom_yml.write_text(_header(stack.prometheus_yml, "local targets, 1s scrapes")
                        + yaml.safe_dump(prom_cfg, sort_keys=False))
    am_dir = run_dir / "alertmanager"
    am_dir.mkdir(exist_ok=True)
    if stack.templates_dir.is_dir():
        shutil.copytree(stack.templates_dir, am_dir / "templates", dirs_exist_ok=True)
    am_cfg = alertmanager_config(_load_yaml(stack.alertmanager_yml), targets, run_dir / "secrets", timescale)
    am_yml = am_dir / "alertmanager.yml"
    am_yml.write_text(_header(stack.alertmanager_yml, "local receivers, compressed timings")
                      + yaml.safe_dump(am_cfg, sort_keys=False))
    data = run_dir / "data"
    data.mkdir(exist_ok=True)
    return AlertingFiles(prom_yml, written, am_yml, data)


@dataclass(frozen=True)
class AlertingBinaries:
    prometheus: str
    alertmanager: str

    def versions(self) -> str:
        import subprocess

        out = []
        for path in (self.prometheus, self.alertmanager):
            try:
                first = subprocess.run([path, "--version"], capture_output=True, text=True,
                                       timeout=10).stdout.splitlines()
            except (OSError, subprocess.SubprocessError):
                first = []
            out.append(first[0].split(" (")[0] if first else Path(path).name)
        return " + ".join(out)


def find_binaries() -> AlertingBinaries | None:
    """Prometheus and Alertmanager on PATH (Debian names first), or None when either is missing."""
    prom = shutil.which("prometheus")
    am = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    return AlertingBinaries(prom, am) if prom and am else None


def _get_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


@dataclass
class AlertingStack:
    """Real Prometheus and Alertmanager on the prepared configuration; ``start()``/``stop()``."""

    binaries: AlertingBinaries
    files: AlertingFiles
    prometheus_port: int
    alertmanager_port: int
    processes: list[ManagedProcess] = field(default_factory=list)

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    def start(self) -> "AlertingStack":
        """Start both binaries (returns at once; ``wait_ready`` blocks)."""
        run_dir = self.files.prometheus_yml.parent
        am = ManagedProcess(
            [self.binaries.alertmanager, f"--config.file={self.files.alertmanager_yml}",
             f"--storage.path={self.files.data_dir / 'alertmanager'}",
             f"--web.listen-address=127.0.0.1:{self.alertmanager_port}",
             f"--web.external-url={self.alertmanager_url}",
             "--cluster.listen-address="],  # a single instance: no gossip port to collide on
            run_dir / "alertmanager.log", name="alertmanager",
            ready=lambda: http_ok(self.alertmanager_url + "/-/ready"), cwd=self.files.alertmanager_yml.parent)
        self.processes.append(am)
        prom = ManagedProcess(
            [self.binaries.prometheus, f"--config.file={self.files.prometheus_yml}",
             f"--storage.tsdb.path={self.files.data_dir / 'prometheus'}",
             f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
             f"--web.external-url={self.prometheus_url}",
             f"--rules.alert.resend-delay={format_duration(1.0)}"],
            run_dir / "prometheus.log", name="prometheus",
            ready=lambda: http_ok(self.prometheus_url + "/-/ready"), cwd=run_dir)
        self.processes.append(prom)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        for process in self.processes:
            process.wait_ready(timeout)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    # --- reading ------------------------------------------------------------------------
    def query(self, expr: str) -> list[dict]:
        """Instant query; the result vector (``UserError`` on a PromQL error)."""
        body = _get_json(self.prometheus_url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        if body.get("status") != "success":
            raise UserError(f"query {expr!r} failed: {body.get('error')}")
        return body["data"]["result"]

    def rule_alerts(self) -> list[dict]:
        """Prometheus's pending and firing alerts (``/api/v1/alerts``)."""
        return _get_json(self.prometheus_url + "/api/v1/alerts")["data"]["alerts"]

    def manager_alerts(self) -> list[dict]:
        """Alertmanager's active alerts (``/api/v2/alerts``)."""
        return _get_json(self.alertmanager_url + "/api/v2/alerts")
