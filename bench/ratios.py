#!/usr/bin/env python3
"""Same-run ratios from a `bench/fanout.sh` JSON lines file.

    python3 bench/ratios.py bench/results/fanout-YYYYMMDDTHHMMSSZ.jsonl [PEER]

The script runs every server once per scenario and round, in a fixed order,
so the n-th run of a label in a scenario belongs to round n. For each
scenario and round this prints every server's p50 / p99 latency, its CPU per
delivered event (user + kernel, from /proc), delivered events/s, and each
server's p99 and CPU as a ratio to PEER's (default: nchan) in that round,
and, where the generator recorded it, the generator's own CPU per event.
"""
import collections
import json
import sys

path = sys.argv[1]
peer = sys.argv[2] if len(sys.argv) > 2 else "nchan"
runs = collections.defaultdict(list)  # (scenario, server) -> runs in order
scenarios, servers = [], []
with open(path) as f:
    for line in f:
        r = json.loads(line)
        server, _, scenario = r["label"].partition(" N=")
        scenario = "N=" + scenario
        runs[(scenario, server)].append(r)
        if scenario not in scenarios:
            scenarios.append(scenario)
        if server not in servers:
            servers.append(server)


def cpu(r):
    s = r.get("server") or {}
    return s.get("cpu_us_per_event"), s.get("user_us_per_event"), s.get("system_us_per_event")


for scenario in scenarios:
    print(f"== {scenario}")
    rounds = max(len(runs[(scenario, s)]) for s in servers)
    for i in range(rounds):
        base = runs[(scenario, peer)][i] if i < len(runs[(scenario, peer)]) else None
        for server in servers:
            if i >= len(runs[(scenario, server)]):
                continue
            r = runs[(scenario, server)][i]
            lat = r["latency"]
            total, user, system = cpu(r)
            split = f" ({user:.2f} user, {system:.2f} kernel)" if user is not None else ""
            line = (
                f"  round {i + 1} {server:<24} p50 {lat['p50_us'] / 1000:7.2f} ms  p99 {lat['p99_us'] / 1000:7.2f} ms  "
                f"cpu {total or 0:6.2f} us/event{split}  {r['delivered_per_s']:9.0f} ev/s"
            )
            if "generator_us_per_event" in r:
                line += f"  generator {r['generator_us_per_event']:.2f} us/event"
            bad = r["lost"] + r["duplicated"] + r["out_of_order"]
            if bad or not r["ok"]:
                line += f"  lost {r['lost']} dup {r['duplicated']} ooo {r['out_of_order']} ok {r['ok']}"
            if base is not None and server != peer:
                btotal = cpu(base)[0]
                line += f"  p99 x{lat['p99_us'] / base['latency']['p99_us']:.2f}"
                if total and btotal:
                    line += f"  cpu x{total / btotal:.2f}"
            print(line)
