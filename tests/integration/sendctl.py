"""Drive fs/send through the ftrackfs-sendctl driver against a simulator.

    ctl = SendCtl(sim, tmp_path)
    ctl.enqueue("la", comp_id, ...)
    ctl.run(until_idle=True)
    ctl.status()        # {"intents": [...], "jobs": [...], "stats": {...}}

The binary is $FTRACKFS_BUILD_ROOT/fs/send/ftrackfs-sendctl (default build/).
"""

import hashlib
import json
import os
import subprocess

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_ROOT = os.environ.get("FTRACKFS_BUILD_ROOT", os.path.join(REPO_ROOT, "build"))
SENDCTL = os.path.join(BUILD_ROOT, "fs", "send", "ftrackfs-sendctl")


def require_crash_points(binary):
    """The crash tests need a build configured with -Dcrash_points=true
    (scripts/test.sh does it); without it they would wait for a death that
    never comes."""
    import pytest
    with open(binary, "rb") as f:
        if b"crash point %s reached" not in f.read():
            pytest.fail("%s was built without -Dcrash_points=true" % binary)

ACCSYN_ADMIN = ("pipeline@acmevfx.com", "demo-accsyn-admin-key")

# The demo studio's locations and paths: hq's root share holds the files
# ftrack.unmanaged knows by absolute path (/storage, S:\, the UNC name).
DEMO_CONFIG = """\
[location hq]
party = hq
[absolute]
/storage = hq
[pathmap]
S:\\ = /storage
\\\\192.168.1.240\\storage = /storage
"""

LOC = {
    "hq": "04aca307-9aea-5d50-b2d9-4ee1bf84ce14",
    "la": "ba9f8e45-1d01-5fd3-8eaf-898bda9dfe57",
    "maria@acmevfx.com": "0a138262-2bbe-557f-803d-480291e8b4c6",
    "lisa@vendor.com": "d9c7e052-672b-5bef-8b73-ad27cfc9ee2a",
    "ftrack.unmanaged": "cb268ecc-8809-11e3-a7e2-20c9d081909b",
}


class SendCtl:
    def __init__(self, sim, workdir, config=DEMO_CONFIG, accsyn_key=ACCSYN_ADMIN[1],
                 quiet_ms=200, poll_ms=100, backoff_max_ms=400, priority=None):
        self.sim = sim
        self.workdir = str(workdir)
        self.cache = os.path.join(self.workdir, "cache")
        self.config = os.path.join(self.workdir, "ftrackfs.ini")
        with open(self.config, "w", encoding="utf-8") as f:
            f.write(config)
        self.opts = ["--cache", self.cache, "--config", self.config,
                     "--quiet-ms", str(quiet_ms), "--poll-ms", str(poll_ms),
                     "--backoff-max-ms", str(backoff_max_ms)]
        if priority:
            self.opts += ["--priority", ",".join(priority)]
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith(("FTRACK", "ACCSYN")):
                del self.env[k]
        self.env.update({
            "FTRACK_SERVER": sim.ftrack_url, "FTRACK_API_USER": "alice",
            "FTRACK_API_KEY": "demo-alice-api-key",
            "ACCSYN_WORKSPACE": "acmevfx", "ACCSYN_API_USER": ACCSYN_ADMIN[0],
            "ACCSYN_API_KEY": accsyn_key, "ACCSYN_PROXY": sim.accsyn_addr,
            "XDG_CONFIG_HOME": os.path.join(self.workdir, "xdg"),
        })

    def cmd(self, *args, crash_at=None, timeout=120):
        env = dict(self.env)
        if crash_at:
            require_crash_points(SENDCTL)
            env["FTRACKFS_SEND_CRASH_AT"] = crash_at
        return subprocess.run([SENDCTL] + self.opts + list(args), env=env, cwd=self.workdir,
                              capture_output=True, text=True, timeout=timeout)

    def popen(self, *args):
        return subprocess.Popen([SENDCTL] + self.opts + list(args), env=self.env, cwd=self.workdir,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def enqueue(self, to, *components):
        p = self.cmd("enqueue", "--to", to, *components)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)["added"]

    def run(self, until_idle=True, timeout=30, flush=False, crash_at=None):
        args = ["run", "--timeout", str(timeout)]
        if until_idle:
            args.append("--until-idle")
        if flush:
            args.append("--flush")
        return self.cmd(*args, crash_at=crash_at, timeout=timeout + 60)

    def retry(self, *args):
        p = self.cmd("retry", *args)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)["retried"]

    def status(self):
        p = self.cmd("status")
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)


def our_jobs(sim):
    """Jobs the send engine created (they carry metadata.ftrackfs_token)."""
    return [j for j in sim.jobs() if (j.get("request", {}).get("metadata") or {}).get("ftrackfs_token")]


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def component_locations(sim, location_id):
    return sim.rows("select component_id, resource_identifier from ComponentLocation "
                    "where location_id is \"%s\"" % location_id)
