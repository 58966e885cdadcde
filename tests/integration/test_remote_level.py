"""The combined ftrack helpers against the simulator, with request counts
taken from its request log: a context level (contexts + assets), an asset
level (versions + components + members) and components by id, each one POST
per page round."""

import pytest

from test_remote_probe import RemoteProbe


def api_requests(sim):
    return [r for r in sim.log() if r.get("listener") == "ftrack" and r.get("path") == "/api"]


def level_parents(sim, n=8):
    """n context ids: every context holding an asset, topped up with others."""
    ids = sorted({a["context_id"] for a in sim.rows("select id, context_id from Asset")})
    for c in sim.rows("select id from TypedContext"):
        if len(ids) >= n:
            break
        if c["id"] not in ids:
            ids.append(c["id"])
    assert len(ids) == n
    return ids


def expected_level(sim, ids):
    want = set(ids)
    kids = [c for c in sim.rows("select id, parent_id from TypedContext") if c.get("parent_id") in want]
    assets = [a for a in sim.rows("select id, context_id from Asset") if a.get("context_id") in want]
    return kids, assets


def queries_of(req):
    """The query expressions of one logged request, without the handshake."""
    return [q for q in req["info"].split("; ") if q.startswith("query: ")]


def test_level_is_one_post(sim):
    ids = level_parents(sim)
    kids, assets = expected_level(sim, ids)
    assert len(assets) == 8 and kids
    p = RemoteProbe(sim)
    sim.clear_log()
    out = p.ftrack("level", *ids)
    assert out["ok"], out
    assert sorted(c["id"] for c in out["contexts"]) == sorted(k["id"] for k in kids)
    assert sorted(a["id"] for a in out["assets"]) == sorted(a["id"] for a in assets)
    assert all(c["parent_id"] in ids for c in out["contexts"])
    reqs = api_requests(sim)
    # 8 contexts, 8 assets: one POST (handshake + the two queries), where the
    # two helpers cost two
    assert len(reqs) == 1 and out["requests"] == 1
    assert reqs[0]["ops"] == 3
    qs = queries_of(reqs[0])
    assert sum("from TypedContext where parent_id in (" in q for q in qs) == 1
    assert sum("from Asset where context_id in (" in q for q in qs) == 1

    sim.clear_log()
    a = p.ftrack("children", *ids)
    b = p.ftrack("assets", *ids)
    assert sorted(x["id"] for x in a["items"]) == sorted(c["id"] for c in out["contexts"])
    assert sorted(x["id"] for x in b["items"]) == sorted(x["id"] for x in out["assets"])
    assert len(api_requests(sim)) == 2     # (each probe is a new handle: handshake rides along)


def test_level_chunks_share_the_post(sim):
    ids = level_parents(sim)
    p = RemoteProbe(sim, PROBE_IN_CHUNK=3)
    sim.clear_log()
    out = p.ftrack("level", *ids)
    assert out["ok"]
    reqs = api_requests(sim)
    assert len(reqs) == 1 and reqs[0]["ops"] == 1 + 2 * 3     # 3 chunks, two queries each
    qs = queries_of(reqs[0])
    assert sum("parent_id in (" in q for q in qs) == 3
    assert sum("context_id in (" in q for q in qs) == 3
    kids, assets = expected_level(sim, ids)
    assert sorted(c["id"] for c in out["contexts"]) == sorted(k["id"] for k in kids)
    assert sorted(a["id"] for a in out["assets"]) == sorted(a["id"] for a in assets)


def test_level_paging_follows_each_query(sim):
    """Later rounds carry the next page of only the queries with more rows."""
    # every project and context: all 25 contexts and all 8 assets come back
    ids = [x["id"] for x in sim.rows("select id from Project")]
    ids += [x["id"] for x in sim.rows("select id from TypedContext")]
    kids, assets = expected_level(sim, ids)
    page = 3
    pages_c = max(1, -(-len(kids) // page))
    pages_a = max(1, -(-len(assets) // page))
    assert pages_c != pages_a and min(pages_c, pages_a) > 1, (pages_c, pages_a)
    p = RemoteProbe(sim, PROBE_PAGE_SIZE=page)
    sim.clear_log()
    out = p.ftrack("level", *ids)
    assert out["ok"]
    assert sorted(c["id"] for c in out["contexts"]) == sorted(k["id"] for k in kids)
    assert sorted(a["id"] for a in out["assets"]) == sorted(a["id"] for a in assets)
    reqs = api_requests(sim)
    assert len(reqs) == max(pages_c, pages_a)
    for i, r in enumerate(reqs):
        qs = queries_of(r)
        has_c = any("from TypedContext" in q for q in qs)
        has_a = any("from Asset" in q for q in qs)
        assert has_c == (i < pages_c) and has_a == (i < pages_a), (i, r["info"])
        assert all("offset %d limit %d" % (i * page, page) in q for q in qs)


def test_level_empty_and_bad(sim):
    p = RemoteProbe(sim)
    sim.clear_log()
    out = p.ftrack("level")
    assert out["ok"] and out["contexts"] == [] and out["assets"] == []
    assert api_requests(sim) == []
    out = p.ftrack("level", "not-a-uuid")
    assert not out["ok"] and out["errno"] == "EINVAL"
    assert api_requests(sim) == []


def test_asset_level_is_one_post(sim):
    assets = [a["id"] for a in sim.rows("select id from Asset")]
    versions = sim.rows("select id, version, asset_id from AssetVersion")
    comps = sim.rows("select id, version_id, container_id from Component")
    top = [c for c in comps if c.get("version_id") and not c.get("container_id")]
    p = RemoteProbe(sim)
    sim.clear_log()
    out = p.ftrack("asset-level", *assets)
    assert out["ok"], out
    reqs = api_requests(sim)
    # versions, components, padding and members of 8 assets: one POST
    assert len(reqs) == 1 and out["requests"] == 1 and reqs[0]["ops"] == 1 + 4
    assert sorted(v["id"] for v in out["versions"]) == sorted(v["id"] for v in versions)
    assert sorted(c["id"] for c in out["components"]) == sorted(c["id"] for c in top)
    vids = {v["id"] for v in versions}
    assert all(c["version_id"] in vids for c in out["components"])
    # the same answer as the two-step helpers, which take three POSTs
    sim.clear_log()
    step = p.ftrack("components", *sorted(vids))
    assert len(api_requests(sim)) == 2
    want = {c["id"]: (c["kind"], c["padding"], c["members"]) for c in step["items"]}
    got = {c["id"]: (c["kind"], c["padding"], c["members"]) for c in out["components"]}
    assert got == want
    seqs = [c for c in out["components"] if c["kind"] == 1]
    assert seqs and all(c["padding"] > 0 and c["members"] > 0 for c in seqs)


def link_of(sim, context_id):
    return sim.rows('select id, link from Context where id is "%s"' % context_id)[0]["link"]


def test_get_components_places_them(sim):
    comps = sim.rows("select id, name, version_id, container_id from Component")
    by_id = {c["id"]: c for c in comps}
    versions = {v["id"]: v for v in sim.rows("select id, version, asset_id from AssetVersion")}
    assets = {a["id"]: a for a in sim.rows("select id, name, context_id from Asset")}
    member = next(c for c in comps if c.get("container_id"))
    file_top = next(c for c in comps if c.get("version_id") and not c.get("container_id")
                    and c["__entity_type__"] == "FileComponent")
    seq = next(c for c in comps if c["__entity_type__"] == "SequenceComponent")
    ids = [member["id"], file_top["id"], seq["id"]]
    p = RemoteProbe(sim)
    sim.clear_log()
    out = p.ftrack("get-components", *ids)
    assert out["ok"], out
    reqs = api_requests(sim)
    assert len(reqs) == 1 and out["requests"] == 1
    assert reqs[0]["ops"] == 1 + 3      # rows, own padding, containers' padding
    got = {c["id"]: c for c in out["items"]}
    assert sorted(got) == sorted(ids)
    for cid, c in got.items():
        src = by_id[cid]
        vid = src.get("version_id") or by_id[src["container_id"]]["version_id"]
        v = versions[vid]
        a = assets[v["asset_id"]]
        assert c["version_id"] == vid and c["version"] == v["version"] and c["date_ns"] > 0
        assert c["asset_id"] == a["id"] and c["asset_name"] == a["name"]
        assert c["link"] == link_of(sim, a["context_id"])
        assert c["link"][0]["type"] == "Project"
    m = got[member["id"]]
    assert m["container_id"] == member["container_id"]
    assert m["container_name"] == by_id[member["container_id"]]["name"]
    if by_id[member["container_id"]]["__entity_type__"] == "SequenceComponent":
        assert m["container_padding"] > 0
    assert got[seq["id"]]["padding"] > 0 and got[seq["id"]]["kind"] == 1
    assert got[file_top["id"]]["container_id"] == ""


def test_get_components_chunked_and_missing(sim):
    comps = [c["id"] for c in sim.rows("select id from Component")]
    assert len(comps) > 40
    missing = "00000000-0000-4000-8000-000000000000"
    p = RemoteProbe(sim, PROBE_IN_CHUNK=20)
    sim.clear_log()
    out = p.ftrack("get-components", *(comps + [missing]))
    assert out["ok"]
    assert sorted(c["id"] for c in out["items"]) == sorted(comps)
    chunks = -(-(len(comps) + 1) // 20)
    reqs = api_requests(sim)
    assert len(reqs) == 1 and reqs[0]["ops"] == 1 + 3 * chunks
    assert all(c["version_id"] and c["link"] for c in out["items"])


@pytest.mark.parametrize("op", ["level", "asset-level", "get-components"])
def test_combined_errors_are_mapped(sim, op):
    p = RemoteProbe(sim, FTRACK_API_KEY="wrong")
    out = p.ftrack(op, "21a0f3cc-a33a-5bff-8879-6ca4d9ba95a5")
    assert not out["ok"] and out["errno"] == "EACCES" and out["requests"] == 1
