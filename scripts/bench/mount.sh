#!/usr/bin/env bash
# Mount benchmarks (issue 5): see scripts/bench/mount_bench.py. Builds first.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
meson compile -C build >/dev/null
exec /usr/bin/python3 scripts/bench/mount_bench.py "$@"
