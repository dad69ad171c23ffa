#!/usr/bin/env bash
# Start qgate for a benchmark run, with a fresh, empty durable queue, and wait until it
# greets on 127.0.0.1:PORT. Prints the PID of the server process (the node process).
# Usage: start.sh DIR [PORT=2525]
#   DIR gets config.yaml (from config.yaml.in), queue/, qgate.log (stdout+stderr) and
#   qgate.pid. Any queue left in DIR is deleted first.
# Env: QGATE_CMD  command that starts the server, run from the repository root with
#                 "--config DIR/config.yaml" appended (default: node bin/qgate.js start)
#      QGATE_START_TIMEOUT  seconds to wait for the 220 greeting (default 30)
#      QGATE_CONFIG_TEMPLATE  config template (default: config.yaml.in here; bench/relay.sh
#                 uses config-relay.yaml.in, with SINK_HOST and SINK_PORT for its route;
#                 the policy benchmark config-policy.yaml.in, with QGATE_LISTS)
#      QGATE_METRICS  admin.metrics in config.yaml.in: true (default) or false
#      QGATE_COMMIT_SYNC  queue.commit_sync in config.yaml.in and config-relay.yaml.in:
#                 auto (default), directory or file
#      CLAMD_PORT  clamd's port in config-clamav.yaml.in (bench/run.sh scanners)
#      SPAMD_PORT  spamd's port in config-spamassassin.yaml.in and config-scanners.yaml.in
# Build first (npm run build); bench/run.sh does that.
set -euo pipefail
[ $# -ge 1 ] || { sed -n 2,16p "$0" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../lib/common.sh
. "$here/../lib/common.sh"
mkdir -p "$1"
dir=$(cd "$1" && pwd) port=${2:-2525}

if [ -f "$dir/qgate.pid" ] && alive "$(cat "$dir/qgate.pid")"; then
  die "qgate from $dir is still running (pid $(cat "$dir/qgate.pid")); run bench/qgate/stop.sh $dir"
fi
port_in_use "$port" && die "127.0.0.1:$port is already in use"

rm -rf "$dir/queue"
mkdir -p "$dir/queue"
template=${QGATE_CONFIG_TEMPLATE:-$here/config.yaml.in}
[ -f "$template" ] || die "no config template $template"
sed -e "s#@QUEUE_PATH@#$dir/queue#g" -e "s#@PORT@#$port#g" \
  -e "s#@SINK_HOST@#${SINK_HOST:-127.0.0.1}#g" -e "s#@SINK_PORT@#${SINK_PORT:-2507}#g" \
  -e "s#@LISTS@#${QGATE_LISTS:-$dir/lists}#g" -e "s#@METRICS@#${QGATE_METRICS:-true}#g" \
  -e "s#@COMMIT_SYNC@#${QGATE_COMMIT_SYNC:-auto}#g" \
  -e "s#@CLAMD_PORT@#${CLAMD_PORT:-3310}#g" -e "s#@SPAMD_PORT@#${SPAMD_PORT:-783}#g" \
  "$template" >"$dir/config.yaml"

read -ra cmd <<<"${QGATE_CMD:-node bin/qgate.js start}"
cd "$root"
"${cmd[@]}" --config "$dir/config.yaml" >"$dir/qgate.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$dir/qgate.pid"
if ! wait_smtp "$port" "${QGATE_START_TIMEOUT:-30}" "$pid"; then
  note "--- last lines of $dir/qgate.log:"
  tail -n 20 "$dir/qgate.log" >&2 || true
  kill "$pid" 2>/dev/null || true
  rm -f "$dir/qgate.pid"
  exit 1
fi
echo "$pid"
