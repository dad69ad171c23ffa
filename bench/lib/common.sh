# Helpers shared by the bench scripts (sourced, not run): messages, and probing an SMTP
# port on 127.0.0.1 with bash's /dev/tcp (no extra tools needed).
# shellcheck shell=bash

PATH=$PATH:/usr/sbin:/usr/local/sbin:/sbin

note() { printf '%s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# Builds the qgate in DIR (default $root): npm ci if node_modules is missing, then npm run
# build, unless BUILD=0; then checks that bin/qgate.js is there. HINT is added to the error.
# Usage: build_qgate [DIR] [HINT]
build_qgate() {
  local dir=${1:-$root} hint=${2:-}
  if [ "${BUILD:-1}" = 1 ]; then
    note "building qgate (npm run build)"
    (
      cd "$dir"
      [ -d node_modules ] || npm ci --no-audit --no-fund
      npm run build --silent
    ) >&2 || die "npm run build failed${hint:+; $hint}"
  fi
  [ -f "$dir/bin/qgate.js" ] || die "$dir/bin/qgate.js not found"
}

# The result lines are JSON made with these: a string literal, the raw value of member
# NAME in a one-line object, and an object's members without its braces.
jstr() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; s=${s//[[:cntrl:]]/ }; printf '"%s"' "$s"; }
jget() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2"; }
inner() { local s=${1#\{}; printf '%s' "${s%\}}"; }

# True if process PID exists and is not a zombie (an exited child not yet reaped).
alive() {
  local state
  state=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# True if something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# True if 127.0.0.1:PORT accepts a connection and greets with "220".
smtp_greets() {
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    IFS= read -r -t 4 line <&3 || exit 1
    printf "QUIT\r\n" >&3
    [[ $line == 220* ]]' _ "$1" 2>/dev/null
}

# wait_smtp PORT TIMEOUT_SECONDS [PID]: poll until the port greets with 220. Fails on
# timeout, or at once if PID (the server being started) exits meanwhile.
wait_smtp() {
  local port=$1 limit=$2 pid=${3:-} t0=$SECONDS
  until smtp_greets "$port"; do
    if [ -n "$pid" ] && ! alive "$pid"; then
      note "server (pid $pid) exited before 127.0.0.1:$port was ready"
      return 1
    fi
    if ((SECONDS - t0 >= limit)); then
      note "127.0.0.1:$port did not greet with 220 within ${limit}s"
      return 1
    fi
    sleep 0.1
  done
}

# Checks the knobs both runners share and sets from them: loads, systems (arrays),
# biggest (bytes of the largest load), need_postfix ("postfix" if it is a system) and
# WORK (trailing / removed). Dies on a bad value.
check_loads_and_systems() {
  [[ $REPS =~ ^[1-9][0-9]*$ ]] || die "REPS must be a positive integer, not '$REPS'"
  [[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a number of messages, not '$WARMUP'"
  read -ra loads <<<"$LOADS"
  read -ra systems <<<"$SYSTEMS"
  [ ${#loads[@]} -gt 0 ] || die "LOADS is empty"
  [ ${#systems[@]} -gt 0 ] || die "SYSTEMS is empty"
  biggest=0
  local l s bytes
  for l in "${loads[@]}"; do
    [[ $l =~ ^([1-9][0-9]*):([1-9][0-9]*):([1-9][0-9]*)$ ]] || die "bad load '$l' (want COUNT:SIZE:SESSIONS)"
    bytes=$((BASH_REMATCH[1] * BASH_REMATCH[2]))
    ((bytes > biggest)) && biggest=$bytes
  done
  need_postfix=""
  for s in "${systems[@]}"; do
    case $s in
      qgate | qgate-nometrics | qgate-dirsync | qgate-clamav | qgate-spamassassin | qgate-scanners) ;;
      postfix) need_postfix=postfix ;;
      *) die "unknown system '$s' in SYSTEMS (qgate, qgate-nometrics, qgate-dirsync, qgate-clamav, qgate-spamassassin, qgate-scanners, postfix)" ;;
    esac
  done
  WORK=${WORK%/}
  case $WORK in /?*) ;; *) die "WORK must be an absolute path below /" ;; esac
}

# warm_up PORT SIZE SESSIONS: sends WARMUP messages (none if 0) of the load's size over its
# sessions to the server just started, so that the measured load finds it in its steady
# state: qgate's hot code compiled by V8's optimizing compiler (which otherwise takes
# about a sixth of qgate's CPU in the first 10 seconds of load), Postfix's daemons
# running. Fails if the load does; smtp-source's messages go to WORK/warmup.err.
warm_up() {
  [ "$WARMUP" = 0 ] && return 0
  bash "$here/lib/load.sh" 127.0.0.1 "$1" "$WARMUP" "$2" "$3" >/dev/null 2>"$WORK/warmup.err" 9>&-
}

# One benchmark at a time: holds WORK.lock on fd 9 until the script exits.
take_bench_lock() {
  mkdir -p "$(dirname "$WORK")"
  exec 9>"$WORK.lock"
  flock -n 9 || die "another benchmark holds $WORK.lock"
}
