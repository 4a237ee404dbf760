# Helpers for tests/integration/test_serve.sh (sourced). Loopback only.

PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   - $1"; }
not_ok() { FAIL=$((FAIL + 1)); echo "FAIL - $1${2:+: $2}"; }
# check NAME EXPECTED ACTUAL
check() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "expected [$2], got [$3]"; fi; }
# check_contains NAME NEEDLE HAYSTACK
check_contains() {
  case "$3" in *"$2"*) ok "$1" ;; *) not_ok "$1" "[$2] not in [$(printf '%s' "$3" | head -c 400)]" ;; esac
}

. "$(dirname "${BASH_SOURCE[0]}")/../../lib/ports.sh"

# make_ca DIR NAME
make_ca() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$1/$2.key" 2>/dev/null
  # keyUsage: Python 3.13 (Debian 13) refuses a CA certificate without it.
  openssl req -x509 -new -key "$1/$2.key" -subj "/CN=$2" -days 2 -out "$1/$2.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
# make_cert DIR NAME CA [CLIENT]: EC P-256 leaf for localhost/127.0.0.1 signed by CA
make_cert() {
  openssl ecparam -name prime256v1 -genkey -noout -out "$1/$2.key" 2>/dev/null
  openssl req -new -key "$1/$2.key" -subj "/CN=$2" -out "$1/$2.csr" 2>/dev/null
  if [ -n "${4:-}" ]; then
    printf 'extendedKeyUsage=clientAuth\n' >"$1/$2.ext"
  else
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n' >"$1/$2.ext"
  fi
  openssl x509 -req -in "$1/$2.csr" -CA "$1/$3.crt" -CAkey "$1/$3.key" -CAcreateserial \
    -days 2 -extfile "$1/$2.ext" -out "$1/$2.crt" 2>/dev/null
}

SERVER_PID=""
# start_server LOGFILE ARGS... : starts "$KADMIT serve ARGS", waits for /healthz on METRICS_PORT
start_server() {
  local log=$1
  shift
  "$KADMIT" serve "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$METRICS_PORT/healthz"; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "server did not start; log:" >&2
  cat "$log" >&2
  return 1
}

# stop_server [LOGFILE]: SIGTERM, wait, and check the exit status (0: also no sanitizer report)
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null
    local rc=$?
    if [ -n "${1:-}" ]; then
      check "server exits 0 after SIGTERM ($(basename "$1"))" 0 "$rc"
      [ "$rc" -eq 0 ] || tail -40 "$1"
    fi
  fi
  SERVER_PID=""
}

# wait_for SECONDS COMMAND...: retry until the command succeeds (bounded)
wait_for() {
  local n=$(($1 * 10))
  shift
  for _ in $(seq 1 "$n"); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# serial of the certificate a fresh TLS connection gets
served_serial() {
  echo | openssl s_client -connect "127.0.0.1:$1" -servername localhost 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null
}
