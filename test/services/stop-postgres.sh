#!/usr/bin/env bash
# stop-postgres.sh DIR: stops the cluster that start-postgres.sh DIR started, by the pid in
# DIR/data/postmaster.pid only (SIGINT, PostgreSQL's "fast" shutdown: sessions are ended, no wait
# for clients; SIGKILL after 30 s). Keeps the data. Idempotent: nothing running is not an error.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

[ $# -ge 1 ] || die "usage: $0 DIR"
PIDF=$1/data/postmaster.pid
pid=$(pid_from "$PIDF")
if running "$pid"; then stop_pid "$pid" INT 30; else say "not running"; fi
rm -f "$PIDF"
