#!/usr/bin/env bash
# Build the session-latency LD_PRELOAD shim (sesslat.c) into a directory and print the
# path of the resulting .so. Rebuilds only when the source is newer than the build.
# Usage: build-shim.sh OUTDIR
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
src=$here/sesslat.c
so=$1/sesslat.so
mkdir -p "$1"
if [ ! -f "$so" ] || [ "$src" -nt "$so" ]; then
  gcc -O2 -Wall -Wextra -shared -fPIC -o "$so.tmp" "$src" -ldl
  mv "$so.tmp" "$so"
fi
echo "$so"
