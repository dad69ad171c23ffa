#!/usr/bin/env bash
# start-spamd.sh DIR [PORT]: a private SpamAssassin spamd on 127.0.0.1:PORT (default 4783) and the
# unix socket DIR/spamd.sock, offline
# and deterministic: local tests only (-L: no DNS, RBL, Razor, Pyzor, DCC), no Bayes, no auto-learn,
# no user preferences, the rules Debian ships (no sa-update). Samples: DIR/samples/gtube.eml (spam,
# score 1000) and ham.eml. Prints `export ...` lines; progress and errors go to stderr. Idempotent
# like the other start scripts. Needs spamd, spamassassin and spamc. SPAMD_MAX_CHILDREN: how
# many messages spamd checks at once (default 2; the scanners benchmark takes 4).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

[ $# -ge 1 ] || die "usage: $0 DIR [PORT]"
need spamd spamc perl setsid 'spamd spamassassin spamc'
RULES=/usr/share/spamassassin
[ -f "$RULES/50_scores.cf" ] || die "no SpamAssassin rules in $RULES; install them: apt-get install spamassassin"
DIR=$(service_dir "$1")
PORT=${2:-4783}
TIMEOUT=${SERVICE_START_TIMEOUT:-90}
PIDF=$DIR/spamd.pid LOG=$DIR/spamd.log SAMPLES=$DIR/samples SOCKET=$DIR/spamd.sock
# spamd refuses to scan as root: as root its children run as nobody (-u), otherwise as the caller.
RUN_USER=nobody
[ "$(id -u)" = 0 ] || RUN_USER=$(id -un)

mkdir -p "$DIR/etc" "$DIR/home" "$SAMPLES"
cp "$HERE/samples/gtube.eml" "$HERE/samples/ham.eml" "$SAMPLES/"

# Ready means the protocol works end to end: PING answers PONG and GTUBE is spam (spamc -c exits 1).
answers() {
  running "$(pid_from "$PIDF")" || return 1
  timeout 5 spamc -d 127.0.0.1 -p "$PORT" -K >/dev/null 2>&1 || return 1
  local rc=0
  timeout 20 spamc -d 127.0.0.1 -p "$PORT" -c <"$SAMPLES/gtube.eml" >/dev/null 2>&1 || rc=$?
  [ "$rc" = 1 ]
}
print_env() {
  cat <<EOF
export SPAMD_HOST=127.0.0.1
export SPAMD_PORT=$PORT
export SPAMD_SOCKET=$SOCKET
export SPAMD_PID=$(pid_from "$PIDF")
export SPAMD_SAMPLES=$SAMPLES
EOF
}

if answers; then
  say "already running (pid $(pid_from "$PIDF"))"
  print_env
  exit 0
fi
running "$(pid_from "$PIDF")" && die "pid $(pid_from "$PIDF") is alive but does not answer on 127.0.0.1:$PORT; run stop-spamd.sh $DIR first"
rm -f "$PIDF"
port_taken "$PORT" && { say "127.0.0.1:$PORT is in use by another process"; exit "$EX_PORT_TAKEN"; }

# --siteconfigpath replaces /etc/spamassassin as a whole: without Debian's *.pre files no plugin loads,
# not even Check (spamd then fails with "no loaded plugin implements 'check_main'"). The system
# local.cf is not read; ours makes every check local.
rm -f "$DIR"/etc/*.pre "$DIR"/etc/*.cf
cp /etc/spamassassin/*.pre "$DIR/etc/"
[ -f /etc/spamassassin/65_debian.cf ] && cp /etc/spamassassin/65_debian.cf "$DIR/etc/"
cat >"$DIR/etc/local.cf" <<'EOF'
# private spamd of the qgate tests (test/services/start-spamd.sh): offline and deterministic
required_score     5.0
use_bayes          0
bayes_auto_learn   0
skip_rbl_checks    1
dns_available      no
ifplugin Mail::SpamAssassin::Plugin::Razor2
  use_razor2 0
endif
ifplugin Mail::SpamAssassin::Plugin::Pyzor
  use_pyzor 0
endif
ifplugin Mail::SpamAssassin::Plugin::DCC
  use_dcc 0
endif
ifplugin Mail::SpamAssassin::Plugin::AWL
  use_auto_whitelist 0
endif
ifplugin Mail::SpamAssassin::Plugin::TxRep
  use_txrep 0
endif
EOF
: >"$LOG"
chown -R "$RUN_USER" "$DIR/home"
# spamd reads its configuration after switching to RUN_USER: every parent of DIR must let it in.
as_user "$RUN_USER" test -r "$DIR/etc/local.cf" ||
  die "$DIR is not readable by user $RUN_USER (spamd reads its configuration as that user); use a directory under /tmp"

USER_OPT=()
[ "$(id -u)" = 0 ] && USER_OPT=(-u "$RUN_USER")
say "starting on 127.0.0.1:$PORT"
t0=$(now)
# Children are forked once the rules are compiled; the pid file is written just before.
launch "$LOG" spamd --pidfile="$PIDF" --listen="127.0.0.1:$PORT" --listen="$SOCKET" --allowed-ips=127.0.0.1 "${USER_OPT[@]}" -x -L \
  --helper-home-dir="$DIR/home" --configpath="$RULES" --siteconfigpath="$DIR/etc" --syslog=stderr \
  --min-children=1 --max-children="${SPAMD_MAX_CHILDREN:-2}" --timeout-child=60
wait_ready "$TIMEOUT" "$LOG" "spamd on 127.0.0.1:$PORT" answers "$LAUNCHED"
say "ready in $(since "$t0")s (pid $(pid_from "$PIDF"))"
print_env
