#!/usr/bin/env bash
# End-to-end relay benchmark (npm run bench -- relay): smtp-source sends to qgate, which
# queues durably and relays every message by SMTP to Postfix's smtp-sink; the same
# loads go through a private Postfix instance relaying to the same sink, interleaved
# (qgate, postfix, ... REPS times per load). For every run: end-to-end msgs/s (COUNT /
# time from smtp-source's start until the server's queue is empty again), intake msgs/s
# and session latency as in run.sh, and per message the time from the server's 250 to
# the sink's acceptance (p50/p99, from the server's own log), plus MAIL FROM ->
# delivered. Prints a Markdown table per load with the ratio qgate/Postfix and writes
# every run as one JSON line to bench/results/<UTC timestamp>-relay.jsonl.
#
# Usage: bash bench/relay.sh          (npm run bench -- relay)
# Env:
#   LOADS      space-separated COUNT:SIZE:SESSIONS (default "5000:4096:10")
#   REPS       repetitions of each load per system (default 1)
#   WARMUP     messages sent to each freshly started server (the load's size and sessions)
#              and delivered before the measured load; not counted (default 2000, 0: none)
#   SYSTEMS    "qgate postfix" (default), "qgate" or "postfix"
#   OUT        JSONL file to write (default bench/results/<UTC timestamp>-relay.jsonl)
#   WORK       scratch directory, deleted at the end (default /tmp/qgate-bench)
#   KEEP=1     keep WORK (configs, every run's log under WORK/logs) after the run
#   BUILD=0    skip "npm run build"
#   QGATE_COMMIT_SYNC  qgate's queue.commit_sync: auto (default), directory or file
#   SINK_OPTS  extra smtp-sink options, e.g. "-w 0.05" (a slower next hop)
#   QGATE_PORT (2525), POSTFIX_PORT (2503), SINK_PORT (2507), RSS_INTERVAL (0.25 s),
#   LOAD_TIMEOUT (3600 s per load), DRAIN_TIMEOUT (600 s), QGATE_CMD (bench/qgate/start.sh)
# Each run gets a fresh smtp-sink and a freshly started server with an empty queue.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=lib/common.sh
. "$here/lib/common.sh"

case "${1:-}" in
  -h | --help | help) sed -n '2,27p' "$0"; exit 0 ;;
  "") ;;
  *) die "unknown argument '$1' (bash bench/relay.sh --help)" ;;
esac

LOADS=${LOADS:-"5000:4096:10"}
REPS=${REPS:-1}
WARMUP=${WARMUP:-2000}
SYSTEMS=${SYSTEMS:-"qgate postfix"}
WORK=${WORK:-/tmp/qgate-bench}
QGATE_PORT=${QGATE_PORT:-2525}
POSTFIX_PORT=${POSTFIX_PORT:-2503}
SINK_PORT=${SINK_PORT:-2507}
RSS_INTERVAL=${RSS_INTERVAL:-0.25}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-600}
export LOAD_TIMEOUT=${LOAD_TIMEOUT:-3600}
OUT=${OUT:-$here/results/$(date -u +%Y%m%dT%H%M%SZ)-relay.jsonl}
SINK_HOST=127.0.0.1

# --- check the knobs --------------------------------------------------------------
check_loads_and_systems
[[ $DRAIN_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "DRAIN_TIMEOUT must be a positive integer"
for p in "$QGATE_PORT" "$POSTFIX_PORT" "$SINK_PORT"; do
  [[ $p =~ ^[1-9][0-9]*$ ]] && ((p < 65536)) || die "bad port '$p'"
done
[ "$SINK_PORT" != "$QGATE_PORT" ] && [ "$SINK_PORT" != "$POSTFIX_PORT" ] || die "SINK_PORT must differ from the servers' ports"

# --- one benchmark at a time (the same lock as run.sh); clear an interrupted run ----
take_bench_lock

bash "$here/lib/ensure-tools.sh" $need_postfix
command -v smtp-sink >/dev/null || die "smtp-sink not found (Debian package postfix)"
sink_user=()
if [ "$(id -u)" = 0 ]; then
  id postfix >/dev/null 2>&1 || die "no user 'postfix' for smtp-sink -u (Debian package postfix)"
  sink_user=(-u postfix)
fi

if [ -e "$WORK" ] && [ ! -e "$WORK/.qgate-bench" ] && [ -n "$(ls -A "$WORK" 2>/dev/null)" ]; then
  die "$WORK exists and was not made by this benchmark; choose another WORK"
fi
bash "$here/qgate/stop.sh" "$WORK" 2>/dev/null || true
bash "$here/postfix/stop.sh" "$WORK/postfix" 2>/dev/null || true
rm -rf "$WORK"
mkdir -p "$WORK/logs" "$(dirname "$OUT")"
touch "$WORK/.qgate-bench"

# Messages leave the queue as they are delivered; with delivery slower than intake the
# whole load may be queued at once.
avail_kb=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
need_kb=$((biggest / 1024 * 12 / 10 + 512 * 1024))
((avail_kb > need_kb)) || die "need ~$((need_kb / 1024)) MB free under $WORK, have $((avail_kb / 1024)) MB"

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

sed -e "s#@SINK_HOST@#$SINK_HOST#g" -e "s#@SINK_PORT@#$SINK_PORT#g" "$here/postfix/relay.cf.in" >"$WORK/postfix-relay.cf"
export QGATE_CONFIG_TEMPLATE=$here/qgate/config-relay.yaml.in SINK_HOST SINK_PORT
export POSTFIX_EXTRA_CF=$WORK/postfix-relay.cf

watcher="" loader="" waiter="" sink=""
stop_sink() {
  [ -n "$sink" ] || return 0
  kill -TERM "$sink" 2>/dev/null || true
  wait "$sink" 2>/dev/null || true
  sink=""
}
cleanup() {
  [ -n "$loader" ] && kill -TERM "$loader" 2>/dev/null && wait "$loader" 2>/dev/null || true
  [ -n "$waiter" ] && kill -TERM "$waiter" 2>/dev/null && wait "$waiter" 2>/dev/null || true
  [ -n "$watcher" ] && kill -TERM "$watcher" 2>/dev/null && wait "$watcher" 2>/dev/null || true
  bash "$here/qgate/stop.sh" "$WORK" 2>/dev/null || true
  bash "$here/postfix/stop.sh" "$WORK/postfix" 2>/dev/null || true
  stop_sink
  if [ "${KEEP:-0}" = 1 ]; then note "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_sink: a fresh smtp-sink on SINK_HOST:SINK_PORT that accepts every message and
# throws it away (-c: running counters, for the count of messages it took); backlog
# 1024 and up to 1000 connections at once, far above the servers' 20 parallel deliveries.
start_sink() {
  port_in_use "$SINK_PORT" && { note "$SINK_HOST:$SINK_PORT is already in use"; return 1; }
  # shellcheck disable=SC2086 # SINK_OPTS: extra smtp-sink options, split at blanks
  smtp-sink -4 -c -h sink.bench.test -m 1000 "${sink_user[@]}" ${SINK_OPTS:-} "$SINK_HOST:$SINK_PORT" 1024 \
    >"$WORK/sink.out" 2>"$WORK/sink.err" </dev/null 9>&- &
  sink=$!
  wait_smtp "$SINK_PORT" 10 "$sink" || { cat "$WORK/sink.err" >&2; return 1; }
}
# The number of messages the sink took: the last "mesg=N" of its running counters.
sink_messages() {
  tr '\r' '\n' <"$WORK/sink.out" | sed -n 's/.* mesg=\([0-9]*\).*/\1/p' | tail -n 1 | grep . || echo 0
}

# --- build ------------------------------------------------------------------------
if [[ " ${systems[*]} " == *" qgate "* ]] && [ -z "${QGATE_CMD:-}" ]; then
  build_qgate "$root" "fix the build, or run with SYSTEMS=postfix"
fi
so=$(bash "$here/lib/build-shim.sh" "$WORK/bin")

cd "$root"
qgate_version=$(node -p 'require("./package.json").version' 2>/dev/null || echo "")
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "")
[ -n "$commit" ] && qgate_version+=" ($commit$(git diff --quiet HEAD 2>/dev/null || echo ", modified"))"
printf '{"type":"meta","mode":"relay","started":%s,"host":%s,"kernel":%s,"cpus":%s,"node":%s,"postfix":%s,"qgate":%s,"loads":%s,"reps":%s,"warmup":%s,"systems":%s,"sink":%s}\n' \
  "$(jstr "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "$(jstr "$(uname -n)")" "$(jstr "$(uname -r)")" "$(nproc)" \
  "$(jstr "$(node --version 2>/dev/null || echo)")" "$(jstr "$(postconf -d -h mail_version 2>/dev/null || echo)")" \
  "$(jstr "$qgate_version")" "$(jstr "$LOADS")" "$REPS" "$WARMUP" "$(jstr "$SYSTEMS")" "$(jstr "smtp-sink $SINK_HOST:$SINK_PORT${SINK_OPTS:+ $SINK_OPTS}")" >"$OUT"

failures=0
# run_one SYSTEM COUNT SIZE SESSIONS REP: start a fresh sink and the system with an empty
# queue, load it while sampling its memory, wait until its queue is empty, stop it, read
# the 250 -> delivered times from its log, append one JSON line to OUT.
run_one() {
  local sys=$1 count=$2 size=$3 sessions=$4 rep=$5
  local port pid="" res="" rc=0 err="" mem='{}' drain='{}' lat='{}' load1 sunk=null
  local e2e=null e2e_rate=null drained_at=null drain_s=null
  local memf=$WORK/rss.json resf=$WORK/load.json errf=$WORK/load.err drainf=$WORK/drain.json
  local log qdirs=() keep=$WORK/logs/$sys-$count-$size-$sessions-rep$rep.log
  # what the warm-up left: the sink's count and the log up to here are not the load's
  local warm_sunk=0 log_from=0
  case $sys in
    qgate) port=$QGATE_PORT log=$WORK/qgate.log qdirs=("$WORK/queue/messages" "$WORK/queue/tmp") ;;
    postfix)
      port=$POSTFIX_PORT log=$WORK/postfix/maillog
      qdirs=("$WORK/postfix/queue/"{incoming,active,deferred,maildrop,hold})
      rm -f "$log"
      ;;
  esac
  start_sink || err="smtp-sink did not start"
  if [ -z "$err" ]; then
    case $sys in
      qgate) pid=$(bash "$here/qgate/start.sh" "$WORK" "$port" 9>&-) || err="qgate did not start" ;;
      postfix) pid=$(bash "$here/postfix/start.sh" "$WORK/postfix" "$port" 9>&-) || err="postfix did not start" ;;
    esac
  fi
  if [ -z "$err" ] && [ "$WARMUP" != 0 ]; then
    if ! warm_up "$port" "$size" "$sessions"; then
      err="warm-up load failed: $(tail -n 3 "$WORK/warmup.err" | tr '\n' ' ')"
    elif ! python3 "$here/lib/wait-drained.py" "$sys" "$log" "$WARMUP" "$DRAIN_TIMEOUT" 0 "${qdirs[@]}" >/dev/null 2>"$WORK/drain.err" 9>&-; then
      err="warm-up: $(tail -n 1 "$WORK/drain.err")"
    fi
    warm_sunk=$(sink_messages)
    log_from=$(stat -c %s "$log" 2>/dev/null || echo 0)
  fi
  load1=$(cut -d' ' -f1 /proc/loadavg)
  if [ -z "$err" ]; then
    rm -f "$memf" "$drainf"
    python3 "$here/lib/rss-watch.py" "$pid" "$memf" "$RSS_INTERVAL" 9>&- &
    watcher=$!
    for _ in $(seq 200); do [ -s "$memf" ] && break; sleep 0.02; done
    # in the background: a signal to this script is then handled at once (see cleanup)
    SESSLAT_SO=$so bash "$here/lib/load.sh" 127.0.0.1 "$port" "$count" "$size" "$sessions" >"$resf" 2>"$errf" 9>&- &
    loader=$!
    # the end of the end-to-end time: the queue is empty again, checked every 10 ms
    # from the moment the load has ended
    python3 "$here/lib/wait-drained.py" "$sys" "$log" "$((WARMUP + count))" "$DRAIN_TIMEOUT" "$loader" "${qdirs[@]}" >"$drainf" 2>"$WORK/drain.err" 9>&- &
    waiter=$!
    wait "$loader" || rc=$?
    loader=""
    res=$(cat "$resf")
    [ "$rc" != 0 ] && err="load failed (rc $rc): $(tail -n 3 "$errf" | tr '\n' ' ')"
    local wrc=0
    wait "$waiter" || wrc=$?
    waiter=""
    [ -s "$drainf" ] && drain=$(cat "$drainf")
    if [ "$wrc" != 0 ]; then
      local why
      why=$(tail -n 1 "$WORK/drain.err")
      err+="${err:+; }${why#wait-drained: }"
    fi
    kill -TERM "$watcher" 2>/dev/null || true
    wait "$watcher" 2>/dev/null || true
    watcher=""
    [ -s "$memf" ] && mem=$(cat "$memf")
  fi
  case $sys in
    qgate) bash "$here/qgate/stop.sh" "$WORK" || note "could not stop qgate" ;;
    postfix) bash "$here/postfix/stop.sh" "$WORK/postfix" || note "could not stop Postfix" ;;
  esac
  stop_sink
  if [ -n "$pid" ]; then
    sunk=$(($(sink_messages) - warm_sunk))
    [ -f "$log" ] && tail -c "+$((log_from + 1))" "$log" >"$keep"
    [ -f "$keep" ] && lat=$(python3 "$here/lib/delivery-latency.py" "$sys" "$keep" 2>>"$errf") || lat='{}'
    if [ -z "$err" ]; then
      if [ "$sunk" != "$count" ]; then
        err="the sink took $sunk of $count messages"
      elif [ "$(jget delivered "$lat")" != "$count" ]; then
        err="the log shows $(jget delivered "$lat") of $count deliveries"
      fi
    fi
    local started ended_at
    started=$(jget started "$res") drained_at=$(jget drained_at "$drain") ended_at=$(jget load_ended_at "$drain")
    drained_at=${drained_at:-null}
    if [ -n "$started" ] && [ -n "$drained_at" ] && [ "$drained_at" != null ]; then
      e2e=$(awk -v a="$started" -v b="$drained_at" 'BEGIN { printf "%.3f", b - a }')
      drain_s=$(awk -v a="$ended_at" -v b="$drained_at" 'BEGIN { d = b - a; printf "%.3f", d < 0 ? 0 : d }')
      [ -z "$err" ] && e2e_rate=$(awk -v n="$count" -v s="$e2e" 'BEGIN { printf "%.1f", n / s }')
    fi
  fi
  [ -f "$WORK/sink.err" ] && [ -s "$WORK/sink.err" ] && note "  smtp-sink: $(tail -n 2 "$WORK/sink.err" | tr '\n' ' ')"
  if [ -z "$res" ]; then [ "$rc" = 0 ] && rc=1; res="{\"rc\":$rc}"; fi
  [ -n "$err" ] && failures=$((failures + 1))
  local extra=""
  for part in "$(inner "$mem")" "$(inner "$lat")"; do [ -n "$part" ] && extra+=",$part"; done
  printf '{"type":"relay","time":%s,"system":"%s","count":%d,"size":%d,"sessions":%d,"rep":%d,%s%s,"drained_at":%s,"drain_s":%s,"e2e_s":%s,"e2e_msgs_per_s":%s,"sink_msgs":%s,"load1":%s,"error":%s}\n' \
    "$(jstr "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "$sys" "$count" "$size" "$sessions" "$rep" "$(inner "$res")" "$extra" \
    "$drained_at" "$drain_s" \
    "$e2e" "$e2e_rate" "$sunk" "$load1" "$([ -n "$err" ] && jstr "$err" || echo null)" >>"$OUT"
  if [ -n "$err" ]; then
    note "  $sys: FAILED: $err"
  else
    note "  $sys: end-to-end $e2e_rate msgs/s (${e2e} s; queue empty $drain_s s after the load), intake $(jget msgs_per_s "$res") msgs/s, 250->delivered p50 $(jget lat_p50_ms "$lat") ms, p99 $(jget lat_p99_ms "$lat") ms (resolution $(jget lat_resolution_ms "$lat") ms), machine busy $(jget busy_pct "$res") % during the intake"
  fi
  [ "${KEEP:-0}" = 1 ] || rm -f "$keep"
}

note "results: $OUT"
n=0
for l in "${loads[@]}"; do
  IFS=: read -r count size sessions <<<"$l"
  n=$((n + 1))
  for rep in $(seq "$REPS"); do
    note "[relay load $n/${#loads[@]}, rep $rep/$REPS] $count messages × $size bytes, $sessions session(s) -> smtp-sink"
    for sys in "${systems[@]}"; do
      run_one "$sys" "$count" "$size" "$sessions" "$rep"
    done
  done
done

echo
python3 "$here/lib/summarize-relay.py" "$OUT"
echo "Raw results: ${OUT#"$root"/}"
[ "$failures" = 0 ] || { note "$failures run(s) failed"; exit 1; }
