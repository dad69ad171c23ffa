#!/usr/bin/env bash
# Run one SMTP load with Postfix's smtp-source and print the result as one JSON line:
# COUNT messages of SIZE payload bytes over SESSIONS parallel connections, one message
# per connection (connect, banner, HELO, MAIL, RCPT, DATA, body, ".", QUIT).
# Usage: load.sh HOST PORT COUNT SIZE SESSIONS
# Env:   SESSLAT_SO    path of the latency shim (bench/lib/build-shim.sh); unset = no
#                      per-session latency (p50/p99 are then null)
#        FROM, TO      envelope (default sender@bench.test / rcpt@example.test; smtp-source
#                      -N prefixes a sequence number to TO's local part)
#        LOAD_TIMEOUT  seconds before the load is killed (default 3600)
# Output fields: rc, started (epoch seconds just before smtp-source starts), seconds,
# msgs_per_s, mb_per_s (payload, 10^6 bytes/s), sessions_timed, p50_ms, p99_ms, max_ms,
# busy_pct and iowait_pct (the whole machine's CPU while the load ran, from /proc/stat:
# whether the cores or the disk held the servers back; null where there is no
# /proc/stat); the rates are null when the load failed.
# Exit status: smtp-source's (non-zero if any reply was not the expected one, 124 on
# timeout); smtp-source's own messages go to stderr.
set -euo pipefail
[ $# -eq 5 ] || { sed -n 2,15p "$0" >&2; exit 2; }
host=$1 port=$2 count=$3 size=$4 sessions=$5
PATH=$PATH:/usr/sbin:/usr/local/sbin
from=${FROM:-sender@bench.test} to=${TO:-rcpt@example.test}
[[ $host == *:* ]] && target="[$host]:$port" || target="$host:$port"

latfile=$(mktemp "${TMPDIR:-/tmp}/sesslat.XXXXXX")
trap 'rm -f "$latfile"' EXIT
pre=()
[ -n "${SESSLAT_SO:-}" ] && pre=(env "LD_PRELOAD=$SESSLAT_SO" "SESSLAT_FILE=$latfile")

# The first line of /proc/stat: the machine's CPU time so far, by kind (user nice system
# idle iowait irq softirq steal), in clock ticks.
cpu_ticks() { if [ -r /proc/stat ]; then head -n 1 /proc/stat | cut -d' ' -f3-10; fi; }

# smtp-source runs in the background so that a SIGTERM to this script takes effect at
# once (timeout passes it on to smtp-source).
cpu0=$(cpu_ticks)
t0=$EPOCHREALTIME
rc=0
"${pre[@]}" timeout "${LOAD_TIMEOUT:-3600}" smtp-source -N -M client.bench.test \
  -s "$sessions" -m "$count" -l "$size" -f "$from" -t "$to" "$target" >&2 </dev/null &
src=$!
trap 'kill -TERM "$src" 2>/dev/null; wait "$src"; exit 143' TERM INT
wait "$src" || rc=$?
t1=$EPOCHREALTIME
cpu1=$(cpu_ticks)
trap - TERM INT

# Nearest-rank percentiles over the per-session times (microseconds, one per line).
# A failed load (rc != 0) has no rate: msgs_per_s and mb_per_s are null.
sort -n "$latfile" | awk -v t0="$t0" -v t1="$t1" -v n="$count" -v size="$size" -v rc="$rc" \
  -v cpu0="$cpu0" -v cpu1="$cpu1" '
  function rank(p,   r) { r = int(p * NR); if (r < p * NR) r++; if (r < 1) r = 1; return v[r] / 1000 }
  { v[NR] = $1 }
  END {
    secs = t1 - t0
    printf "{\"rc\":%d,\"started\":%.6f,\"seconds\":%.3f,", rc, t0, secs
    if (rc == 0) printf "\"msgs_per_s\":%.1f,\"mb_per_s\":%.2f,", n / secs, n * size / secs / 1e6
    else printf "\"msgs_per_s\":null,\"mb_per_s\":null,"
    printf "\"sessions_timed\":%d,", NR
    if (NR) printf "\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"max_ms\":%.2f,", rank(0.5), rank(0.99), v[NR] / 1000
    else printf "\"p50_ms\":null,\"p99_ms\":null,\"max_ms\":null,"
    # busy: all but idle and iowait; iowait: idle while a disk request was pending
    if (split(cpu0, a, " ") == 8 && split(cpu1, b, " ") == 8) {
      total = 0; for (i = 1; i <= 8; i++) { d[i] = b[i] - a[i]; total += d[i] }
    }
    if (total > 0) printf "\"busy_pct\":%.1f,\"iowait_pct\":%.1f}\n", 100 * (total - d[4] - d[5]) / total, 100 * d[5] / total
    else printf "\"busy_pct\":null,\"iowait_pct\":null}\n"
  }'
exit "$rc"
