#!/usr/bin/env bash
# Decode benchmark: a 50,000-entity ftrack query reply, decoded by the C
# client (validated parse + identity map + typed structs) and parsed by
# Python's json.loads, same bytes, same run. Prints both and the ratio.
# The C figure includes freeing the reply tree and identity map (teardown):
# every reply costs it, even when it happens after the rows are used.
#   scripts/bench/decode.sh [ENTITIES] [ITERATIONS]
set -euo pipefail

n=${1:-50000}
iters=${2:-7}
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${FTRACKFS_BUILD_ROOT:-$top/build-remote}
work=$(mktemp -d /tmp/ftrackfs-decode-bench.XXXXXX)
trap '[ -n "${KEEP_BENCH:-}" ] || rm -rf "$work"' EXIT

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$top" >/dev/null
fi
ninja -C "$build" remote/libftrackfs-remote.a util/libftrackfs-util.a >/dev/null
# shellcheck disable=SC2046
cc -O2 -g -std=gnu11 -D_GNU_SOURCE -I"$top/include" -I"$top/remote" \
	$(pkg-config --cflags libcjson) \
	-o "$work/decode-bench" "$top/scripts/bench/decode-bench.c" \
	"$build/remote/libftrackfs-remote.a" "$build/util/libftrackfs-util.a" \
	$(pkg-config --libs libcjson libcurl openssl) -lpthread -lm

# The reply: one query result of $n AssetVersions, as the server sends them:
# dates as {"__type__": "datetime"}, a nested user fully encoded once and as a
# bare reference afterwards (de-duplication), non-ASCII comments.
/usr/bin/python3 - "$n" "$work/reply.json" <<'PY'
import json, sys, uuid
n, out = int(sys.argv[1]), sys.argv[2]
users = [{"__entity_type__": "User", "id": str(uuid.UUID(int=i + 1, version=4)), "username": "artist%02d" % i}
         for i in range(20)]
seen = set()
rows = []
for i in range(n):
    u = users[i % 20]
    ref = {"__entity_type__": "User", "id": u["id"]}
    rows.append({"__entity_type__": "AssetVersion", "id": str(uuid.UUID(int=(1 << 64) + i, version=4)),
                 "version": i % 250 + 1, "asset_id": str(uuid.UUID(int=(2 << 64) + i // 5, version=4)),
                 "date": {"__type__": "datetime", "value": "2024-05-%02dT10:%02d:%02d" % (i % 28 + 1, i % 60, i % 60)},
                 "comment": "take %d — café" % i, "user_id": u["id"], "task_id": None,
                 "user": ref if u["id"] in seen else dict(u)})
    seen.add(u["id"])
reply = [{"action": "query", "data": rows, "metadata": {"next": {"offset": None}}}]
with open(out, "w", encoding="utf-8") as f:
    json.dump(reply, f, ensure_ascii=False)
PY

echo "reply: $n entities, $(stat -c %s "$work/reply.json") bytes"
c=$("$work/decode-bench" "$work/reply.json" "$iters")
py=$(/usr/bin/python3 "$top/scripts/bench/decode-bench.py" "$work/reply.json" "$iters")
echo "C      $c"
echo "Python $py"
/usr/bin/python3 - "$c" "$py" <<'PY'
import json, sys
c, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("C full decode incl. teardown:                   %.0f entities/s, median %.1f ms, peak RSS %.1f MiB (+%.1f MiB)"
      % (c["entities_per_s"], c["median_s"] * 1e3, c["peak_rss_kib"] / 1024,
         (c["peak_rss_kib"] - c["rss_before_kib"]) / 1024))
print("  of which decode (parse + identity map + structs): median %.1f ms" % (c["decode_median_s"] * 1e3))
print("  of which teardown (reply tree + identity map):    median %.1f ms" % (c["teardown_median_s"] * 1e3))
print("C parse only (validated, tree kept, like json.loads): median %.1f ms" % (c["parse_median_s"] * 1e3))
print("Python json.loads:                              %.0f entities/s, median %.1f ms, peak RSS %.1f MiB (+%.1f MiB)"
      % (p["entities_per_s"], p["loads_median_s"] * 1e3, p["peak_rss_kib"] / 1024,
         (p["peak_rss_kib"] - p["rss_before_kib"]) / 1024))
print("Python json.loads + walk to tuples:             median %.1f ms" % (p["loads_plus_walk_median_s"] * 1e3))
print("ratio C full decode incl. teardown / json.loads, speed: %.2fx   (C parse only / json.loads: %.2fx)"
      % (c["entities_per_s"] / p["entities_per_s"], p["loads_median_s"] / c["parse_median_s"]))
print("ratio peak RSS growth, C / Python: %.2f"
      % ((c["peak_rss_kib"] - c["rss_before_kib"]) / max(1, p["peak_rss_kib"] - p["rss_before_kib"])))
PY
