"""Fault injection, the control endpoint and the request log, observed from raw clients."""

import base64
import http.client
import json
import os
import signal
import socket
import time
import urllib.parse

import pytest

from simulator import ACCSYN_ADMIN, ACCSYN_WORKSPACE, ALICE, EMPTY_STUDIO

QUERY = [{"action": "query", "expression": "select id, name from Project"}]


def post_api(port, ops=QUERY, user=ALICE, timeout=10, conn=None):
    """POST /api over http.client; returns (status, body bytes). Raises on transport errors."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", "/api", body=json.dumps(ops), headers={
            "ftrack-user": user[0], "ftrack-api-key": user[1], "content-type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        if conn is None:
            c.close()


def accsyn_login(port, timeout=10):
    """PUT /api/v3/api/login as the official v3 client does; returns (status, body)."""
    auth = "basic %s:%s" % (base64.b64encode(ACCSYN_ADMIN[0].encode()).decode(),
                            base64.b64encode(ACCSYN_ADMIN[1].encode()).decode())
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("PUT", "/api/v3/api/login", body="{}", headers={
            "Authorization": auth, "X-Accsyn-Workspace": ACCSYN_WORKSPACE})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


@pytest.fixture
def s(sim_factory):
    return sim_factory(data=EMPTY_STUDIO)


def test_latency(s):
    t0 = time.time()
    assert post_api(s.ftrack_port)[0] == 200
    fast = time.time() - t0
    s.set_faults(latency_ms=400)
    t0 = time.time()
    st, body = post_api(s.ftrack_port)
    slow = time.time() - t0
    assert st == 200 and isinstance(json.loads(body), list)
    assert slow >= 0.4 and slow > fast
    s.set_faults()
    t0 = time.time()
    post_api(s.ftrack_port)
    assert time.time() - t0 < 0.4


def test_error_rate_is_deterministic(s):
    s.set_faults(error_rate=0.5, error_status=503, side="ftrack")
    statuses = [post_api(s.ftrack_port)[0] for _ in range(10)]
    assert statuses.count(503) == 5 and statuses.count(200) == 5
    assert statuses == [200, 503] * 5
    s.set_faults(error_rate=0.3, error_status=500)
    statuses = [post_api(s.ftrack_port)[0] for _ in range(10)]
    assert statuses.count(500) == 3
    s.set_faults(error_rate=1.0)
    st, body = post_api(s.ftrack_port)
    assert st == 503
    assert json.loads(body)["exception"] == "ServerError"     # body still says what happened
    # A 5xx is not processed: the create did not happen.
    st, _ = post_api(s.ftrack_port, [{"action": "create", "entity_type": "Location",
                                      "entity_data": {"name": "not-created"}}])
    assert st == 503
    s.set_faults()
    assert s.rows("select id from Location where name is not-created") == []


def test_unauthorized_ftrack_and_accsyn(s):
    s.set_faults(unauthorized=True)
    st, body = post_api(s.ftrack_port)
    assert st == 401
    err = json.loads(body)
    assert err["exception"] == "InvalidCredentialsError" and err["error_code"] is None
    st, body = accsyn_login(s.accsyn_port)
    assert st == 401
    assert "message" in json.loads(body)
    s.set_faults(unauthorized=True, side="accsyn")      # replaces: ftrack is clear again
    assert post_api(s.ftrack_port)[0] == 200
    assert accsyn_login(s.accsyn_port)[0] == 401
    s.set_faults()
    st, body = accsyn_login(s.accsyn_port)
    assert st == 200 and "result" in json.loads(body)


def test_malformed(s):
    s.set_faults(malformed=1.0, side="ftrack")
    st, body = post_api(s.ftrack_port)
    assert st == 200
    with pytest.raises(ValueError):
        json.loads(body)
    s.set_faults(malformed=0.5, side="ftrack")
    bodies = [post_api(s.ftrack_port)[1] for _ in range(4)]
    ok = 0
    for b in bodies:
        try:
            json.loads(b)
            ok += 1
        except ValueError:
            pass
    assert ok == 2


def test_truncated(s):
    s.set_faults(truncated=1.0, side="ftrack")
    c = http.client.HTTPConnection("127.0.0.1", s.ftrack_port, timeout=10)
    c.request("POST", "/api", body=json.dumps(QUERY),
              headers={"ftrack-user": ALICE[0], "ftrack-api-key": ALICE[1]})
    r = c.getresponse()
    assert r.status == 200
    declared = int(r.getheader("Content-Length"))
    with pytest.raises(http.client.IncompleteRead) as e:
        r.read()
    assert len(e.value.partial) < declared
    c.close()


def test_drop(s):
    s.set_faults(drop=1.0, side="ftrack")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
        post_api(s.ftrack_port)
    s.set_faults()
    assert post_api(s.ftrack_port)[0] == 200
    # Dropping only some requests on a kept-alive connection: the client must reconnect.
    s.set_faults(drop=0.5, side="ftrack")
    results = []
    for _ in range(4):
        try:
            results.append(post_api(s.ftrack_port)[0])
        except (http.client.RemoteDisconnected, ConnectionResetError):
            results.append("dropped")
    assert results.count("dropped") == 2 and results.count(200) == 2


def test_faults_from_cli(sim_factory):
    s = sim_factory(data=EMPTY_STUDIO, faults=["error=1:500@ftrack", "latency=50@accsyn", "job_fail"])
    f = s.get_faults()
    assert f["ftrack"]["error_rate"] == 1.0 and f["ftrack"]["error_status"] == 500
    assert f["accsyn"]["error_rate"] == 0.0 and f["accsyn"]["latency_ms"] == 50
    assert f["ftrack"]["latency_ms"] == 0
    assert f["job_fail"] == 1.0
    assert post_api(s.ftrack_port)[0] == 500
    assert accsyn_login(s.accsyn_port)[0] == 200
    # The control endpoint is never faulted.
    assert s.health()["ok"] is True
    s.set_faults()
    assert post_api(s.ftrack_port)[0] == 200
    assert s.get_faults()["job_fail"] == 0.0


@pytest.mark.parametrize("spec,side,key,value", [
    ("unauthorized", "ftrack", "unauthorized", True),
    ("malformed=1@accsyn", "accsyn", "malformed", 1.0),
    ("truncated=0.25", "ftrack", "truncated", 0.25),
    ("drop=1@accsyn", "accsyn", "drop", 1.0),
    ("error=503", "accsyn", "error_status", 503),
])
def test_cli_fault_spellings(sim_factory, spec, side, key, value):
    s = sim_factory(data=EMPTY_STUDIO, faults=[spec])
    assert s.get_faults()[side][key] == value


def test_bad_cli_fault_is_rejected(tmp_path):
    import subprocess
    from simulator import PYTHON, STUDIO_SIM
    data = tmp_path / "s.json"
    data.write_text(json.dumps(EMPTY_STUDIO))
    r = subprocess.run([PYTHON, STUDIO_SIM, "--data", str(data), "--storage", str(tmp_path / "st"),
                        "--fault", "explode=1"], capture_output=True, timeout=30)
    assert r.returncode == 2 and b"explode" in r.stderr


def test_control_endpoint(s):
    f = s.set_faults(latency_ms=5, side="ftrack")
    assert f["ftrack"]["latency_ms"] == 5 and f["accsyn"]["latency_ms"] == 0
    # Replace semantics: what is posted is the whole fault state.
    f = s.set_faults(error_rate=0.2, error_status=500, side="accsyn", job_fail=True)
    assert f["ftrack"]["latency_ms"] == 0
    assert f["accsyn"]["error_rate"] == 0.2 and f["accsyn"]["error_status"] == 500 and f["job_fail"] == 1.0
    f = s.set_faults(drop=1.0)
    assert f["ftrack"]["drop"] == 1.0 and f["accsyn"]["drop"] == 1.0 and f["job_fail"] == 0.0
    # Per-side form, as GET returns it, round-trips.
    f = s.set_faults(ftrack={"latency_ms": 7}, accsyn={"unauthorized": True}, job_fail=0.5)
    assert f["ftrack"]["latency_ms"] == 7 and f["ftrack"]["unauthorized"] is False
    assert f["accsyn"]["unauthorized"] is True and f["job_fail"] == 0.5
    assert s.set_faults(**s.get_faults()) == f
    f = s.set_faults()
    assert f["ftrack"]["drop"] == 0.0 and f["accsyn"]["unauthorized"] is False and f["job_fail"] == 0.0
    c = http.client.HTTPConnection("127.0.0.1", s.ftrack_port, timeout=10)
    c.request("POST", "/_sim/faults", body=json.dumps({"bogus": 1}))
    r = c.getresponse()
    assert r.status == 400 and "bogus" in json.loads(r.read())["error"]
    c.request("GET", "/_sim/nothing")
    r = c.getresponse()
    assert r.status == 404
    r.read()
    c.close()
    h = s.health()
    assert h["ftrack"] == s.ftrack_url and h["accsyn"] == s.accsyn_addr


def test_request_log(s):
    s.clear_log()
    post_api(s.ftrack_port, [{"action": "query_server_information"},
                             {"action": "query", "expression": "select id from Location offset 0 limit 500"}])
    post_api(s.ftrack_port, QUERY, user=("alice", "wrong"))
    accsyn_login(s.accsyn_port)
    s.set_faults(error_rate=1.0, error_status=503, side="ftrack")
    post_api(s.ftrack_port, [{"action": "create", "entity_type": "Location", "entity_data": {"name": "x"}}])
    s.set_faults()
    s.health()                                  # control requests are not logged
    log = s.log()
    assert len(log) == 4
    a, b, c, d = log
    for e in log:
        assert set(e) >= {"time", "listener", "method", "path", "info", "status", "ops"}
    assert a["listener"] == "ftrack" and a["method"] == "POST" and a["path"] == "/api"
    assert a["status"] == 200 and a["ops"] == 2
    assert a["info"] == "query_server_information; query: select id from Location offset 0 limit 500"
    assert b["status"] == 200 and b["info"] == "query: select id, name from Project"
    assert c["listener"] == "accsyn" and c["method"] == "PUT" and c["path"] == "/api/v3/api/login"
    assert c["status"] == 200
    assert d["status"] == 503 and d["fault"] == "error" and d["info"] == "create Location" and d["ops"] == 1
    # The same lines went to --log.
    with open(s.log_path, encoding="utf-8") as f:
        lines = [json.loads(l) for l in f if l.strip()]
    assert lines[-4:] == log
    s.clear_log()
    assert s.log() == []


def test_accsyn_event_uri_logged(s):
    s.clear_log()
    auth = "basic %s:%s" % (base64.b64encode(ACCSYN_ADMIN[0].encode()).decode(),
                            base64.b64encode(ACCSYN_ADMIN[1].encode()).decode())
    event = {"audience": "api", "workspace": ACCSYN_WORKSPACE, "uri": "site/find", "data": {}}
    c = http.client.HTTPConnection("127.0.0.1", s.accsyn_port, timeout=10)
    c.request("GET", "/api/v3/event?" + urllib.parse.quote(json.dumps(event)),
              headers={"Authorization": auth, "X-Accsyn-Workspace": ACCSYN_WORKSPACE})
    r = c.getresponse()
    r.read()
    c.close()
    [e] = s.log()
    assert e["listener"] == "accsyn" and e["method"] == "GET" and e["path"] == "/api/v3/event"
    assert "site/find" in e["info"]


def test_sigterm_exits_cleanly(sim_factory):
    s = sim_factory(data=EMPTY_STUDIO)
    # An idle kept-alive client connection must not keep the process alive.
    sock = socket.create_connection(("127.0.0.1", s.ftrack_port))
    try:
        assert s.stop(cleanup=False) == 0
    finally:
        sock.close()
