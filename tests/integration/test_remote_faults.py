"""Every fault kind of the simulator against the C clients (remote/): latency,
5xx, 401, malformed, truncated and dropped replies, on both the ftrack and the
accsyn side. Reads recover through retries where the fault is transient;
writes are never retried blindly; errors map to the documented errno."""

import time

import pytest

from test_remote_probe import RemoteProbe

COMP_QUERY = "select id, name from Location"


def reqs(sim, listener):
    return [r for r in sim.log() if r.get("listener") == listener]


@pytest.fixture
def p(sim):
    return RemoteProbe(sim)


# ---- ftrack side ---------------------------------------------------------

def test_ftrack_latency(sim, p):
    sim.set_faults(latency_ms=300, side="ftrack")
    t0 = time.time()
    out = p.ftrack("query", COMP_QUERY)
    assert out["ok"] and out["n"] >= 5
    assert time.time() - t0 >= 0.3
    # a total timeout shorter than the latency is -ETIMEDOUT, retried as a read
    sim.clear_log()
    out = p.ftrack("query", COMP_QUERY, PROBE_TIMEOUT_MS=100, PROBE_RETRIES=2)
    assert not out["ok"] and out["errno"] == "ETIMEDOUT"
    time.sleep(0.5)
    assert len(reqs(sim, "ftrack")) == 3


def test_ftrack_5xx(sim, p):
    # rate 0.5 hits every second request: the first query passes, the second
    # is hit once and recovers by retrying
    sim.set_faults(error_rate=0.5, error_status=503, side="ftrack")
    assert p.ftrack("query", COMP_QUERY)["ok"]
    sim.clear_log()
    out = p.ftrack("query", COMP_QUERY, PROBE_RETRIES=4)
    assert out["ok"] and out["requests"] == 2
    assert [r["status"] for r in reqs(sim, "ftrack")] == [503, 200]
    # always failing: retries run out, -EAGAIN for 503, -EIO for 500
    sim.set_faults(error_rate=1.0, error_status=503, side="ftrack")
    sim.clear_log()
    out = p.ftrack("query", COMP_QUERY, PROBE_RETRIES=2)
    assert not out["ok"] and out["errno"] == "EAGAIN" and out["requests"] == 3
    sim.set_faults(error_rate=1.0, error_status=500, side="ftrack")
    out = p.ftrack("query", COMP_QUERY, PROBE_RETRIES=1)
    assert not out["ok"] and out["errno"] == "EIO"


def test_ftrack_create_never_retried(sim, p):
    comp = sim.rows("select id from FileComponent")[0]["id"]
    la = [l for l in sim.rows("select id, name from Location") if l["name"] == "la"][0]["id"]
    before = len(sim.rows("select id from ComponentLocation"))
    for kind in ({"error_rate": 1.0}, {"drop": 1.0}, {"truncated": 1.0}):
        sim.set_faults(side="ftrack", **kind)
        sim.clear_log()
        out = p.ftrack("create-cl", comp, la, "x/y.exr", PROBE_RETRIES=4)
        assert not out["ok"], kind
        assert out["requests"] == 1, kind
    sim.set_faults()
    # error and drop are not processed; truncated is (the reply was lost): at most one row
    assert len(sim.rows("select id from ComponentLocation")) - before <= 1


def test_ftrack_401(sim, p):
    sim.set_faults(unauthorized=True, side="ftrack")
    sim.clear_log()
    out = p.ftrack("projects", PROBE_RETRIES=3)
    assert not out["ok"] and out["errno"] == "EACCES"
    assert "InvalidCredentialsError" in out["error"]
    assert out["requests"] == 1


def test_ftrack_malformed(sim, p):
    sim.set_faults(malformed=1.0, side="ftrack")
    out = p.ftrack("projects", PROBE_RETRIES=3)
    assert not out["ok"] and out["errno"] == "EPROTO" and out["requests"] == 1


@pytest.mark.parametrize("kind", ["truncated", "drop"])
def test_ftrack_truncated_and_dropped(sim, p, kind):
    sim.set_faults(side="ftrack", **{kind: 1.0})
    out = p.ftrack("projects", PROBE_RETRIES=2)
    assert not out["ok"] and out["errno"] == "ECONNRESET" and out["requests"] == 3
    # every second request hit: a read gets through
    sim.set_faults(side="ftrack", **{kind: 0.5})
    out = p.ftrack("projects", PROBE_RETRIES=3)
    assert out["ok"] and len(out["items"]) == 2


# ---- accsyn side -----------------------------------------------------------

def test_accsyn_latency_and_5xx(sim, p):
    sim.set_faults(latency_ms=200, side="accsyn")
    t0 = time.time()
    assert p.accsyn("login")["ok"]
    assert time.time() - t0 >= 0.4              # discovery + login
    sim.set_faults(error_rate=0.5, side="accsyn")
    out = p.accsyn("login", PROBE_RETRIES=4)
    assert out["ok"]
    sim.set_faults(error_rate=1.0, side="accsyn")
    out = p.accsyn("login", PROBE_RETRIES=1)
    assert not out["ok"] and out["errno"] in ("EIO", "EAGAIN")


def test_accsyn_401(sim, p):
    sim.set_faults(unauthorized=True, side="accsyn")
    out = p.accsyn("login", PROBE_RETRIES=3)
    assert not out["ok"] and out["errno"] == "EACCES"
    # and a wrong key without any fault
    sim.set_faults()
    out = RemoteProbe(sim, ACCSYN_API_KEY="wrong").accsyn("login")
    assert not out["ok"] and out["errno"] == "EACCES" and out["error"]


@pytest.mark.parametrize("kind,errno", [("malformed", "EPROTO"), ("truncated", "ECONNRESET"),
                                        ("drop", "ECONNRESET")])
def test_accsyn_broken_replies(sim, p, kind, errno):
    sim.set_faults(side="accsyn", **{kind: 1.0})
    out = p.accsyn("login", PROBE_RETRIES=1)
    assert not out["ok"] and out["errno"] == errno
    sim.set_faults(side="accsyn", **{kind: 0.5})
    if kind != "malformed":
        assert p.accsyn("login", PROBE_RETRIES=3)["ok"]


def test_accsyn_create_never_retried(sim, p):
    # rate 0.5: discovery passes, login is hit and retried, the create is hit
    # and, not being a read, is not retried
    sim.clear_log()
    sim.set_faults(error_rate=0.5, side="accsyn")
    out = p.accsyn("create", "tok-noretry", "x", "site=hq:theproject/ep01/seq010/sh010/comp/v001/main.exr",
                   "site=la", PROBE_RETRIES=4)
    assert not out["ok"]
    log = reqs(sim, "accsyn")
    assert [r["status"] for r in log] == [200, 503, 200, 503]
    assert "job/create" in (log[-1].get("info") or "")
