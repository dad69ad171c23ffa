#!/usr/bin/env python3
"""Markdown tables from the JSONL written by bench/run.sh.

Usage: summarize.py RESULTS.jsonl [MORE.jsonl ...]

One table per load (count x size x sessions): for each system the median msgs/s over the
successful repetitions (with min-max when there were several), payload MB/s, the median
of the per-run session p50 and p99 (ms), the median share of the machine's CPU that was
busy (and waiting on the disk) while the load ran, the highest peak RSS and PSS (MB) of any
repetition, and msgs/s relative to Postfix. Then one summary table of qgate/Postfix
ratios over all loads.
"""
import json
import statistics
import sys
from collections import OrderedDict


def size_label(size):
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MiB"
    if size >= 1 << 10 and size % (1 << 10) == 0:
        return f"{size >> 10} KiB"
    return f"{size} B"


def load_label(count, size, sessions):
    return f"{count:,} × {size_label(size)}, {sessions} session{'s' if sessions != 1 else ''}"


def num(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"


def median_of(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def machine_cpu(runs):
    """Median busy % of the machine's CPU during the loads, with the iowait % after it."""
    busy, iowait = median_of(runs, "busy_pct"), median_of(runs, "iowait_pct")
    return "-" if busy is None else f"{busy:.0f} ({iowait:.0f})"


def max_of(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return max(values) if values else None


def read_records(paths, record_type):
    """The first meta record of the JSONL files, and their records of `record_type`
    grouped by load (count, size, sessions), then by system, in the order they came."""
    meta, loads = None, OrderedDict()
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                rec = json.loads(line)
                if rec.get("type") == "meta":
                    meta = meta or rec
                    continue
                if rec.get("type") != record_type:  # run.sh writes "run", relay.sh "relay"
                    continue
                key = (rec["count"], rec["size"], rec["sessions"])
                loads.setdefault(key, OrderedDict()).setdefault(rec["system"], []).append(rec)
    return meta, loads


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    meta, loads = read_records(sys.argv[1:], "run")

    if meta:
        print(
            f"Run started {meta.get('started')} on {meta.get('cpus')} CPUs ({meta.get('kernel')}); "
            f"node {meta.get('node')}, Postfix {meta.get('postfix') or '-'}, qgate {meta.get('qgate') or '-'}; "
            f"REPS={meta.get('reps')}, WARMUP={meta.get('warmup', 0)}. Median over repetitions; peak memory = highest of any repetition."
        )
        print()

    summary = []
    for (count, size, sessions), systems in loads.items():
        label = load_label(count, size, sessions)
        ok = {s: [r for r in runs if r.get("rc") == 0 and r.get("msgs_per_s") is not None] for s, runs in systems.items()}
        rate = {s: median_of(runs, "msgs_per_s") for s, runs in ok.items()}
        base = rate.get("postfix")
        print(f"### {label}")
        print()
        print(
            "| system | msgs/s | MB/s | session p50 ms | session p99 ms | machine busy % (iowait) "
            "| peak RSS MB | peak PSS MB | msgs/s vs Postfix | ok runs |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for system, runs in systems.items():
            good = ok[system]
            if not good:
                print(f"| {system} | failed | | | | | | | | 0/{len(runs)} |")
                continue
            rates = sorted(r["msgs_per_s"] for r in good)
            shown = num(rate[system])
            if len(rates) > 1:
                shown += f" ({num(rates[0])}–{num(rates[-1])})"
            ratio = f"{rate[system] / base:.2f}" if base else "-"
            print(
                f"| {system} | {shown} | {num(median_of(good, 'mb_per_s'), 1)} "
                f"| {num(median_of(good, 'p50_ms'), 1)} | {num(median_of(good, 'p99_ms'), 1)} | {machine_cpu(good)} "
                f"| {num(max_of(good, 'peak_rss_mb'))} | {num(max_of(good, 'peak_pss_mb'))} "
                f"| {ratio} | {len(good)}/{len(runs)} |"
            )
        print()
        if ok.get("qgate") and ok.get("qgate-nometrics"):
            cost = 1 - rate["qgate"] / rate["qgate-nometrics"]
            print(f"metrics cost (1 - qgate/qgate-nometrics msgs/s): **{cost * 100:.1f}%**")
            print()
        q, p = ok.get("qgate"), ok.get("postfix")
        if "qgate" in systems and "postfix" in systems:
            ratio = f"{rate['qgate'] / base:.2f}" if q and base else "n/a"
            print(f"qgate/Postfix msgs/s: **{ratio}**")
            print()
            summary.append(
                (label, rate.get("qgate") if q else None, base if p else None, ratio,
                 max_of(q, "peak_rss_mb") if q else None, max_of(p, "peak_rss_mb") if p else None)
            )

    if len(summary) > 1:
        print("### qgate / Postfix")
        print()
        print("| load | qgate msgs/s | Postfix msgs/s | qgate/Postfix | qgate peak RSS MB | Postfix peak RSS MB |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, qr, pr, ratio, qm, pm in summary:
            print(f"| {label} | {num(qr)} | {num(pr)} | **{ratio}** | {num(qm)} | {num(pm)} |")
        print()


if __name__ == "__main__":
    main()
