"""The test helpers themselves: ``wait_until`` polls through transient errors but stops at once
on ``PollAborted``; a Prometheus / Alertmanager that exits at start-up fails the test at once,
with its log in the message, instead of after the 60 s readiness deadline."""

from __future__ import annotations

import time

import pytest

from tests.support.procs import Alertmanager, Prometheus
from tests.support.waiting import PollAborted, wait_until


def test_wait_until_tolerates_errors_until_the_predicate_holds():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError("not listening yet")
        return "ready"
    assert wait_until(flaky, timeout=5, interval=0.001) == "ready"
    assert len(calls) == 3


def test_wait_until_reports_the_last_error_on_timeout():
    def refused():
        raise ConnectionRefusedError("not listening")
    with pytest.raises(TimeoutError, match="waiting for the thing.*not listening"):
        wait_until(refused, timeout=0.05, interval=0.001, message="the thing")


def test_poll_aborted_ends_the_wait_at_once():
    calls = []

    def gone():
        calls.append(1)
        raise PollAborted("the process exited")
    started = time.monotonic()
    with pytest.raises(PollAborted, match="the process exited"):
        wait_until(gone, timeout=30, interval=0.001)
    assert time.monotonic() - started < 5
    assert len(calls) == 1


INVALID_PROMETHEUS = """
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: broken
    no_such_setting_otel_ml: true
    static_configs: [{targets: ['127.0.0.1:1']}]
"""


@pytest.mark.real
def test_prometheus_with_an_invalid_config_fails_fast_with_its_log(tmp_path):
    started = time.monotonic()
    with pytest.raises(PollAborted) as info:
        Prometheus(INVALID_PROMETHEUS, workdir=tmp_path)
    elapsed = time.monotonic() - started
    assert elapsed < 20, f"took {elapsed:.1f}s: the exit was polled until the deadline"
    message = str(info.value)
    assert message.startswith("prometheus exited with status ")
    # the log's own words: the rejected key, as Prometheus reported it
    assert "no_such_setting_otel_ml" in message, message
    assert "no_such_setting_otel_ml" in (tmp_path / "prometheus.log").read_text()


@pytest.mark.real
def test_alertmanager_with_an_invalid_config_fails_fast_with_its_log(tmp_path):
    started = time.monotonic()
    with pytest.raises(PollAborted) as info:
        Alertmanager("route: {receiver: nowhere}\nreceivers: [{name: somewhere}]\n", workdir=tmp_path)
    assert time.monotonic() - started < 20
    message = str(info.value)
    assert message.startswith("alertmanager exited with status ")
    assert "nowhere" in message, message  # undefined receiver "nowhere" used by route
