"""Freshness, offline operation, refused identifiers, revoked keys and
file-manager probes on a real ftrackfs mount."""

import errno
import os
import time

import pytest

from expected_tree import local_copy
from mount import ALICE_ID, mount_factory, mnt  # noqa: F401  (fixtures)
from simulator import DEMO_DATA, JENKINS

SH010 = ("projects", "theproject", "ep01", "seq010", "sh010")
HQ_ID = "04aca307-9aea-5d50-b2d9-4ee1bf84ce14"
UNMANAGED_ID = "cb268ecc-8809-11e3-a7e2-20c9d081909b"


def comp_asset_id(sim):
    rows = sim.rows('select id, name, context_id from Asset where name is "comp" and '
                    'parent.name is "sh010"')
    return rows[0]["id"]


def create(sim, entity_type, data):
    r = sim.api([{"action": "create", "entity_type": entity_type, "entity_data": data}])
    assert isinstance(r, list), r
    return r[0]["data"]["id"]


def settle(sim, quiet=1.0, timeout=30):
    """Wait until the mount has stopped talking to the simulator."""
    deadline = time.time() + timeout
    n = len(sim.log())
    last_change = time.time()
    while time.time() < deadline:
        time.sleep(0.2)
        m = len(sim.log())
        if m != n:
            n, last_change = m, time.time()
        elif time.time() - last_change >= quiet:
            return
    raise AssertionError("the mount kept sending requests")


def ftrack_requests(sim):
    return [e for e in sim.log() if e.get("listener", "ftrack") == "ftrack"]


def test_new_version_appears_without_remount(sim, mount_factory):
    m = mount_factory(sim, ttl=2)
    comp = m.p(*SH010, "comp")
    assert sorted(os.listdir(comp)) == ["v001", "v002", "v003"]
    # a negative lookup the kernel may cache
    assert not os.path.exists(os.path.join(comp, "v004"))
    vid = create(sim, "AssetVersion", {"asset_id": comp_asset_id(sim), "version": 4})
    create(sim, "FileComponent", {"name": "main", "file_type": ".exr", "version_id": vid, "size": 7})
    # the same open listing (kernel-cached) shows it within the TTL plus a fetch
    t0 = time.time()
    m.wait_for(lambda: "v004" in os.listdir(comp), timeout=15, what="v004 in listing")
    assert time.time() - t0 < 12
    m.wait_for(lambda: os.path.exists(os.path.join(comp, "v004")), timeout=5, what="v004 lookup")
    m.wait_for(lambda: os.listdir(os.path.join(comp, "v004")) == ["main.exr"], timeout=10,
               what="v004 content")
    assert os.path.getsize(os.path.join(comp, "v004", "main.exr")) == 7


def test_deleted_version_disappears(sim, mount_factory):
    m = mount_factory(sim, ttl=1)
    comp = m.p(*SH010, "comp")
    assert "v003" in os.listdir(comp)
    vid = sim.rows('select id from AssetVersion where asset_id is "%s" and version is 3' %
                   comp_asset_id(sim))[0]["id"]
    r = sim.api([{"action": "delete", "entity_type": "AssetVersion", "entity_key": [vid]}])
    assert isinstance(r, list), r
    m.wait_for(lambda: "v003" not in os.listdir(comp), timeout=15, what="v003 gone")
    assert not os.path.exists(os.path.join(comp, "v003"))


def test_offline_serves_cache(sim, mount_factory):
    m = mount_factory(sim, ttl=1)
    v = m.p(*SH010, "comp", "v001")
    listing = sorted(os.listdir(v))
    with open(os.path.join(v, "main.exr"), "rb") as f:
        data = f.read()
    all_paths = sorted(os.path.relpath(os.path.join(d, n), m.path)
                       for d, dns, fns in os.walk(m.p("projects")) for n in dns + fns)
    sim.stop(cleanup=False)
    time.sleep(1.5)     # every listing is now older than the TTL
    assert sorted(os.listdir(v)) == listing
    with open(os.path.join(v, "main.exr"), "rb") as f:
        assert f.read() == data
    assert sorted(os.path.relpath(os.path.join(d, n), m.path)
                  for d, dns, fns in os.walk(m.p("projects")) for n in dns + fns) == all_paths
    st = m.wait_for(lambda: m.status()["connection"] == "offline" and m.status(), timeout=20,
                    what="status offline")
    assert "unreachable" in st["last_error"]
    assert "ftrack unreachable" in m.log()


def test_first_listing_offline_fails_fast(sim, mount_factory):
    m = mount_factory(sim, first_fetch_timeout=5)
    sim.stop(cleanup=False)
    t0 = time.time()
    with pytest.raises(OSError) as ei:
        os.listdir(m.p(*SH010))
    assert ei.value.errno in (errno.EIO, errno.ETIMEDOUT)
    assert time.time() - t0 < 8


def test_hostile_resource_identifiers_refused(sim, mount_factory):
    evil_link = os.path.join(sim.storage, "hq", "theproject", "evil_link")
    os.symlink("/etc/passwd", evil_link)
    os.symlink("../../../../../../../etc", os.path.join(sim.storage, "hq", "theproject", "etc_up"))
    vid = create(sim, "AssetVersion", {"asset_id": comp_asset_id(sim), "version": 9})
    cases = {
        "dotdot": (HQ_ID, "../../etc/passwd"),
        "dotdot_unmanaged": (UNMANAGED_ID, "/storage/../../etc/passwd"),
        "absolute": (UNMANAGED_ID, "/etc/passwd"),
        "symlink": (UNMANAGED_ID, "/storage/theproject/evil_link"),
        "symlink_dir": (HQ_ID, "theproject/etc_up/passwd"),
        "drive": (UNMANAGED_ID, "S:\\..\\..\\etc\\passwd"),
    }
    for name, (loc, ri) in cases.items():
        cid = create(sim, "FileComponent", {"name": name, "file_type": ".txt", "version_id": vid,
                                            "size": 100})
        create(sim, "ComponentLocation", {"component_id": cid, "location_id": loc,
                                          "resource_identifier": ri})
    m = mount_factory(sim)
    v = m.p(*SH010, "comp", "v009")
    assert sorted(os.listdir(v)) == sorted(n + ".txt" for n in cases)
    for name in cases:
        with pytest.raises(OSError) as ei:
            with open(os.path.join(v, name + ".txt"), "rb") as f:
                f.read()
        assert ei.value.errno == errno.EACCES, name
    log = m.log()
    assert log.count("refusing to open") >= len(cases)
    assert m.status()["opens_refused"] >= len(cases)


def test_revoked_key(sim, mount_factory):
    m = mount_factory(sim, ttl=1)
    for _ in os.walk(m.p(*SH010)):     # everything below sh010 is cached
        pass
    # revoke alice's key (as jenkins)
    r = sim.api([{"action": "reset_remote", "reset_type": "api_key", "entity_type": "User",
                  "entity_key": ALICE_ID}], user=JENKINS[0], key=JENKINS[1])
    assert isinstance(r, list), r
    time.sleep(1.2)
    os.listdir(m.p(*SH010))          # stale: triggers a refresh, served from cache
    st = m.wait_for(lambda: m.status()["connection"] == "auth-failed" and m.status(), timeout=20,
                    what="auth-failed status")
    assert "refused the credentials" in st["last_error"]
    assert "FTRACK_API_USER=alice" in st["last_error"]
    assert "refused the credentials of FTRACK_API_USER=alice" in m.log()
    # cached data still browses
    assert "comp" in os.listdir(m.p(*SH010))
    # stale listings keep being served from the cache, without hanging
    t0 = time.time()
    assert sorted(os.listdir(m.p(*SH010, "comp"))) == ["v001", "v002", "v003"]
    assert time.time() - t0 < 2


def test_wrong_key_from_start(sim, mount_factory):
    m = mount_factory(sim, key="not-the-key")
    with pytest.raises(OSError) as ei:
        os.listdir(m.p("projects"))
    assert ei.value.errno == errno.EIO
    st = m.wait_for(lambda: m.status()["connection"] == "auth-failed" and m.status(), timeout=10,
                    what="auth-failed status")
    assert "not-the-key" not in st["last_error"] and "not-the-key" not in m.log()


PROBES = [".hidden", ".directory", ".Trash", ".Trash-0", ".Trash-1000", ".xdg-volume-info",
          "autorun.inf", "desktop.ini", "Thumbs.db", ".DS_Store"]


def test_file_manager_probes_make_no_request(sim, mount_factory):
    m = mount_factory(sim, ttl=3600)
    os.listdir(m.p(*SH010))
    os.listdir(m.p("projects", "spot2024", "assets", "bottle"))
    settle(sim)
    sim.clear_log()
    dirs = [m.path, m.p("projects"), m.p(*SH010), m.p(*SH010, "comp"),
            m.p("projects", "spot2024", "assets", "bottle", "modeling")]   # never listed itself
    for _ in range(2):
        for d in dirs:
            for name in PROBES:
                assert not os.path.exists(os.path.join(d, name))
                with pytest.raises(FileNotFoundError):
                    os.stat(os.path.join(d, name))
    time.sleep(0.5)
    assert ftrack_requests(sim) == [], [(r.get("info"), r.get("time"), r.get("ts")) for r in ftrack_requests(sim)]


def test_cold_listing_is_batched(sim, mount_factory):
    """A whole-tree walk costs a few requests per directory level, not one per entity."""
    m = mount_factory(sim)
    n = sum(len(dns) + len(fns) for _, dns, fns in os.walk(m.p("projects")))
    settle(sim)
    reqs = ftrack_requests(sim)
    assert n > 100
    # a handful per directory level, far fewer than one per entity
    assert len(reqs) <= n // 2, [r.get("info") for r in reqs]


def test_status_command(sim, mount_factory):
    import subprocess
    from mount import FTRACKFS
    m = mount_factory(sim)
    out = subprocess.run([FTRACKFS, "status", m.path], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "connection:" in out.stdout
    m.kill()
    out = subprocess.run([FTRACKFS, "status", m.path], capture_output=True, text=True)
    assert out.returncode == 2
    assert "dead mount" in out.stderr and "fusermount3 -u" in out.stderr


def test_data_equal_after_remount(sim, mount_factory, tmp_path):
    m = mount_factory(sim, workdir=str(tmp_path))
    f = m.p(*SH010, "comp", "v002", "plate", "plate.1004.exr")
    with open(f, "rb") as fh:
        data = fh.read()
    m.stop()
    sim.stop(cleanup=False)
    m2 = mount_factory(sim, workdir=str(tmp_path))    # offline, from the cache only
    with open(m2.p(*SH010, "comp", "v002", "plate", "plate.1004.exr"), "rb") as fh:
        assert fh.read() == data
    cid = os.getxattr(f.replace(m.path, m2.path), "user.ftrack.id").decode()
    src = local_copy(DEMO_DATA, sim.storage, cid)
    assert open(src, "rb").read() == data


def test_first_fetch_timeout(sim, mount_factory):
    sim.set_faults(latency_ms=3000, side="ftrack")
    m = mount_factory(sim, first_fetch_timeout=1)
    t0 = time.time()
    with pytest.raises(OSError) as ei:
        os.listdir(m.p("projects"))
    assert ei.value.errno == errno.ETIMEDOUT
    assert time.time() - t0 < 2.5
    assert "took longer than 1s" in m.log()
    sim.set_faults()
    # the fetch went on in the background: the listing arrives
    m.wait_for(lambda: "theproject" in os.listdir(m.p("projects")), timeout=20, what="projects")


@pytest.mark.parametrize("spin_us", [0, 100])
def test_waiting_listing_does_not_stall_others(sim, mount_factory, spin_us):
    """While a first listing waits for ftrack, the mount keeps answering:
    the request loop hands its lead to another thread before waiting. With
    spin_us = 0 the reader sleeps between requests."""
    import threading
    m = mount_factory(sim, first_fetch_timeout=30,
                      extra_conf="[general]\nspin_us = %d\nprefetch_depth = 0\n" % spin_us)
    m.wait_for(lambda: "theproject" in os.listdir(m.p("projects")), what="projects")
    settle(sim)
    sim.clear_log()
    sim.set_faults(latency_ms=5000, side="ftrack")
    result = {}

    def listing():
        try:
            result["names"] = os.listdir(m.p("projects", "theproject"))
        except OSError as e:
            result["error"] = e

    t = threading.Thread(target=listing)
    t.start()
    try:
        # the listing's fetch is held by ftrack for 5 s (the simulator logs
        # a request once answered, so its log cannot say when it arrived)
        time.sleep(0.5)
        assert t.is_alive(), "the listing did not wait for ftrack"
        with open(m.p(".ftrackfs", "status")) as f:
            text = f.read()
        assert "connection" in text.lower()
        assert t.is_alive(), "status was answered only after the listing finished"
    finally:
        sim.set_faults()
        t.join(60)
    assert "ep01" in result.get("names", []), result


def test_sigterm_unmounts_cleanly(sim, mount_factory):
    import signal
    m = mount_factory(sim)
    os.listdir(m.p("projects"))
    m.proc.send_signal(signal.SIGTERM)
    assert m.proc.wait(10) == 0
    assert not os.path.ismount(m.path)
    assert "unmounting" in m.log()


def test_missing_credentials_refused(tmp_path):
    import subprocess
    from mount import FTRACKFS
    env = {k: v for k, v in os.environ.items() if not k.startswith("FTRACK_")}
    mp = tmp_path / "mnt"
    mp.mkdir()
    r = subprocess.run([FTRACKFS, "-f", str(mp)], env=env, capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "FTRACK_SERVER" in r.stderr
    assert not os.path.ismount(str(mp))
