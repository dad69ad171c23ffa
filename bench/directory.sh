#!/usr/bin/env bash
# npm run bench -- directory: RCPT-time lookups per second through qgate with a user
# directory behind it, with the directory's answer cache on and off, interleaved
# (on, off, on, off, ... REPS times). The ldap variant starts the private slapd of the
# tests (test/services/start-slapd.sh), adds USERS users (user0001..@example.test) and
# asks COUNT RCPTs over SESSIONS sessions, half for known users and half for unknown
# ones, drawn at random from 2 x USERS addresses (bench/lib/rcpt-load.py). Traffic goes
# to 127.0.0.1 only. The sql variant starts the private PostgreSQL of the tests
# (test/services/start-postgres.sh), loads plugins/sql-users/schema.sql with the same
# USERS users and asks the same load of sql-users.
#
# Env: DIRECTORIES "ldap sql" (default; or one of them), COUNT (20000), SESSIONS (10),
#      USERS (1000), REPS (3), QGATE_PORT (2525), SLAPD_PORT (4390), POSTGRES_PORT (4432),
#      WORK (/tmp/qgate-bench-directory), KEEP=1, BUILD=0
# Needs slapd, ldap-utils, postgresql and python3 (bash test/services/install.sh installs them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=lib/common.sh
. "$here/lib/common.sh"

DIRECTORIES=${DIRECTORIES:-ldap sql}
COUNT=${COUNT:-20000}
SESSIONS=${SESSIONS:-10}
USERS=${USERS:-1000}
REPS=${REPS:-3}
QGATE_PORT=${QGATE_PORT:-2525}
WORK=${WORK:-/tmp/qgate-bench-directory}
take_bench_lock
rm -rf "$WORK"
mkdir -p "$WORK"
[ "${BUILD:-1}" = 0 ] || (cd "$root" && npm run -s build)

services=()
cleanup() {
  [ -f "$WORK/qgate/qgate.pid" ] && bash "$here/qgate/stop.sh" "$WORK/qgate" >/dev/null 2>&1 || true
  for s in "${services[@]}"; do bash "$root/test/services/stop-$s.sh" "$WORK/$s" >/dev/null 2>&1 || true; done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

# --- the directories ---------------------------------------------------------------
start_ldap() {
  services+=(slapd)
  eval "$(bash "$root/test/services/start-slapd.sh" "$WORK/slapd" "${SLAPD_PORT:-4390}")"
  python3 - "$USERS" >"$WORK/users.ldif" <<'PY'
import sys
for n in range(1, int(sys.argv[1]) + 1):
    print(f"dn: uid=user{n:04d},ou=people,dc=example,dc=test\nobjectClass: inetOrgPerson\n"
          f"uid: user{n:04d}\ncn: User {n}\nsn: User\nmail: user{n:04d}@example.test\n")
PY
  ldapadd -x -H "$LDAP_URL" -D "$LDAP_ADMIN_DN" -w "$LDAP_ADMIN_PASSWORD" -f "$WORK/users.ldif" >/dev/null
  export QGATE_BENCH_LDAP_PASSWORD=$LDAP_BIND_PASSWORD
  template_vars=(-e "s#@LDAP_URL@#$LDAP_URL#" -e "s#@LDAP_BASE_DN@#$LDAP_PEOPLE_DN#" -e "s#@LDAP_BIND_DN@#$LDAP_BIND_DN#")
}

start_sql() {
  services+=(postgres)
  eval "$(bash "$root/test/services/start-postgres.sh" "$WORK/postgres" "${POSTGRES_PORT:-4432}")"
  local psql
  psql=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)/psql
  "$psql" "$DATABASE_URL" -XqAt -v ON_ERROR_STOP=1 -f "$root/plugins/sql-users/schema.sql" >/dev/null
  "$psql" "$DATABASE_URL" -XqAt -v ON_ERROR_STOP=1 -v users="$USERS" >/dev/null <<'SQL'
INSERT INTO domains VALUES ('example.test');
INSERT INTO users (address) SELECT format('user%s@example.test', lpad(n::text, 4, '0')) FROM generate_series(1, :users) AS n;
ANALYZE domains, users, aliases;
SQL
  export QGATE_BENCH_DATABASE_URL=$DATABASE_URL
  template_vars=()
}

run_one() { # directory cache(on|off) rep
  local cache=false
  [ "$2" = on ] && cache='{}'
  sed "${template_vars[@]}" -e "s#@CACHE@#$cache#" "$here/qgate/config-$1.yaml.in" >"$WORK/config-$1.yaml.in"
  QGATE_CONFIG_TEMPLATE=$WORK/config-$1.yaml.in bash "$here/qgate/start.sh" "$WORK/qgate" "$QGATE_PORT" >/dev/null
  local result
  result=$(python3 "$here/lib/rcpt-load.py" --port "$QGATE_PORT" --count "$COUNT" --sessions "$SESSIONS" --users "$USERS")
  bash "$here/qgate/stop.sh" "$WORK/qgate" >/dev/null
  printf '{"directory":"%s","cache":"%s","rep":%s,%s\n' "$1" "$2" "$3" "${result#\{}" | tee -a "$WORK/results.jsonl"
}

for d in $DIRECTORIES; do
  case "$d" in
    ldap) start_ldap ;;
    sql) start_sql ;;
    *) die "unknown directory '$d' (ldap, sql)" ;;
  esac
  for rep in $(seq 1 "$REPS"); do
    run_one "$d" on "$rep"
    run_one "$d" off "$rep"
  done
done

python3 - "$WORK/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("\n| directory | cache | RCPT lookups/s (median) | runs | accepted / rejected / 4xx (last run) |")
print("|---|---|---:|---:|---|")
for d in dict.fromkeys(r["directory"] for r in rows):
    for c in ("on", "off"):
        rs = [r for r in rows if r["directory"] == d and r["cache"] == c]
        last = rs[-1]
        print(f"| {d} | {c} | {round(statistics.median(r['per_second'] for r in rs)):,} | {len(rs)} | "
              f"{last['accepted']} / {last['rejected']} / {last['tempfailed']} |")
PY
