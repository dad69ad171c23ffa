#!/usr/bin/env bash
# Queue backlog benchmark (npm run bench -- backlog): does a queue of BACKLOG deferred
# messages slow new mail down? qgate relays to Postfix's smtp-sink as in bench/relay.sh.
#   1. empty:   fresh queue; start qgate, run LOAD (smtp-source), wait until the sink
#               has taken LOAD's messages.
#   2. backlog: BACKLOG entries queued first (bench/lib/fill-queue.mjs: every recipient
#               deferred six hours), then the same as 1, the load starting as soon as
#               qgate greets (while it is still reading the backlog).
#   3. due:     qgate queue flush on that gateway: the whole backlog becomes due; the
#               time until the sink has taken it gives the backlog's delivery rate.
# For 1 and 2 it prints the time from start to the 220 greeting, intake msgs/s, session
# p50/p99, end-to-end msgs/s (start of the load until the sink has them all); for 3 the
# msgs/s; for each, qgate's CPU time per message (user + system, from /proc), which other
# work on a shared machine disturbs less than the rates (in 2 it includes reading the
# backlog at start). One JSON line per phase goes to bench/results/<UTC>-backlog.jsonl.
#
# Usage: bash bench/backlog.sh          (npm run bench -- backlog)
# Env:
#   BACKLOG       deferred messages queued before phase 2 (default 100000)
#   BACKLOG_SIZE  their size in bytes (default 1024)
#   LOAD          COUNT:SIZE:SESSIONS of the new mail (default "5000:4096:10")
#   PHASES        which phases to run (default "empty backlog due")
#   QGATE_ROOT    the qgate build to measure (default this repository; another
#                 checkout, built, gives the figures of another version)
#   OUT, WORK (/tmp/qgate-bench), KEEP=1, BUILD=0, QGATE_PORT (2525), SINK_PORT (2507),
#   DRAIN_TIMEOUT (1800 s per phase), QGATE_COMMIT_SYNC (auto)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=lib/common.sh
. "$here/lib/common.sh"

case "${1:-}" in
  -h | --help | help) sed -n '2,26p' "$0"; exit 0 ;;
  "") ;;
  *) die "unknown argument '$1' (bash bench/backlog.sh --help)" ;;
esac

BACKLOG=${BACKLOG:-100000}
BACKLOG_SIZE=${BACKLOG_SIZE:-1024}
LOAD=${LOAD:-"5000:4096:10"}
PHASES=${PHASES:-"empty backlog due"}
QGATE_ROOT=$(cd "${QGATE_ROOT:-$root}" && pwd)
WORK=${WORK:-/tmp/qgate-bench}
QGATE_PORT=${QGATE_PORT:-2525}
SINK_PORT=${SINK_PORT:-2507}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-1800}
export LOAD_TIMEOUT=${LOAD_TIMEOUT:-3600}
OUT=${OUT:-$here/results/$(date -u +%Y%m%dT%H%M%SZ)-backlog.jsonl}
SINK_HOST=127.0.0.1

[[ $BACKLOG =~ ^[1-9][0-9]*$ ]] || die "BACKLOG must be a positive integer"
[[ $BACKLOG_SIZE =~ ^[1-9][0-9]*$ ]] || die "BACKLOG_SIZE must be a positive integer"
[[ $LOAD =~ ^([1-9][0-9]*):([1-9][0-9]*):([1-9][0-9]*)$ ]] || die "bad LOAD '$LOAD' (want COUNT:SIZE:SESSIONS)"
count=${BASH_REMATCH[1]} size=${BASH_REMATCH[2]} sessions=${BASH_REMATCH[3]}
for p in $PHASES; do case $p in empty | backlog | due) ;; *) die "unknown phase '$p'" ;; esac; done
[[ " $PHASES " == *" due "* && " $PHASES " != *" backlog "* ]] && die "phase due needs phase backlog"
WORK=${WORK%/}
case $WORK in /?*) ;; *) die "WORK must be an absolute path below /" ;; esac

take_bench_lock
bash "$here/lib/ensure-tools.sh"
sink_user=()
if [ "$(id -u)" = 0 ]; then
  id postfix >/dev/null 2>&1 || die "no user 'postfix' for smtp-sink -u (Debian package postfix)"
  sink_user=(-u postfix)
fi
if [ -e "$WORK" ] && [ ! -e "$WORK/.qgate-bench" ] && [ -n "$(ls -A "$WORK" 2>/dev/null)" ]; then
  die "$WORK exists and was not made by this benchmark; choose another WORK"
fi
bash "$here/qgate/stop.sh" "$WORK" 2>/dev/null || true
rm -rf "$WORK"
mkdir -p "$WORK" "$(dirname "$OUT")"
touch "$WORK/.qgate-bench"
need_kb=$(((BACKLOG * (BACKLOG_SIZE + 1024) + count * size) / 1024 * 12 / 10 + 512 * 1024))
avail_kb=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
((avail_kb > need_kb)) || die "need ~$((need_kb / 1024)) MB free under $WORK, have $((avail_kb / 1024)) MB"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

pid="" sink="" loader=""
stop_qgate() {
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 300); do alive "$pid" || break; sleep 0.1; done
  alive "$pid" && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
  pid=""
}
stop_sink() {
  [ -n "$sink" ] || return 0
  kill -TERM "$sink" 2>/dev/null || true
  wait "$sink" 2>/dev/null || true
  sink=""
}
cleanup() {
  [ -n "$loader" ] && kill -TERM "$loader" 2>/dev/null && wait "$loader" 2>/dev/null || true
  stop_qgate
  stop_sink
  if [ "${KEEP:-0}" = 1 ]; then note "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Another tree (QGATE_ROOT) is run as it was built.
[ "$QGATE_ROOT" = "$root" ] || BUILD=0
build_qgate "$QGATE_ROOT"
so=$(bash "$here/lib/build-shim.sh" "$WORK/bin")

now() { printf '%s' "$EPOCHREALTIME"; }
# CPU seconds (user + system) qgate's process has used so far: less noisy than rates on
# a shared machine.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$pid/stat"; }
# Seconds from epoch time $1 to $2 (default: now).
since() { awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN { printf "%.3f", b - a }'; }

start_sink() {
  port_in_use "$SINK_PORT" && die "$SINK_HOST:$SINK_PORT is already in use"
  smtp-sink -4 -c -h sink.bench.test -m 1000 "${sink_user[@]}" "$SINK_HOST:$SINK_PORT" 1024 \
    >"$WORK/sink.out" 2>"$WORK/sink.err" </dev/null 9>&- &
  sink=$!
  wait_smtp "$SINK_PORT" 10 "$sink" || die "smtp-sink did not start: $(cat "$WORK/sink.err")"
}
sink_messages() {
  tr '\r' '\n' <"$WORK/sink.out" | sed -n 's/.* mesg=\([0-9]*\).*/\1/p' | tail -n 1 | grep . || echo 0
}
# wait_sink N: until the sink has taken N messages (since it started), or DRAIN_TIMEOUT.
wait_sink() {
  local t0=$SECONDS
  until (($(sink_messages) >= $1)); do
    ((SECONDS - t0 < DRAIN_TIMEOUT)) || { note "the sink took $(sink_messages) of $1 messages"; return 1; }
    alive "$pid" || { note "qgate exited"; return 1; }
    sleep 0.05
  done
}
# start_qgate: with the queue WORK/queue as it is; sets pid and start_s (spawn to 220).
start_qgate() {
  sed -e "s#@QUEUE_PATH@#$WORK/queue#g" -e "s#@PORT@#$QGATE_PORT#g" \
    -e "s#@SINK_HOST@#$SINK_HOST#g" -e "s#@SINK_PORT@#$SINK_PORT#g" \
    -e "s#@COMMIT_SYNC@#${QGATE_COMMIT_SYNC:-auto}#g" \
    "$here/qgate/config-relay.yaml.in" >"$WORK/config.yaml"
  port_in_use "$QGATE_PORT" && die "127.0.0.1:$QGATE_PORT is already in use"
  local t0
  t0=$(now)
  node "$QGATE_ROOT/bin/qgate.js" start --config "$WORK/config.yaml" >>"$WORK/qgate.log" 2>&1 </dev/null 9>&- &
  pid=$!
  wait_smtp "$QGATE_PORT" 600 "$pid" || die "qgate did not start: $(tail -n 5 "$WORK/qgate.log")"
  start_s=$(since "$t0")
}
# run_load PHASE: the load against the running qgate, until the sink has it all.
run_load() {
  local phase=$1 base t0 res rc=0 err=null e2e cpu0 cpu
  base=$(sink_messages)
  cpu0=$(cpu_s)
  t0=$(now)
  SESSLAT_SO=$so bash "$here/lib/load.sh" 127.0.0.1 "$QGATE_PORT" "$count" "$size" "$sessions" >"$WORK/load.json" 2>"$WORK/load.err" 9>&- &
  loader=$!
  wait "$loader" || rc=$?
  loader=""
  res=$(cat "$WORK/load.json")
  [ "$rc" = 0 ] || err=$(jstr "load failed (rc $rc): $(tail -n 3 "$WORK/load.err" | tr '\n' ' ')")
  wait_sink $((base + count)) || err=$(jstr "the sink did not get the load")
  e2e=$(since "$t0")
  cpu=$(awk -v a="$cpu0" -v b="$(cpu_s)" -v n="$count" 'BEGIN { printf "%.2f", (b - a) * 1000 / n }')
  printf '{"type":"backlog","phase":"%s","backlog":%d,"count":%d,"size":%d,"sessions":%d,"start_s":%s,%s,"e2e_s":%s,"e2e_msgs_per_s":%s,"cpu_ms_per_msg":%s,"load1":%s,"error":%s}\n' \
    "$phase" "$([ "$phase" = empty ] && echo 0 || echo "$BACKLOG")" "$count" "$size" "$sessions" "$start_s" "$(inner "$res")" \
    "$e2e" "$(awk -v n="$count" -v s="$e2e" 'BEGIN { printf "%.1f", n / s }')" "$cpu" "$(cut -d' ' -f1 /proc/loadavg)" "$err" >>"$OUT"
  note "  $phase: 220 after ${start_s}s, intake $(jget msgs_per_s "$res") msgs/s, session p50 $(jget p50_ms "$res") ms, p99 $(jget p99_ms "$res") ms, end-to-end $(awk -v n="$count" -v s="$e2e" 'BEGIN { printf "%.1f", n / s }') msgs/s, qgate CPU ${cpu} ms/msg"
}

cd "$root"
commit=$(git -C "$QGATE_ROOT" rev-parse --short HEAD 2>/dev/null || echo "")
printf '{"type":"meta","mode":"backlog","started":%s,"cpus":%s,"node":%s,"qgate":%s,"backlog":%d,"backlog_size":%d,"load":%s}\n' \
  "$(jstr "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "$(nproc)" "$(jstr "$(node --version)")" "$(jstr "$QGATE_ROOT${commit:+ ($commit)}")" \
  "$BACKLOG" "$BACKLOG_SIZE" "$(jstr "$LOAD")" >"$OUT"
note "results: $OUT"
start_sink

if [[ " $PHASES " == *" empty "* ]]; then
  note "[empty] $LOAD against an empty queue"
  rm -rf "$WORK/queue"
  start_qgate
  run_load empty
  stop_qgate
fi

if [[ " $PHASES " == *" backlog "* ]]; then
  rm -rf "$WORK/queue"
  note "[backlog] queueing $BACKLOG deferred messages of $BACKLOG_SIZE bytes"
  QGATE_ROOT=$QGATE_ROOT node "$here/lib/fill-queue.mjs" "$WORK/queue" "$BACKLOG" "$BACKLOG_SIZE" backlog@example.test >/dev/null
  sync
  note "[backlog] $LOAD with $BACKLOG deferred messages queued"
  start_qgate
  run_load backlog
fi

if [[ " $PHASES " == *" due "* ]]; then
  note "[due] qgate queue flush: $BACKLOG messages due at once"
  base=$(sink_messages)
  cpu0=$(cpu_s)
  t0=$(now)
  # In the background, so that the deliveries are timed from the request on; flush_s is
  # when its answer came (it counts the messages and lists the oldest 1,000).
  rm -f "$WORK/flush.end"
  (
    node "$QGATE_ROOT/bin/qgate.js" queue flush --wait 0 --json --config "$WORK/config.yaml" >/dev/null 2>"$WORK/flush.err" 9>&-
    rc=$?
    now >"$WORK/flush.end"
    exit "$rc"
  ) &
  flusher=$!
  err=null
  wait_sink $((base + BACKLOG)) || err=$(jstr "the sink did not get the backlog")
  secs=$(since "$t0")
  cpu=$(awk -v a="$cpu0" -v b="$(cpu_s)" -v n="$BACKLOG" 'BEGIN { printf "%.2f", (b - a) * 1000 / n }')
  flushed_s=null
  if wait "$flusher"; then
    flushed_s=$(since "$t0" "$(cat "$WORK/flush.end")")
  else note "  qgate queue flush: $(tail -n 1 "$WORK/flush.err")"; fi
  rate=$(awk -v n="$BACKLOG" -v s="$secs" 'BEGIN { printf "%.1f", n / s }')
  printf '{"type":"backlog","phase":"due","backlog":%d,"flush_s":%s,"seconds":%s,"msgs_per_s":%s,"cpu_ms_per_msg":%s,"load1":%s,"error":%s}\n' \
    "$BACKLOG" "$flushed_s" "$secs" "$rate" "$cpu" "$(cut -d' ' -f1 /proc/loadavg)" "$err" >>"$OUT"
  note "  due: $BACKLOG messages delivered in ${secs}s ($rate msgs/s, qgate CPU ${cpu} ms/msg); the flush answered after ${flushed_s}s"
fi
stop_qgate
echo "Raw results: ${OUT#"$root"/}"
