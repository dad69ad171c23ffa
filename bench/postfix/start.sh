#!/usr/bin/env bash
# Start the private Postfix comparison instance with an empty queue, and wait until it
# greets on 127.0.0.1:PORT. Prints the PID of its master process (the memory figures
# cover master and all its children). Never touches a system Postfix: everything runs
# from DIR via "postfix -c DIR/conf".
# Usage: start.sh DIR [PORT=2503]       (as root; needs the Debian package "postfix")
#   DIR gets conf/ (main.cf and master.cf from this directory's templates), queue/,
#   data/ and maillog. Any queue left in DIR is deleted first.
# Env: POSTFIX_EXTRA_CF  a file of main.cf settings ("name = value" lines, # comments)
#                        applied on top of main.cf with "postconf -e" (bench/relay.sh)
set -euo pipefail
[ $# -ge 1 ] || { sed -n 2,10p "$0" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib/common.sh
. "$here/../lib/common.sh"
mkdir -p "$1"
dir=$(cd "$1" && pwd) port=${2:-2503}
[ "$(id -u)" = 0 ] || die "the Postfix instance must be started as root"
command -v postfix >/dev/null || die "postfix is not installed (Debian package postfix)"

if [ -f "$dir/conf/main.cf" ] && postfix -c "$dir/conf" status >/dev/null 2>&1; then
  die "the Postfix instance in $dir is still running; run bench/postfix/stop.sh $dir"
fi
port_in_use "$port" && die "127.0.0.1:$port is already in use"

rm -rf "$dir/queue"
mkdir -p "$dir/conf" "$dir/queue" "$dir/data"
sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#$port#g" "$here/main.cf" >"$dir/conf/main.cf"
sed -e "s#@PORT@#$port#g" "$here/master.cf" >"$dir/conf/master.cf"
if [ -n "${POSTFIX_EXTRA_CF:-}" ]; then
  [ -f "$POSTFIX_EXTRA_CF" ] || die "POSTFIX_EXTRA_CF: no file $POSTFIX_EXTRA_CF"
  mapfile -t extra < <(sed -e 's/^[[:space:]]*//' -e '/^#/d' -e '/^$/d' -e 's/[[:space:]]*=[[:space:]]*/=/' "$POSTFIX_EXTRA_CF")
  [ ${#extra[@]} -eq 0 ] || postconf -c "$dir/conf" -e "${extra[@]}"
fi
chown root:root "$dir/queue"
chmod 755 "$dir" "$dir/queue"
chown postfix "$dir/data"

# postfix(1) reports fatal errors on stderr only when that is a terminal: on failure,
# run the check again under script(1) so that the reason is shown.
if ! postfix -c "$dir/conf" check >/dev/null 2>&1; then
  script -qec "postfix -c '$dir/conf' check" /dev/null >&2 || true
  die "postfix -c $dir/conf check failed"
fi
postfix -c "$dir/conf" start >/dev/null 2>&1 || {
  script -qec "postfix -c '$dir/conf' start" /dev/null >&2 || true
  die "postfix -c $dir/conf start failed"
}
pidfile=$dir/queue/pid/master.pid
for _ in $(seq 100); do [ -s "$pidfile" ] && break; sleep 0.1; done
pid=$(tr -dc 0-9 <"$pidfile" 2>/dev/null) || true
[ -n "$pid" ] || die "no master PID in $pidfile"
wait_smtp "$port" 30 "$pid" || { tail -n 20 "$dir/maillog" >&2 2>/dev/null; die "Postfix did not become ready"; }
echo "$pid"
