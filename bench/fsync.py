#!/usr/bin/env python3
"""How long this machine's disk takes to make a small write durable.

Every Herald publish on SQLite waits for one (`synchronous=FULL`: the WAL
is fsynced at each group commit), and a memory-only server such as Nchan
waits for none, so this is the part of the publish-to-receive latency that
durability costs on this disk, whatever the server does.

    python3 bench/fsync.py [DIR] [COUNT]

Appends COUNT (default 1000) 4 KiB blocks to a file in DIR (default: the
system's temporary directory, the same disk the fan-out benchmark's
database is on), fsyncing after each, and prints the latencies and one
JSON line.
"""
import json
import os
import statistics
import sys
import tempfile
import time

directory = sys.argv[1] if len(sys.argv) > 1 else tempfile.gettempdir()
count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
block = os.urandom(4096)
fd, path = tempfile.mkstemp(dir=directory, prefix="fsync-")
took = []
try:
    for _ in range(count):
        os.write(fd, block)
        start = time.perf_counter()
        os.fsync(fd)
        took.append((time.perf_counter() - start) * 1e6)
finally:
    os.close(fd)
    os.unlink(path)
took.sort()


def q(p):
    return took[min(len(took) - 1, int(p * len(took)))]


result = {
    "bench": "fsync",
    "dir": directory,
    "count": count,
    "mean_us": round(statistics.fmean(took), 1),
    "p50_us": round(q(0.50), 1),
    "p90_us": round(q(0.90), 1),
    "p99_us": round(q(0.99), 1),
    "max_us": round(took[-1], 1),
}
print(f"fsync of a 4 KiB append in {directory}: mean {result['mean_us']} us, p50 {result['p50_us']} us, "
      f"p90 {result['p90_us']} us, p99 {result['p99_us']} us, max {result['max_us']} us (n={count})")
print(json.dumps(result))
