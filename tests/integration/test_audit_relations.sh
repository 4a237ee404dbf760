#!/usr/bin/env bash
# Relations in `kadmit audit` (issue #17): the complete checklist namespace of
# tests/fixtures/checklist/complete/ passes every rule and every relation; with one object removed
# at a time it fails with exactly the matching relation finding; without any object of a kind a
# relation needs it reports "not evaluated" (unless --listed-kinds says the input lists the kind);
# relation results reach every output format and the exit code.
set -u
cd "${KADMIT_SOURCE_DIR:-.}"
. tests/integration/lib/harness.sh
use_tmp
C=tests/fixtures/checklist/complete
test_policy "$tmp/policy.yaml" # the seed's images are tags; scans have their own tests

audit() { "$KADMIT" audit --policies "$tmp/policy.yaml" --now 2026-11-28T12:00:00Z "$@"; }
# "rule kind/name[: not evaluated]" per failing or unevaluated relation result, sorted
relations() {
  jq -r 'select(.type == "result" and .relation != null)
         | select(.notEvaluated != null or (.violations | length) > 0)
         | "\(.relation) \(.kind)/\(.name)\(if .notEvaluated then ": not evaluated" else "" end)"' \
    "$1" | sort | paste -sd' ' -
}

audit -o jsonl "$C" >"$tmp/complete.jsonl"
rc=$?
check_eq "the complete namespace passes (exit 0)" 0 "$rc"
check_eq "the complete namespace: every relation holds" "" "$(relations "$tmp/complete.jsonl")"
check_eq "the complete namespace: 7 relation results, all passed" '{"total":7,"denied":0,"warned":0,"audited":0,"passed":7,"notEvaluated":0}' \
  "$(jq -c 'select(.type == "summary") | .relations' "$tmp/complete.jsonl")"
check_eq "the complete namespace: no object denied or warned" "0 0" \
  "$(jq -r 'select(.type == "summary") | "\(.denied) \(.warned)"' "$tmp/complete.jsonl")"

# One object removed at a time: the matching finding, and only it. The last object of its kind
# gone: "not evaluated" from the files alone, a finding when the kinds are listed (--cluster).
while IFS=$'\t' read -r file want listed; do
  rm -rf "$tmp/ns" && mkdir "$tmp/ns" && cp "$C"/*.yaml "$tmp/ns/" && rm "$tmp/ns/$file"
  audit -o jsonl "$tmp/ns" >"$tmp/out.jsonl"
  rc=$?
  got=$(relations "$tmp/out.jsonl")
  check_eq "without $file: $want" "$want" "$got"
  case "$want" in
    *"not evaluated"*)
      check_eq "without $file: exit 0 (not evaluated is not a failure)" 0 "$rc"
      audit -o jsonl --listed-kinds all "$tmp/ns" >"$tmp/out.jsonl"
      rc=$?
      check_eq "without $file, kinds listed: $listed" "$listed" "$(relations "$tmp/out.jsonl")"
      ;;
  esac
  check_eq "without $file: exit 1" 1 "$rc"
done <<'CASES'
pdb-agent.yaml	pdb-coverage StatefulSet/agent
pdb-memory-spine.yaml	pdb-coverage StatefulSet/memory-spine
networkpolicy-agent.yaml	network-policy-coverage StatefulSet/agent
networkpolicy-memory-spine.yaml	network-policy-coverage StatefulSet/memory-spine
agent-hpa.yaml	hpa-coverage StatefulSet/agent: not evaluated	hpa-coverage StatefulSet/agent
resourcequota.yaml	namespace-guardrails Namespace/ai-agents: not evaluated	namespace-guardrails Namespace/ai-agents
limitrange.yaml	namespace-guardrails Namespace/ai-agents: not evaluated	namespace-guardrails Namespace/ai-agents
storageclass-fast-ssd.yaml	storage-class-exists StatefulSet/memory-spine: not evaluated	storage-class-exists StatefulSet/memory-spine
CASES

# Findings name the workload, what is missing and the kubectl object to add.
rm -rf "$tmp/ns" && mkdir "$tmp/ns" && cp "$C"/*.yaml "$tmp/ns/" && rm "$tmp/ns/pdb-agent.yaml"
msg=$(audit -o jsonl "$tmp/ns" | jq -r 'select(.relation == "pdb-coverage") | .violations[].message')
check_eq "pdb-coverage names the workload, the gap and the kubectl command" \
  "pdb-coverage: StatefulSet ai-agents/agent: no PodDisruptionBudget in ai-agents selects its pods (app=agent) (kubectl create poddisruptionbudget agent -n ai-agents --selector=app=agent --min-available=1)" "$msg"

# No NetworkPolicy at all: not evaluated, for both workloads, in every format.
rm -rf "$tmp/ns" && mkdir "$tmp/ns" && cp "$C"/*.yaml "$tmp/ns/" && rm "$tmp/ns"/networkpolicy-*.yaml
audit -o jsonl "$tmp/ns" >"$tmp/nonp.jsonl"
check_eq "no NetworkPolicies: network-policy-coverage not evaluated" \
  "network-policy-coverage StatefulSet/agent: not evaluated network-policy-coverage StatefulSet/memory-spine: not evaluated" \
  "$(relations "$tmp/nonp.jsonl")"
check_eq "no NetworkPolicies: the reason" "not evaluated: the input has no NetworkPolicy objects" \
  "$(jq -r 'select(.notEvaluated != null) | .notEvaluated' "$tmp/nonp.jsonl" | sort -u)"
audit "$tmp/ns" >"$tmp/nonp.txt"
check "text: the SKIP block and the summary sentence" grep -q \
  "skip     network-policy-coverage: not evaluated: the input has no NetworkPolicy objects" "$tmp/nonp.txt"
check "text: relation checks counted" grep -q "^7 relation checks (several objects together): 0 failed" "$tmp/nonp.txt"
check "text: which relations were not evaluated, and for want of which kind" grep -q \
  "^not evaluated, the input has no objects of their kind: network-policy-coverage (no NetworkPolicy) 2" "$tmp/nonp.txt"
audit -o markdown "$tmp/ns" >"$tmp/nonp.md"
check "markdown: the same line" grep -q "network-policy-coverage (no NetworkPolicy) 2" "$tmp/nonp.md"
audit -o policyreport "$tmp/ns" >"$tmp/nonp.report.json"
check_eq "policyreport: not evaluated is result skip" "skip skip" \
  "$(jq -r '[.items[].results[] | select(.rule == "network-policy-coverage") | .result] | join(" ")' "$tmp/nonp.report.json")"
check_eq "policyreport: the relations that hold are results pass" "pass pass pass pass pass" \
  "$(jq -r '[.items[].results[] | select(.rule | test("coverage|guardrails|exists")) | select(.result == "pass") | .result] | join(" ")' "$tmp/nonp.report.json")"
audit -o json "$tmp/ns" >"$tmp/nonp.json"
check_eq "json: relation results in results, counted in the summary" "7 2" \
  "$(jq -r '"\([.results[] | select(.relation)] | length) \(.summary.relations.notEvaluated)"' "$tmp/nonp.json")"

# A failing relation in every format (markdown, html: the findings tables).
rm -rf "$tmp/ns" && mkdir "$tmp/ns" && cp "$C"/*.yaml "$tmp/ns/" && rm "$tmp/ns/networkpolicy-agent.yaml"
audit -o markdown "$tmp/ns" >"$tmp/gap.md"
check "markdown lists the relation finding" grep -q "network-policy-coverage" "$tmp/gap.md"
check "markdown: a failed relation is a denial in the title" grep -q "^## kadmit audit: denials found" "$tmp/gap.md"
audit -o html "$tmp/ns" >"$tmp/gap.html"
check "html lists the relation finding" grep -q "network-policy-coverage" "$tmp/gap.html"
audit -o policyreport "$tmp/ns" >"$tmp/gap.report.json"
check_eq "policyreport: the gap is result fail in ai-agents' report" "fail" \
  "$(jq -r '.items[] | select(.metadata.namespace == "ai-agents") | .results[] | select(.rule == "network-policy-coverage" and .resources[0].name == "agent") | .result' "$tmp/gap.report.json")"
audit --fail-on never "$tmp/ns" >/dev/null
check_eq "--fail-on never: exit 0 with a failing relation" 0 $?

# Relation rules are policy rules: off in a policy, nothing is reported.
cat >"$tmp/off.yaml" <<'YAML'
apiVersion: kadmit.dev/v1alpha1
kind: Policy
metadata:
  name: relations-off
spec:
  base: checklist
  rules:
    - id: network-policy-coverage
      action: "off"
    - id: image-scan-attestation
      action: "off"
YAML
"$KADMIT" audit --policies "$tmp/off.yaml" -o jsonl "$tmp/ns" >"$tmp/off.jsonl"
check_eq "network-policy-coverage off: not reported, the others still are" "" \
  "$(jq -r 'select(.relation == "network-policy-coverage") | .name' "$tmp/off.jsonl")"
check_eq "network-policy-coverage off: the other 5 relation results pass" 5 \
  "$(jq -r 'select(.type == "summary") | .relations.passed' "$tmp/off.jsonl")"
# ... and warn: reported, not failing
awk '{ if (f && /action:/) { sub(/"off"/, "warn"); f = 0 } if (/- id: network-policy-coverage/) f = 1; print }' "$tmp/off.yaml" >"$tmp/warn.yaml"
"$KADMIT" audit --policies "$tmp/warn.yaml" -o jsonl "$tmp/ns" >"$tmp/warn.jsonl"
check_eq "network-policy-coverage at warn: warned, exit 0" "1 0" \
  "$(jq -r 'select(.type == "summary") | "\(.relations.warned) \(.relations.denied)"' "$tmp/warn.jsonl")"

# A policy exception exempts a workload from a relation: reported as exempted, not failing.
cat >"$tmp/exempt.yaml" <<'YAML'
apiVersion: kadmit.dev/v1alpha1
kind: Policy
metadata:
  name: exempt-spine
spec:
  base: checklist
  rules:
    - id: image-scan-attestation
      action: "off"
    - id: pdb-coverage
      exceptions:
        - name: spine-pdb-elsewhere
          names: [memory-spine]
          namespaces: [ai-agents]
          reason: the Memory Spine PDB is managed by the storage team's chart
YAML
rm -rf "$tmp/ns" && mkdir "$tmp/ns" && cp "$C"/*.yaml "$tmp/ns/" && rm "$tmp/ns/pdb-memory-spine.yaml"
"$KADMIT" audit --policies "$tmp/exempt.yaml" -o jsonl "$tmp/ns" >"$tmp/exempt.jsonl"
check_eq "an exception exempts the Memory Spine from pdb-coverage: exit 0" 0 $?
check_eq "the exemption is reported with its name" "pdb-coverage spine-pdb-elsewhere" \
  "$(jq -r 'select(.relation == "pdb-coverage" and .name == "memory-spine") | .exempted[] | "\(.rule) \(.exception)"' "$tmp/exempt.jsonl")"
"$KADMIT" audit --policies "$tmp/exempt.yaml" -o policyreport "$tmp/ns" >"$tmp/exempt.report.json"
check_eq "policyreport: the exempted relation is result skip" "skip" \
  "$(jq -r '.items[].results[] | select(.rule == "pdb-coverage" and .resources[0].name == "memory-spine" and .properties.exception) | .result' "$tmp/exempt.report.json")"

# At admission a relation does nothing: the agent StatefulSet alone (no PDB, HPA, policies) is
# allowed by `kadmit review`, as the server would.
"$KADMIT" review --endpoint validate --policies "$tmp/policy.yaml" \
  tests/fixtures/checklist/agent-statefulset/request.json >"$tmp/review.json"
check_eq "review of the agent StatefulSet alone: allowed, no relation finding" "true" \
  "$(jq -r '.response.allowed' "$tmp/review.json")"
check "review: no relation rule named" bash -c "! grep -Eq 'coverage|guardrails|storage-class-exists' $tmp/review.json"

# The relation index is bounded: an object past KA_RELATION_MAX_ENTRY_NODES is named in one
# error, the relations are not evaluated, and the exit code is 2.
python3 - >"$tmp/huge.json" <<'PY'
import json
labels = {"app": "agent", **{"l%d" % i: "v" for i in range(600)}}
print(json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "huge", "namespace": "ai"},
                  "spec": {"selector": {"matchLabels": {"app": "agent"}},
                           "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "a", "image": "x:1"}]}}}}))
PY
audit -o jsonl "$tmp/huge.json" >"$tmp/huge.jsonl" 2>/dev/null
check_eq "an object too large for the relation index: exit 2" 2 $?
check_contains "the error names the object and the limit" \
  "relations not evaluated: objects the relation index could not take: 1 (the first: Deployment ai/huge: not part of the relations: its labels and selectors are larger than KA_RELATION_MAX_ENTRY_NODES" \
  "$(jq -r 'select(.type == "error") | .error' "$tmp/huge.jsonl")"
check_eq "... and no relation result" 0 "$(jq -r 'select(.type == "summary") | .relations.total' "$tmp/huge.jsonl")"

check "--listed-kinds refuses an unknown kind" bash -c \
  "\"$KADMIT\" audit --listed-kinds Service $C 2>&1 | grep -q 'not a kind relations read'; [ \${PIPESTATUS[0]} -eq 2 ]"
finish
