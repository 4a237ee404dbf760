# The shell harness of the integration tests (source it; loopback only).
#   ok NAME / bad NAME [WHY]       count one check passed / failed
#   check NAME CMD...              CMD must succeed
#   check_eq NAME EXPECTED ACTUAL  the two strings are equal
#   check_contains NAME NEEDLE HAYSTACK
#   holds CODE                     shell code over the script's functions and variables succeeds
#                                  (check NAME holds "a && b"; in a subshell, without pipefail)
#   finish                         prints "N passed, M failed"; the exit code of the script
#   free_port                      a loopback TCP port nobody uses now (tests/lib/ports.sh)
#   make_certs DIR                 CA + serving certificate for 127.0.0.1 (kadmit certs)
#   make_ca DIR NAME               an EC P-256 CA made by openssl: DIR/NAME.crt, DIR/NAME.key
#   make_cert DIR NAME CA [CLIENT] a leaf for localhost/127.0.0.1/::1 signed by CA (a client
#                                  certificate with CLIENT)
#   wait_for SECONDS CMD...        retry CMD until it succeeds (bounded)
#   start_server LOG ARGS...       `kadmit serve` on 127.0.0.1:0; sets $srv_pid, $srv_port,
#                                  $srv_mport (read from its "serving" log line)
#   stop_server [SIGNAL]           SIGTERM by default; sets $srv_rc
#   stop_server_ok LOG             SIGTERM; checks the exit status is 0 (else shows LOG's tail)
#   metric NAME_WITH_LABELS        value of one line of /metrics
#   clean_log LOG                  no sanitizer report and no crash in LOG
#   test_policy FILE               the shipped checklist with image-scan-attestation off
#   use_tmp [CLEANUP]              $tmp: a fresh directory, removed at exit after CLEANUP runs
# Needs $KADMIT (default build/kadmit, made absolute here so scripts may cd); start_server's
# callers keep logs in their own $tmp.
KADMIT=$(realpath -m "${KADMIT:-build/kadmit}")
passed=0
failed=0
ok() {
  passed=$((passed + 1))
  echo "ok   $1"
}
bad() {
  failed=$((failed + 1))
  echo "FAIL $1${2:+: $2}"
}
check() {
  local name=$1
  shift
  if "$@"; then ok "$name"; else bad "$name"; fi
}
holds() {
  (set +o pipefail; eval "$1")
}
use_tmp() {
  tmp=$(mktemp -d)
  trap "${1:+$1; }rm -rf \"\$tmp\"" EXIT
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}
check_eq() {
  local name=$1
  check "$name" test "$2" = "$3" || echo "     expected [$2], got [$3]"
}
check_contains() {
  local name=$1
  case "$3" in
    *"$2"*) check "$name" true ;;
    *) check "$name" false; echo "     [$2] not in [$(printf '%s' "$3" | head -c 400)]" ;;
  esac
}
. "$(dirname "${BASH_SOURCE[0]}")/../../lib/ports.sh"

make_certs() {
    "$KADMIT" certs --out-dir "$1" --ip 127.0.0.1 --dns localhost >/dev/null 2>&1
}

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

start_server() {
    local log=$1
    shift
    "$KADMIT" serve --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
    srv_pid=$!
    srv_port= srv_mport=
    for _ in $(seq 1 300); do
        if grep -q '"port":[1-9]' "$log" 2>/dev/null; then
            srv_port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$log" | head -1)
            srv_mport=$(sed -n 's/.*"metricsPort":\([0-9]*\).*/\1/p' "$log" | head -1)
            return 0
        fi
        kill -0 "$srv_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "kadmit serve did not start:" >&2
    tail -5 "$log" >&2
    return 1
}

stop_server() {
    local sig=${1:-TERM}
    [ -n "${srv_pid:-}" ] || return 0
    kill -"$sig" "$srv_pid" 2>/dev/null
    srv_rc=0
    wait "$srv_pid" || srv_rc=$?
    srv_pid=
}

stop_server_ok() {
    [ -n "${srv_pid:-}" ] || return 0
    stop_server
    check_eq "server exits 0 after SIGTERM ($(basename "$1"))" 0 "$srv_rc"
    [ "$srv_rc" -eq 0 ] || tail -40 "$1"
}

metric() {
    curl -s --max-time 10 "http://127.0.0.1:$srv_mport/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}

# True when the log shows no sanitizer report and no crash.
clean_log() {
    ! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:|Segmentation|Aborted' "$1"
}

# test_policy FILE: the shipped checklist with the image-scan-attestation rule off (these tests
# have no attestations; with it on, every image is denied).
test_policy() {
    awk '{ if (f && /action: enforce/) { sub(/enforce/, "off"); f = 0 }
           if (/- id: image-scan-attestation/) f = 1; print }' policies/checklist.yaml >"$1"
    grep -q 'image-scan-attestation' "$1"
}
