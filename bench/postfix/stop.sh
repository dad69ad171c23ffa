#!/usr/bin/env bash
# Stop the private Postfix comparison instance in DIR (postfix -c DIR/conf stop: only that
# instance, never a system Postfix). Does nothing if it is not running.
# Usage: stop.sh DIR
set -euo pipefail
[ $# -eq 1 ] || { sed -n 2,4p "$0" >&2; exit 2; }
PATH=$PATH:/usr/sbin:/sbin
conf=$1/conf
[ -f "$conf/main.cf" ] || exit 0
if postfix -c "$conf" status >/dev/null 2>&1; then
  postfix -c "$conf" stop >/dev/null 2>&1 || true
fi
