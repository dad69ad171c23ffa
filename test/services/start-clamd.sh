#!/usr/bin/env bash
# start-clamd.sh DIR [PORT]: a private, offline clamd on 127.0.0.1:PORT (default 4310) and the unix
# socket DIR/clamd.sock, with a signature database generated into DIR/db (freshclam is never run:
# no network, no official database) and the sample messages in DIR/samples. Prints `export ...`
# lines (eval "$(start-clamd.sh DIR PORT)"); progress and errors go to stderr. Idempotent: a live,
# answering instance in DIR is reported again, a stale pid file is cleared. Needs clamav-daemon.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

[ $# -ge 1 ] || die "usage: $0 DIR [PORT]"
need clamd perl md5sum base64 od setsid 'clamav-daemon clamav'
DIR=$(service_dir "$1")
PORT=${2:-4310}
TIMEOUT=${SERVICE_START_TIMEOUT:-60}
CONF=$DIR/clamd.conf SOCK=$DIR/clamd.sock PIDF=$DIR/clamd.pid LOG=$DIR/clamd.log SAMPLES=$DIR/samples

# One zPING per transport; clamd answers "PONG\0". bash's /dev/tcp for TCP, perl-base for the socket.
ping_tcp() { timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"; printf "zPING\0" >&3; IFS= read -r -d "" r <&3; [ "$r" = PONG ]' "$PORT" 2>/dev/null; }
ping_unix() {
  timeout 3 perl -MIO::Socket::UNIX -e '
    my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or exit 1;
    print $s "zPING\0"; local $/ = "\0"; exit((<$s> // "") eq "PONG\0" ? 0 : 1)' "$SOCK" 2>/dev/null
}
answers() { running "$(pid_from "$PIDF")" && ping_tcp && ping_unix; }
print_env() {
  cat <<EOF
export CLAMD_HOST=127.0.0.1
export CLAMD_PORT=$PORT
export CLAMD_SOCKET=$SOCK
export CLAMD_CONF=$CONF
export CLAMD_PID=$(pid_from "$PIDF")
export CLAMD_SAMPLES=$SAMPLES
EOF
}

if answers; then
  say "already running (pid $(pid_from "$PIDF"))"
  print_env
  exit 0
fi
running "$(pid_from "$PIDF")" && die "pid $(pid_from "$PIDF") is alive but does not answer on 127.0.0.1:$PORT and $SOCK; run stop-clamd.sh $DIR first"
rm -f "$PIDF"
port_taken "$PORT" && { say "127.0.0.1:$PORT is in use by another process"; exit "$EX_PORT_TAKEN"; }

mkdir -p "$DIR/db" "$DIR/tmp" "$SAMPLES"
# EICAR (https://www.eicar.org) is kept base64-encoded so that no scanner flags this script.
EICAR_B64='WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo='
MARKER='QGATE-TEST-VIRUS-MARKER'
hex() { od -An -v -tx1 | tr -d ' \n'; }
base64 -d <<<"$EICAR_B64" >"$SAMPLES/eicar.com"
# local.hdb: MD5 and size of the 68-byte EICAR file (the official database names it Win.Test.EICAR_HDB-1).
# local.ndb: body signatures, target 0 (any file), offset * (anywhere): the EICAR string, and our marker.
# ClamAV appends ".UNOFFICIAL" to every name from an unsigned database, and reports the body signature
# when both match: clients should match /eicar/i, not an exact name.
echo "$(md5sum <"$SAMPLES/eicar.com" | cut -d' ' -f1):$(stat -c %s "$SAMPLES/eicar.com"):Win.Test.EICAR_HDB-1" >"$DIR/db/local.hdb"
{
  echo "Eicar-Test-Signature:0:*:$(hex <"$SAMPLES/eicar.com")"
  echo "QGate.Test.Marker-1:0:*:$(printf %s "$MARKER" | hex)"
} >"$DIR/db/local.ndb"
# clamav-testfiles ships clam.exe packed, archived and mailed 44 ways, but no signature for it:
# one MD5 of the plain clam.exe makes all of them detectable (the scanner unpacks the rest).
TESTFILE=/usr/share/clamav-testfiles/clam.exe
if [ -f "$TESTFILE" ]; then
  echo "$(md5sum <"$TESTFILE" | cut -d' ' -f1):$(stat -c %s "$TESTFILE"):ClamAV-Test-File" >"$DIR/db/testfiles.hdb"
else
  rm -f "$DIR/db/testfiles.hdb"
fi

cp "$HERE/samples/clean.eml" "$HERE/samples/marker.eml" "$SAMPLES/"
{
  printf '%s\n' 'From: Mallory Example <mallory@example.test>' 'To: Bob Example <bob@example.test>' 'Subject: invoice' \
    'Message-ID: <eicar-1@example.test>' 'Date: Mon, 01 Jan 2024 10:00:00 +0000' 'MIME-Version: 1.0' \
    'Content-Type: multipart/mixed; boundary="qgate-boundary"' '' '--qgate-boundary' \
    'Content-Type: text/plain; charset=us-ascii' '' 'Please find the invoice attached.' '' '--qgate-boundary' \
    'Content-Type: application/octet-stream; name="invoice.com"' \
    'Content-Disposition: attachment; filename="invoice.com"' 'Content-Transfer-Encoding: base64' ''
  echo "$EICAR_B64"
  printf '%s\n' '--qgate-boundary--'
} >"$SAMPLES/eicar-attachment.eml"

cat >"$CONF" <<EOF
# private clamd of the qgate tests (test/services/start-clamd.sh)
LocalSocket $SOCK
LocalSocketMode 666
FixStaleSocket yes
TCPSocket $PORT
TCPAddr 127.0.0.1
DatabaseDirectory $DIR/db
TemporaryDirectory $DIR/tmp
PidFile $PIDF
LogFile $LOG
LogTime yes
Foreground yes
MaxThreads 4
ReadTimeout 30
CommandReadTimeout 30
IdleTimeout 30
StreamMaxLength 25M
ScanMail yes
ScanArchive yes
SelfCheck 3600
ConcurrentDatabaseReload no
Bytecode no
EOF

say "starting on 127.0.0.1:$PORT and $SOCK"
t0=$(now)
: >"$LOG"
launch "$LOG" clamd -c "$CONF"
wait_ready "$TIMEOUT" "$LOG" "clamd on 127.0.0.1:$PORT" answers "$LAUNCHED"
say "ready in $(since "$t0")s (pid $(pid_from "$PIDF"))"
print_env
