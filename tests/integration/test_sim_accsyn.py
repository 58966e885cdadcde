"""The accsyn side of the studio simulator (scripts/sim/studiosim/accsyn.py).

Requests are built exactly as protocols/accsyn.md §3, §4 and §14 say the
official accsyn-python-api sends them (v3) and as the v1.2.7 client used by
ftrack-send sends them (v1.0).  Most tests call AccsynService.handle()
directly; the tests at the end go over HTTP through the simulator.
"""

import base64
import gzip
import hashlib
import json
import os
import sys
import time
import urllib.parse
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "sim"))

from studiosim.accsyn import AccsynService  # noqa: E402

WS = "acmevfx"
STUDIO = {
    "accsyn": {
        "workspace": WS,
        "users": [
            {"email": "alice@acmevfx.com", "api_key": "alicekey", "role": "admin"},
            {"email": "maria@acmevfx.com", "api_key": "mariakey", "role": "employee"},
            {"email": "lisa@vendor.com", "api_key": "lisakey", "role": "standard"},
            {"email": "pipeline@studio.com", "api_key": "secretkey", "role": "admin"},
        ],
        "sites": [{"code": "hq", "name": "Headquarters", "main": True}, {"code": "la", "name": "Los Angeles"}],
        "volumes": [{"code": "storage", "default": True,
                     "paths": {"linux": "/storage", "windows": "S:", "windows_vpn": "\\\\192.168.1.240\\storage"}}],
    },
    # ftrack locations: non-e-mail names become sites, e-mails become users
    "locations": [{"name": "ftrack.unmanaged"}, {"name": "hq"}, {"name": "la"}, {"name": "berlin"},
                  {"name": "bob@acmevfx.com"}],
}


def b64(s):
    return base64.b64encode(s.encode()).decode()


class Headers(dict):
    def get(self, key, default=None):
        for k, v in self.items():
            if k.lower() == key.lower():
                return v
        return default


class Req:
    def __init__(self, method, path, query="", headers=None, body=b""):
        self.method, self.path, self.query = method, path, query
        self.headers = Headers(headers or {})
        self.body = body


class Faults:
    def __init__(self):
        self.fail_jobs = False

    def job_should_fail(self):
        return self.fail_jobs


def direct(svc):
    def transport(method, path, query, headers, body):
        r = svc.handle(Req(method, path, query, headers, body))
        return r.status, r.body
    return transport


class V3:
    """Wire-level replay of accsyn-python-api v3 (accsyn.md §3.1, §4)."""

    def __init__(self, transport, user="alice@acmevfx.com", key="alicekey", workspace=WS):
        self.t, self.user, self.key, self.ws = transport, user, key, workspace
        self.session = None
        self.uid = None

    def headers(self):
        return {"Authorization": "basic %s:%s" % (b64(self.user), b64(self.key)),
                "X-Accsyn-Workspace": self.ws,
                "X-Accsyn-Device": "PythonAPI v3.3.0-0 @ linux testhost(posix)",
                "Accept-Encoding": "gzip, deflate", "Accept": "*/*", "Connection": "keep-alive",
                "User-Agent": "python-requests/2.28.1"}

    def login(self):
        st, body = self.t("PUT", "/api/v3/api/login", "", self.headers(), b"{}")
        d = json.loads(body)
        if "result" in d:
            self.session, self.uid = d["result"]["session_id"], d["result"]["id"]
        return st, d

    def envelope(self, uri, data, query=None, entityid=None, gz=False):
        env = {"audience": "api", "workspace": self.ws, "eid": str(uuid.uuid4()), "session": self.session,
               "uri": uri, "ident": self.user, "created": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
               "hostname": "testhost"}
        if gz:
            env["gz_data"] = base64.b64encode(gzip.compress(json.dumps(data).encode())).decode()
        elif data is not None:
            env["data"] = data
        if query:
            env["query"] = query
        if entityid:
            env["id"] = entityid
        return env

    def raw(self, method, uri, data=None, query=None, entityid=None, gz=False):
        env = self.envelope(uri, data, query, entityid, gz)
        if method in ("GET", "DELETE"):
            st, body = self.t(method, "/api/v3/event", urllib.parse.quote(json.dumps(env)), self.headers(), b"")
        else:
            st, body = self.t(method, "/api/v3/event", "", self.headers(), json.dumps(env).encode())
        return st, json.loads(body)

    def call(self, method, uri, data=None, query=None, entityid=None, gz=False):
        st, d = self.raw(method, uri, data, query, entityid, gz)
        assert "message" not in d and st == 200, (st, d)
        return d["result"]

    def create_job(self, spec, gz=False):
        res = self.call("POST", "job/create", spec, gz=gz)
        assert len(res) == 1
        return res[0]

    def find_one(self, jid):
        res = self.call("GET", "job/find", {"single_entity_query": True}, query="id=%s" % jid)
        return res[0] if res else None


def wait_for(pred, timeout=10.0, step=0.02):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("condition not met within %.1fs" % timeout)


def wait_status(cli, jid, statuses, timeout=10.0):
    return wait_for(lambda: (lambda j: j if j["status"] in statuses else None)(cli.find_one(jid)), timeout)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def put(root, rel, size=0, data=None):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data if data is not None else os.urandom(size))
    return p


@pytest.fixture
def env(tmp_path):
    """A service with fast transfers, and a logged-in admin client."""
    faults = Faults()
    svc = AccsynService(STUDIO, str(tmp_path), faults, 50 * 1000 * 1000)
    cli = V3(direct(svc))
    assert cli.login()[0] == 200
    yield svc, cli, faults, tmp_path
    svc.close()


def make_slow(tmp_path, bandwidth):
    faults = Faults()
    svc = AccsynService(STUDIO, str(tmp_path), faults, bandwidth)
    cli = V3(direct(svc))
    cli.login()
    return svc, cli


# ---------------------------------------------------------------------------
# Discovery and authentication
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v3/J3PKTtDvolDMBtTy6AFGA", "/api/v3/workspace/J3PKTtDvolDMBtTy6AFGA"])
def test_discovery_answers_hostname_and_listener_port(env, path):
    svc = env[0]
    q = urllib.parse.quote(json.dumps({"ident": WS}))
    assert q == "%7B%22ident%22%3A%20%22acmevfx%22%7D"
    r = svc.handle(Req("GET", path, q, {"Host": "127.0.0.1:45678"}))
    assert r.status == 200
    assert json.loads(r.body) == {"result": {"hostname": "127.0.0.1", "port": 45678}}
    r = svc.handle(Req("GET", path, urllib.parse.quote(json.dumps({"ident": "nosuch"})), {"Host": "x:1"}))
    d = json.loads(r.body)
    assert r.status == 404 and "nosuch" in d["message"] and d["message_hr"]


def test_login_v3_with_the_exact_nonstandard_header(env):
    svc = env[0]
    cli = V3(direct(svc), "pipeline@studio.com", "secretkey")
    assert cli.headers()["Authorization"] == "basic cGlwZWxpbmVAc3R1ZGlvLmNvbQ==:c2VjcmV0a2V5"
    st, d = cli.login()
    assert st == 200
    res = d["result"]
    assert set(res) == {"id", "role", "session_id"}
    assert len(res["id"]) == 24 and all(c in "0123456789abcdef" for c in res["id"])
    assert res["role"] == "admin" and res["session_id"]
    st, d = V3(direct(svc), "maria@acmevfx.com", "mariakey").login()
    assert d["result"]["role"] == "employee"


def login_with(svc, headers):
    r = svc.handle(Req("PUT", "/api/v3/api/login", "", headers, b"{}"))
    return r.status, json.loads(r.body)


def test_login_v3_rejects_bad_credentials_and_header_forms(env):
    svc = env[0]
    st, d = V3(direct(svc), "alice@acmevfx.com", "wrong").login()
    assert st == 401 and "result" not in d and d["message"] and d["message_hr"]
    st, d = V3(direct(svc), "nobody@acmevfx.com", "alicekey").login()
    assert st == 401 and "message" in d
    # RFC 7617 Basic (user:key encoded together) is not what accsyn speaks
    st, d = login_with(svc, {"Authorization": "Basic " + b64("alice@acmevfx.com:alicekey"),
                             "X-Accsyn-Workspace": WS})
    assert st == 401 and "separately" in d["message_hr"]
    st, d = login_with(svc, {"Authorization": "basic %s:%s" % (b64("alice@acmevfx.com"), b64("alicekey"))})
    assert st == 401 and "X-Accsyn-Workspace" in d["message_hr"]
    st, d = login_with(svc, {"Authorization": "basic %s:%s" % (b64("alice@acmevfx.com"), b64("alicekey")),
                             "X-Accsyn-Workspace": "otherws"})
    assert st == 401 and "otherws" in d["message_hr"]
    st, d = login_with(svc, {"X-Accsyn-Workspace": WS})
    assert st == 401 and "message" in d


def test_every_event_is_authenticated_by_the_header(env):
    svc, cli = env[0], env[1]
    bad = V3(direct(svc), "alice@acmevfx.com", "stolen")
    bad.session = cli.session                       # the session id is no token in v3
    st, d = bad.raw("GET", "site/find", {})
    assert st == 401 and "result" not in d and d["message_hr"]
    assert cli.call("GET", "site/find", {})


def test_error_response_shape(env):
    r = env[0].error_response(503, "Service unavailable")
    assert r.status == 503 and json.loads(r.body) == {"message": "Service unavailable",
                                                       "message_hr": "Service unavailable"}


# ---------------------------------------------------------------------------
# The envelope on the wire
# ---------------------------------------------------------------------------

def test_get_carries_the_whole_envelope_as_raw_query_string(env):
    svc, cli = env[0], env[1]
    env_ = cli.envelope("site/find", {}, query='code="hq"')
    raw = urllib.parse.quote(json.dumps(env_))
    assert raw.startswith("%7B%22audience%22%3A%20%22api%22") and "=" not in raw
    r = svc.handle(Req("GET", "/api/v3/event", raw, cli.headers()))
    d = json.loads(r.body)
    assert r.status == 200 and [s["code"] for s in d["result"]] == ["hq"]
    assert r.info == "site/find"
    # a GET with the envelope in a body is not what the client sends
    r = svc.handle(Req("GET", "/api/v3/event", "", cli.headers(), json.dumps(env_).encode()))
    d = json.loads(r.body)
    assert r.status == 400 and "query string" in d["message_hr"]


def test_post_body_without_content_type_and_wrong_methods(env, tmp_path):
    svc, cli = env[0], env[1]
    put(str(tmp_path / "hq"), "proj/a.txt", data=b"hello")
    headers = cli.headers()
    assert not any(k.lower() == "content-type" for k in headers)
    body = json.dumps(cli.envelope("job/create", {"tasks": [{"source": "site=hq:proj/a.txt",
                                                             "destination": "site=la"}]})).encode()
    r = svc.handle(Req("POST", "/api/v3/event", "", headers, body))
    assert r.status == 200 and json.loads(r.body)["result"][0]["status"] == "init"
    # create is a POST, find a GET
    st, d = cli.raw("PUT", "job/create", {"tasks": [{"source": "site=hq:proj/a.txt", "destination": "site=la"}]})
    assert st == 405 and "POST" in d["message_hr"]
    st, d = cli.raw("GET", "no/such/thing", {})
    assert st == 404 and "no/such/thing" in d["message"]
    r = svc.handle(Req("POST", "/api/v3/event", "", headers, b"{not json"))
    assert r.status == 400 and "JSON" in json.loads(r.body)["message_hr"]


def test_gz_data_payload(env, tmp_path):
    svc, cli = env[0], env[1]
    put(str(tmp_path / "hq"), "proj/big/one.bin", data=b"x" * 1000)
    spec = {"code": "compressed", "mirror_paths": True, "metadata": {"pad": "y" * 120000},
            "tasks": [{"source": "site=hq:proj/big/one.bin", "destination": "site=la"}]}
    job = cli.create_job(spec, gz=True)
    assert job["code"] == "compressed"
    wait_status(cli, job["id"], ("done",))
    assert open(tmp_path / "la" / "proj" / "big" / "one.bin", "rb").read() == b"x" * 1000
    snap = [j for j in svc.jobs_snapshot() if j["id"] == job["id"]][0]
    assert snap["request"]["metadata"]["pad"] == "y" * 120000


# ---------------------------------------------------------------------------
# v1.0 (ftrack-send era)
# ---------------------------------------------------------------------------

class V1:
    def __init__(self, svc, user="alice@acmevfx.com", key="alicekey"):
        self.svc, self.user, self.key = svc, user, key
        self.session_key = None

    def login(self, reuse=None):
        cred = b64(json.dumps({"domain": WS, "username": self.user, "api_key": self.key}))
        body = {"session": str(uuid.uuid4())}
        if reuse:
            body["session_key_reuse"] = reuse
        r = self.svc.handle(Req("PUT", "/api/v1.0/user/login/auth", "",
                                {"Authorization": "ASCredentials " + cred}, json.dumps(body).encode()))
        d = json.loads(r.body)
        self.session_key = d.get("session_key")
        return r.status, d

    def event(self, method, uri, data=None, query=None):
        env = {"audience": "api", "domain": WS, "eid": str(uuid.uuid4()), "uri": uri, "ident": self.user,
               "created": "{USD::date}20200412 10:00:00", "data": data}
        if query:
            env["query"] = query
        hdr = {"Authorization": "ASSession " + b64(json.dumps({"domain": WS, "username": self.user,
                                                              "session_key": self.session_key})),
               "ASDevice": "PythonAPI v1.2.7-1 @ linux"}
        if method in ("GET", "DELETE"):
            r = self.svc.handle(Req(method, "/api/v1.0/event", urllib.parse.quote(json.dumps(env)), hdr))
        else:
            r = self.svc.handle(Req(method, "/api/v1.0/event", "", hdr, json.dumps(env).encode()))
        return r.status, json.loads(r.body)


def test_v1_registry_login_and_ftrack_send_flow(env, tmp_path):
    svc = env[0]
    r = svc.handle(Req("PUT", "/api/v1.0/registry/organization/domain", "", {},
                       json.dumps({"organization": WS}).encode()))
    assert r.status == 200 and json.loads(r.body) == {"domain": WS}
    v1 = V1(svc)
    st, d = v1.login()
    assert st == 200 and set(d) == {"session_key", "clearance", "id"} and d["clearance"] == "admin"
    assert V1(svc, "lisa@vendor.com", "lisakey").login()[1]["clearance"] == "client"
    st, d = V1(svc, key="bad").login()
    assert st == 401 and "message" in d and "session_key" not in d
    # session_key_reuse keeps the key
    old = v1.session_key
    assert v1.login(reuse=old)[1]["session_key"] == old

    put(str(tmp_path / "hq"), "proj01/sq01/sh010/comp/v003/sh010_comp_v003.nk", data=b"nuke script")
    job = {"code": "Transfer of 1 components from hq to la", "mirror_paths": True, "allow_duplicates": True,
           "tasks": [{"source": "site=hq:proj01\\sq01\\sh010\\comp\\v003\\sh010_comp_v003.nk",
                      "destination": "site=la"}]}
    st, d = v1.event("POST", "job/create", job)
    assert st == 200, d
    jid = d["result"][0]["id"]

    def poll():
        st, d = v1.event("GET", "job/find", {"type": 1}, query="id=%s" % jid)
        return d["result"][0] if d["result"] and d["result"][0]["status"] == "done" else None
    wait_for(poll)
    assert (tmp_path / "la/proj01/sq01/sh010/comp/v003/sh010_comp_v003.nk").read_bytes() == b"nuke script"
    st, d = v1.event("GET", "organization/site/find", {})
    assert {"hq", "la"} <= {s["code"] for s in d["result"]}
    st, d = v1.event("GET", "job/task/find", {}, query="job.id=%s" % jid)
    assert [t["status"] for t in d["result"]] == ["done"]
    snap = [j for j in svc.jobs_snapshot() if j["id"] == jid][0]
    assert snap["api"] == "v1.0" and snap["request"]["allow_duplicates"] is True
    # an unknown session key asks the client to log in again
    v1.session_key = "f" * 40
    st, d = v1.event("GET", "job/find", {"type": 1})
    assert st == 401 and d["session_expired"] is True and d["message"]


# ---------------------------------------------------------------------------
# Jobs that really copy
# ---------------------------------------------------------------------------

def test_job_copies_real_bytes_with_advancing_progress(tmp_path):
    svc, cli = make_slow(tmp_path, 400 * 1000)          # 400 kB/s: ~1 s for this job
    try:
        hq = str(tmp_path / "hq")
        a = put(hq, "proj01/sq01/sh010/comp/v003/sh010_comp_v003.nk", 150 * 1000)
        b = put(hq, "proj01/sq01/sh010/comp/v003/sh010_comp_v003.mov", 250 * 1000)
        spec = {"code": "Transfer of 2 components from hq to la", "mirror_paths": True,
                "metadata": {"ftrackfs_token": "tok-123"},
                "tasks": [{"source": "site=hq:proj01\\sq01\\sh010\\comp\\v003\\sh010_comp_v003.nk",
                           "destination": "site=la"},
                          {"source": "site=hq:proj01/sq01/sh010/comp/v003/sh010_comp_v003.mov",
                           "destination": "site=la"}]}
        t0 = time.time()
        job = cli.create_job(spec)
        assert job["status"] == "init" and job["size"] == -1 and job["progress"] == 0
        assert job["source"].startswith("site:") and job["destination_hr"].startswith("site:la(")
        seen = []
        running = wait_status(cli, job["id"], ("running",), timeout=2)
        assert time.time() - t0 < 1.0
        assert running["size"] == 400 * 1000
        while True:
            j = cli.find_one(job["id"])
            seen.append(j)
            if j["status"] in ("done", "failed"):
                break
            assert time.time() - t0 < 10
            time.sleep(0.05)
        assert j["status"] == "done" and j["progress"] == 100 and j["etr"] == "" and j["finished"]
        mid = [s for s in seen if s["status"] == "running" and 0 < s["progress"] < 100]
        assert mid, "progress never observed between 0 and 100"
        assert any(s["speed"] > 0 for s in mid) and any(s["etr"] for s in mid)
        progress = [s["progress"] for s in seen]
        assert progress == sorted(progress)
        la = tmp_path / "la/proj01/sq01/sh010/comp/v003"
        assert sha(la / "sh010_comp_v003.nk") == sha(a) and sha(la / "sh010_comp_v003.mov") == sha(b)
        assert sorted(os.listdir(la)) == ["sh010_comp_v003.mov", "sh010_comp_v003.nk"]   # no temp files
        tasks = cli.call("GET", "task/find", {"parent": job["id"]})
        assert [(t["uri"], t["status"], t["size"]) for t in tasks] == [("0", "done", 150000), ("1", "done", 250000)]
        assert tasks[0]["destination"]["path"] is None and tasks[0]["source"]["path"].endswith("v003.nk")
        snap = [s for s in svc.jobs_snapshot() if s["id"] == job["id"]][0]
        assert snap["request"] == spec and snap["creator"] == "alice@acmevfx.com"
        assert snap["history"][:4] == ["init", "waiting", "running", "done"]
    finally:
        svc.close()


def test_sequences_are_expanded(env, tmp_path):
    svc, cli = env[0], env[1]
    hq = str(tmp_path / "hq")
    frames = {n: put(hq, "proj/sh010/plate/plate.%04d.exr" % n, 1000 + n) for n in range(1001, 1006)}
    put(hq, "proj/sh010/plate/other.1001.exr", 10)
    job = cli.create_job({"mirror_paths": True, "tasks": [
        {"source": "site=hq:proj/sh010/plate/plate.%04d.exr [1001-1003]", "destination": "site=la"},
        {"source": "site=hq:proj/sh010/plate/plate.####.exr[1005]", "destination": "lisa@vendor.com:inbox/"}]})
    assert job["code"].startswith("plate.")
    j = wait_status(cli, job["id"], ("done", "failed"))
    assert j["status"] == "done", j
    la = tmp_path / "la/proj/sh010/plate"
    assert sorted(os.listdir(la)) == ["plate.1001.exr", "plate.1002.exr", "plate.1003.exr"]
    for n in (1001, 1002, 1003):
        assert sha(la / ("plate.%04d.exr" % n)) == sha(frames[n])
    assert sorted(os.listdir(tmp_path / "lisa@vendor.com/inbox")) == ["plate.1005.exr"]
    assert j["size"] == sum(1000 + n for n in (1001, 1002, 1003, 1005))
    # a frame that does not exist fails the job with E#J001
    job = cli.create_job({"mirror_paths": True, "tasks": [
        {"source": "site=hq:proj/sh010/plate/plate.%04d.exr[1004-1007]", "destination": "site=la"}]})
    j = wait_status(cli, job["id"], ("done", "failed"))
    assert j["status"] == "failed" and "E#J001" in j["message"] and "plate.1006.exr" in j["message"]


def test_destinations_mirror_folder_and_rename(env, tmp_path):
    svc, cli = env[0], env[1]
    hq = str(tmp_path / "hq")
    put(hq, "proj/_REF/lookdev/a.jpg", data=b"A")
    put(hq, "proj/_REF/lookdev/sub/b.jpg", data=b"B")
    put(hq, "proj/doc.pdf", data=b"PDF")
    jobs = [
        cli.create_job({"mirror": True, "tasks": [{"source": "site=hq:proj/_REF/lookdev",
                                                   "destination": "maria@acmevfx.com"}]}),
        cli.create_job({"tasks": [{"source": "acmevfx:proj/doc.pdf", "destination": "site=la"}]}),
        cli.create_job({"tasks": [{"source": "proj/doc.pdf", "destination": "site=la:deliveries/"}]}),
        cli.create_job({"tasks": [{"source": "site=hq:/storage/proj/doc.pdf",
                                   "destination": "site=la:deliveries/renamed.pdf"}]}),
        cli.create_job({"tasks": [{"source": "site=hq:S:\\proj\\doc.pdf", "destination": "site=berlin:x/"}]}),
    ]
    for job in jobs:
        assert wait_status(cli, job["id"], ("done", "failed"))["status"] == "done"
    maria = tmp_path / "maria@acmevfx.com/proj/_REF/lookdev"
    assert (maria / "a.jpg").read_bytes() == b"A" and (maria / "sub/b.jpg").read_bytes() == b"B"
    assert (tmp_path / "la/doc.pdf").read_bytes() == b"PDF"               # no mirror: top of the root share
    assert (tmp_path / "la/deliveries/doc.pdf").read_bytes() == b"PDF"    # trailing '/': inside
    assert (tmp_path / "la/deliveries/renamed.pdf").read_bytes() == b"PDF"
    assert (tmp_path / "berlin/x/doc.pdf").read_bytes() == b"PDF"         # berlin: a site from ftrack locations


def test_pause_resume_and_abort(tmp_path):
    svc, cli = make_slow(tmp_path, 200 * 1000)          # 200 kB/s
    try:
        hq = str(tmp_path / "hq")
        src = put(hq, "proj/big.bin", 300 * 1000)
        job = cli.create_job({"mirror_paths": True, "tasks": [{"source": "site=hq:proj/big.bin",
                                                               "destination": "site=la"}]})
        jid = job["id"]
        wait_for(lambda: cli.find_one(jid)["progress"] >= 10)
        res = cli.call("PUT", "transfer/edit", {"status": "paused"}, entityid=jid)
        assert len(res) == 1 and res[0]["status"] == "paused"
        time.sleep(0.15)
        p1 = cli.find_one(jid)
        time.sleep(0.3)
        p2 = cli.find_one(jid)
        assert p1["status"] == p2["status"] == "paused" and p1["progress"] == p2["progress"]
        assert p2["speed"] == 0.0 and p2["etr"] == ""
        assert not os.path.exists(tmp_path / "la/proj/big.bin")
        res = cli.call("PUT", "job/edit", {"status": "waiting"}, entityid=jid)
        assert res[0]["status"] in ("waiting", "running")
        j = wait_status(cli, jid, ("done",), timeout=5)
        assert sha(tmp_path / "la/proj/big.bin") == sha(src) and j["progress"] == 100
        assert os.listdir(tmp_path / "la/proj") == ["big.bin"]

        job = cli.create_job({"mirror_paths": True, "tasks": [{"source": "site=hq:proj/big.bin",
                                                               "destination": "site=berlin"}]})
        jid2 = job["id"]
        wait_for(lambda: cli.find_one(jid2)["progress"] >= 5)
        res = cli.call("PUT", "job/edit", {"status": "aborted"}, entityid=jid2)
        assert res[0]["status"] == "aborted"
        time.sleep(0.2)
        assert not os.path.exists(tmp_path / "berlin/proj/big.bin")
        assert os.listdir(tmp_path / "berlin/proj") == []                  # temp file removed
        # finished jobs leave the default scope, but not by id or with finished=true
        active = cli.call("GET", "job/find", {})
        assert jid2 not in [j["id"] for j in active] and jid not in [j["id"] for j in active]
        assert cli.find_one(jid2)["status"] == "aborted"
        assert cli.call("GET", "job/find", {}, entityid=jid2)[0]["id"] == jid2
        assert {jid, jid2} <= {j["id"] for j in cli.call("GET", "job/find", {"finished": True})}
        st, d = cli.raw("PUT", "job/edit", {"status": "paused"}, entityid=jid2)
        assert st == 400 and "aborted" in d["message_hr"]
        st, d = cli.raw("PUT", "job/edit", {"status": "bogus"}, entityid=jid)
        assert st == 400 and "bogus" in d["message_hr"]
    finally:
        svc.close()


def test_created_paused_job_waits_for_resume(env, tmp_path):
    svc, cli = env[0], env[1]
    put(str(tmp_path / "hq"), "p/f.txt", data=b"f")
    job = cli.create_job({"status": "paused", "tasks": [{"source": "site=hq:p/f.txt", "destination": "site=la"}]})
    j = wait_for(lambda: (lambda j: j if j["size"] == 1 else None)(cli.find_one(job["id"])))
    time.sleep(0.1)
    assert cli.find_one(job["id"])["status"] == "paused" and not (tmp_path / "la/f.txt").exists()
    cli.call("PUT", "job/edit", {"status": "waiting"}, entityid=job["id"])
    wait_status(cli, job["id"], ("done",))
    assert (tmp_path / "la/f.txt").read_bytes() == b"f"


def test_injected_job_failure(env, tmp_path):
    svc, cli, faults = env[0], env[1], env[2]
    put(str(tmp_path / "hq"), "p/f.txt", data=b"f")
    faults.fail_jobs = True
    job = cli.create_job({"tasks": [{"source": "site=hq:p/f.txt", "destination": "site=la"}]})
    j = wait_status(cli, job["id"], ("failed", "done"))
    assert j["status"] == "failed" and "Simulated" in j["message"] and j["finished"]
    assert cli.call("GET", "task/find", {"parent": job["id"]})[0]["status"] == "failed"
    assert not (tmp_path / "la/f.txt").exists()
    # failed jobs stay in the default scope; resuming retries them
    assert job["id"] in [x["id"] for x in cli.call("GET", "job/find", {})]
    faults.fail_jobs = False
    cli.call("PUT", "job/edit", {"status": "waiting"}, entityid=job["id"])
    assert wait_status(cli, job["id"], ("failed", "done"))["status"] == "done"
    assert (tmp_path / "la/f.txt").read_bytes() == b"f"


def test_missing_source_fails_the_job(env, tmp_path):
    svc, cli = env[0], env[1]
    job = cli.create_job({"tasks": [{"source": "site=hq:proj/nothere.exr", "destination": "site=la"}]})
    j = wait_status(cli, job["id"], ("failed", "done"))
    assert j["status"] == "failed" and j["message"] == "E#J001 File not found: site=hq:proj/nothere.exr"
    t = cli.call("GET", "task/find", {"parent": job["id"]})[0]
    assert t["status"] == "failed" and "E#J001" in t["message"]


def test_strict_create_rejects_missing_source(tmp_path):
    studio = json.loads(json.dumps(STUDIO))
    studio["accsyn"]["strict_create"] = True
    svc = AccsynService(studio, str(tmp_path), Faults(), None)
    try:
        cli = V3(direct(svc))
        cli.login()
        st, d = cli.raw("POST", "job/create", {"tasks": [{"source": "site=hq:x.exr", "destination": "site=la"}]})
        assert st == 400 and "File not found" in d["message"] and not svc.jobs_snapshot()
    finally:
        svc.close()


def test_paths_may_not_escape_the_party_directory(env, tmp_path):
    svc, cli = env[0], env[1]
    put(str(tmp_path / "la"), "secret.txt", data=b"secret")
    put(str(tmp_path / "hq"), "proj/ok.txt", data=b"ok")
    for source, dest in [("site=hq:../la/secret.txt", "site=berlin"),
                         ("site=hq:proj/../../la/secret.txt", "site=berlin"),
                         ("site=hq:/etc/passwd", "site=berlin"),
                         ("site=hq:proj/ok.txt", "site=la:../../escape.txt")]:
        st, d = cli.raw("POST", "job/create", {"tasks": [{"source": source, "destination": dest}]})
        assert st == 400 and "not beneath" in d["message_hr"], (source, dest, d)
    # a symlink pointing out of the party's directory is caught when the job measures
    os.symlink(str(tmp_path / "la"), str(tmp_path / "hq/proj/link"))
    job = cli.create_job({"tasks": [{"source": "site=hq:proj/link/secret.txt", "destination": "site=berlin"}]})
    j = wait_status(cli, job["id"], ("failed", "done"))
    assert j["status"] == "failed" and "escapes" in j["message"]
    assert not (tmp_path / "berlin/secret.txt").exists()
    assert not any(s["status"] == "done" for s in svc.jobs_snapshot())


def test_create_validation_errors(env):
    svc, cli = env[0], env[1]
    cases = [
        ({"tasks": [{"source": "site=nowhere:a", "destination": "site=la"}]}, "nowhere"),
        ({"tasks": [{"source": "site=hq:a", "destination": "nobody@nowhere.com"}]}, "nobody@nowhere.com"),
        ({"tasks": [{"source": "site=hq:a"}]}, "destination"),
        ({"tasks": [{"source": "site=hq", "destination": "site=la"}]}, "names no file"),
        ({"tasks": []}, "at least one task"),
        ({"queue": "urgent", "tasks": [{"source": "site=hq:a", "destination": "site=la"}]}, "urgent"),
        ({"tasks": [{"source": "site=hq:a", "destination": "site=la", "status": "running"}]}, "running"),
    ]
    for spec, needle in cases:
        st, d = cli.raw("POST", "job/create", spec)
        assert st == 400 and "result" not in d and needle in d["message_hr"], (spec, d)
    st, d = cli.raw("POST", "job/create", None)
    assert st == 400 and d["message"]
    assert svc.jobs_snapshot() == []


def test_standard_user_only_sends_to_or_from_themselves(env, tmp_path):
    svc, cli = env[0], env[1]
    put(str(tmp_path / "hq"), "p/f.txt", data=b"f")
    put(str(tmp_path / "lisa@vendor.com"), "p/result.exr", data=b"r")
    lisa = V3(direct(svc), "lisa@vendor.com", "lisakey")
    lisa.login()
    st, d = lisa.raw("POST", "job/create", {"tasks": [{"source": "site=hq:p/f.txt", "destination": "site=la"}]})
    assert st == 403 and "standard" in d["message_hr"]
    job = lisa.create_job({"mirror_paths": True,
                           "tasks": [{"source": "lisa@vendor.com:p/result.exr", "destination": "site=hq"}]})
    wait_status(lisa, job["id"], ("done",))
    assert (tmp_path / "hq/p/result.exr").read_bytes() == b"r"
    other = cli.create_job({"tasks": [{"source": "site=hq:p/f.txt", "destination": "site=la"}]})
    assert other["id"] not in [j["id"] for j in lisa.call("GET", "job/find", {"finished": True})]
    assert [u["code"] for u in lisa.call("GET", "user/find", {})] == ["lisa@vendor.com"]


# ---------------------------------------------------------------------------
# Queries and the other operations
# ---------------------------------------------------------------------------

def test_job_find_queries(env, tmp_path):
    svc, cli = env[0], env[1]
    put(str(tmp_path / "hq"), "p/f.txt", data=b"f")
    a = cli.create_job({"code": "My Nightly Backup", "tasks": [{"source": "site=hq:p/f.txt",
                                                                "destination": "site=la"}]})
    b = cli.create_job({"code": "Send to Lisa", "tasks": [{"source": "site=hq:p/f.txt",
                                                           "destination": "lisa@vendor.com"}]})
    wait_status(cli, a["id"], ("done",))
    wait_status(cli, b["id"], ("done",))
    c = cli.create_job({"code": "Held", "status": "paused",
                        "tasks": [{"source": "site=hq:p/f.txt", "destination": "site=berlin"}]})
    wait_status(cli, c["id"], ("paused",))

    def ids(query, data=None):
        return sorted(j["id"] for j in cli.call("GET", "job/find", data if data is not None else {"finished": True},
                                                query=query))
    # the client lower-cases the whole expression, values included
    assert ids('code="my nightly backup"') == [a["id"]]
    assert ids('code="* backup"') == [a["id"]]
    assert ids("destination=la") == [a["id"]]
    assert ids("destination=lisa@vendor.com") == [b["id"]]
    assert ids("source=hq and status=done") == sorted([a["id"], b["id"]])
    assert ids("(destination=la or destination=berlin) and status<>failed") == sorted([a["id"], c["id"]])
    assert ids("status in (paused, failed)") == [c["id"]]
    assert ids('code contains "lisa"') == [b["id"]]
    assert ids("code matches '^send'") == [b["id"]]
    assert ids("user=alice@acmevfx.com") == sorted([a["id"], b["id"], c["id"]])
    assert ids("id=%s" % a["id"], {}) == [a["id"]]               # an id finds a finished job
    assert ids("", {}) == [c["id"]]                              # default scope: not finished
    assert ids(None, {"single_entity_query": True}) == sorted([a["id"], b["id"], c["id"]])
    assert len(cli.call("GET", "job/find", {"finished": True, "limit": 2})) == 2
    proj = cli.call("GET", "job/find", {"attributes": ["code", "status"]}, query="id=%s" % c["id"])
    assert proj == [{"id": c["id"], "code": "Held", "status": "paused"}]
    st, d = cli.raw("GET", "job/find", {}, query="code = = x")
    assert st == 400 and "query" in d["message_hr"]


def test_tasks_find_edit_create_and_delete(env, tmp_path):
    svc, cli = env[0], env[1]
    hq = str(tmp_path / "hq")
    put(hq, "p/1.txt", data=b"1")
    put(hq, "p/2.txt", data=b"2")
    put(hq, "p/3.txt", data=b"3")
    # placeholder job (accsyn.md §8): finishes at once, real tasks appended later
    job = cli.create_job({"code": "daily sync", "tasks": [
        {"source": "site=hq:p/1.txt", "destination": "site=la", "status": "excluded"}]})
    jid = job["id"]
    assert wait_status(cli, jid, ("done",))["size"] == 0
    tasks = cli.call("POST", "task/create", {"tasks": [{"source": "site=hq:p/2.txt", "destination": "site=la"},
                                                       {"source": "site=hq:p/3.txt", "destination": "site=la",
                                                        "status": "onhold", "metadata": {"c": "x"}}]},
                     entityid=jid)
    assert [t["uri"] for t in tasks] == ["1", "2"]
    wait_for(lambda: (tmp_path / "la/2.txt").exists())
    j = wait_status(cli, jid, ("waiting",))                         # task 2 is on hold
    assert not (tmp_path / "la/3.txt").exists()
    held = cli.call("GET", "task/find", {"parent": jid}, query="status=onhold")
    assert [t["uri"] for t in held] == ["2"] and held[0]["metadata"] == {"c": "x"}
    res = cli.call("PUT", "task/edit", [{"uri": "2", "status": "queued"}, {"id": held[0]["id"], "priority": 900}],
                   entityid=jid)
    assert len(res) == 2 and res[1]["priority"] == 900
    wait_status(cli, jid, ("done",))
    assert (tmp_path / "la/3.txt").read_bytes() == b"3" and not (tmp_path / "la/1.txt").exists()
    st, d = cli.raw("PUT", "task/edit", [{"uri": "0", "source": "site=hq:x"}], entityid=jid)
    assert st == 400 and "source" in d["message_hr"]
    st, d = cli.raw("PUT", "task/edit", [{"uri": "9", "status": "queued"}], entityid=jid)
    assert st == 404
    # v1-style task create: job id as the query
    res = cli.call("POST", "job/task/create", {"tasks": {"source": "site=hq:p/1.txt", "destination": "site=la"}},
                   query=jid)
    assert res[0]["uri"] == "3"
    wait_status(cli, jid, ("done",))
    assert (tmp_path / "la/1.txt").read_bytes() == b"1"
    # delete
    res = cli.call("DELETE", "transfer/delete", None, entityid=jid)
    assert res and res[0]["id"] == jid
    assert cli.find_one(jid) is None
    st, d = cli.raw("PUT", "job/edit", {"status": "waiting"}, entityid=jid)
    assert st == 404
    snap = [s for s in svc.jobs_snapshot() if s["id"] == jid][0]
    assert snap["deleted"] is True and len(snap["tasks"]) == 4


def test_sites_users_volumes_queues(env):
    svc, cli = env[0], env[1]
    sites = cli.call("GET", "site/find", {})
    by = {s["code"]: s for s in sites}
    assert set(by) == {"hq", "la", "berlin"}
    assert by["hq"]["main"] is True and by["la"]["main"] is False and by["la"]["name"] == "Los Angeles"
    assert set(by["hq"]) >= {"id", "code", "name", "description", "main", "accsyn", "status", "created",
                             "creator", "metadata"}
    assert cli.call("GET", "site/find", {}, query="code=la") == [by["la"]]
    users = cli.call("GET", "user/find", {})
    assert not any("api_key" in u for u in users)
    assert {u["code"] for u in cli.call("GET", "user/find", {}, query="role=employee")} == \
        {"maria@acmevfx.com", "bob@acmevfx.com"}                   # bob: an ftrack e-mail location
    one = cli.call("GET", "user/find", {}, query="code=lisa@vendor.com")
    assert [(u["code"], u["role"]) for u in one] == [("lisa@vendor.com", "standard")]
    vols = cli.call("GET", "volume/find", {})
    assert [(v["code"], v["default"], v["type"]) for v in vols] == [("storage", True, "volume")]
    assert vols[0]["paths"]["windows"] == "S:"
    shares = cli.call("GET", "share/find", {}, query="default=true")
    assert [(s["code"], s["type"]) for s in shares] == [("storage", "root")]
    queues = cli.call("GET", "job/find", {"type": 2})
    assert [(q["code"], q["priority"]) for q in queues] == [("high", 999), ("medium", 500), ("low", 1)]
    assert cli.call("GET", "folder/find", {}) == []
    assert "job" in cli.call("GET", "entitytypes", {})
    assert "progress" in cli.call("GET", "attributes", {"entitytype": "job", "create": False, "update": False})


def test_recipients_and_append(env, tmp_path):
    svc, cli = env[0], env[1]
    put(str(tmp_path / "hq"), "rev/a.mov", data=b"mov")
    res = cli.call("POST", "job/create", {"code": "review", "recipients": ["site=la", "maria@acmevfx.com"],
                                          "tasks": [{"source": "site=hq:rev/a.mov"}]})
    assert len(res) == 2 and res[0]["id"] != res[1]["id"]
    for j in res:
        wait_status(cli, j["id"], ("done",))
    assert (tmp_path / "la/a.mov").exists() and (tmp_path / "maria@acmevfx.com/a.mov").exists()
    first = cli.create_job({"code": "sync", "tasks": [{"source": "site=hq:rev/a.mov", "destination": "site=berlin"}]})
    wait_status(cli, first["id"], ("done",))
    again = cli.create_job({"code": "sync", "append": True,
                            "tasks": [{"source": "site=hq:rev/a.mov", "destination": "site=berlin:copy/"}]})
    assert again["id"] == first["id"]
    wait_status(cli, first["id"], ("done",))
    assert (tmp_path / "berlin/copy/a.mov").read_bytes() == b"mov"
    assert len(cli.call("GET", "task/find", {"parent": first["id"]})) == 2


# ---------------------------------------------------------------------------
# End to end over HTTP, through studio-sim (conftest.py's `sim` fixture)
# ---------------------------------------------------------------------------

def http(addr):
    import http.client

    def transport(method, path, query, headers, body):
        host, port = addr.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            # like requests given a str body: no Content-Type; Content-Length only when there is a body
            conn.putrequest(method, path + ("?" + query if query else ""), skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            if body or method in ("POST", "PUT"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()
    return transport


DEMO_ADMIN = ("pipeline@acmevfx.com", "demo-accsyn-admin-key")


def test_http_discovery_login_and_demo_studio_send(sim):
    t = http(sim.accsyn_addr)
    st, body = t("GET", "/api/v3/J3PKTtDvolDMBtTy6AFGA", urllib.parse.quote(json.dumps({"ident": WS})), {}, b"")
    assert st == 200 and json.loads(body) == {"result": {"hostname": "127.0.0.1", "port": sim.accsyn_port}}
    cli = V3(t, *DEMO_ADMIN)
    st, d = cli.login()
    assert st == 200 and d["result"]["role"] == "admin"
    st, d = V3(t, DEMO_ADMIN[0], "wrong").login()
    assert st == 401 and d["message_hr"]
    # the demo studio: sites hq and la, maria (employee) and lisa (vendor)
    assert {"hq", "la"} <= {s["code"] for s in cli.call("GET", "site/find", {})}
    roles = {u["code"]: u["role"] for u in cli.call("GET", "user/find", {})}
    assert roles["maria@acmevfx.com"] == "employee" and roles["lisa@vendor.com"] == "standard"
    assert [v["default"] for v in cli.call("GET", "volume/find", {})] == [True]
    # send a published file hq -> lisa as ftrack-send would (backslashes, mirror_paths)
    src = sim.path_of("hq", "theproject", "editorial", "cut", "v001", "cut.mov")
    spec = {"code": "Transfer of 1 components from hq to lisa@vendor.com", "mirror_paths": True,
            "tasks": [{"source": "site=hq:theproject\\editorial\\cut\\v001\\cut.mov",
                       "destination": "lisa@vendor.com"}]}
    job = cli.create_job(spec)
    j = wait_status(cli, job["id"], ("done", "failed"))
    assert j["status"] == "done", j
    dst = sim.path_of("lisa@vendor.com", "theproject", "editorial", "cut", "v001", "cut.mov")
    assert sha(dst) == sha(src) and j["size"] == os.path.getsize(src)
    uris = [(e["method"], e["info"], e["status"]) for e in sim.log() if e["listener"] == "accsyn"]
    assert ("PUT", "api/login", 200) in uris and ("POST", "job/create", 200) in uris
    assert ("GET", "job/find", 200) in uris
    # The control endpoint shows the job with the request exactly as sent.
    jobs = sim.jobs()
    assert [j["id"] for j in jobs] == [job["id"]]
    assert jobs[0]["request"]["code"] == spec["code"]
    assert jobs[0]["request"]["tasks"] == spec["tasks"]
    assert jobs[0]["status"] == "done" and jobs[0]["creator"] == DEMO_ADMIN[0]


def test_http_faults_job_failure_and_401(sim):
    t = http(sim.accsyn_addr)
    cli = V3(t, *DEMO_ADMIN)
    cli.login()
    sim.set_faults(job_fail=1)
    job = cli.create_job({"tasks": [{"source": "site=hq:theproject/editorial/cut/v001/cut.mov",
                                     "destination": "site=la"}]})
    j = wait_status(cli, job["id"], ("done", "failed"))
    assert j["status"] == "failed" and "Simulated" in j["message"]
    assert not os.path.exists(sim.path_of("la", "cut.mov"))
    sim.set_faults(unauthorized=True, side="accsyn")
    st, d = cli.raw("GET", "job/find", {})
    assert st == 401 and "message" in d and "result" not in d
    sim.set_faults()
    cli.call("PUT", "job/edit", {"status": "waiting"}, entityid=job["id"])
    assert wait_status(cli, job["id"], ("done", "failed"))["status"] == "done"
    assert os.path.exists(sim.path_of("la", "cut.mov"))
