"""A real ftrackfs mount against the simulator, for the test_mount_* tests.

    from mount import Mount, mount_factory, mnt  # noqa: F401  (fixtures)

`mount_factory(sim, **kw)` returns a started Mount; every mount it made is
unmounted in a finalizer even when the test fails (fusermount3 -u, then -uz
if stuck, then the daemon is killed). `mnt` is a mount of the `sim` fixture
with the defaults (hq local, TTL 60 s).
"""

import errno
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD_ROOT = os.environ.get("FTRACKFS_BUILD_ROOT", os.path.join(REPO_ROOT, "build"))
FTRACKFS = os.path.join(BUILD_ROOT, "fs", "ftrackfs")

ALICE_ID = "f916714e-c6bf-5f4e-b5e7-fe7a1a534365"


def config_text(sim, ttl=60, first_fetch_timeout=10, cache_dir=None, extra=""):
    """The config of a hq workstation for the simulator's storage."""
    hq_root = os.path.join(sim.storage, "hq")
    return (
        "[general]\n"
        "ttl = %d\n"
        "first_fetch_timeout = %d\n"
        "%s"
        "log_level = debug\n"
        "\n"
        "[location hq]\n"
        "local = yes\n"
        "root = %s\n"
        "\n"
        "[location la]\n"
        "\n"
        "[pathmap]\n"
        "S:\\ = /storage\n"
        "\\\\192.168.1.240\\storage = /storage\n"
        "\n"
        "[absolute]\n"
        "/storage = hq\n"
        "%s" % (ttl, first_fetch_timeout,
                "cache_dir = %s\n" % cache_dir if cache_dir else "", hq_root, extra))


class Mount:
    def __init__(self, sim, ttl=60, first_fetch_timeout=10, user="alice", key="demo-alice-api-key",
                 options=(), workdir=None, extra_conf=""):
        self.sim = sim
        self.own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="ftrackfs-mnt-")
        self.path = os.path.join(self.workdir, "mnt")
        self.conf = os.path.join(self.workdir, "ftrackfs.conf")
        self.cache_dir = os.path.join(self.workdir, "cache")
        self.log_path = os.path.join(self.workdir, "ftrackfs.log")
        self.ttl = ttl
        self.first_fetch_timeout = first_fetch_timeout
        self.user = user
        self.key = key
        self.options = list(options)
        self.extra_conf = extra_conf
        self.proc = None

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("FTRACK_") and not k.startswith("ACCSYN_")}
        env.update({"FTRACK_SERVER": self.sim.ftrack_url, "FTRACK_API_USER": self.user,
                    "FTRACK_API_KEY": self.key})
        return env

    def start(self, timeout=20):
        if not os.path.exists(FTRACKFS):
            pytest.fail("ftrackfs binary not built: %s" % FTRACKFS)
        os.makedirs(self.path, exist_ok=True)
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(config_text(self.sim, self.ttl, self.first_fetch_timeout, self.cache_dir,
                                self.extra_conf))
        cmd = [FTRACKFS, "-f", "--config", self.conf]
        for o in self.options:
            cmd += ["-o", o]
        cmd.append(self.path)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=self.env())
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("ftrackfs exited with %s:\n%s" % (self.proc.returncode, self.log()))
            if os.path.ismount(self.path):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("ftrackfs did not mount within %ss:\n%s" % (timeout, self.log()))

    def stop(self):
        if self.proc is None:
            return
        if os.path.ismount(self.path) or self._dead_mount():
            r = subprocess.run(["fusermount3", "-u", self.path], capture_output=True)
            if r.returncode != 0:
                subprocess.run(["fusermount3", "-uz", self.path], capture_output=True)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        self.proc = None

    def kill(self):
        """Kill the daemon without unmounting (leaves a dead mount point)."""
        self.proc.kill()
        self.proc.wait(5)

    def _dead_mount(self):
        try:
            os.stat(self.path)
            return False
        except OSError as e:
            return e.errno in (errno.ENOTCONN, errno.ECONNABORTED)

    def cleanup(self):
        self.stop()
        if self._dead_mount():
            subprocess.run(["fusermount3", "-uz", self.path], capture_output=True)
        if self.own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def status(self):
        with open(self.p(".ftrackfs", "status.json"), encoding="utf-8") as f:
            return json.load(f)

    def wait_for(self, pred, timeout=20, interval=0.1, what="condition"):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = pred()
                if last:
                    return last
            except OSError as e:
                last = e
            time.sleep(interval)
        raise AssertionError("timed out waiting for %s (last: %r)\nlog:\n%s" % (what, last, self.log()[-4000:]))


def made_mounts(cls):
    """The body of a factory fixture: yields make(sim, **kw), which starts a
    `cls` mount; every mount it made is cleaned up when the fixture ends."""
    made = []

    def make(sim, **kw):
        m = cls(sim, **kw)
        made.append(m)
        return m.start()

    try:
        yield make
    finally:
        for m in made:
            m.cleanup()


@pytest.fixture
def mount_factory():
    yield from made_mounts(Mount)


@pytest.fixture
def mnt(sim, mount_factory):
    return mount_factory(sim)
