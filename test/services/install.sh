#!/usr/bin/env bash
# Makes sure the Debian packages of the backing services the tests start privately
# (clamd, spamd, slapd, PostgreSQL) are installed; installs the missing ones with
# apt-get when run as root, non-interactively. The install never starts or configures
# system instances: a policy-rc.d that answers 101 ("action forbidden") is in place
# while it runs (when the machine has none), and slapd is told to create no database.
# Does nothing but a dpkg-query when everything is there.
set -euo pipefail

PACKAGES=(clamav-daemon clamav clamdscan clamav-testfiles spamd spamassassin spamc slapd ldap-utils postgresql)

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "test/services/install.sh: not a Debian system; install ${PACKAGES[*]} (or your system's equivalents) by hand" >&2
  exit 0
fi
# One dpkg-query for all of them: this check runs before every `npm test`.
mapfile -t present < <(dpkg-query -W -f='${db:Status-Status} ${Package}\n' "${PACKAGES[@]}" 2>/dev/null | sed -n 's/^installed //p')
missing=()
for p in "${PACKAGES[@]}"; do [[ " ${present[*]} " == *" $p "* ]] || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test/services/install.sh: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
  exit 1
fi

echo "test/services/install.sh: installing ${missing[*]}" >&2
# Debian's maintainer scripts start every daemon they install (invoke-rc.d or deb-systemd-invoke):
# a system slapd on 389, clamd and freshclam (which would try the network), spamd on 783 and the
# 15/main cluster on 5432. Both honour policy-rc.d (Debian Policy, invoke-rc.d(8)); exit 101 forbids
# the start. The private instances do not need them, and a freshclam retrying offline could keep a
# CI machine busy. A policy-rc.d the machine already has (containers ship one) is left as it is.
POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\n# temporary, from qgate test/services/install.sh: no daemon starts during the install\nexit 101\n' >"$POLICY"
  chmod 755 "$POLICY"
  trap 'rm -f "$POLICY"' EXIT
fi
# slapd's postinst would otherwise build a database from the host name; the tests bring their own.
echo 'slapd slapd/no_configuration boolean true' | debconf-set-selections

apt_install() {
  # No prompts: noninteractive debconf, old conffiles kept, stdin closed; a held dpkg lock
  # (another apt run) is waited for at most 5 minutes instead of failing at once or forever.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" </dev/null >/dev/null
}
# A stale package list names versions the mirror no longer has: update once and retry.
apt_install 2>/dev/null || { apt-get update -qq </dev/null && apt_install; }
