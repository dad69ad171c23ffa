#!/usr/bin/env python3
"""The scanner comparison of bench/run.sh scanners, from its JSONL: per load, msgs/s of
qgate without scanners against each scanning system (qgate-clamav, ...) in the same run,
their ratio, the session latency added at p50 and p99 (scanning system minus plain qgate,
medians over repetitions), the scan times clamav logged, and the peak number of scans in
flight at once (above 1: scans of concurrent sessions overlap).

Usage: summarize-scanners.py RESULTS.jsonl [MORE.jsonl ...]
"""
import sys

from summarize import load_label, median_of, num, read_records


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    _, loads = read_records(sys.argv[1:], "run")
    rows = []
    for (count, size, sessions), systems in loads.items():
        ok = {s: [r for r in runs if r.get("rc") == 0 and r.get("msgs_per_s") is not None] for s, runs in systems.items()}
        base = ok.get("qgate")
        for system, runs in ok.items():
            if system in ("qgate", "qgate-nometrics", "postfix") or not runs or not base:
                continue
            rate, base_rate = median_of(runs, "msgs_per_s"), median_of(base, "msgs_per_s")
            added = lambda key: median_of(runs, key) - median_of(base, key) if median_of(runs, key) is not None and median_of(base, key) is not None else None
            peak = max((r.get("scan_overlap_peak") or 0 for r in runs), default=0)
            rows.append((load_label(count, size, sessions), system, base_rate, rate, rate / base_rate,
                         added("p50_ms"), added("p99_ms"), median_of(runs, "scan_p50_ms"), median_of(runs, "scan_p99_ms"),
                         peak, sum(r.get("scans") or 0 for r in runs)))
    if not rows:
        print("no scanner runs with a plain qgate run of the same load to compare")
        return
    print("### Scanners: the cost of scanning every message")
    print()
    print("| load | system | qgate msgs/s | with scanner msgs/s | ratio | added p50 ms | added p99 ms | scan p50 ms | scan p99 ms | scans in flight (peak) | scans |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, system, qr, sr, ratio, a50, a99, s50, s99, peak, scans in rows:
        print(f"| {label} | {system} | {num(qr)} | {num(sr)} | **{ratio:.2f}** | {num(a50, 1)} | **{num(a99, 1)}** "
              f"| {num(s50)} | {num(s99)} | {peak} | {scans:,} |")
    print()


if __name__ == "__main__":
    main()
