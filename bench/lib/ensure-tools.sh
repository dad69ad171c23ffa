#!/usr/bin/env bash
# Make sure the tools the benchmark needs are installed, installing missing ones with
# apt-get (Debian; needs root):
#   smtp-source  load generator          (package postfix)
#   smtp-sink    next hop of bench/relay.sh (package postfix)
#   postfix      comparison server       (package postfix; only with the argument "postfix")
#   gcc + libc headers for the latency shim (packages gcc, libc6-dev)
#   python3      memory sampler and tables (package python3)
# Postfix is installed with debconf's "No configuration", so no system instance is set
# up or started; the benchmark runs its own private instance (bench/postfix/).
# Usage: ensure-tools.sh [postfix]
set -euo pipefail
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

pkgs=()
command -v smtp-source >/dev/null || pkgs+=(postfix)
command -v smtp-sink >/dev/null || pkgs+=(postfix)
if [ "${1:-}" = postfix ] && ! command -v postfix >/dev/null; then pkgs+=(postfix); fi
command -v gcc >/dev/null || pkgs+=(gcc)
[ -f /usr/include/stdio.h ] || pkgs+=(libc6-dev)
command -v python3 >/dev/null || pkgs+=(python3)
command -v flock >/dev/null || pkgs+=(util-linux)
[ ${#pkgs[@]} -eq 0 ] && exit 0

mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
[ "$(id -u)" = 0 ] || die "missing packages: ${pkgs[*]}; install them as root (apt-get install ${pkgs[*]})"
command -v apt-get >/dev/null || die "missing packages: ${pkgs[*]}, and no apt-get to install them"
note "installing: ${pkgs[*]}"
if printf '%s\n' "${pkgs[@]}" | grep -qx postfix; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "${pkgs[@]}" >&2 || {
  apt-get update -q >&2
  apt-get install -y -q "${pkgs[@]}" >&2
}
