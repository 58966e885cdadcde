"""The C accsyn client (remote/) against the simulator: v3 login through
ACCSYN_PROXY, a job created with tasks and a client token, followed to `done`
with the bytes arriving; find by id and by token (finished jobs included);
pause, resume, abort; tasks; a failing job."""

import filecmp
import os

import pytest

from test_remote_probe import RemoteProbe

SRC = "theproject/ep01/seq010/sh010/comp/v001/main.exr"


def test_login_wire(sim):
    p = RemoteProbe(sim)
    sim.clear_log()
    out = p.accsyn("login")
    assert out["ok"] and out["requests"] == 2
    paths = [r["path"] for r in sim.log() if r.get("listener") == "accsyn"]
    assert paths[0].startswith("/api/v3/J3PKTtDvolDMBtTy6AFGA")
    assert paths[1] == "/api/v3/api/login"


def test_job_create_to_done(sim):
    p = RemoteProbe(sim)
    src = sim.path_of("hq", *SRC.split("/"))
    assert os.path.isfile(src)
    out = p.accsyn("create", "tok-done-1", "Transfer of 1 component from hq to la", "site=hq:" + SRC, "site=la")
    assert out["ok"], out
    job = out["job"]
    assert job["token"] == "tok-done-1" and job["code"].endswith(" #tok-done-1")
    done = p.accsyn("wait", job["id"], 60)
    assert done["ok"] and done["job"]["status"] == "done" and done["job"]["progress"] == 100
    dst = sim.path_of("la", *SRC.split("/"))
    assert os.path.isfile(dst) and filecmp.cmp(src, dst, shallow=False)
    # finished jobs are still found, by id and by token
    got = p.accsyn("get", job["id"])
    assert got["found"] == 1 and got["job"]["status"] == "done"
    got = p.accsyn("find-token", "tok-done-1")
    assert got["found"] == 1 and got["job"]["id"] == job["id"]
    assert p.accsyn("find-token", "tok-never")["found"] == 0
    assert p.accsyn("get", "ffffffffffffffffffffffff")["found"] == 0
    tasks = p.accsyn("tasks", job["id"])
    assert tasks["ok"] and [t["status"] for t in tasks["tasks"]] == ["done"]


@pytest.mark.sim(bandwidth=20000)
def test_pause_resume_abort(sim):
    p = RemoteProbe(sim)
    src2 = "theproject/ep01/seq010/sh010/comp/v002/main.exr"
    out = p.accsyn("create", "tok-ctl", "slow", "site=hq:" + SRC, "site=la", "site=hq:" + src2, "site=la")
    assert out["ok"], out
    jid = out["job"]["id"]
    assert p.accsyn("pause", jid)["job"]["status"] == "paused"
    assert p.accsyn("get", jid)["job"]["status"] == "paused"
    assert p.accsyn("resume", jid)["job"]["status"] in ("waiting", "running", "done")
    out = p.accsyn("abort", jid)
    assert out["ok"]
    final = p.accsyn("wait", jid, 30)
    assert final["job"]["status"] in ("aborted", "done")
    assert len(p.accsyn("tasks", jid)["tasks"]) == 2


@pytest.mark.sim(faults=["job_fail"])
def test_job_failure_visible(sim):
    p = RemoteProbe(sim)
    out = p.accsyn("create", "tok-fail", "will fail", "site=hq:" + SRC, "site=la")
    assert out["ok"]
    final = p.accsyn("wait", out["job"]["id"], 30)
    assert final["job"]["status"] == "failed"


def test_bad_request_message(sim):
    p = RemoteProbe(sim)
    out = p.accsyn("create", "tok-bad", "bad", "site=nowhere:x/y", "site=la")
    assert not out["ok"] and out["errno"] in ("EINVAL", "ENOENT") and out["error"]
