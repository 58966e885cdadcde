#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Benchmark the send engine without a mount: 1,000 components (10 GiB
# nominal, 10 MiB each in ftrack; 1-byte files on disk so the simulated
# transfer is quick) sent to one location through ftrackfs-sendctl.
#
#   scripts/bench/send-engine.sh [N_COMPONENTS]
#
# Reports: wall time to record the intents (one process, one LMDB
# transaction per intent), time until the job exists and until every
# component is registered, accsyn jobs created, requests per service.
# Builds in $BUILD_DIR (default build-bench); works in a temporary directory.
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$src/build-bench}
n=${1:-1000}

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$src" --buildtype=release -Dtests=false >/dev/null
fi
meson compile -C "$build" ftrackfs-sendctl >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/ftrackfs-send-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

FTRACKFS_BUILD_ROOT=$build /usr/bin/python3 - "$src" "$work" "$n" <<'PY'
import json, os, subprocess, sys, time
src, work, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path[:0] = [os.path.join(src, "tests", "integration")]
from simulator import Simulator
from sendctl import LOC, SendCtl, our_jobs

per = 5
versions = (n + per - 1) // per
data = os.path.join(work, "studio.json")
subprocess.run([sys.executable, os.path.join(src, "scripts/sim/gen-studio"), "--versions", str(versions),
                "--components-per-version", str(per), "--no-files", "--out", data],
               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
studio = json.load(open(data))
comps = [e for e in studio["entities"] if e["__entity_type__"] == "FileComponent"][:n]
for c in comps:
    c["size"] = 10 << 20                          # 10 MiB nominal each
json.dump(studio, open(data, "w"))
ri = {e["component_id"]: e["resource_identifier"] for e in studio["entities"]
      if e["__entity_type__"] == "ComponentLocation" and e["resource_identifier"].startswith("/storage/")}

os.makedirs(os.path.join(work, "sim"))
sim = Simulator(data=data, workdir=os.path.join(work, "sim")).start()
try:
    for c in comps:                                 # 1-byte files in hq's root share
        p = sim.path_of("hq", ri[c["id"]][len("/storage/"):])
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(b"x")
    ctl = SendCtl(sim, work, quiet_ms=2000, poll_ms=500)
    ids = [c["id"] for c in comps]
    sim.clear_log()
    t0 = time.time()
    assert ctl.enqueue("maria@acmevfx.com", *ids) == n
    t_enqueue = time.time() - t0
    t1 = time.time()
    proc = ctl.popen("run", "--until-idle", "--timeout", "600")
    while not our_jobs(sim):
        time.sleep(0.05)
    t_job = time.time() - t1
    out, err = proc.communicate(timeout=900)
    t_done = time.time() - t1
    st = ctl.status()
    log = sim.log()
    reqs = {}
    for e in log:
        reqs[e["listener"]] = reqs.get(e["listener"], 0) + 1
    jobs = our_jobs(sim)
    cls = sim.rows('select id from ComponentLocation where location_id is "%s"'
                   % LOC["maria@acmevfx.com"])
    print("components:            %d (%.1f GiB nominal)" % (n, n * 10 / 1024))
    print("enqueue (1 process):   %.3f s (%.0f intents/s)" % (t_enqueue, n / t_enqueue))
    print("first job after:       %.2f s (quiet period 2 s included)" % t_job)
    print("all registered after:  %.2f s" % t_done)
    print("accsyn jobs created:   %d (%d tasks)" % (len(jobs), sum(len(j["request"]["tasks"]) for j in jobs)))
    print("accsyn job ran:        %s -> %s (simulated transfer)" % (jobs[0].get("created"), jobs[0].get("finished")))
    print("intents done:          %d / %d" % (st["stats"]["done"], n))
    print("ComponentLocations:    %d at maria@acmevfx.com" % len(cls))
    print("requests:              ftrack %d, accsyn %d" % (reqs.get("ftrack", 0), reqs.get("accsyn", 0)))
finally:
    sim.stop()
PY
