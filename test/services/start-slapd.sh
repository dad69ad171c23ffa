#!/usr/bin/env bash
# start-slapd.sh DIR [PORT [TLS_PORT]]: a private OpenLDAP slapd on ldap://127.0.0.1:PORT (default
# 4389; StartTLS offered) and ldaps://127.0.0.1:TLS_PORT (default PORT+1), with its own slapd.conf,
# mdb database and TLS files in DIR (the system's /etc/ldap is not used): a private CA (ca.pem,
# exported as LDAP_CA_FILE) and a server certificate it signs for 127.0.0.1 and localhost, made
# with openssl at the first start and kept for restarts. Suffix
# dc=example,dc=test, loaded from directory.ldif when the database is new (people with {SSHA} and
# cleartext passwords, aliases, a disabled user, the gateway's bind account, and a qmail-ldap tree
# using qmail.schema). Prints `export ...` lines; progress and errors go to stderr. Idempotent like
# the other start scripts. Needs slapd and ldap-utils.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

[ $# -ge 1 ] || die "usage: $0 DIR [PORT]"
need slapd slapadd slaptest ldapsearch setsid 'slapd ldap-utils'
need openssl openssl
SCHEMAS=/etc/ldap/schema MODULES=/usr/lib/ldap
for s in core cosine inetorgperson nis misc; do
  [ -f "$SCHEMAS/$s.schema" ] || die "missing $SCHEMAS/$s.schema; install it: apt-get install slapd"
done
[ -f "$MODULES/back_mdb.so" ] || die "missing $MODULES/back_mdb.so; install it: apt-get install slapd"
DIR=$(service_dir "$1")
PORT=${2:-4389}
TLS_PORT=${3:-$((PORT + 1))}
TIMEOUT=${SERVICE_START_TIMEOUT:-30}
SUFFIX=dc=example,dc=test ROOTDN=cn=admin,dc=example,dc=test ROOTPW=admin-secret
URL=ldap://127.0.0.1:$PORT TLS_URL=ldaps://127.0.0.1:$TLS_PORT
CA=$DIR/ca.pem CERT=$DIR/server.pem KEY=$DIR/server.key
CONF=$DIR/slapd.conf PIDF=$DIR/slapd.pid LOG=$DIR/slapd.log

# Ready means a simple bind as the root DN and a base search of the suffix work, on ldap:// and on
# ldaps:// with the private CA (ldapsearch reads LDAPTLS_CACERT, not ldap.conf, for it).
answers() {
  running "$(pid_from "$PIDF")" &&
    timeout 5 ldapsearch -LLL -x -o nettimeout=3 -H "$URL" -D "$ROOTDN" -w "$ROOTPW" -b "$SUFFIX" -s base dn >/dev/null 2>&1 &&
    LDAPTLS_CACERT=$CA LDAPTLS_REQCERT=demand \
      timeout 5 ldapsearch -LLL -x -o nettimeout=3 -H "$TLS_URL" -D "$ROOTDN" -w "$ROOTPW" -b "$SUFFIX" -s base dn >/dev/null 2>&1
}
print_env() {
  cat <<EOF
export LDAP_URL=$URL
export LDAP_TLS_URL=$TLS_URL
export LDAP_CA_FILE=$CA
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
for p in "$PORT" "$TLS_PORT"; do
  port_taken "$p" && { say "127.0.0.1:$p is in use by another process"; exit "$EX_PORT_TAKEN"; }
done

mkdir -p "$DIR/data"
cp "$HERE/qmail.schema" "$DIR/qmail.schema"
# P-256 keys: made in milliseconds, where RSA keys would cost every test start a noticeable pause.
# The server certificate names both loopback forms a client may use (RFC 6125: the IP address as
# an iPAddress SAN); serverAuth only, as a public CA would issue it.
# A failing openssl stops the start with its own words (set -e would stop it silently).
if [ ! -s "$CERT" ]; then
  trap 'cat "$DIR/openssl.log" >&2; die "openssl could not make the TLS files (log: $DIR/openssl.log)"' ERR
  say "making a private CA and a server certificate in $DIR"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=qgate test CA" -keyout "$DIR/ca.key" -out "$CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>>"$DIR/openssl.log"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$KEY" -out "$DIR/server.csr" 2>>"$DIR/openssl.log"
  printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' 'extendedKeyUsage=serverAuth' \
    'keyUsage=critical,digitalSignature' 'basicConstraints=critical,CA:FALSE' >"$DIR/server.ext"
  openssl x509 -req -in "$DIR/server.csr" -CA "$CA" -CAkey "$DIR/ca.key" -CAcreateserial -days 3650 \
    -extfile "$DIR/server.ext" -out "$CERT.tmp" 2>>"$DIR/openssl.log"
  mv "$CERT.tmp" "$CERT"
  trap - ERR
fi
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
TLSCACertificateFile  $CA
TLSCertificateFile    $CERT
TLSCertificateKeyFile $KEY

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

say "starting on $URL and $TLS_URL"
t0=$(now)
# Without -d slapd forks away and logs only to syslog, which a test machine may not have: -d stats
# keeps it in the foreground and logs connections, binds and searches to DIR/slapd.log.
launch "$LOG" slapd -f "$CONF" -h "$URL/ $TLS_URL/" -d "${SLAPD_DEBUG:-stats}"
wait_ready "$TIMEOUT" "$LOG" "slapd on $URL and $TLS_URL" answers "$LAUNCHED"
say "ready in $(since "$t0")s (pid $(pid_from "$PIDF"))"
print_env
