#!/usr/bin/env python3
"""Scan statistics of one benchmark run, from qgate's JSON log: how many scans, their
results, the median and p99 scan time, and the peak number of scans in flight at once
(from each scan line's time, when it ended, and its ms), which shows whether scans of
concurrent sessions overlap. Prints one JSON object:
{"scans":N,"scan_results":{...},"scan_p50_ms":x,"scan_p99_ms":y,"scan_overlap_peak":k}

Usage: scan-overlap.py QGATE_LOG
"""
import json
import sys
from datetime import datetime


def main():
    intervals, results, times = [], {}, []
    with open(sys.argv[1]) as f:
        for line in f:
            if '"event":"scan"' not in line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            ms = rec.get("ms")
            try:
                end = datetime.fromisoformat(str(rec.get("time")).replace("Z", "+00:00")).timestamp() * 1000
            except ValueError:
                end = None
            results[rec.get("result")] = results.get(rec.get("result"), 0) + 1
            if isinstance(end, (int, float)) and isinstance(ms, (int, float)):
                intervals.append((end - ms, end))
                times.append(ms)
    # Sweep: +1 at each start, -1 at each end; ends first at equal times (no false overlap).
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    peak = cur = 0
    for _, d in events:
        cur += d
        peak = max(peak, cur)
    times.sort()

    def rank(p):
        if not times:
            return None
        r = max(1, -(-int(p * len(times) * 1000) // 1000))
        return times[min(r, len(times)) - 1]

    print(json.dumps({"scans": len(intervals), "scan_results": results, "scan_p50_ms": rank(0.5),
                      "scan_p99_ms": rank(0.99), "scan_overlap_peak": peak}))


if __name__ == "__main__":
    main()
