"""What projects/ should contain for a studio data file, by the naming rules
of fs/names.h (kept independent of the C code on purpose)."""

import json
import os

DIV_SLASH = "\u2215"
UNMANAGED = "cb268ecc-8809-11e3-a7e2-20c9d081909b"
HQ_PREFIXES = ("/storage", "S:\\", "\\\\192.168.1.240\\storage")


def sanitize(name):
    name = (name or "").replace("\0", "").replace("/", DIV_SLASH)
    if name in ("", "."):
        return "_"
    if name == "..":
        return "__"
    return name


def _ext_split(name):
    dot = name.rfind(".")
    if dot <= 0 or len(name) - dot > 12 or len(name) - dot < 2:
        return name, ""
    ext = name[dot:]
    if not all(c.isalnum() or c in "_-" for c in ext[1:]):
        return name, ""
    return name[:dot], ext


def disambiguate(entries):
    """entries: list of (name, id, keep_ext) -> dict id -> unique name."""
    out = {}
    by_name = {}
    for name, eid, keep in entries:
        by_name.setdefault(name, []).append((eid, keep))
    taken = set(by_name)
    for name, group in by_name.items():
        group.sort()
        out[group[0][0]] = name
        for eid, keep in group[1:]:
            stem, ext = _ext_split(name) if keep else (name, "")
            hexid = "".join(c for c in eid.lower() if c.isalnum())
            cand = "%s~%s%s" % (stem, hexid[:8], ext)
            if cand in taken:
                cand = "%s~%s%s" % (stem, hexid, ext)
            taken.add(cand)
            out[eid] = cand
    return out


def load(path_or_dict):
    if isinstance(path_or_dict, dict):
        return path_or_dict
    with open(path_or_dict, encoding="utf-8") as f:
        return json.load(f)


def expected(data):
    """Returns (dirs, files): sets of paths relative to projects/, and
    files maps relative path -> component entity."""
    ents = load(data)["entities"]
    by_type = {}
    for e in ents:
        by_type.setdefault(e["__entity_type__"], []).append(e)
    contexts = [e for e in ents if e.get("parent_id") and e["__entity_type__"] not in (
        "Project", "Asset", "AssetVersion", "FileComponent", "SequenceComponent",
        "ContainerComponent", "ComponentLocation", "Location", "User", "Job")]
    children = {}   # parent id -> list of (name, id, keep_ext, kind, entity)
    for c in contexts:
        children.setdefault(c["parent_id"], []).append((sanitize(c["name"]), c["id"], False, "dir", c))
    for a in by_type.get("Asset", []):
        children.setdefault(a["context_id"], []).append((sanitize(a["name"]), a["id"], False, "dir", a))
    for v in by_type.get("AssetVersion", []):
        children.setdefault(v["asset_id"], []).append(("v%03d" % v["version"], v["id"], False, "dir", v))
    comps = [e for e in ents if e["__entity_type__"] in ("FileComponent", "SequenceComponent", "ContainerComponent")]
    by_id = {c["id"]: c for c in comps}
    for c in comps:
        if c.get("container_id"):
            cont = by_id[c["container_id"]]
            ft = c.get("file_type") or cont.get("file_type") or ""
            if cont["__entity_type__"] == "SequenceComponent":
                member = c["name"]
                if member.isdigit():
                    member = member.zfill(cont.get("padding") or 0)
                name = sanitize("%s.%s%s" % (cont["name"], member, ft))
            else:
                name = sanitize("%s%s" % (c["name"], ft))
            children.setdefault(cont["id"], []).append((name, c["id"], True, "file", c))
        elif c.get("version_id"):
            if c["__entity_type__"] == "FileComponent":
                ft = c.get("file_type") or ""
                if ft and not ft.startswith("."):
                    ft = "." + ft
                children.setdefault(c["version_id"], []).append(
                    (sanitize(c["name"] + ft), c["id"], True, "file", c))
            else:
                children.setdefault(c["version_id"], []).append((sanitize(c["name"]), c["id"], False, "dir", c))

    dirs, files = set(), {}

    def walk(parent_id, rel):
        kids = children.get(parent_id, [])
        names = disambiguate([(n, i, k) for n, i, k, _, _ in kids])
        for _, eid, _, kind, ent in kids:
            p = os.path.join(rel, names[eid])
            if kind == "dir":
                dirs.add(p)
                walk(eid, p)
            else:
                files[p] = ent

    projects = by_type.get("Project", [])
    pnames = disambiguate([(sanitize(p["name"]), p["id"], False) for p in projects])
    for p in projects:
        dirs.add(pnames[p["id"]])
        walk(p["id"], pnames[p["id"]])
    return dirs, files


def local_copy(data, storage, component_id):
    """The path of the hq copy of a component in the simulator's storage, or None."""
    hq = next((l["id"] for l in load(data)["locations"] if l["name"] == "hq"), None)
    for e in load(data)["entities"]:
        if e["__entity_type__"] != "ComponentLocation" or e["component_id"] != component_id:
            continue
        ri = e["resource_identifier"]
        if e["location_id"] == hq and not ri.startswith("/"):
            return os.path.join(storage, "hq", ri)
        if e["location_id"] == UNMANAGED:
            for pre in HQ_PREFIXES:
                norm = ri.replace("\\", "/")
                npre = pre.replace("\\", "/").rstrip("/")
                if norm.lower().startswith(npre.lower() + "/"):
                    return os.path.join(storage, "hq", norm[len(npre) + 1:])
    return None
