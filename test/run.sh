#!/usr/bin/env bash
# The test suite (`npm test`): makes sure the real peers the integration tests
# talk to are installed (swaks with its TLS and CRAM-MD5 modules, Python 3 with
# smtplib, Debian's python3-aiosmtpd, openssl, chromium for the status page, systemd-analyze and
# logrotate, strace; as root with apt-get, only if missing), and the backing services the integration tests start privately (clamd, spamd,
# slapd, PostgreSQL: test/services/install.sh), then runs every compiled test
# with node's test runner, the fuzzing smoke run (test/fuzz/smoke.test.ts) among them.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v swaks >/dev/null 2>&1 || need+=(swaks)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# The POP3 tests fetch mail with curl (pop3://, pop3s://) and fetchmail.
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v fetchmail >/dev/null 2>&1 || need+=(fetchmail)
# swaks does STARTTLS with Net::SSLeay and CRAM-MD5 with Digest::HMAC_MD5.
perl -MNet::SSLeay -e1 >/dev/null 2>&1 || need+=(libnet-ssleay-perl)
perl -MDigest::HMAC_MD5 -e1 >/dev/null 2>&1 || need+=(libdigest-hmac-perl)
# The SMTP peers of the delivery tests run on Debian's Python with its aiosmtpd.
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need+=(python3-aiosmtpd)
# The status page test drives Debian's chromium with playwright-core (a browser of its own cannot be downloaded).
[ -x /usr/bin/chromium ] || need+=(chromium)
# The service files in contrib/ are checked with systemd-analyze verify (offline) and logrotate -d.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v logrotate >/dev/null 2>&1 || need+=(logrotate)
# The order of a queue commit's system calls is watched with strace.
command -v strace >/dev/null 2>&1 || need+=(strace)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test/run.sh: installing ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }
  else
    echo "test/run.sh: missing ${need[*]}; install them (Debian: apt-get install ${need[*]}) or run as root" >&2
    exit 1
  fi
fi

bash test/services/install.sh

[ -f dist/core/cli/main.js ] || npx tsc -p .
shopt -s nullglob
# dist/test/fuzz: the seed corpus through every fuzz target, then a short Jazzer.js run of each (npm run fuzz is the long one).
# Every wait in test/harness has its own time limit; --test-timeout is the net for any other
# wait: node 20 kills a test file still running after it (the slowest, the fuzzing smoke run,
# takes under 3 minutes on a loaded machine), so a hang fails the suite instead of holding CI.
exec node --test --test-concurrency="${TEST_CONCURRENCY:-2}" --test-timeout="${TEST_TIMEOUT_MS:-900000}" dist/test/unit/*.test.js dist/test/fuzz/*.test.js dist/test/plugins/*/*.test.js dist/examples/*/test/*.test.js dist/templates/*/test/*.test.js dist/test/integration/*.test.js
