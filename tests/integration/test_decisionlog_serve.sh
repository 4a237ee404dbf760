#!/usr/bin/env bash
# kadmit serve --decision-log: lines written for admissions with findings, rotation, SIGHUP
# reopen, metrics, and kill -9 in the middle of traffic leaves no torn line.
set -u
. "$(dirname "$0")/lib/harness.sh"
. "$(dirname "$0")/lib/attest.sh"
pid=""
use_tmp '[ -n "$pid" ] && kill -9 $pid 2>/dev/null'
"$KADMIT" certs --out-dir "$tmp/tls" --ip 127.0.0.1 >/dev/null 2>&1
checklist_without_attestations "$tmp/policy.yaml"
start() { # extra flags...
  port=$(free_port)
  mport=$(free_port)
  "$KADMIT" serve --listen 127.0.0.1:$port --metrics-listen 127.0.0.1:$mport \
    --tls-cert "$tmp/tls/tls.crt" --tls-key "$tmp/tls/tls.key" --policies "$tmp/policy.yaml" \
    "$@" 2>>"$tmp/serve.log" &
  pid=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$mport/readyz" >/dev/null && return 0; sleep 0.1; done
  return 1
}
post() { curl -s -o /dev/null -w '%{http_code}' --cacert "$tmp/tls/ca.crt" -H 'Content-Type: application/json' \
  --data-binary @"tests/fixtures/$1/request.json" "https://127.0.0.1:$port/${2:-validate}"; }

start --decision-log "$tmp/d.log" --decision-log-max-bytes 4Ki --decision-log-keep 2
post rules/resources-required/resources-missing-all >/dev/null
post checklist/agent-statefulset >/dev/null
post checklist/mutate-agent-pod mutate >/dev/null
check "a denied admission is logged with its findings" python3 - "$tmp/d.log" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
d = [l for l in lines if l["name"] == "plain"]
assert len(d) == 1 and d[0]["allowed"] is False and d[0]["endpoint"] == "validate", lines
assert d[0]["findings"][0]["rule"] == "resources-required" and d[0]["findings"][0]["container"] == "app"
assert not any(l["name"] == "agent" for l in lines), "a clean admission is not logged by default"
PY
check "no env values in the log" bash -c "! grep -q 'sk-live-123' $tmp/d.log"
for _ in $(seq 40); do post rules/no-literal-secrets/secret-literal >/dev/null; done
check "the log rotates by size and keeps 2" bash -c "[ -s $tmp/d.log.1 ] && [ -s $tmp/d.log.2 ] && [ ! -e $tmp/d.log.3 ]"
check "lines are counted in /metrics" bash -c "curl -s http://127.0.0.1:$mport/metrics | grep -qE '^kadmit_decision_log_lines_total [1-9]'"
mv "$tmp/d.log" "$tmp/moved.log"
kill -HUP $pid
sleep 0.3
post rules/resources-required/resources-missing-all >/dev/null
check "SIGHUP reopens the file" bash -c "[ -s $tmp/d.log ] && grep -q '\"name\":\"plain\"' $tmp/d.log"
kill $pid; wait $pid; pid=""

# A malformed request that is denied logs its reason (and audit shows it); an unknown operation
# is refused with HTTP 400 and its reason logged.
start --decision-log "$tmp/r.log" --decision-log-max-bytes 0
post checklist/malformed-template >/dev/null
code=$(post audit/input/unknown-operation)
check "an unknown operation (EXPLODE) gets HTTP 400" [ "$code" = 400 ]
kill $pid; wait $pid; pid=""
check "the denied malformed request's reason is in the decision log" \
  bash -c "grep '\"allowed\":false' $tmp/r.log | grep -q '\"reason\":\"kadmit: request.object: spec.template is not an object\"'"
check "the unknown operation's reason is logged" grep -q 'unknown request.operation \\"EXPLODE\\"' "$tmp/serve.log"
"$KADMIT" audit --decision-log "$tmp/r.log" >"$tmp/r.txt" 2>&1
check "audit --decision-log shows the reason of the denied malformed request" \
  grep -q 'request: kadmit: request.object: spec.template is not an object' "$tmp/r.txt"

# kill -9 under traffic: every line in the file is whole JSON.
start --decision-log "$tmp/k.log" --decision-log-max-bytes 0 --decision-log-all 1
( for _ in $(seq 400); do post rules/resources-required/resources-missing-all >/dev/null; done ) &
load=$!
sleep 1.5
kill -9 $pid; pid=""
wait $load 2>/dev/null
start --decision-log "$tmp/k.log" --decision-log-max-bytes 0 --decision-log-all 1
post rules/resources-required/resources-missing-all >/dev/null
post checklist/mutate-agent-pod mutate >/dev/null
check "with --decision-log-all a clean mutation is logged with its patch paths" bash -c "tail -n 1 $tmp/k.log | grep -q '\"mutations\":\[{\"rule\":\"inject-metrics-sidecar\"'"
check "after kill -9 and restart, no torn line" python3 - "$tmp/k.log" <<'PY'
import json, sys
raw = open(sys.argv[1]).read().split("\n")
assert raw[-1] == "", "file ends with a newline"
lines = [json.loads(l) for l in raw if l]  # raises on a torn line
assert len(lines) >= 2, len(lines)
print(f"  {len(lines)} whole lines")
PY
check "kadmit audit reads the decision log back" bash -c "\"$KADMIT\" audit --policies $tmp/policy.yaml -o json --decision-log $tmp/k.log --fail-on never | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"summary\"][\"admissions\"][\"denied\"] >= 2, d[\"summary\"]'"
kill $pid; wait $pid; pid=""
finish
