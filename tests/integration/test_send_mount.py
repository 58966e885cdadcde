"""Copies into locations/<L>/ on a real mount become accsyn transfers: every
client (cp -r, cp -a, cp inside the mount, rsync -a twice, gio copy,
shutil.copytree, `ftrackfs send`, setfattr) gives exactly one job, the bytes
arrive, ComponentLocations are created and the view says `present`.

    /usr/bin/python3 -m pytest -q tests/integration/test_send_mount.py
"""

import errno
import os
import shutil
import signal
import subprocess
import time

import pytest

from mount import FTRACKFS
from sendctl import LOC, component_locations, our_jobs, sha
from sendmount import send_mount_factory, smnt, wait_jobs_done  # noqa: F401

def _can_send():
    """The mount takes copies once fs/send is wired into ftrackfs."""
    if not os.path.exists(FTRACKFS):
        return False
    p = subprocess.run([FTRACKFS, "--help"], capture_output=True, text=True, timeout=30)
    return "ftrackfs send" in p.stdout + p.stderr


# A build without the send path must fail these tests, not skip them.
if not _can_send():
    raise RuntimeError("%s is missing or was built without fs/send" % FTRACKFS)

SH010 = ("theproject", "ep01", "seq010", "sh010")
SH010_V001 = ("theproject", "ep01", "seq010", "sh010", "comp", "v001")
V001_FILES = ["main.exr", "nukescript.nk", "plate/plate.1001.exr", "plate/plate.1005.exr"]
# in the parties' storage a sequence's frames sit next to the other files
V001_STORED = ["main.exr", "nukescript.nk", "plate.1001.exr", "plate.1005.exr"]
V001_IDS = {"dbb5838d-555d-5957-b20f-877836e2e727", "a34c5b99-f616-5ca3-9753-d98cf322b04f",
            "20ecdfff-730a-5945-bc8b-ec42c7baa13d"}


def run(*cmd, **kw):
    p = subprocess.run(list(cmd), capture_output=True, text=True, timeout=120, **kw)
    assert p.returncode == 0, "%s: %s" % (cmd, p.stderr)
    return p


def assert_v001_arrived(sim, m, job_count=1):
    jobs = wait_jobs_done(sim, job_count)
    assert len(our_jobs(sim)) == job_count
    assert jobs[-1]["status"] == "done"
    for f in V001_STORED:
        rel = "/".join(SH010_V001) + "/" + f
        assert sha(sim.path_of("la", rel)) == sha(sim.path_of("hq", rel)), rel
    # registered in ftrack before the view says present
    m.wait_state("present", "locations", "la", *SH010_V001, "main.exr")
    m.wait_state("present", "locations", "la", *SH010_V001, "plate")
    cls = {c["component_id"] for c in component_locations(sim, LOC["la"])}
    assert V001_IDS <= cls
    return jobs


def test_cp_r_of_a_shot_inside_the_mount(sim, smnt):
    # an empty jobs/ listing seen before the send must not hide the new job
    assert os.listdir(smnt.p(".ftrackfs", "jobs")) == []
    t0 = time.time()
    run("cp", "-r", smnt.p("projects", *SH010), smnt.p("locations", "la", *SH010[:3]))
    took = time.time() - t0
    jobs = assert_v001_arrived(sim, smnt)
    assert os.listdir(smnt.p(".ftrackfs", "jobs")) == [jobs[0]["id"] + ".json"]
    req = jobs[0]["request"]
    srcs = {t["source"] for t in req["tasks"]}
    assert "site=hq:theproject/ep01/seq010/sh010/comp/v001/plate.%04d.exr [1001-1005]" in srcs
    assert "site=hq:theproject/ep01/seq010/sh010/plate/v002/plate.%04d.dpx [1001-1008]" in srcs
    # v003 is in la already: not sent again
    assert not [s for s in srcs if "/v003/" in s]
    assert req["mirror_paths"] is True
    assert took < 10
    # the view shows the source's size; nothing was stored locally
    st = os.stat(smnt.p("locations", "la", *SH010_V001, "main.exr"))
    assert st.st_size == os.stat(smnt.p("projects", *SH010_V001, "main.exr")).st_size


def test_cp_a_from_outside(sim, smnt, tmp_path):
    src = tmp_path / "v001"
    run("cp", "-a", smnt.p("projects", *SH010_V001), str(src))
    os.setxattr(str(src / "main.exr"), "user.k", b"v")
    dst = smnt.p("locations", "la", *SH010_V001[:-1])
    os.makedirs(dst, exist_ok=True)
    run("cp", "-a", str(src), dst)
    assert_v001_arrived(sim, smnt)


def test_rsync_a_twice_second_finds_nothing(sim, smnt):
    if not shutil.which("rsync"):
        pytest.fail("rsync not installed (scripts/install-deps.sh installs it)")
    src = smnt.p("projects", *SH010_V001) + "/"
    dst = smnt.p("locations", "la", *SH010_V001)
    os.makedirs(smnt.p("locations", "la", *SH010_V001[:-1]), exist_ok=True)
    run("rsync", "-a", src, dst)
    assert_v001_arrived(sim, smnt)
    p = run("rsync", "-a", "--itemize-changes", "--stats", src, dst)
    assert "Number of regular files transferred: 0" in p.stdout, p.stdout
    assert len(our_jobs(sim)) == 1


def test_gio_copy_each_file(sim, smnt):
    if not shutil.which("gio"):
        pytest.fail("gio not installed (scripts/install-deps.sh installs libglib2.0-bin)")
    dst = smnt.p("locations", "la", *SH010_V001)
    os.makedirs(dst + "/plate", exist_ok=True)
    for f in V001_FILES + ["plate/plate.1002.exr", "plate/plate.1003.exr", "plate/plate.1004.exr"]:
        run("gio", "copy", smnt.p("projects", *SH010_V001, f), dst + "/" + f)
    assert_v001_arrived(sim, smnt)


def test_gio_replace_goes_through_goutputstream(sim, smnt):
    if not shutil.which("gio"):
        pytest.fail("gio not installed (scripts/install-deps.sh installs libglib2.0-bin)")
    dst = smnt.p("locations", "la", *SH010_V001)
    os.makedirs(dst, exist_ok=True)
    src = smnt.p("projects", *SH010_V001, "main.exr")
    run("gio", "copy", src, dst + "/main.exr")
    # copying again replaces: GIO writes .goutputstream-XXXXXX and renames it over
    run("gio", "copy", src, dst + "/main.exr")
    assert [n for n in os.listdir(dst) if n.startswith(".goutputstream")] == []
    jobs = wait_jobs_done(sim, 1)
    smnt.wait_state("present", "locations", "la", *SH010_V001, "main.exr")
    assert len(our_jobs(sim)) == 1
    assert [t["source"] for t in jobs[0]["request"]["tasks"]] == \
        ["site=hq:theproject/ep01/seq010/sh010/comp/v001/main.exr"]


def test_shutil_copytree(sim, smnt):
    shutil.copytree(smnt.p("projects", *SH010_V001), smnt.p("locations", "la", *SH010_V001),
                    dirs_exist_ok=True)
    assert_v001_arrived(sim, smnt)


def test_cp_file_inside_the_mount_is_a_send_by_reference(sim, smnt):
    dst = smnt.p("locations", "la", *SH010_V001)
    os.makedirs(dst, exist_ok=True)
    src = smnt.p("projects", *SH010_V001, "main.exr")
    with open(src, "rb") as fi, open(dst + "/main.exr", "wb") as fo:
        n = os.copy_file_range(fi.fileno(), fo.fileno(), 1 << 30)
    assert n == os.stat(src).st_size
    jobs = wait_jobs_done(sim, 1)
    assert [t["source"] for t in jobs[0]["request"]["tasks"]] == \
        ["site=hq:theproject/ep01/seq010/sh010/comp/v001/main.exr"]
    smnt.wait_state("present", "locations", "la", *SH010_V001, "main.exr")


def test_cli_send_and_setfattr(sim, smnt):
    p = smnt.cli("send", smnt.p("projects", *SH010_V001), "--to", "la")
    assert p.returncode == 0, p.stderr
    assert_v001_arrived(sim, smnt)
    # the xattr path, for another destination
    os.setxattr(smnt.p("projects", *SH010_V001, "main.exr"), "user.ftrack.send", b"maria@acmevfx.com")
    jobs = wait_jobs_done(sim, 2)
    assert jobs[1]["request"]["tasks"][0]["destination"] == "maria@acmevfx.com"
    # unknown location, and a location that maps to no party
    p = smnt.cli("send", smnt.p("projects", *SH010_V001), "--to", "nowhere")
    assert p.returncode != 0
    p = smnt.cli("send", smnt.p("projects", *SH010_V001), "--to", "ftrack.unmanaged")
    assert p.returncode != 0 and "no accsyn party" in p.stderr


def test_failed_job_shows_reason_then_retry(sim, smnt):
    sim.set_faults(job_fail=1.0)
    run("cp", "-r", smnt.p("projects", *SH010_V001), smnt.p("locations", "la", *SH010_V001[:-1]))
    wait_jobs_done(sim, 1)
    st = smnt.wait_for(lambda: (lambda s: s if s.startswith("failed") else None)(
        smnt.state("locations", "la", *SH010_V001, "main.exr")), what="failed state")
    assert "E#J999" in st
    sim.set_faults()
    p = smnt.cli("retry", smnt.p("locations", "la"))
    assert p.returncode == 0, p.stderr
    assert_v001_arrived(sim, smnt, job_count=2)


def test_names_the_location_cannot_take(sim, smnt):
    base = smnt.p("locations", "la", "theproject")
    with pytest.raises(OSError) as e:
        open(os.path.join(base, "no-such-thing.txt"), "w").close()
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        os.mkdir(os.path.join(base, "nope"))
    assert e.value.errno == errno.EINVAL
    # projects/ stays read-only
    with pytest.raises(OSError) as e:
        os.mkdir(smnt.p("projects", "theproject", "new"))
    assert e.value.errno in (errno.EROFS, errno.EACCES)
    sv = os.statvfs(smnt.p("locations", "la"))
    assert sv.f_bsize > 0


def test_sigkill_of_the_daemon_in_the_quiet_period(sim, send_mount_factory):
    m = send_mount_factory(sim)
    run("cp", "-r", smnt_path(m, "projects", *SH010_V001), smnt_path(m, "locations", "la", *SH010_V001[:-1]))
    m.proc.send_signal(signal.SIGKILL)        # well within the 2 s quiet period
    m.proc.wait(10)
    m.stop()
    assert our_jobs(sim) == []
    m.start()
    assert_v001_arrived(sim, m)


def smnt_path(m, *parts):
    return m.p(*parts)


@pytest.mark.sim(bandwidth=20000)
@pytest.mark.parametrize("crash_at", ["after_ready", "after_token", "after_create", "while_running",
                                      "after_register"])
def test_sigkill_of_the_daemon_at_each_stage(sim, send_mount_factory, crash_at):
    m = send_mount_factory(sim, crash_at=crash_at)
    run("cp", "-r", m.p("projects", *SH010_V001), m.p("locations", "la", *SH010_V001[:-1]))
    m.wait_dead()                             # SIGKILLed itself at the crash point
    m.crash_at = None
    m.start()
    assert_v001_arrived(sim, m)
    # exactly one job, and each component registered once
    assert len(our_jobs(sim)) == 1
    cls = [c for c in component_locations(sim, LOC["la"]) if c["component_id"] in V001_IDS]
    assert len(cls) == 3


@pytest.mark.parametrize("fault,shown", [
    ({"unauthorized": True}, "failed: accsyn rejected the API key"),
    ({"error_rate": 1.0, "error_status": 503}, "queued (accsyn unreachable"),
])
def test_accsyn_fault_shown_in_the_view_then_recovered(sim, smnt, fault, shown):
    sim.set_faults(side="accsyn", **fault)
    run("cp", "-r", smnt.p("projects", *SH010_V001), smnt.p("locations", "la", *SH010_V001[:-1]))
    smnt.wait_for(lambda: smnt.state("locations", "la", *SH010_V001, "main.exr").startswith(shown),
                  what=shown)
    st = smnt.status()["sends"]
    if fault.get("unauthorized"):
        assert st["blocked"] and st["blocked_reason"] == "accsyn rejected the API key"
    sim.set_faults()
    assert_v001_arrived(sim, smnt)
