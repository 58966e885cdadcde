#!/usr/bin/env bash
# Build the libFuzzer targets (clang, -Dfuzz=true) if needed and run each for
# SECONDS seconds, starting from the seed corpus in tests/fuzz/corpus/<target>.
# Exit status: non-zero if any target crashed, leaked or tripped a sanitizer.
#   scripts/fuzz.sh 60
set -euo pipefail

seconds=${1:-10}
top=$(cd "$(dirname "$0")/.." && pwd)
build=${FTRACKFS_FUZZ_BUILD:-$top/build-fuzz}
targets=(json ftrack_reply accsyn_reply)

if ! command -v clang >/dev/null; then
	echo "fuzz.sh: clang is required" >&2
	exit 1
fi
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" "$top" -Dfuzz=true -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$build" "${targets[@]/#/tests/fuzz/fuzz_}" >/dev/null

status=0
for t in "${targets[@]}"; do
	work="$top/tests/fuzz/corpus-run/$t"
	mkdir -p "$work" "$work.artifacts"
	cp -n "$top/tests/fuzz/corpus/$t/"* "$work/" 2>/dev/null || true
	log="$work.log"
	echo "== fuzz_$t (${seconds}s)"
	if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
		"$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -max_len=65536 \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work.artifacts/" "$work" >"$log" 2>&1; then
		grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$log" | tr '\n' ' '
		echo "ok"
	else
		echo "fuzz_$t FAILED; see $log and $work.artifacts/" >&2
		tail -n 30 "$log" >&2
		status=1
	fi
done
exit $status
