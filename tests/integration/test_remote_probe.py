"""Helper (no tests): run tests/tools/remote-probe (the C clients of remote/) against a simulator.

    probe = RemoteProbe(sim)
    probe.ftrack("projects")          -> dict parsed from its one JSON line
    probe.accsyn("create", tok, code, src, dst)
"""

import json
import os
import subprocess

from simulator import ACCSYN_ADMIN, ACCSYN_WORKSPACE, ALICE

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def probe_path():
    roots = [os.environ.get("FTRACKFS_BUILD_ROOT"), os.path.join(REPO_ROOT, "build"),
             os.path.join(REPO_ROOT, "build-remote")]
    for r in roots:
        if r and os.access(os.path.join(r, "tests", "remote-probe"), os.X_OK):
            return os.path.join(r, "tests", "remote-probe")
    raise RuntimeError("tests/remote-probe is not built (meson compile -C build); "
                       "set FTRACKFS_BUILD_ROOT to the build directory")


class RemoteProbe:
    def __init__(self, sim, user=ALICE, accsyn_user=ACCSYN_ADMIN, **env):
        self.sim = sim
        self.exe = probe_path()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "FTRACK_SERVER": sim.ftrack_url,
            "FTRACK_API_USER": user[0],
            "FTRACK_API_KEY": user[1],
            "ACCSYN_PROXY": sim.accsyn_addr,
            "ACCSYN_WORKSPACE": ACCSYN_WORKSPACE,
            "ACCSYN_API_USER": accsyn_user[0],
            "ACCSYN_API_KEY": accsyn_user[1],
            "PROBE_RETRIES": "-1",
        }
        self.env.update({k: str(v) for k, v in env.items()})

    def run(self, side, *args, timeout=120, **env):
        e = dict(self.env)
        e.update({k: str(v) for k, v in env.items()})
        p = subprocess.run([self.exe, side] + [str(a) for a in args], env=e, capture_output=True,
                           timeout=timeout, cwd="/")
        assert p.returncode == 0, "remote-probe %s %s: rc %d\n%s" % (side, args, p.returncode, p.stderr.decode())
        lines = [l for l in p.stdout.decode().splitlines() if l.strip()]
        assert len(lines) == 1, p.stdout
        out = json.loads(lines[0])
        out["_stderr"] = p.stderr.decode()
        return out

    def ftrack(self, *args, **env):
        return self.run("ftrack", *args, **env)

    def accsyn(self, *args, **env):
        return self.run("accsyn", *args, **env)
