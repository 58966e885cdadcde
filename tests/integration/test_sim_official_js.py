"""Fidelity: the official ftrack JavaScript client (@ftrack/api 1.11.2, from
npm, unchanged) against the simulator. scripts/test.sh installs it with
`npm ci` from tests/conformance/ftrack-js/package-lock.json."""

import json
import os
import shutil
import subprocess

import pytest

from simulator import ALICE, REPO_ROOT

JS_DIR = os.path.join(REPO_ROOT, "tests", "conformance", "ftrack-js")
UNMANAGED = "ftrack.unmanaged"


def _run_client(sim):
    node = shutil.which("node")
    assert node, "node is required (scripts/install-deps.sh installs it)"
    if not os.path.isdir(os.path.join(JS_DIR, "node_modules", "@ftrack", "api")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=JS_DIR, check=True, timeout=300)
    env = dict(os.environ, FTRACK_SERVER=sim.ftrack_url,
               FTRACK_API_USER=ALICE[0], FTRACK_API_KEY=ALICE[1])
    p = subprocess.run([node, "conformance.mjs"], cwd=JS_DIR, env=env,
                       capture_output=True, text=True, timeout=300)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    assert lines, "no result from the client: %s %s" % (p.stdout, p.stderr)
    out = json.loads(lines[-1])
    assert p.returncode == 0, out.get("error") or p.stderr
    return out


@pytest.fixture(scope="module")
def js_run(tmp_path_factory):
    from simulator import Simulator
    s = Simulator().start()
    try:
        out = _run_client(s)
        log = s.log()
        versions = s.rows("select id from AssetVersion")
        yield out, log, versions
    finally:
        s.stop()


def test_start_up_batch_and_schemas(js_run):
    out, log, _ = js_run
    # The JS client sends query_server_information + query_schemas in one batch.
    first = [e for e in log if e["path"] == "/api"][1]  # [0] is the bad-key session
    assert first["ops"] == 2
    assert "query_server_information" in first["info"] and "query_schemas" in first["info"]
    assert out["schema_count"] == 116
    assert out["schema_hash"] == "23a1157b8b1730fd91c76f63dcd67a8f"


def test_bad_key_is_the_server_error(js_run):
    out, _, _ = js_run
    assert out["bad_key"]["ok"] is False
    assert "API key" in out["bad_key"]["message"]


def test_built_in_locations(js_run):
    out, _, _ = js_run
    for name in ("ftrack.origin", "ftrack.unmanaged", "ftrack.review", "ftrack.server", "ftrack.connect"):
        assert name in out["location_names"]


def test_paging_follows_next_offset_to_null(js_run):
    out, log, versions = js_run
    ids = [v["id"] for v in versions]
    assert out["version_total"] == len(ids)
    assert sorted(out["version_ids"]) == sorted(ids)
    assert len(set(out["version_ids"])) == len(ids), "a row came back twice"
    # ceil(n / 3) pages: the last page reports next.offset null even when full.
    assert out["version_pages"] == -(-len(ids) // 3)
    assert len(ids) > 6, "the demo studio should need several pages"
    paged = [e for e in log if "limit 3" in e.get("info", "")]
    assert len(paged) == out["version_pages"]


def test_create_component_and_location_round_trip(js_run):
    out, _, _ = js_run
    c = out["created_component"]
    assert c["type"] == "FileComponent" and c["name"] == "conformance"
    assert c["size"] == 42 and c["system_type"] == "file"
    assert out["component_location_rows"] == [{
        "resource_identifier": "/storage/conformance/it's \"here\".exr",
        "component_name": "conformance",
        "location_name": UNMANAGED,
    }]
    # Querying the base type returns the concrete subtype.
    assert out["renamed"] == [{"type": "FileComponent", "name": "renamed"}]
    assert out["after_delete"] == 0


def test_batches_line_up_and_fail_atomically(js_run):
    out, _, _ = js_run
    assert out["batch"] == [{"action": "query", "n": 1}, {"action": "query", "n": 1}]
    assert out["atomic"]["ok"] is False
    assert out["atomic_rows"] == 0, "a failed batch must not keep its create"
