#!/usr/bin/env bash
# start-slapd.sh DIR [PORT]: a private OpenLDAP slapd on ldap://127.0.0.1:PORT (default 4389) with
# its own slapd.conf and mdb database in DIR (the system's /etc/ldap is not used), suffix
# dc=example,dc=test, loaded from directory.ldif when the database is new (people with {SSHA} and
# cleartext passwords, aliases, a disabled user, the gateway's bind account, and a qmail-ldap tree
# using qmail.schema). Prints `export ...` lines; progress and errors go to stderr. Idempotent like
# the other start scripts. Needs slapd and ldap-utils.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

[ $# -ge 1 ] || die "usage: $0 DIR [PORT]"
need slapd slapadd slaptest ldapsearch setsid 'slapd ldap-utils'
SCHEMAS=/etc/ldap/schema MODULES=/usr/lib/ldap
for s in core cosine inetorgperson nis misc; do
  [ -f "$SCHEMAS/$s.schema" ] || die "missing $SCHEMAS/$s.schema; install it: apt-get install slapd"
done
[ -f "$MODULES/back_mdb.so" ] || die "missing $MODULES/back_mdb.so; install it: apt-get install slapd"
DIR=$(service_dir "$1")
PORT=${2:-4389}
TIMEOUT=${SERVICE_START_TIMEOUT:-30}
SUFFIX=dc=example,dc=test ROOTDN=cn=admin,dc=example,dc=test ROOTPW=admin-secret
URL=ldap://127.0.0.1:$PORT
CONF=$DIR/slapd.conf PIDF=$DIR/slapd.pid LOG=$DIR/slapd.log

# Ready means a simple bind as the root DN and a base search of the suffix work.
answers() {
  running "$(pid_from "$PIDF")" &&
    timeout 5 ldapsearch -LLL -x -o nettimeout=3 -H "$URL" -D "$ROOTDN" -w "$ROOTPW" -b "$SUFFIX" -s base dn >/dev/null 2>&1
}
print_env() {
  cat <<EOF
export LDAP_URL=$URL
export LDAP_BASE_DN=$SUFFIX
export LDAP_PEOPLE_DN=ou=people,$SUFFIX
export LDAP_QMAIL_DN=ou=qmail,$SUFFIX
export LDAP_ADMIN_DN=$ROOTDN
export LDAP_ADMIN_PASSWORD=$ROOTPW
export LDAP_BIND_DN=cn=gateway,$SUFFIX
export LDAP_BIND_PASSWORD=gateway-secret
export SLAPD_PID=$(pid_from "$PIDF")
EOF
}

if answers; then
  say "already running (pid $(pid_from "$PIDF"))"
  print_env
  exit 0
fi
running "$(pid_from "$PIDF")" && die "pid $(pid_from "$PIDF") is alive but does not answer on $URL; run stop-slapd.sh $DIR first"
rm -f "$PIDF"
port_taken "$PORT" && { say "127.0.0.1:$PORT is in use by another process"; exit "$EX_PORT_TAKEN"; }

mkdir -p "$DIR/data"
cp "$HERE/qmail.schema" "$DIR/qmail.schema"
# rootpw is admin-secret ({SSHA}, made with slappasswd); userPassword may be read by nobody,
# only compared by a bind (anonymous auth) and changed by its owner.
cat >"$CONF" <<EOF
# private slapd of the qgate tests (test/services/start-slapd.sh)
include    $SCHEMAS/core.schema
include    $SCHEMAS/cosine.schema
include    $SCHEMAS/inetorgperson.schema
include    $SCHEMAS/nis.schema
include    $SCHEMAS/misc.schema
include    $DIR/qmail.schema
pidfile    $PIDF
argsfile   $DIR/slapd.args
modulepath $MODULES
moduleload back_mdb
password-hash {SSHA}

database   mdb
maxsize    104857600
suffix     "$SUFFIX"
rootdn     "$ROOTDN"
rootpw     {SSHA}t48Nrb0k26e/clHTayq8RHUYMy9/cNpu
directory  $DIR/data
index      objectClass eq
index      uid,mail,mailLocalAddress,mailAlternateAddress eq
access to attrs=userPassword
  by self write
  by anonymous auth
  by * none
access to *
  by * read
EOF

: >"$LOG"
# slapd at -d stats does not say why it rejects a configuration; slaptest does.
slaptest -u -f "$CONF" >>"$LOG" 2>&1 || {
  log_tail "$LOG"
  die "slaptest rejects $CONF (log: $LOG)"
}
if [ ! -f "$DIR/data/data.mdb" ]; then
  say "loading directory.ldif into $DIR/data"
  slapadd -q -f "$CONF" -l "$HERE/directory.ldif" >>"$LOG" 2>&1 || {
    rm -f "$DIR/data/"*.mdb
    log_tail "$LOG"
    die "slapadd failed (log: $LOG)"
  }
fi

say "starting on $URL"
t0=$(now)
# Without -d slapd forks away and logs only to syslog, which a test machine may not have: -d stats
# keeps it in the foreground and logs connections, binds and searches to DIR/slapd.log.
launch "$LOG" slapd -f "$CONF" -h "$URL/" -d "${SLAPD_DEBUG:-stats}"
wait_ready "$TIMEOUT" "$LOG" "slapd on $URL" answers "$LAUNCHED"
say "ready in $(since "$t0")s (pid $(pid_from "$PIDF"))"
print_env
