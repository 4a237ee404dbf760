#!/usr/bin/env bash
# The offline commands: review, lint, audit — exit codes, output shapes, error messages.
set -u
. "$(dirname "$0")/lib/harness.sh"
. "$(dirname "$0")/lib/attest.sh"
use_tmp
cases=tests/fixtures
# The fixtures' expected answers are the shipped checklist's with image-scan-attestation off
# (attestations are tested with real signatures in test_attest_rule.sh).
checklist_without_attestations "$tmp/checklist.yaml"
P=(--policies "$tmp/checklist.yaml")

# review: prints the exact response; exit 0 whether allowed or denied, 2 on bad input
review_matches() {
  "$KADMIT" review "${P[@]}" --endpoint "$(cat "$cases/$1/endpoint")" "$cases/$1/request.json" >"$tmp/out.json" &&
    python3 - "$tmp/out.json" "$cases/$1/expected.json" <<'PY'
import json, sys
got, want = (json.load(open(p)) for p in sys.argv[1:3])
sys.exit(0 if got == want else 1)
PY
}
check "review prints the expected denial" review_matches rules/resources-required/resources-missing-all
check "review prints the expected patch" review_matches checklist/mutate-agent-pod
check "review reads stdin" bash -c "\"$KADMIT\" review --endpoint validate - < $cases/rules/image-pinned/image-latest/request.json | grep -q '\"allowed\":false'"
echo '{"kind":"Pod"}' >"$tmp/notreview.json"
check "review exits 2 on a non-AdmissionReview" bash -c "\"$KADMIT\" review --endpoint validate $tmp/notreview.json 2>$tmp/err; [ \$? -eq 2 ] && grep -q 'not an AdmissionReview' $tmp/err"
help_same() { [ "$("$KADMIT" help "$1" 2>&1)" = "$("$KADMIT" "$1" --help 2>&1)" ] && [ -n "$("$KADMIT" help "$1")" ]; }
for c in serve review audit fix lint policy rules explain version certs attest; do
  check "kadmit help $c prints kadmit $c --help" help_same "$c"
  check "kadmit $c --foo is a usage error (exit 2, names the flag)" bash -c "\"$KADMIT\" $c --foo </dev/null >/dev/null 2>$tmp/flag.err; [ \$? -eq 2 ] && grep -q -- '--foo' $tmp/flag.err && ! grep -q 'No such file' $tmp/flag.err && ! grep -q 'every image will be denied' $tmp/flag.err"
done
for c in "lint --strict" explain "attest verify" "attest sync"; do
  check "kadmit $c: flags go anywhere; an unknown one is a usage error (exit 2) that names it" bash -c "\"$KADMIT\" $c --foo x >/dev/null 2>$tmp/flag.err; [ \$? -eq 2 ] && grep -q 'unknown flag --foo' $tmp/flag.err && \"$KADMIT\" $c x --help >/dev/null && ! \"$KADMIT\" $c x --nope 2>/dev/null"
done
check "a flag without its value names the flag" bash -c "\"$KADMIT\" attest sync --dir 2>&1 >/dev/null | grep -q 'kadmit attest sync: --dir needs a value'"
# The embedded checklist's image-scan-attestation has no keys and no directory here: each
# problem is one warning line, printed once, and never for a usage error.
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n' >"$tmp/cm.yaml"
for c in "audit $tmp/cm.yaml" "review --endpoint validate $cases/rules/image-pinned/image-latest/request.json"; do
  "$KADMIT" $c >/dev/null 2>"$tmp/warn.err"
  check_eq "${c%% *}, embedded checklist: two warnings (no keys, no directory), nothing else" \
    "2 2 2" "$(grep -c '^kadmit: warning: image-scan-attestation: .*every image will be denied' "$tmp/warn.err") $(grep -c 'every image' "$tmp/warn.err") $(wc -l <"$tmp/warn.err")"
done
for c in "review $cases/rules/image-pinned/image-latest/request.json" "audit" "audit --output nope $tmp/cm.yaml" "fix"; do
  check "kadmit $c: usage error without attestation warnings" bash -c "\"$KADMIT\" $c </dev/null >/dev/null 2>$tmp/usage.err; [ \$? -eq 2 ] && ! grep -q 'every image will be denied' $tmp/usage.err"
done
check "README documents attest verify's key flag as --help does (repeated --key, not KEY...)" bash -c "grep -q 'kadmit attest verify --key KEY \\[--key KEY\\]\\.\\.\\.' README.md && ! grep -q -- '--keys KEY\\.\\.\\.' README.md && \"$KADMIT\" attest verify --help | grep -q 'repeatable'"
check "kadmit help nosuch is a usage error" bash -c "\"$KADMIT\" help nosuch 2>/dev/null; [ \$? -eq 2 ]"
check "review needs --endpoint" bash -c "\"$KADMIT\" review $cases/rules/image-pinned/image-latest/request.json 2>/dev/null; [ \$? -eq 2 ]"

# lint
check "lint accepts the shipped policies" "$KADMIT" lint policies/
check "the shipped checklist denies images without attestations" bash -c "COLUMNS=1000 \"$KADMIT\" audit tests/fixtures/manifests/agent-statefulset.yaml 2>/dev/null | grep -q 'image-scan-attestation: container \"agent\": image registry.chaozcode.com/agent:2.4.0 is referenced by tag'"
# a tag-only image gets the one change that matters, not the missing-directory note
check "a tag-only image is told how to get its digest" bash -c "COLUMNS=1000 \"$KADMIT\" audit tests/fixtures/manifests/agent-statefulset.yaml 2>/dev/null | grep 'image-scan-attestation: container \"agent\"' | grep -q 'crane digest registry.chaozcode.com/agent:2.4.0'"
check "a tag-only image's denial does not bury it under the directory note" bash -c "! COLUMNS=1000 \"$KADMIT\" audit tests/fixtures/manifests/agent-statefulset.yaml 2>/dev/null | grep 'image-scan-attestation: container \"agent\"' | grep -q 'attestation directory'"
cat >"$tmp/bad.yaml" <<'Y'
apiVersion: kadmit.dev/v1alpha1
kind: Policy
metadata: {name: bad}
spec:
  rules:
    - id: probes-required
      actoin: warn
    - id: no-such-rule
Y
check "lint reports file:line:column and exits 2" bash -c "\"$KADMIT\" lint $tmp/bad.yaml 2>$tmp/lint; [ \$? -eq 2 ] && grep -q \"$tmp/bad.yaml:7:15: rule: unknown field \\\"actoin\\\"\" $tmp/lint && grep -q \"$tmp/bad.yaml:8:11: unknown rule id\" $tmp/lint"
check "a bad policy is refused by review too" bash -c "\"$KADMIT\" review --endpoint validate --policies $tmp/bad.yaml $cases/rules/image-pinned/image-latest/request.json >/dev/null 2>&1; [ \$? -eq 2 ]"

# overlays, lint warnings and policy show
mkdir -p "$tmp/ov"
cat >"$tmp/ov/10-warn.yaml" <<'Y'
apiVersion: kadmit.dev/v1alpha1
kind: Policy
metadata: {name: dev-warn}
spec:
  base: checklist
  rules:
    - id: image-pinned
      action: warn
    - id: image-scan-attestation
      action: off
Y
cat >"$tmp/ov/20-audit.yaml" <<'Y'
apiVersion: kadmit.dev/v1alpha1
kind: Policy
metadata: {name: dev-audit}
spec:
  base: dev-warn
  rules:
    - id: image-pinned
      action: audit
Y
check "lint warns when two overlays set one field, naming both files" bash -c "\"$KADMIT\" lint $tmp/ov 2>$tmp/lint >$tmp/lint.out; [ \$? -eq 0 ] && grep -q \"$tmp/ov/20-audit.yaml:8:15: warning: rule \\\"image-pinned\\\": \\\"action\\\" is also set by the overlay at $tmp/ov/10-warn.yaml:8\" $tmp/lint && grep -q 'ok, 1 warning' $tmp/lint.out"
check "lint --strict exits 1 on warnings" bash -c "\"$KADMIT\" lint --strict $tmp/ov >/dev/null 2>&1; [ \$? -eq 1 ]"
check "policy show names the overlay line of a changed value" bash -c "\"$KADMIT\" policy show --policies $tmp/ov 2>/dev/null | grep -A1 -- '- id: image-pinned' | grep -q 'action: \"audit\"  # $tmp/ov/20-audit.yaml:8'"
check "policy show marks checklist values" bash -c "\"$KADMIT\" policy show --policies $tmp/ov 2>/dev/null | grep -A1 -- '- id: resources-required' | grep -q '# (checklist default)'"
"$KADMIT" policy show --policies "$tmp/ov" >"$tmp/show.yaml" 2>/dev/null
"$KADMIT" policy show --policies "$tmp/ov" -o json >"$tmp/show.json" 2>/dev/null
check "policy show -o json carries origins in status" python3 - "$tmp/show.json" "$tmp/ov" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
ids = [r["id"] for r in doc["spec"]["rules"]]
i = ids.index("image-pinned")
assert doc["spec"]["rules"][i]["action"] == "audit"
assert doc["status"]["origins"]["rules"][i]["action"] == sys.argv[2] + "/20-audit.yaml:8"
assert len(ids) >= 11 and len(set(ids)) == len(ids)
PY
check "policy show's YAML is a complete policy that loads to the same effective policy" bash -c "mkdir $tmp/again && cp $tmp/show.yaml $tmp/again/ && \"$KADMIT\" policy show --policies $tmp/again -o json 2>/dev/null | python3 -c 'import json,sys; a=json.load(sys.stdin); b=json.load(open(\"$tmp/show.json\")); sys.exit(0 if a[\"spec\"]==b[\"spec\"] else 1)'"
check "policy show --embedded prints the shipped checklist" bash -c "\"$KADMIT\" policy show --embedded | cmp - policies/checklist.yaml"
python3 - README.md "$tmp/readme-overlay.yaml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
section = text[text.index("\n## Policies\n"):]
block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
assert len(block.splitlines()) == 5, block
open(sys.argv[2], "w").write(block)
PY
check "the README's five-line overlay loads and sets image-pinned to warn" bash -c "\"$KADMIT\" lint $tmp/readme-overlay.yaml >/dev/null 2>&1 && \"$KADMIT\" policy show --policies $tmp/readme-overlay.yaml 2>/dev/null | grep -A1 -- '- id: image-pinned' | grep -q 'action: \"warn\"  # $tmp/readme-overlay.yaml:5'"
python3 - policies/README.md "$tmp/tuning.yaml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
block = re.search(r"```yaml\n(apiVersion[^`]*?name: tuning[^`]*?)```", text, re.S).group(1)
open(sys.argv[2], "w").write(block)
PY
check "policies/README.md's tuning example is an overlay that keeps every other rule" bash -c "\"$KADMIT\" policy show --policies $tmp/tuning.yaml -o json 2>/dev/null | python3 -c 'import json,sys; r={x[\"id\"]: x[\"action\"] for x in json.load(sys.stdin)[\"spec\"][\"rules\"]}; sys.exit(0 if r[\"image-pinned\"]==\"warn\" and r[\"probes-required\"]==\"enforce\" and r[\"pdb-availability\"]==\"enforce\" else 1)'"
cat >"$tmp/partial.yaml" <<'Y'
apiVersion: kadmit.dev/v1alpha1
kind: Policy
metadata: {name: partial}
spec:
  rules:
    - id: image-pinned
      action: warn
Y
check "lint warns that a complete policy leaves checklist rules off" bash -c "\"$KADMIT\" lint $tmp/partial.yaml 2>$tmp/lint; [ \$? -eq 0 ] && [ \$(grep -c 'is not in policy \"partial\", so it is off' $tmp/lint) -ge 10 ] && grep -q 'checklist rule \"resources-required\" is not in policy' $tmp/lint"

# audit
check "audit admits the checklist manifests" bash -c "\"$KADMIT\" audit ${P[*]} tests/fixtures/manifests >$tmp/a.txt; [ \$? -eq 0 ] && grep -q '3 objects: 0 denied' $tmp/a.txt"
cat >"$tmp/bad-pod.yaml" <<'Y'
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  containers:
    - name: web
      image: nginx
Y
check "audit exits 1 when something would be denied" bash -c "\"$KADMIT\" audit $tmp/bad-pod.yaml >$tmp/b.txt; [ \$? -eq 1 ] && grep -q 'DENY' $tmp/b.txt && grep -q 'image-pinned' $tmp/b.txt"
check "audit --fail-on never exits 0" "$KADMIT" audit --fail-on never "$tmp/bad-pod.yaml" -o json
"$KADMIT" audit "${P[@]}" -o json "$tmp/bad-pod.yaml" tests/fixtures/manifests/agent-statefulset.yaml >"$tmp/a.json"
check "audit json has results, violations and summary" python3 - "$tmp/a.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = {x["name"]: x for x in d["results"]}
web = r["web"]
assert web["allowed"] is False and web["kind"] == "Pod" and web["namespace"] == "shop"
rules = {v["rule"] for v in web["violations"]}
assert {"resources-required", "probes-required", "image-pinned"} <= rules, rules
assert all(set(v) >= {"rule", "action", "message", "path"} for v in web["violations"])
assert r["agent"]["allowed"] is True
assert d["summary"]["objects"] == 2 and d["summary"]["denied"] == 1 and d["summary"]["skipped"] == 1
PY
# kubectl get -o json style List and AdmissionReview input
python3 - "$tmp" <<'PY'
import json, sys, yaml
d = sys.argv[1]
pod = yaml.safe_load(open(d + "/bad-pod.yaml"))
json.dump({"apiVersion": "v1", "kind": "List", "items": [pod, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}]}, open(d + "/list.json", "w"))
PY
check "audit reads kind: List JSON" bash -c "\"$KADMIT\" audit -o json $tmp/list.json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"summary\"][\"objects\"]==1 and d[\"summary\"][\"skipped\"]==1'"
check "audit reads AdmissionReview requests" bash -c "\"$KADMIT\" audit ${P[*]} -o json $cases/checklist/mutate-agent-pod/request.json | python3 -c 'import json,sys; d=json.load(sys.stdin); r=d[\"results\"][0]; assert r[\"name\"]==\"agent-x\" and len(r[\"mutations\"])==6 and r[\"allowed\"], r'"
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: ok}\n---\nkind: [oops\n' >"$tmp/broken.yaml"
check "audit reports unparseable documents with file:line and exits 2" bash -c "\"$KADMIT\" audit $tmp/broken.yaml >$tmp/c.txt; [ \$? -eq 2 ] && grep -q 'ERROR' $tmp/c.txt && grep -q 'broken.yaml:' $tmp/c.txt"
check "audit of a missing file is an error" bash -c "\"$KADMIT\" audit $tmp/nope.yaml >/dev/null; [ \$? -eq 2 ]"
# Objects in the policy's excluded namespaces are skipped (no rule looks at them), not passed.
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: kube-system}\nspec: {containers: [{name: c, image: nginx}]}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n' >"$tmp/excluded.yaml"
COLUMNS=200 "$KADMIT" audit "${P[@]}" "$tmp/excluded.yaml" >"$tmp/excluded.txt"
check_contains "audit: an excluded namespace's object is skipped, and why" \
  "read 2: 0 evaluated, 2 skipped (kinds kadmit does not check: ConfigMap 1; excluded namespaces: kube-system 1)" "$(cat "$tmp/excluded.txt")"
check_contains "audit: nothing passed" "0 passed" "$(cat "$tmp/excluded.txt")"
check_eq "audit -o json: skipped 2, skippedNamespaces, passed 0" '2 {"kube-system":1} 0' \
  "$("$KADMIT" audit "${P[@]}" -o json "$tmp/excluded.yaml" | jq -c '.summary | "\(.skipped) \(.skippedNamespaces|tojson) \(.passed)"' -r)"
# Deep JSON: the error names the limit and the byte where it was passed.
python3 -c 'print("{\"a\":" * 100 + "1" + "}" * 100)' >"$tmp/deep.json"
check_contains "review: deep JSON names the limit and the byte offset" \
  "JSON nesting deeper than 64 levels (--max-json-depth) at byte offset 320" \
  "$("$KADMIT" review "${P[@]}" --endpoint validate "$tmp/deep.json" 2>&1)"
check_contains "audit: deep JSON names the limit and the byte offset" \
  "JSON nested deeper than 64 levels (KA_MAX_DEPTH_DEFAULT) at byte offset" \
  "$("$KADMIT" audit "${P[@]}" "$tmp/deep.json" 2>&1)"
check "unknown command exits 2" bash -c "\"$KADMIT\" frobnicate 2>/dev/null; [ \$? -eq 2 ]"
finish
