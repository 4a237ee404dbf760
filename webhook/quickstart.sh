#!/usr/bin/env bash
# Quick start: install the missing Debian packages, build kadmit, make a local CA and serving
# certificate (SAN 127.0.0.1, localhost), and serve the embedded production checklist on
# https://127.0.0.1:8443 (metrics and health on http://127.0.0.1:9090). Extra arguments go to
# `kadmit serve` (e.g. --policies policies/ --log-level debug, or --listen 127.0.0.1:9443
# --metrics-listen 127.0.0.1:0); the curl lines it prints name the ports kadmit really listens
# on. Ctrl-C stops it.
#
# Env: KADMIT=PATH serves with that binary (e.g. an installed kadmit) instead of building;
# KADMIT_QUICKSTART_CERTS=DIR puts the certificates there (default build/quickstart-certs).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${KADMIT:-}" ]; then
  tests/deps.sh build
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKADMIT_TESTS=OFF >/dev/null
  cmake --build build -j"$(nproc)"
  KADMIT=build/kadmit
fi
certs=${KADMIT_QUICKSTART_CERTS:-build/quickstart-certs}
"$KADMIT" certs --out-dir "$certs" --service kadmit --namespace kadmit-system \
  --ip 127.0.0.1 --dns localhost >&2

# kadmit's log goes to the terminal and to $log, where its "serving" line gives the addresses.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$KADMIT" serve --listen 127.0.0.1:8443 --metrics-listen 127.0.0.1:9090 \
  --tls-cert "$certs/tls.crt" --tls-key "$certs/tls.key" "$@" 2> >(tee -i "$log" >&2) &
pid=$!
# A background job ignores SIGINT: Ctrl-C reaches kadmit as SIGTERM (the same clean drain).
trapped=
trap 'trapped=1; kill -TERM "$pid" 2>/dev/null || true' INT TERM
while ! grep -q '"port":[1-9]' "$log"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" || exit $?
    exit 1
  fi
  sleep 0.1
done
# "serving on HOST:PORT (metrics on HOST:PORT; ...)" and "port":N,"metricsPort":N
host_of() { # the host part of an address; a wildcard address is reached on loopback
  local h=${1%:*}
  case "$h" in 0.0.0.0 | "") echo 127.0.0.1 ;; "[::]") echo "[::1]" ;; *) echo "$h" ;; esac
}
line=$(grep -m1 '"port":[1-9]' "$log")
listen=$(sed -n 's/.* serving on \([^ ]*\) (metrics on \([^;]*\);.*/\1/p' <<<"$line")
metrics=$(sed -n 's/.* serving on \([^ ]*\) (metrics on \([^;]*\);.*/\2/p' <<<"$line")
port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' <<<"$line")
mport=$(sed -n 's/.*"metricsPort":\([0-9]*\).*/\1/p' <<<"$line")
url="https://$(host_of "$listen"):$port"
murl="http://$(host_of "$metrics"):$mport"
cat >&2 <<MSG

kadmit is serving. Try it from another terminal:
  curl --cacert $certs/ca.crt $url/readyz
  curl --cacert $certs/ca.crt -H 'Content-Type: application/json' \\
       --data @tests/fixtures/rules/resources-required/resources-missing-all/request.json $url/validate
  curl $murl/metrics

MSG
while :; do
  rc=0
  wait "$pid" || rc=$?
  # a trap cuts the wait short (128 + the signal), even when kadmit exits at once: wait again
  # for kadmit's own status (asking `kill -0` instead raced with kadmit's exit)
  [ -n "$trapped" ] || exit "$rc"
  trapped=
done
