"""The webhook / routing HTTP API over a real loopback socket: auth, payload checks, ETags, reset."""

from __future__ import annotations

import json
import socket

import pytest

from otel_ml import semconv
from otel_ml.errors import UserError
from otel_ml.remediation.audit import read_audit
from otel_ml.remediation.auth import Credentials
from otel_ml.remediation.server import MAX_BODY_BYTES

from .conftest import TOKEN, counter_values, http, key, make_alert, make_notification

POLICY = {"rules": [{"name": "fb", "alertname": "MLInferenceErrorRate", "action": "fallback"}]}


def _fire(url, model="iris", token=TOKEN, **extra):
    alert = make_alert("MLInferenceErrorRate", ml_model_name=model, severity="critical", **extra)
    return http("POST", url + "/v1/alerts", make_notification(alert), token=token)


def test_authorised_alert_switches_routing_and_answers_the_decisions(service_factory):
    svc = service_factory(POLICY)
    status, _, body = _fire(svc.url)
    assert status == 200
    assert body["decisions"] == [{"alertname": "MLInferenceErrorRate", "model": "iris", "rule": "fb",
                                  "action": "fallback", "outcome": "executed", "reason": "alert_firing"}]
    status, headers, doc = http("GET", svc.url + "/v1/routing")
    assert status == 200 and doc["models"]["iris"]["variant"] == semconv.VARIANT_FALLBACK
    assert doc["models"]["iris"]["holds"][0]["rule"] == "fb"


@pytest.mark.parametrize("token", [None, "wrong-token", TOKEN + "x", ""])
def test_bad_or_missing_token_is_refused_and_changes_nothing(service_factory, metrics, token):
    svc = service_factory(POLICY)
    status, headers, body = _fire(svc.url, token=token)
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert http("GET", svc.url + "/v1/routing")[2]["models"] == {}
    rejected = [r for r in read_audit(svc.audit_path) if r["event"] == "request_rejected"]
    assert len(rejected) == 1
    assert rejected[0]["reason"] == ("missing_credentials" if not token else "bad_credentials")
    assert not [r for r in read_audit(svc.audit_path) if r["event"] == "decision"]
    _meter, reader = metrics
    values = counter_values(reader, semconv.Metric.REMEDIATION_NOTIFICATIONS.name)
    assert values == {key({semconv.Attr.STATUS: "rejected", semconv.Attr.REJECT_REASON: rejected[0]["reason"]}): 1}


def test_routing_read_needs_credentials_too(service_factory):
    svc = service_factory(POLICY)
    assert http("GET", svc.url + "/v1/routing", token="nope")[0] == 401
    assert http("GET", svc.url + "/-/healthy", token=None)[0] == 200
    assert http("GET", svc.url + "/-/ready", token=None)[0] == 200


def test_basic_auth_as_alertmanager_sends_it(service_factory):
    creds = Credentials(basic=(b"alertmanager", b"pa:ss word"))
    svc = service_factory(POLICY, credentials=creds)
    alert = make_alert("MLInferenceErrorRate", ml_model_name="iris")
    assert http("POST", svc.url + "/v1/alerts", make_notification(alert), token=None,
                basic=("alertmanager", "pa:ss word"))[0] == 200
    assert http("POST", svc.url + "/v1/alerts", make_notification(alert), token=None,
                basic=("alertmanager", "wrong"))[0] == 401
    status, headers, _ = http("GET", svc.url + "/v1/routing", token=TOKEN)  # bearer not configured
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize("body, fragment", [
    (b"not json", "not JSON"),
    (b"[]", "JSON object"),
    (json.dumps({"version": "3", "status": "firing", "alerts": []}).encode(), "version"),
    (json.dumps({**make_notification(make_alert("A")), "alerts": [{"status": "firing"}]}).encode(),
     "alerts[0].labels.alertname"),
    (json.dumps({**make_notification({**make_alert("A"), "status": "exploded"})}).encode(),
     "alerts[0].status"),
    (json.dumps({**make_notification({**make_alert("A"), "labels": {"alertname": "A", "n": 3}})}).encode(),
     "alerts[0].labels.n"),
])
def test_malformed_payload_gets_400_naming_the_field_and_the_service_keeps_working(service_factory, body, fragment):
    svc = service_factory(POLICY)
    status, _, answer = http("POST", svc.url + "/v1/alerts", body)
    assert status == 400 and fragment in answer["error"]
    assert [r["reason"] for r in read_audit(svc.audit_path) if r["event"] == "request_rejected"] == ["invalid_payload"]
    assert _fire(svc.url)[0] == 200  # the next good notification is handled as usual
    assert http("GET", svc.url + "/v1/routing")[2]["models"]["iris"]["variant"] == "fallback"


def test_oversized_body_is_refused_before_it_is_read(service_factory):
    svc = service_factory(POLICY)
    with socket.create_connection(("127.0.0.1", svc.server.port), timeout=5) as s:
        s.sendall((f"POST /v1/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n").encode())
        reply = s.recv(4096).decode()
    assert reply.startswith("HTTP/1.0 413") or reply.startswith("HTTP/1.1 413")
    assert [r["reason"] for r in read_audit(svc.audit_path) if r["event"] == "request_rejected"] == ["too_large"]


def test_etag_gives_304_until_routing_changes(service_factory):
    svc = service_factory(POLICY)
    status, headers, _ = http("GET", svc.url + "/v1/routing")
    etag = headers["ETag"]
    assert http("GET", svc.url + "/v1/routing", headers={"If-None-Match": etag})[0] == 304
    _fire(svc.url)
    status, headers2, doc = http("GET", svc.url + "/v1/routing", headers={"If-None-Match": etag})
    assert status == 200 and headers2["ETag"] != etag and doc["models"]["iris"]["variant"] == "fallback"


def test_operator_reset_returns_model_to_primary_and_is_audited(service_factory):
    svc = service_factory(POLICY)
    _fire(svc.url, model="fraud model/v2")
    status, _, body = http("DELETE", svc.url + "/v1/routing/fraud%20model%2Fv2")
    assert status == 200 and body == {"model": "fraud model/v2", "variant": "primary", "holds_dropped": 1}
    assert http("GET", svc.url + "/v1/routing")[2]["models"] == {}
    reset = [r for r in read_audit(svc.audit_path) if r.get("action") == "reset"]
    assert len(reset) == 1 and reset[0]["detail"]["from"] == "fallback"
    assert http("DELETE", svc.url + "/v1/routing/iris", token="bad")[0] == 401


def test_unknown_routes_and_methods(service_factory):
    svc = service_factory(POLICY)
    assert http("GET", svc.url + "/v1/nothing")[0] == 404
    assert http("POST", svc.url + "/v1/routing", {})[0] == 405
    assert http("PUT", svc.url + "/v1/alerts", {})[0] == 405


def test_no_credentials_refuses_to_start_unless_no_auth_on_loopback(tmp_path):
    from otel_ml.remediation.policy import parse_policy
    from otel_ml.remediation.service import RemediationService

    with pytest.raises(UserError, match="no credentials"):
        RemediationService(parse_policy(POLICY), state_dir=tmp_path, credentials=Credentials(), port=0)
    with pytest.raises(UserError, match="loopback"):
        RemediationService(parse_policy(POLICY), state_dir=tmp_path, credentials=Credentials(),
                           host="0.0.0.0", port=0, allow_unauthenticated=True)
    svc = RemediationService(parse_policy(POLICY), state_dir=tmp_path, credentials=Credentials(), port=0,
                             allow_unauthenticated=True).start()
    try:
        assert _fire(svc.url, token=None)[0] == 200
    finally:
        svc.stop()


def test_port_in_use_is_a_user_error(service_factory, tmp_path):
    from otel_ml.remediation.policy import parse_policy
    from otel_ml.remediation.service import RemediationService

    svc = service_factory(POLICY)
    with pytest.raises(UserError, match="cannot listen"):
        RemediationService(parse_policy(POLICY), state_dir=tmp_path / "other",
                           credentials=Credentials(token=b"x"), port=svc.server.port)


def test_overlong_label_is_refused_but_an_overlong_annotation_is_cut(service_factory):
    svc = service_factory(POLICY)
    huge = "x" * 20000
    bad = make_alert("MLInferenceErrorRate", ml_model_name="iris", team=huge)
    status, _, answer = http("POST", svc.url + "/v1/alerts", make_notification(bad))
    assert status == 400 and "alerts[0].labels.team" in answer["error"]
    ok = make_alert("MLInferenceErrorRate", ml_model_name="iris")
    ok["annotations"]["description"] = huge
    assert http("POST", svc.url + "/v1/alerts", make_notification(ok))[0] == 200
    assert http("GET", svc.url + "/v1/routing")[2]["models"]["iris"]["variant"] == "fallback"


ROUTING_TOKEN = "routing-read-only-5c1e"


def test_the_routing_token_reads_the_routing_and_nothing_else(service_factory):
    svc = service_factory(POLICY, credentials=Credentials(token=TOKEN.encode(), routing_token=ROUTING_TOKEN.encode()))
    assert _fire(svc.url, token=ROUTING_TOKEN)[0] == 403  # an app cannot post alerts
    assert http("GET", svc.url + "/v1/routing")[2]["models"] == {}
    assert _fire(svc.url)[0] == 200  # Alertmanager's token can
    status, _, doc = http("GET", svc.url + "/v1/routing", token=ROUTING_TOKEN)
    assert status == 200 and doc["models"]["iris"]["variant"] == "fallback"
    assert http("DELETE", svc.url + "/v1/routing/iris", token=ROUTING_TOKEN)[0] == 403  # nor reset
    assert http("GET", svc.url + "/v1/routing", token=ROUTING_TOKEN)[2]["models"]["iris"]["variant"] == "fallback"
    assert http("GET", svc.url + "/v1/routing", token=ROUTING_TOKEN + "x")[0] == 401
    rejected = [(r["reason"], r["method"]) for r in read_audit(svc.audit_path) if r["event"] == "request_rejected"]
    assert rejected == [("read_only_credentials", "POST"), ("read_only_credentials", "DELETE"),
                        ("bad_credentials", "GET")]


def test_a_routing_token_alone_does_not_start_the_service(tmp_path):
    from otel_ml.remediation.policy import parse_policy
    from otel_ml.remediation.service import RemediationService

    with pytest.raises(UserError, match="no credentials.*only reads"):
        RemediationService(parse_policy(POLICY), state_dir=tmp_path, credentials=Credentials(routing_token=b"r"),
                           port=0)


def test_compose_gives_the_example_app_the_read_only_token_only():
    from tests.stack import shipped

    services = shipped.load_yaml(shipped.COMPOSE_YML)["services"]

    def flag(service, name):
        values = [a.split("=", 1)[1] for a in services[service]["command"] if a.startswith(f"--{name}=")]
        assert len(values) == 1, (service, name, values)
        return values[0]

    admin = flag("otel-ml-remediate", "bearer-token-file")
    routing = flag("otel-ml-remediate", "routing-token-file")
    assert routing != admin
    assert flag("example-app", "routing-token-file") == routing
    assert admin not in " ".join(services["example-app"]["command"])
    init = services["stack-init"]
    name = routing.rsplit("/", 1)[1]
    assert f'put("{name}", "OTEL_ML_REMEDIATE_ROUTING_TOKEN", generate=True)' in init["command"][0]
    assert init["environment"]["OTEL_ML_REMEDIATE_ROUTING_TOKEN"] == "${OTEL_ML_REMEDIATE_ROUTING_TOKEN:-}"
    assert "OTEL_ML_REMEDIATE_ROUTING_TOKEN=" in (shipped.ROOT / ".env.example").read_text()


def test_tls_with_a_self_signed_certificate(service_factory, tmp_path):
    import ssl
    import urllib.request

    from otel_ml.remediation.auth import load_tls_context
    from tests.support.tls import self_signed_certificate

    cert, key = self_signed_certificate(tmp_path)
    svc = service_factory(POLICY, ssl_context=load_tls_context(str(cert), str(key)))
    assert svc.url.startswith("https://127.0.0.1:")
    url = svc.url.replace("127.0.0.1", "localhost")
    client = ssl.create_default_context(cafile=str(cert))
    request = urllib.request.Request(url + "/v1/routing", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10, context=client) as resp:
        assert resp.status == 200 and "models" in json.loads(resp.read())
    with pytest.raises(urllib.error.HTTPError) as refused:  # TLS does not replace the token
        urllib.request.urlopen(urllib.request.Request(url + "/v1/routing"), timeout=10, context=client)
    assert refused.value.code == 401
    # plaintext on the TLS port is not served
    with socket.create_connection(("127.0.0.1", svc.server.port), timeout=10) as raw:
        raw.sendall(b"GET /v1/routing HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
                    + b"\r\n\r\n")
        try:
            answer = raw.makefile("rb").read()
        except ConnectionResetError:
            answer = b""
        assert b"200 OK" not in answer
    # a failed handshake did not hurt the server
    with urllib.request.urlopen(request, timeout=10, context=client) as resp:
        assert resp.status == 200


@pytest.mark.parametrize("given,missing", [("--tls-cert-file", "--tls-key-file"),
                                           ("--tls-key-file", "--tls-cert-file")])
def test_tls_flags_go_together(tmp_path, given, missing):
    from otel_ml.remediation.auth import load_tls_context

    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    files = {"--tls-cert-file": None, "--tls-key-file": None, given: str(cert)}
    with pytest.raises(UserError, match=f"^{missing} is missing"):
        load_tls_context(files["--tls-cert-file"], files["--tls-key-file"])


def test_unusable_certificate_is_a_user_error_naming_the_flag(tmp_path):
    from otel_ml.remediation.auth import load_tls_context

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("not a certificate")
    key.write_text("not a key")
    with pytest.raises(UserError, match="^--tls-cert-file: cannot load certificate"):
        load_tls_context(str(cert), str(key))
