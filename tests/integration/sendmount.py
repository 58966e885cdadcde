"""A real ftrackfs mount that can send: the test_send_mount_* tests.

SendMount is tests/integration/mount.py's Mount with accsyn credentials in
the environment (the demo studio's admin key) and the sim's accsyn address.
"""

import json
import os
import subprocess
import time

import pytest

from mount import FTRACKFS, Mount, made_mounts
from sendctl import ACCSYN_ADMIN, our_jobs, require_crash_points  # noqa: F401


class SendMount(Mount):
    def __init__(self, sim, accsyn_key=ACCSYN_ADMIN[1], crash_at=None, **kw):
        kw.setdefault("extra_conf", "")
        super().__init__(sim, **kw)
        self.accsyn_key = accsyn_key
        self.crash_at = crash_at        # FTRACKFS_SEND_CRASH_AT for the daemon

    def env(self):
        env = super().env()
        env.update({"ACCSYN_WORKSPACE": "acmevfx", "ACCSYN_API_USER": ACCSYN_ADMIN[0],
                    "ACCSYN_API_KEY": self.accsyn_key, "ACCSYN_PROXY": self.sim.accsyn_addr})
        env.pop("FTRACKFS_SEND_CRASH_AT", None)
        if self.crash_at:
            require_crash_points(FTRACKFS)
            env["FTRACKFS_SEND_CRASH_AT"] = self.crash_at
        return env

    def wait_dead(self, timeout=30):
        """Wait for the daemon to die (a crash point), then clear the mount."""
        self.proc.wait(timeout)
        self.stop()

    def state(self, *parts):
        return os.getxattr(self.p(*parts), "user.ftrack.state").decode()

    def wait_state(self, want, *parts, timeout=60):
        return self.wait_for(lambda: self.state(*parts) == want, timeout=timeout,
                             what="%s to be %s" % ("/".join(parts), want))

    def cli(self, *args):
        return subprocess.run([self.binary(), *args], capture_output=True, text=True, cwd=self.path,
                              env=self.env(), timeout=60)

    @staticmethod
    def binary():
        from mount import FTRACKFS
        return FTRACKFS


@pytest.fixture
def send_mount_factory():
    yield from made_mounts(SendMount)


@pytest.fixture
def smnt(sim, send_mount_factory):
    return send_mount_factory(sim)


def wait_jobs_done(sim, n=1, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        jobs = our_jobs(sim)
        if len(jobs) >= n and all(j["status"] in ("done", "failed", "aborted") for j in jobs):
            return jobs
        time.sleep(0.2)
    raise AssertionError("jobs not finished: %s" % json.dumps(our_jobs(sim))[:2000])
