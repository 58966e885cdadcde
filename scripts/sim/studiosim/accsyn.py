"""accsyn side of the studio simulator (protocols/accsyn.md is the spec).

Serves, on its own listener (the HTTP plumbing is in server.py):

* v3: ``GET /api/v3/J3PKTtDvolDMBtTy6AFGA?<quoted {"ident":…}>`` (and the 3.0
  path ``/api/v3/workspace/J3PKTtDvolDMBtTy6AFGA``), ``PUT /api/v3/api/login``
  with ``Authorization: basic b64(user):b64(key)``, and
  ``GET|POST|PUT|DELETE /api/v3/event``;
* v1.0 (ftrack-send era): ``PUT /api/v1.0/user/login/auth`` (ASCredentials),
  ``PUT /api/v1.0/registry/organization/domain`` and ``/api/v1.0/event``
  (ASSession).

The event operations (job/transfer, task, site, user, volume/share, queue,
client) live in :class:`AccsynService`; jobs are run by
:class:`studiosim.jobs.JobEngine`, which copies real files between the
parties' directories under the storage directory.  See scripts/sim/ACCSYN.md.

Standard library only.
"""

import base64
import copy
import fnmatch
import gzip
import hashlib
import hmac
import json
import os
import re
import secrets
import traceback
import urllib.parse

from .jobs import (AccsynError, Endpoint, Job, JobEngine, Party, Task, TASK_STATUSES, TASK_WRITABLE,
                   JOB_FINISHED, now_str, parse_endpoint)

DISCOVERY_ID = "J3PKTtDvolDMBtTy6AFGA"

QUEUES = (("high", "High", 999), ("medium", "Medium", 500), ("low", "Low", 1))


def hexid(seed):
    """A stable 24-hex id (Mongo ObjectId style) for a configured entity."""
    return hashlib.md5(seed.encode("utf-8")).hexdigest()[:24]


class _LocalResponse:
    """Stand-in for server.Response when server.py is not importable."""

    def __init__(self, status=200, body=b"", headers=None, info=""):
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.info = info


def _response_class():
    try:
        from .server import Response
        return Response
    except ImportError:
        return _LocalResponse


def json_response(status, obj, info=""):
    body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    return _response_class()(status=status, body=body,
                             headers={"Content-Type": "application/json"}, info=info)


# --------------------------------------------------------------------------
# Directory: workspace, sites, users, volumes, clients, queues
# --------------------------------------------------------------------------

_ROLE_ALIASES = {"admin": "admin", "employee": "employee", "standard": "standard", "restricted": "standard",
                 "client": "standard", "user": "standard", "support": "support"}
_V1_CLEARANCE = {"admin": "admin", "employee": "employee", "standard": "client", "support": "cloudadmin"}


def _location_names(locations):
    if isinstance(locations, dict):
        items = [dict(v, name=k) if isinstance(v, dict) and "name" not in v else v
                 for k, v in locations.items()]
    elif isinstance(locations, list):
        items = locations
    else:
        return []
    names = []
    for it in items:
        name = (it.get("accsyn_party") or it.get("name")) if isinstance(it, dict) else it
        if isinstance(name, str) and name and not name.startswith("ftrack."):
            names.append(name)
    return names


class Directory:
    """Everything configured in the data file's "accsyn" section."""

    def __init__(self, studio, storage_dir):
        cfg = dict((studio or {}).get("accsyn") or {})
        self.workspace = cfg.get("workspace") or cfg.get("domain") or "acmevfx"
        self.workspace_id = cfg.get("id") or hexid("workspace:" + self.workspace)
        self.hostname = cfg.get("hostname") or "127.0.0.1"
        self.port = cfg.get("port")
        self.strict_create = bool(cfg.get("strict_create", False))
        self.storage_dir = os.path.abspath(storage_dir)
        created = now_str()
        loc_names = _location_names((studio or {}).get("locations"))

        # Sites
        self.sites = {}       # lower code -> record
        for s in cfg.get("sites") or []:
            code = s["code"] if isinstance(s, dict) else s
            s = s if isinstance(s, dict) else {}
            self.sites[code.lower()] = {
                "id": s.get("id") or hexid("site:" + code), "code": code, "name": s.get("name") or code,
                "description": s.get("description") or "", "main": bool(s.get("main", False)), "accsyn": False,
                "status": s.get("status") or "enabled", "created": created, "creator": None,
                "metadata": s.get("metadata") or {},
            }
        for name in loc_names:
            if "@" not in name and name.lower() not in self.sites and re.match(r"^[A-Za-z0-9_.-]{1,32}$", name):
                self.sites[name.lower()] = {
                    "id": hexid("site:" + name), "code": name, "name": name, "description": "",
                    "main": False, "accsyn": False, "status": "enabled", "created": created, "creator": None,
                    "metadata": {}}
        if not any(s["main"] for s in self.sites.values()):
            if "hq" not in self.sites:
                self.sites["hq"] = {"id": hexid("site:hq"), "code": "hq", "name": "Headquarters",
                                    "description": "", "main": True, "accsyn": False, "status": "enabled",
                                    "created": created, "creator": None, "metadata": {}}
            self.sites["hq"]["main"] = True

        # Users
        self.users = {}       # lower e-mail -> record (includes api_key; never returned)
        for u in cfg.get("users") or []:
            email = u.get("email") or u.get("code")
            role = _ROLE_ALIASES.get(str(u.get("role") or u.get("clearance") or "standard").lower(), "standard")
            self.users[email.lower()] = {
                "id": u.get("id") or hexid("user:" + email.lower()), "code": email,
                "name": u.get("name") or email.split("@")[0], "role": role,
                "status": u.get("status") or "enabled", "queue": None, "metadata": u.get("metadata") or {},
                "created": created, "api_key": u.get("api_key"), "password": u.get("password"),
            }
        staff_domains = {e.split("@", 1)[1] for e, u in self.users.items()
                         if u["role"] in ("admin", "employee") and "@" in e}
        for name in loc_names:
            if "@" in name and name.lower() not in self.users:
                role = "employee" if name.split("@", 1)[1].lower() in staff_domains else "standard"
                self.users[name.lower()] = {
                    "id": hexid("user:" + name.lower()), "code": name, "name": name.split("@")[0], "role": role,
                    "status": "enabled", "queue": None, "metadata": {}, "created": created,
                    "api_key": None, "password": None}

        # Volumes (root shares)
        self.volumes = []
        for v in cfg.get("volumes") or cfg.get("shares") or []:
            code = v["code"]
            self.volumes.append({
                "id": v.get("id") or hexid("volume:" + code), "code": code, "name": v.get("name") or code,
                "default": bool(v.get("default", False)), "status": v.get("status") or "enabled",
                "root": (v.get("root") or "").strip("/"), "site": v.get("site") or self.main_site().code,
                "paths": v.get("paths") or {}, "path": v.get("path"),
            })
        if not self.volumes:
            self.volumes.append({"id": hexid("volume:storage"), "code": "storage", "name": "storage",
                                 "default": True, "status": "enabled", "root": "",
                                 "site": self.main_site().code, "paths": {}, "path": None})
        if not any(v["default"] for v in self.volumes):
            self.volumes[0]["default"] = True

        # Clients (optional): {"id", "code": hostname, "user": e-mail | "site": code, "type", "status"}
        self.clients = []
        for c in cfg.get("clients") or []:
            self.clients.append({"id": c.get("id") or hexid("client:%s:%s" % (c.get("code"), c.get("user"))),
                                 "code": c.get("code") or "", "user": c.get("user"), "site": c.get("site"),
                                 "type": int(c.get("type", 0)), "status": c.get("status") or "online"})

        self.queues = [{"id": hexid("queue:" + code), "code": code, "name": name, "priority": prio,
                        "type": 2, "status": "enabled"} for code, name, prio in QUEUES]

    # -- parties -----------------------------------------------------------

    def main_site(self):
        for s in self.sites.values():
            if s["main"]:
                return Party("site", s["code"], s["id"], name=s["name"])
        raise AssertionError("no main site")

    def site(self, code):
        s = self.sites.get((code or "").strip().lower())
        if s is None or s["status"] != "enabled":
            return None
        return Party("site", s["code"], s["id"], name=s["name"])

    def user_record(self, email):
        email = (email or "").strip().lower()
        u = self.users.get(email)
        if u is None and email.count("@") >= 2:       # <e-mail>@<hostname>
            u = self.users.get(email.rsplit("@", 1)[0])
        return u

    def user_party(self, email):
        u = self.user_record(email)
        if u is None or u["status"] != "enabled":
            return None
        return Party("user", u["code"], u["id"], role=u["role"], name=u["name"])

    def client_party(self, cid):
        for c in self.clients:
            if c["id"] == (cid or "").strip().lower():
                if c.get("site"):
                    return self.site(c["site"])
                return self.user_party(c.get("user"))
        return None

    def party_by_id(self, pid):
        for s in self.sites.values():
            if s["id"] == pid:
                return self.site(s["code"])
        for u in self.users.values():
            if u["id"] == pid:
                return self.user_party(u["code"])
        return None

    # -- volumes -----------------------------------------------------------

    def default_volume(self):
        for v in self.volumes:
            if v["default"]:
                return v
        return self.volumes[0]

    def volume(self, code):
        code = (code or "").lower()
        for v in self.volumes:
            if v["code"].lower() == code or v["id"] == code:
                return v
        return None

    def match_volume_path(self, path):
        """An absolute path matching a volume's ``paths`` entry → (volume, rel) or (None, None)."""
        p = path.replace("\\", "/")
        for v in self.volumes:
            prefixes = [x for x in list(v["paths"].values()) + [v.get("path")] if isinstance(x, str) and x]
            for pre in sorted(prefixes, key=len, reverse=True):
                pre = pre.replace("\\", "/").rstrip("/")
                if not pre:
                    continue
                windows = re.match(r"^[A-Za-z]:", pre) or pre.startswith("//")
                a, b = (p.lower(), pre.lower()) if windows else (p, pre)
                if a == b or a.startswith(b + "/"):
                    return v, p[len(pre):].lstrip("/")
        return None, None

    def volume_public(self, v, as_share=False):
        path = v.get("path") or v["paths"].get("linux") or os.path.join(
            self.storage_dir, self.main_site().code, v["root"]).rstrip("/")
        return {"id": v["id"], "code": v["code"], "name": v["name"], "default": v["default"],
                "status": v["status"], "path": path, "paths": v["paths"], "site": v["site"],
                "root": v["root"], "type": "root" if as_share else "volume"}

    @staticmethod
    def user_public(u):
        return {k: u[k] for k in ("id", "code", "name", "role", "status", "queue", "metadata", "created")}

    def queue(self, name):
        n = (name or "").strip().lower()
        for q in self.queues:
            if n in (q["code"], q["name"].lower(), q["id"]):
                return q
        return None


# --------------------------------------------------------------------------
# Query language (accsyn.md §7)
# --------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"""\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<comma>,)|(?P<op>!=|<>|<=|>=|=|<|>)|"""
                       r"""(?P<q>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<w>[^\s()=!<>,"']+))""")


def _tokenize(s):
    pos, out = 0, []
    s = s.strip()
    while pos < len(s):
        m = _TOKEN_RE.match(s, pos)
        if not m or m.end() == pos:
            raise AccsynError("Invalid query: %s" % s, "Could not parse the query '%s' near '%s'." % (s, s[pos:]))
        pos = m.end()
        kind = m.lastgroup
        text = m.group(kind)
        if kind == "q":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        out.append((kind, text))
    return out


class _Parser:
    def __init__(self, text):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    def err(self, why):
        return AccsynError("Invalid query: %s (%s)" % (self.text, why),
                           "Could not parse the query '%s': %s." % (self.text, why))

    def peek(self, k=0):
        return self.toks[self.i + k] if self.i + k < len(self.toks) else (None, None)

    def kw(self, word, k=0):
        kind, text = self.peek(k)
        return kind == "w" and text.lower() == word

    def take(self):
        t = self.peek()
        self.i += 1
        return t

    def parse(self):
        if not self.toks:
            return None
        node = self.expr()
        if self.i != len(self.toks):
            raise self.err("unexpected '%s'" % self.peek()[1])
        return node

    def expr(self):
        node = self.term()
        while self.kw("or"):
            self.take()
            node = ("or", node, self.term())
        return node

    def term(self):
        node = self.factor()
        while self.kw("and"):
            self.take()
            node = ("and", node, self.factor())
        return node

    def factor(self):
        kind, _ = self.peek()
        if kind == "lp":
            self.take()
            node = self.expr()
            if self.take()[0] != "rp":
                raise self.err("missing ')'")
            return node
        if self.kw("not") and not (self.peek(1)[0] == "op"):
            self.take()
            return ("not", self.factor())
        return self.comparison()

    def value(self):
        kind, text = self.take()
        if kind not in ("w", "q"):
            raise self.err("expected a value")
        return text

    def comparison(self):
        kind, field = self.take()
        if kind != "w":
            raise self.err("expected an attribute name")
        field = field.lower()
        kind, text = self.peek()
        if kind == "op":
            self.take()
            return ("cmp", field, text, self.value())
        negate = False
        if self.kw("not"):
            self.take()
            negate = True
        if self.kw("in"):
            self.take()
            if self.take()[0] != "lp":
                raise self.err("expected '(' after in")
            vals = [self.value()]
            while self.peek()[0] == "comma":
                self.take()
                vals.append(self.value())
            if self.take()[0] != "rp":
                raise self.err("missing ')'")
            node = ("cmp", field, "in", vals)
        elif self.kw("contains"):
            self.take()
            node = ("cmp", field, "contains", self.value())
        elif self.kw("matches") and not negate:
            self.take()
            node = ("cmp", field, "matches", self.value())
        else:
            raise self.err("expected an operator after '%s'" % field)
        return ("not", node) if negate else node


def parse_query(text):
    return _Parser(text or "").parse()


def _norm(v):
    if v is True:
        return ["true"]
    if v is False:
        return ["false"]
    if v is None:
        return ["none", "null"]
    if isinstance(v, float) and v.is_integer():
        return [str(int(v)), str(v)]
    if isinstance(v, (list, tuple)):
        out = []
        for x in v:
            out.extend(_norm(x))
        return out
    if isinstance(v, dict):
        return [json.dumps(v).lower()]
    return [str(v).lower()]


def _num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def _eq(cand, want):
    if "*" in want:
        return fnmatch.fnmatchcase(cand, want)
    if cand == want:
        return True
    a, b = _num(cand), _num(want)
    return a is not None and b is not None and a == b


def evaluate(node, lookup):
    """Evaluate a parsed query against an entity; *lookup(field)* returns candidate values."""
    if node is None:
        return True
    op = node[0]
    if op == "and":
        return evaluate(node[1], lookup) and evaluate(node[2], lookup)
    if op == "or":
        return evaluate(node[1], lookup) or evaluate(node[2], lookup)
    if op == "not":
        return not evaluate(node[1], lookup)
    _, field, cmp, value = node
    cands = _norm(lookup(field))
    if cmp == "=":
        return any(_eq(c, value.lower()) for c in cands)
    if cmp in ("!=", "<>"):
        return not any(_eq(c, value.lower()) for c in cands)
    if cmp == "in":
        return any(_eq(c, v.lower()) for c in cands for v in value)
    if cmp == "contains":
        return any(value.lower() in c for c in cands)
    if cmp == "matches":
        try:
            rx = re.compile(value, re.I)
        except re.error:
            raise AccsynError("Invalid regular expression %r" % value, "Invalid regular expression '%s'." % value)
        return any(rx.search(c) for c in cands)
    for c in cands:
        a, b = _num(c), _num(value)
        x, y = (a, b) if a is not None and b is not None else (c, value.lower())
        if (cmp == "<" and x < y) or (cmp == ">" and x > y) or (cmp == "<=" and x <= y) or \
                (cmp == ">=" and x >= y):
            return True
    return False


def make_lookup(public, extras=None):
    extras = extras or {}

    def lookup(field):
        if field in extras:
            return extras[field]
        cur = public
        for part in field.split("."):
            if isinstance(cur, dict):
                hit = None
                for k in cur:
                    if k.lower() == part:
                        hit = k
                        break
                if hit is None:
                    return []
                cur = cur[hit]
            else:
                return []
        return [cur]
    return lookup


def _ids_in_query(node, fields=("id",)):
    """Ids pinned by `<field>=<value>` in an and-chain of *node*."""
    if node is None:
        return []
    if node[0] == "and":
        return _ids_in_query(node[1], fields) + _ids_in_query(node[2], fields)
    if node[0] == "cmp" and node[1] in fields and node[2] == "=":
        return [node[3].lower()]
    return []


# --------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------

_HEX24 = re.compile(r"^[a-f0-9]{24}$")
_METHOD_FOR_VERB = {"find": ("GET",), "create": ("POST",), "edit": ("PUT",), "delete": ("DELETE",),
                    "activate": ("POST",), "deactivate": ("DELETE",)}
_FIND_ONLY_TYPES = ("folder", "home", "collection", "acl", "delivery")


class _Caller:
    def __init__(self, user, api):
        self.user = user          # user record
        self.api = api            # "v3" | "v1.0"
        self.party = Party("user", user["code"], user["id"], role=user["role"], name=user["name"])

    @property
    def role(self):
        return self.user["role"]


class AccsynService:
    """The accsyn API: ``handle(request) -> Response``."""

    def __init__(self, studio, storage_dir, faults, bandwidth=None):
        self.directory = Directory(studio, storage_dir)
        self.faults = faults
        self.engine = JobEngine(self.directory, faults, bandwidth)
        self.cond = self.engine.cond
        self.jobs = {}            # id -> Job, in creation order
        self.v3_sessions = {}     # session id -> e-mail
        self.v1_sessions = {}     # session key -> e-mail
        self.port = None          # listener port, if the server knows it (fallback for discovery)

    # -- public API for the server and tests -------------------------------

    def error_response(self, http_status, message, message_hr=None, info=""):
        return json_response(http_status, {"message": message, "message_hr": message_hr or message}, info)

    def close(self):
        self.engine.close()

    def jobs_snapshot(self):
        """Every job ever created, with the request data exactly as the client sent it."""
        with self.cond:
            out = []
            for job in self.jobs.values():
                d = job.public(self.directory.workspace)
                d["request"] = copy.deepcopy(job.request)
                d["api"] = job.api
                d["creator"] = job.creator.code
                d["deleted"] = job.deleted
                d["history"] = [s for _, s in job.history]
                d["tasks"] = [t.public(job, self.directory) for t in job.tasks]
                out.append(copy.deepcopy(d))
            return out

    def handle(self, req):
        info = ""
        try:
            path = (req.path or "/").rstrip("/") or "/"
            method = (req.method or "GET").upper()
            if path in ("/api/v3/" + DISCOVERY_ID, "/api/v3/workspace/" + DISCOVERY_ID):
                info = "discovery"
                self._need_method(method, ("GET",), info)
                return self._discovery(req)
            if path == "/api/v3/api/login":
                info = "api/login"
                self._need_method(method, ("PUT",), info)
                return self._login_v3(req)
            if path in ("/api/v3/event", "/api/v1.0/event"):
                api = "v3" if path.startswith("/api/v3") else "v1.0"
                info = "event"
                env = self._envelope(req, method, api)
                info = str(env.get("uri") or "event")
                caller = self._auth_v3(req) if api == "v3" else self._auth_v1(req)
                result = self._dispatch(env, method, caller)
                return json_response(200, result, info)
            if path == "/api/v1.0/user/login/auth":
                info = "user/login/auth"
                self._need_method(method, ("PUT", "POST"), info)
                return self._login_v1(req)
            if path == "/api/v1.0/registry/organization/domain":
                info = "registry/organization/domain"
                self._need_method(method, ("PUT", "POST"), info)
                return self._registry_v1(req)
            raise AccsynError("Unknown endpoint %s %s" % (method, req.path),
                              "No such accsyn API endpoint: %s %s." % (method, req.path), 404)
        except AccsynError as e:
            body = {"message": e.message, "message_hr": e.message_hr}
            if getattr(e, "session_expired", False):
                body["session_expired"] = True
            return json_response(e.status, body, info)
        except Exception:  # a server-side crash, reported the way accsyn does
            return json_response(500, {"exception": traceback.format_exc()}, info)

    # -- plumbing ----------------------------------------------------------

    @staticmethod
    def _need_method(method, allowed, what):
        if method not in allowed:
            raise AccsynError("Method %s not allowed for %s" % (method, what),
                              "%s must be called with %s, not %s." % (what, "/".join(allowed), method), 405)

    @staticmethod
    def _json_body(req, what):
        raw = req.body or b""
        try:
            text = raw.decode("utf-8") if raw else ""
            return json.loads(text) if text.strip() else {}
        except (UnicodeDecodeError, ValueError):
            raise AccsynError("Malformed JSON in %s body" % what, "The %s request body is not valid JSON." % what)

    def _discovery(self, req):
        raw = req.query or ""
        ident = None
        if raw:
            try:
                q = json.loads(urllib.parse.unquote(raw))
            except ValueError:
                q = dict(urllib.parse.parse_qsl(raw))
            if isinstance(q, dict):
                ident = q.get("ident") or q.get("workspace")
        if not ident:
            raise AccsynError("No workspace ident given", "Workspace discovery needs {\"ident\": <workspace>}.")
        if ident.lower() != self.directory.workspace.lower():
            raise AccsynError("Workspace '%s' not found" % ident,
                              "The accsyn workspace '%s' does not exist." % ident, 404)
        port = None
        host = req.headers.get("Host") or ""
        m = re.match(r"^(?:\[[^\]]*\]|[^:]*):(\d+)$", host.strip())
        if m:
            port = int(m.group(1))
        port = port or self.directory.port or self.port or 443
        return json_response(200, {"result": {"hostname": self.directory.hostname, "port": port}}, "discovery")

    def _check_user_key(self, email, key):
        u = self.directory.user_record(email)
        if u is None or not u.get("api_key") or not hmac.compare_digest(
                str(u["api_key"]).encode(), str(key).encode()):
            raise AccsynError("Invalid credentials", "Authentication failed: unknown user or wrong API key.", 401)
        if u["status"] != "enabled":
            raise AccsynError("User disabled", "The user %s is disabled." % u["code"], 401)
        return u

    def _auth_v3(self, req):
        h = (req.headers.get("Authorization") or "").strip()
        if not h:
            raise AccsynError("Not authenticated",
                              "Authentication required: send 'Authorization: basic <base64(user)>:<base64(key)>'.",
                              401)
        scheme, _, token = h.partition(" ")
        token = token.strip()
        if scheme.lower() != "basic" or token.count(":") != 1:
            raise AccsynError("Invalid Authorization header",
                              "The Authorization header must be 'basic <base64(user)>:<base64(api key)>' "
                              "(user and key encoded separately).", 401)
        u64, _, k64 = token.partition(":")
        try:
            email = base64.b64decode(u64, validate=True).decode("utf-8")
            key = base64.b64decode(k64, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise AccsynError("Invalid Authorization header",
                              "The user name and API key must each be base64-encoded.", 401)
        user = self._check_user_key(email, key)
        ws = (req.headers.get("X-Accsyn-Workspace") or "").strip()
        if not ws:
            raise AccsynError("Missing X-Accsyn-Workspace header",
                              "The X-Accsyn-Workspace header naming the workspace is required.", 401)
        if ws.lower() != self.directory.workspace.lower():
            raise AccsynError("Unknown workspace '%s'" % ws, "The accsyn workspace '%s' does not exist." % ws, 401)
        return _Caller(user, "v3")

    def _login_v3(self, req):
        caller = self._auth_v3(req)
        body = self._json_body(req, "login")
        sid = (body.get("session_id") if isinstance(body, dict) else None) or secrets.token_hex(16)
        with self.cond:
            self.v3_sessions[sid] = caller.user["code"]
        return json_response(200, {"result": {"id": caller.user["id"], "role": caller.role,
                                              "session_id": sid}}, "api/login")

    @staticmethod
    def _b64json(token, what):
        try:
            d = json.loads(base64.b64decode(token.strip(), validate=False).decode("utf-8"))
            if not isinstance(d, dict):
                raise ValueError
            return d
        except (ValueError, UnicodeDecodeError):
            raise AccsynError("Invalid %s header" % what, "The %s value must be base64 of a JSON object." % what, 401)

    def _check_domain(self, d):
        dom = d.get("domain") or d.get("workspace") or d.get("organization")
        if not dom or str(dom).lower() != self.directory.workspace.lower():
            raise AccsynError("Unknown domain '%s'" % dom, "The accsyn domain '%s' does not exist." % dom, 401)

    def _login_v1(self, req):
        h = (req.headers.get("Authorization") or "").strip()
        scheme, _, token = h.partition(" ")
        body = self._json_body(req, "login")
        body = body if isinstance(body, dict) else {}
        if scheme == "ASSession":
            user = self._auth_v1(req).user
            key = self._b64json(token, "ASSession").get("session_key")
        elif scheme == "ASCredentials":
            cred = self._b64json(token, "ASCredentials")
            self._check_domain(cred)
            if "api_key" in cred:
                user = self._check_user_key(cred.get("username"), cred.get("api_key"))
            elif "pwd" in cred:
                u = self.directory.user_record(cred.get("username"))
                try:
                    pwd = base64.b64decode(cred["pwd"]).decode("utf-8")
                except (ValueError, UnicodeDecodeError):
                    pwd = None
                if u is None or not u.get("password") or pwd != u["password"] or u["status"] != "enabled":
                    raise AccsynError("Invalid credentials", "Authentication failed: wrong user name or password.",
                                      401)
                user = u
            else:
                raise AccsynError("No api_key given", "ASCredentials must carry an api_key (or pwd).", 401)
            key = None
            reuse = body.get("session_key_reuse")
            with self.cond:
                if reuse and self.v1_sessions.get(reuse) == user["code"]:
                    key = reuse
        else:
            raise AccsynError("Invalid Authorization header",
                              "Log in with 'Authorization: ASCredentials <base64 JSON>'.", 401)
        with self.cond:
            key = key or secrets.token_hex(20)
            self.v1_sessions[key] = user["code"]
        return json_response(200, {"session_key": key, "clearance": _V1_CLEARANCE.get(user["role"], "client"),
                                   "id": user["id"]}, "user/login/auth")

    def _auth_v1(self, req):
        h = (req.headers.get("Authorization") or "").strip()
        scheme, _, token = h.partition(" ")
        if scheme != "ASSession":
            raise AccsynError("Not authenticated", "Send 'Authorization: ASSession <base64 JSON>'.", 401)
        d = self._b64json(token, "ASSession")
        self._check_domain(d)
        with self.cond:
            owner = self.v1_sessions.get(d.get("session_key") or "")
        if owner is None or owner.lower() != str(d.get("username") or "").lower():
            e = AccsynError("Session expired", "Your session has expired, please log in again.", 401)
            e.session_expired = True
            raise e
        u = self.directory.user_record(owner)
        if u is None or u["status"] != "enabled":
            raise AccsynError("User disabled", "The user %s is disabled." % owner, 401)
        return _Caller(u, "v1.0")

    def _registry_v1(self, req):
        body = self._json_body(req, "registry")
        org = body.get("organization") if isinstance(body, dict) else None
        if not org or str(org).lower() != self.directory.workspace.lower():
            raise AccsynError("Organization '%s' not found" % org,
                              "The accsyn domain '%s' does not exist." % org, 404)
        return json_response(200, {"domain": self.directory.workspace}, "registry/organization/domain")

    def _envelope(self, req, method, api):
        if method in ("GET", "DELETE"):
            raw = req.query or ""
            if not raw and api == "v1.0" and req.body:
                raw = (req.body or b"").decode("utf-8", "replace")
                text = raw
            else:
                if not raw:
                    raise AccsynError("No event given",
                                      "%s /event needs the URL-quoted JSON event as the whole query string."
                                      % method)
                text = urllib.parse.unquote(raw)
        elif method in ("POST", "PUT"):
            try:
                text = (req.body or b"").decode("utf-8")
            except UnicodeDecodeError:
                raise AccsynError("Malformed event", "The event body is not UTF-8.")
            if not text.strip():
                raise AccsynError("No event given", "%s /event needs the JSON event as the body." % method)
        else:
            raise AccsynError("Method %s not allowed" % method, "Use GET, POST, PUT or DELETE.", 405)
        try:
            env = json.loads(text)
        except ValueError:
            raise AccsynError("Malformed event JSON", "The event is not valid JSON.")
        if not isinstance(env, dict):
            raise AccsynError("Malformed event", "The event must be a JSON object.")
        if env.get("gz_data") is not None:
            try:
                env["data"] = json.loads(gzip.decompress(base64.b64decode(env["gz_data"])).decode("utf-8"))
            except (ValueError, OSError, UnicodeDecodeError):
                raise AccsynError("Malformed gz_data", "gz_data must be base64 of gzip-compressed JSON.")
            del env["gz_data"]
        ws = env.get("workspace") if api == "v3" else env.get("domain", env.get("workspace"))
        if ws is not None and str(ws).lower() != self.directory.workspace.lower():
            raise AccsynError("Wrong workspace '%s'" % ws,
                              "The event names workspace '%s', not %s." % (ws, self.directory.workspace))
        if not isinstance(env.get("uri"), str) or not env["uri"].strip():
            raise AccsynError("No uri in event", "The event has no 'uri'.")
        return env

    # -- dispatch ----------------------------------------------------------

    def _dispatch(self, env, method, caller):
        uri = env["uri"].strip().strip("/").lower()
        if uri.startswith("organization/"):
            uri = uri[len("organization/"):]
        if uri.startswith("job/task/"):
            uri = "task/" + uri[len("job/task/"):]
        ent, _, verb = uri.partition("/")
        as_share = ent == "share"
        ent = {"transfer": "job", "share": "volume"}.get(ent, ent)
        data = env.get("data")
        query = env.get("query")
        if query is not None and not isinstance(query, str):
            query = str(query)
        if ent in ("entitytypes", "attributes") and not verb:
            self._need_method(method, ("GET",), uri)
            return self._meta(ent, data)
        if verb in _METHOD_FOR_VERB:
            self._need_method(method, _METHOD_FOR_VERB[verb], uri)
        handler = getattr(self, "_op_%s_%s" % (ent, verb), None)
        if handler is None:
            if verb == "find" and ent in _FIND_ONLY_TYPES:
                return {"result": []}
            raise AccsynError("Unsupported uri '%s'" % env["uri"],
                              "The operation '%s' is not supported by the simulator." % env["uri"], 404)
        with self.cond:
            if ent == "volume":
                return handler(env, data, query, caller, as_share)
            return handler(env, data, query, caller)

    def _meta(self, ent, data):
        types = ["job", "transfer", "task", "site", "volume", "share", "user", "queue", "client"]
        if ent == "entitytypes":
            return {"result": types}
        et = str((data or {}).get("entitytype") or "").lower()
        samples = {"job": list(Job("0" * 24, "", Party("user", "", ""), self.directory.queues[1], {}, "v3")
                               .public("").keys()),
                   "site": ["id", "code", "name", "description", "main", "accsyn", "status", "created",
                            "creator", "metadata"],
                   "user": ["id", "code", "name", "role", "status", "queue", "metadata", "created"],
                   "volume": ["id", "code", "name", "default", "status", "path", "paths", "type"]}
        samples["transfer"] = samples["job"]
        samples["share"] = samples["volume"]
        if et not in samples:
            raise AccsynError("Unknown entity type '%s'" % et, "Unknown entity type '%s'." % et)
        return {"result": samples[et]}

    @staticmethod
    def _filter(rows, query, data):
        """rows: list of (public, extras). Applies query, skip, limit, attributes."""
        node = parse_query(query) if query else None
        out = [pub for pub, extras in rows if evaluate(node, make_lookup(pub, extras))]
        data = data if isinstance(data, dict) else {}
        try:
            skip = int(data.get("skip") or 0)
            limit = int(data.get("limit") or 0)
        except (TypeError, ValueError):
            raise AccsynError("Invalid skip/limit", "skip and limit must be integers.")
        out = out[skip:]
        if limit > 0:
            out = out[:limit]
        attrs = data.get("attributes")
        if attrs:
            if isinstance(attrs, str):
                attrs = [a.strip() for a in attrs.split(",")]
            keep = set(a.lower() for a in attrs) | {"id"}
            out = [{k: v for k, v in d.items() if k.lower() in keep} for d in out]
        return {"result": copy.deepcopy(out)}

    # -- jobs --------------------------------------------------------------

    def _visible(self, job, caller):
        if job.deleted:
            return False
        if caller.role in ("admin", "employee", "support"):
            return True
        me = caller.user["id"]
        return job.creator.id == me or any(t.src.party.id == me or t.dst.party.id == me for t in job.tasks)

    def _job_rows(self, jobs):
        rows = []
        ws = self.directory.workspace
        for j in jobs:
            pub = j.public(ws)
            src, dst = j.source_party, j.dest_party
            extras = {
                "source": src.aliases() if src else [],
                "destination": dst.aliases() if dst else [],
                "user": [j.creator.id, j.creator.code],
                "queue": [j.queue["code"], j.queue["name"], j.queue["id"]],
                "parent": [j.queue["id"], j.queue["code"]],
                "name": [j.code],
            }
            rows.append((pub, extras))
        return rows

    def _job_by_id(self, jid, caller, include_deleted=False):
        job = self.jobs.get(str(jid or "").strip().lower())
        if job is None or (job.deleted and not include_deleted) or not (
                self._visible(job, caller) or (include_deleted and job.deleted)):
            raise AccsynError("Job '%s' not found" % jid, "No job with id '%s' exists." % jid, 404)
        return job

    def _target_job_id(self, env, query):
        """The job an operation is about: envelope id, or (v1) the query."""
        if env.get("id"):
            return str(env["id"])
        q = (query or "").strip().lower()
        if _HEX24.match(q):
            return q
        if q:
            ids = _ids_in_query(parse_query(q), ("id", "job.id", "job", "parent"))
            if ids:
                return ids[0]
        return None

    def _op_job_find(self, env, data, query, caller):
        data = data if isinstance(data, dict) else {}
        if data.get("type") == 2:
            return self._filter([(q, {}) for q in self.directory.queues], query, data)
        node = parse_query(query) if query else None
        pinned = _ids_in_query(node)
        include_finished = bool(data.get("finished") or data.get("single_entity_query") or env.get("id")
                                or pinned)
        archived = bool(data.get("archived"))
        jobs = []
        for j in self.jobs.values():
            if env.get("id") and j.id != str(env["id"]).lower():
                continue
            if j.deleted and not archived:
                continue
            if not j.deleted and not self._visible(j, caller):
                continue
            if j.status in JOB_FINISHED and not include_finished:
                continue
            jobs.append(j)
        return self._filter(self._job_rows(jobs), query, data)

    def _op_queue_find(self, env, data, query, caller):
        return self._filter([(q, {}) for q in self.directory.queues], query, data)

    def _task_specs(self, data):
        """Normalise the three task forms of accsyn.md §8 to a list of (uri-or-None, dict)."""
        tasks = data.get("tasks")
        if tasks is None:
            if "source" in data:
                one = {"source": data.get("source"),
                       "destination": data.get("destination", data.get("dest"))}
                return [(None, one)]
            return []
        if isinstance(tasks, dict):
            if "source" in tasks:
                return [(None, tasks)]
            items = []
            for k in sorted(tasks, key=lambda x: (not str(x).isdigit(), int(x) if str(x).isdigit() else 0, str(x))):
                items.append((str(k), tasks[k]))
            return items
        if isinstance(tasks, list):
            return [(None, t) for t in tasks]
        raise AccsynError("Invalid tasks", "'tasks' must be a list or a dict keyed by task uri.")

    def _build_tasks(self, specs, job, recipient, caller, first_uri=0):
        out = []
        n = first_uri
        for uri, spec in specs:
            if not isinstance(spec, dict):
                raise AccsynError("Invalid task", "Each task must be a JSON object with source and destination.")
            src_raw = spec.get("source")
            dst_raw = spec.get("destination", spec.get("dest")) or recipient
            label = "task %s" % (uri if uri is not None else len(out))
            if not src_raw:
                raise AccsynError("No source in %s" % label, "The %s has no source." % label)
            if not dst_raw:
                raise AccsynError("No destination in %s" % label, "The %s has no destination." % label)
            src = parse_endpoint(src_raw, self.directory, True)
            dst = parse_endpoint(dst_raw, self.directory, False)
            if src.rel is None:
                raise AccsynError("No source path in %s" % label,
                                  "The source of %s ('%s') names no file or folder." % (label, src_raw))
            if src.party.id == dst.party.id and dst.rel is None and (job.mirror or not src.rel[:-1]):
                raise AccsynError("Source and destination are the same in %s" % label,
                                  "The %s would copy '%s' onto itself." % (label, src_raw))
            if caller.role == "standard" and caller.user["id"] not in (src.party.id, dst.party.id):
                raise AccsynError("Permission denied",
                                  "A standard user can only send from or to themselves (%s)." % caller.user["code"],
                                  403)
            status = str(spec.get("status") or "queued").lower()
            if status not in ("queued", "onhold", "excluded", "pending"):
                raise AccsynError("Invalid task status '%s'" % status,
                                  "A new task can be queued, onhold or excluded, not '%s'." % status)
            prio = spec.get("priority", job.priority)
            try:
                prio = int(prio)
            except (TypeError, ValueError):
                raise AccsynError("Invalid priority", "Task priority must be an integer 0-1000.")
            t = Task(uri if uri is not None else str(n), src, dst, status=status, priority=prio,
                     metadata=spec.get("metadata"), settings=spec.get("settings"))
            n = max(n, int(t.uri) if t.uri.isdigit() else n) + 1
            out.append(t)
        return out

    def _strict_check(self, job, tasks):
        for t in tasks:
            if t.status == "excluded":
                continue
            plan, err = self.engine.plan_task(job, t)
            if err:
                raise AccsynError(err, err.split(" ", 1)[1] if err.startswith("E#") else err)
            t.src_abs = t.dst_abs = None

    def _op_job_create(self, env, data, query, caller):
        if not isinstance(data, dict) or not data:
            raise AccsynError("No job data", "job/create needs the job specification in 'data'.")
        if data.get("type") == 2:
            raise AccsynError("Queue creation not supported", "Creating queues is not supported by the simulator.")
        specs = self._task_specs(data)
        if not specs:
            raise AccsynError("No tasks given", "A job needs at least one task (source and destination).")
        recipients = data.get("recipients") or [None]
        if not isinstance(recipients, list):
            recipients = [recipients]
        qname = data.get("queue")
        queue = self.directory.queue(qname) if qname else self.directory.queue("medium")
        if queue is None:
            raise AccsynError("Unknown queue '%s'" % qname, "The queue '%s' does not exist." % qname)
        status = str(data.get("status") or "waiting").lower()
        if status not in ("init", "waiting", "paused", "pending"):
            raise AccsynError("Invalid job status '%s'" % status,
                              "A new job can be created waiting or paused, not '%s'." % status)
        for key in ("metadata", "settings"):
            if data.get(key) is not None and not isinstance(data[key], dict):
                raise AccsynError("Invalid %s" % key, "The job %s must be a JSON object." % key)
        created = []
        for recipient in recipients:
            job = Job(secrets.token_hex(12), "", caller.party, queue, copy.deepcopy(data), caller.api)
            job.mirror = bool(data.get("mirror_paths") or data.get("mirror"))
            if data.get("priority") is not None:
                try:
                    job.priority = int(data["priority"])
                except (TypeError, ValueError):
                    raise AccsynError("Invalid priority", "Job priority must be an integer 0-1000.")
            job.metadata = copy.deepcopy(data.get("metadata") or {})
            job.settings = copy.deepcopy(data.get("settings") or {})
            job.initial_status = "paused" if status == "paused" else "waiting"
            job.tasks = self._build_tasks(specs, job, recipient, caller)
            code = data.get("code") or data.get("name")
            if not code:
                first = job.tasks[0].src.rel
                code = first[-1] if first else "job"
            job.code = str(code)
            if self.directory.strict_create:
                self._strict_check(job, job.tasks)
            if data.get("append"):
                existing = self._append_target(job, caller)
                if existing is not None:
                    self._append_tasks(existing, job.tasks)
                    created.append(existing)
                    continue
            job.history.append((job.created, "init"))
            self.jobs[job.id] = job
            self.engine.start(job)
            created.append(job)
        return {"result": [j.public(self.directory.workspace) for j in created]}

    def _append_target(self, job, caller):
        for j in reversed(list(self.jobs.values())):
            if j.deleted or j.creator.id != caller.user["id"] or j.status == "aborted":
                continue
            if j.code.lower() == job.code.lower() and j.source_party.id == job.source_party.id and \
                    j.dest_party.id == job.dest_party.id:
                return j
        return None

    def _append_tasks(self, job, tasks):
        n = 1 + max([int(t.uri) for t in job.tasks if t.uri.isdigit()] or [-1])
        for t in tasks:
            t.uri = str(n)
            n += 1
            job.tasks.append(t)
        self._revive(job)

    def _revive(self, job):
        """Make a job pick up queued tasks: restart a finished runner, or wake the live one."""
        if job.status in ("done", "failed", "aborted"):
            job.finished = None
            job.message = None
            job.speed, job.etr = 0.0, ""
            job.set_status("waiting")
            self.engine.start(job)
        self.cond.notify_all()

    def _op_job_edit(self, env, data, query, caller):
        jid = self._target_job_id(env, query)
        if not jid:
            raise AccsynError("No job id", "job/edit needs the job id in the event 'id'.")
        job = self._job_by_id(jid, caller)
        if not isinstance(data, dict) or not data:
            raise AccsynError("No data to edit", "job/edit needs the attributes to change in 'data'.")
        if caller.role == "standard" and job.creator.id != caller.user["id"]:
            raise AccsynError("Permission denied", "Only the job's creator or an admin can edit it.", 403)
        for key in data:
            if key not in ("status", "code", "name", "priority", "metadata", "settings", "queue"):
                raise AccsynError("Attribute '%s' cannot be edited" % key,
                                  "The job attribute '%s' cannot be edited." % key)
        if "status" in data:
            self._set_job_status(job, str(data["status"]).lower())
        if "code" in data or "name" in data:
            job.code = str(data.get("code") or data.get("name"))
        if "priority" in data:
            try:
                job.priority = int(data["priority"])
            except (TypeError, ValueError):
                raise AccsynError("Invalid priority", "Job priority must be an integer 0-1000.")
        if isinstance(data.get("metadata"), dict):
            job.metadata.update(copy.deepcopy(data["metadata"]))
        if isinstance(data.get("settings"), dict):
            job.settings.update(copy.deepcopy(data["settings"]))
        if "queue" in data:
            q = self.directory.queue(data["queue"])
            if q is None:
                raise AccsynError("Unknown queue '%s'" % data["queue"], "The queue '%s' does not exist." % data["queue"])
            job.queue = q
        job.modified, job.modifier = now_str(), caller.user["id"]
        self.cond.notify_all()
        return {"result": [job.public(self.directory.workspace)]}

    def _set_job_status(self, job, status):
        cur = job.status
        if status == "paused":
            if cur in ("init", "waiting", "running"):
                job.set_status("paused")
                job.speed, job.etr = 0.0, ""
                for t in job.tasks:
                    if t.status in ("booting", "executing"):
                        t.status = "queued"
            elif cur != "paused":
                raise AccsynError("Cannot pause a %s job" % cur, "The job is %s and cannot be paused." % cur)
        elif status == "waiting":
            if cur == "init":
                job.initial_status = "waiting"
            elif cur == "paused":
                job.set_status("waiting")
            elif cur in ("failed", "aborted"):
                for t in job.tasks:
                    if t.status in ("failed", "booting", "executing"):
                        t.status, t.message, t.finished = "queued", None, None
                    if t.status == "queued":
                        t.plan, t.files_done, t.bytes_done, t.partial = None, 0, 0, 0
                self._revive(job)
        elif status == "aborted":
            if cur not in ("done", "aborted"):
                job.set_status("aborted")
                job.speed, job.etr, job.finished = -1.0, "", now_str()
                for t in job.tasks:
                    if t.status in ("booting", "executing"):
                        t.status = "queued"
        elif status == "done":
            if cur != "done":
                job.gen += 1          # stops the runner
                job.set_status("done")
                job.speed, job.etr, job.finished = 0.0, "", now_str()
        else:
            raise AccsynError("Invalid job status '%s'" % status,
                              "A job's status can be set to waiting (resume), paused, aborted or done, not '%s'."
                              % status)

    def _op_job_delete(self, env, data, query, caller):
        jid = self._target_job_id(env, query)
        job = self._job_by_id(jid, caller)
        if caller.role == "standard" and job.creator.id != caller.user["id"]:
            raise AccsynError("Permission denied", "Only the job's creator or an admin can delete it.", 403)
        if job.status not in ("done", "failed", "aborted"):
            job.set_status("aborted")
            job.speed, job.etr, job.finished = -1.0, "", now_str()
        job.deleted = True
        job.gen += 1
        self.cond.notify_all()
        d = job.public(self.directory.workspace)
        d["deleted"] = True
        return {"result": [d]}

    # -- tasks -------------------------------------------------------------

    def _task_rows(self, jobs):
        rows = []
        for j in jobs:
            for t in j.tasks:
                pub = t.public(j, self.directory)
                extras = {
                    "job": [j.id, j.code], "job.id": [j.id], "parent": [j.id], "job.code": [j.code],
                    "source": t.src.party.aliases() + [t.src.raw, t.src.rel_str],
                    "destination": t.dst.party.aliases() + [t.dst.raw, t.dst.rel_str],
                }
                rows.append((pub, extras))
        return rows

    def _op_task_find(self, env, data, query, caller):
        data = data if isinstance(data, dict) else {}
        jid = data.get("parent") or data.get("job") or self._target_job_id(env, query)
        if jid:
            jobs = [self._job_by_id(jid, caller)]
        else:
            jobs = [j for j in self.jobs.values() if self._visible(j, caller)]
        return self._filter(self._task_rows(jobs), query, data)

    def _op_task_create(self, env, data, query, caller):
        jid = self._target_job_id(env, query)
        if not jid:
            raise AccsynError("No job id", "task/create needs the job id in 'id' (or the query).")
        job = self._job_by_id(jid, caller)
        if not isinstance(data, dict) or not data:
            raise AccsynError("No tasks given", "task/create needs {\"tasks\": [...]} in 'data'.")
        specs = self._task_specs(data)
        if not specs:
            raise AccsynError("No tasks given", "task/create needs at least one task.")
        tasks = self._build_tasks([(None, s) for _, s in specs], job, None, caller)
        if data.get("allow_duplicates") is False:
            have = {(t.src.raw, t.dst.raw) for t in job.tasks}
            for t in tasks:
                if (t.src.raw, t.dst.raw) in have:
                    raise AccsynError("Duplicate task", "The job already has a task from '%s' to '%s'."
                                      % (t.src.raw, t.dst.raw))
        if self.directory.strict_create:
            self._strict_check(job, tasks)
        self._append_tasks(job, tasks)
        return {"result": [t.public(job, self.directory) for t in tasks]}

    def _op_task_edit(self, env, data, query, caller):
        jid = self._target_job_id(env, query)
        if not jid:
            raise AccsynError("No job id", "task/edit needs the job id in 'id'.")
        job = self._job_by_id(jid, caller)
        if isinstance(data, dict):
            data = data.get("tasks", [data])
        if not isinstance(data, list) or not data:
            raise AccsynError("No tasks to edit", "task/edit needs a list of {\"id\" or \"uri\", ...} in 'data'.")
        changed = []
        for item in data:
            if not isinstance(item, dict):
                raise AccsynError("Invalid task edit", "Each task edit must be a JSON object.")
            task = None
            for t in job.tasks:
                if (item.get("id") and t.id == str(item["id"]).lower()) or \
                        (item.get("uri") is not None and t.uri == str(item["uri"])):
                    task = t
                    break
            if task is None:
                raise AccsynError("Task not found", "The job has no task %s." % (item.get("id") or item.get("uri")),
                                  404)
            for key in item:
                if key not in ("id", "uri", "status", "priority", "metadata"):
                    raise AccsynError("Attribute '%s' cannot be edited" % key,
                                      "Only a task's status, priority and metadata can be edited, not '%s'." % key)
            if "status" in item:
                st = str(item["status"]).lower()
                if st not in TASK_WRITABLE:
                    raise AccsynError("Invalid task status '%s'" % st,
                                      "A task's status can be set to %s, not '%s'." % (", ".join(TASK_WRITABLE), st))
                if st == "queued" and task.status in ("failed", "done", "excluded"):
                    task.plan, task.files_done, task.bytes_done, task.partial = None, 0, 0, 0
                    task.message, task.finished = None, None
                task.status = st
                if st in ("done", "failed"):
                    task.finished = now_str()
            if "priority" in item:
                try:
                    task.priority = int(item["priority"])
                except (TypeError, ValueError):
                    raise AccsynError("Invalid priority", "Task priority must be an integer 0-1000.")
            if isinstance(item.get("metadata"), dict):
                task.metadata.update(copy.deepcopy(item["metadata"]))
            changed.append(task)
        if job.status in ("done", "failed") and any(t.status == "queued" for t in job.tasks):
            self._revive(job)
        self.cond.notify_all()
        return {"result": [t.public(job, self.directory) for t in changed]}

    # -- directory entities ------------------------------------------------

    def _op_site_find(self, env, data, query, caller):
        rows = [(copy.deepcopy(s), {}) for s in self.directory.sites.values()]
        if env.get("id"):
            rows = [r for r in rows if r[0]["id"] == str(env["id"]).lower()]
        return self._filter(rows, query, data)

    def _op_user_find(self, env, data, query, caller):
        users = list(self.directory.users.values())
        if caller.role == "standard":
            users = [u for u in users if u["id"] == caller.user["id"]]
        rows = [(self.directory.user_public(u), {"email": [u["code"]], "clearance": [u["role"]]}) for u in users]
        if env.get("id"):
            rows = [r for r in rows if r[0]["id"] == str(env["id"]).lower()]
        return self._filter(rows, query, data)

    def _op_volume_find(self, env, data, query, caller, as_share=False):
        rows = [(self.directory.volume_public(v, as_share), {}) for v in self.directory.volumes]
        if env.get("id"):
            rows = [r for r in rows if r[0]["id"] == str(env["id"]).lower()]
        return self._filter(rows, query, data)

    def _op_client_find(self, env, data, query, caller):
        rows = []
        for c in self.directory.clients:
            u = self.directory.user_record(c["user"]) if c.get("user") else None
            pub = {"id": c["id"], "code": c["code"], "type": c["type"], "status": c["status"],
                   "user": u["id"] if u else None, "user_hr": u["code"] if u else None,
                   "site": (self.directory.site(c["site"]).id if c.get("site") and self.directory.site(c["site"])
                            else None)}
            rows.append((pub, {"user": [pub["user"], pub["user_hr"]]}))
        return self._filter(rows, query, data)


__all__ = ["AccsynService", "Directory", "DISCOVERY_ID", "json_response", "parse_query", "evaluate",
           "Endpoint", "TASK_STATUSES"]
