#!/usr/bin/env python3
"""Peak memory of a server's whole process tree while a benchmark load runs.

Usage: rss-watch.py ROOT_PID OUTFILE [INTERVAL_SECONDS=0.25]

Every INTERVAL it finds ROOT_PID and all its descendants in /proc and sums, over those
processes, RSS and PSS from /proc/PID/smaps_rollup:
  RSS  resident pages of each process, summed (counts pages shared between processes,
       e.g. libraries of Postfix's many daemons, once per process)
  PSS  proportional set size: each shared page divided among the processes sharing it
       (the fairer sum for multi-process servers)
After every sample it rewrites OUTFILE (atomically) with one JSON object:
  {"peak_rss_mb": .., "peak_pss_mb": .., "max_procs": .., "rss_samples": ..}
so OUTFILE exists as soon as the first sample is taken. On SIGTERM/SIGINT it takes one
last sample and exits; it also exits by itself when ROOT_PID is gone.
"""
import json
import os
import signal
import sys
import time


def children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name may contain spaces and ")": fields start after the last ")"
        fields = stat[stat.rindex(")") + 2:].split()
        kids.setdefault(int(fields[1]), []).append(int(name))
    return kids


def process_tree(root):
    kids = children_map()
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(kids.get(pid, []))
    return tree


def memory_kb(pid):
    """(rss_kb, pss_kb) of one process, or None if it is gone."""
    rss = pss = None
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    if rss is None:  # no smaps_rollup (old kernel, or not permitted): RSS only
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
        except OSError:
            return None
    if rss is None:
        return None
    return rss, pss if pss is not None else rss


def main():
    if len(sys.argv) not in (3, 4):
        sys.stderr.write(__doc__)
        sys.exit(2)
    root, outfile = int(sys.argv[1]), sys.argv[2]
    interval = float(sys.argv[3]) if len(sys.argv) == 4 else 0.25
    peak = {"peak_rss_mb": 0.0, "peak_pss_mb": 0.0, "max_procs": 0, "rss_samples": 0}
    stopping = []

    def on_signal(*_):
        stopping.append(True)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    while True:
        rss = pss = procs = 0
        for pid in process_tree(root):
            mem = memory_kb(pid)
            if mem is not None:
                rss += mem[0]
                pss += mem[1]
                procs += 1
        peak["peak_rss_mb"] = round(max(peak["peak_rss_mb"], rss / 1024), 1)
        peak["peak_pss_mb"] = round(max(peak["peak_pss_mb"], pss / 1024), 1)
        peak["max_procs"] = max(peak["max_procs"], procs)
        peak["rss_samples"] += 1
        with open(outfile + ".tmp", "w") as f:
            json.dump(peak, f, separators=(",", ":"))
        os.replace(outfile + ".tmp", outfile)
        if stopping or procs == 0:
            return
        time.sleep(interval)  # a signal does not cut this short: the last sample follows it


if __name__ == "__main__":
    main()
