#!/usr/bin/env bash
# qgate benchmark (npm run bench): the same SMTP loads against qgate (durable queue) and
# against a private Postfix instance (durable queue, discard transport) in one run,
# interleaved (qgate, postfix, qgate, postfix, ... REPS times per load). For every load
# it prints a Markdown table with msgs/s, session p50/p99, peak RSS/PSS of the server's
# process tree and the ratio qgate/Postfix, and writes every run as one JSON line to
# bench/results/<UTC timestamp>.jsonl. Traffic goes to 127.0.0.1 only.
#
# Usage: bash bench/run.sh            (npm run bench)
#        bash bench/run.sh memory     (npm run bench -- memory: see bench/memory.sh)
#        bash bench/run.sh dots       (npm run bench -- dots: memory and CPU for messages
#                                      of dot lines against text, see bench/dots.sh)
#        bash bench/run.sh relay      (npm run bench -- relay: end-to-end through an
#                                      smtp-sink next hop, see bench/relay.sh)
#        bash bench/run.sh policy     (npm run bench -- policy: qgate with the shipped
#                                      inbound policy (STARTTLS offered, SIZE, 100,000-entry
#                                      badmailfrom and badrcptto); LOADS default
#                                      "20000:4096:10 20000:4096:50")
#        bash bench/run.sh backlog    (npm run bench -- backlog: new mail with 100,000 deferred
#                                      messages queued, and the backlog's delivery rate once
#                                      it is due; see bench/backlog.sh)
#        bash bench/run.sh directory  (npm run bench -- directory: RCPT-time lookups per second
#                                      against a user directory, answer cache on and off;
#                                      see bench/directory.sh)
#        bash bench/run.sh metrics    (npm run bench -- metrics: qgate counting Prometheus
#                                      metrics against qgate with admin.metrics false,
#                                      interleaved; SYSTEMS "qgate qgate-nometrics", LOADS
#                                      default "20000:4096:10 20000:4096:50", REPS 3)
#        bash bench/run.sh scanners   (npm run bench -- scanners: qgate without scanners
#                                      against qgate-clamav, qgate-spamassassin and
#                                      qgate-scanners (both, as the filtering gateway has
#                                      them; every message scanned by a private clamd and
#                                      spamd from test/services), interleaved; SYSTEMS
#                                      "qgate qgate-clamav qgate-spamassassin
#                                      qgate-scanners", SPAMD_MAX_CHILDREN (4), LOADS default
#                                      "2000:4096:10 2000:4096:50"; prints the msgs/s ratio,
#                                      the p99 added per session and the scans in flight)
# Env:
#   LOADS    space-separated COUNT:SIZE:SESSIONS
#            (default "20000:4096:1 20000:4096:10 20000:4096:50 2000:1048576:10")
#   REPS     repetitions of each load per system (default 1)
#   WARMUP   messages sent to each freshly started server (the load's size and sessions)
#            before the measured load; not counted (default 0: the default loads are long)
#   SYSTEMS  "qgate postfix" (default), "qgate" or "postfix"; "qgate-nometrics" is qgate
#            with admin.metrics false, "qgate-dirsync" qgate with queue.commit_sync directory
#            (two flushes per commit, where the default auto may choose one)
#   OUT      JSONL file to write (default bench/results/<UTC timestamp>.jsonl)
#   WORK     scratch directory, deleted at the end (default /tmp/qgate-bench)
#   KEEP=1   keep WORK (configs, logs) after the run
#   BUILD=0  skip "npm run build"
#   QGATE_PORT (2525), POSTFIX_PORT (2503), RSS_INTERVAL (0.25 s),
#   LOAD_TIMEOUT (3600 s per load), DRAIN_TIMEOUT (600 s), QGATE_CMD (bench/qgate/start.sh)
# Each run gets a freshly started server with an empty queue, which is deleted again
# when the server is stopped after the run. Needs root on first use to apt-get install
# postfix (for smtp-source), gcc and python3 if they are missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=lib/common.sh
. "$here/lib/common.sh"

case "${1:-}" in
  memory) shift; exec bash "$here/memory.sh" "$@" ;;
  dots) shift; exec bash "$here/dots.sh" "$@" ;;
  relay) shift; exec bash "$here/relay.sh" "$@" ;;
  directory) shift; exec bash "$here/directory.sh" "$@" ;;
  backlog) shift; exec bash "$here/backlog.sh" "$@" ;;
  policy)
    export QGATE_CONFIG_TEMPLATE=$here/qgate/config-policy.yaml.in
    LOADS=${LOADS:-"20000:4096:10 20000:4096:50"}
    policy=1
    ;;
  metrics)
    SYSTEMS=${SYSTEMS:-"qgate qgate-nometrics"}
    LOADS=${LOADS:-"20000:4096:10 20000:4096:50"}
    REPS=${REPS:-3}
    ;;
  scanners)
    SYSTEMS=${SYSTEMS:-"qgate qgate-clamav qgate-spamassassin qgate-scanners"}
    LOADS=${LOADS:-"2000:4096:10 2000:4096:50"}
    scanners=1
    ;;
  -h | --help | help) sed -n '2,55p' "$0"; exit 0 ;;
  "") ;;
  *) die "unknown argument '$1' (bash bench/run.sh --help)" ;;
esac

LOADS=${LOADS:-"20000:4096:1 20000:4096:10 20000:4096:50 2000:1048576:10"}
REPS=${REPS:-1}
WARMUP=${WARMUP:-0}
SYSTEMS=${SYSTEMS:-"qgate postfix"}
WORK=${WORK:-/tmp/qgate-bench}
QGATE_PORT=${QGATE_PORT:-2525}
POSTFIX_PORT=${POSTFIX_PORT:-2503}
RSS_INTERVAL=${RSS_INTERVAL:-0.25}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-600}
export LOAD_TIMEOUT=${LOAD_TIMEOUT:-3600}
OUT=${OUT:-$here/results/$(date -u +%Y%m%dT%H%M%SZ).jsonl}

# --- check the knobs --------------------------------------------------------------
check_loads_and_systems

# --- one benchmark at a time; clear what an interrupted run may have left ---------
take_bench_lock

bash "$here/lib/ensure-tools.sh" $need_postfix

# WORK is deleted at start and end: only ever a directory this script created (marker).
if [ -e "$WORK" ] && [ ! -e "$WORK/.qgate-bench" ] && [ -n "$(ls -A "$WORK" 2>/dev/null)" ]; then
  die "$WORK exists and was not made by this benchmark; choose another WORK"
fi
bash "$here/qgate/stop.sh" "$WORK" 2>/dev/null || true
bash "$here/postfix/stop.sh" "$WORK/postfix" 2>/dev/null || true
rm -rf "$WORK"
mkdir -p "$WORK" "$(dirname "$OUT")"
touch "$WORK/.qgate-bench"
if [ "${policy:-0}" = 1 ]; then
  export QGATE_LISTS=$WORK/lists
  python3 "$here/lib/make-lists.py" "$QGATE_LISTS"
fi

# qgate keeps every message (no delivery yet) until it is stopped after the run.
avail_kb=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
need_kb=$((biggest / 1024 * 12 / 10 + 512 * 1024))
((avail_kb > need_kb)) || die "need ~$((need_kb / 1024)) MB free under $WORK, have $((avail_kb / 1024)) MB"

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

watcher="" loader=""
# The private clamd of the scanner systems, started once for the whole run (its database load
# is not part of any load's time); stopped in cleanup.
clamd_dir=$WORK/clamd
start_clamd() {
  [ -n "${CLAMD_PORT:-}" ] && return 0
  local env
  env=$(bash "$root/test/services/start-clamd.sh" "$clamd_dir" "${BENCH_CLAMD_PORT:-3399}") || die "clamd did not start"
  eval "$env"
  export CLAMD_PORT
}
# The private spamd, the same way; as many children as clamd has threads (4), so both
# scanners can work on as many messages at once.
spamd_dir=$WORK/spamd
start_spamd() {
  [ -n "${SPAMD_PORT:-}" ] && return 0
  local env
  env=$(SPAMD_MAX_CHILDREN=${SPAMD_MAX_CHILDREN:-4} bash "$root/test/services/start-spamd.sh" "$spamd_dir" "${BENCH_SPAMD_PORT:-3783}") ||
    die "spamd did not start"
  eval "$env"
  export SPAMD_PORT
}
cleanup() {
  [ -n "$loader" ] && kill -TERM "$loader" 2>/dev/null && wait "$loader" 2>/dev/null || true
  [ -n "$watcher" ] && kill -TERM "$watcher" 2>/dev/null && wait "$watcher" 2>/dev/null || true
  bash "$here/qgate/stop.sh" "$WORK" 2>/dev/null || true
  bash "$here/postfix/stop.sh" "$WORK/postfix" 2>/dev/null || true
  [ -d "$clamd_dir" ] && bash "$root/test/services/stop-clamd.sh" "$clamd_dir" 2>/dev/null || true
  [ -d "$spamd_dir" ] && bash "$root/test/services/stop-spamd.sh" "$spamd_dir" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then note "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build ------------------------------------------------------------------------
if [[ " ${systems[*]} " == *" qgate "* ]] && [ -z "${QGATE_CMD:-}" ]; then
  build_qgate "$root" "fix the build, or run with SYSTEMS=postfix"
fi
so=$(bash "$here/lib/build-shim.sh" "$WORK/bin")

cd "$root"
qgate_version=$(node -p 'require("./package.json").version' 2>/dev/null || echo "")
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "")
[ -n "$commit" ] && qgate_version+=" ($commit$(git diff --quiet HEAD 2>/dev/null || echo ", modified"))"
printf '{"type":"meta","started":%s,"host":%s,"kernel":%s,"cpus":%s,"node":%s,"postfix":%s,"qgate":%s,"loads":%s,"reps":%s,"warmup":%s,"systems":%s}\n' \
  "$(jstr "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "$(jstr "$(uname -n)")" "$(jstr "$(uname -r)")" "$(nproc)" \
  "$(jstr "$(node --version 2>/dev/null || echo)")" "$(jstr "$(postconf -d -h mail_version 2>/dev/null || echo)")" \
  "$(jstr "$qgate_version")" "$(jstr "$LOADS")" "$REPS" "$WARMUP" "$(jstr "$SYSTEMS")" >"$OUT"

failures=0
# run_one SYSTEM COUNT SIZE SESSIONS REP: start the system fresh, load it while sampling
# its memory, let Postfix drain its queue, stop it, append one JSON line to OUT.
run_one() {
  local sys=$1 count=$2 size=$3 sessions=$4 rep=$5
  local port pid res="" rc=0 drain=null err="" mem='{}' load1
  local memf=$WORK/rss.json resf=$WORK/load.json errf=$WORK/load.err
  case $sys in
    qgate) port=$QGATE_PORT; pid=$(bash "$here/qgate/start.sh" "$WORK" "$port" 9>&-) || err="qgate did not start" ;;
    qgate-nometrics) port=$QGATE_PORT; pid=$(QGATE_METRICS=false bash "$here/qgate/start.sh" "$WORK" "$port" 9>&-) || err="qgate did not start" ;;
    qgate-dirsync) port=$QGATE_PORT; pid=$(QGATE_COMMIT_SYNC=directory bash "$here/qgate/start.sh" "$WORK" "$port" 9>&-) || err="qgate did not start" ;;
    postfix) port=$POSTFIX_PORT; pid=$(bash "$here/postfix/start.sh" "$WORK/postfix" "$port" 9>&-) || err="postfix did not start" ;;
    qgate-clamav)
      start_clamd
      port=$QGATE_PORT
      pid=$(QGATE_CONFIG_TEMPLATE=$here/qgate/config-clamav.yaml.in bash "$here/qgate/start.sh" "$WORK" "$port" 9>&-) ||
        err="qgate did not start"
      ;;
    qgate-spamassassin)
      start_spamd
      port=$QGATE_PORT
      pid=$(QGATE_CONFIG_TEMPLATE=$here/qgate/config-spamassassin.yaml.in bash "$here/qgate/start.sh" "$WORK" "$port" 9>&-) ||
        err="qgate did not start"
      ;;
    qgate-scanners)
      start_clamd
      start_spamd
      port=$QGATE_PORT
      pid=$(QGATE_CONFIG_TEMPLATE=$here/qgate/config-scanners.yaml.in bash "$here/qgate/start.sh" "$WORK" "$port" 9>&-) ||
        err="qgate did not start"
      ;;
  esac
  if [ -z "$err" ] && ! warm_up "$port" "$size" "$sessions"; then
    err="warm-up load failed: $(tail -n 3 "$WORK/warmup.err" | tr '\n' ' ')"
  fi
  if [ -z "$err" ] && [ "$sys" = postfix ] && [ "$WARMUP" != 0 ]; then
    bash "$here/postfix/wait-empty.sh" "$WORK/postfix" "$DRAIN_TIMEOUT" >/dev/null || err="warm-up: queue did not drain"
  fi
  load1=$(cut -d' ' -f1 /proc/loadavg)
  if [ -z "$err" ]; then
    rm -f "$memf"
    python3 "$here/lib/rss-watch.py" "$pid" "$memf" "$RSS_INTERVAL" &
    watcher=$!
    for _ in $(seq 200); do [ -s "$memf" ] && break; sleep 0.02; done
    # in the background: a signal to this script is then handled at once (see cleanup)
    SESSLAT_SO=$so bash "$here/lib/load.sh" 127.0.0.1 "$port" "$count" "$size" "$sessions" >"$resf" 2>"$errf" &
    loader=$!
    wait "$loader" || rc=$?
    loader=""
    res=$(cat "$resf")
    kill -TERM "$watcher" 2>/dev/null || true
    wait "$watcher" 2>/dev/null || true
    watcher=""
    [ -s "$memf" ] && mem=$(cat "$memf")
    if [ "$rc" != 0 ]; then
      err="load failed (rc $rc): $(tail -n 3 "$errf" | tr '\n' ' ')"
    fi
    if [[ $sys == qgate-* ]] && [ "$sys" != qgate-nometrics ] && [ "$sys" != qgate-dirsync ]; then
      # Scan count, results, scan times and how many scans were in flight at once.
      scans=$(python3 "$here/lib/scan-overlap.py" "$WORK/qgate.log") && res="${res%\}},${scans#\{}"
    fi
    if [ "$sys" = postfix ]; then
      drain=$(bash "$here/postfix/wait-empty.sh" "$WORK/postfix" "$DRAIN_TIMEOUT") || { drain=null; err+=" queue did not drain"; }
    fi
  fi
  case $sys in
    qgate | qgate-nometrics | qgate-dirsync | qgate-clamav | qgate-spamassassin | qgate-scanners) bash "$here/qgate/stop.sh" "$WORK" || note "could not stop qgate" ;;
    postfix) bash "$here/postfix/stop.sh" "$WORK/postfix" || note "could not stop Postfix" ;;
  esac
  if [ -z "$res" ]; then [ "$rc" = 0 ] && rc=1; res="{\"rc\":$rc}"; fi
  [ -n "$err" ] && failures=$((failures + 1))
  res=${res#\{}
  res=${res%\}}
  mem=${mem#\{}
  mem=${mem%\}}
  printf '{"type":"run","time":%s,"system":"%s","count":%d,"size":%d,"sessions":%d,"rep":%d,%s%s,"drain_s":%s,"load1":%s,"error":%s}\n' \
    "$(jstr "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "$sys" "$count" "$size" "$sessions" "$rep" "$res" "${mem:+,$mem}" \
    "$drain" "$load1" "$([ -n "$err" ] && jstr "$err" || echo null)" >>"$OUT"
  if [ -n "$err" ]; then
    note "  $sys: FAILED: $err"
  else
    note "  $sys: $(jget msgs_per_s "$res") msgs/s, session p50 $(jget p50_ms "$res") ms, p99 $(jget p99_ms "$res") ms, peak RSS $(jget peak_rss_mb "$mem") MB, machine busy $(jget busy_pct "$res") % (iowait $(jget iowait_pct "$res") %)$([ "$drain" != null ] && echo ", queue drained in ${drain}s")"
  fi
}

note "results: $OUT"
n=0
for l in "${loads[@]}"; do
  IFS=: read -r count size sessions <<<"$l"
  n=$((n + 1))
  for rep in $(seq "$REPS"); do
    note "[load $n/${#loads[@]}, rep $rep/$REPS] $count messages × $size bytes, $sessions session(s)"
    for sys in "${systems[@]}"; do
      run_one "$sys" "$count" "$size" "$sessions" "$rep"
    done
  done
done

echo
python3 "$here/lib/summarize.py" "$OUT"
[ "${scanners:-0}" = 1 ] && python3 "$here/lib/summarize-scanners.py" "$OUT"
echo "Raw results: ${OUT#"$root"/}"
[ "$failures" = 0 ] || { note "$failures run(s) failed"; exit 1; }
