#!/usr/bin/env bash
# TLS protocol versions of `kadmit serve`, checked with openssl s_client against the real binary:
# built on Mbed TLS 3.6 (Debian 13) it serves TLS 1.3 and 1.2, with --tls-min-version 1.3
# refusing 1.2; built on 2.28 (Debian 12) it serves 1.2 only and refuses --tls-min-version 1.3
# at start-up with a reason. Both refuse session resumption and any version below 1.2.
# Env: KADMIT = path of the kadmit binary (default build/kadmit). Prints "N passed, M failed".
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
KADMIT=${KADMIT:-$ROOT/build/kadmit}
. "$ROOT/tests/integration/lib/harness.sh"

T=$(mktemp -d)
cleanup() {
  stop_server
  rm -rf "$T"
}
trap cleanup EXIT

make_ca "$T" ca
make_cert "$T" server ca
PORT=$(free_port)
METRICS_PORT=$(free_port)
COMMON=(--listen "127.0.0.1:$PORT" --metrics-listen "127.0.0.1:$METRICS_PORT"
        --tls-cert "$T/server.crt" --tls-key "$T/server.key" --log-level debug)
# hello VERSION-FLAG: one handshake, the client's view of it
hello() { echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$T/ca.crt" "$@" 2>&1; }

version=$("$KADMIT" version)
echo "# $version"
check_contains "kadmit version names the Mbed TLS version" "(Mbed TLS " "$version"
check_contains "serve --help lists --tls-min-version" "--tls-min-version" "$("$KADMIT" serve --help)"
out=$("$KADMIT" serve "${COMMON[@]}" --tls-min-version 1.1 2>&1); rc=$?
check_eq "--tls-min-version 1.1 exits 2" 2 $rc
check_contains "--tls-min-version 1.1 is explained" "is not 1.2 or 1.3" "$out"
out=$(KADMIT_TLS_MIN_VERSION=tls13 "$KADMIT" serve "${COMMON[@]}" 2>&1); rc=$?
check_eq "KADMIT_TLS_MIN_VERSION=tls13 exits 2" 2 $rc
check_contains "bad KADMIT_TLS_MIN_VERSION names the variable" "KADMIT_TLS_MIN_VERSION" "$out"

start_server "$T/log1" "${COMMON[@]}" || exit 1
# SECLEVEL=0: OpenSSL 3.5 (Debian 13) does not even offer TLS 1.0/1.1 without it.
check_contains "TLS 1.1 refused" "alert protocol version" "$(hello -tls1_1 -cipher DEFAULT@SECLEVEL=0)"
out=$(hello -tls1_2)
check_contains "TLS 1.2 served" "New, TLSv1.2, Cipher is ECDHE-ECDSA-CHACHA20-POLY1305" "$out"
check_contains "TLS 1.2 certificate verified" "Verify return code: 0 (ok)" "$out"
if [[ $version == *"Mbed TLS 3."* ]]; then
  out=$(hello -tls1_3)
  check_contains "TLS 1.3 served" "New, TLSv1.3, Cipher is TLS_" "$out"
  check_contains "TLS 1.3 certificate verified" "Verify return code: 0 (ok)" "$out"
  check_contains "TLS 1.3 key exchange X25519" "X25519" "$out"
  check_contains "a client offering both gets TLS 1.3" "New, TLSv1.3" "$(hello)"
  check_eq "curl --tlsv1.3 /healthz" 200 "$(curl -sS --cacert "$T/ca.crt" --tlsv1.3 -o /dev/null \
    -w '%{http_code}' "https://127.0.0.1:$PORT/healthz")"
  # No PSK and no tickets: there is no session for a client to resume (s_client writes none).
  hello -tls1_3 -sess_out "$T/sess" >/dev/null
  check_eq "TLS 1.3: no session ticket issued" absent "$([ -s "$T/sess" ] && echo present || echo absent)"
  wait_for 5 grep -q '"TLS handshake done: TLSv1.3"' "$T/log1"
  check_eq "the debug log names the negotiated version" 0 $?
  stop_server_ok "$T/log1"

  start_server "$T/log2" "${COMMON[@]}" --tls-min-version 1.3 || exit 1
  check_contains "--tls-min-version 1.3: TLS 1.2 refused" "alert protocol version" "$(hello -tls1_2)"
  check_contains "--tls-min-version 1.3: TLS 1.3 served" "New, TLSv1.3" "$(hello -tls1_3)"
  stop_server_ok "$T/log2"
else
  check_contains "TLS 1.3 refused (Mbed TLS 2.28)" "New, (NONE), Cipher is (NONE)" "$(hello -tls1_3)"
  check_contains "a client offering both gets TLS 1.2" "New, TLSv1.2" "$(hello)"
  stop_server_ok "$T/log1"
  out=$("$KADMIT" serve "${COMMON[@]}" --tls-min-version 1.3 2>&1); rc=$?
  check_eq "--tls-min-version 1.3 on Mbed TLS 2.28 exits 2" 2 $rc
  check_contains "--tls-min-version 1.3 on 2.28 is explained" "needs kadmit built with Mbed TLS 3.6" "$out"
fi

finish
