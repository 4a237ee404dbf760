# The shell harness of the integration tests (source it; loopback only).
#   ok NAME / bad NAME             count one check passed / failed
#   check NAME CMD...              CMD must succeed
#   check_eq NAME EXPECTED ACTUAL  the two strings are equal
#   check_contains NAME NEEDLE HAYSTACK
#   finish                         prints "N passed, M failed"; the exit code of the script
#   free_port                      a loopback TCP port nobody listens on now
#   make_certs DIR                 CA + serving certificate for 127.0.0.1 (kadmit certs)
#   start_server LOG ARGS...       `kadmit serve` on 127.0.0.1:0; sets $srv_pid, $srv_port,
#                                  $srv_mport (read from its "serving" log line)
#   stop_server [SIGNAL]           SIGTERM by default; sets $srv_rc
#   metric NAME_WITH_LABELS        value of one line of /metrics
#   clean_log LOG                  no sanitizer report and no crash in LOG
#   test_policy FILE               the shipped checklist with image-scan-attestation off
# Needs $KADMIT (default build/kadmit); start_server's callers keep logs in their own $tmp.
KADMIT=${KADMIT:-build/kadmit}
passed=0
failed=0
ok() {
  passed=$((passed + 1))
  echo "ok   $1"
}
bad() {
  failed=$((failed + 1))
  echo "FAIL $1"
}
check() {
  local name=$1
  shift
  if "$@"; then ok "$name"; else bad "$name"; fi
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
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

make_certs() {
    "$KADMIT" certs --out-dir "$1" --ip 127.0.0.1 --dns localhost >/dev/null 2>&1
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
