#!/usr/bin/env bash
# Server CPU per TLS handshake and per keep-alive request, for each TLS version the kadmit
# binary serves (1.2 with Mbed TLS 2.28; 1.2 and 1.3 with 3.6). Prints one table row per
# version for tests/bench/RESULTS.md; never fails on a number.
#
#   KADMIT=build/kadmit tests/bench/tls_versions.sh                 this host (Debian 12, 2.28)
#   tests/platforms/debian13.sh -- tests/bench/tls_versions.sh     Debian 13, 3.6 (KADMIT there:
#                                                 /root/build/kadmit after tests/platforms/debian13.sh)
#
# Handshakes: `openssl s_time -new` for ${HANDSHAKE_SECONDS:-5} s (full handshakes, ECDSA P-256
# certificate, X25519). Keep-alive: ${REQUESTS:-2000} POSTs of the agent pod AdmissionReview on one
# curl connection. CPU is kadmit's user+system time from /proc, divided by the operations done.
set -euo pipefail
cd "$(dirname "$0")/../.."
KADMIT=${KADMIT:-build/kadmit}
. tests/integration/lib/harness.sh
T=$(mktemp -d)
trap 'stop_server; rm -rf "$T"' EXIT
"$KADMIT" certs --out-dir "$T/certs" --ip 127.0.0.1 --dns localhost >/dev/null
PORT=$(free_port)
METRICS_PORT=$(free_port)
start_server "$T/log" --listen "127.0.0.1:$PORT" --metrics-listen "127.0.0.1:$METRICS_PORT" \
  --tls-cert "$T/certs/tls.crt" --tls-key "$T/certs/tls.key" --threads 1 >/dev/null
cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) * 1000000 / hz}' "/proc/$srv_pid/stat"; }
body=tests/bench/fixtures/agent-pod-review.json
urls=()
for _ in $(seq 1 "${REQUESTS:-2000}"); do urls+=("https://localhost:$PORT/validate"); done
lib=$("$KADMIT" version | sed -n 's/.*(Mbed TLS \(.*\))/\1/p')
versions=(1.2)
[[ $lib == 3.* ]] && versions+=(1.3)
echo "| Mbed TLS | TLS | handshake: server CPU µs | handshakes/s (client-bound) | keep-alive: server CPU µs per request |"
echo "|---|---|---|---|---|"
for v in "${versions[@]}"; do
  c0=$(cpu_us)
  out=$(timeout 60 openssl s_time -connect "127.0.0.1:$PORT" -CAfile "$T/certs/ca.crt" -new \
    "-tls${v/./_}" -time "${HANDSHAKE_SECONDS:-5}" 2>&1 || true)
  c1=$(cpu_us)
  n=$(sed -n 's/^\([0-9]*\) connections in \([0-9.]*\)s.*/\1/p' <<<"$out" | head -1)
  rate=$(sed -n 's/.*; \([0-9.]*\) connections\/user sec.*/\1/p' <<<"$out" | head -1)
  c2=$(cpu_us)
  curl -sS --cacert "$T/certs/ca.crt" "--tlsv$v" --tls-max "$v" -H 'Content-Type: application/json' \
    --data-binary @"$body" "${urls[@]}" >/dev/null
  c3=$(cpu_us)
  awk -v lib="$lib" -v v="$v" -v hs="$((${c1%.*} - ${c0%.*}))" -v n="${n:-0}" -v rate="${rate:-?}" \
    -v ka="$((${c3%.*} - ${c2%.*}))" -v r="${REQUESTS:-2000}" \
    'BEGIN { printf "| %s | %s | %.0f | %s | %.1f |\n", lib, v, n ? hs / n : 0, rate, ka / r }'
done
