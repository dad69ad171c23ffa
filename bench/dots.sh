#!/usr/bin/env bash
# Memory and CPU for messages made of dot lines (npm run bench -- dots): SESSIONS
# parallel sessions each send one message of SIZE bytes of ".\n" lines (refused with 550
# at its end under the default smtpd_forbid_bare_newline, but read to the end), then of
# "..\r\n" lines (stuffed dots, queued), then of ordinary 78-octet text lines, each load
# to a freshly started qgate. For each: the server's peak RSS (lib/rss-watch.py) and the
# CPU time it used (/proc/PID/stat), and the load's wall time. The DATA decoder and the
# spool work per chunk, not per line, so dot lines must cost about what text costs.
#
# Usage: bash bench/dots.sh             (or: npm run bench -- dots)
# Env:   SESSIONS (20), SIZE (1048576), LIMIT_MB (250): fail if a load's peak RSS reaches it,
#        CPU_RATIO (4): fail if a dot load uses more than CPU_RATIO x the text load's CPU
#                 time plus 0.5 s,
#        OUT (bench/results/<UTC time>-dots.jsonl), WORK, KEEP, BUILD, QGATE_PORT,
#        RSS_INTERVAL: as for bench/run.sh (it shares run.sh's lock).
# Needs no Postfix: the load is lib/dots-load.py (Python 3, raw sockets).
# Exit status 0 only if every load got its replies and stayed within both limits.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=lib/common.sh
. "$here/lib/common.sh"
case "${1:-}" in
  -h | --help | help) sed -n '2,18p' "$0"; exit 0 ;;
  "") ;;
  *) die "unknown argument '$1' (bash bench/dots.sh --help)" ;;
esac

SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-1048576}
LIMIT_MB=${LIMIT_MB:-250}
CPU_RATIO=${CPU_RATIO:-4}
WORK=${WORK:-/tmp/qgate-bench}
QGATE_PORT=${QGATE_PORT:-2525}
RSS_INTERVAL=${RSS_INTERVAL:-0.1}
OUT=${OUT:-$here/results/$(date -u +%Y%m%dT%H%M%SZ)-dots.jsonl}
for v in SESSIONS SIZE LIMIT_MB CPU_RATIO QGATE_PORT; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done
WORK=${WORK%/}
case $WORK in /?*) ;; *) die "WORK must be an absolute path below /" ;; esac
command -v python3 >/dev/null || die "python3 is needed for the load"

take_bench_lock
if [ -e "$WORK" ] && [ ! -e "$WORK/.qgate-bench" ] && [ -n "$(ls -A "$WORK" 2>/dev/null)" ]; then
  die "$WORK exists and was not made by this benchmark; choose another WORK"
fi
bash "$here/qgate/stop.sh" "$WORK" 2>/dev/null || true
rm -rf "$WORK"
mkdir -p "$WORK" "$(dirname "$OUT")"
touch "$WORK/.qgate-bench"

watcher=""
cleanup() {
  [ -n "$watcher" ] && kill -TERM "$watcher" 2>/dev/null && wait "$watcher" 2>/dev/null || true
  bash "$here/qgate/stop.sh" "$WORK" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then note "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

build_qgate "$root"

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

: >"$OUT"
failures=0
for shape in dot-lf dot-crlf text; do
  note "$shape: $SESSIONS sessions × $SIZE bytes"
  pid=$(bash "$here/qgate/start.sh" "$WORK" "$QGATE_PORT" 9>&-)
  memf=$WORK/rss.json
  rm -f "$memf"
  python3 "$here/lib/rss-watch.py" "$pid" "$memf" "$RSS_INTERVAL" &
  watcher=$!
  for _ in $(seq 200); do [ -s "$memf" ] && break; sleep 0.02; done
  before=$(cpu_ticks "$pid")
  rc=0
  load=$(python3 "$here/lib/dots-load.py" 127.0.0.1 "$QGATE_PORT" "$shape" "$SIZE" "$SESSIONS") || rc=$?
  after=$(cpu_ticks "$pid")
  kill -TERM "$watcher" 2>/dev/null || true
  wait "$watcher" 2>/dev/null || true
  watcher=""
  bash "$here/qgate/stop.sh" "$WORK"
  [ "$rc" = 0 ] || failures=$((failures + 1))
  printf '{"type":"dots","rc":%d,"cpu_s":%s,"memory":%s,"load":%s}\n' "$rc" \
    "$(awk -v a="$before" -v b="$after" -v t="$ticks" 'BEGIN { printf "%.2f", (b - a) / t }')" \
    "$(cat "$memf" 2>/dev/null || echo null)" "${load:-null}" >>"$OUT"
done

python3 - "$OUT" "$LIMIT_MB" "$CPU_RATIO" <<'PY' || failures=$((failures + 1))
import json, sys
path, limit, ratio = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
runs = {r["load"]["shape"]: r for r in map(json.loads, open(path)) if r.get("load")}
print("| body | sessions × bytes | replies | wall s | server CPU s | peak RSS MB |")
print("|---|---:|---|---:|---:|---:|")
for shape in ("dot-lf", "dot-crlf", "text"):
    r = runs.get(shape)
    if not r:
        print(f"| {shape} | run failed | | | | |")
        continue
    load, mem = r["load"], r["memory"] or {}
    replies = ", ".join(f"{n}×{code}" for code, n in sorted(load["replies"].items()))
    print(f"| {shape} | {load['sessions']} × {load['size']:,} | {replies} | {load['seconds']} | {r['cpu_s']} | {mem.get('peak_rss_mb')} |")
ok = len(runs) == 3 and all(r["rc"] == 0 for r in runs.values())
text_cpu = runs["text"]["cpu_s"] if "text" in runs else 0
for shape, r in runs.items():
    rss = (r["memory"] or {}).get("peak_rss_mb", 0)
    if rss >= limit:
        print(f"dots: {shape} peak RSS {rss} MB reached the limit of {limit:g} MB: FAIL")
        ok = False
    if shape != "text" and r["cpu_s"] > ratio * text_cpu + 0.5:
        print(f"dots: {shape} used {r['cpu_s']} s of CPU, more than {ratio:g} × text ({text_cpu} s) + 0.5 s: FAIL")
        ok = False
print(f"dots: peak RSS limit {limit:g} MB, CPU at most {ratio:g} × text + 0.5 s: {'PASS' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
PY
echo "Raw results: ${OUT#"$root"/}"
[ "$failures" = 0 ]
