#!/usr/bin/env bash
# start-postgres.sh DIR [PORT]: a private PostgreSQL cluster in DIR/data on 127.0.0.1:PORT (default
# 4432) and the unix socket directory DIR/run; Debian's own clusters are not touched. A new cluster
# gets the login role "mail" (password mail-secret) owning the empty database "mail". TCP logins use
# scram-sha-256, the socket trusts. Durability is off (fsync, full_page_writes): test data only.
# Prints `export ...` lines; progress and errors go to stderr. Idempotent like the other start
# scripts; an existing DIR/data is started again with its data. Needs postgresql.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

[ $# -ge 1 ] || die "usage: $0 DIR [PORT]"
# Debian keeps the server binaries out of PATH, one directory per major version: take the newest.
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
for b in initdb pg_ctl psql postgres; do
  [ -x "$PG_BIN/$b" ] || die "'$b' of PostgreSQL not found; install it: apt-get install postgresql (npm test does, as root)"
done
need runuser 'util-linux'
DIR=$(service_dir "$1")
PORT=${2:-4432}
TIMEOUT=${SERVICE_START_TIMEOUT:-60}
DATA=$DIR/data RUN=$DIR/run LOG=$DIR/postgres.log PIDF=$DIR/data/postmaster.pid
DATABASE=mail ROLE=mail PASSWORD=mail-secret
# initdb and postgres refuse to run as root: as root they run as the postgres user Debian creates.
OS_USER=postgres
if [ "$(id -u)" = 0 ]; then
  id "$OS_USER" >/dev/null 2>&1 || die "no user $OS_USER; apt-get install postgresql creates it"
  as_user "$OS_USER" test -x "$DIR" ||
    die "$DIR is not reachable by user $OS_USER (every parent directory must be searchable by it); use a directory under /tmp"
else
  OS_USER=$(id -un)
fi

# Ready means a password login as ROLE over TCP and a query work.
answers() {
  running "$(pid_from "$PIDF")" &&
    PGPASSWORD=$PASSWORD PGCONNECT_TIMEOUT=3 timeout 5 "$PG_BIN/psql" -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d "$DATABASE" \
      -XAtqc 'select 1' 2>/dev/null | grep -qx 1
}
print_env() {
  cat <<EOF
export PGHOST=127.0.0.1
export PGPORT=$PORT
export PGUSER=$ROLE
export PGPASSWORD=$PASSWORD
export PGDATABASE=$DATABASE
export DATABASE_URL=postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE
export PG_SOCKET_DIR=$RUN
export PG_PID=$(pid_from "$PIDF")
EOF
}

if answers; then
  say "already running (pid $(pid_from "$PIDF"))"
  print_env
  exit 0
fi
running "$(pid_from "$PIDF")" && die "pid $(pid_from "$PIDF") is alive but does not answer on 127.0.0.1:$PORT; run stop-postgres.sh $DIR first"
port_taken "$PORT" && { say "127.0.0.1:$PORT is in use by another process"; exit "$EX_PORT_TAKEN"; }

# A new cluster is a copy of a template: initdb plus the role and database cost 1 to 5 s of CPU on
# a busy 2-core machine, a copy a tenth of that, and test files start many clusters. The template
# is made once per machine for this user, PostgreSQL version and setup (hence the key), in a
# directory of its own that is renamed into place only when complete: concurrent starts never see
# half a template, and nothing changes it afterwards. The copies share its system identifier,
# which matters only to replication.
INITDB_ARGS=(-U postgres --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256)
PG_VERSION=$("$PG_BIN/postgres" --version)
TEMPLATE=/tmp/qgate-pg-template-$(printf '%s\n' "$PG_VERSION" "$OS_USER" "${INITDB_ARGS[*]}" "$ROLE" "$PASSWORD" "$DATABASE" | md5sum | cut -c1-16)

make_template() {
  local work
  work=$(mktemp -d /tmp/qgate-pg-template.XXXXXX)
  chmod 755 "$work"
  chown "$OS_USER" "$work"
  touch "$work/log"
  chown "$OS_USER" "$work/log"
  say "making the template cluster $TEMPLATE"
  # --no-sync: nothing is fsynced; a crash of the machine may lose the template, nothing else.
  # The role and database are made over a unix socket in the work directory: no TCP port at all.
  if as_user "$OS_USER" "$PG_BIN/initdb" -D "$work/data" "${INITDB_ARGS[@]}" --no-sync </dev/null >>"$work/log" 2>&1 &&
    as_user "$OS_USER" "$PG_BIN/pg_ctl" -D "$work/data" -l "$work/log" -o "-c listen_addresses= -p $PORT -k '$work'" \
      -w -t "$TIMEOUT" -s start </dev/null >>"$work/log" 2>&1; then
    local made=0
    as_user "$OS_USER" "$PG_BIN/psql" -h "$work" -p "$PORT" -U postgres -d postgres -XqAt -v ON_ERROR_STOP=1 >>"$work/log" 2>&1 <<EOF || made=1
CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD';
CREATE DATABASE $DATABASE OWNER $ROLE;
EOF
    as_user "$OS_USER" "$PG_BIN/pg_ctl" -D "$work/data" -m fast -w -t "$TIMEOUT" -s stop </dev/null >>"$work/log" 2>&1 || made=1
    # Another start may have renamed its template into place first: then that one is used.
    if [ "$made" = 0 ]; then mv -T "$work/data" "$TEMPLATE" 2>/dev/null || true; fi
  fi
  cat "$work/log" >>"$LOG"
  rm -rf "$work"
  [ -f "$TEMPLATE/PG_VERSION" ] || {
    log_tail "$LOG"
    die "making the template cluster failed (log: $LOG)"
  }
}

mkdir -p "$RUN"
touch "$LOG"
chown "$OS_USER" "$RUN" "$LOG"
t0=$(now)
if [ ! -f "$DATA/PG_VERSION" ]; then
  [ -f "$TEMPLATE/PG_VERSION" ] || make_template
  rm -rf "$DATA"
  cp -a "$TEMPLATE" "$DATA"
fi
say "starting on 127.0.0.1:$PORT (sockets in $RUN)"
# Lock files left by a SIGKILLed postmaster (its pid is not running: checked above). PostgreSQL
# would check the pid in them with kill(pid, 0), which succeeds on the zombie that init has not
# reaped yet, and refuse to start.
rm -f "$PIDF" "$RUN"/.s.PGSQL.*
# pg_ctl -w returns once the server accepts connections; the postmaster is the leader of its own
# session (pg_ctl calls setsid), so a kill of its process group takes every backend with it.
# The settings are given on the command line, so initdb's postgresql.conf stays as it is and a
# restart on another port or socket directory needs no editing. fsync=off: nothing waits for the
# disk. synchronous_commit stays on: a commit has reached the kernel when it returns, so a test
# that SIGKILLs the server ("backend died") finds its committed rows after the restart.
SETTINGS="-c listen_addresses=127.0.0.1 -p $PORT -k '$RUN' -c fsync=off -c full_page_writes=off"
as_user "$OS_USER" "$PG_BIN/pg_ctl" -D "$DATA" -l "$LOG" -o "$SETTINGS" -w -t "$TIMEOUT" -s start </dev/null >>"$LOG" 2>&1 || {
  # pg_ctl gives up waiting but leaves a slow postmaster running: stop it, nothing stays behind.
  pid=$(pid_from "$PIDF")
  if running "$pid"; then stop_group "$pid"; fi
  log_tail "$LOG"
  die "pg_ctl start failed or the server was not ready within ${TIMEOUT}s (log: $LOG)"
}
wait_ready "$TIMEOUT" "$LOG" "PostgreSQL on 127.0.0.1:$PORT" answers "$(pid_from "$PIDF")"
say "ready in $(since "$t0")s (pid $(pid_from "$PIDF"))"
print_env
