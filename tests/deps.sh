#!/usr/bin/env bash
# Install the Debian packages kadmit needs to build and test, skipping those already present.
# Usage: tests/deps.sh [--list] [build|test|bench|platform|image]   (default: test)
#   --list     print the packages, one a line, and install nothing (tests/platforms uses it)
#   build      compile kadmit
#   test       everything tests/run needs on the host (Debian 12 or 13)
#   bench      the benchmarks
#   platform   the unit and integration tests in another Debian release's root (no sanitizer,
#              fuzzer or valgrind pass there)
#   image      the tools that build and run the image and the Debian 13 root (deploy/image.sh,
#              tests/platforms/debian13.sh)
set -euo pipefail
list=""
if [ "${1:-}" = --list ]; then
  list=1
  shift
fi
want=(build-essential cmake pkg-config libmbedtls-dev libmicrohttpd-dev libcjson-dev libjsmn-dev
      libyaml-dev libcurl4-openssl-dev)
integration=(libcunit1-dev curl openssl jq python3 python3-yaml chromium strace help2man)
case "${1:-test}" in
  build) want+=(help2man) ;;
  test) want+=("${integration[@]}" clang clang-format valgrind libclang-rt-dev) ;;
  bench) want+=(libcunit1-dev curl openssl jq wrk nginx-light valgrind) ;;
  platform) want+=("${integration[@]}" ca-certificates git) ;;
  image) want=(mmdebstrap umoci skopeo podman runc uidmap binutils) ;;
  *) echo "deps: unknown profile '$1' (build, test, bench, platform, image)" >&2; exit 2 ;;
esac
if [ -n "$list" ]; then
  printf '%s\n' "${want[@]}"
  exit 0
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
