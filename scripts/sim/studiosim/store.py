"""Entity store and schema for the simulated ftrack server.

The schema is the real one a server returns from `query_schemas`
(data/query_schemas.json, 116 types, from ftrack-javascript's fixtures). The
store keeps every entity as a plain dict of attribute values keyed by its id,
with indexes by concrete type and by every foreign-key field, so that the
queries a browsing client sends (`parent_id is X`, `asset_id in (...)`,
`asset.context_id is X`, ...) are answered from indexes, not by scanning.

Relations are derived from foreign keys using the schema:
  scalar relation `foo`      -> the entity whose id is in `foo_id` (Asset.parent -> context_id);
                                a $ref with no FK field (Status.state) stores the id under its own name
  collection `foos`          -> entities of the item type whose FK points back here
                                (children -> parent_id, versions -> asset_id, ...)
  computed                   -> link, ancestors, descendants, latest_version, is_latest_version

Batches are atomic: mutations between begin() and commit() are recorded in an
undo log and rolled back on failure. Every committed mutation is appended to a
change log (sequence number, action, entity type, id, keys).
"""

import datetime
import hashlib
import json
import threading
import time
import uuid

MISSING = object()

TYPED_CONTEXT_CLASSIFIER = "object_typeid"
PRIORITY_NONE_ID = "9661b320-3a0c-11e2-81c1-0800200c9a66"

# Collections whose back-reference is ambiguous in the schema.
COLL_OVERRIDE = {
    "children": "parent_id",
    "versions": "asset_id",
    "components": "version_id",
    "component_locations": "component_id",
    "members": "container_id",
    "location_components": "location_id",
}
REF_OVERRIDE = {("Asset", "parent"): "context_id"}
COMPONENT_SYSTEM_TYPE = {
    "FileComponent": "file",
    "ContainerComponent": "container",
    "SequenceComponent": "sequence",
}


class FtrackError(Exception):
    """An error reported to the client as {"exception", "content", "error_code"}."""

    def __init__(self, exception, content):
        super().__init__("%s(%s)" % (exception, content))
        self.exception = exception
        self.content = content


def now_str():
    return datetime.datetime.utcnow().replace(microsecond=0).isoformat()


def parse_datetime(value):
    """Turn an ISO string or a {"__type__": "datetime"} dict into the stored
    naive-UTC form "YYYY-MM-DDTHH:MM:SS". Returns None for None."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("value")
        if value is None:
            return None
    if isinstance(value, (int, float)):
        return datetime.datetime.utcfromtimestamp(value).replace(microsecond=0).isoformat()
    s = str(value).strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    try:
        if len(s) == 10:
            d = datetime.datetime.strptime(s, "%Y-%m-%d")
        else:
            d = datetime.datetime.fromisoformat(s.replace(" ", "T", 1))
    except ValueError:
        raise FtrackError("ValidationError", "Invalid datetime value %r." % (value,))
    if d.tzinfo is not None:
        d = d.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return d.replace(microsecond=0).isoformat()


class Schema:
    """The entity schemas plus the type hierarchy the simulator needs."""

    def __init__(self, schemas):
        self.raw = schemas
        self.hash = hashlib.md5(json.dumps(schemas, sort_keys=True).encode()).hexdigest()
        self.types = {s["id"]: s for s in schemas}
        self.by_lower = {k.lower(): k for k in self.types}
        self.classifier = {}          # TypedContext subtype -> object_type_id
        self.type_for_object_type = {}
        for name, s in self.types.items():
            alias = s.get("alias_for")
            if isinstance(alias, dict) and alias.get("id") == "Task":
                oid = alias.get("classifiers", {}).get(TYPED_CONTEXT_CLASSIFIER)
                if oid:
                    self.classifier[name] = oid
                    self.type_for_object_type[oid] = name
        typed = sorted(self.classifier)
        components = [t for t in ("FileComponent", "ContainerComponent", "SequenceComponent") if t in self.types]
        # Base type -> concrete types whose rows it returns.
        self._concrete = {
            "TypedContext": tuple(typed),
            "Context": tuple(["Project"] + typed),
            "Component": tuple(components),
            "ContainerComponent": ("ContainerComponent", "SequenceComponent"),
        }
        self.abstract = {"TypedContext", "Context", "Component"}
        self._bases = {}
        for t in self.types:
            bases = [t]
            for base, members in self._concrete.items():
                if t in members and base != t:
                    bases.append(base)
            self._bases[t] = bases
        self._rel_cache = {}
        self._props_cache = {}
        self._indexed_cache = {}

    def canonical(self, name):
        """Schema id for a type name as written in a query (case-insensitive)."""
        if name in self.types:
            return name
        return self.by_lower.get(name.lower())

    def concrete(self, t):
        return self._concrete.get(t, (t,))

    def bases(self, t):
        return self._bases.get(t, [t])

    def is_a(self, concrete_type, t):
        return t == concrete_type or t in self._bases.get(concrete_type, ())

    def props(self, t):
        """Properties of t; for a base type, the union over its concrete types."""
        p = self._props_cache.get(t)
        if p is None:
            p = {}
            for c in (t,) + tuple(x for x in self.concrete(t) if x != t):
                if c in self.types:
                    for k, v in self.types[c]["properties"].items():
                        p.setdefault(k, v)
            self._props_cache[t] = p
        return p

    def prop(self, t, attr):
        return self.props(t).get(attr)

    def is_typed_context(self, t):
        return t in self.classifier or t == "TypedContext"

    def system_projections(self, t):
        """Wire names of the attributes always returned for type t."""
        s = self.types.get(t)
        if s is None:
            return []
        props = s["properties"]
        out = []
        for name in s.get("system_projections", []):
            if name in props:
                out.append(name)
                continue
            for k, v in props.items():
                if v.get("alias_for") == name:
                    out.append(k)
                    break
        if self.is_typed_context(t) and "object_type_id" not in out:
            out.append("object_type_id")
        return out

    def primary_key(self, t):
        s = self.types.get(t)
        return s.get("primary_key", ["id"]) if s else ["id"]

    def relation(self, t, attr):
        """Describe attribute attr of (concrete or base) type t:
        ("scalar", None, None) | ("ref", target, fk_field) |
        ("coll", target, back_fk) | ("computed_coll", target, attr) |
        ("computed_ref", target, attr) | None when unknown."""
        key = (t, attr)
        if key in self._rel_cache:
            return self._rel_cache[key]
        r = self._relation(t, attr)
        self._rel_cache[key] = r
        return r

    def _relation(self, t, attr):
        prop = self.prop(t, attr)
        if prop is None:
            return None
        if "$ref" in prop:
            target = prop["$ref"]
            if attr == "latest_version":
                return ("computed_ref", target, attr)
            for base in self.bases(t):
                if (base, attr) in REF_OVERRIDE:
                    return ("ref", target, REF_OVERRIDE[(base, attr)])
            props = self.props(t)
            if attr + "_id" in props:
                return ("ref", target, attr + "_id")
            return ("ref", target, attr)
        if prop.get("type") in ("array", "mapped_array") and isinstance(prop.get("items"), dict) \
                and "$ref" in prop["items"]:
            target = prop["items"]["$ref"]
            if prop.get("type") == "mapped_array":
                return ("computed_coll", target, attr)
            if attr in ("ancestors", "descendants"):
                return ("computed_coll", target, attr)
            tprops = self.props(target)
            if attr in COLL_OVERRIDE and COLL_OVERRIDE[attr] in tprops:
                return ("coll", target, COLL_OVERRIDE[attr])
            wanted = {"Foreign key(s): %s.id" % b for b in self.bases(t)}
            if t in self._concrete:
                wanted |= {"Foreign key(s): %s.id" % c for c in self.concrete(t)}
            found = [k for k, v in tprops.items()
                     if k != "id" and v.get("format") == "foreign_key" and v.get("description") in wanted]
            if len(found) == 1:
                return ("coll", target, found[0])
            return ("computed_coll", target, attr)
        return ("scalar", None, None)

    def indexed_fields(self, t):
        """Fields of concrete type t kept in the foreign-key index."""
        f = self._indexed_cache.get(t)
        if f is None:
            f = []
            for k, v in self.types[t]["properties"].items():
                if k == "id":
                    continue
                if v.get("format") == "foreign_key":
                    f.append(k)
                elif "$ref" in v:
                    r = self.relation(t, k)
                    if r and r[0] == "ref" and r[2] == k:
                        f.append(k)
            self._indexed_cache[t] = f
        return f

    def attr_kind(self, t, attr):
        """Scalar kind for coercing literals: 'string', 'integer', 'number',
        'boolean', 'datetime', 'ref' or None."""
        p = self.prop(t, attr)
        if p is None:
            return None
        if "$ref" in p:
            return "ref"
        if p.get("format") == "date-time":
            return "datetime"
        return p.get("type")


class Store:
    """All entities of one simulated ftrack server. Not thread-safe by itself:
    callers hold `lock` around a batch."""

    def __init__(self, schema):
        self.schema = schema
        self.lock = threading.RLock()
        self.by_id = {}
        self.by_type = {}
        self.seq = {}
        self._next_seq = 0
        self.fk = {}                 # field -> value -> {id: None}
        self.changes = []            # change log
        self._change_seq = 0
        self._undo = None
        self._changes_mark = 0

    # ---- reading -------------------------------------------------------
    def get(self, key):
        return self.by_id.get(key)

    def get_typed(self, t, key):
        rec = self.by_id.get(key)
        if rec is None or not self.schema.is_a(rec["__entity_type__"], t):
            return None
        return rec

    def iter_type(self, t):
        """Entities of t and its subtypes, in insertion order."""
        types = [c for c in self.schema.concrete(t) if c in self.by_type]
        if len(types) == 1:
            return iter(list(self.by_type[types[0]].values()))
        if not types:
            return iter(())
        allrecs = []
        for c in types:
            allrecs.extend(self.by_type[c].values())
        allrecs.sort(key=lambda r: self.seq[r["id"]])
        return iter(allrecs)

    def count_type(self, t):
        return sum(len(self.by_type.get(c, ())) for c in self.schema.concrete(t))

    def lookup_fk(self, field, value):
        d = self.fk.get(field)
        if not d:
            return ()
        return d.get(value, ())

    def related(self, rec, attr):
        """Value of a relation attribute: an entity or None for scalar
        relations, a list for collections. Raises KeyError if attr is not a
        relation of rec's type."""
        t = rec["__entity_type__"]
        rel = self.schema.relation(t, attr)
        if rel is None or rel[0] == "scalar":
            raise KeyError(attr)
        kind, target, field = rel
        if kind == "ref":
            v = rec.get(field)
            if v is None:
                return None
            if isinstance(v, dict):
                v = v.get("id")
            return self.get_typed(target, v) if target not in self.schema.abstract \
                else self.get_typed(target, v)
        if kind == "coll":
            ids = self.lookup_fk(field, rec["id"])
            out = []
            for k in ids:
                r = self.by_id.get(k)
                if r is not None and self.schema.is_a(r["__entity_type__"], target):
                    out.append(r)
            out.sort(key=lambda r: self.seq[r["id"]])
            return out
        if kind == "computed_ref":
            if attr == "latest_version":
                return self.latest_version(rec["id"])
            return None
        # computed collections
        if attr == "ancestors":
            out = []
            p = self.parent_of(rec)
            while p is not None and p["__entity_type__"] != "Project":
                out.append(p)
                p = self.parent_of(p)
            out.reverse()
            return out
        if attr == "descendants":
            out = []
            stack = [rec]
            while stack:
                cur = stack.pop(0)
                for k in self.lookup_fk("parent_id", cur["id"]):
                    c = self.by_id.get(k)
                    if c is not None and c["__entity_type__"] != "Project":
                        out.append(c)
                        stack.append(c)
            return out
        return []

    def parent_of(self, rec):
        pid = rec.get("parent_id") if rec["__entity_type__"] != "Asset" else rec.get("context_id")
        if pid is None:
            return None
        return self.by_id.get(pid)

    def latest_version(self, asset_id):
        best = None
        for k in self.lookup_fk("asset_id", asset_id):
            r = self.by_id.get(k)
            if r is None or r["__entity_type__"] != "AssetVersion":
                continue
            if best is None or (r.get("version") or 0) > (best.get("version") or 0):
                best = r
        return best

    def link(self, rec):
        t = rec["__entity_type__"]
        if t == "AssetVersion":
            asset = self.by_id.get(rec.get("asset_id"))
            if asset is None:
                return [{"id": rec["id"], "name": "", "type": "AssetVersion"}]
            ctx = self.by_id.get(asset.get("context_id"))
            chain = self.link(ctx) if ctx is not None else []
            return chain + [{"id": rec["id"], "name": asset.get("name") or "", "type": "AssetVersion"}]
        chain = []
        cur = rec
        seen = set()
        while cur is not None and cur["id"] not in seen:
            seen.add(cur["id"])
            chain.append({"id": cur["id"], "name": cur.get("name") or "", "type": cur["__entity_type__"]})
            if cur["__entity_type__"] == "Project":
                break
            cur = self.by_id.get(cur.get("parent_id")) if cur.get("parent_id") else None
        chain.reverse()
        return chain

    def scalar(self, rec, attr):
        """Value of a scalar attribute (stored or computed), MISSING if the
        type has no such attribute."""
        if attr in rec:
            return rec[attr]
        t = rec["__entity_type__"]
        if attr in ("link", "_link") and (t == "AssetVersion" or self.schema.is_a(t, "Context")):
            return self.link(rec)
        if attr == "is_latest_version" and t == "AssetVersion":
            lv = self.latest_version(rec.get("asset_id"))
            return lv is not None and lv["id"] == rec["id"]
        p = self.schema.types.get(t, {}).get("properties", {}).get(attr)
        if p is None:
            return MISSING
        if attr in ("time_logged", "bid_time_logged_difference"):
            return 0
        return None

    # ---- writing -------------------------------------------------------
    def begin(self):
        self._undo = []
        self._changes_mark = len(self.changes)

    def commit(self):
        self._undo = None

    def rollback(self):
        undo, self._undo = self._undo, None
        for entry in reversed(undo or []):
            op = entry[0]
            if op == "insert":
                self._remove(entry[1])
            elif op == "remove":
                self._insert(entry[1], seq=entry[2])
            elif op == "update":
                rec = self.by_id[entry[1]]
                self._set_fields(rec, entry[2])
        del self.changes[self._changes_mark:]
        self._change_seq = self.changes[-1]["seq"] if self.changes else 0

    def _index(self, rec, add):
        t = rec["__entity_type__"]
        for f in self.schema.indexed_fields(t):
            v = rec.get(f)
            if isinstance(v, dict):
                v = v.get("id")
            if v is None:
                continue
            d = self.fk.setdefault(f, {})
            if add:
                d.setdefault(v, {})[rec["id"]] = None
            else:
                s = d.get(v)
                if s is not None:
                    s.pop(rec["id"], None)
                    if not s:
                        del d[v]

    def _insert(self, rec, seq=None):
        key = rec["id"]
        self.by_id[key] = rec
        self.by_type.setdefault(rec["__entity_type__"], {})[key] = rec
        if seq is None:
            self._next_seq += 1
            seq = self._next_seq
        self.seq[key] = seq
        self._index(rec, True)

    def _remove(self, key):
        rec = self.by_id.pop(key)
        self.by_type[rec["__entity_type__"]].pop(key, None)
        self._index(rec, False)
        return rec, self.seq.pop(key)

    def _set_fields(self, rec, values):
        self._index(rec, False)
        for k, v in values.items():
            if v is MISSING:
                rec.pop(k, None)
            else:
                rec[k] = v
        self._index(rec, True)

    def _log_change(self, action, rec, keys):
        self._change_seq += 1
        self.changes.append({
            "seq": self._change_seq, "time": time.time(), "action": action,
            "entity_type": rec["__entity_type__"], "id": rec["id"], "keys": sorted(keys),
            "parent_id": rec.get("parent_id") or rec.get("context_id") or rec.get("asset_id")
            or rec.get("version_id") or rec.get("component_id"),
        })

    def insert(self, rec, log=True):
        if rec["id"] in self.by_id:
            raise FtrackError("ValidationError", "Duplicate entry for key %s (%s)." % (
                rec["id"], rec["__entity_type__"]))
        self._insert(rec)
        if self._undo is not None:
            self._undo.append(("insert", rec["id"]))
        if log:
            self._log_change("add", rec, [k for k in rec if not k.startswith("__")])

    def update(self, key, values):
        rec = self.by_id[key]
        old = {k: rec.get(k, MISSING) for k in values}
        self._set_fields(rec, values)
        if self._undo is not None:
            self._undo.append(("update", key, old))
        self._log_change("update", rec, list(values))

    def remove(self, key):
        rec, seq = self._remove(key)
        if self._undo is not None:
            self._undo.append(("remove", rec, seq))
        self._log_change("remove", rec, [])
        return rec

    def new_id(self):
        return str(uuid.uuid4())
