#!/usr/bin/env bash
# image-scan-attestation inside the admission core: keys and signatures made now with openssl,
# the shipped checklist trusting the key, and `kadmit review` / `kadmit audit` answering.
set -u
. "$(dirname "$0")/lib/harness.sh"
. "$(dirname "$0")/lib/attest.sh"
use_tmp
attest_setup "$tmp/a"
A=(--policies "$tmp/a/checklist.yaml" --attestations "$tmp/a/attestations")

hex() { printf '%s' "$1" | sha256sum | cut -c1-64; }
AGENT="registry.chaozcode.com/agent@sha256:$(hex agent)"
SIDECAR="registry.chaozcode.com/agent-metrics@sha256:$(hex sidecar)"
INIT="registry.chaozcode.com/init@sha256:$(hex init)"
DEBUG="registry.chaozcode.com/debug@sha256:$(hex debug)"
UNSIGNED="registry.chaozcode.com/unsigned@sha256:$(hex unsigned)"
for i in "$AGENT" "$SIDECAR" "$INIT" "$DEBUG"; do attest_image "$tmp/a" "$i"; done

# A pod request: IMAGE for the app container, optional init/ephemeral images.
pod() { # name image [init] [ephemeral]
  python3 - "$@" <<'PY'
import json, sys
name, image = sys.argv[1], sys.argv[2]
res = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}}
probe = {"httpGet": {"path": "/h", "port": 8080}}
c = {"name": "app", "image": image, "resources": res, "readinessProbe": probe, "livenessProbe": probe}
spec = {"containers": [c]}
if len(sys.argv) > 3 and sys.argv[3]:
    spec["initContainers"] = [{"name": "init", "image": sys.argv[3], "resources": res}]
if len(sys.argv) > 4 and sys.argv[4]:
    spec["ephemeralContainers"] = [{"name": "debugger", "image": sys.argv[4]}]
obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "shop"}, "spec": spec}
print(json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
    "uid": "u-" + name, "kind": {"group": "", "version": "v1", "kind": "Pod"}, "namespace": "shop",
    "operation": "CREATE", "object": obj}}))
PY
}
answer() { "$KADMIT" review "${A[@]}" --endpoint validate - 2>/dev/null; }

pod good "$AGENT" "$INIT" "$DEBUG" >"$tmp/good.json"
check "a pod whose every image has a clean signed scan is admitted" bash -c "answer() { \"$KADMIT\" review ${A[*]} --endpoint validate - 2>/dev/null; }; answer < $tmp/good.json | grep -q '\"allowed\":true'"
pod tag "registry.chaozcode.com/agent:2.4.0" >"$tmp/tag.json"
answer <"$tmp/tag.json" >"$tmp/tag.out"
check "a tag-only image is denied and told to pin the digest" grep -q 'image-scan-attestation: Pod shop/tag container \\"app\\": image registry.chaozcode.com/agent:2.4.0 is referenced by tag; pin the digest' "$tmp/tag.out"
pod unsigned "$UNSIGNED" >"$tmp/unsigned.json"
answer <"$tmp/unsigned.json" >"$tmp/unsigned.out"
check "an image with no attestation is denied naming its digest" grep -q "no attestation for sha256:$(hex unsigned)" "$tmp/unsigned.out"
pod init "$AGENT" "$UNSIGNED" >"$tmp/init.json"
answer <"$tmp/init.json" >"$tmp/init.out"
check "init container images are checked" grep -q 'container \\"init\\": no attestation for' "$tmp/init.out"
pod eph "$AGENT" "" "$UNSIGNED" >"$tmp/eph.json"
answer <"$tmp/eph.json" >"$tmp/eph.out"
check "ephemeral container images are checked" grep -q 'container \\"debugger\\": no attestation for' "$tmp/eph.out"

# The sidecar kadmit injects is checked too: an agent StatefulSet is judged with it.
python3 - "$tmp/a/checklist.yaml" "$SIDECAR" "$tmp/pinned.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
# the sidecar's image, and the probes exception that names the sidecar by name and image
old = "registry.chaozcode.com/agent-metrics:1.2.0"
assert text.count(old) == 2
open(sys.argv[3], "w").write(text.replace(old, sys.argv[2]))
PY
sts() { # image-of-agent
  python3 - "$1" <<'PY'
import json, sys, yaml
d = next(yaml.safe_load_all(open("tests/fixtures/manifests/agent-statefulset.yaml")))
spec = d["spec"]["template"]["spec"]
spec["containers"] = [c for c in spec["containers"] if c["name"] != "metrics-sidecar"]
spec["containers"][0]["image"] = sys.argv[1]
print(json.dumps(d))
PY
}
sts "$AGENT" >"$tmp/sts.json"
"$KADMIT" audit "${A[@]}" -o json "$tmp/sts.json" >"$tmp/sts-tag.out" 2>/dev/null
check "the injected sidecar's image is checked (tag in the shipped policy: denied)" grep -q 'container \\"metrics-sidecar\\": image registry.chaozcode.com/agent-metrics:1.2.0 is referenced by tag' "$tmp/sts-tag.out"
check "with the sidecar image pinned and attested, the agent StatefulSet is admitted" bash -c \
  "\"$KADMIT\" audit --policies $tmp/pinned.yaml --attestations $tmp/a/attestations $tmp/sts.json 2>/dev/null | grep -q '^1 object: 0 denied'"

# Findings over the limit, and a scan too old, are denied with the reason.
CRIT="registry.chaozcode.com/crit@sha256:$(hex crit)"
tests/attest/statement.sh --digest "$(hex crit)" tests/attest/trivy-findings.json >"$tmp/crit.stmt"
tests/attest/sign.sh "$tmp/a/keys/scanner.key" "$tmp/crit.stmt" >"$tmp/a/attestations/crit.json"
OLD="registry.chaozcode.com/old@sha256:$(hex old)"
tests/attest/statement.sh --digest "$(hex old)" --finished 2020-01-01T00:00:00Z tests/attest/trivy-clean.json >"$tmp/old.stmt"
tests/attest/sign.sh "$tmp/a/keys/scanner.key" "$tmp/old.stmt" >"$tmp/a/attestations/old.json"
pod crit "$CRIT" >"$tmp/crit.json"
answer <"$tmp/crit.json" >"$tmp/crit.out"
check "critical findings over maxSeverity are denied" grep -qE '[0-9]+ CRITICAL findings? \(max 0\)' "$tmp/crit.out"
pod old "$OLD" >"$tmp/old.json"
answer <"$tmp/old.json" >"$tmp/old.out"
check "a stale scan is denied with its age" grep -qE 'scan is [0-9dhm]+ old \(max 7d\)' "$tmp/old.out"

# A key the policy does not trust: the signature does not count.
tests/attest/keygen.sh p256 "$tmp/other" >/dev/null
OTHER="registry.chaozcode.com/other@sha256:$(hex other)"
tests/attest/statement.sh --digest "$(hex other)" tests/attest/trivy-clean.json >"$tmp/other.stmt"
tests/attest/sign.sh "$tmp/other.key" "$tmp/other.stmt" >"$tmp/a/attestations/other.json"
pod other "$OTHER" >"$tmp/other.json"
answer <"$tmp/other.json" >"$tmp/other.out"
check "a scan signed by an untrusted key is denied" grep -q 'signature does not verify with any trusted key' "$tmp/other.out"

# No keys configured at all: the policy still loads, and says why every image is denied.

"$KADMIT" review --attestations "$tmp/a/attestations" --endpoint validate - <"$tmp/good.json" >"$tmp/nokeys.out" 2>"$tmp/nokeys.err"
check "without trusted keys every image is denied, and the reason is given" bash -c "grep -q '\"allowed\":false' $tmp/nokeys.out && grep -q 'no trusted scanner keys are configured' $tmp/nokeys.out && grep -q 'every image will be denied' $tmp/nokeys.err"
# Serving: the rule's own attestation and key directories are watched; new files apply without
# a restart (no --attestations flag here: the policy's attestationsDir is used).
port=$(free_port)
mport=$(free_port)
"$KADMIT" certs --out-dir "$tmp/tls" --ip 127.0.0.1 >/dev/null 2>&1
mkdir -p "$tmp/live"
sed "s#attestationsDir: /etc/kadmit/attestations#attestationsDir: $tmp/live#" "$tmp/a/checklist.yaml" >"$tmp/live.yaml"
"$KADMIT" serve --listen 127.0.0.1:$port --metrics-listen 127.0.0.1:$mport --tls-cert "$tmp/tls/tls.crt" \
  --tls-key "$tmp/tls/tls.key" --policies "$tmp/live.yaml" 2>"$tmp/serve.log" &
spid=$!
trap 'kill $spid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$mport/readyz" >/dev/null && break; sleep 0.1; done
post() { curl -s --cacert "$tmp/tls/ca.crt" -H 'Content-Type: application/json' --data-binary @"$1" "https://127.0.0.1:$port/validate"; }
# poll until the answer for $1 contains $2 (the policy reload happens within ~1 s)
until_answer() { for _ in $(seq 60); do post "$1" | grep -q "$2" && return 0; sleep 0.1; done; return 1; }
check "served: no attestations yet, the pod is denied" holds "post $tmp/good.json | grep -q '\"allowed\":false'"
cp "$tmp/a/attestations/"*.json "$tmp/live/"
check "served: attestations added to the rule's directory admit it without a restart" until_answer "$tmp/good.json" '"allowed":true'
tests/attest/keygen.sh p256 "$tmp/new" >/dev/null
NEW="registry.chaozcode.com/new@sha256:$(hex new)"
tests/attest/statement.sh --digest "$(hex new)" tests/attest/trivy-clean.json >"$tmp/new.stmt"
tests/attest/sign.sh "$tmp/new.key" "$tmp/new.stmt" >"$tmp/live/new.json"
pod newkey "$NEW" >"$tmp/newkey.json"
check "served: a scan signed by a key not yet trusted is denied" until_answer "$tmp/newkey.json" 'signature does not verify with any trusted key'
cp "$tmp/new.pub" "$tmp/a/keys/new.pem"
check "served: adding the key to the keyFiles directory admits it without a restart" until_answer "$tmp/newkey.json" '"allowed":true'
check "served: the reloads were logged" grep -q 'attestations loaded from' "$tmp/serve.log"
check "served: with keys, kadmit_rule_misconfigured{rule=\"image-scan-attestation\"} is 0" \
  bash -c "curl -s http://127.0.0.1:$mport/metrics | grep -qx 'kadmit_rule_misconfigured{rule=\"image-scan-attestation\"} 0'"
kill $spid
wait $spid
check "served: kadmit exits 0 after SIGTERM" test $? -eq 0

# An install without trusted keys is never a silent deny-all: error log and gauge.
"$KADMIT" serve --listen 127.0.0.1:$port --metrics-listen 127.0.0.1:$mport --tls-cert "$tmp/tls/tls.crt" \
  --tls-key "$tmp/tls/tls.key" --attestations "$tmp/live" 2>"$tmp/nokeys-serve.log" &
spid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$mport/readyz" >/dev/null && break; sleep 0.1; done
check "served without keys: kadmit_rule_misconfigured{rule=\"image-scan-attestation\"} 1" \
  bash -c "curl -s http://127.0.0.1:$mport/metrics | grep -qx 'kadmit_rule_misconfigured{rule=\"image-scan-attestation\"} 1'"
check "served without keys: an error-level log line says every image is denied" \
  grep -q '"level":"error","msg":"rule image-scan-attestation is enforced but denies every object: no trusted scanner keys' "$tmp/nokeys-serve.log"
kill $spid
wait $spid

# The README's example denials are what kadmit prints: a 9-day-old scan, then a newer one (line 2
# of a JSON Lines file) with 3 CRITICAL findings.
API="registry.example/api@sha256:$(hex api)"
R=(--policies "$tmp/a/checklist.yaml" --attestations "$tmp/readme")
mkdir -p "$tmp/readme"
scan() { # FINISHED REPORT: a signed statement of API's digest, one line
  tests/attest/statement.sh --digest "$(hex api)" --name registry.example/api --finished "$1" \
    "tests/attest/$2" >"$tmp/readme.stmt" && tests/attest/sign.sh "$tmp/a/keys/scanner.key" "$tmp/readme.stmt"
}
denial() { pod api "$API" | "$KADMIT" review "${R[@]}" --endpoint validate - 2>/dev/null | jq -r .response.status.message; }
scan "$(date -u -d '9 days ago' +%FT%TZ)" trivy-clean.json >"$tmp/readme/scan-2024.json"
got=$(denial)
{ scan "$(date -u -d '9 days ago' +%FT%TZ)" trivy-clean.json; scan "$(date -u -d '1 day ago' +%FT%TZ)" trivy-findings.json; } >"$tmp/readme/scan-2025.jsonl"
got="$got
$(denial)"
want=$(sed -n '/<!-- denials: /,/^```$/p' README.md | sed '1,2d;$d')
check_eq "README's example denials are kadmit's output" "$want" "$got"
finish
