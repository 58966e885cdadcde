"""The simulator's ftrack side against protocols/ftrack.md: real processes,
raw HTTP, exact request bodies of the official clients."""

import hashlib
import json
import os
import subprocess
import time
import uuid

import pytest

from simulator import (ALICE, DEMO_DATA, EMPTY_STUDIO, JENKINS, JENKINS_ID, PYTHON, SIM_DIR,
                       Simulator)

SCHEMAS = os.path.join(SIM_DIR, "data", "query_schemas.json")
UNMANAGED = "cb268ecc-8809-11e3-a7e2-20c9d081909b"
SERVER_LOC = "3a372bde-05bc-11e4-8908-20c9d081909b"
BUILTIN_LOCATIONS = {
    "ftrack.origin": "ce9b348f-8809-11e3-821c-20c9d081909b",
    "ftrack.unmanaged": UNMANAGED,
    "ftrack.review": "cd41be70-8809-11e3-b98a-20c9d081909b",
    "ftrack.server": SERVER_LOC,
    "ftrack.connect": "07b82a97-8cf9-11e3-9383-20c9d081909b",
}
SHOT_OT = "bad911de-3bd6-47b9-8b46-3476e237cb36"
VFX_SCHEMA = "69cb7f92-4dbf-11e1-9902-f23c91df25eb"
PRIORITY_NONE = "9661b320-3a0c-11e2-81c1-0800200c9a66"
QUOTED = "O'Brien \"final\" \\ shot"


@pytest.fixture(scope="module")
def demo():
    """One demo simulator shared by the read-only tests of this module."""
    s = Simulator(data=DEMO_DATA)
    s.start()
    try:
        yield s
    finally:
        s.stop()


def ids(rows):
    return [r["id"] for r in rows]


def names(rows):
    return sorted(r["name"] for r in rows)


def paging_studio(n):
    proj, seq = str(uuid.uuid4()), str(uuid.uuid4())
    ents = [{"__entity_type__": "Project", "id": proj, "name": "paging", "project_schema_id": VFX_SCHEMA},
            {"__entity_type__": "Sequence", "id": seq, "name": "sq", "parent_id": proj}]
    for i in range(n):
        ents.append({"__entity_type__": "Shot", "id": str(uuid.uuid4()), "name": "sh%03d" % (i * 10),
                     "parent_id": seq})
    return dict(EMPTY_STUDIO, entities=ents), seq


# ---------------------------------------------------------------------------
# Server information, schemas, batches

def test_server_information_and_schemas(demo):
    info, schemas = demo.api([{"action": "query_server_information"}, {"action": "query_schemas"}])
    assert "action" not in info
    major, minor, patch = (int(x) for x in info["version"].split(".")[:3])
    assert (major, minor, patch) >= (3, 3, 11)
    assert info["schema_hash"] == "23a1157b8b1730fd91c76f63dcd67a8f"
    assert hashlib.md5(json.dumps(schemas, sort_keys=True).encode()).hexdigest() == info["schema_hash"]
    with open(SCHEMAS, encoding="utf-8") as f:
        assert schemas == json.load(f)
    assert len(schemas) == 116
    assert info["storage_scenario"] == {"scenario": "ftrack.automatic", "data": {}}
    assert info["is_timezone_support_enabled"] is True


def test_server_information_values(demo):
    [info] = demo.api([{"action": "query_server_information", "values": ["schema_hash"]}])
    assert info["schema_hash"] == "23a1157b8b1730fd91c76f63dcd67a8f"
    assert "storage_scenario" not in info and "is_timezone_support_enabled" not in info
    assert "version" in info


def test_empty_batch_and_unknown_action(demo):
    assert demo.api([]) == []
    err = demo.api([{"action": "query_server_information"}, {"action": "get_widget_url", "name": "x"}])
    assert isinstance(err, dict)
    assert "Invalid action u'get_widget_url'" in err["content"]
    assert err["error_code"] is None


def test_keep_alive_connection_reuse(demo):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", demo.ftrack_port, timeout=10)
    for _ in range(3):
        body = json.dumps([{"action": "query", "expression": "select id from Project"}])
        conn.request("POST", "/api", body=body, headers={
            "ftrack-user": ALICE[0], "ftrack-api-key": ALICE[1], "content-type": "application/json"})
        r = conn.getresponse()
        assert r.status == 200
        assert r.getheader("Content-Length") is not None
        assert len(json.loads(r.read())[0]["data"]) == 2
    conn.close()


# ---------------------------------------------------------------------------
# Authentication

@pytest.mark.parametrize("user,key", [(ALICE[0], "wrong"), (None, None), ("nobody", ALICE[1]), (ALICE[0], None)])
def test_bad_credentials_http_200(demo, user, key):
    status, body = demo.raw_api([{"action": "query", "expression": "select id from Project"}], user=user, key=key)
    assert status == 200
    err = json.loads(body)
    assert err["exception"] == "InvalidCredentialsError"
    assert "ftrack-api-key" in err["content"]
    assert err["error_code"] is None


def test_bad_credentials_strict_gets_401(demo):
    status, body = demo.raw_api([{"action": "query", "expression": "select id from Project"}],
                                key="wrong", headers={"ftrack-strict-api": "true"})
    assert status == 401
    assert json.loads(body)["exception"] == "InvalidCredentialsError"
    status, _ = demo.raw_api([{"action": "query", "expression": "select id from Project"}],
                             headers={"ftrack-strict-api": "false"})
    assert status == 200


def test_jenkins_user(demo):
    rows = demo.rows("select id, username from User where username is jenkins",
                     user=JENKINS[0], key=JENKINS[1])
    assert rows == [{"__entity_type__": "User", "id": JENKINS_ID, "username": "jenkins", "resource_type": "user"}]


# ---------------------------------------------------------------------------
# Paging

@pytest.mark.parametrize("n,page", [(23, 5), (20, 5), (5, 5), (1, 500), (0, 10)])
def test_paging(sim_factory, n, page):
    data, seq = paging_studio(n)
    s = sim_factory(data=data)
    expr = 'select id, name from Shot where parent_id is "%s" order by name' % seq
    got, offset, calls = [], 0, 0
    while True:
        r = s.query("%s offset %d limit %d" % (expr, offset, page))
        calls += 1
        got.extend(r["data"])
        assert len(r["data"]) <= page
        nxt = r["metadata"]["next"]["offset"]
        if nxt is None:
            break
        assert nxt == offset + len(r["data"])
        offset = nxt
        assert calls < 100
    assert [x["name"] for x in got] == ["sh%03d" % (i * 10) for i in range(n)]
    # The official client's test_paging: call count is ceil(n / page) (at least one).
    assert calls == max(1, -(-n // page))


def test_paging_semantics(sim_factory):
    data, seq = paging_studio(12)
    s = sim_factory(data=data)
    base = 'select name from Shot where parent_id is "%s" order by name desc' % seq
    r = s.query(base + " limit 5")
    assert r["metadata"]["next"]["offset"] == 5
    assert [x["name"] for x in r["data"]] == ["sh110", "sh100", "sh090", "sh080", "sh070"]
    r = s.query(base + " limit 2 offset 10")          # limit before offset
    assert [x["name"] for x in r["data"]] == ["sh010", "sh000"]
    assert r["metadata"]["next"]["offset"] is None     # full last page
    r = s.query(base + " offset 11 limit 2")
    assert len(r["data"]) == 1 and r["metadata"]["next"]["offset"] is None
    r = s.query(base + " offset 50 limit 2")
    assert r["data"] == [] and r["metadata"]["next"]["offset"] is None
    r = s.query(base)                                   # no limit: everything
    assert len(r["data"]) == 12 and r["metadata"]["next"]["offset"] is None
    r = s.query("select name from Shot offset 3")       # offset without limit
    assert len(r["data"]) == 9 and r["metadata"]["next"]["offset"] is None
    # Without order by, paging is still stable and complete.
    seen = []
    for off in range(0, 12, 5):
        seen += ids(s.rows("select id from Shot offset %d limit 5" % off))
    assert len(seen) == len(set(seen)) == 12


# ---------------------------------------------------------------------------
# Query operators

def q_names(s, where, t="Shot"):
    return names(s.rows("select name from %s where %s" % (t, where)))


def test_equality_operators(demo):
    assert q_names(demo, 'name is "sh010"') == ["sh010"]
    assert q_names(demo, "name = sh010") == ["sh010"]
    assert q_names(demo, "name is 'sh010'") == ["sh010"]
    allshots = q_names(demo, "name like '%'")
    assert "sh010" not in q_names(demo, 'name is_not "sh010"')
    assert len(q_names(demo, 'name != "sh010"')) == len(allshots) - 1
    assert q_names(demo, "name is none") == []
    assert q_names(demo, "description is None") == []
    assert len(q_names(demo, "parent_id is_not none")) == len(allshots)
    # Booleans and plain-string attributes.
    assert len(demo.rows("select id from AssetVersion where is_published is true")) == 15
    assert demo.rows("select id from AssetVersion where is_published is False") == []
    assert len(demo.rows("select id from Project where status is active")) == 2


def test_numeric_and_ordering_operators(demo):
    vs = demo.rows("select version from AssetVersion where asset.parent.name is sh010 and asset.name is comp")
    assert sorted(v["version"] for v in vs) == [1, 2, 3]
    q = 'select version from AssetVersion where asset.parent.name is sh010 and asset.name is comp and version %s'
    for op, want in [("< 2", [1]), ("> 2", [3]), ("<= 2", [1, 2]), (">= 2", [2, 3]), ("is 3", [3]),
                     ("less_than 2", [1]), ("greater_than 2", [3]), ("!= 2", [1, 3]), ("is_not 2", [1, 3])]:
        assert sorted(v["version"] for v in demo.rows(q % op)) == want, op


def test_datetime_criteria_and_encoding(demo):
    rows = demo.rows("select version, date from AssetVersion where asset.parent.name is sh010 "
                     "and asset.name is comp order by date")
    dates = [r["date"] for r in rows]
    assert all(d["__type__"] == "datetime" and len(d["value"]) == 19 for d in dates)
    d2 = dates[1]["value"]
    after = demo.rows('select version from AssetVersion where asset.parent.name is sh010 and asset.name is comp '
                      'and date after "%s"' % d2)
    assert [r["version"] for r in after] == [3]
    before = demo.rows('select version from AssetVersion where asset.parent.name is sh010 and asset.name is comp '
                       'and date before "%s+00:00"' % d2)
    assert [r["version"] for r in before] == [1]
    same = demo.rows('select version from AssetVersion where asset.parent.name is sh010 and asset.name is comp '
                     'and date >= "%s" and date <= "%s"' % (d2, d2))
    assert [r["version"] for r in same] == [2]
    assert demo.rows('select id from AssetVersion where date > "2999-01-01"') == []
    assert len(demo.rows('select id from AssetVersion where date > "2000-01-01"')) == 15


def test_in_and_not_in(demo):
    shots = demo.rows("select id, name from Shot where name in (sh010, \"sh020\", 'sh100')")
    assert names(shots) == ["sh010", "sh020", "sh100"]
    by = {r["name"]: r["id"] for r in shots}
    # Unquoted UUIDs, no spaces, as the Python client's populate() writes them.
    got = demo.rows("select name from Shot where id in (%s,%s)" % (by["sh010"], by["sh020"]))
    assert names(got) == ["sh010", "sh020"]
    rest = q_names(demo, "name not_in (sh010, sh020)")
    assert "sh010" not in rest and "sh100" in rest
    assert q_names(demo, "id in ()") == []
    # Subquery.
    got = demo.rows('select name from Sequence where project_id in (select id from Project where name is "spot2024")')
    assert names(got) == ["séquence 01"]
    got = demo.rows('select name from Sequence where project_id not_in (select id from Project where name is "spot2024")')
    assert names(got) == ["seq010", "seq020 / retakes", "seq030"]


def test_like(demo):
    assert q_names(demo, 'name like "sh0%"') == ["sh010", "sh010 hero", "sh020"]
    assert q_names(demo, 'name like "sh0%0"') == ["sh010", "sh020"]
    assert q_names(demo, 'name like "%1_0"') == []            # `_` is not a wildcard
    assert q_names(demo, 'name like "SH01%"') == ["sh010", "sh010 hero"]     # case-insensitive
    assert q_names(demo, 'name not_like "%O%" and name not_like "sh0%"') == ["sh100", "sh300"]
    assert q_names(demo, 'name like "%hero"', t="Shot") == ["sh010 hero"]
    assert q_names(demo, 'name like "Caf%Müller"', t="AssetBuild") == ["Café Müller"]


def test_like_percent_escape(sim_factory):
    s = sim_factory(data=EMPTY_STUDIO)
    [p] = s.api([{"action": "create", "entity_type": "Project",
                  "entity_data": {"name": "p", "project_schema_id": VFX_SCHEMA}}])
    pid = p["data"]["id"]
    s.api([{"action": "create", "entity_type": "Folder", "entity_data": {"name": n, "parent_id": pid}}
           for n in ("100% done", "100 done", "100%")])
    assert q_names(s, r'name like "100\%%"', t="Folder") == ["100%", "100% done"]
    assert q_names(s, r'name like "100\%"', t="Folder") == ["100%"]
    assert q_names(s, 'name like "100%"', t="Folder") == ["100 done", "100%", "100% done"]


def test_has_any_and_not(demo):
    assert q_names(demo, "parent has (name is seq010)") == sorted(
        ["sh010", "sh020", QUOTED, "O'Brien \"final\""])
    with_assets = q_names(demo, "assets any (name is comp)")
    assert with_assets == sorted(["sh010", "sh020", QUOTED, "sh100", "sh010 hero"])
    empty = q_names(demo, "not assets any ()")
    assert empty == sorted(["O'Brien \"final\"", "sh300"])
    assert q_names(demo, "assets any (versions any (version is 3))") == ["sh010", "sh010 hero"]
    assert q_names(demo, "assets has (name is plate)") == ["sh010"]


def test_and_or_not_precedence(demo):
    # and binds tighter than or: a or (b and c)
    got = q_names(demo, "name is sh010 or name is sh020 and parent.name is nothing")
    assert got == ["sh010"]
    got = q_names(demo, "(name is sh010 or name is sh020) and parent.name is seq010")
    assert got == ["sh010", "sh020"]
    got = q_names(demo, "not (name is sh010 or name like 'O%') and parent.name is seq010")
    assert got == ["sh020"]
    got = q_names(demo, "not name like 'sh%' and not name like 'O%'")
    assert got == []


def test_relation_paths(demo):
    [proj] = demo.rows('select id from Project where name is "theproject"')
    comps = demo.rows('select name, file_type from Component where version.asset.parent.project_id is "%s"'
                      % proj["id"])
    assert len(comps) > 20
    # ftrack-send's query for a shot.
    [sh] = demo.rows("select id from Shot where name is sh010")
    x = sh["id"]
    q = ("select id from Component where version.asset.parent.id is {0} or version.asset.parent.parent.id is {0} "
         "or version.asset.parent.parent.parent.id is {0} or version.task.id is {0} or version.id is {0}").format(x)
    got = demo.rows(q)
    # comp v001-v003 (main, plate, nukescript) + plate v001-v002 (plate).
    assert len(got) == 3 * 3 + 2
    got = demo.rows('select name from Shot where parent[Sequence].name is "seq010"')
    assert len(got) == 4
    got = demo.rows("select id from Component where component_locations.location.name is la")
    assert len(got) > 5


def test_parse_errors(demo):
    for expr in ["select name from Shot where (", "select from Shot", "select name from NoSuchType",
                 "select nope from Shot", "select name from Shot where nope is 1",
                 "select name from Shot where name is", "select name from Shot limit x",
                 "select name from Shot where name ~ 1"]:
        err = demo.api([{"action": "query", "expression": expr}])
        assert isinstance(err, dict), expr
        assert err["exception"] == "ParseError", expr
        assert err["error_code"] is None


# ---------------------------------------------------------------------------
# Base types, projections, de-duplication, link

def test_base_types_return_concrete_subtypes(demo):
    ctx = demo.rows("select name from Context")
    types = {r["__entity_type__"] for r in ctx}
    assert types == {"Project", "Episode", "Sequence", "Shot", "Task", "Folder", "AssetBuild"}
    typed = demo.rows("select name from TypedContext")
    assert len(typed) == len(ctx) - 2
    assert all(r["context_type"] == "task" and "object_type_id" in r and "project_id" in r for r in typed)
    comps = demo.rows("select name from Component")
    assert {r["__entity_type__"] for r in comps} == {"FileComponent", "SequenceComponent", "ContainerComponent"}
    n = sum(len(demo.rows("select id from %s" % t)) for t in ("FileComponent", "ContainerComponent"))
    assert n == len(comps)         # ContainerComponent includes SequenceComponent
    [shot] = demo.rows("select name from TypedContext where name is sh010")
    assert shot["__entity_type__"] == "Shot" and shot["object_type_id"] == SHOT_OT


def test_system_projections_always_returned(demo):
    [t] = demo.rows("select name from Task limit 1")
    assert set(t) == {"__entity_type__", "id", "name", "context_type", "object_type_id", "project_id"}
    [v] = demo.rows("select id from AssetVersion limit 1")
    assert set(v) == {"__entity_type__", "id", "asset_id"}
    [c] = demo.rows("select name from FileComponent limit 1")
    assert set(c) == {"__entity_type__", "id", "name", "system_type", "version_id"}
    [cl] = demo.rows("select id from ComponentLocation limit 1")
    assert set(cl) == {"__entity_type__", "id", "location_id", "component_id"}
    [p] = demo.rows("Project where name is theproject")      # no select: default projections
    assert set(p) == {"__entity_type__", "id", "name", "context_type"} and p["context_type"] == "show"


def test_nested_projection_and_dedup(demo):
    r = demo.query("select version, asset.versions.version from AssetVersion where asset_id is_not None limit 1")
    [row] = r["data"]
    assert r["metadata"]["next"]["offset"] == 1
    versions = row["asset"]["versions"]
    assert "context_id" in row["asset"]
    # The top-level version appears again only as a bare reference.
    me = [v for v in versions if v["id"] == row["id"]]
    assert me == [{"__entity_type__": "AssetVersion", "id": row["id"]}]
    others = [v for v in versions if v["id"] != row["id"]]
    assert others and all(set(v) == {"__entity_type__", "id", "asset_id", "version"} for v in others)

    r = demo.query("select status.state.short from Task where status.state.short is IN_PROGRESS limit 2")
    a, b = r["data"]
    assert a["status"]["state"]["short"] == "IN_PROGRESS"
    assert b["status"] == {"__entity_type__": "Status", "id": a["status"]["id"]}
    # ftrack-api-options: denormalize turns the de-duplication off.
    r = demo.api([{"action": "query", "expression":
                   "select status.state.short from Task where status.state.short is IN_PROGRESS limit 2"}],
                 headers={"ftrack-api-options": "strict:1;denormalize:1"})[0]
    assert r["data"][1]["status"]["state"]["short"] == "IN_PROGRESS"


def test_dedup_merges_later_projections(demo):
    # The shot appears first as a row, then again as parent of its task with more attributes.
    rows = demo.rows("select name, parent.description, parent.parent.name from TypedContext "
                     "where name is sh010 or (name is compositing and parent.name is sh010)")
    by = {r["__entity_type__"]: r for r in rows}
    shot, task = by["Shot"], by["Task"]
    assert task["parent"] == {"__entity_type__": "Shot", "id": shot["id"]}
    assert shot["parent"]["name"] == "seq010"
    assert "description" in shot


def test_collections_and_relations(demo):
    [seq] = demo.rows("select name, members.name, members.size, component_locations.resource_identifier, "
                      "version.asset.name from SequenceComponent where version.asset.parent.name is sh010 "
                      "and version.version is 1 and name is plate and version.asset.name is comp")
    assert seq["padding"] if "padding" in seq else True
    assert [m["name"] for m in seq["members"]] == ["1001", "1002", "1003", "1004", "1005"]
    assert seq["version"]["asset"]["name"] == "comp"
    ris = [c["resource_identifier"] for c in seq["component_locations"]]
    assert ris == ["/storage/theproject/ep01/seq010/sh010/comp/v001/plate.%04d.exr"]
    [m] = demo.rows("select container.name, container_id from FileComponent where container.id is %s and name is 1003"
                    % seq["id"])
    assert m["container"]["name"] == "plate" and m["container"]["__entity_type__"] == "SequenceComponent"


def test_link(demo):
    [sh] = demo.rows("select link from Shot where name is sh010")
    assert [(l["type"], l["name"]) for l in sh["link"]] == [
        ("Project", "theproject"), ("Episode", "ep01"), ("Sequence", "seq010"), ("Shot", "sh010")]
    assert sh["link"][-1]["id"] == sh["id"]
    [p] = demo.rows("select link from Project where name is theproject")
    assert p["link"] == [{"id": p["id"], "name": "theproject", "type": "Project"}]
    [v] = demo.rows("select link, version from AssetVersion where asset.parent.name is sh020 and version is 2")
    assert [l["type"] for l in v["link"]] == ["Project", "Episode", "Sequence", "Shot", "AssetVersion"]
    assert v["link"][-1]["id"] == v["id"]
    [b] = demo.rows('select link from AssetBuild where name is "Café Müller"')
    assert [l["name"] for l in b["link"]] == ["theproject", "assets", "Café Müller"]


def test_quoting_and_escaping(demo):
    for expr in ['select name from Shot where name is "O\'Brien \\"final\\" \\\\ shot"',
                 "select name from Shot where name is 'O\\'Brien \"final\" \\\\ shot'"]:
        rows = demo.rows(expr)
        assert [r["name"] for r in rows] == [QUOTED], expr
    rows = demo.rows('select name from Shot where name is "O\'Brien \\"final\\""')
    assert [r["name"] for r in rows] == ["O'Brien \"final\""]
    rows = demo.rows('select name from Sequence where name is "seq020 / retakes"')
    assert len(rows) == 1
    rows = demo.rows('select name from Sequence where name is "s\\u00e9quence 01"') + \
        demo.rows(json.loads('"select name from Sequence where name is \\"s\\u00e9quence 01\\""'))
    assert [r["name"] for r in rows] == ["séquence 01"]


def test_locations(demo):
    rows = demo.rows("select id, name from Location")
    by = {r["name"]: r["id"] for r in rows}
    for name, lid in BUILTIN_LOCATIONS.items():
        assert by[name] == lid
    for name in ("hq", "la", "maria@acmevfx.com", "lisa@vendor.com"):
        assert name in by


# ---------------------------------------------------------------------------
# The official Python client's exact requests (protocols/ftrack.md §2, §5, §6, §10)

def python_body(ops):
    return json.dumps(ops, sort_keys=True).encode("ascii")      # what Session.encode sends


def test_python_client_startup_and_queries(demo):
    h = {"ftrack-strict-api": "false", "User-Agent": "python-requests/2.28.1", "Accept-Encoding": "gzip, deflate"}
    st, body = demo.raw_api(python_body([{"action": "query_server_information"}]), headers=h)
    assert st == 200 and json.loads(body)[0]["schema_hash"] == "23a1157b8b1730fd91c76f63dcd67a8f"
    st, body = demo.raw_api(python_body([{"action": "query_schemas"}]), headers=h)
    assert len(json.loads(body)[0]) == 116
    st, body = demo.raw_api(python_body([{"action": "query", "expression":
                                          'select context_type, id, name from Project where name is "foo" limit 1'}]),
                            headers=h)
    assert json.loads(body) == [{"action": "query", "data": [], "metadata": {"next": {"offset": None}}}]
    st, body = demo.raw_api(python_body([{"action": "query", "expression":
                                          "select id from Location offset 0 limit 500"}]), headers=h)
    r = json.loads(body)[0]
    assert len(r["data"]) == 9 and r["metadata"]["next"]["offset"] is None
    [p] = demo.rows('select context_type, id, name from Project where name is "theproject" limit 1')
    got = demo.rows('select id from Project where (id is "%s")' % p["id"])
    assert got == [{"__entity_type__": "Project", "id": p["id"], "context_type": "show"}]


def test_python_client_commit_batch(sim_factory):
    s = sim_factory(data=EMPTY_STUDIO)
    [proj] = s.api([{"action": "create", "entity_type": "Project",
                     "entity_data": {"name": "proj", "project_schema_id": VFX_SCHEMA}}])
    [shot] = s.api([{"action": "create", "entity_type": "Shot",
                     "entity_data": {"name": "sh010", "parent_id": proj["data"]["id"]}}])
    [asset] = s.api([{"action": "create", "entity_type": "Asset",
                      "entity_data": {"name": "plate", "context_id": shot["data"]["id"]}}])
    [ver] = s.api([{"action": "create", "entity_type": "AssetVersion",
                    "entity_data": {"asset_id": asset["data"]["id"]}}])
    vid = ver["data"]["id"]
    cid, clid = "5ae1379d-dc19-4bd8-a2b6-0c0bd70d0a55", "e6a39f0f-db12-4c24-af82-aca47b781d8d"
    # create_component(path, location=unmanaged): one commit, keys sorted (§2.4, §6).
    ops = [
        {"action": "create", "entity_type": "FileComponent", "entity_key": [cid],
         "entity_data": {"__entity_type__": "FileComponent", "file_type": ".exr", "id": cid, "name": "main",
                         "size": 0, "version_id": vid}},
        {"action": "create", "entity_type": "ComponentLocation", "entity_key": [clid],
         "entity_data": {"__entity_type__": "ComponentLocation", "id": clid,
                         "component": {"__entity_type__": "FileComponent", "id": cid},
                         "location": {"__entity_type__": "Location", "id": UNMANAGED},
                         "resource_identifier": "/mnt/proj/seq/sh010/plate.exr"}},
    ]
    st, body = s.raw_api(python_body(ops))
    res = json.loads(body)
    assert isinstance(res, list), res
    assert st == 200 and [r["action"] for r in res] == ["create", "create"]
    fc = res[0]["data"]
    assert fc["__entity_type__"] == "FileComponent" and fc["id"] == cid and fc["system_type"] == "file"
    assert fc["name"] == "main" and fc["file_type"] == ".exr" and fc["size"] == 0 and fc["version_id"] == vid
    cl = res[1]["data"]
    assert cl["id"] == clid and cl["component_id"] == cid and cl["location_id"] == UNMANAGED
    # Location._get_resource_identifiers, unquoted ids.
    r = s.rows("select component_id, resource_identifier from ComponentLocation where location_id is %s and "
               "component_id in (%s, %s)" % (UNMANAGED, cid, str(uuid.uuid4())))
    assert [(x["component_id"], x["resource_identifier"]) for x in r] == [(cid, "/mnt/proj/seq/sh010/plate.exr")]
    # Availability: populate(components, "component_locations.location_id").
    r = s.rows("select component_locations.location_id from Component where id in (%s)" % cid)
    assert r[0]["component_locations"][0]["location_id"] == UNMANAGED
    # Removal: find and delete the ComponentLocation.
    [found] = s.rows("select id from ComponentLocation where component_id is %s and location_id is %s"
                     % (cid, UNMANAGED))
    assert s.api([{"action": "delete", "entity_type": "ComponentLocation", "entity_key": [found["id"]]}]) == \
        [{"action": "delete", "data": True}]
    assert s.rows("select id from ComponentLocation where component_id is %s" % cid) == []


# ---------------------------------------------------------------------------
# Create, update, delete

def create(s, t, **data):
    r = s.api([{"action": "create", "entity_type": t, "entity_data": dict(data, __entity_type__=t)}])
    assert isinstance(r, list), r
    return r[0]["data"]


def test_build_studio_through_api(sim_factory):
    s = sim_factory(data=EMPTY_STUDIO)
    p = create(s, "Project", name="built", full_name="Built", project_schema_id=VFX_SCHEMA)
    assert p["context_type"] == "show"
    ep = create(s, "Episode", name="ep1", parent={"__entity_type__": "Project", "id": p["id"]})
    sq = create(s, "Sequence", name="sq1", parent_id=ep["id"])
    sh = create(s, "Shot", name="sh1", parent_id=sq["id"])
    assert sh["object_type_id"] == SHOT_OT and sh["context_type"] == "task" and sh["project_id"] == p["id"]
    assert sh["priority_id"] == PRIORITY_NONE
    assert sh["created_at"]["__type__"] == "datetime"
    task = create(s, "Task", name="comp", parent_id=sh["id"])
    folder = create(s, "Folder", name="assets", parent_id=p["id"])
    build = create(s, "AssetBuild", name="hero", parent_id=folder["id"])
    asset = create(s, "Asset", name="comp", context_id=sh["id"])
    v1 = create(s, "AssetVersion", asset={"__entity_type__": "Asset", "id": asset["id"]}, task_id=task["id"])
    v2 = create(s, "AssetVersion", asset_id=asset["id"], comment="second")
    v7 = create(s, "AssetVersion", asset_id=asset["id"], version=7,
                date={"__type__": "datetime", "value": "2024-06-01T10:00:00+02:00"})
    assert (v1["version"], v2["version"], v7["version"]) == (1, 2, 7)
    assert v1["date"]["__type__"] == "datetime" and v7["date"]["value"] == "2024-06-01T08:00:00"
    assert v1["is_published"] is True and v1["status_id"]
    latest = s.rows("select version, is_latest_version from AssetVersion where asset_id is %s order by version"
                    % asset["id"])
    assert [(x["version"], x["is_latest_version"]) for x in latest] == [(1, False), (2, False), (7, True)]
    [a] = s.rows("select latest_version.version from Asset where id is %s" % asset["id"])
    assert a["latest_version"]["version"] == 7
    f = create(s, "FileComponent", name="main", file_type=".exr", size=10, version_id=v1["id"])
    seq = create(s, "SequenceComponent", name="plate", file_type=".exr", padding=4, version_id=v1["id"])
    m = create(s, "FileComponent", name="1001", file_type=".exr", container_id=seq["id"])
    cont = create(s, "ContainerComponent", name="tex", version_id=v1["id"])
    assert (f["system_type"], seq["system_type"], cont["system_type"]) == ("file", "sequence", "container")
    loc = create(s, "Location", name="studio.disk", label="Disk")
    cl = create(s, "ComponentLocation", component_id=f["id"], location_id=loc["id"], resource_identifier="a/b.exr")
    job = create(s, "Job", user_id=JENKINS_ID, status="running", data=json.dumps({"description": "x"}))
    assert job["type"] == "api_job" and job["status"] == "running"
    [row] = s.rows("select components.name, components.component_locations.resource_identifier from AssetVersion "
                   "where id is %s" % v1["id"])
    assert sorted(c["name"] for c in row["components"]) == ["main", "plate", "tex"]
    [row] = s.rows("select members.name from SequenceComponent where id is %s" % seq["id"])
    assert [x["name"] for x in row["members"]] == ["1001"]
    assert m["container_id"] == seq["id"]
    [b] = s.rows("select link from AssetBuild where id is %s" % build["id"])
    assert [x["name"] for x in b["link"]] == ["built", "assets", "hero"]
    assert cl["resource_identifier"] == "a/b.exr"

    # update: rename and move; project_id and link follow.
    p2 = create(s, "Project", name="other", project_schema_id=VFX_SCHEMA)
    r = s.api([{"action": "update", "entity_type": "Sequence", "entity_key": [sq["id"]],
                "entity_data": {"__entity_type__": "Sequence", "name": "sq1 renamed", "parent_id": p2["id"]}}])
    assert r[0]["action"] == "update" and r[0]["data"]["name"] == "sq1 renamed"
    [moved] = s.rows("select link, project_id from Shot where id is %s" % sh["id"])
    assert moved["project_id"] == p2["id"]
    assert [x["name"] for x in moved["link"]] == ["other", "sq1 renamed", "sh1"]
    r = s.api([{"action": "update", "entity_type": "Job", "entity_key": [job["id"]],
                "entity_data": {"status": "done"}}])
    assert r[0]["data"]["status"] == "done"

    # delete cascades to owned entities.
    assert s.api([{"action": "delete", "entity_type": "Shot", "entity_key": [sh["id"]]}])[0]["data"] is True
    for t, i in (("Shot", sh["id"]), ("Task", task["id"]), ("Asset", asset["id"]), ("AssetVersion", v1["id"]),
                 ("FileComponent", f["id"]), ("FileComponent", m["id"]), ("ComponentLocation", cl["id"])):
        assert s.rows("select id from %s where id is %s" % (t, i)) == [], t
    assert len(s.rows("select id from Location where name is studio.disk")) == 1

    changes = s.changes()
    acts = [(c["action"], c["entity_type"]) for c in changes["changes"]]
    assert ("add", "Shot") in acts and ("update", "Sequence") in acts and ("remove", "ComponentLocation") in acts
    assert [c["seq"] for c in changes["changes"]] == list(range(1, len(acts) + 1))


def test_create_echo_uses_client_id_and_entity_key(sim_factory):
    s = sim_factory(data=EMPTY_STUDIO)
    pid = str(uuid.uuid4())
    [r] = s.api([{"action": "create", "entity_type": "Project", "entity_key": [pid],
                  "entity_data": {"name": "k", "project_schema_id": VFX_SCHEMA}}])
    assert r["data"]["id"] == pid and r["data"]["name"] == "k" and r["data"]["__entity_type__"] == "Project"


def test_validation_errors(sim_factory):
    s = sim_factory(data=EMPTY_STUDIO)
    bad = [
        {"action": "create", "entity_type": "Location", "entity_data": {"label": "no name"}},
        {"action": "create", "entity_type": "Project", "entity_data": {"name": "noschema"}},
        {"action": "create", "entity_type": "Shot", "entity_data": {"name": "orphan"}},
        {"action": "create", "entity_type": "NoSuchType", "entity_data": {}},
        {"action": "create", "entity_type": "TypedContext", "entity_data": {"name": "x"}},
        {"action": "create", "entity_type": "Asset", "entity_data": {"name": "x", "context_id": str(uuid.uuid4())}},
        {"action": "create", "entity_type": "FileComponent", "entity_data": {"nonsense": 1}},
    ]
    for op in bad:
        err = s.api([op])
        assert isinstance(err, dict) and err["exception"] == "ValidationError", op
        st, body = s.raw_api([op], headers={"ftrack-strict-api": "true"})
        assert st >= 400 and json.loads(body)["exception"] == "ValidationError"
    err = s.api([{"action": "update", "entity_type": "Shot", "entity_key": [str(uuid.uuid4())],
                  "entity_data": {"name": "x"}}])
    assert isinstance(err, dict) and "not found" in err["content"]
    loc = create(s, "Location", name="dup")
    err = s.api([{"action": "create", "entity_type": "Location", "entity_data": {"name": "dup"}}])
    assert err["exception"] == "ValidationError" and loc["name"] == "dup"


def test_batch_is_atomic(sim_factory):
    s = sim_factory(data=EMPTY_STUDIO)
    p = create(s, "Project", name="atomic", project_schema_id=VFX_SCHEMA)
    before = s.changes()["last"]
    sh_id = str(uuid.uuid4())
    err = s.api([
        {"action": "create", "entity_type": "Shot", "entity_key": [sh_id],
         "entity_data": {"id": sh_id, "name": "new", "parent_id": p["id"]}},
        {"action": "update", "entity_type": "Project", "entity_key": [p["id"]], "entity_data": {"name": "renamed"}},
        {"action": "delete", "entity_type": "Project", "entity_key": [p["id"]]},
        {"action": "create", "entity_type": "Location", "entity_data": {}},      # fails: no name
    ])
    assert isinstance(err, dict) and err["exception"] == "ValidationError"
    assert s.rows("select id from Shot") == []
    assert [r["name"] for r in s.rows("select name from Project")] == ["atomic"]
    assert s.changes()["last"] == before
    # The same batch without the failing op commits everything.
    r = s.api([{"action": "create", "entity_type": "Shot", "entity_key": [sh_id],
                "entity_data": {"id": sh_id, "name": "new", "parent_id": p["id"]}},
               {"action": "query", "expression": "select name, parent.name from Shot"}])
    assert r[1]["data"][0]["parent"]["name"] == "atomic"


# ---------------------------------------------------------------------------
# Demo data on disk

def test_demo_files_exist_with_right_size(demo):
    loc = {r["id"]: r["name"] for r in demo.rows("select id, name from Location")}
    cls = demo.rows("select resource_identifier, component.size, component.name, location_id "
                    "from ComponentLocation", headers={"ftrack-api-options": "strict:1;denormalize:1"})
    checked = 0
    party = {"hq": "hq", "la": "la", "maria@acmevfx.com": "maria@acmevfx.com", "lisa@vendor.com": "lisa@vendor.com"}
    for cl in cls:
        ri, comp, lname = cl["resource_identifier"], cl["component"], loc[cl["location_id"]]
        if comp["__entity_type__"] != "FileComponent":
            continue
        if lname == "ftrack.unmanaged":
            norm = ri.replace("\\", "/")
            for pre in ("/storage/", "S:/", "//192.168.1.240/storage/"):
                if norm.startswith(pre):
                    path = demo.path_of("hq", *norm[len(pre):].split("/"))
                    break
            else:
                pytest.fail("unmapped path %r" % ri)
        elif lname in party:
            path = demo.path_of(party[lname], *ri.split("/"))
        else:
            continue
        assert os.path.isfile(path), path
        assert os.path.getsize(path) == comp["size"], path
        with open(path, "rb") as f:
            head = f.read(37)
        assert head == (comp["id"] + "\n").encode()[:len(head)]
        checked += 1
    assert checked > 40
    # The three spellings of hq's root share.
    assert os.path.isfile(demo.path_of("hq", "theproject", "ep01", "seq010", "sh020", "comp", "v001", "main.exr"))
    assert os.path.isfile(demo.path_of("hq", "theproject", "ep01", "seq010", "sh020", "comp", "v002", "main.exr"))
    assert os.path.isfile(demo.path_of("hq", "theproject", "ep01", "seq010", "sh010", "comp", "v001",
                                       "plate.1003.exr"))
    assert os.path.isdir(demo.path_of("hq", "theproject", "assets", "Café Müller", "model", "v001", "textures"))
    assert os.path.isfile(demo.path_of("la", "theproject", "ep01", "seq010", "sh010", "comp", "v003", "main.exr"))
    assert os.path.isdir(demo.path_of("lisa@vendor.com"))


def test_demo_components_in_no_local_location(demo):
    # spot2024 v003 main.exr is only on ftrack.server; notes.txt is nowhere.
    [srv] = demo.rows("select name, component_locations.location_id from FileComponent where "
                      "version.asset.parent.name is 'sh010 hero' and version.version is 3 and name is main")
    assert [c["location_id"] for c in srv["component_locations"]] == [SERVER_LOC]
    [n] = demo.rows("select component_locations from FileComponent where name is notes")
    assert n["component_locations"] == []


# ---------------------------------------------------------------------------
# Scale: generated studios answer indexed queries fast

def test_gen_studio_and_indexed_queries(tmp_path, sim_factory):
    out = tmp_path / "gen.json"
    t0 = time.time()
    subprocess.run([PYTHON, os.path.join(SIM_DIR, "gen-studio"), "--versions", "20000", "--seed", "7",
                    "--no-files", "--out", str(out)], check=True, capture_output=True)
    assert time.time() - t0 < 30
    s = sim_factory(data=str(out))
    r = s.query("select id from AssetVersion offset 19990 limit 500")
    assert len(r["data"]) == 10 and r["metadata"]["next"]["offset"] is None
    [shot] = s.rows('select id from Shot where name is "sh0100" limit 1')
    t0 = time.time()
    for _ in range(10):
        rows = s.rows("select id, version from AssetVersion where asset.context_id is %s offset 0 limit 500"
                      % shot["id"])
        comps = s.rows("select id, name from Component where version_id in (%s)" % ",".join(ids(rows)))
        cls = s.rows("select component_id, resource_identifier from ComponentLocation where component_id in (%s)"
                     % ",".join(ids(comps)))
    elapsed = (time.time() - t0) / 10
    assert len(rows) == 10 and len(comps) == 20 and len(cls) >= 20
    assert elapsed < 0.25, elapsed
