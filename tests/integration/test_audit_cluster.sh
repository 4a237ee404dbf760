#!/usr/bin/env bash
# `kadmit audit --cluster` against a real etcd + kube-apiserver on loopback (issue #17): the
# checklist's complete namespace (tests/fixtures/checklist/complete/) is created with some objects
# left out, and the audit - which runs `kubectl get <kinds> -A -o json` itself with the given
# kubeconfig - finds exactly those gaps. A kind the cluster has no object of is listed, so its
# absence is a finding, not "not evaluated". A ReplicationController, and an Argo Rollout once
# its CRD is served, are listed too. kubectl missing or failing is exit 2 with its stderr.
#
# Needs etcd and kube-apiserver binaries: $KADMIT_E2E_BIN (a directory), else the ones
# tests/e2e/build.sh has cached for $KADMIT_E2E_K8S (`build.sh --cached`). Prints SKIP without them.
set -uo pipefail
cd "${KADMIT_SOURCE_DIR:-$(dirname "$0")/../..}"
. tests/integration/lib/apiserver.sh
apiserver_setup openssl curl jq
. tests/integration/lib/harness.sh

WORK="$(mktemp -d /tmp/kadmit-audit-cluster.XXXXXX)"
cleanup() {
  apiserver_stop
  rm -rf "$WORK"
}
trap cleanup EXIT
apiserver_start
ok "kube-apiserver ready on 127.0.0.1:$API_PORT"

# The complete namespace without the planted gaps.
C=tests/fixtures/checklist/complete
mkdir "$WORK/ns"
cp "$C"/*.yaml "$WORK/ns/"
rm "$WORK/ns/pdb-memory-spine.yaml" "$WORK/ns/networkpolicy-agent.yaml" \
  "$WORK/ns/resourcequota.yaml" "$WORK/ns/storageclass-fast-ssd.yaml"
k apply -f "$WORK/ns/namespace.yaml" >/dev/null && k apply -f "$WORK/ns" >/dev/null
check "the namespace with its gaps is created" [ $? -eq 0 ]
test_policy "$WORK/policy.yaml" # the seed's images are tags; scans have their own tests

# "rule kind/name" of every failing relation result, and of not-evaluated ones, sorted
relations() {
  jq -r 'select(.type == "result" and .relation != null)
         | select(.notEvaluated != null or (.violations | length) > 0)
         | "\(.relation) \(.kind)/\(.name)\(if .notEvaluated then ": not evaluated" else "" end)"' \
    "$1" | sort | paste -sd' ' -
}
"$KADMIT" audit --cluster --kubectl "$KUBECTL" --kubeconfig "$WORK/admin.kubeconfig" \
  --policies "$WORK/policy.yaml" -o jsonl >"$WORK/out.jsonl" 2>"$WORK/err.txt"
rc=$?
check_eq "audit --cluster: exit 1 (the gaps are enforced)" 1 "$rc"
check_eq "audit --cluster finds exactly the planted gaps" \
  "namespace-guardrails Namespace/ai-agents network-policy-coverage StatefulSet/agent pdb-coverage StatefulSet/memory-spine storage-class-exists StatefulSet/memory-spine" \
  "$(relations "$WORK/out.jsonl")"
check_eq "audit --cluster: the relations that hold pass (pdb agent, hpa, spine policies)" 3 \
  "$(jq -r 'select(.type == "summary") | .relations.passed' "$WORK/out.jsonl")"
check_eq "audit --cluster: no object rule fails (only relations)" "0" \
  "$(jq -r 'select(.type == "summary") | .denied' "$WORK/out.jsonl")"
check "audit --cluster: the quota finding names the kubectl command" \
  grep -q 'has no ResourceQuota (kubectl create quota agents -n ai-agents' "$WORK/out.jsonl"

# KUBECONFIG and --context are kubectl's: the same result through them.
KUBECONFIG="$WORK/admin.kubeconfig" PATH="$BIN:$PATH" "$KADMIT" audit --cluster --context t \
  --policies "$WORK/policy.yaml" -o jsonl >"$WORK/env.jsonl" 2>/dev/null
check_eq "KUBECONFIG, --context and kubectl from PATH: the same gaps" \
  "$(relations "$WORK/out.jsonl")" "$(relations "$WORK/env.jsonl")"

# Fill the gaps: everything passes.
k apply -f "$C" >/dev/null
"$KADMIT" audit --cluster --kubectl "$KUBECTL" --kubeconfig "$WORK/admin.kubeconfig" \
  --policies "$WORK/policy.yaml" -o jsonl >"$WORK/full.jsonl" 2>/dev/null
check_eq "the complete namespace in the cluster: exit 0" 0 $?
check_eq "the complete namespace in the cluster: 7 relation results pass" "7 0" \
  "$(jq -r 'select(.type == "summary") | "\(.relations.passed) \(.relations.denied)"' "$WORK/full.jsonl")"

# Kinds outside the checklist's namespace: a ReplicationController, and an Argo Rollout once its
# CRD is installed (audit asks discovery first: listing a kind the cluster does not serve would
# fail the whole `kubectl get`). Both are judged; no limits, so resources-required fails.
workload_yaml() { # KIND APIVERSION NAME
  local selector="{matchLabels: {app: $3}}"
  [ "$1" = ReplicationController ] && selector="{app: $3}"
  cat <<EOF
apiVersion: $2
kind: $1
metadata: {name: $3, namespace: other}
spec:
  replicas: 1
  selector: $selector
  template:
    metadata: {labels: {app: $3}}
    spec:
      containers: [{name: web, image: "registry.example.com/web:1.0"}]
EOF
}
judged() { # FILE KIND NAME: the object has a result with a resources-required violation
  jq -s -e --arg k "$2" --arg n "$3" 'any(.[]; .type == "result" and .kind == $k and
    .name == $n and any(.violations[]?; .rule == "resources-required"))' "$1" >/dev/null
}
k create namespace other >/dev/null
workload_yaml ReplicationController v1 rc-web | k apply -f - >/dev/null
"$KADMIT" audit --cluster --kubectl "$KUBECTL" --kubeconfig "$WORK/admin.kubeconfig" \
  --policies "$WORK/policy.yaml" -o jsonl >"$WORK/rc.jsonl" 2>"$WORK/rc.err"
check_eq "no Rollout CRD: audit --cluster still runs (exit 1, the ReplicationController fails)" 1 $?
check "a ReplicationController is listed and judged" judged "$WORK/rc.jsonl" ReplicationController rc-web
k apply -f - >/dev/null <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: rollouts.argoproj.io}
spec:
  group: argoproj.io
  scope: Namespaced
  names: {kind: Rollout, listKind: RolloutList, plural: rollouts, singular: rollout}
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
EOF
k wait --for condition=established --timeout=30s crd/rollouts.argoproj.io >/dev/null
t0=$SECONDS
until workload_yaml Rollout argoproj.io/v1alpha1 ro-web | k apply -f - >/dev/null 2>&1; do
  [ $((SECONDS - t0)) -lt 30 ] || break
  sleep 0.5
done
"$KADMIT" audit --cluster --kubectl "$KUBECTL" --kubeconfig "$WORK/admin.kubeconfig" \
  --policies "$WORK/policy.yaml" -o jsonl >"$WORK/ro.jsonl" 2>"$WORK/ro.err"
check_eq "with the Rollout CRD: exit 1" 1 $?
check "an Argo Rollout is listed and judged where the cluster serves them" \
  judged "$WORK/ro.jsonl" Rollout ro-web
check "... and the ReplicationController still is" judged "$WORK/ro.jsonl" ReplicationController rc-web
k delete namespace other --wait=false >/dev/null
k delete crd rollouts.argoproj.io >/dev/null

# kubectl failing: exit 2, its stderr shown, no report.
"$KADMIT" audit --cluster --kubectl "$KUBECTL" --kubeconfig "$WORK/admin.kubeconfig" --context nope \
  --policies "$WORK/policy.yaml" >"$WORK/bad.out" 2>"$WORK/bad.err"
check_eq "a context kubectl does not know: exit 2" 2 $?
check_contains "kubectl's own error is shown" 'context was not found for specified context: nope' "$(cat "$WORK/bad.err")"
check_contains "kadmit says what failed" "failed (exit 1): the audit is incomplete" "$(cat "$WORK/bad.err")"
kubeconfig "$WORK/bad.kubeconfig" "not-a-token"
"$KADMIT" audit --cluster --kubectl "$KUBECTL" --kubeconfig "$WORK/bad.kubeconfig" \
  --policies "$WORK/policy.yaml" >/dev/null 2>"$WORK/unauth.err"
check_eq "a bad token: exit 2" 2 $?
check_contains "a bad token: kubectl's Unauthorized is shown" "Unauthorized" "$(cat "$WORK/unauth.err")"
"$KADMIT" audit --cluster --kubectl "$WORK/no-such-kubectl" --policies "$WORK/policy.yaml" \
  >/dev/null 2>"$WORK/missing.err"
check_eq "kubectl missing: exit 2" 2 $?
check_contains "kubectl missing: said so" "cannot run $WORK/no-such-kubectl" "$(cat "$WORK/missing.err")"
"$KADMIT" audit --cluster "$C" >/dev/null 2>&1
check_eq "--cluster with a FILE: exit 2" 2 $?
finish
