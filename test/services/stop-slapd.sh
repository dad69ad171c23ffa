#!/usr/bin/env bash
# stop-slapd.sh DIR: stops the slapd that start-slapd.sh DIR started, by the pid in its pid file
# only (SIGTERM, SIGKILL after 10 s). Keeps DIR and its database. Idempotent: nothing running is
# not an error.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

[ $# -ge 1 ] || die "usage: $0 DIR"
PIDF=$1/slapd.pid
pid=$(pid_from "$PIDF")
if running "$pid"; then stop_pid "$pid" TERM 10; else say "not running"; fi
rm -f "$PIDF"
