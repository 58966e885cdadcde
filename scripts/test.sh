#!/usr/bin/env bash
# Set up and run every test of ftrackfs: installs what is missing (apt-get),
# builds with -Dwerror=true, runs the cmocka unit tests (also under
# AddressSanitizer + UndefinedBehaviorSanitizer), a bounded fuzz run, and the
# pytest integration suite against the studio simulator and real mounts.
# Exit status: 0 when everything passed.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

scripts/install-deps.sh

py=/usr/bin/python3
fuzz_seconds=${FTRACKFS_FUZZ_SECONDS:-10}

setup() {
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
}

echo "== build (werror, with the crash points the send tests use)"
setup build -Dwerror=true -Dcrash_points=true
meson compile -C build

echo "== unit tests"
meson test -C build --suite unit --print-errorlogs

echo "== unit tests under ASan + UBSan"
setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false
meson compile -C build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	meson test -C build-asan --suite unit --print-errorlogs

if [ -x scripts/fuzz.sh ]; then
	echo "== fuzz (${fuzz_seconds}s per target)"
	scripts/fuzz.sh "$fuzz_seconds"
fi

echo "== integration tests"
# The official ftrack JavaScript client, pinned by its package-lock.json.
(cd tests/conformance/ftrack-js && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
export FTRACKFS_BUILD_ROOT="$top/build"
"$py" -m pytest -p no:cacheprovider -q tests/integration
