#!/usr/bin/env bash
# kadmit audit reads its input as kubectl does and accounts for every document
# (tests/fixtures/audit/input/): YAML anchors and merge keys, an alias bomb, JSON Lines,
# concatenated JSON, trailing data, a broken document between two good ones, a pods-only
# snapshot, a snapshot with owners and pods, namespace defaulting reaching an exception, empty
# input, a List larger than the old 64 MiB file cap, an object over the per-object cap, YAML
# Lists (`kubectl get -o yaml`) read item by item, custom resources named like a checked kind,
# document separators and YAML directives as kubectl reads them, a Helm chart directory (files
# that are not Kubernetes objects).
set -uo pipefail
cd "${KADMIT_SOURCE_DIR:-$(dirname "$0")/../..}"
source tests/integration/lib/harness.sh
F=tests/fixtures/audit/input
WORK="$(mktemp -d /tmp/kadmit-audit-input.XXXXXX)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT

# audit NAME ARGS...: json report in $WORK/NAME.json, exit code in $WORK/NAME.rc
audit() {
  local name=$1
  shift
  local rc=0
  "$KADMIT" audit --policies "$F/policy.yaml" --now 2026-11-28T12:00:00Z -o json "$@" \
    >"$WORK/$name.json" 2>"$WORK/$name.err" || rc=$?
  echo "$rc" >"$WORK/$name.rc"
}
rc() { [ "$(cat "$WORK/$1.rc")" = "$2" ]; }
q() { jq -c "$2" "$WORK/$1.json"; }
is() { [ "$(q "$1" "$2")" = "$3" ] || { echo "  $1: $2 = $(q "$1" "$2"), want $3" >&2; return 1; }; }
# read = evaluated + skipped + owned + errors, and the counts given
accounts() {
  is "$1" '.summary | [.read, .objects, .skipped, .owned, .errors]' "$2" &&
    is "$1" '.summary | .read == .objects + .skipped + .owned + .errors' true
}
# expect_audit NAME RC COUNTS DESCRIPTION [MORE]: audit NAME exited RC, its accounts are COUNTS
# ([read, evaluated, skipped, owned, errors]), and the condition MORE holds
expect_audit() {
  check "$4" holds "rc $1 $2 && accounts $1 '$3'${5:+ && $5}"
}

audit anchors "$F/anchors.yaml"
expect_audit anchors 0 '[2,2,0,0,0]' "anchors and merge keys: both Deployments read, resources from the anchor" \
  "is anchors '[.results[] | .allowed]' '[true,true]'"

start=$(date +%s%N)
audit bomb "$F/bomb.yaml"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
echo "  alias bomb refused in ${elapsed_ms} ms"
expect_audit bomb 2 '[1,0,0,0,1]' "alias bomb: an error naming the bound, exit 2" \
  "q bomb '.errors[0].error' | grep -q 'aliases expand to too many nodes'"

audit jsonl "$F/pods.jsonl"
expect_audit jsonl 1 '[3,3,0,0,0]' "JSON Lines: every line evaluated" \
  "is jsonl '[.results[] | .name]' '[\"a\",\"b\",\"c\"]' && is jsonl '.summary.denied' 1"
audit jsonl-stdin - <"$F/pods.jsonl"
check "JSON Lines on stdin (jq -c .items[] | kadmit audit -)" \
  holds "accounts jsonl-stdin '[3,3,0,0,0]'"

audit concat "$F/concatenated.json"
expect_audit concat 1 '[2,2,0,0,0]' "concatenated JSON values: both evaluated"

audit trailing "$F/trailing.json"
expect_audit trailing 2 '[2,1,0,0,1]' "trailing data after JSON: an error with its offset, the object before it evaluated" \
  "q trailing '.errors[0].error' | grep -q 'bytes at byte offset 218 are not a JSON object or array'"

audit middle "$F/broken-middle.yaml"
expect_audit middle 2 '[3,2,0,0,1]' "a broken YAML document between two good ones: file:line:column, the others evaluated" \
  "is middle '[.results[].name]' '[\"before\",\"after\"]' &&
    q middle '.errors[0].error' | grep -q 'broken-middle.yaml:12:5: '"

audit yaml-list "$F/list.yaml"
expect_audit yaml-list 2 '[7,5,0,0,2]' "YAML List (kubectl get -o yaml): read item by item; a broken item and a non-List with items are errors" \
  "is yaml-list '[.results[].name]' '[\"a\",\"c\",\"after\",\"d\",\"e\"]' &&
    is yaml-list '[.results[].source | sub(\".*/\"; \"\")]' '[\"list.yaml:4#items[0]\",\"list.yaml:18#items[2]\",\"list.yaml:34\",\"list.yaml:48#items[0]\",\"list.yaml:65#items[0]\"]' &&
    q yaml-list '.errors[0].source' | grep -q 'list.yaml:18#items\\[1\\]' &&
    q yaml-list '.errors[1].error' | grep -q 'whose kind is not a List'"
python3 -c "
print('apiVersion: v1\nitems:')
for i in range(3000):
    print('- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: p%d\n    namespace: shop\n  spec:\n    containers:\n    - name: app\n      image: registry.example/app:1.0' % i)
print('kind: List\nmetadata: {}')" >"$WORK/big-list.yaml"
audit yaml-big --max-object-bytes 4096 "$WORK/big-list.yaml"
audit yaml-big-item --max-object-bytes 170 "$F/list.yaml"
check "a YAML List over the per-object cap is read item by item; an item over it is an error for that item" \
  holds "accounts yaml-big '[3000,3000,0,0,0]' &&
    accounts yaml-big-item '[7,2,0,0,5]' && q yaml-big-item '.errors[0].error' | grep -q 'List item larger than the per-object limit'"

audit pods-only "$F/pods-only.json"
expect_audit pods-only 1 '[3,3,0,0,0]' "pods-only snapshot: pods whose ReplicaSet is not in the input are evaluated" \
  "is pods-only '.summary.denied' 2"

audit owners "$F/owner-and-pods.json"
expect_audit owners 0 '[4,1,0,3,0]' "owner and pods: pods and ReplicaSet counted as owned, the Deployment evaluated" \
  "is owners '[.results[].kind]' '[\"Deployment\"]'"
audit owners-all --include-owned "$F/owner-and-pods.json"
check "--include-owned evaluates every one" \
  holds "accounts owners-all '[4,4,0,0,0]'"

audit ns-default "$F/no-namespace.yaml"
audit ns-sandbox --namespace sandbox "$F/no-namespace.yaml"
check "no namespace: judged in default (denied), --namespace sandbox reaches its exception" \
  holds "rc ns-default 1 && is ns-default '.results[0].namespace' '\"default\"' &&
    rc ns-sandbox 0 && is ns-sandbox '.results[0] | [.namespace, .allowed]' '[\"sandbox\",true]'"
"$KADMIT" audit --policies "$F/policy.yaml" -o policyreport --fail-on never "$F/no-namespace.yaml" \
  >"$WORK/ns.policyreport.json" 2>/dev/null
check "no namespace: its PolicyReport is in namespace default, not the ClusterPolicyReport" \
  bash -c "jq -e '[.items[] | [.kind, .metadata.namespace]] == [[\"PolicyReport\",\"default\"]]' $WORK/ns.policyreport.json >/dev/null"
audit ns-bad --namespace 'Not_A_Namespace' "$F/no-namespace.yaml"
check "--namespace must be a namespace name" rc ns-bad 2

audit empty-yaml "$F/empty.yaml"
audit empty-json "$F/empty.json"
audit empty-stdin - </dev/null
check "empty input: exit 2 with a reason" \
  holds "rc empty-yaml 2 && rc empty-json 2 && rc empty-stdin 2 &&
    grep -q 'holds no documents' $WORK/empty-stdin.err"

# Text: the accounting line, no kind/name repeated per finding, wrapped to COLUMNS, NO_COLOR.
COLUMNS=60 "$KADMIT" audit --policies "$F/policy.yaml" "$F/pods.jsonl" "$F/broken-middle.yaml" \
  >"$WORK/text.txt" 2>/dev/null
check "text: accounting line" grep -q '^read 6: 5 evaluated, 0 skipped' "$WORK/text.txt"
check "text: lines fit in COLUMNS=60" bash -c "! awk 'length > 60' $WORK/text.txt | grep -v 'read 6\\|ERROR\\|DENY' | grep -q ."
check "text: findings do not repeat the kind and name" bash -c "! grep -q 'resources-required: Pod' $WORK/text.txt"
script -qec "NO_COLOR=1 COLUMNS=100 $KADMIT audit --policies $F/policy.yaml $F/pods.jsonl" /dev/null \
  >"$WORK/tty-nocolor.txt" 2>&1
script -qec "COLUMNS=100 $KADMIT audit --policies $F/policy.yaml $F/pods.jsonl" /dev/null \
  >"$WORK/tty-color.txt" 2>&1
check "text on a terminal: colour, none with NO_COLOR" \
  bash -c "grep -q $'\\033\\[' $WORK/tty-color.txt && ! grep -q $'\\033\\[' $WORK/tty-nocolor.txt"

# Large input: a List over the old 64 MiB file cap (generated here), and an object over the
# per-object cap (a clear error for that object only).
python3 - "$WORK/list-input.json" <<'PY'
import json, sys
pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop",
       "annotations": {"filler": "x" * 4000}},
       "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0",
       "resources": {"requests": {"cpu": "100m"}, "limits": {"memory": "64Mi"}}}]}}
n = 17000  # about 4.2 KB each: 71 MB
with open(sys.argv[1], "w") as f:
    f.write('{"apiVersion":"v1","items":[')
    for i in range(n):
        pod["metadata"]["name"] = "p-%d" % i
        f.write(("," if i else "") + json.dumps(pod))
    big = dict(pod, metadata={"name": "huge", "namespace": "shop",
                              "annotations": {"filler": "y" * (9 * 1024 * 1024)}})
    f.write("," + json.dumps(big))
    f.write('],"kind":"List","metadata":{}}\n')
PY
start=$(date +%s%N)
audit big "$WORK/list-input.json"
echo "  71 MB List: $((($(date +%s%N) - start) / 1000000)) ms"
check "a List over 64 MiB is read item by item; the 9 MiB item is an error, the rest evaluated" \
  holds "[ \$(stat -c %s $WORK/list-input.json) -gt 67108864 ] &&
    rc big 2 && accounts big '[17001,17000,0,0,1]' &&
    q big '.errors[0].error' | grep -q 'larger than the per-object limit'"
audit big-limit --max-object-bytes 100 "$F/pods.jsonl"
check "--max-object-bytes: the per-object cap is a flag" \
  holds "accounts big-limit '[3,0,0,0,3]'"

rc=0
"$KADMIT" review --endpoint validate "$F/unknown-operation/request.json" >/dev/null 2>"$WORK/explode.err" || rc=$?
check "review: an unknown operation is exit 2 with its reason" \
  bash -c "[ $rc -eq 2 ] && grep -q 'unknown request.operation \"EXPLODE\"' $WORK/explode.err"

# Streaming (issue #22): -o jsonl, results written as they are decided, progress on a terminal.
audit jsonl-out --include-owned "$F/pods.jsonl"
"$KADMIT" audit --policies "$F/policy.yaml" -o jsonl "$F/pods-only.json" "$F/trailing.json" \
  >"$WORK/order.jsonl" 2>/dev/null
check "-o jsonl: one record per line, errors in the stream, the summary last" \
  bash -c "jq -e -s 'map(.type) == [\"result\",\"result\",\"error\",\"result\",\"result\",\"summary\"] and
    .[-1].read == 5 and .[-1].owned == 0' $WORK/order.jsonl >/dev/null"
check "-o jsonl: decided results first, objects waiting for their controller at the end" \
  bash -c "[ \"\$(jq -r -s 'map(select(.type==\"result\") | .name) | join(\",\")' $WORK/order.jsonl)\" = static,a,web-6d4f-a,web-6d4f-b ]"
# Objects waiting for their controller go to a temporary file (flat memory) and are settled at
# the end; without a writable $TMPDIR they wait in memory, with the same result.
names() { jq -r -s '[.[] | select(.type=="result") | .kind + "/" + .name] + [.[-1].owned | tostring] | join(",")' "$1"; }
for tmp in "$WORK" /nonexistent; do
  TMPDIR=$tmp "$KADMIT" audit --policies "$F/policy.yaml" -o jsonl "$F/owner-and-pods.json" \
    "$F/pods-only.json" >"$WORK/owned.jsonl" 2>/dev/null
  TMPDIR=$tmp "$KADMIT" audit --policies "$F/policy.yaml" -o jsonl "$F/pods-only.json" \
    >"$WORK/waiting.jsonl" 2>/dev/null
  check "-o jsonl, TMPDIR=$tmp: pods before their ReplicaSet and Deployment are owned; pods without theirs reported last" \
    holds "[ \"\$(names $WORK/owned.jsonl)\" = Deployment/web,Pod/static,5 ] &&
      [ \"\$(names $WORK/waiting.jsonl)\" = Pod/static,Pod/web-6d4f-a,Pod/web-6d4f-b,0 ] &&
      ! ls -A $WORK | grep -q kadmit-audit-"
done
for fmt in jsonl json; do
  python3 - "$KADMIT" "$F/policy.yaml" "$F/pods.jsonl" "$fmt" >"$WORK/live-$fmt.txt" 2>&1 <<'PY'
import json, os, subprocess, sys, select
kadmit, policy, pods, fmt = sys.argv[1:5]
lines = open(pods).read().splitlines(True)
p = subprocess.Popen([kadmit, "audit", "--policies", policy, "-o", fmt, "-"],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
p.stdin.write(lines[0].encode()); p.stdin.flush()
# the first result arrives while the input is still open
first = b""
while b'"a"' not in first and select.select([p.stdout], [], [], 20)[0]:
    chunk = os.read(p.stdout.fileno(), 65536)
    if not chunk:
        break
    first += chunk
p.stdin.write("".join(lines[1:]).encode()); p.stdin.close()
rest = p.stdout.read()
p.wait()
print("first-before-eof" if b'"a"' in first else "no early result: %r" % first)
whole = (first + rest).decode()
if fmt == "jsonl":
    print(len(whole.splitlines()) - 1)
else:
    print(len(json.loads(whole)["results"]))
PY
  check "-o $fmt on a pipe: the first result is written before the input ends" \
    bash -c "head -1 $WORK/live-$fmt.txt | grep -q first-before-eof && [ \"\$(sed -n 2p $WORK/live-$fmt.txt)\" = 3 ]"
done
python3 tests/bench/gen_pods.py 3000 >"$WORK/pods3k.json"
# markdown keeps only the rows it prints; the others still count in its per-rule table
"$KADMIT" audit --policies "$F/policy.yaml" -o markdown --fail-on never "$WORK/pods3k.json" >"$WORK/pods3k.md"
"$KADMIT" audit --policies "$F/policy.yaml" -o json --fail-on never "$WORK/pods3k.json" >"$WORK/pods3k.json.out"
total=$(jq .summary.findings.total "$WORK/pods3k.json.out")
check "markdown past its 200 rows: the rest counted ('and N more', per-rule totals), as json counts them" \
  bash -c "[ $total -gt 200 ] && [ \$(grep -c '^| object |' $WORK/pods3k.md) = 200 ] &&
    grep -q '^\.\.\. and $((total - 200)) more findings' $WORK/pods3k.md &&
    [ \$(sed -n '/Findings by rule/,/Findings by namespace/p' $WORK/pods3k.md | awk -F'|' '/^\| [a-z]/ {s += \$6} END {print s}') = $total ]"
script -qec "$KADMIT audit --policies $F/policy.yaml -o jsonl $WORK/pods3k.json >/dev/null" /dev/null \
  >"$WORK/progress-tty.txt" 2>&1
"$KADMIT" audit --policies "$F/policy.yaml" -o jsonl "$WORK/pods3k.json" >/dev/null 2>"$WORK/progress-pipe.txt"
script -qec "$KADMIT audit --quiet --policies $F/policy.yaml -o jsonl $WORK/pods3k.json >/dev/null" /dev/null \
  >"$WORK/progress-quiet.txt" 2>&1
check "progress on a terminal (objects read, rate, MB of the input); none when piped or --quiet" \
  bash -c "grep -aq 'objects read (.*/s), .* of .* MB of' $WORK/progress-tty.txt &&
    ! grep -q 'objects read' $WORK/progress-pipe.txt && ! grep -aq 'objects read' $WORK/progress-quiet.txt"

# RBAC: a role is judged with the bindings of the whole input, even those read after it
audit rbac "$F/rbac.yaml"
check "RBAC: roles related to later bindings (agent's secrets, agent's ClusterRole), ClusterRoleBinding denied" \
  holds "rc rbac 1 && accounts rbac '[10,10,0,0,0]' &&
    is rbac '[.results[] | select(.violations != []) | [.kind, .namespace, .name, .violations[0].action, .violations[0].path]]' \
      '[[\"ClusterRoleBinding\",\"\",\"agent-view\",\"enforce\",\"/subjects/0\"],[\"Role\",\"ai-agents\",\"agent-reader\",\"warn\",\"/rules/1/resources\"],[\"ClusterRole\",\"\",\"agent-events\",\"warn\",\"/rules/0/verbs\"]]' &&
    q rbac '.results[] | select(.name == \"agent-reader\" and .kind == \"Role\") | .violations[0].message' |
      grep -q 'bound to ServiceAccount ai-agents/agent-sa by RoleBinding ai-agents/agent-reader'"
# the same Role alone: no binding in the input, so it is not an agent's role
awk 'NR > 1 && /^---/ {exit} {print}' "$F/rbac.yaml" >"$WORK/role-alone.yaml"
audit rbac-alone "$WORK/role-alone.yaml"
expect_audit rbac-alone 0 '[1,1,0,0,0]' "RBAC: the agent-reader Role without its binding passes (a Role alone grants nothing)"
# past KA_AUDIT_MAX_RBAC_OBJECTS (65536) roles and bindings, each is an error item
python3 - "$WORK/many-roles.json" <<'PY'
import json, sys
items = [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
          "metadata": {"name": "r%d" % i, "namespace": "ai-agents"},
          "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]} for i in range(65538)]
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, open(sys.argv[1], "w"))
PY
audit many-rbac "$WORK/many-roles.json"
expect_audit many-rbac 2 '[65538,65536,0,0,2]' "RBAC: past 65536 roles and bindings in one audit, the rest are errors naming the limit" \
  "q many-rbac '.errors[0].error' | grep -q KA_AUDIT_MAX_RBAC_OBJECTS"

audit custom-kinds "$F/custom-kinds.yaml"
expect_audit custom-kinds 1 '[2,1,1,0,0]' "a custom resource named Job (batch.volcano.sh) is skipped under its apiVersion, the batch Job judged" \
  "is custom-kinds '[.results[] | .apiVersion]' '[\"batch/v1\"]' &&
    is custom-kinds '.summary.skippedKinds' '{\"batch.volcano.sh/v1alpha1 Job\":1}'"

audit separators "$F/separators.yaml"
expect_audit separators 2 '[7,0,6,0,1]' "document separators as kubectl reads them: a comment or white space (form feed, no-break space) after ---; '--- !!map' an error naming it" \
  "q separators '.errors[0].error' | grep -q 'invalid document separator ..--- !!map..: only spaces or a comment'"

audit no-apiversion "$F/no-apiversion.yaml"
expect_audit no-apiversion 2 '[2,1,0,0,1]' "an object with a kind but no apiVersion is an error (kubectl refuses it), not judged as the core kind" \
  "q no-apiversion '.errors[0].error' | grep -q 'Deployment has no apiVersion' && is no-apiversion '[.results[] | .name]' '[\"with-version\"]'"

audit directive "$F/directive.yaml"
expect_audit directive 2 '[2,0,1,0,1]' "a %YAML directive is an error naming it (kubectl refuses it), the document after it is read" \
  "q directive '.errors[0]' | grep -q '\"source\":\"[^\"]*directive.yaml:1\".*YAML directive \\\\\"%YAML 1.1\\\\\": kubectl'"

audit rollouts "$F/rollouts.yaml"
check "Argo Rollouts: the template judged as a Deployment's, a workloadRef Rollout passes, its ReplicaSet owned, another group's Rollout skipped" \
  bash -c "$(declare -f is q accounts rc); WORK=$WORK; rc rollouts 1 && accounts rollouts '[4,2,1,1,0]' &&
    is rollouts '[.results[] | [.kind, .name, .allowed]]' '[[\"Rollout\",\"agent\",false],[\"Rollout\",\"by-ref\",true]]' &&
    is rollouts '.summary.skippedKinds' '{\"example.com/v1 Rollout\":1}'"

# an unrendered Helm template (istio/istio samples/ambient-argo/tag-chart/templates/shimservice.yaml,
# cut to its first lines): "{{" is sniffed as JSON, as kubectl does; the error says to render it
audit helm-template "$F/helm-template.yaml"
expect_audit helm-template 2 '[1,0,0,0,1]' "an unrendered Helm template: an error that says to render it first" \
  "q helm-template '.errors[0].error' | grep -q 'starts a template: render it first (helm template)'"

audit helm-chart "$F/helm-chart"
check "a Helm chart directory: Chart.yaml, values.yaml, a kind-less kustomization.yaml skipped as not Kubernetes objects, by file; the template and a document with metadata but no kind are errors" \
  bash -c "$(declare -f is q accounts rc); WORK=$WORK; rc helm-chart 2 && accounts helm-chart '[5,0,3,0,2]' &&
    is helm-chart '.summary.skippedNotKubernetes' '{\"Chart.yaml\":1,\"kustomization.yaml\":1,\"values.yaml\":1}' &&
    q helm-chart '[.errors[].error]' | grep -q 'document has no kind (it has metadata' &&
    q helm-chart '[.errors[].error]' | grep -q 'a template: render it first (helm template)'"
"$KADMIT" audit --policies "$F/policy.yaml" "$F/helm-chart" >"$WORK/helm-chart.txt" 2>/dev/null
check "text: the accounting line names the non-Kubernetes files" \
  bash -c "tr '\\n' ' ' <'$WORK/helm-chart.txt' | grep -q 'not Kubernetes *objects, no kind or metadata: *Chart.yaml 1, *kustomization.yaml 1, *values.yaml 1'"

check "--help documents input formats, owned objects, --namespace and the accounting line" \
  bash -c "\"$KADMIT\" audit --help | grep -q 'anchors, aliases' && \"$KADMIT\" audit --help | grep -q 'jq -c' &&
    \"$KADMIT\" audit --help | grep -q 'Owned objects' && \"$KADMIT\" audit --help | grep -q -- '--namespace NS' &&
    \"$KADMIT\" audit --help | grep -q 'read N: E evaluated'"
finish
