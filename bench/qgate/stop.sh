#!/usr/bin/env bash
# Stop the qgate started by bench/qgate/start.sh DIR (the PID in DIR/qgate.pid; nothing
# else), then delete its queue so that disk use stays bounded between runs.
# Usage: stop.sh DIR        (SIGTERM, then SIGKILL after QGATE_STOP_TIMEOUT=15 seconds)
set -euo pipefail
[ $# -eq 1 ] || { sed -n 2,4p "$0" >&2; exit 2; }
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
dir=$1
if [ -f "$dir/qgate.pid" ]; then
  pid=$(cat "$dir/qgate.pid")
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq $((${QGATE_STOP_TIMEOUT:-15} * 10))); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      echo "qgate (pid $pid) did not stop on SIGTERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
      while alive "$pid"; do sleep 0.1; done
    fi
  fi
  rm -f "$dir/qgate.pid"
fi
rm -rf "$dir/queue"
