#!/usr/bin/env bash
# Set up and run the ftrackfs demo on a fresh Debian 12 machine:
# installs what is missing (apt-get), builds, starts the studio simulator
# (ftrack + accsyn on loopback) with the demo studio, mounts it at ./mnt as a
# workstation of the "hq" site, and prints what to try. Ctrl-C stops
# everything and unmounts.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

scripts/install-deps.sh

if [ -f build/build.ninja ]; then
	meson setup --reconfigure build >/dev/null
else
	meson setup build >/dev/null
fi
meson compile -C build >/dev/null

state="$top/.demo"
mnt="$top/mnt"
mkdir -p "$state/storage" "$mnt"
chmod 700 "$state"

sim_pid=
fs_pid=
cleanup() {
	trap - INT TERM EXIT
	echo
	echo "demo: stopping"
	if mountpoint -q "$mnt" 2>/dev/null; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null || true
	fi
	[ -n "$fs_pid" ] && kill "$fs_pid" 2>/dev/null && wait "$fs_pid" 2>/dev/null
	[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
	exit 0
}
trap cleanup INT TERM EXIT

# A stale mount from a killed demo would make ./mnt unusable.
if grep -qs " $mnt fuse" /proc/mounts; then
	fusermount3 -uz "$mnt" || true
fi

coproc SIM { exec /usr/bin/python3 scripts/sim/studio-sim \
	--data scripts/sim/data/demo.json --storage "$state/storage" \
	--log "$state/requests.log" 2>"$state/sim.log"; }
sim_pid=$SIM_PID
read -r -t 30 ready <&"${SIM[0]}" || { echo "demo: the simulator did not start; see $state/sim.log" >&2; exit 1; }
ftrack_url=$(printf '%s' "$ready" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["ftrack"])')
accsyn_addr=$(printf '%s' "$ready" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["accsyn"])')

# The demo studio's credentials (scripts/sim/data/demo.json); a real studio
# sets these in the environment, never on a command line.
export FTRACK_SERVER="$ftrack_url"
export FTRACK_API_USER=alice
export FTRACK_API_KEY=$(/usr/bin/python3 - <<'PY'
import json
d = json.load(open("scripts/sim/data/demo.json"))
print(next(u["api_key"] for u in d["users"] if u["username"] == "alice"))
PY
)
export ACCSYN_PROXY="$accsyn_addr"
export ACCSYN_WORKSPACE=acmevfx
export ACCSYN_API_USER=alice@acmevfx.com
export ACCSYN_API_KEY=$(/usr/bin/python3 - <<'PY'
import json
d = json.load(open("scripts/sim/data/demo.json"))
users = d.get("accsyn", {}).get("users", [])
print(next((u.get("api_key", "") for u in users if u.get("email") == "alice@acmevfx.com"), ""))
PY
)

echo "demo: studio simulator running"
echo "  ftrack:  $ftrack_url   (user alice)"
echo "  accsyn:  $accsyn_addr  (workspace acmevfx)"
echo "  storage: $state/storage/<site or e-mail>/"
echo "  request log: $state/requests.log"

if [ -x build/fs/ftrackfs ]; then
	sed "s|@STORAGE@|$state/storage|g" fs/examples/demo.conf >"$state/ftrackfs.conf"
	XDG_CACHE_HOME="$state/cache" build/fs/ftrackfs -f --config "$state/ftrackfs.conf" "$mnt" \
		2>"$state/ftrackfs.log" &
	fs_pid=$!
	for _ in $(seq 50); do
		mountpoint -q "$mnt" && break
		sleep 0.1
	done
	if ! mountpoint -q "$mnt"; then
		echo "demo: the mount failed; see $state/ftrackfs.log" >&2
		exit 1
	fi
	cat <<TXT

ftrackfs is mounted at ./mnt (this machine is an "hq" workstation). Try:
  ls mnt/projects                          the studio's projects
  ls -l mnt/projects/*/*                   contexts, assets, versions
  find mnt/projects | head -40             the whole tree (served from the LMDB cache after the first walk)
  getfattr -d mnt/projects/<…>/v001/<file> ftrack id, type, and where the component is
  cat mnt/.ftrackfs/status                 connection, cache and errors
  ls mnt/locations                         one folder per site, employee and vendor
  mkdir -p "mnt/locations/la/theproject/assets/Café Müller/model"
  cp -r "mnt/projects/theproject/assets/Café Müller/model/v001" "mnt/locations/la/theproject/assets/Café Müller/model/"
                                           send a version to the LA site: one accsyn job,
                                           the files arrive in .demo/storage/la/
  getfattr -n user.ftrack.state "mnt/locations/la/theproject/assets/Café Müller/model/v001/geo.abc"
                                           queued, transferring N%, then present
  ls mnt/.ftrackfs/jobs                    one JSON file per transfer job
  build/fs/ftrackfs status mnt             the same status from the CLI
Logs: $state/ftrackfs.log. Press Ctrl-C to unmount and stop.
TXT
else
	echo "demo: build/fs/ftrackfs is not built yet; only the simulator runs."
	echo "Press Ctrl-C to stop."
fi

wait "$sim_pid"
