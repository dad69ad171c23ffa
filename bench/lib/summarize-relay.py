#!/usr/bin/env python3
"""Markdown tables from the JSONL written by bench/relay.sh.

Usage: summarize-relay.py RESULTS-relay.jsonl [MORE.jsonl ...]

One table per load (count x size x sessions): for each system the median over the
successful repetitions of end-to-end msgs/s (with min-max when there were several),
intake msgs/s, the seconds from the end of the load until the queue was empty, the
per-run p50/p99 of 250 -> delivered and of MAIL FROM -> delivered (ms), the share of the
machine's CPU that was busy (and waiting on the disk) while the load ran, the highest peak
RSS of any repetition, and end-to-end msgs/s relative to Postfix. Then the ratio
qgate/Postfix and, with more than one load, a summary table.
"""
import sys

from summarize import load_label, machine_cpu, max_of, median_of, num, read_records

COARSE_MS = 100  # latencies logged with a resolution this coarse or worse get a footnote


def lat(value_ms, resolution_ms):
    """A 250 -> delivered time for the table: ms, or whole seconds (marked) when the log
    that it comes from only has whole seconds."""
    if value_ms is None:
        return "-"
    if resolution_ms is not None and resolution_ms >= 1000:
        return f"{value_ms / 1000:,.0f} s‡"
    if resolution_ms is not None and resolution_ms >= COARSE_MS:
        return f"{value_ms:,.0f} ms‡"
    return f"{value_ms:,.0f} ms"


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        sys.exit(2)
    meta, loads = read_records(sys.argv[1:], "relay")

    if meta:
        print(
            f"Relay run started {meta.get('started')} on {meta.get('cpus')} CPUs ({meta.get('kernel')}); "
            f"node {meta.get('node')}, Postfix {meta.get('postfix') or '-'}, qgate {meta.get('qgate') or '-'}; "
            f"next hop {meta.get('sink') or 'smtp-sink'}; REPS={meta.get('reps')}, WARMUP={meta.get('warmup', 0)}. "
            "Median over repetitions; peak memory = highest of any repetition."
        )
        print()

    coarse = {}  # system -> resolution (ms) of its 250 -> delivered times, when coarse
    summary = []
    for (count, size, sessions), systems in loads.items():
        label = load_label(count, size, sessions)
        ok = {s: [r for r in runs if not r.get("error") and r.get("e2e_msgs_per_s") is not None] for s, runs in systems.items()}
        rate = {s: median_of(runs, "e2e_msgs_per_s") for s, runs in ok.items()}
        base = rate.get("postfix")
        print(f"### {label}, relayed to smtp-sink")
        print()
        print(
            "| system | end-to-end msgs/s | intake msgs/s | queue empty after load s "
            "| 250→delivered p50 | 250→delivered p99 | MAIL→delivered p50 ms | MAIL→delivered p99 ms "
            "| machine busy % (iowait) | peak RSS MB | peak PSS MB | end-to-end vs Postfix | ok runs |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        lat99 = {}
        for system, runs in systems.items():
            good = ok[system]
            if not good:
                print(f"| {system} | failed | | | | | | | | | | | 0/{len(runs)} |")
                continue
            rates = sorted(r["e2e_msgs_per_s"] for r in good)
            shown = num(rate[system])
            if len(rates) > 1:
                shown += f" ({num(rates[0])}–{num(rates[-1])})"
            ratio = f"{rate[system] / base:.2f}" if base else "-"
            res = max_of(good, "lat_resolution_ms")
            if res is not None and res >= COARSE_MS:
                coarse[system] = res
            p50, p99 = lat(median_of(good, "lat_p50_ms"), res), lat(median_of(good, "lat_p99_ms"), res)
            lat99[system] = p99
            print(
                f"| {system} | {shown} | {num(median_of(good, 'msgs_per_s'))} | {num(median_of(good, 'drain_s'), 2)} "
                f"| {p50} | {p99} "
                f"| {num(median_of(good, 'mail_p50_ms'), 1)} | {num(median_of(good, 'mail_p99_ms'), 1)} "
                f"| {machine_cpu(good)} | {num(max_of(good, 'peak_rss_mb'))} | {num(max_of(good, 'peak_pss_mb'))} "
                f"| {ratio} | {len(good)}/{len(runs)} |"
            )
        print()
        q, p = ok.get("qgate"), ok.get("postfix")
        if "qgate" in systems and "postfix" in systems:
            ratio = f"{rate['qgate'] / base:.2f}" if q and base else "n/a"
            qp, pp = lat99.get("qgate", "-"), lat99.get("postfix", "-")
            print(f"qgate/Postfix end-to-end msgs/s: **{ratio}**; 250→delivered p99: qgate {qp}, Postfix {pp}")
            print()
            summary.append((label, rate.get("qgate") if q else None, base if p else None, ratio, qp, pp))

    if len(summary) > 1:
        print("### qgate / Postfix, relayed")
        print()
        print("| load | qgate end-to-end msgs/s | Postfix end-to-end msgs/s | qgate/Postfix | qgate 250→delivered p99 | Postfix 250→delivered p99 |")
        print("|---|---:|---:|---:|---:|---:|")
        for label, qr, pr, ratio, q99, p99 in summary:
            print(f"| {label} | {num(qr)} | {num(pr)} | **{ratio}** | {q99} | {p99} |")
        print()

    for system, res in coarse.items():
        name = "Postfix" if system == "postfix" else system
        if res >= 1000:
            what, unit = "whole-second timestamps (`Mmm dd hh:mm:ss`)", f"{res / 1000:g} s"
        else:
            what, unit = f"timestamps with a resolution of {res:g} ms", f"{res:g} ms"
        pair = " (cleanup's `message-id=` line to smtp's `status=sent`)" if system == "postfix" else ""
        print(
            f"‡ {name} writes {what} to its log, so its 250→delivered times{pair} are differences "
            f"of such timestamps: resolution {unit}, each value off by up to {unit} either way. "
            "MAIL→delivered is fine-grained for both systems: Postfix's own `delay=` "
            "(2 significant digits), and for qgate its log's 250→delivered plus the transaction's `ms`."
        )
        print()


if __name__ == "__main__":
    main()
