#!/usr/bin/env bash
# Memory under many large concurrent messages: peak RSS of qgate's whole process tree
# while SESSIONS parallel sessions each send one message of SIZE bytes (default 500 ×
# 10 MiB, i.e. smtp-source -s 500 -m 500 -l 10485760), checked against LIMIT_MB (250).
# A server that streams message bodies to its queue stays flat; one that buffers whole
# messages needs about SESSIONS × SIZE.
#
# Usage: bash bench/memory.sh           (or: npm run bench -- memory)
# Env:   SESSIONS (500), SIZE (10485760), LIMIT_MB (250),
#        SYSTEMS  "qgate" (default); "qgate postfix" adds Postfix for comparison (the
#                 limit applies to qgate only)
#        REPS, OUT, WORK, KEEP, BUILD, ports, timeouts: as for bench/run.sh, which does
#        the run (LOADS=SESSIONS:SIZE:SESSIONS) and prints its table.
# Prints one line per qgate run with the peak RSS (and PSS), and "PASS" or "FAIL".
# Exit status 0 only if every run succeeded and qgate stayed under LIMIT_MB.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/common.sh
. "$here/lib/common.sh"
[ $# -eq 0 ] || { sed -n 2,15p "$0" >&2; exit 2; }

SESSIONS=${SESSIONS:-500}
SIZE=${SIZE:-10485760}
LIMIT_MB=${LIMIT_MB:-250}
[[ $SESSIONS =~ ^[1-9][0-9]*$ && $SIZE =~ ^[1-9][0-9]*$ && $LIMIT_MB =~ ^[1-9][0-9]*$ ]] ||
  die "SESSIONS, SIZE and LIMIT_MB must be positive integers"
out=${OUT:-$here/results/$(date -u +%Y%m%dT%H%M%SZ)-memory.jsonl}

rc=0
LOADS="$SESSIONS:$SIZE:$SESSIONS" SYSTEMS=${SYSTEMS:-qgate} OUT=$out bash "$here/run.sh" || rc=$?
[ -f "$out" ] || exit "$((rc ? rc : 1))"

python3 - "$out" "$LIMIT_MB" <<'PY' || rc=1
import json, sys
path, limit = sys.argv[1], float(sys.argv[2])
runs = [r for r in map(json.loads, open(path)) if r.get("type") == "run" and r["system"] == "qgate"]
ok = bool(runs)
for r in runs:
    rss, pss = r.get("peak_rss_mb"), r.get("peak_pss_mb")
    what = f"{r['sessions']} sessions × {r['size'] / 1048576:g} MiB, rep {r['rep']}"
    if r.get("rc") != 0 or rss is None:
        print(f"memory: qgate run failed ({what}): {r.get('error')}")
        ok = False
        continue
    verdict = "PASS" if rss < limit else "FAIL"
    ok = ok and rss < limit
    print(f"memory: qgate peak RSS {rss:.0f} MB (PSS {pss:.0f} MB), {what}; limit {limit:g} MB: {verdict}")
sys.exit(0 if ok else 1)
PY
exit "$rc"
