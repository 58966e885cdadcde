"""The C ftrack client (remote/) against the simulator: browsing helpers,
paging, batching (asserted from the request log), query escaping, writes."""

import copy
import uuid

import pytest

from test_remote_probe import RemoteProbe
from simulator import ALICE, EMPTY_STUDIO

THEPROJECT = "21a0f3cc-a33a-5bff-8879-6ca4d9ba95a5"


def api_requests(sim):
    return [r for r in sim.log() if r.get("listener") == "ftrack" and r.get("path") == "/api"]


def test_handshake_once(sim):
    p = RemoteProbe(sim)
    sim.clear_log()
    out = p.ftrack("info")
    assert out["ok"] and out["version"] == "4.13.8" and out["requests"] == 1
    out = p.ftrack("projects")
    reqs = api_requests(sim)
    # the handshake rides along with the first batch: no request of its own
    assert len(reqs) == 2
    assert reqs[1]["ops"] == 2 and reqs[1]["info"].startswith("query_server_information; query:")


def test_browse_matches_server(sim):
    p = RemoteProbe(sim)
    projects = p.ftrack("projects")["items"]
    assert sorted(x["name"] for x in projects) == sorted(r["name"] for r in sim.rows("select name from Project"))

    kids = p.ftrack("children", THEPROJECT)["items"]
    want = sim.rows('select id, name from TypedContext where parent_id is "%s"' % THEPROJECT)
    assert sorted(k["id"] for k in kids) == sorted(w["id"] for w in want)

    assets = sim.rows("select id, context_id from Asset")
    got = p.ftrack("assets", *sorted({a["context_id"] for a in assets}))["items"]
    assert sorted(a["id"] for a in got) == sorted(a["id"] for a in assets)

    versions = sim.rows("select id, version, asset_id from AssetVersion")
    got = p.ftrack("versions", *[a["id"] for a in assets])["items"]
    assert sorted(v["id"] for v in got) == sorted(v["id"] for v in versions)
    assert all(v["date_ns"] > 0 for v in got)

    comps = sim.rows("select id, version_id, container_id from Component")
    top = [c for c in comps if c.get("version_id") and not c.get("container_id")]
    sim.clear_log()
    got = p.ftrack("components", *[v["id"] for v in versions])
    assert sorted(c["id"] for c in got["items"]) == sorted(c["id"] for c in top)
    seqs = [c for c in got["items"] if c["kind"] == 1]
    assert seqs and all(c["padding"] > 0 and c["members"] > 0 for c in seqs)
    # components and padding in one round trip, members in a second (+ handshake in the first)
    assert got["requests"] == 2

    cls = p.ftrack("cls", *[c["id"] for c in top])["items"]
    want = sim.rows("select id, component_id from ComponentLocation")
    top_ids = {c["id"] for c in top}
    assert sorted(c["id"] for c in cls) == sorted(w["id"] for w in want if w["component_id"] in top_ids)

    locs = p.ftrack("locations")["items"]
    assert {"hq", "la", "ftrack.unmanaged"} <= {l["name"] for l in locs}


def test_paging_over_pages(sim):
    p = RemoteProbe(sim, PROBE_PAGE_SIZE=4)
    total = len(sim.rows("select id from AssetVersion"))
    assert total >= 13
    sim.clear_log()
    out = p.ftrack("query", "select id, version from AssetVersion order by id")
    assert out["ok"] and out["n"] == total
    assert len({r["id"] for r in out["rows"]}) == total
    reqs = api_requests(sim)
    pages = -(-total // 4)
    assert len(reqs) == pages >= 4
    for i, r in enumerate(reqs):
        assert "offset %d limit 4" % (4 * i) in r["info"]
    # a user limit below the page size is one request
    sim.clear_log()
    out = p.ftrack("query", "select id from AssetVersion order by id", 3)
    assert out["n"] == 3 and len(api_requests(sim)) == 1
    assert "offset 0 limit 3" in api_requests(sim)[0]["info"]


def test_batching_one_request(sim):
    p = RemoteProbe(sim, PROBE_IN_CHUNK=3)
    sim.clear_log()
    out = p.ftrack("batch", 7, "select id from Location offset 0 limit 2")
    assert out["ok"] and out["results"] == [2] * 7
    reqs = api_requests(sim)
    assert len(reqs) == 1 and reqs[0]["ops"] == 8      # 7 queries + the handshake

    # a typed helper over 8 assets in chunks of 3: three `in (...)` queries, one POST
    assets = [a["id"] for a in sim.rows("select id from Asset")]
    assert len(assets) == 8
    sim.clear_log()
    out = p.ftrack("versions", *assets)
    reqs = api_requests(sim)
    assert out["ok"] and len(out["items"]) == len(sim.rows("select id from AssetVersion"))
    assert len(reqs) == 1 and reqs[0]["ops"] == 1 + 3
    assert reqs[0]["info"].count("asset_id in (") == 3


NASTY = "O'Brien \"final\" \\ shot"
DECOYS = [
    "O'Brien",
    "O'Brien \"final\"",
    "O\\'Brien \\\"final\\\" \\\\ shot",
    "O'Brien \"final\" \\\\ shot",
    "O'Brien \"final\"  shot",
    "o'brien \"final\" \\ shot",
    "\" or name like \"%",
    "x\" or name is \"O'Brien",
]


def escaping_studio():
    data = copy.deepcopy(EMPTY_STUDIO)
    ids = {}
    for name in [NASTY] + DECOYS:
        pid = str(uuid.uuid5(uuid.NAMESPACE_URL, "ftrackfs-escape/" + name))
        ids[name] = pid
        data["entities"].append({"__entity_type__": "Project", "id": pid, "name": name,
                                 "full_name": name, "status": "active", "is_global": False,
                                 "project_schema_id": "caddd816-acb5-11e1-8668-f23c91df1211"})
    return data, ids


def test_query_escaping_round_trip(sim_factory):
    data, ids = escaping_studio()
    sim = sim_factory(data=data)
    p = RemoteProbe(sim)
    for name, pid in ids.items():
        out = p.ftrack("name-is", "Project", name)
        assert out["ok"], out
        got = [r["id"] for r in out["rows"]]
        if name == "o'brien \"final\" \\ shot":
            # comparison may be case-insensitive on the server: the two casings only
            assert set(got) <= {pid, ids[NASTY]} and pid in got
        else:
            assert got == [pid] or (name == NASTY and set(got) <= {pid, ids["o'brien \"final\" \\ shot"]}
                                    and pid in got), (name, out)
    # an injection attempt as a value matches nothing but itself
    out = p.ftrack("name-is", "Project", "nothing\" or name like \"%")
    assert out["ok"] and out["rows"] == []
    # the full names round-trip byte for byte
    out = p.ftrack("projects")
    assert sorted(x["name"] for x in out["items"]) == sorted(ids)


def test_create_component_location_and_job(sim):
    p = RemoteProbe(sim)
    comp = sim.rows("select id from FileComponent")[0]["id"]
    la = [l for l in sim.rows("select id, name from Location") if l["name"] == "la"][0]["id"]
    sim.clear_log()
    out = p.ftrack("create-cl", comp, la, "theproject/ep01/x.exr")
    assert out["ok"]
    reqs = api_requests(sim)
    assert len(reqs) == 1 and reqs[0]["info"].endswith("create ComponentLocation")
    rows = sim.rows('select component_id, location_id, resource_identifier from ComponentLocation '
                    'where id is "%s"' % out["id"])
    assert rows and rows[0]["resource_identifier"] == "theproject/ep01/x.exr"
    assert rows[0]["component_id"] == comp and rows[0]["location_id"] == la

    job = p.ftrack("create-job", "running", "Accsyn: 0%")
    assert job["ok"]
    p.ftrack("update-job", job["id"], "done", "Accsyn: 100% \"done\"")
    rows = sim.rows('select status, data from Job where id is "%s"' % job["id"])
    assert rows[0]["status"] == "done"
    assert "100% \\\"done\\\"" in rows[0]["data"]


def test_bad_key(sim):
    p = RemoteProbe(sim, FTRACK_API_KEY="wrong")
    sim.clear_log()
    out = p.ftrack("projects")
    assert not out["ok"] and out["errno"] == "EACCES"
    assert out["error"].startswith("InvalidCredentialsError:")
    assert "wrong" not in out["error"]
    assert len(api_requests(sim)) == 1          # auth errors are not retried
