"""Browsing and reading a real ftrackfs mount of the demo studio."""

import errno
import os
import stat
import subprocess

import pytest

from expected_tree import expected, local_copy
from mount import mount_factory, mnt  # noqa: F401  (fixtures)
from simulator import DEMO_DATA


def walk_tree(root):
    dirs, files = set(), set()
    for d, dns, fns in os.walk(root):
        rel = os.path.relpath(d, root)
        for n in dns:
            dirs.add(os.path.normpath(os.path.join(rel, n)))
        for n in fns:
            files.add(os.path.normpath(os.path.join(rel, n)))
    return dirs, files


def test_tree_matches_dataset(sim, mnt):
    want_dirs, want_files = expected(DEMO_DATA)
    got_dirs, got_files = walk_tree(mnt.p("projects"))
    assert got_dirs == want_dirs
    assert got_files == set(want_files)
    # every kind of entry is there
    assert any(p.endswith("plate.1001.exr") for p in got_files)
    assert any(p.endswith(os.path.join("v003", "main.exr")) for p in got_files)
    assert sorted(os.listdir(mnt.path)) == [".ftrackfs", "locations", "projects"]
    assert os.path.isdir(mnt.p(".ftrackfs"))


def test_attributes(sim, mnt):
    _, want_files = expected(DEMO_DATA)
    for rel, comp in want_files.items():
        st = os.stat(mnt.p("projects", rel))
        assert stat.S_ISREG(st.st_mode)
        assert st.st_mode & 0o777 == 0o444
        assert st.st_size == comp.get("size", 0)
        assert st.st_nlink == 1
    v = mnt.p("projects", "theproject", "ep01", "seq010", "sh010", "comp", "v001")
    st = os.stat(v)
    assert stat.S_ISDIR(st.st_mode) and st.st_mode & 0o222 == 0
    # publish date of comp v1: 2024-05-01T09:07:00Z
    assert int(st.st_mtime) == 1714554420
    assert int(os.stat(os.path.join(v, "main.exr")).st_mtime) == 1714554420
    assert st.st_nlink == 3     # ".", "..", plate/
    # inode numbers are stable across remounts (same cache)
    assert os.stat(os.path.join(v, "main.exr")).st_ino == os.lstat(os.path.join(v, "main.exr")).st_ino


def test_inodes_stable_across_remount(sim, mount_factory, tmp_path):
    m1 = mount_factory(sim, workdir=str(tmp_path))
    f = m1.p("projects", "theproject", "ep01", "seq010", "sh010", "comp", "v002", "main.exr")
    ino = os.stat(f).st_ino
    m1.stop()
    m2 = mount_factory(sim, workdir=str(tmp_path))
    assert os.stat(m2.p("projects", "theproject", "ep01", "seq010", "sh010", "comp", "v002",
                        "main.exr")).st_ino == ino


def test_bytes_equal_storage(sim, mnt):
    _, want_files = expected(DEMO_DATA)
    n_read = n_remote = 0
    for rel, comp in sorted(want_files.items()):
        src = local_copy(DEMO_DATA, sim.storage, comp["id"])
        path = mnt.p("projects", rel)
        if src and os.path.exists(src):
            with open(path, "rb") as a, open(src, "rb") as b:
                assert a.read() == b.read(), rel
            n_read += 1
        else:
            with pytest.raises(OSError) as ei:
                open(path, "rb").close()
            assert ei.value.errno == errno.EREMOTE, rel
            n_remote += 1
    assert n_read >= 40
    assert n_remote >= 1
    assert "ftrackfs send PATH --to hq" in mnt.log()
    # reading twice, and at offsets
    rel = next(r for r in want_files if r.endswith("plate.1003.exr"))
    src = local_copy(DEMO_DATA, sim.storage, want_files[rel]["id"])
    with open(mnt.p("projects", rel), "rb") as a, open(src, "rb") as b:
        data = b.read()
        a.seek(100)
        assert a.read(50) == data[100:150]
        a.seek(0)
        assert a.read() == data


def test_names_with_accents_quotes_and_slash(sim, mnt):
    theproject = os.listdir(mnt.p("projects", "theproject"))
    assert "seq020 \u2215 retakes" in os.listdir(mnt.p("projects", "theproject", "ep01"))
    assert "Café Müller" in os.listdir(mnt.p("projects", "theproject", "assets"))
    assert 'O\'Brien "final" \\ shot' in os.listdir(mnt.p("projects", "theproject", "ep01", "seq010"))
    assert "séquence 01" in os.listdir(mnt.p("projects", "spot2024"))
    assert "ep01" in theproject


def test_writes_refused(sim, mnt):
    v = mnt.p("projects", "theproject", "ep01", "seq010", "sh010", "comp", "v001")
    for fn in (lambda: open(os.path.join(v, "new.txt"), "w"),
               lambda: open(os.path.join(v, "main.exr"), "r+b"),
               lambda: os.mkdir(os.path.join(v, "d")),
               lambda: os.unlink(os.path.join(v, "main.exr")),
               lambda: os.rename(os.path.join(v, "main.exr"), os.path.join(v, "x.exr"))):
        with pytest.raises(OSError) as ei:
            fn()
        assert ei.value.errno in (errno.EROFS, errno.EACCES)
    # as root permissions do not stop us: the filesystem itself says EROFS
    with pytest.raises(OSError) as ei:
        open(os.path.join(v, "main.exr"), "r+b")
    assert ei.value.errno == errno.EROFS


def test_xattrs(sim, mnt):
    d = load_ids()
    v = mnt.p("projects", "theproject", "ep01", "seq010", "sh010", "comp", "v003")
    f = os.path.join(v, "main.exr")
    assert os.getxattr(f, "user.ftrack.type") == b"FileComponent"
    cid = os.getxattr(f, "user.ftrack.id").decode()
    assert d[cid]["name"] == "main"
    locs = os.getxattr(f, "user.ftrack.locations").decode()
    # hq holds it through the [absolute] rule for /storage
    assert "la=present" in locs and "hq=present (ftrack.unmanaged)" in locs, locs
    assert os.getxattr(v, "user.ftrack.type") == b"AssetVersion"
    assert os.getxattr(mnt.p("projects", "theproject"), "user.ftrack.type") == b"Project"
    assert os.getxattr(os.path.join(v, "plate"), "user.ftrack.type") == b"SequenceComponent"
    assert set(os.listxattr(f)) == {"user.ftrack.id", "user.ftrack.type", "user.ftrack.locations"}
    assert set(os.listxattr(v)) == {"user.ftrack.id", "user.ftrack.type"}
    # labels, capabilities and ACLs are not supported (so `ls -l` stops asking)
    for name in ("security.selinux", "security.capability", "system.posix_acl_access"):
        with pytest.raises(OSError) as ei:
            os.getxattr(f, name)
        assert ei.value.errno == errno.EOPNOTSUPP, name
    for name in ("user.other", "user.ftrack.nope", "trusted.x"):
        with pytest.raises(OSError) as ei:
            os.getxattr(f, name)
        assert ei.value.errno == errno.ENODATA, name
    # user.ftrack.state exists only in a location's view
    with pytest.raises(OSError) as ei:
        os.getxattr(f, "user.ftrack.state")
    assert ei.value.errno == errno.ENODATA


def test_noxattr(sim, mount_factory):
    m = mount_factory(sim, options=["noxattr"])
    f = m.p("projects", "theproject", "ep01", "seq010", "sh010", "comp", "v003", "main.exr")
    with pytest.raises(OSError) as ei:
        os.getxattr(f, "user.ftrack.id")
    assert ei.value.errno == errno.EOPNOTSUPP
    assert os.path.getsize(f) > 0


def test_status_files(sim, mnt):
    os.listdir(mnt.p("projects"))
    st = mnt.status()
    assert st["connection"] == "online"
    assert st["server"] == sim.ftrack_url
    assert st["cache"]["entries"] > 0
    text = open(mnt.p(".ftrackfs", "status")).read()
    assert "connection:    online" in text
    for body in (text, open(mnt.p(".ftrackfs", "status.json")).read(), mnt.log()):
        assert "demo-alice-api-key" not in body
    # dates: the fixed entries date from the mount, status files from now
    import time
    now = time.time()
    for p in (mnt.p("projects"), mnt.p("locations"), mnt.p(".ftrackfs")):
        assert now - 3600 < os.stat(p).st_mtime <= now + 1, p
    assert now - 5 < os.stat(mnt.p(".ftrackfs", "status")).st_mtime <= now + 1


def load_ids():
    from expected_tree import load
    return {e["id"]: e for e in load(DEMO_DATA)["entities"]}


def passthrough_possible():
    """FUSE passthrough: Linux >= 6.9 and CAP_SYS_ADMIN (root here)."""
    try:
        major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    except ValueError:
        return False
    return os.geteuid() == 0 and (major, minor) >= (6, 9)


def local_components(sim, limit=None):
    _, want_files = expected(DEMO_DATA)
    out = []
    for rel, comp in sorted(want_files.items()):
        src = local_copy(DEMO_DATA, sim.storage, comp["id"])
        if src and os.path.exists(src):
            out.append((rel, src))
    return out[:limit] if limit else out


@pytest.mark.skipif(not passthrough_possible(), reason="needs Linux >= 6.9 and root")
def test_reads_pass_through_to_storage(sim, mnt):
    import mmap

    st = mnt.status()
    assert st["passthrough"] is True, mnt.log()[-2000:]
    comps = local_components(sim)
    assert len(comps) >= 40
    for rel, src in comps:
        with open(mnt.p("projects", rel), "rb") as a, open(src, "rb") as b:
            assert a.read() == b.read(), rel
    # the kernel read the storage itself: not one READ reached the daemon
    assert mnt.status()["reads_served"] == 0
    # two opens of one file share one backing file; both read, at offsets
    rel, src = max(comps, key=lambda c: os.path.getsize(c[1]))
    data = open(src, "rb").read()
    with open(mnt.p("projects", rel), "rb") as a, open(mnt.p("projects", rel), "rb") as b:
        assert mnt.status()["passthrough_files"] == 1
        b.seek(7)
        assert b.read(33) == data[7:40]
        assert a.read() == data
        with mmap.mmap(a.fileno(), 0, prot=mmap.PROT_READ) as m:
            assert m[:] == data
    # released with the last close (RELEASE is asynchronous)
    mnt.wait_for(lambda: mnt.status()["passthrough_files"] == 0, what="backing files released")
    # a thousand opens hold nothing open in the daemon afterwards
    for _ in range(1000):
        with open(mnt.p("projects", rel), "rb") as a:
            assert a.read(16) == data[:16]
    mnt.wait_for(lambda: mnt.status()["passthrough_files"] == 0, what="backing files released")
    assert mnt.status()["reads_served"] == 0
    with open(mnt.p(".ftrackfs", "status"), encoding="utf-8") as f:
        assert "passthrough on" in f.read()


def test_reads_through_daemon_without_passthrough(sim, mount_factory):
    m = mount_factory(sim, extra_conf="\n[general]\npassthrough = no\n")
    comps = local_components(sim, limit=10)
    for rel, src in comps:
        with open(m.p("projects", rel), "rb") as a, open(src, "rb") as b:
            assert a.read() == b.read(), rel
    st = m.status()
    assert st["passthrough"] is False and st["passthrough_files"] == 0
    assert st["reads_served"] >= len(comps)
    with open(m.p(".ftrackfs", "status"), encoding="utf-8") as f:
        assert "passthrough off (passthrough = false)" in f.read()


def daemon_threads(pid):
    """{tid: (allowed CPUs as listed, scheduling policy)} of a process."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                allowed = next(ln.split(":")[1].strip() for ln in f
                               if ln.startswith("Cpus_allowed_list"))
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[int(tid)] = (allowed, int(fields[38]))   # field 41: policy
        except (FileNotFoundError, StopIteration):
            pass
    return out


def chatter(m, n=1000):
    """n requests the daemon answers from memory: getxattr is never cached."""
    f = m.p("projects", "theproject", "ep01", "seq010", "sh010", "comp", "v001", "main.exr")
    for _ in range(n):
        assert os.getxattr(f, "user.ftrack.type") == b"FileComponent"


def cpus_pinned(m):
    return {a for a, _ in daemon_threads(m.proc.pid).values() if a.isdigit()}


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 or os.geteuid() != 0,
                    reason="needs two CPUs and CAP_SYS_NICE")
def test_request_reader_follows_the_client_cpu(sim, mount_factory):
    mine = os.sched_getaffinity(0)
    a, b = sorted(mine)[:2]
    m = mount_factory(sim)
    try:
        for cpu in (a, b, a):
            os.sched_setaffinity(0, {cpu})
            chatter(m)
            assert str(cpu) in cpus_pinned(m), daemon_threads(m.proc.pid)
        # a sleeping reader is never SCHED_IDLE (5): it could not wake up
        # in time on a busy CPU
        m.wait_for(lambda: all(p != 5 for _, p in daemon_threads(m.proc.pid).values()),
                   what="no thread left SCHED_IDLE")
    finally:
        os.sched_setaffinity(0, mine)
    m2 = mount_factory(sim, extra_conf="\n[general]\ncolocate = no\n")
    try:
        os.sched_setaffinity(0, {b})
        chatter(m2)
        assert cpus_pinned(m2) == set()
    finally:
        os.sched_setaffinity(0, mine)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 or os.geteuid() != 0,
                    reason="needs two CPUs and CAP_SYS_NICE")
def test_request_reader_leaves_a_client_whose_cpu_is_busy(sim, mount_factory):
    # beside a busy loop, the reader's work on the client's CPU only takes
    # turns from the client: it must stop following (and stay off a while)
    mine = os.sched_getaffinity(0)
    a = sorted(mine)[0]
    m = mount_factory(sim)
    hog = subprocess.Popen(["taskset", "-c", str(a), "sh", "-c", "while :; do :; done"])
    try:
        os.sched_setaffinity(0, {a})
        chatter(m, 3000)
        assert str(a) not in cpus_pinned(m), daemon_threads(m.proc.pid)
    finally:
        hog.kill()
        hog.wait()
        os.sched_setaffinity(0, mine)
