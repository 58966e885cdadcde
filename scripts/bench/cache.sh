#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Benchmark cache/ with a million entities (see scripts/bench/cache-bench.c).
#
#   scripts/bench/cache.sh [N_ENTITIES] [DIR_SIZE]
#
# Builds cache-bench if needed (in $BUILD_DIR, default build-bench), runs it
# against a fresh cache in a temporary directory (under $TMPDIR, never the
# source tree) and removes that directory afterwards.
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$src/build-bench}

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$src" --buildtype=release -Dtests=false >/dev/null
fi
meson compile -C "$build" cache-bench >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/ftrackfs-cache-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

df -hT "$work" | tail -n 1 | awk '{print "filesystem: " $2 " (" $1 ")"}'
"$build/cache/cache-bench" "$work/cache" "$@"
