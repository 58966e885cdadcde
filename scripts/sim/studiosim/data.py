"""Loading a studio data file, building the entity store, and materialising
the registered files under the storage directory.

Storage layout: every accsyn party (a site code such as `hq`, or a user's
e-mail such as `lisa@vendor.com`) owns `<storage>/<party>/`, its default root
share. A ComponentLocation's file lives at

  * relative resource identifier (managed locations, StandardStructure):
        <storage>/<location's accsyn_party>/<location's prefix>/<ri>
  * absolute resource identifier (ftrack.unmanaged, or any location):
        the longest matching `path_maps` prefix (`/storage`, `S:\\`,
        `\\\\192.168.1.240\\storage`, compared case-insensitively with `\\`
        read as `/`) names the party; the rest of the path goes below
        <storage>/<party>/.

File content is deterministic: the component id and a newline, repeated and
cut to the component's `size`.
"""

import json
import os
import re

from . import DATA_DIR
from .store import Schema, Store, parse_datetime

BUILTIN_LOCATIONS = [
    {"id": "ce9b348f-8809-11e3-821c-20c9d081909b", "name": "ftrack.origin"},
    {"id": "cb268ecc-8809-11e3-a7e2-20c9d081909b", "name": "ftrack.unmanaged"},
    {"id": "cd41be70-8809-11e3-b98a-20c9d081909b", "name": "ftrack.review"},
    {"id": "3a372bde-05bc-11e4-8908-20c9d081909b", "name": "ftrack.server"},
    {"id": "07b82a97-8cf9-11e3-9383-20c9d081909b", "name": "ftrack.connect"},
]
UNMANAGED_ID = "cb268ecc-8809-11e3-a7e2-20c9d081909b"

_ABS_RE = re.compile(r"^(/|[A-Za-z]:[\\/]|\\\\)")


def load_schema(path=None):
    with open(path or os.path.join(DATA_DIR, "query_schemas.json"), encoding="utf-8") as f:
        return Schema(json.load(f))


def load_studio(path):
    with open(path, encoding="utf-8") as f:
        studio = json.load(f)
    if not isinstance(studio, dict):
        raise ValueError("%s: a studio data file is a JSON object" % path)
    studio.setdefault("users", [])
    studio.setdefault("locations", [])
    studio.setdefault("entities", [])
    studio.setdefault("path_maps", [])
    studio.setdefault("accsyn", {})
    # Built-in ftrack locations are always there; a data file may describe
    # them too (e.g. to give one an accsyn party).
    have = {l.get("id") for l in studio["locations"]}
    for b in BUILTIN_LOCATIONS:
        if b["id"] not in have:
            studio["locations"].append(dict(b, accsyn_party=None, prefix=None, builtin=True))
    return studio


def seed_entities():
    with open(os.path.join(DATA_DIR, "seed.json"), encoding="utf-8") as f:
        return json.load(f)["entities"]


class _Normaliser:
    """Turns data-file entities into stored records (refs -> FK fields,
    schema defaults, type-implied attributes)."""

    def __init__(self, schema):
        self.schema = schema
        self._defaults = {}
        self._refs = {}
        self._dates = {}

    def defaults(self, t):
        d = self._defaults.get(t)
        if d is None:
            d = {}
            for k, p in self.schema.types[t]["properties"].items():
                if "default" in p and p["default"] != "{uid}":
                    d[k] = p["default"]
            if t == "Project":
                d.update(context_type="show", status="active")
            elif t in self.schema.classifier:
                d.update(context_type="task", object_type_id=self.schema.classifier[t], bid=0, sort=0)
            elif t in ("FileComponent", "ContainerComponent", "SequenceComponent"):
                d["system_type"] = {"FileComponent": "file", "ContainerComponent": "container",
                                    "SequenceComponent": "sequence"}[t]
            elif t == "User":
                d["resource_type"] = "user"
            self._defaults[t] = d
            self._dates[t] = [k for k, p in self.schema.types[t]["properties"].items()
                              if p.get("format") == "date-time"]
        return d

    def record(self, e):
        t = self.schema.canonical(e.get("__entity_type__") or "")
        if t is None or t in self.schema.abstract:
            raise ValueError("entity with unknown or abstract type: %r" % (e,))
        rec = dict(self.defaults(t))
        for k, v in e.items():
            if isinstance(v, dict) and "__entity_type__" in v:
                rel = self.schema.relation(t, k)
                if rel and rel[0] == "ref":
                    rec[rel[2]] = v.get("id")
                continue
            if isinstance(v, list) and v and isinstance(v[0], dict):
                continue            # collections are derived from FKs
            rec[k] = v
        rec["__entity_type__"] = t
        for k in self._dates[t]:
            v = rec.get(k)
            if v is not None and (isinstance(v, dict) or not _is_canonical_dt(v)):
                rec[k] = parse_datetime(v)
        if "id" not in rec:
            raise ValueError("entity without id: %r" % (e,))
        return rec


def _is_canonical_dt(v):
    return isinstance(v, str) and len(v) == 19 and v[10] == "T"


def build_store(studio, schema):
    """A Store holding the seed lookups, users, locations and entities of studio."""
    store = Store(schema)
    norm = _Normaliser(schema)
    given = studio["entities"]
    given_ids = {e.get("id") for e in given}
    if studio.get("seed", True):
        for e in seed_entities():
            if e["id"] not in given_ids:
                store.insert(norm.record(e), log=False)
    for u in studio["users"]:
        e = {"__entity_type__": "User", "is_active": True}
        e.update({k: v for k, v in u.items() if k in schema.types["User"]["properties"]})
        if e["id"] not in store.by_id:
            store.insert(norm.record(e), log=False)
    for l in studio["locations"]:
        e = {"__entity_type__": "Location"}
        e.update({k: v for k, v in l.items() if k in schema.types["Location"]["properties"]})
        store.insert(norm.record(e), log=False)
    for e in given:
        store.insert(norm.record(e), log=False)
    # project_id of typed contexts follows the parent chain.
    for t in schema.classifier:
        for rec in list(store.by_type.get(t, {}).values()):
            if rec.get("project_id") is None:
                cur, proj, hops = rec, None, 0
                while cur is not None and hops < 1000:
                    if cur["__entity_type__"] == "Project":
                        proj = cur["id"]
                        break
                    if cur.get("project_id"):
                        proj = cur["project_id"]
                        break
                    cur = store.by_id.get(cur.get("parent_id"))
                    hops += 1
                if proj:
                    store._set_fields(rec, {"project_id": proj})
    return store


# ---------------------------------------------------------------------------
# Storage

def is_absolute(ri):
    return bool(_ABS_RE.match(ri or ""))


def _norm_sep(p):
    return p.replace("\\", "/")


def location_config(studio, location_id):
    for l in studio["locations"]:
        if l.get("id") == location_id:
            return l
    return None


def party_root(storage, party):
    return os.path.join(storage, party)


def _below(root, rel):
    parts = [p for p in _norm_sep(rel).split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return os.path.join(root, *parts) if parts else root


def resolve_path(studio, storage, location_id, ri):
    """Filesystem path of resource identifier ri in the given location, or None
    when that location's files are not kept under storage."""
    if ri is None:
        return None
    if is_absolute(ri):
        n = _norm_sep(ri)
        best = None
        for m in studio.get("path_maps", []):
            pre = _norm_sep(m["prefix"]).rstrip("/")
            if n.lower() == pre.lower() or n.lower().startswith(pre.lower() + "/") or pre == "":
                if best is None or len(pre) > len(best[0]):
                    best = (pre, m["party"])
        if best is None:
            return None
        return _below(party_root(storage, best[1]), n[len(best[0]):])
    cfg = location_config(studio, location_id)
    if not cfg or not cfg.get("accsyn_party"):
        return None
    root = party_root(storage, cfg["accsyn_party"])
    if cfg.get("prefix"):
        root = _below(root, cfg["prefix"])
        if root is None:
            return None
    return _below(root, ri)


def content_for(component_id, size):
    pattern = (component_id + "\n").encode()
    n = size // len(pattern) + 1
    return (pattern * n)[:size]


def _write(path, component_id, size):
    if os.path.lexists(path):
        return False
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(path, "wb") as f:
        if size:
            f.write(content_for(component_id, int(size)))
    return True


def materialise(studio, store, storage):
    """Create every registered file that a location under storage holds.
    Returns the number of files created."""
    os.makedirs(storage, exist_ok=True)
    for l in studio["locations"]:
        if l.get("accsyn_party"):
            os.makedirs(party_root(storage, l["accsyn_party"]), exist_ok=True)
    for u in studio.get("accsyn", {}).get("users", []):
        if u.get("email"):
            os.makedirs(party_root(storage, u["email"]), exist_ok=True)
    for s in studio.get("accsyn", {}).get("sites", []):
        if s.get("code"):
            os.makedirs(party_root(storage, s["code"]), exist_ok=True)
    if studio.get("materialise", True) is False:
        return 0
    created = 0
    by_comp_loc = set()
    cls = list(store.by_type.get("ComponentLocation", {}).values())
    for cl in cls:
        by_comp_loc.add((cl.get("component_id"), cl.get("location_id")))
    for cl in cls:
        comp = store.by_id.get(cl.get("component_id"))
        if comp is None:
            continue
        path = resolve_path(studio, storage, cl.get("location_id"), cl.get("resource_identifier"))
        if path is None:
            continue
        t = comp["__entity_type__"]
        if t == "FileComponent":
            created += _write(path, comp["id"], comp.get("size") or 0)
        elif t == "SequenceComponent" and "%" in os.path.basename(path):
            for k in store.lookup_fk("container_id", comp["id"]):
                m = store.by_id.get(k)
                if m is None or (m["id"], cl.get("location_id")) in by_comp_loc:
                    continue
                try:
                    mp = os.path.join(os.path.dirname(path), os.path.basename(path) % int(m.get("name")))
                except (TypeError, ValueError):
                    continue
                created += _write(mp, m["id"], m.get("size") or 0)
        else:
            os.makedirs(path, exist_ok=True)
    return created
