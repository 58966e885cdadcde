"""Start and drive the studio simulator (scripts/sim/studio-sim) from tests.

    sim = Simulator(data="scripts/sim/data/demo.json", faults=["latency=20"])
    sim.start()
    sim.api([{"action": "query", "expression": "select name from Project"}])
    sim.stop()

The pytest fixtures `sim` and `demo_sim` (conftest.py) wrap this class.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIM_DIR = os.path.join(REPO_ROOT, "scripts", "sim")
STUDIO_SIM = os.path.join(SIM_DIR, "studio-sim")
DEMO_DATA = os.path.join(SIM_DIR, "data", "demo.json")
PYTHON = "/usr/bin/python3"

# Demo credentials (scripts/sim/data/demo.json).
ALICE = ("alice", "demo-alice-api-key")
JENKINS = ("jenkins", "demo-jenkins-api-key")
JENKINS_ID = "d07ae5d0-66e1-11e1-b5e9-f23c91df25eb"
ACCSYN_WORKSPACE = "acmevfx"
ACCSYN_ADMIN = ("pipeline@acmevfx.com", "demo-accsyn-admin-key")

EMPTY_STUDIO = {
    "users": [
        {"id": "a11ce000-0000-4000-8000-000000000001", "username": "alice", "api_key": ALICE[1]},
        {"id": JENKINS_ID, "username": "jenkins", "api_key": JENKINS[1]},
    ],
    "locations": [],
    "entities": [],
    "accsyn": {"workspace": ACCSYN_WORKSPACE,
               "users": [{"email": ACCSYN_ADMIN[0], "api_key": ACCSYN_ADMIN[1], "role": "admin"}],
               "sites": [{"code": "hq", "main": True}]},
}


class SimulatorError(RuntimeError):
    pass


class Simulator:
    """One studio-sim process in its own temporary directory.

    data: path of a studio data file, or a dict (written to the temp dir);
    None means the demo studio. faults: list of --fault SPEC strings.
    """

    def __init__(self, data=None, faults=(), bandwidth=None, extra_args=(), workdir=None):
        self._own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="studio-sim-")
        if data is None:
            data = DEMO_DATA
        if isinstance(data, dict):
            path = os.path.join(self.workdir, "studio.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(data, f)
            data = path
        self.data = data
        self.storage = os.path.join(self.workdir, "storage")
        self.log_path = os.path.join(self.workdir, "requests.log")
        self.faults = list(faults)
        self.bandwidth = bandwidth
        self.extra_args = list(extra_args)
        self.proc = None
        self.ftrack_url = None
        self.accsyn_addr = None
        self.stderr_path = os.path.join(self.workdir, "stderr.txt")

    # -- lifecycle ---------------------------------------------------------
    def start(self, timeout=60):
        cmd = [PYTHON, STUDIO_SIM, "--data", self.data, "--storage", self.storage, "--log", self.log_path]
        for f in self.faults:
            cmd += ["--fault", f]
        if self.bandwidth:
            cmd += ["--bandwidth", str(self.bandwidth)]
        cmd += self.extra_args
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, cwd=self.workdir)
        deadline = time.time() + timeout
        line = b""
        import select
        while time.time() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                line = self.proc.stdout.readline()
                break
            if self.proc.poll() is not None:
                break
        if not line:
            self.stop()
            raise SimulatorError("studio-sim did not start: %s" % self.stderr())
        info = json.loads(line)
        self.ftrack_url = info["ftrack"]
        self.accsyn_addr = info["accsyn"]
        return self

    def stderr(self):
        try:
            with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, cleanup=True):
        """Stop the process (SIGTERM, then SIGKILL); returns its exit status."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            rc = self.proc.returncode
            self.proc.stdout.close()
            self._stderr.close()
            self.proc = None
        if cleanup and self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- helpers -----------------------------------------------------------
    @property
    def accsyn_port(self):
        return int(self.accsyn_addr.rsplit(":", 1)[1])

    @property
    def ftrack_port(self):
        return int(self.ftrack_url.rsplit(":", 1)[1])

    def _control(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.ftrack_url + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read()

    def health(self):
        return json.loads(self._control("GET", "/_sim/health"))

    def log(self):
        """The request log as a list of dicts (oldest first)."""
        text = self._control("GET", "/_sim/log").decode("utf-8")
        return [json.loads(l) for l in text.splitlines() if l.strip()]

    def clear_log(self):
        self._control("POST", "/_sim/log/clear", {})

    def set_faults(self, **kw):
        """Replace the faults (see scripts/sim/README.md); no arguments clears them."""
        return json.loads(self._control("POST", "/_sim/faults", kw))

    def get_faults(self):
        return json.loads(self._control("GET", "/_sim/faults"))

    def jobs(self):
        """Every accsyn job created so far (oldest first), each with the
        request exactly as the client sent it (see scripts/sim/ACCSYN.md)."""
        return json.loads(self._control("GET", "/_sim/jobs"))

    def changes(self, since=0):
        return json.loads(self._control("GET", "/_sim/changes?since=%d" % since))

    def raw_api(self, body, user=ALICE[0], key=ALICE[1], headers=None, timeout=30):
        """POST body (bytes, or JSON-encoded) to /api. Returns (status, body bytes)."""
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        h = {"content-type": "application/json", "accept": "application/json"}
        if user is not None:
            h["ftrack-user"] = user
        if key is not None:
            h["ftrack-api-key"] = key
        h.update(headers or {})
        req = urllib.request.Request(self.ftrack_url + "/api", data=body, headers=h, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def api(self, ops, user=ALICE[0], key=ALICE[1], headers=None):
        """POST a batch; returns the decoded JSON (a list, or the error object)."""
        _, body = self.raw_api(ops, user=user, key=key, headers=headers)
        return json.loads(body)

    def query(self, expression, **kw):
        """Run one query; returns its result object ({"action","data","metadata"}).
        Raises SimulatorError when the server answers an error object."""
        r = self.api([{"action": "query", "expression": expression}], **kw)
        if isinstance(r, dict):
            raise SimulatorError("%s: %s" % (r.get("exception"), r.get("content")))
        return r[0]

    def rows(self, expression, **kw):
        return self.query(expression, **kw)["data"]

    def path_of(self, party, *parts):
        return os.path.join(self.storage, party, *parts)
