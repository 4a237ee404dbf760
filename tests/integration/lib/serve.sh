# Start and stop a real `kadmit serve` on loopback for integration tests (hostile clients,
# faults). Source after lib/check.sh. Needs: $KADMIT, $tmp (a scratch directory).
#   make_certs DIR                      CA + serving certificate for 127.0.0.1 (kadmit certs)
#   start_server LOG ARGS...            starts it on 127.0.0.1:0; sets $srv_pid, $srv_port,
#                                       $srv_mport (read from its "serving" log line)
#   stop_server [SIGNAL]                SIGTERM by default; sets $srv_rc
#   metric NAME_WITH_LABELS             value of one line of /metrics
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
