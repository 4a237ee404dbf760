#!/usr/bin/env bash
# Integration test of `kadmit serve`: the real binary on loopback ports with certificates made
# by openssl here, driven by curl, openssl s_client and tests/integration/lib/kaclient.py.
# Env: KADMIT = path of the kadmit binary (default build/kadmit). Prints "N passed, M failed".
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
KADMIT=${KADMIT:-$ROOT/build/kadmit}
KC="python3 $ROOT/tests/integration/lib/kaclient.py"
. "$ROOT/tests/integration/lib/harness.sh"
# serial of the certificate a fresh TLS connection to port $1 gets
served_serial() {
  echo | openssl s_client -connect "127.0.0.1:$1" -servername localhost 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null
}

T=$(mktemp -d)
cleanup() {
  stop_server
  for p in $(jobs -p); do kill "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------- fixtures
make_ca "$T" ca
make_cert "$T" server ca
make_cert "$T" server2 ca
make_ca "$T" clientca
make_cert "$T" client clientca client
make_ca "$T" otherca
make_cert "$T" stranger otherca client
openssl ecparam -name prime256v1 -genkey -noout -out "$T/wrong.key" 2>/dev/null

# kubelet-style Secret mount: tls.crt -> ..data/tls.crt, ..data -> ..v1
mkdir -p "$T/secret/..v1"
cp "$T/server.crt" "$T/secret/..v1/tls.crt"
cp "$T/server.key" "$T/secret/..v1/tls.key"
ln -s ..v1 "$T/secret/..data"
ln -s ..data/tls.crt "$T/secret/tls.crt"
ln -s ..data/tls.key "$T/secret/tls.key"

mkdir -p "$T/policies"
# The shipped checklist, with the image-scan-attestation rule off (no attestations here; that
# rule has its own tests): pod2 below is then denied by resources-required alone.
python3 - policies/checklist.yaml "$T/policies/checklist.yaml" <<'PY'
import sys
s = open(sys.argv[1]).read()
old = "- id: image-scan-attestation\n      action: enforce"
assert old in s, "checklist changed: update test_serve.sh"
open(sys.argv[2], "w").write(s.replace(old, "- id: image-scan-attestation\n      action: off"))
PY

# A Pod with no resources, no probes (denied); one with probes but no resources (denied only by
# resources-required, allowed once that rule is switched to warn).
cat >"$T/pod.json" <<'JSON'
{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"default","name":"web","operation":"CREATE","userInfo":{"username":"admin"},"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"default"},"spec":{"containers":[{"name":"web","image":"nginx:1.25"}]}},"dryRun":false}}
JSON
python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
r = json.load(open(t + "/pod.json"))
c = r["request"]["object"]["spec"]["containers"][0]
c["readinessProbe"] = {"httpGet": {"path": "/", "port": 80}}
c["livenessProbe"] = {"httpGet": {"path": "/", "port": 80}}
r["request"]["uid"] = "b0b0b0b0-0000-4000-8000-000000000002"
json.dump(r, open(t + "/pod2.json", "w"))
# 8 KB body for load
r["request"]["object"]["metadata"]["annotations"] = {"pad": "x" * 7000}
json.dump(r, open(t + "/pod8k.json", "w"))
PY

PORT=$(free_port)
METRICS_PORT=$(free_port)
U="https://127.0.0.1:$PORT"
M="http://127.0.0.1:$METRICS_PORT"
C=(curl -sS --cacert "$T/ca.crt" --max-time 20)
JSON_CT=(-H 'Content-Type: application/json')
COMMON=(--listen "127.0.0.1:$PORT" --metrics-listen "127.0.0.1:$METRICS_PORT"
        --tls-cert "$T/secret/tls.crt" --tls-key "$T/secret/tls.key"
        --policies "$T/policies" --drain-timeout 20 --handshake-timeout 2)

echo "# flags and startup validation"
help=$("$KADMIT" serve --help)
check_eq "serve --help exits 0" 0 $?
for f in --listen --metrics-listen --tls-cert --tls-key --client-ca --policies --attestations \
         --log-level --max-body-bytes --max-json-depth --max-header-bytes --max-connections \
         --handshake-timeout --idle-timeout --request-deadline --drain-timeout; do
  check_contains "--help lists $f" "$f" "$help"
done
out=$("$KADMIT" serve "${COMMON[@]}" --max-body-bytes 1 2>&1); rc=$?
check_eq "bad --max-body-bytes exits 2" 2 $rc
check_contains "bad --max-body-bytes names the flag" "--max-body-bytes" "$out"
out=$("$KADMIT" serve "${COMMON[@]}" --listen nowhere 2>&1); rc=$?
check_eq "bad --listen exits 2" 2 $rc
out=$(KADMIT_IDLE_TIMEOUT=forever "$KADMIT" serve "${COMMON[@]}" 2>&1); rc=$?
check_eq "bad KADMIT_IDLE_TIMEOUT exits 2" 2 $rc
check_contains "bad env names the variable" "KADMIT_IDLE_TIMEOUT" "$out"
out=$("$KADMIT" serve "${COMMON[@]}" --tls-key "$T/wrong.key" 2>&1); rc=$?
check_eq "mismatched key exits 2" 2 $rc
check_contains "mismatched key is explained" "does not match" "$out"
out=$("$KADMIT" serve --listen "127.0.0.1:$PORT" 2>&1); rc=$?
check_eq "missing --tls-cert exits 2" 2 $rc
echo "garbage: [" >"$T/bad-policy.yaml"
out=$("$KADMIT" serve "${COMMON[@]}" --policies "$T/bad-policy.yaml" 2>&1); rc=$?
check_eq "bad policy file at startup exits 2" 2 $rc

echo "# happy paths"
start_server "$T/log1" "${COMMON[@]}" --log-level info || exit 1
resp=$("${C[@]}" "${JSON_CT[@]}" --data-binary @"$T/pod.json" -D "$T/h" "$U/validate")
check_contains "validate: answer echoes uid" '"uid":"705ab4f5-6393-11e8-b7cc-42010a800002"' "$resp"
check_contains "validate: Pod without resources is denied" '"allowed":false' "$resp"
check_contains "validate: response is application/json" "Content-Type: application/json" "$(cat "$T/h")"
check_contains "validate: status 200" "HTTP/1.1 200" "$(head -1 "$T/h")"
resp=$("${C[@]}" "${JSON_CT[@]}" --data-binary @"$T/pod.json" "$U/mutate?timeout=10s")
check_contains "mutate with ?timeout= query: AdmissionReview answer" '"kind":"AdmissionReview"' "$resp"
resp=$("${C[@]}" -H 'Content-Type: application/json; charset=utf-8' --data-binary @"$T/pod2.json" "$U/validate")
check_contains "charset parameter accepted" '"uid":"b0b0b0b0-0000-4000-8000-000000000002"' "$resp"
check_eq "GET /healthz on TLS port" 200 "$("${C[@]}" -o /dev/null -w '%{http_code}' "$U/healthz")"
check_eq "GET /readyz on TLS port" 200 "$("${C[@]}" -o /dev/null -w '%{http_code}' "$U/readyz")"
check_eq "GET /healthz on metrics port" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$M/healthz")"
check_eq "GET /readyz on metrics port" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$M/readyz")"
check_eq "/metrics is not on the TLS port" 404 "$("${C[@]}" -o /dev/null -w '%{http_code}' "$U/metrics")"

echo "# keep-alive"
urls=()
outs=()
for i in $(seq 1 25); do urls+=("$U/validate"); outs+=(-o /dev/null); done
res=$("${C[@]}" "${JSON_CT[@]}" --data-binary @"$T/pod2.json" "${outs[@]}" -w '%{http_code} %{num_connects}\n' "${urls[@]}")
check_eq "25 requests on one connection all 200" 25 "$(grep -c '^200 ' <<<"$res")"
check_eq "25 requests used 1 connection" 1 "$(awk '{s+=$2} END {print s}' <<<"$res")"

echo "# errors"
check_eq "unknown path 404" 404 "$("${C[@]}" -o /dev/null -w '%{http_code}' "$U/nope")"
check_eq "GET /validate 405" 405 "$("${C[@]}" -o /dev/null -w '%{http_code}' "$U/validate")"
check_contains "405 carries Allow: POST" "Allow: POST" "$("${C[@]}" -o /dev/null -D - "$U/mutate")"
check_eq "POST /healthz 405" 405 "$("${C[@]}" -o /dev/null -w '%{http_code}' -d x "$U/healthz")"
check_eq "text/plain body 415" 415 "$("${C[@]}" -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' -d '{}' "$U/validate")"
check_eq "no content type 415" 415 "$("${C[@]}" -o /dev/null -w '%{http_code}' -H 'Content-Type:' --data-binary @"$T/pod.json" "$U/validate")"
check_eq "application/jsonx 415" 415 "$("${C[@]}" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/jsonx' -d '{}' "$U/validate")"
head -c $((3 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$T/big"
check_eq "body over 3 MiB (Content-Length) 413" 413 "$("${C[@]}" -o /dev/null -w '%{http_code}' "${JSON_CT[@]}" --data-binary @"$T/big" "$U/validate")"
check_eq "body over 3 MiB (chunked) 413" 413 "$("${C[@]}" -o /dev/null -w '%{http_code}' "${JSON_CT[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$T/big" "$U/validate")"
check_eq "headers over 16 KiB 431" 431 "$("${C[@]}" -o /dev/null -w '%{http_code}' "${JSON_CT[@]}" -H "X-Pad: $(head -c 17000 /dev/zero | tr '\0' a)" -d '{}' "$U/validate")"
check_eq "malformed JSON 400" 400 "$("${C[@]}" -o "$T/o" -w '%{http_code}' "${JSON_CT[@]}" -d '{"kind":' "$U/validate")"
check_contains "400 has a short reason" "JSON" "$(cat "$T/o")"
check_eq "JSON that is not an AdmissionReview 400" 400 "$("${C[@]}" -o /dev/null -w '%{http_code}' "${JSON_CT[@]}" -d '[1,2,3]' "$U/validate")"
check_eq "empty body 400" 400 "$("${C[@]}" -o /dev/null -w '%{http_code}' "${JSON_CT[@]}" -d '' "$U/validate")"
python3 -c 'print("["*100000 + "]"*100000)' >"$T/deep.json"
check_eq "100000-deep JSON 400" 400 "$("${C[@]}" -o /dev/null -w '%{http_code}' "${JSON_CT[@]}" --data-binary @"$T/deep.json" "$U/validate")"
badreq='{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-bad","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","object":"not-an-object"}}'
resp=$("${C[@]}" -w '\n%{http_code}' "${JSON_CT[@]}" -d "$badreq" "$U/validate")
check_contains "bad request: well-formed deny" '"allowed":false' "$resp"
check_contains "bad request: 200" $'\n200' "$resp"
check_eq "server alive after bad input" 200 "$("${C[@]}" -o /dev/null -w '%{http_code}' "$U/healthz")"

echo "# TLS policy"
# SECLEVEL=0: OpenSSL 3.5 (Debian 13) does not even offer TLS 1.0/1.1 without it.
out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -tls1_1 -cipher DEFAULT@SECLEVEL=0 2>&1)
check_contains "TLS 1.1 refused" "alert protocol version" "$out"
out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -tls1 -cipher DEFAULT@SECLEVEL=0 2>&1)
check_contains "TLS 1.0 refused" "alert protocol version" "$out"
out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 -cipher AES128-SHA 2>&1)
check_contains "non-AEAD AES128-SHA refused" "handshake failure" "$out"
out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256 2>&1)
check_contains "non-AEAD ECDHE-ECDSA-AES128-SHA256 refused" "handshake failure" "$out"
out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 -alpn h2,http/1.1 2>&1)
check_contains "TLS 1.2 AEAD negotiated, ChaCha20-Poly1305 preferred" "Cipher is ECDHE-ECDSA-CHACHA20-POLY1305" "$out"
check_contains "ALPN http/1.1" "ALPN protocol: http/1.1" "$out"
check_contains "X25519 preferred" "Temp Key: X25519" "$out" # "Server" (3.0) or "Peer" (3.5)
out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 2>&1)
check_contains "AES-128-GCM for clients without ChaCha20" "Cipher is ECDHE-ECDSA-AES128-GCM-SHA256" "$out"
out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305 2>&1)
check_contains "CHACHA20-POLY1305 offered" "Cipher is ECDHE-ECDSA-CHACHA20-POLY1305" "$out"
out=$( (printf 'R\n'; sleep 1) | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 2>&1)
check_contains "renegotiation refused" "no renegotiation" "$out"
curl -s --max-time 5 "http://127.0.0.1:$PORT/healthz" >/dev/null; rc=$?
check_eq "plaintext HTTP on TLS port: connection closed, no answer" 1 $((rc != 0))
printf 'GET / HTTP/1.1\r\n\r\n' | timeout 5 python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",'"$PORT"')); s.sendall(sys.stdin.buffer.read()); s.settimeout(4); print(len(s.recv(100)))' >/dev/null 2>&1
check_eq "server alive after plaintext" 200 "$("${C[@]}" -o /dev/null -w '%{http_code}' "$U/healthz")"
check_eq "idle TCP without ClientHello closed after --handshake-timeout" closed "$($KC raw 127.0.0.1 "$PORT" 30)"

echo "# no descriptor leak across many short connections"
fds() { curl -s "$M/metrics" | awk '$1 == "process_open_fds" {print $2}'; }
base=$(fds)
CURLPIDS=()
for i in $(seq 1 40); do
  "${C[@]}" -o /dev/null "${JSON_CT[@]}" --data-binary @"$T/pod.json" "$U/validate" &
  CURLPIDS+=($!)
done
wait "${CURLPIDS[@]}"
wait_for 10 bash -c "[ \"\$(curl -s $M/metrics | awk '\$1 == \"process_open_fds\" {print \$2}')\" -le $((base + 1)) ]"
check_eq "descriptors back to baseline after 40 connections ($base -> $(fds))" 0 $?

echo "# metrics"
met=$(curl -s "$M/metrics")
check_contains "requests counted" 'kadmit_admission_requests_total{webhook="validate",kind="Pod",operation="CREATE",decision="denied"}' "$met"
check_contains "mutate counted" 'kadmit_admission_requests_total{webhook="mutate",kind="Pod",operation="CREATE"' "$met"
check_contains "rule results counted" 'kadmit_rule_results_total{rule="resources-required",action="enforce",result="violation"}' "$met"
check_contains "histogram" 'kadmit_admission_duration_seconds_bucket{le="+Inf"}' "$met"
check_contains "policy loads" 'kadmit_policy_reloads_total{result="success"} 1' "$met"
check_contains "cert expiry" 'kadmit_tls_certificate_expiry_timestamp_seconds 1' "$met"
check_contains "build info" 'kadmit_build_info{version=' "$met"
for m in process_resident_memory_bytes process_open_fds process_cpu_seconds_total process_start_time_seconds kadmit_policy_last_reload_success_timestamp_seconds; do
  check_contains "metric $m" "$m " "$met"
done
check_contains "admission log line" '"msg":"admission","webhook":"validate","uid":"705ab4f5-6393-11e8-b7cc-42010a800002","kind":"Pod","namespace":"default","name":"web","operation":"CREATE","dryRun":false,"decision":"denied","rules":["resources-required","probes-required"]' "$(cat "$T/log1")"
if grep -q '"pad"\|xxxxxxxx' "$T/log1"; then bad "logs carry no request bodies"; else ok "logs carry no request bodies"; fi

echo "# certificate reload under traffic"
old_serial=$(served_serial "$PORT")
rm -f "$T/stop"
$KC load 127.0.0.1 "$PORT" "$T/ca.crt" /validate "$T/pod8k.json" "$T/stop" >"$T/load1" 2>"$T/load1.err" &
LOADPID=$!
sleep 1
# a bad pair first: refused, old certificate kept
mkdir -p "$T/secret/..bad"
cp "$T/server2.crt" "$T/secret/..bad/tls.crt"
cp "$T/wrong.key" "$T/secret/..bad/tls.key"
ln -sfn ..bad "$T/secret/..data.tmp" && mv -T "$T/secret/..data.tmp" "$T/secret/..data"
wait_for 10 grep -q "TLS certificate after a file change refused" "$T/log1"
check_eq "mismatched new pair refused with a log line" 0 $?
check_eq "old certificate still served" "$old_serial" "$(served_serial "$PORT")"
# the good new pair, swapped like the kubelet does
mkdir -p "$T/secret/..v2"
cp "$T/server2.crt" "$T/secret/..v2/tls.crt"
cp "$T/server2.key" "$T/secret/..v2/tls.key"
ln -sfn ..v2 "$T/secret/..data.tmp" && mv -T "$T/secret/..data.tmp" "$T/secret/..data"
new_serial=$(openssl x509 -noout -serial -in "$T/server2.crt")
wait_for 10 bash -c "[ \"\$(echo | openssl s_client -connect 127.0.0.1:$PORT 2>/dev/null | openssl x509 -noout -serial 2>/dev/null)\" = '$new_serial' ]"
check_eq "new connections get the new certificate" 0 $?
sleep 1
kill -HUP "$srv_pid"
wait_for 10 grep -q "TLS certificate loaded (on SIGHUP)" "$T/log1"
check_eq "SIGHUP reloads the certificate" 0 $?
sleep 1
touch "$T/stop"
wait $LOADPID
res=$(cat "$T/load1")
check_contains "no failed request during certificate reloads" "fail=0" "$res"
check_contains "load kept its one keep-alive connection" "connects=1" "$res"

echo "# policy reload under traffic"
check_contains "before: pod2 denied" '"allowed":false' "$("${C[@]}" "${JSON_CT[@]}" --data-binary @"$T/pod2.json" "$U/validate")"
rm -f "$T/stop"
$KC load 127.0.0.1 "$PORT" "$T/ca.crt" /validate "$T/pod2.json" "$T/stop" >"$T/load2" 2>"$T/load2.err" &
LOADPID=$!
sleep 1
python3 - "$T/policies/checklist.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
old = "- id: resources-required\n      action: enforce"
assert old in s
open(p + ".tmp", "w").write(s.replace(old, "- id: resources-required\n      action: warn"))
PY
mv "$T/policies/checklist.yaml.tmp" "$T/policies/checklist.yaml"
wait_for 10 bash -c "${C[*]} -H 'Content-Type: application/json' --data-binary @$T/pod2.json $U/validate | grep -q '\"allowed\":true'"
check_eq "after reload: pod2 allowed (rule switched to warn)" 0 $?
cp "$T/policies/checklist.yaml" "$T/good-policy.yaml"
printf 'apiVersion: kadmit.dev/v1alpha1\nkind: Policy\nspec:\n  rules:\n    - id: no-such-rule\n' >"$T/policies/broken.yaml"
wait_for 10 grep -q "policy after a file change refused" "$T/log1"
check_eq "broken policy refused with a log line" 0 $?
check_contains "broken policy counted" 'kadmit_policy_reloads_total{result="error"} 1' "$(curl -s "$M/metrics")"
check_eq "readiness stays true after a refused policy" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$M/readyz")"
check_contains "previous policy keeps serving" '"allowed":true' "$("${C[@]}" "${JSON_CT[@]}" --data-binary @"$T/pod2.json" "$U/validate")"
rm -f "$T/policies/broken.yaml"
sleep 1.5
touch "$T/stop"
wait $LOADPID
check_contains "no failed request during policy reloads" "fail=0" "$(cat "$T/load2")"

echo "# SIGTERM drain under traffic"
SLOWPIDS=()
for i in 1 2 3; do
  rm -f "$T/slowready$i"
  $KC slow 127.0.0.1 "$PORT" "$T/ca.crt" /validate "$T/pod8k.json" 2 "$T/slowready$i" >"$T/slow$i" &
  SLOWPIDS+=($!)
done
rm -f "$T/go"
$KC idle 127.0.0.1 "$PORT" "$T/ca.crt" "$T/go" >"$T/idle" &
IDLEPID=$!
wait_for 20 test -e "$T/go"
for i in 1 2 3; do wait_for 20 test -e "$T/slowready$i"; done
kill -TERM "$srv_pid"
wait_for 5 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $M/readyz)\" = 503 ]"
check_eq "readyz turns 503 at once on SIGTERM" 0 $?
wait $IDLEPID
check_eq "idle keep-alive connection closed promptly" closed "$(cat "$T/idle")"
curl -s --cacert "$T/ca.crt" --max-time 3 -o /dev/null "$U/healthz"; rc=$?
check_eq "listener closed during drain" 1 $((rc != 0))
wait "${SLOWPIDS[@]}"
for i in 1 2 3; do check_eq "request in flight at SIGTERM completed ($i)" 200 "$(cat "$T/slow$i")"; done
wait "$srv_pid"; rc=$?
srv_pid=""
check_eq "exit status 0 after drain" 0 $rc
[ "$rc" -eq 0 ] || tail -40 "$T/log1"
check_contains "drain logged" '"msg":"drained"' "$(cat "$T/log1")"

echo "# client certificates (--client-ca)"
start_server "$T/log2" "${COMMON[@]}" --client-ca "$T/clientca.crt" || exit 1
check_eq "with a client certificate: 200" 200 "$("${C[@]}" --cert "$T/client.crt" --key "$T/client.key" -o /dev/null -w '%{http_code}' "${JSON_CT[@]}" --data-binary @"$T/pod.json" "$U/validate")"
"${C[@]}" -o /dev/null "$U/healthz" 2>/dev/null; rc=$?
check_eq "without a client certificate: refused" 1 $((rc != 0))
"${C[@]}" --cert "$T/stranger.crt" --key "$T/stranger.key" -o /dev/null "$U/healthz" 2>/dev/null; rc=$?
check_eq "with a certificate from another CA: refused" 1 $((rc != 0))
stop_server_ok "$T/log2"

echo "# caller authentication: allowed subjects, decision log, key mode"
start_server "$T/log2b" "${COMMON[@]}" --client-ca "$T/clientca.crt" \
  --client-allowed-subjects "kube-apiserver,client" --decision-log "$T/decisions.jsonl" \
  --decision-log-all 1 || exit 1
check_eq "client certificate with an allowed CN: 200" 200 "$("${C[@]}" --cert "$T/client.crt" --key "$T/client.key" -o /dev/null -w '%{http_code}' "${JSON_CT[@]}" --data-binary @"$T/pod.json" "$U/validate")"
check_contains "the decision log records the verified client certificate" '"clientCertVerified":true' "$(cat "$T/decisions.jsonl")"
stop_server_ok "$T/log2b"
start_server "$T/log2c" "${COMMON[@]}" --client-ca "$T/clientca.crt" \
  --client-allowed-subjects "kube-apiserver" || exit 1
"${C[@]}" --cert "$T/client.crt" --key "$T/client.key" -o /dev/null "$U/healthz" 2>/dev/null; rc=$?
check_eq "client certificate from the CA but a CN not in --client-allowed-subjects: refused" 1 $((rc != 0))
stop_server_ok "$T/log2c"
start_server "$T/log2d" "${COMMON[@]}" --decision-log "$T/decisions2.jsonl" --decision-log-all 1 || exit 1
"${C[@]}" -o /dev/null "${JSON_CT[@]}" --data-binary @"$T/pod.json" "$U/validate"
check_contains "without --client-ca the decision log says no verified certificate" '"clientCertVerified":false' "$(cat "$T/decisions2.jsonl")"
stop_server_ok "$T/log2d"
out=$("$KADMIT" serve "${COMMON[@]}" --client-allowed-subjects x 2>&1); rc=$?
check_contains "--client-allowed-subjects without --client-ca: refused" "needs --client-ca" "$out"
cp -L "$T/secret/tls.key" "$T/loose.key"; cp -L "$T/secret/tls.crt" "$T/loose.crt"; chmod 0644 "$T/loose.key"
out=$(timeout 20 "$KADMIT" serve "${COMMON[@]}" --tls-cert "$T/loose.crt" --tls-key "$T/loose.key" 2>&1); rc=$?
check_eq "a world-readable key: serve refuses to start" 1 $((rc != 0))
check_contains "the refusal says why" "readable by everyone" "$out"
start_server "$T/log2e" "${COMMON[@]}" --tls-cert "$T/loose.crt" --tls-key "$T/loose.key" --allow-insecure-key-mode 1 || exit 1
check_eq "--allow-insecure-key-mode 1 serves with it" 200 "$("${C[@]}" -o /dev/null -w '%{http_code}' "$U/healthz")"
stop_server_ok "$T/log2e"

echo "# connection limit, IPv6"
start_server "$T/log3" "${COMMON[@]}" --threads 1 --max-connections 3 --idle-timeout 2 --request-deadline 1 || exit 1
$KC hold 127.0.0.1 "$PORT" "$T/ca.crt" 3 4 >"$T/hold1" &
HOLDPID=$!
wait_for 10 test -s "$T/hold1"
check_eq "3 connections up to --max-connections 3" 3 "$(cat "$T/hold1")"
sleep 1.5 # the held connections are now idle for longer than KA_EVICT_IDLE_MS
check_eq "4th connection served at --max-connections: the oldest idle one is evicted" 200 \
  "$("${C[@]}" -o /dev/null -w '%{http_code}' "$U/healthz")"
wait $HOLDPID
wait_for 10 bash -c "[ \"\$(curl -s --cacert $T/ca.crt -o /dev/null -w '%{http_code}' $U/healthz)\" = 200 ]"
check_eq "accepts again once connections close" 0 $?
rm -f "$T/go"
check_eq "idle keep-alive connection closed after --idle-timeout" closed "$($KC idle 127.0.0.1 "$PORT" "$T/ca.crt" "$T/go")"
out=$($KC slow 127.0.0.1 "$PORT" "$T/ca.crt" /validate "$T/pod8k.json" 4)
check_contains "body slower than --request-deadline: connection closed" "error" "$out"
check_eq "server fine after slow clients" 200 "$("${C[@]}" -o /dev/null -w '%{http_code}' "$U/healthz")"
stop_server_ok "$T/log3"

echo "# saturation: nothing to evict; conflicting Content-Length"
start_server "$T/log6" "${COMMON[@]}" --threads 1 --max-connections 2 --request-deadline 10 || exit 1
out=$(python3 - "$PORT" "$T/ca.crt" <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15),
                    server_hostname="localhost")
s.sendall(b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
          b"Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}")
print(s.recv(200).split(b"\r\n")[0].decode())
PY
)
check_contains "conflicting duplicate Content-Length headers: 400" " 400 " "$out"
# two connections each in the middle of a request body: neither idle nor handshaking
python3 - "$PORT" "$T/ca.crt" "$T/sat" <<'PY' &
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
held = []
for _ in range(2):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))),
                        server_hostname="localhost")
    s.sendall(b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json"
              b"\r\nContent-Length: 1000\r\n\r\n{")
    held.append(s)
open(sys.argv[3], "w").write("held\n")
time.sleep(5)
PY
SATPID=$!
wait_for 10 test -s "$T/sat"
sleep 0.3
"${C[@]}" -o /dev/null "$U/healthz" 2>/dev/null; rc=$?
check_eq "3rd connection refused when both are mid-request (nothing to evict)" 1 $((rc != 0))
check_contains "/readyz reports the saturated webhook port" "saturated" \
  "$(curl -s --max-time 10 "http://127.0.0.1:$METRICS_PORT/readyz")"
check_eq "/readyz is 503 while saturated" 503 \
  "$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/readyz")"
wait $SATPID
stop_server_ok "$T/log6"
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
  start_server "$T/log4" "${COMMON[@]}" --listen "[::1]:$PORT" || exit 1
  check_eq "IPv6 [::1] listen" 200 "$("${C[@]}" -o /dev/null -w '%{http_code}' "https://[::1]:$PORT/healthz")"
  stop_server_ok "$T/log4"
fi

if "$KADMIT" certs --help >/dev/null 2>&1; then
  echo "# certificates made by kadmit certs"
  "$KADMIT" certs --out-dir "$T/kc" --dns localhost --ip 127.0.0.1 >/dev/null 2>&1
  check_eq "kadmit certs wrote a CA and a serving pair" 0 $?
  start_server "$T/log5" "${COMMON[@]}" --tls-cert "$T/kc/tls.crt" --tls-key "$T/kc/tls.key" || exit 1
  check_eq "serve with kadmit certs output" 200 "$(curl -sS --cacert "$T/kc/ca.crt" -o /dev/null -w '%{http_code}' "${JSON_CT[@]}" --data-binary @"$T/pod.json" "$U/validate")"
  stop_server_ok "$T/log5"
fi

finish
