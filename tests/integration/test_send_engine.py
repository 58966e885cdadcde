"""The send engine (fs/send) against the studio simulator, through the
ftrackfs-sendctl driver: one job per (source, destination), bytes arrive,
ComponentLocations are registered, exactly once across SIGKILLs, and every
accsyn fault is shown and recovered from.

    /usr/bin/python3 -m pytest -q tests/integration/test_send_engine.py
"""

import os
import signal
import time

import pytest

from sendctl import LOC, SENDCTL, SendCtl, component_locations, our_jobs, sha

# A build without the driver must fail these tests, not skip them.
if not os.path.exists(SENDCTL):
    raise RuntimeError("%s is not built" % SENDCTL)

# sh010 comp v001 and v002: main.exr, plate (a 5-frame sequence), nukescript
V001 = ["dbb5838d-555d-5957-b20f-877836e2e727", "a34c5b99-f616-5ca3-9753-d98cf322b04f",
        "20ecdfff-730a-5945-bc8b-ec42c7baa13d"]
V002 = ["1602d209-41e7-55c5-a6a6-414333bbceed", "ae7cd56d-4b31-59bb-94a6-33a7f3bfd423",
        "fd37ffef-39ef-5e5c-825f-c54c89c08c8c"]
V003_MAIN = "8dce3ca5-a549-51c8-849c-664f182b7fa0"          # already in la
PLATE_V001 = "54061503-1917-5a37-9463-af41830e32d2"         # 8 .dpx frames
SH020_V001_DRIVE = "11e59fe7-1d27-5e9c-a110-451f2f23052d"   # S:\theproject\...
SH020_V002_UNC = "15c3f8a7-75b3-586c-949f-bdc5e25c38cb"     # \\192.168.1.240\storage\...
SH100_SPACES = "c40fbf4c-b9ca-54a5-8167-c2587d8c3206"       # ".../seq020 / retakes/..."
CAFE_V001_GEO = "76457923-3f94-565c-9497-095b8e30296f"      # ".../Café Müller/..."
CAFE_V001_TEX = "2b939943-0536-5cf3-af59-7864197586e6"      # a container of 3 files
CAFE_V002_GEO = "e37e4cca-03ec-5f86-8b14-3e59e5b90679"      # in hq (absolute) and la (relative)
REVIEW_MP4 = "a1823603-87ab-55b7-b0c5-07c1051946fb"         # only ftrack.review, a URL

SH010 = "theproject/ep01/seq010/sh010/comp"


def files_under(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            if ".accsyn-" in n:
                continue
            p = os.path.join(d, n)
            out[os.path.relpath(p, root)] = sha(p)
    return out


def assert_all_done(ctl, n):
    st = ctl.status()
    states = [i["state"] for i in st["intents"]]
    assert states == ["done"] * n, st
    assert all(i["view"]["state"] == "present" for i in st["intents"]), st
    return st


def test_one_job_for_a_shot_bytes_arrive_and_components_registered(sim, tmp_path):
    ctl = SendCtl(sim, tmp_path)
    assert ctl.enqueue("la", *(V001 + V002)) == 6
    p = ctl.run()
    assert p.returncode == 0, p.stderr
    st = assert_all_done(ctl, 6)

    jobs = our_jobs(sim)
    assert len(jobs) == 1
    req = jobs[0]["request"]
    assert req["mirror_paths"] is True
    assert req["code"].startswith("ftrackfs: %s (14 files) from alice" % SH010)
    srcs = sorted(t["source"] for t in req["tasks"])
    assert srcs == sorted([
        "site=hq:%s/v001/main.exr" % SH010, "site=hq:%s/v001/nukescript.nk" % SH010,
        "site=hq:%s/v001/plate.%%04d.exr [1001-1005]" % SH010,
        "site=hq:%s/v002/main.exr" % SH010, "site=hq:%s/v002/nukescript.nk" % SH010,
        "site=hq:%s/v002/plate.%%04d.exr [1001-1005]" % SH010])
    assert {t["destination"] for t in req["tasks"]} == {"site=la"}
    assert jobs[0]["status"] == "done"

    # bytes: identical at la, for every file of both versions
    for v in ("v001", "v002"):
        src = files_under(sim.path_of("hq", *SH010.split("/"), v))
        dst = files_under(sim.path_of("la", *SH010.split("/"), v))
        assert len(src) == 7 and src == dst

    # ftrack: each component (and each sequence member) registered in la, once
    cls = component_locations(sim, LOC["la"])
    ours = [c for c in cls if c["component_id"] in V001 + V002]
    assert sorted(c["resource_identifier"] for c in ours) == sorted([
        "%s/v001/main.exr" % SH010, "%s/v001/plate.%%04d.exr" % SH010, "%s/v001/nukescript.nk" % SH010,
        "%s/v002/main.exr" % SH010, "%s/v002/plate.%%04d.exr" % SH010, "%s/v002/nukescript.nk" % SH010])
    members = sim.rows("select id from Component where container_id in (%s, %s)" % (V001[1], V002[1]))
    member_ids = {m["id"] for m in members}
    assert len(member_ids) == 10
    mcls = [c for c in cls if c["component_id"] in member_ids]
    assert len(mcls) == 10
    assert "%s/v001/plate.1003.exr" % SH010 in {c["resource_identifier"] for c in mcls}

    # the ftrack Job mirrors the accsyn job
    fjob = st["jobs"][0]["ftrack_job"]
    rows = sim.rows('select status, data from Job where id is "%s"' % fjob)
    assert rows and rows[0]["status"] == "done"
    assert "done" in rows[0]["data"] and "100%" in rows[0]["data"]


def test_what_the_location_holds_is_skipped(sim, tmp_path):
    ctl = SendCtl(sim, tmp_path)
    ctl.enqueue("la", V003_MAIN, V001[0])
    assert ctl.run().returncode == 0
    assert_all_done(ctl, 2)
    jobs = our_jobs(sim)
    assert len(jobs) == 1
    assert [t["source"] for t in jobs[0]["request"]["tasks"]] == ["site=hq:%s/v001/main.exr" % SH010]
    # no second ComponentLocation for what was already there
    cls = [c for c in component_locations(sim, LOC["la"]) if c["component_id"] == V003_MAIN]
    assert len(cls) == 1
    # and a repeat enqueue of a finished send is idempotent: the engine
    # knows it is present now
    assert ctl.enqueue("la", V001[0]) == 0


def test_drive_letters_unc_odd_names_and_containers_to_a_user(sim, tmp_path):
    ctl = SendCtl(sim, tmp_path)
    comps = [SH020_V001_DRIVE, SH020_V002_UNC, SH100_SPACES, CAFE_V001_GEO, CAFE_V001_TEX]
    ctl.enqueue("maria@acmevfx.com", *comps)
    p = ctl.run()
    assert p.returncode == 0, p.stderr
    assert_all_done(ctl, 5)
    jobs = our_jobs(sim)
    assert len(jobs) == 1
    req = jobs[0]["request"]
    assert sorted(t["source"] for t in req["tasks"]) == sorted([
        "site=hq:theproject/ep01/seq010/sh020/comp/v001/main.exr",
        "site=hq:theproject/ep01/seq010/sh020/comp/v002/main.exr",
        "site=hq:theproject/ep01/seq020 / retakes/sh100/comp/v001/main.exr",
        "site=hq:theproject/assets/Café Müller/model/v001/geo.abc",
        "site=hq:theproject/assets/Café Müller/model/v001/textures"])
    assert {t["destination"] for t in req["tasks"]} == {"maria@acmevfx.com"}
    for rel in ("theproject/ep01/seq010/sh020/comp/v001/main.exr",
                "theproject/ep01/seq010/sh020/comp/v002/main.exr",
                "theproject/ep01/seq020 / retakes/sh100/comp/v001/main.exr",
                "theproject/assets/Café Müller/model/v001/textures/normal.png"):
        assert sha(sim.path_of("maria@acmevfx.com", rel)) == sha(sim.path_of("hq", rel))
    cls = {c["component_id"]: c["resource_identifier"]
           for c in component_locations(sim, LOC["maria@acmevfx.com"])}
    assert cls[SH020_V001_DRIVE] == "theproject/ep01/seq010/sh020/comp/v001/main.exr"
    assert cls[CAFE_V001_TEX] == "theproject/assets/Café Müller/model/v001/textures"
    assert cls["afa1ed10-dae3-560d-8590-49bbe69bacfd"] == \
        "theproject/assets/Café Müller/model/v001/textures/diffuse.png"


def test_source_priority_and_one_job_per_source(sim, tmp_path):
    # CAFE_V002_GEO is in la and hq; V001[0] only in hq: with la preferred,
    # two sources -> two jobs, each named after what it sends
    ctl = SendCtl(sim, tmp_path, priority=["la"])
    ctl.enqueue("lisa@vendor.com", CAFE_V002_GEO, V001[0])
    assert ctl.run().returncode == 0
    assert_all_done(ctl, 2)
    jobs = our_jobs(sim)
    assert len(jobs) == 2
    by_src = {j["request"]["tasks"][0]["source"].split(":")[0]: j for j in jobs}
    assert by_src["site=la"]["request"]["tasks"][0]["source"] == \
        "site=la:theproject/assets/cafe_muller/model/v002/geo.abc"
    assert by_src["site=hq"]["request"]["tasks"][0]["source"] == "site=hq:%s/v001/main.exr" % SH010


def test_clear_errors_no_party_and_no_holder(sim, tmp_path):
    ctl = SendCtl(sim, tmp_path)
    ctl.enqueue("ftrack.unmanaged", V001[0])
    ctl.enqueue("la", REVIEW_MP4)
    assert ctl.run().returncode == 0
    st = ctl.status()
    by = {i["component"]: i for i in st["intents"]}
    assert by[V001[0]]["state"] == "failed"
    assert "maps to no accsyn party" in by[V001[0]]["reason"]
    assert by[V001[0]]["view"]["state"] == "failed"
    assert by[REVIEW_MP4]["state"] == "failed"
    assert "no location holding it maps to an accsyn party" in by[REVIEW_MP4]["reason"]
    assert "URL" in by[REVIEW_MP4]["reason"]
    assert our_jobs(sim) == []


# ---- exactly once across SIGKILL -------------------------------------------

@pytest.mark.sim(bandwidth=20000)
@pytest.mark.parametrize("crash_at", ["after_ready", "after_token", "after_create",
                                      "while_running", "after_register"])
def test_sigkill_at_each_stage_then_restart(sim, tmp_path, crash_at):
    ctl = SendCtl(sim, tmp_path)
    ctl.enqueue("la", *V001)
    p = ctl.run(crash_at=crash_at, timeout=30)
    assert p.returncode == -signal.SIGKILL, (p.returncode, p.stderr)
    p = ctl.run(timeout=60)
    assert p.returncode == 0, p.stderr
    assert_all_done(ctl, 3)
    assert len(our_jobs(sim)) == 1
    cls = [c for c in component_locations(sim, LOC["la"]) if c["component_id"] in V001]
    assert len(cls) == 3                          # registered once each


def test_sigkill_during_the_quiet_period(sim, tmp_path):
    ctl = SendCtl(sim, tmp_path, quiet_ms=5000)
    ctl.enqueue("la", *V001)
    proc = ctl.popen("run", "--until-idle", "--timeout", "30")
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()
    st = ctl.status()
    assert [i["state"] for i in st["intents"]] == ["collecting"] * 3
    assert our_jobs(sim) == []
    assert ctl.run(flush=True).returncode == 0
    assert_all_done(ctl, 3)
    assert len(our_jobs(sim)) == 1


@pytest.mark.sim(bandwidth=20000)
def test_sigkill_twice_while_polling(sim, tmp_path):
    ctl = SendCtl(sim, tmp_path)
    ctl.enqueue("la", *(V001 + V002))
    for _ in range(2):
        proc = ctl.popen("run", "--until-idle", "--timeout", "30")
        time.sleep(0.8)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
    assert ctl.run(timeout=60).returncode == 0
    assert_all_done(ctl, 6)
    assert len(our_jobs(sim)) == 1


# ---- accsyn faults: shown, then recovered from ------------------------------

@pytest.mark.parametrize("fault,shown", [
    ({"error_rate": 1.0, "error_status": 503}, "accsyn unreachable"),
    ({"error_rate": 1.0, "error_status": 500}, "accsyn unreachable"),
    ({"drop": 1.0}, "accsyn unreachable"),
    ({"unauthorized": True}, "accsyn rejected the API key"),
])
def test_accsyn_fault_is_shown_then_recovered(sim, tmp_path, fault, shown):
    ctl = SendCtl(sim, tmp_path)
    sim.set_faults(side="accsyn", **fault)
    ctl.enqueue("la", *V001)
    p = ctl.run(until_idle=False, timeout=2)
    assert p.returncode == 0, p.stderr
    st = ctl.status()
    assert all(i["state"] in ("ready", "submitting") for i in st["intents"]), st
    assert all(shown in i["view"]["reason"] for i in st["intents"]), st
    if fault.get("unauthorized"):
        assert all(i["view"]["state"] == "failed" for i in st["intents"]), st
    else:
        assert all(i["view"]["state"] == "queued" for i in st["intents"]), st
    assert our_jobs(sim) == []

    sim.set_faults()
    p = ctl.run(timeout=30)
    assert p.returncode == 0, p.stderr
    st = assert_all_done(ctl, 3)
    assert all(i["view"]["reason"] == "" for i in st["intents"])
    assert len(our_jobs(sim)) == 1


@pytest.mark.sim(bandwidth=20000)
def test_accsyn_fault_while_polling(sim, tmp_path):
    ctl = SendCtl(sim, tmp_path)
    ctl.enqueue("la", *V001)
    p = ctl.run(until_idle=False, timeout=0.5)
    assert p.returncode == 0
    assert {i["state"] for i in ctl.status()["intents"]} == {"submitted"}
    sim.set_faults(side="accsyn", error_rate=1.0, error_status=503)
    ctl.run(until_idle=False, timeout=2)
    st = ctl.status()
    assert {i["state"] for i in st["intents"]} == {"submitted"}
    assert all("accsyn unreachable" in i["view"]["reason"] for i in st["intents"]), st
    sim.set_faults()
    assert ctl.run(timeout=30).returncode == 0
    assert_all_done(ctl, 3)
    assert len(our_jobs(sim)) == 1


def test_job_failure_keeps_the_reason_and_retry_sends_again(sim, tmp_path):
    ctl = SendCtl(sim, tmp_path)
    sim.set_faults(job_fail=1.0)
    ctl.enqueue("la", *V001)
    assert ctl.run().returncode == 0
    st = ctl.status()
    assert [i["state"] for i in st["intents"]] == ["failed"] * 3
    assert all("E#J999" in i["reason"] for i in st["intents"]), st
    assert all(i["view"]["state"] == "failed" and "E#J999" in i["view"]["reason"]
               for i in st["intents"])
    assert st["jobs"][0]["status"] == "failed"
    rows = sim.rows('select status from Job where id is "%s"' % st["jobs"][0]["ftrack_job"])
    assert rows[0]["status"] == "failed"
    # nothing registered for a failed job
    assert not [c for c in component_locations(sim, LOC["la"]) if c["component_id"] in V001]

    sim.set_faults()
    assert ctl.retry() == 3
    assert ctl.run().returncode == 0
    assert_all_done(ctl, 3)
    jobs = our_jobs(sim)
    assert [j["status"] for j in jobs] == ["failed", "done"]
