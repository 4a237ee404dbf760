#!/usr/bin/env bash
# Faults under load against the real server on loopback (load from tests/integration/load.py,
# 8 keep-alive client threads):
#   1. SIGTERM under load: every request in flight completes; zero failed requests.
#   2. certificate rotated under load (kadmit certs --force): zero failed; new connections get
#      the new certificate.
#   3. a broken policy file written under load: the old policy keeps serving (zero failed, zero
#      wrong answers); the failure shows in the log, in kadmit_policy_reloads_total{result=
#      "error"} and in kadmit lint; fixing the file recovers.
#   4. out of file descriptors: new connections are refused at once (no hang, no busy loop, no
#      log flood), open connections keep being served, and new ones work once descriptors free.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib/harness.sh
use_tmp 'stop_server KILL; touch "$tmp/stop"; wait'
make_certs "$tmp/certs" || { echo "kadmit certs failed"; exit 1; }
test_policy "$tmp/policy.yaml"
cert=(--tls-cert "$tmp/certs/tls.crt" --tls-key "$tmp/certs/tls.key" --policies "$tmp/policy.yaml")

# load_result FILE KEY: a number from load.py's JSON line
load_result() {
    python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])[sys.argv[2]])' "$1" "$2" 2>/dev/null || echo -1
}
load_summary() {
    python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print("sent %(sent)d, ok %(ok)d, failed %(failed)d, wrong %(wrong)d, refused %(refused)d" % d); [print("   ", e) for e in d["errors"][:5]]' "$1" 2>/dev/null || cat "$1"
}
# wait_for FILE PATTERN: until the server log shows PATTERN (a hang guard, not a timing check)
wait_for() {
    for _ in $(seq 1 300); do
        grep -q "$2" "$1" && return 0
        sleep 0.1
    done
    return 1
}
# requests_total: admission requests answered so far
requests_total() {
    curl -s --max-time 10 "http://127.0.0.1:$srv_mport/metrics" |
        awk '/^kadmit_admission_requests_total/ { n += $2 } END { print n + 0 }'
}
# wait_requests N: until the server answered N more requests than now
wait_requests() {
    local start
    start=$(requests_total)
    for _ in $(seq 1 300); do
        [ "$(requests_total)" -ge $((start + $1)) ] && return 0
        sleep 0.1
    done
    return 1
}
fingerprint() {
    openssl s_client -connect "127.0.0.1:$srv_port" </dev/null 2>/dev/null |
        openssl x509 -noout -fingerprint -sha256 2>/dev/null
}

# ---- 1. SIGTERM under load --------------------------------------------------------------------
echo "== SIGTERM under load"
start_server "$tmp/term.log" "${cert[@]}" || exit 1
python3 tests/integration/load.py --port "$srv_port" --ca "$tmp/certs/ca.crt" --threads 8 \
    --until-refused --drain-file "$tmp/draining" --reconnect-every 25 >"$tmp/term.json" &
load_pid=$!
wait_requests 500
touch "$tmp/draining"
stop_server TERM
wait "$load_pid"
load_summary "$tmp/term.json"
check "load was running when SIGTERM came ($(load_result "$tmp/term.json" sent) requests)" \
    test "$(load_result "$tmp/term.json" sent)" -ge 500
check "SIGTERM under load: zero failed requests" test "$(load_result "$tmp/term.json" failed)" -eq 0
check "server exited 0 after draining (exit $srv_rc)" test "$srv_rc" -eq 0
check "server log says drained" grep -q '"msg":"drained"' "$tmp/term.log"
check "no sanitizer report or crash (SIGTERM)" clean_log "$tmp/term.log"

# ---- 2. certificate rotated under load --------------------------------------------------------
echo "== certificate rotation under load"
rm -f "$tmp/stop"
start_server "$tmp/rot.log" "${cert[@]}" || exit 1
before=$(fingerprint)
python3 tests/integration/load.py --port "$srv_port" --ca "$tmp/certs/ca.crt" --threads 8 \
    --stop-file "$tmp/stop" --reconnect-every 10 --serial-log "$tmp/serials" >"$tmp/rot.json" &
load_pid=$!
wait_requests 300
"$KADMIT" certs --out-dir "$tmp/certs" --ip 127.0.0.1 --dns localhost --force >/dev/null 2>&1
wait_for "$tmp/rot.log" 'TLS certificate loaded (after a file change)'
wait_requests 300
touch "$tmp/stop"
wait "$load_pid"
after=$(fingerprint)
load_summary "$tmp/rot.json"
check "certificate rotation under load: zero failed requests" \
    test "$(load_result "$tmp/rot.json" failed)" -eq 0
check "the new certificate is served after rotation" test -n "$after" -a "$before" != "$after"
check "load connections saw both certificates ($(sort -u "$tmp/serials" | wc -l) distinct)" \
    test "$(sort -u "$tmp/serials" | wc -l)" -ge 2
stop_server TERM
check "no sanitizer report or crash (rotation)" clean_log "$tmp/rot.log"

# ---- 3. broken policy written under load ------------------------------------------------------
echo "== broken policy under load"
rm -f "$tmp/stop"
mkdir -p "$tmp/pol"
cp "$tmp/policy.yaml" "$tmp/pol/checklist.yaml"
start_server "$tmp/pol.log" "${cert[@]:0:4}" --policies "$tmp/pol" || exit 1
python3 tests/integration/load.py --port "$srv_port" --ca "$tmp/certs/ca.crt" --threads 8 \
    --stop-file "$tmp/stop" --expect-deny >"$tmp/pol.json" &
load_pid=$!
wait_requests 300
errors_before=$(metric 'kadmit_policy_reloads_total{result="error"}')
# a syntax error, and (second write) a file that parses but names an unknown rule
printf 'apiVersion: kadmit.dev/v1alpha1\nkind: Policy\nmetadata: {name: broken\nspec: [\n' \
    >"$tmp/broken.tmp" && mv "$tmp/broken.tmp" "$tmp/pol/zz-broken.yaml"
wait_for "$tmp/pol.log" 'refused'
wait_requests 300
sed 's/id: no-literal-secrets/id: no-such-rule/' "$tmp/policy.yaml" \
    >"$tmp/broken.tmp" && mv "$tmp/broken.tmp" "$tmp/pol/checklist.yaml"
rm -f "$tmp/pol/zz-broken.yaml"
for _ in $(seq 1 300); do
    [ "$(grep -c 'refused' "$tmp/pol.log")" -ge 2 ] && break
    sleep 0.1
done
wait_requests 300
errors_after=$(metric 'kadmit_policy_reloads_total{result="error"}')
touch "$tmp/stop"
wait "$load_pid"
load_summary "$tmp/pol.json"
check "broken policy under load: zero failed requests" \
    test "$(load_result "$tmp/pol.json" failed)" -eq 0
check "broken policy under load: the old policy kept denying (zero wrong answers)" \
    test "$(load_result "$tmp/pol.json" wrong)" -eq 0
check "policy errors counted: kadmit_policy_reloads_total{result=\"error\"} $errors_before -> $errors_after" \
    test "${errors_after:-0}" -ge $((${errors_before:-0} + 2))
check "the log names the refused policy and keeps the old one" \
    grep -q 'the previous policy keeps serving' "$tmp/pol.log"
check "the log carries the diagnostics (unknown rule id)" grep -q 'no-such-rule' "$tmp/pol.log"
"$KADMIT" lint "$tmp/pol" >"$tmp/lint.out" 2>&1
lint_rc=$?
check "kadmit lint reports the broken policy (exit $lint_rc)" test "$lint_rc" -eq 2
check "kadmit lint names file and line" grep -q 'checklist.yaml:[0-9]*:[0-9]*: .*no-such-rule' "$tmp/lint.out"
cp "$tmp/policy.yaml" "$tmp/pol/checklist.yaml"
wait_for "$tmp/pol.log" 'policy loaded (after a file change)'
check "a fixed policy is loaded again" grep -q 'policy loaded (after a file change)' "$tmp/pol.log"
stop_server TERM
check "no sanitizer report or crash (policy)" clean_log "$tmp/pol.log"

# ---- 4. out of file descriptors ---------------------------------------------------------------
echo "== out of file descriptors"
limit=64
start_server "$tmp/fd.log" "${cert[@]}" || exit 1
prlimit --pid "$srv_pid" --nofile=$limit:$limit
python3 - "$srv_port" "$tmp/certs/ca.crt" "$srv_pid" $limit >"$tmp/fd.out" 2>&1 <<'PY'
import json, os, socket, ssl, sys, threading, time
sys.path.insert(0, "tests/integration/lib")
from kaclient import read_response, request_bytes
port, ca, pid, limit = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ctx = ssl.create_default_context(cafile=ca)
body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
    "uid": "fd", "kind": {"kind": "Pod"}, "operation": "DELETE", "namespace": "x"}}).encode()
def ask(s):
    s.sendall(request_bytes("/validate", body))
    return read_response(s)[0] == 200
def cpu():
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")
def in_thread(fn):
    # OpenSSL's error queue is per thread, and Python 3.13 with OpenSSL 3.5 (Debian 13) reads a
    # failed connection's leftover EPIPE as the error of the next SSL_read on that thread: each
    # attempt that may be refused runs on its own thread, so the served ones stay clean.
    out = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]
def attempt():
    try:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                            server_hostname="127.0.0.1")
        return ("served", s) if ask(s) else ("refused", None)
    except socket.timeout:
        return ("hung", None)
    except (OSError, ssl.SSLError) as e:  # ConnectionError: closed before the answer
        return ("refused", e)
served, refused, hung = [], 0, 0
for i in range(limit):
    what, s = in_thread(attempt)
    if what == "served":
        served.append(s)
    elif what == "hung":
        hung += 1
    else:
        refused += 1
print("served %d, refused %d, hung %d" % (len(served), refused, hung))
print("RESULT refused_cleanly %d" % (refused > 0 and hung == 0))
c0 = cpu()
time.sleep(2)  # the server is at its limit now: it must not spin
print("RESULT idle_cpu_seconds_over_2s %.2f" % (cpu() - c0))
ok = sum(1 for s in served if ask(s))
print("RESULT existing_served %d" % (ok == len(served) and ok > 0))
for s in served[: len(served) // 2]:
    s.close()
time.sleep(0.5)
what, s = in_thread(attempt)
print("RESULT recovered %d" % (what == "served"), "" if what == "served" else repr(s))
PY
cat "$tmp/fd.out"
result() { sed -n "s/^RESULT $1 //p" "$tmp/fd.out" | cut -d' ' -f1; }
check "out of fds: new connections refused at once, none left hanging" test "$(result refused_cleanly)" = 1
check "out of fds: the server does not spin at its limit ($(result idle_cpu_seconds_over_2s)s CPU in 2s)" \
    python3 -c "import sys; sys.exit(0 if float('$(result idle_cpu_seconds_over_2s)' or 9) < 0.5 else 1)"
check "out of fds: open connections keep being served" test "$(result existing_served)" = 1
check "out of fds: new connections work once descriptors are free" test "$(result recovered)" = 1
lines=$(grep -c 'out of file descriptors' "$tmp/fd.log")
check "out of fds: refusals logged at most once a second ($lines lines)" test "$lines" -le 10 -a "$lines" -ge 1
stop_server TERM
check "no sanitizer report or crash (fds)" clean_log "$tmp/fd.log"
finish
