#!/usr/bin/python3
"""Python's side of the decode benchmark: json.loads of the same reply bytes,
and json.loads plus walking the rows into plain tuples (the nearest Python
equivalent of decoding into structs). Prints one JSON line."""

import json
import resource
import statistics
import sys
import time


def main():
    path = sys.argv[1]
    iters = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with open(path, "rb") as f:
        data = f.read()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    loads, walk = [], []
    n = 0
    for _ in range(iters):
        t0 = time.perf_counter()
        reply = json.loads(data)
        loads.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ids = {}
        for res in reply:
            for row in res["data"]:
                ids[(row["__entity_type__"], row["id"])] = row
        rows = [(r["id"], r.get("version"), r.get("asset_id"), (r.get("date") or {}).get("value"),
                 r.get("comment"), (ids.get(("User", (r.get("user") or {}).get("id"))) or {}).get("username"))
                for res in reply for r in res["data"]]
        walk.append(time.perf_counter() - t0)
        n = len(rows)
        del reply, rows, ids
    med = statistics.median(loads)
    print(json.dumps({"entities": n, "bytes": len(data), "iterations": iters, "loads_best_s": min(loads),
                      "loads_median_s": med, "entities_per_s": n / med,
                      "loads_plus_walk_median_s": med + statistics.median(walk),
                      "rss_before_kib": rss_before,
                      "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


if __name__ == "__main__":
    main()
