"""The ftrack `/api` endpoint: authentication, batches, actions.

Follows protocols/ftrack.md: one POST carries a JSON array of operations and
gets back an array of results; any failing operation makes the whole batch
fail (it is rolled back) and the reply is the single error object
{"exception", "content", "error_code": null} -- HTTP 200, or an error status
when the client sends `ftrack-strict-api: true`.
"""

import copy
import json

from .query import Encoder, Evaluator, parse, projection_tree
from .store import FtrackError, MISSING, now_str, parse_datetime

SERVER_VERSION = "4.13.8"
STATUS_NOT_STARTED = "44dd9fb2-4164-11df-9218-0019bb4983d8"
INVALID_CREDENTIALS = (
    "The supplied API key is not valid. API keys are created from Settings under the page API keys. "
    "The api key should be passed in the request header \"ftrack-api-key\".")

# Owned collections deleted together with their owner.
CASCADE = ("children", "assets", "versions", "components", "members",
           "component_locations", "location_components")
# Required attributes the simulator fills in or does not insist on.
RELAXED_REQUIRED = {"bid", "sort", "type_id"}


def error_body(exception, content):
    return {"exception": exception, "content": content, "error_code": None}


def parse_api_options(value):
    opts = {}
    for part in (value or "").split(";"):
        part = part.strip()
        if not part:
            continue
        for sep in (":", "="):
            if sep in part:
                k, v = part.split(sep, 1)
                opts[k.strip().lower()] = v.strip()
                break
        else:
            opts[part.lower()] = "1"
    return opts


class FtrackService:
    def __init__(self, store, users):
        self.store = store
        self.schema = store.schema
        self.users = {u["username"]: u for u in users}

    # ------------------------------------------------------------------
    def authenticate(self, headers):
        user = headers.get("ftrack-user")
        key = headers.get("ftrack-api-key")
        u = self.users.get(user or "")
        if u is None or not key or u.get("api_key") != key:
            return None
        return u

    def handle(self, req):
        """Answer one HTTP request to the ftrack listener. Returns
        (status, body bytes, info, n_ops)."""
        strict = (req.headers.get("ftrack-strict-api") or "").strip().lower() in ("true", "1", "yes")
        path = req.path.rstrip("/") or "/"
        if path != "/api":
            body = error_body("NotFoundError", "No such endpoint %s." % req.path)
            return 404, _dump(body), "%s %s" % (req.method, req.path), 0
        if req.method != "POST":
            body = error_body("MethodNotAllowed", "Use POST %s." % req.path)
            return 405, _dump(body), "%s %s" % (req.method, req.path), 0
        try:
            ops = json.loads(req.body.decode("utf-8") if req.body else "")
        except (ValueError, UnicodeDecodeError) as e:
            return (400 if strict else 200), _dump(error_body(
                "ServerError", "Could not decode the request body as JSON: %s" % e)), "invalid json", 0
        if isinstance(ops, dict):
            ops = [ops]
        if not isinstance(ops, list):
            return (400 if strict else 200), _dump(error_body(
                "ServerError", "The request body must be a JSON array of operations.")), "invalid batch", 0
        info = "; ".join(_describe(op) for op in ops)
        user = self.authenticate(req.headers)
        if user is None:
            return (401 if strict else 200), _dump(error_body(
                "InvalidCredentialsError", INVALID_CREDENTIALS)), info, len(ops)
        opts = parse_api_options(req.headers.get("ftrack-api-options"))
        dedup = opts.get("denormalize", "0") in ("0", "false", "")
        status, result = self.run_batch(ops, user, dedup)
        if status != 200 and not strict:
            status = 200
        return status, _dump(result), info, len(ops)

    def unauthorized_body(self):
        return _dump(error_body("InvalidCredentialsError", INVALID_CREDENTIALS))

    def run_batch(self, ops, user, dedup=True):
        store = self.store
        with store.lock:
            store.begin()
            try:
                results = [self.dispatch(op, user, dedup) for op in ops]
            except FtrackError as e:
                store.rollback()
                code = 401 if e.exception == "InvalidCredentialsError" else 400
                return code, error_body(e.exception, e.content)
            except Exception as e:    # a bug in the simulator: still answer like a server
                store.rollback()
                return 500, error_body("ServerError", "%s: %s" % (type(e).__name__, e))
            store.commit()
            return 200, results

    def dispatch(self, op, user, dedup):
        if not isinstance(op, dict):
            raise FtrackError("ServerError", "Operation must be an object, got %r." % (op,))
        action = op.get("action")
        fn = {
            "query_server_information": self.op_server_information,
            "query_schemas": self.op_schemas,
            "query": self.op_query,
            "create": self.op_create,
            "update": self.op_update,
            "delete": self.op_delete,
            "reset_remote": self.op_reset_remote,
        }.get(action)
        if fn is None:
            raise FtrackError("ServerError", "Invalid action u'%s'" % (action,))
        return fn(op, user, dedup)

    # ------------------------------------------------------------------
    def op_server_information(self, op, user, dedup):
        info = {
            "version": SERVER_VERSION,
            "schema_hash": self.schema.hash,
            "is_timezone_support_enabled": True,
            "storage_scenario": {"scenario": "ftrack.automatic", "data": {}},
            "user_information": {
                "id": user.get("id"), "username": user["username"],
                "first_name": user.get("first_name", ""), "last_name": user.get("last_name", ""),
                "permissions": [],
            },
            "is_nested_subqueries_enabled": True,
            "week_startday": 0,
            "workday_length": 28800,
        }
        values = op.get("values")
        if isinstance(values, list):
            info = {k: v for k, v in info.items() if k in values or k == "version"}
        return info

    def op_schemas(self, op, user, dedup):
        return self.schema.raw

    def op_query(self, op, user, dedup):
        expr = op.get("expression")
        if not isinstance(expr, str):
            raise FtrackError("ParseError", "Missing query expression.")
        q = parse(expr)
        ev = Evaluator(self.store)
        t = ev.resolve_type(q.type)
        if q.projections is None:
            q.projections = [[(a, None)] for a in self.schema.types[t].get("default_projections", ["id"])]
        for p in q.projections:
            ev.walk_path(t, p)
        rows, more = ev.select(q)
        enc = Encoder(self.store, dedup=dedup)
        tree = projection_tree(q.projections)
        data = [enc.entity(r, tree) for r in rows]
        nxt = (q.offset or 0) + len(rows) if more else None
        return {"action": "query", "data": data, "metadata": {"next": {"offset": nxt}}}

    # ------------------------------------------------------------------
    def _type(self, op):
        name = op.get("entity_type")
        t = self.schema.canonical(name) if isinstance(name, str) else None
        if t is None:
            raise FtrackError("ValidationError", "Unknown entity type %r." % (name,))
        return t

    @staticmethod
    def _key(op):
        k = op.get("entity_key")
        if isinstance(k, list):
            k = k[0] if k else None
        if isinstance(k, dict):
            k = k.get("id")
        return k

    def _convert(self, t, data, creating):
        """Entity data from the wire -> (stored field values, collection assignments)."""
        props = self.schema.types[t]["properties"]
        values, colls = {}, {}
        for attr, v in data.items():
            if attr.startswith("__"):
                continue
            p = props.get(attr)
            if p is None:
                raise FtrackError("ValidationError", "%s has no attribute %r." % (t, attr))
            rel = self.schema.relation(t, attr)
            if attr in ("link", "_link", "is_latest_version", "thumbnail_url", "url", "latest_version",
                        "time_logged", "bid_time_logged_difference"):
                continue       # computed
            if rel[0] == "ref":
                ref = v.get("id") if isinstance(v, dict) else v
                if ref is not None:
                    if not isinstance(ref, str) or self.store.get_typed(rel[1], ref) is None:
                        raise FtrackError("ValidationError", "%s.%s refers to a %s that does not exist: %r." % (
                            t, attr, rel[1], ref))
                values[rel[2]] = ref
                continue
            if rel[0] in ("coll", "computed_coll"):
                if rel[0] == "coll" and isinstance(v, list):
                    colls[attr] = (rel, [x.get("id") if isinstance(x, dict) else x for x in v])
                continue
            if attr != "id" and p.get("format") == "foreign_key" and v is not None:
                tgt = self._fk_target(p)
                if tgt and self.store.get_typed(tgt, v) is None:
                    raise FtrackError("ValidationError", "%s.%s refers to a %s that does not exist: %r." % (
                        t, attr, tgt, v))
            if p.get("format") == "date-time":
                v = parse_datetime(v)
            elif isinstance(v, dict) and v.get("__type__") == "date":
                v = v.get("value")
            values[attr] = v
        return values, colls

    def _fk_target(self, p):
        d = p.get("description") or ""
        if d.startswith("Foreign key(s): ") and d.endswith(".id"):
            t = d[len("Foreign key(s): "):-3]
            if t in self.schema.types and t != "User":
                return t
        return None

    def _assign_colls(self, rec, colls):
        for attr, (rel, ids) in colls.items():
            field = rel[2]
            for i in ids:
                item = self.store.get(i)
                if item is not None and item.get(field) != rec["id"]:
                    self.store.update(i, {field: rec["id"]})

    def _project_of(self, parent_id):
        p = self.store.get(parent_id) if parent_id else None
        if p is None:
            return None
        if p["__entity_type__"] == "Project":
            return p["id"]
        return p.get("project_id")

    def op_create(self, op, user, dedup):
        t = self._type(op)
        if t in self.schema.abstract:
            raise FtrackError("ValidationError", "Cannot create an entity of the abstract type %s." % t)
        if self.schema.primary_key(t) != ["id"]:
            raise FtrackError("ValidationError", "The simulator cannot create %s entities." % t)
        schema = self.schema.types[t]
        data = op.get("entity_data") or {}
        if not isinstance(data, dict):
            raise FtrackError("ValidationError", "entity_data must be an object.")
        rec = {"__entity_type__": t}
        for attr, p in schema["properties"].items():
            if "default" in p:
                d = p["default"]
                rec[attr] = self.store.new_id() if d == "{uid}" else copy.deepcopy(d)
        key = self._key(op)
        if key is not None and "id" not in data:
            rec["id"] = key
        values, colls = self._convert(t, data, True)
        rec.update(values)
        self._create_defaults(t, rec, user)
        required = set(schema.get("required", []))
        if self.schema.is_typed_context(t):
            required -= RELAXED_REQUIRED
        missing = sorted(a for a in required if rec.get(a) is None)
        if missing:
            raise FtrackError("ValidationError", "Missing required attribute(s) for %s: %s." % (
                t, ", ".join(missing)))
        self._check_create(t, rec)
        self.store.insert(rec)
        self._assign_colls(rec, colls)
        return {"action": "create", "data": Encoder(self.store, dedup).full(rec)}

    def _create_defaults(self, t, rec, user):
        s = self.schema
        now = now_str()
        if s.is_a(t, "Context"):
            rec.setdefault("created_at", now)
            if rec.get("created_at") is None:
                rec["created_at"] = now
            if rec.get("created_by_id") is None:
                rec["created_by_id"] = user.get("id")
        if t == "Project":
            rec["context_type"] = "show"
            if rec.get("status") is None:
                rec["status"] = "active"
            if rec.get("full_name") is None:
                rec["full_name"] = rec.get("name")
        elif s.is_typed_context(t):
            rec["context_type"] = "task"
            rec["object_type_id"] = s.classifier[t]
            if rec.get("status_id") is None and self.store.get(STATUS_NOT_STARTED):
                rec["status_id"] = STATUS_NOT_STARTED
            for a in ("bid", "sort"):
                if rec.get(a) is None:
                    rec[a] = 0
            rec["project_id"] = self._project_of(rec.get("parent_id"))
        elif t == "AssetVersion":
            if rec.get("date") is None:
                rec["date"] = now
            if rec.get("status_id") is None and self.store.get(STATUS_NOT_STARTED):
                rec["status_id"] = STATUS_NOT_STARTED
            if rec.get("user_id") is None:
                rec["user_id"] = user.get("id")
            if rec.get("version") is None and rec.get("asset_id"):
                lv = self.store.latest_version(rec["asset_id"])
                rec["version"] = (lv.get("version") or 0) + 1 if lv else 1
        elif t in ("FileComponent", "ContainerComponent", "SequenceComponent"):
            rec["system_type"] = {"FileComponent": "file", "ContainerComponent": "container",
                                  "SequenceComponent": "sequence"}[t]
        elif t == "Job":
            rec.setdefault("created_at", now)
            if rec.get("user_id") is None:
                rec["user_id"] = user.get("id")
        elif t == "User":
            rec["resource_type"] = "user"

    def _check_create(self, t, rec):
        s = self.schema
        if s.is_typed_context(t) and not rec.get("parent_id"):
            raise FtrackError("ValidationError", "A %s must have a parent." % t)
        if t == "Asset" and not rec.get("context_id"):
            raise FtrackError("ValidationError", "An Asset must have a parent context.")
        if t == "AssetVersion" and not rec.get("asset_id"):
            raise FtrackError("ValidationError", "An AssetVersion must have an asset.")
        if t == "ComponentLocation":
            if not rec.get("component_id") or not rec.get("location_id"):
                raise FtrackError("ValidationError", "A ComponentLocation needs a component and a location.")
            for k in self.store.lookup_fk("component_id", rec["component_id"]):
                other = self.store.get(k)
                if other and other["__entity_type__"] == "ComponentLocation" and \
                        other.get("location_id") == rec["location_id"]:
                    raise FtrackError("ValidationError", "Component %s is already in location %s." % (
                        rec["component_id"], rec["location_id"]))
        if t == "Location":
            for other in self.store.iter_type("Location"):
                if other.get("name") == rec.get("name"):
                    raise FtrackError("ValidationError", "A location named %r already exists." % rec["name"])
        if t in ("Project", "User"):
            field = "name" if t == "Project" else "username"
            for other in self.store.iter_type(t):
                if other.get(field) == rec.get(field):
                    raise FtrackError("ValidationError", "A %s with %s %r already exists." % (
                        t, field, rec.get(field)))

    def op_update(self, op, user, dedup):
        t = self._type(op)
        key = self._key(op)
        rec = self.store.get_typed(t, key) if isinstance(key, str) else None
        if rec is None:
            raise FtrackError("NotFoundError", "%s(%r) was not found." % (t, key))
        t = rec["__entity_type__"]
        data = op.get("entity_data") or {}
        if "id" in data and data["id"] != rec["id"]:
            raise FtrackError("ValidationError", "The primary key of %s is immutable." % t)
        values, colls = self._convert(t, {k: v for k, v in data.items() if k != "id"}, False)
        if self.schema.is_typed_context(t):
            values.pop("object_type_id", None)
            values.pop("context_type", None)
        if "parent_id" in values and self.schema.is_typed_context(t):
            if not values["parent_id"]:
                raise FtrackError("ValidationError", "A %s must have a parent." % t)
            cur = values["parent_id"]
            while cur:
                if cur == rec["id"]:
                    raise FtrackError("ValidationError", "Cannot move %s below itself." % t)
                p = self.store.get(cur)
                cur = p.get("parent_id") if p else None
        changed = {k: v for k, v in values.items() if rec.get(k, MISSING) != v}
        if changed:
            self.store.update(rec["id"], changed)
        if "parent_id" in changed and self.schema.is_typed_context(t):
            self._fix_project(rec)
        self._assign_colls(rec, colls)
        enc = Encoder(self.store, dedup)
        out = enc.entity(rec, {k: {} for k in data if not k.startswith("__")
                               and self.schema.relation(t, k) and self.schema.relation(t, k)[0] == "scalar"})
        return {"action": "update", "data": out}

    def _fix_project(self, rec):
        proj = self._project_of(rec.get("parent_id"))
        stack = [rec]
        while stack:
            cur = stack.pop()
            if cur["__entity_type__"] != "Project" and cur.get("project_id") != proj:
                self.store.update(cur["id"], {"project_id": proj})
            for k in list(self.store.lookup_fk("parent_id", cur["id"])):
                c = self.store.get(k)
                if c is not None:
                    stack.append(c)

    def op_delete(self, op, user, dedup):
        t = self._type(op)
        key = self._key(op)
        rec = self.store.get_typed(t, key) if isinstance(key, str) else None
        if rec is None:
            raise FtrackError("NotFoundError", "%s(%r) was not found." % (t, key))
        order = []
        seen = set()

        def visit(r):
            if r["id"] in seen:
                return
            seen.add(r["id"])
            for attr in CASCADE:
                rel = self.schema.relation(r["__entity_type__"], attr)
                if rel and rel[0] == "coll":
                    for c in self.store.related(r, attr):
                        visit(c)
            order.append(r["id"])
        visit(rec)
        for k in order:
            self.store.remove(k)
        return {"action": "delete", "data": True}

    def op_reset_remote(self, op, user, dedup):
        if op.get("reset_type") != "api_key":
            raise FtrackError("ValidationError", "Unsupported reset_type %r." % op.get("reset_type"))
        key = self._key(op) if not isinstance(op.get("entity_key"), str) else op["entity_key"]
        for u in self.users.values():
            if u.get("id") == key:
                u["api_key"] = self.store.new_id()
                return {"action": "reset_remote", "data": u["api_key"]}
        raise FtrackError("NotFoundError", "User %r was not found." % (key,))


def _describe(op):
    if not isinstance(op, dict):
        return "?"
    a = op.get("action")
    if a == "query":
        return "query: %s" % op.get("expression")
    if a in ("create", "update", "delete"):
        return "%s %s" % (a, op.get("entity_type"))
    return str(a)


def _dump(obj):
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")
