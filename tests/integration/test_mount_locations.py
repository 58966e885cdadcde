"""locations/<L>/: the projects tree filtered to what each location holds."""

import errno
import os

import pytest

from expected_tree import HQ_PREFIXES, UNMANAGED, expected, load, local_copy
from mount import mount_factory, mnt  # noqa: F401  (fixtures)
from simulator import DEMO_DATA


def location_ids():
    return {l["name"]: l["id"] for l in load(DEMO_DATA)["locations"]}


def held_by(loc_name):
    """Component ids a location's view must show."""
    locs = location_ids()
    ids = set()
    for e in load(DEMO_DATA)["entities"]:
        if e["__entity_type__"] != "ComponentLocation":
            continue
        if e["location_id"] == locs[loc_name]:
            ids.add(e["component_id"])
        elif loc_name == "hq" and e["location_id"] == UNMANAGED:
            ri = e["resource_identifier"].replace("\\", "/")
            if any(ri.lower().startswith(p.replace("\\", "/").rstrip("/").lower() + "/")
                   for p in HQ_PREFIXES):
                ids.add(e["component_id"])
    return ids


def view_files(m, loc):
    root = m.p("locations", loc)
    out = set()
    for d, _, fns in os.walk(root):
        for n in fns:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


def test_locations_listed(sim, mnt):
    assert sorted(os.listdir(mnt.p("locations"))) == sorted(
        ["hq", "la", "maria@acmevfx.com", "lisa@vendor.com"])


@pytest.mark.parametrize("loc", ["hq", "la", "maria@acmevfx.com", "lisa@vendor.com"])
def test_view_matches_holdings(sim, mnt, loc):
    _, files = expected(DEMO_DATA)
    ids = held_by(loc)
    want = {rel for rel, comp in files.items() if comp["id"] in ids}
    assert view_files(mnt, loc) == want
    for rel in want:
        f = mnt.p("locations", loc, rel)
        assert os.getxattr(f, "user.ftrack.state") == b"present"
        assert os.path.getsize(f) == files[rel].get("size", 0)


def test_read_through_local_view(sim, mnt):
    _, files = expected(DEMO_DATA)
    n = 0
    for rel in sorted(view_files(mnt, "hq")):
        src = local_copy(DEMO_DATA, sim.storage, files[rel]["id"])
        with open(mnt.p("locations", "hq", rel), "rb") as a, open(src, "rb") as b:
            assert a.read() == b.read(), rel
        n += 1
    assert n >= 30


def test_remote_only_component(sim, mnt):
    _, files = expected(DEMO_DATA)
    hq = held_by("hq")
    la_only = [rel for rel in view_files(mnt, "la") if files[rel]["id"] not in hq]
    assert la_only
    with pytest.raises(OSError) as ei:
        open(mnt.p("locations", "la", la_only[0]), "rb")
    assert ei.value.errno == errno.EREMOTE
    locs = os.getxattr(mnt.p("locations", "la", la_only[0]), "user.ftrack.locations").decode()
    assert "la=present" in locs
