#!/usr/bin/env bash
# Install the Debian packages kadmit needs to build and test, skipping those already present.
# Usage: tests/deps.sh [build|test|bench]   (default: test)
set -euo pipefail
want=(build-essential cmake pkg-config libmbedtls-dev libmicrohttpd-dev libcjson-dev libjsmn-dev
      libyaml-dev libcurl4-openssl-dev)
case "${1:-test}" in
  build) ;;
  test) want+=(libcunit1-dev clang clang-format curl openssl jq valgrind libclang-rt-14-dev chromium) ;;
  bench) want+=(libcunit1-dev curl openssl jq wrk nginx-light valgrind) ;;
esac
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
