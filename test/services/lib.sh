# Shared by the start-*.sh and stop-*.sh scripts (sourced, not run): messages,
# liveness of a pid, the port check, the readiness wait that prints the log tail
# when a service does not come up, and running a command as the service's user.
# Exit codes of a start script: 0 ready, 1 failed, 75 (EX_TEMPFAIL) the port is
# taken by another process, so a caller may retry on another port.
# shellcheck shell=bash

# shellcheck disable=SC2034 # used by the scripts that source this file
EX_PORT_TAKEN=75
PATH="$PATH:/usr/sbin:/sbin"
SELF=$(basename "$0" .sh)

say() { echo "$SELF: $*" >&2; }
die() { echo "$SELF: ERROR: $*" >&2; exit 1; }

# need BINARY... PACKAGES: every binary must be on PATH.
need() {
  local pkgs=${*: -1}
  local b
  for b in "${@:1:$#-1}"; do
    command -v "$b" >/dev/null 2>&1 || die "'$b' not found; install it: apt-get install $pkgs (npm test does, as root)"
  done
}

# service_dir ARG: creates the instance directory and prints its absolute path. A unix socket path
# holds at most 107 bytes (sun_path), and the longest one below DIR is PostgreSQL's run/.s.PGSQL.PORT.
service_dir() {
  mkdir -p "$1" || die "cannot create $1"
  local dir
  dir=$(cd "$1" && pwd)
  [ ${#dir} -le 80 ] || die "directory path too long for unix sockets (${#dir} bytes, at most 80): $dir; use a shorter one under /tmp"
  echo "$dir"
}

# running PID: the process exists and is not a zombie (kill -0 succeeds on a zombie that
# its new parent has not reaped yet, and a daemon's parent is init, which reaps when it likes).
running() {
  [ -n "${1:-}" ] || return 1
  if [ -r "/proc/$1/stat" ]; then
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
  else
    kill -0 "$1" 2>/dev/null
  fi
}

# pid_from FILE: the first line of a pid file, empty when there is none.
pid_from() { if [ -s "$1" ]; then head -n1 "$1" | tr -dc 0-9; fi; }

# port_taken PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_taken() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null; }

# as_user USER CMD...: the daemons that refuse root (PostgreSQL) or should not scan as root (spamd's
# children) run as USER when we are root; an unprivileged caller runs them as itself.
as_user() {
  local user=$1
  shift
  if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# launch LOG CMD...: starts a daemon in the instance directory ($DIR), in the foreground of a session
# of its own (setsid: it leads its process group, so one kill of the group reaches its children, and
# nothing of ours), output appended to LOG. Sets LAUNCHED to its pid. In the foreground because then
# the pid is known at once: a daemon that forks itself away is found only through a pid file it may
# never write, and spamd -d's parent even polls for its child once a second.
launch() {
  local log=$1
  shift
  (cd "$DIR" && exec setsid "$@" </dev/null >>"$log" 2>&1) &
  # shellcheck disable=SC2034 # read by the calling script
  LAUNCHED=$!
}

# wait_ready SECONDS LOG DESCRIPTION CHECK PID: polls CHECK (a function) until it succeeds. Gives up
# as soon as PID has exited, or after SECONDS; then the daemon's process group is stopped (nothing
# is left running), the log tail goes to stderr and the script exits 1, so a test fails with the
# daemon's own reason.
wait_ready() {
  local seconds=$1 log=$2 what=$3 check=$4 pid=$5
  local deadline=$(($(date +%s) + seconds))
  until "$check"; do
    if ! running "$pid"; then
      log_tail "$log"
      die "$what: the daemon exited during start-up (log: $log)"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      stop_group "$pid"
      log_tail "$log"
      die "$what: not ready within ${seconds}s (log: $log)"
    fi
    sleep 0.1
  done
}

# stop_group PID: SIGTERM to the process group PID leads, SIGKILL after 5 s.
stop_group() {
  kill -TERM -- "-$1" 2>/dev/null || kill -TERM "$1" 2>/dev/null || true
  local i
  for ((i = 0; i < 50; i++)); do
    running "$1" || return 0
    sleep 0.1
  done
  kill -KILL -- "-$1" 2>/dev/null || kill -KILL "$1" 2>/dev/null || true
}

log_tail() {
  echo "---- last lines of $1 ----" >&2
  tail -n 30 "$1" >&2 2>/dev/null || true
  echo "----" >&2
}

# stop_pid PID SIGNAL GRACE: sends SIGNAL to the daemon, which ends its children itself; waits
# GRACE seconds for the exit, then SIGKILLs its process group. Only ever the pid from the
# instance's own pid file, never a name: pkill would hit the other instances and the system's.
stop_pid() {
  local pid=$1 signal=$2 grace=$3
  kill "-$signal" "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < grace * 10; i++)); do
    running "$pid" || { say "stopped pid $pid"; return 0; }
    sleep 0.1
  done
  say "pid $pid ignored SIG$signal for ${grace}s; sending SIGKILL"
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    running "$pid" || return 0
    sleep 0.1
  done
  die "pid $pid survived SIGKILL"
}
