#!/usr/bin/env bash
# Wait until the Postfix instance in DIR has no messages left in its queue (incoming,
# active, deferred, maildrop, hold), so that a delivery backlog never overlaps the next
# benchmark run. Prints the seconds waited.
# Usage: wait-empty.sh DIR [TIMEOUT_SECONDS=600]     (exit 1 on timeout)
set -euo pipefail
[ $# -ge 1 ] || { sed -n 2,6p "$0" >&2; exit 2; }
q=$1/queue limit=${2:-600}
t0=$EPOCHREALTIME
while [ -n "$(find "$q/incoming" "$q/active" "$q/deferred" "$q/maildrop" "$q/hold" -type f -print -quit 2>/dev/null)" ]; do
  if awk -v a="$t0" -v b="$EPOCHREALTIME" -v l="$limit" 'BEGIN { exit !(b - a >= l) }'; then
    echo "Postfix queue in $q not empty after ${limit}s" >&2
    exit 1
  fi
  sleep 0.1
done
awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", b - a }'
