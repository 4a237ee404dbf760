#!/usr/bin/env bash
# The audit CronJob's script, for real, against a real etcd + kube-apiserver on loopback:
# the PolicyReport CRDs of deploy/audit/crd are accepted, deploy/audit (ServiceAccount,
# ClusterRole, CronJob) is accepted, and the CronJob's own shell script - run with the
# kadmit-audit ServiceAccount's token, so RBAC is the ClusterRole's - runs
# `kadmit audit --cluster -o policyreport` and server-side applies the reports, which the API server
# validates against the CRD schema. Split reports are pruned when no longer produced.
#
# Needs etcd and kube-apiserver binaries: $KADMIT_E2E_BIN (a directory), else the ones
# tests/e2e/build.sh has cached for $KADMIT_E2E_K8S (`build.sh --cached`). Prints SKIP without them.
set -uo pipefail
cd "${KADMIT_SOURCE_DIR:-$(dirname "$0")/../..}"
. tests/integration/lib/apiserver.sh
apiserver_setup openssl curl jq python3

WORK="$(mktemp -d /tmp/kadmit-audit-apiserver.XXXXXX)"
cleanup() {
  apiserver_stop
  rm -rf "$WORK"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

apiserver_start
ok "kube-apiserver ready on 127.0.0.1:$API_PORT"

# ---- CRDs, namespaces, workloads, deploy/audit ----------------------------------------------
k apply -k deploy/audit/crd >/dev/null || fail "apply deploy/audit/crd"
k wait --for=condition=Established --timeout=60s crd/policyreports.wgpolicyk8s.io \
  crd/clusterpolicyreports.wgpolicyk8s.io >/dev/null || fail "CRDs not established"
for ns in kadmit-system shop ai-agents payments; do k create namespace "$ns" >/dev/null; done
# The fixture snapshot's workloads (server-assigned uids; the owned pod's ReplicaSet is absent,
# which the API server allows).
jq '{apiVersion: "v1", kind: "List", items: [.items[] | del(.metadata.uid)]}' \
  tests/fixtures/audit/inputs/snapshot.json >"$WORK/workloads.json"
k apply -f "$WORK/workloads.json" >/dev/null || fail "apply the fixture workloads"
k kustomize deploy/audit >"$WORK/audit-deploy.yaml" || fail "render deploy/audit"
k apply -f "$WORK/audit-deploy.yaml" >/dev/null || fail "apply deploy/audit (ServiceAccount, RBAC, CronJob)"
k apply --dry-run=server -f "$WORK/audit-deploy.yaml" >/dev/null && ok "deploy/audit accepted by the API server"
# The CronJob passes kadmit's shipped checklist in a namespace the checklist does not exclude;
# its image then needs a signed scan attestation like any image: sign one now (tests/attest).
sed 's/namespace: kadmit-system$/namespace: kadmit-audit-check/' "$WORK/audit-deploy.yaml" >"$WORK/moved.yaml"
. tests/integration/lib/attest.sh
attest_setup "$WORK/attest" || fail "attest_setup"
for image in $(grep -oE 'image: [^ ]+@sha256:[0-9a-f]{64}' "$WORK/moved.yaml" | sort -u | cut -d' ' -f2); do
  attest_image "$WORK/attest" "$image" || fail "attest $image"
done
"$KADMIT" audit --policies "$WORK/attest/checklist.yaml" --attestations "$WORK/attest/attestations" \
  "$WORK/moved.yaml" >"$WORK/cj.txt" 2>&1 && grep -q '^3 objects: 0 denied' "$WORK/cj.txt" &&
  ok "the audit CronJob passes kadmit's checklist" || { cat "$WORK/cj.txt" >&2; fail "the CronJob fails the checklist"; }

# control: the same CronJob without resources is denied
python3 - "$WORK/moved.yaml" >"$WORK/broken.yaml" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "CronJob":
        d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0].pop("resources")
        print(yaml.safe_dump(d))
PY
"$KADMIT" audit --policies "$WORK/attest/checklist.yaml" --attestations "$WORK/attest/attestations" \
  "$WORK/broken.yaml" >/dev/null 2>&1
[ $? -eq 1 ] && ok "control: the CronJob without resources is denied" || fail "control: broken CronJob not denied"

# ---- the CronJob's script, as the kadmit-audit ServiceAccount --------------------------------
SA_TOKEN="$(k create token kadmit-audit -n kadmit-system --duration=1h)" || fail "create a ServiceAccount token"
kubeconfig "$WORK/sa.kubeconfig" "$SA_TOKEN"
mkdir -p "$WORK/bin" "$WORK/job" "$WORK/policies" "$WORK/attestations"
cp policies/checklist.yaml "$WORK/policies/"
printf '#!/bin/sh\nexec "%s" --kubeconfig "%s" "$@"\n' "$KUBECTL" "$WORK/sa.kubeconfig" >"$WORK/bin/kubectl"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$KADMIT" >"$WORK/bin/kadmit"
chmod +x "$WORK/bin/kubectl" "$WORK/bin/kadmit"
python3 - "$WORK/audit-deploy.yaml" >"$WORK/job.sh" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "CronJob":
        c = d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        assert c["command"] == ["/bin/sh", "-c"], c["command"]
        print(c["args"][0])
PY
sa() { "$WORK/bin/kubectl" "$@"; }
for kind in pods replicationcontrollers statefulsets poddisruptionbudgets horizontalpodautoscalers networkpolicies \
  resourcequotas limitranges storageclasses clusterroles; do
  [ "$(sa auth can-i list "$kind" -A)" = yes ] || fail "SA cannot list $kind (kadmit audit --cluster lists it)"
done
[ "$(sa auth can-i patch policyreports.wgpolicyk8s.io -n shop)" = yes ] || fail "SA cannot patch policyreports"
[ "$(sa auth can-i get secrets -A 2>/dev/null)" = no ] || fail "SA can read Secrets"
[ "$(sa auth can-i delete pods -n shop 2>/dev/null)" = no ] || fail "SA can delete pods"
[ "$(sa auth can-i update deployments -n shop 2>/dev/null)" = no ] || fail "SA can update deployments"
ok "RBAC: reads the checked kinds and writes reports, nothing else"

run_job() { # extra kadmit audit flags go in via KADMIT_JOB_FLAGS
  sed -e "s#cd /work#cd $WORK/job#" -e "s#/etc/kadmit/policies#$WORK/policies#g" \
      -e "s#/etc/kadmit/attestations#$WORK/attestations#g" \
      -e "s#-o policyreport#-o policyreport ${KADMIT_JOB_FLAGS:-}#" "$WORK/job.sh" >"$WORK/job.run.sh"
  PATH="$WORK/bin:$PATH" HOME="$WORK/job" sh "$WORK/job.run.sh" >"$WORK/job.log" 2>&1
}
if run_job; then ok "the CronJob script ran as the ServiceAccount"; else cat "$WORK/job.log" >&2; fail "the CronJob script failed"; fi
cat "$WORK/job.log"
k get policyreports -A -o json >"$WORK/reports.json"
names="$(jq -r '[.items[] | "\(.metadata.namespace)/\(.metadata.name)"] | sort | join(" ")' "$WORK/reports.json")"
# kadmit-system, where the audit CronJob runs, is excluded by the checklist: its objects are
# counted as skipped and get no report
[ "$names" = "ai-agents/kadmit-checklist payments/kadmit-checklist shop/kadmit-checklist" ] ||
  fail "reports stored: $names"
# what the API server stored is what kadmit computes from the same cluster
"$KADMIT" audit --cluster --kubectl "$WORK/bin/kubectl" --policies "$WORK/policies" \
  --attestations "$WORK/attestations" --fail-on never -o policyreport >"$WORK/expected.json" 2>/dev/null
run_label="$(jq -r '.items[0].metadata.labels["kadmit.dev/run"]' "$WORK/reports.json")"
[ "$(jq --arg r "$run_label" '[.items[] | select(.metadata.labels["kadmit.dev/run"] != $r)] | length' "$WORK/reports.json")" = 0 ] ||
  fail "reports of one run carry different kadmit.dev/run labels"
for ns in ai-agents payments shop; do
  got="$(jq -cS --arg ns "$ns" '.items[] | select(.metadata.namespace==$ns) | [.summary, (.results | length)]' "$WORK/reports.json")"
  want="$(jq -cS --arg ns "$ns" '.items[] | select(.metadata.namespace==$ns) | [.summary, (.results | length)]' "$WORK/expected.json")"
  [ -n "$got" ] && [ "$got" = "$want" ] || fail "$ns: stored $got, computed $want"
done
[ "$(jq '[.items[] | select(.metadata.namespace=="shop") | .summary.fail] | add' "$WORK/reports.json")" -ge 3 ] ||
  fail "shop report has no failures"
jq -e '[.items[].results[] | select(.source != "kadmit")] | length == 0' "$WORK/reports.json" >/dev/null ||
  fail "results without source kadmit"
k get policyreports -n shop | grep -q 'kadmit-checklist' && ok "kubectl get policyreports shows the reports"
k get policyreports -n shop

# ---- splitting and pruning ------------------------------------------------------------------
sleep 1
if KADMIT_JOB_FLAGS="--report-max-results 2" run_job; then ok "split run"; else cat "$WORK/job.log" >&2; fail "split run failed"; fi
shop="$(k get policyreports -n shop -o json | jq -r '[.items[].metadata.name] | sort | join(" ")')"
n_split="$(jq '[.items[] | select(.metadata.namespace=="shop")] | length' <("$KADMIT" audit \
  --cluster --kubectl "$WORK/bin/kubectl" --policies "$WORK/policies" --attestations "$WORK/attestations" --fail-on never -o policyreport --report-max-results 2 2>/dev/null))"
want="$(for i in $(seq 1 "$n_split"); do printf 'kadmit-checklist-%s ' "$i"; done | sed 's/ $//')"
[ "$shop" = "$want" ] || fail "after the split run shop has: $shop (want $want)"
sleep 1 # the next run has a new kadmit.dev/run label (Unix seconds)
if run_job; then :; else cat "$WORK/job.log" >&2; fail "unsplit rerun failed"; fi
shop="$(k get policyreports -n shop -o json | jq -r '[.items[].metadata.name] | sort | join(" ")')"
if [ "$shop" = "kadmit-checklist" ]; then
  ok "split reports applied, and deleted when a later run no longer produces them"
else
  fail "after the unsplit rerun shop has: $shop"
fi

# ---- manifests without a namespace are reported in the one kubectl apply would give them -----
"$KADMIT" audit --fail-on never -o policyreport tests/fixtures/audit/inputs/manifests.yaml \
  >"$WORK/cluster.json" 2>/dev/null
"$WORK/bin/kubectl" apply --server-side --field-manager=kadmit-audit -f "$WORK/cluster.json" >/dev/null &&
  [ "$(k get policyreports -n default kadmit-checklist -o jsonpath='{.summary.fail}')" = 1 ] &&
  jq -e '[.items[]? // . | select(.kind == "ClusterPolicyReport")] | length == 0' "$WORK/cluster.json" >/dev/null &&
  ok "namespace-less manifests: PolicyReport in default, no ClusterPolicyReport" ||
  fail "namespace-less manifests were not reported in namespace default"
# and the schema really is enforced: a result the CRD does not allow is refused
jq '.items[0].results[0].result = "bogus"' "$WORK/cluster.json" >"$WORK/bogus.json"
if k apply --server-side --field-manager=test -f "$WORK/bogus.json" >/dev/null 2>&1; then
  fail "the CRD accepted result=bogus"
else
  ok "the CRD schema refuses result=bogus"
fi

if [ "$fails" -gt 0 ]; then
  echo "$fails checks failed" >&2
  exit 1
fi
echo "all audit apiserver checks passed"
