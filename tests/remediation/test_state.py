"""Routing holds, safety bookkeeping, argv templates and the audit log, each on its own."""

from __future__ import annotations

import json
import threading

import pytest

from otel_ml import semconv
from otel_ml.remediation.argv import ArgvTemplate, TemplateError, UnsafeArgumentError
from otel_ml.remediation.audit import AuditLog, read_audit
from otel_ml.remediation.policy import RateLimit
from otel_ml.remediation.routing_state import RoutingCapacityError, RoutingState
from otel_ml.remediation.safety import COOLDOWN, RATE_LIMITED, SafetyGate
from otel_ml.remediation.statefile import StateFileError

from .conftest import FakeClock

P, F, V = semconv.VARIANT_PRIMARY, semconv.VARIANT_FALLBACK, semconv.VARIANT_PREVIOUS


# --- routing state ---------------------------------------------------------------------
def test_latest_hold_wins_and_releasing_it_falls_back_to_the_one_before(tmp_path):
    r = RoutingState(tmp_path / "routing.json")
    assert r.request("m", F, "a1", action="fallback", reason="x", rule="fb") == (P, F)
    assert r.request("m", V, "a2", action="rollback", reason="y", rule="rb") == (F, V)
    assert r.release("m", "rollback", "a2") == (V, F, True, 0)
    assert r.release("m", "rollback", "a2") == (F, F, False, 0)
    assert r.release("m", "fallback", "a1") == (F, P, True, 0)
    assert r.view()[1]["models"] == {}


def test_a_new_holder_of_a_held_action_joins_it_without_moving_the_routing(tmp_path):
    r = RoutingState(tmp_path / "routing.json")
    r.request("m", F, "a1", action="fallback", reason="x", rule="fb")
    r.request("m", V, "b1", action="rollback", reason="y", rule="rb")
    # a second fallback holder while the rollback (started later) serves: the rollback stays
    assert r.request("m", F, "a2", action="fallback", reason="x", rule="fb") == (V, V)
    assert sorted(r.holders("m", "fallback")) == ["a1", "a2"] and r.holders("m", "rollback") == ["b1"]
    assert r.release("m", "rollback", "b1") == (V, F, True, 0)
    assert r.release("m", "fallback", "a1") == (F, F, True, 1)
    assert r.release("m", "fallback", "a2") == (F, P, True, 0)


def test_one_alert_may_hold_two_actions(tmp_path):
    r = RoutingState(tmp_path / "routing.json")
    r.request("m", F, "a", action="fallback", reason="x", rule="fb")
    r.request("m", V, "a", action="rollback", reason="x", rule="rb")
    assert [h["action"] for h in r.view()[1]["models"]["m"]["holds"]] == ["fallback", "rollback"]
    assert r.release("m", "rollback", "a") == (V, F, True, 0)
    assert r.variant("m") == F


def test_holds_of_older_state_files_are_read_with_their_action(tmp_path):
    path = tmp_path / "routing.json"
    path.write_text(json.dumps({"epoch": "e", "generation": 3, "seq": 2, "models": {"m": {
        "changed_at": 1.0, "holds": {"fp1": {"variant": "fallback", "since": 1.0, "seq": 1, "reason": "r",
                                             "rule": "fb"},
                                     "fp2": {"variant": "previous", "since": 2.0, "seq": 2, "reason": "r",
                                             "rule": "rb"}}}}}))
    r = RoutingState(path)
    assert r.variant("m") == V
    assert r.holders("m", "fallback") == ["fp1"] and r.holders("m", "rollback") == ["fp2"]
    assert r.view()[1]["models"]["m"]["holds"][0]["alert_fingerprint"] == "fp1"
    assert r.release("m", "rollback", "fp2") == (V, F, True, 0)


def test_routing_survives_reopening_and_etag_moves_on(tmp_path):
    path = tmp_path / "routing.json"
    r = RoutingState(path)
    etag0 = r.etag
    r.request("m", F, "a1", action="fallback", reason="x", rule="fb")
    etag1 = r.etag
    assert etag1 != etag0
    assert RoutingState(path).variant("m") == P  # not flushed yet
    r.flush()
    again = RoutingState(path)
    assert again.variant("m") == F and again.etag == etag1
    again.clear("m")
    again.flush()
    assert RoutingState(path).variant("m") == P


@pytest.mark.parametrize("content", ["{not json", "[]", '{"epoch": "e"}',
                                     '{"epoch":"e","generation":1,"seq":1,"models":{"m":{"holds":'
                                     '{"a":{"variant":"canary","seq":1}}}}}'])
def test_corrupt_routing_file_refuses_to_start(tmp_path, content):
    path = tmp_path / "routing.json"
    path.write_text(content)
    with pytest.raises(StateFileError, match="corrupt"):
        RoutingState(path)


def test_model_cap(tmp_path):
    r = RoutingState(None, max_models=2)
    r.request("a", F, "1", action="fallback", reason="", rule="r")
    r.request("b", F, "2", action="fallback", reason="", rule="r")
    with pytest.raises(RoutingCapacityError):
        r.request("c", F, "3", action="fallback", reason="", rule="r")
    r.request("a", V, "4", action="rollback", reason="", rule="r")  # known models still change


# --- safety ------------------------------------------------------------------------------
def test_dedup_expires_after_its_ttl_and_is_capped():
    clock = FakeClock()
    g = SafetyGate(dedup_ttl_s=100, retention_s=3600, clock=clock, max_dedup_keys=3)
    g.mark_seen("k1")
    clock.advance(99)
    assert g.is_duplicate("k1")
    clock.advance(2)
    assert not g.is_duplicate("k1")
    for k in ("a", "b", "c", "d"):
        g.mark_seen(k)
    assert [g.is_duplicate(k) for k in ("a", "b", "c", "d")] == [False, True, True, True]


def test_cooldown_then_rate_limit_and_persistence():
    clock = FakeClock()
    g = SafetyGate(dedup_ttl_s=100, retention_s=3600, clock=clock)
    rl = RateLimit(2, 3600)
    assert g.check("fallback", "m", 60, rl) is None
    g.record("fallback", "m")
    assert g.check("fallback", "m", 60, rl) == COOLDOWN
    assert g.check("fallback", "other", 60, rl) is None
    assert g.check("rollback", "m", 60, rl) is None
    clock.advance(61)
    g.record("fallback", "m")
    clock.advance(61)
    assert g.check("fallback", "m", 60, rl) == RATE_LIMITED
    g.mark_seen("dup")
    restored = SafetyGate(dedup_ttl_s=100, retention_s=3600, clock=clock)
    restored.restore(json.loads(json.dumps(g.snapshot())))
    assert restored.check("fallback", "m", 60, rl) == RATE_LIMITED and restored.is_duplicate("dup")
    clock.advance(3600)
    assert restored.check("fallback", "m", 60, rl) is None


def test_hook_holders_are_counted_bounded_and_persisted():
    clock = FakeClock()
    g = SafetyGate(dedup_ttl_s=100, retention_s=3600, clock=clock, max_dedup_keys=3)
    g.hold("scale", "m", "a")
    g.hold("scale", "m", "b")
    g.hold("scale", "other", "a")
    assert sorted(g.holders("scale", "m")) == ["a", "b"]
    restored = SafetyGate(dedup_ttl_s=100, retention_s=3600, clock=clock, max_dedup_keys=3)
    restored.restore(json.loads(json.dumps(g.snapshot())))
    assert restored.release("scale", "m", "a") == (True, 1)
    assert restored.release("scale", "m", "a") == (False, 1)
    assert restored.release("scale", "m", "b") == (True, 0) and restored.holders("scale", "m") == []
    clock.advance(1)
    for holder in ("c", "d", "e"):
        g.hold("scale", "n", holder)
    assert sum(len(g.holders("scale", m)) for m in ("m", "n", "other")) == 3  # the oldest went first
    assert g.holders("scale", "n") == ["c", "d", "e"]


# --- argv templates -----------------------------------------------------------------------
def test_template_rendering():
    t = ArgvTemplate.parse(["/bin/x", "--model={model}", "{label.team}", "{{literal}}", "a{version}b{phase}"])
    assert t.render({"model": "m", "label.team": "ml ops", "version": "3", "phase": "do"}) == [
        "/bin/x", "--model=m", "ml ops", "{literal}", "a3bdo"]
    assert t.render({}) == ["/bin/x", "--model=", "", "{literal}", "ab"]


@pytest.mark.parametrize("argv, fragment", [
    ([], "non-empty"), (["/bin/x", "{nope}"], "[1] unknown template field"), (["/bin/x", "}"], "[1] unpaired"),
    (["/bin/x", 3], "[1] must be a string"), (["{model}"], "[0] the program"), (["/bin/x", "{label.}"], "unknown"),
])
def test_bad_templates(argv, fragment):
    with pytest.raises(TemplateError, match=fragment.replace("[", r"\[")):
        ArgvTemplate.parse(argv)


def test_option_injection_guard_applies_to_whole_element_fields_only():
    t = ArgvTemplate.parse(["/bin/x", "{model}"])
    with pytest.raises(UnsafeArgumentError):
        t.render({"model": "--rm"})
    assert ArgvTemplate.parse(["/bin/x", "m={model}"]).render({"model": "--rm"}) == ["/bin/x", "m=--rm"]


# --- audit log --------------------------------------------------------------------------
def test_audit_log_appends_whole_lines_from_many_threads_and_never_truncates(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_text('{"event": "earlier"}\n')
    log = AuditLog(path, fsync=False)
    payload = "x" * 5000  # longer than a pipe buffer: still one write per record

    def writer(n):
        for i in range(50):
            log.write({"event": "decision", "writer": n, "i": i, "pad": payload})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    records = read_audit(path)
    assert records[0] == {"event": "earlier"}
    assert len(records) == 201
    for n in range(4):
        assert [r["i"] for r in records if r.get("writer") == n] == list(range(50))
    assert all("ts" in r and "ts_unix" in r for r in records[1:])
    reopened = AuditLog(path, fsync=False)
    reopened.write({"event": "later"})
    reopened.close()
    assert len(read_audit(path)) == 202


def test_corrupt_safety_file_refuses_to_start(tmp_path):
    from otel_ml.remediation.auth import Credentials
    from otel_ml.remediation.policy import parse_policy
    from otel_ml.remediation.service import RemediationService

    (tmp_path / "safety.json").write_text('{"seen": [["k", "not-a-number"]]}')
    with pytest.raises(StateFileError, match="safety.json is corrupt"):
        RemediationService(parse_policy({"rules": [{"name": "a", "action": "fallback"}]}), state_dir=tmp_path,
                           credentials=Credentials(token=b"t"), port=0)
