# Scenarios and helpers for tests/e2e/run.sh (sourced, not executed).
#
# Each scenario is a function sc_<name with - as _> run in a subshell with `set -eE`; any failing
# command or assertion fails it. Exit status 77 (from `skip`) marks it skipped. In the subshell:
#   NS       a namespace of its own (e2e-<name>); create it with ns_create
#   k        kubectl with the run's kubeconfig
# Scenario names starting with cluster- do not need kadmit.
# shellcheck shell=bash disable=SC2154

ALL_SCENARIOS=(
  cluster-smoke
  webhook-health
  checklist-admitted
  reject-no-limits
  agent-sidecar
  memory-spine-preferred
  agent-rbac
  warn-rule
  dry-run
  update-ratchet
  ratchet-set-image
  ephemeral-container
  caller-auth
  excluded-namespace
  policy-reload
  policy-overlay
  generate-name
  argo-rollout
  api-server-changes
  no-annotations
  escaping
  image-attestation
  registry-attestation
  registry-miss
  stale-scan-replacement
  deploy-kustomize
  audit-cluster
  latency
  webhook-down
  kadmit-log
)

# ---- assertions -----------------------------------------------------------------------------
fail() { echo "ASSERTION FAILED: $*" >&2; exit 1; }
skip() { echo "$*"; exit 77; }
step() { echo "--- $*"; }
assert_eq() { # assert_eq ACTUAL EXPECTED WHAT
  [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"
  echo "ok: $3 = '$2'"
}
assert_contains() { # assert_contains HAYSTACK NEEDLE WHAT
  case "$1" in *"$2"*) echo "ok: $3 contains '$2'" ;; *) fail "$3: '$2' not found in: $1" ;; esac
}
assert_not_contains() {
  case "$1" in *"$2"*) fail "$3: unexpected '$2' in: $1" ;; *) echo "ok: $3 lacks '$2'" ;; esac
}
assert_match() { # assert_match HAYSTACK ERE WHAT
  if printf '%s' "$1" | grep -Eq -- "$2"; then echo "ok: $3 matches /$2/"; else fail "$3: /$2/ does not match: $1"; fi
}
assert_absent() { # assert_absent KIND NAME [NS]
  if k get "$1" "$2" -n "${3:-$NS}" >/dev/null 2>&1; then fail "$1 ${3:-$NS}/$2 exists but must not"; fi
  echo "ok: $1 ${3:-$NS}/$2 was not stored"
}
# expect_ok OUTVAR CMD...   : CMD must succeed; its stdout+stderr go to OUTVAR
expect_ok() {
  local __var="$1" __out __rc=0; shift
  __out="$("$@" 2>&1)" || __rc=$?
  echo "\$ $*"; printf '%s\n' "$__out" | sed 's/^/  | /'
  [ "$__rc" = 0 ] || fail "command failed (rc $__rc): $*"
  printf -v "$__var" '%s' "$__out"
}
# expect_fail OUTVAR CMD... : CMD must fail; its stdout+stderr go to OUTVAR
expect_fail() {
  local __var="$1" __out __rc=0; shift
  __out="$("$@" 2>&1)" || __rc=$?
  echo "\$ $*"; printf '%s\n' "$__out" | sed 's/^/  | /'
  [ "$__rc" != 0 ] || fail "command succeeded but must fail: $*"
  printf -v "$__var" '%s' "$__out"
}

# kadmit's rule ids: a kubectl "Warning:" line naming one of them came from kadmit (the API server
# adds warnings of its own, e.g. for duplicate container ports in the checklist fixture).
# The ids come from the registry itself (`kadmit rules -o json`), never typed here.
rule_ids() { "$KADMIT" rules -o json | jq -r '[.[].id] | join("|")'; }
assert_no_rule_warning() {
  local ids; ids="$(rule_ids)"
  [ -n "$ids" ] || fail "kadmit rules -o json listed no rule ids"
  if printf '%s\n' "$1" | grep -Eq "^Warning: .*($ids)"; then fail "unexpected kadmit warning in: $1"; fi
  echo "ok: no kadmit Warning line"
}

ns_create() { # ns_create [NAME]  (idempotent)
  local n="${1:-$NS}"
  k get namespace "$n" >/dev/null 2>&1 || k create namespace "$n" >/dev/null
}
jget() { # jget KIND NAME JQ-FILTER [NS]  -> raw jq output of the stored object
  k get "$1" "$2" -n "${4:-$NS}" -o json | jq -r "$3"
}
create_yaml() { k create -n "$NS" -f - ; }   # stdin manifest

# ---- manifests ------------------------------------------------------------------------------
IMG_APP="registry.chaozcode.com/e2e-app:1.0.0"
SIDECAR_IMAGE="registry.chaozcode.com/agent-metrics:1.2.0"

# pod_yaml NAME [key=value...]
#   app=LABEL        metadata.labels.app
#   labels="k: v,.." extra labels (YAML flow mapping body)
#   ann="k: v,.."    metadata.annotations (YAML flow mapping body); default none at all
#   image=IMG        container image (default $IMG_APP)
#   cname=NAME       container name (default app)
#   resources=0|1    requests+limits (default 1)
#   probes=0|1       readiness+liveness (default 1)
#   port=http|8080   a containerPort named http / unnamed 8080 (default none)
#   tgp=SECONDS      terminationGracePeriodSeconds
#   gen=1            generateName NAME instead of name
pod_yaml() {
  local name="$1"; shift
  local app="" labels="" ann="" image="$IMG_APP" cname=app resources=1 probes=1 port="" tgp="" gen=0 kv
  for kv in "$@"; do local "$kv"; done
  echo "apiVersion: v1"
  echo "kind: Pod"
  echo "metadata:"
  if [ "$gen" = 1 ]; then echo "  generateName: $name"; else echo "  name: $name"; fi
  if [ -n "$app" ] || [ -n "$labels" ]; then
    echo "  labels: {${app:+app: $app}${app:+${labels:+, }}$labels}"
  fi
  [ -z "$ann" ] || echo "  annotations: {$ann}"
  echo "spec:"
  [ -z "$tgp" ] || echo "  terminationGracePeriodSeconds: $tgp"
  echo "  containers:"
  echo "  - name: $cname"
  echo "    image: \"$image\""
  case "$port" in
    http) echo "    ports: [{name: http, containerPort: 8080}]" ;;
    8080) echo "    ports: [{containerPort: 8080}]" ;;
  esac
  if [ "$resources" = 1 ]; then
    echo "    resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 200m, memory: 128Mi}}"
  fi
  if [ "$probes" = 1 ]; then
    echo "    readinessProbe: {httpGet: {path: /ready, port: 8080}}"
    echo "    livenessProbe: {httpGet: {path: /live, port: 8080}, initialDelaySeconds: 30, periodSeconds: 20}"
  fi
}

# deploy_yaml NAME [resources=0|1] [extra=1 (second container without limits)]
deploy_yaml() {
  local name="$1"; shift
  local resources=1 extra=0 kv
  for kv in "$@"; do local "$kv"; done
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $name
spec:
  replicas: 1
  selector: {matchLabels: {app: $name}}
  template:
    metadata:
      labels: {app: $name}
    spec:
      containers:
      - name: app
        image: "$IMG_APP"
$( [ "$resources" = 1 ] && echo "        resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 200m, memory: 128Mi}}" )
        readinessProbe: {httpGet: {path: /ready, port: 8080}}
        livenessProbe: {httpGet: {path: /live, port: 8080}}
$( [ "$extra" = 1 ] && printf '%s\n' "      - name: extra" "        image: \"$IMG_APP\"" \
     "        readinessProbe: {httpGet: {path: /ready, port: 8081}}" \
     "        livenessProbe: {httpGet: {path: /live, port: 8081}}" )
EOF
}

# memory_spine_yaml NAME required|preferred
memory_spine_yaml() {
  local aff
  if [ "$2" = required ]; then
    aff="requiredDuringSchedulingIgnoredDuringExecution: [{labelSelector: {matchLabels: {app: memory-spine}}, topologyKey: kubernetes.io/hostname}]"
  else
    aff="preferredDuringSchedulingIgnoredDuringExecution: [{weight: 100, podAffinityTerm: {labelSelector: {matchLabels: {app: memory-spine}}, topologyKey: kubernetes.io/hostname}}]"
  fi
  cat <<EOF
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: $1
spec:
  serviceName: $1
  replicas: 3
  selector: {matchLabels: {app: memory-spine}}
  template:
    metadata:
      labels: {app: memory-spine}
    spec:
      affinity:
        podAntiAffinity:
          $aff
      containers:
      - name: memory-spine
        image: registry.chaozcode.com/memory-spine:3.1.0
        resources: {requests: {cpu: "1", memory: 4Gi}, limits: {cpu: "4", memory: 8Gi}}
        readinessProbe: {httpGet: {path: /health, port: 8788}}
        livenessProbe: {httpGet: {path: /health, port: 8788}}
        env: [{name: SPINE_REPLICATION_FACTOR, value: "2"}]
        volumeMounts: [{name: spine-data, mountPath: /data}]
  volumeClaimTemplates:
  - metadata: {name: spine-data}
    spec: {accessModes: [ReadWriteOnce], storageClassName: fast-ssd, resources: {requests: {storage: 50Gi}}}
EOF
}

# ---- policy file ----------------------------------------------------------------------------
# The webhook runs with --policies $POLICY_DIR, holding $POLICY: a copy of the repository's policies/checklist.yaml
# with image-scan-attestation off, because the e2e images have no scan attestations (except in
# image-attestation). Scenarios change rule actions with policy_apply.

# set_action RULE ACTION  (stdin -> stdout): sets `action:` of the spec.rules item with id RULE
set_action() {
  awk -v rule="$1" -v act="$2" '
    function flush(   i, done, idl, ind) {
      if (n == 0) return
      if (match_item) {
        done = 0
        for (i = 1; i <= n; i++) if (buf[i] ~ /^[ -]*action:[ ]*/ && !done) {
          sub(/action:[ ]*[A-Za-z"'"'"']+/, "action: " act, buf[i]); done = 1 }
        for (i = 1; i <= n; i++) {
          print buf[i]
          if (!done && buf[i] ~ /^[ -]*id:[ ]*/) {
            ind = buf[i]; sub(/id:.*/, "", ind); gsub(/-/, " ", ind)
            print ind "action: " act; done = 1
          }
        }
      } else for (i = 1; i <= n; i++) print buf[i]
      n = 0; match_item = 0
    }
    function indent(s) { match(s, /^ */); return RLENGTH }
    {
      line = $0
      if (!in_rules) { print line; if (line ~ /^[ ]*rules:[ ]*$/) { in_rules = 1; item_ind = -1 } ; next }
      blank = (line ~ /^[ ]*(#.*)?$/)
      if (!blank) {
        ii = indent(line)
        if (item_ind < 0 && line ~ /^[ ]*- /) item_ind = ii
        if (ii < item_ind || (ii == item_ind && line !~ /^[ ]*- /)) { flush(); in_rules = 0; print line; next }
        if (ii == item_ind && line ~ /^[ ]*- /) flush()
      }
      buf[++n] = line
      t = line; sub(/^[ -]*/, "", t)
      if (t ~ ("^id:[ ]*[\"'"'"']?" rule "[\"'"'"']?[ ]*(#.*)?$")) match_item = 1
    }
    END { flush() }'
}

policy_init() {
  local src="$REPO/policies/checklist.yaml"
  # image-scan-attestation off (if the policy has it): the test images have no attestations.
  # $POLICY_EXCLUDED_NS joins spec.exclude.namespaces (a flow list on one line in the checklist).
  # Its attestation directory and scanner keys point into the work directory (image-attestation).
  set_action image-scan-attestation off <"$src" \
    | sed -E -e "s/^([[:space:]]*namespaces:[[:space:]]*\[)(.*kadmit-system.*)\]/\1\2, $POLICY_EXCLUDED_NS]/" \
        -e "s#^([[:space:]]*attestationsDir:).*#\1 $WORK/attestations#" \
        -e "s#^([[:space:]]*keyFiles:).*#\1 [$WORK/attestation-keys/*.pem]#" >"$POLICY_BASE"
  mkdir -p "$WORK/attestations" "$WORK/attestation-keys"
  echo 0 >"$WORK/policy.last-write"
}

# policy_write [--in-place] [RULE=ACTION...]: base policy with the given actions, to $POLICY.
# Default is an atomic rename (how a ConfigMap volume update looks); --in-place rewrites the
# existing file (how an editor saves). Waits for a new wall-clock second first so the mtime
# always moves, whatever its granularity.
policy_write() {
  local mode=rename tmp="$WORK/policy.tmp" a last
  if [ "${1:-}" = --in-place ]; then mode=inplace; shift; fi
  cp "$POLICY_BASE" "$tmp"
  for a in "$@"; do set_action "${a%%=*}" "${a#*=}" <"$tmp" >"$tmp.2" && mv "$tmp.2" "$tmp"; done
  last="$(cat "$WORK/policy.last-write" 2>/dev/null || echo 0)"
  while [ "$(date +%s)" -le "$last" ]; do sleep 0.1; done
  if [ "$mode" = inplace ] && [ -f "$POLICY" ]; then cat "$tmp" >"$POLICY"; rm -f "$tmp"; else mv "$tmp" "$POLICY"; fi
  date +%s >"$WORK/policy.last-write"
}

# probe RULE: what the webhook currently does with a server-side dry-run pod that breaks only
# RULE (resources-required or image-pinned). Prints reject, warn or admit.
probe() {
  local out rc=0 args=()
  case "$1" in
    resources-required) args=(resources=0) ;;
    image-pinned) args=(image=registry.chaozcode.com/e2e-app:latest) ;;
    *) echo "probe: unsupported rule $1" >&2; return 2 ;;
  esac
  out="$(pod_yaml "probe-$1" "${args[@]}" | k create --dry-run=server -n e2e-probe -f - 2>&1)" || rc=$?
  if [ "$rc" != 0 ]; then
    case "$out" in *"$1"*) echo reject ;; *) echo "error: $out" ;; esac
  else
    case "$out" in *Warning:*"$1"*) echo warn ;; *) echo admit ;; esac
  fi
}
expected_probe() { case "$1" in enforce) echo reject ;; warn) echo warn ;; *) echo admit ;; esac; }

# policy_apply [--in-place] [RULE=ACTION...]: write the policy, then wait (up to 20s) until the
# webhook visibly follows it for resources-required and image-pinned (the rules the scenarios
# switch). Prints the time the reload took.
policy_apply() {
  local inplace="" rr=enforce ip=enforce a
  if [ "${1:-}" = --in-place ]; then inplace=--in-place; shift; fi
  for a in "$@"; do
    case "$a" in resources-required=*) rr="${a#*=}" ;; image-pinned=*) ip="${a#*=}" ;; esac
  done
  policy_write $inplace "$@"
  await_probes "$rr" "$ip" "${*:-base}"
}

# await_probes RR IP WHAT: wait (up to 20s) until resources-required and image-pinned behave as
# actions RR and IP say.
await_probes() {
  local rr="$1" ip="$2" t0=$SECONDS got1 got2
  while :; do
    got1="$(probe resources-required)"; got2="$(probe image-pinned)"
    if [ "$got1" = "$(expected_probe "$rr")" ] && [ "$got2" = "$(expected_probe "$ip")" ]; then
      echo "policy applied ($3) and in effect after $((SECONDS - t0))s"
      return 0
    fi
    [ $((SECONDS - t0)) -lt 20 ] || { echo "policy $3 not in effect after 20s: resources-required=$got1 image-pinned=$got2" >&2; return 1; }
    sleep 0.3
  done
}

# ---- webhook registration -------------------------------------------------------------------
MUTATING_NAME=mutate.kadmit.dev
VALIDATING_NAME=validate.kadmit.dev
# Namespaces with this label are skipped by the shipped namespaceSelector (latency baseline).
IGNORE_LABEL=kadmit.dev/ignore
# A namespace only kadmit's policy excludes (added to spec.exclude.namespaces by policy_init).
POLICY_EXCLUDED_NS=e2e-policy-excluded

# The registered configurations are the shipped ones, deploy/base/webhooks.yaml, rendered by
# `kadmit certs --render-webhooks --webhook-url https://127.0.0.1:PORT` (caBundle filled,
# clientConfig.url instead of the Service), renamed kadmit-e2e so that deploy-kustomize
# dry-runs a fresh install. If rendering fails, an equivalent hand-written configuration is
# registered instead and webhook-health fails, naming the reason.
register_webhooks() {
  local tmpl=() rendered="$WORK/webhooks.yaml"
  ns_create e2e-probe
  [ ! -f "$REPO/deploy/base/webhooks.yaml" ] || tmpl=(--webhooks-template "$REPO/deploy/base/webhooks.yaml")
  if "$KADMIT" certs --out-dir "$KADMIT_CERTS" --render-webhooks "$rendered" \
       --webhook-url "https://127.0.0.1:$KADMIT_PORT" "${tmpl[@]}" >"$LOGS/render-webhooks.log" 2>&1 \
     && grep -q "url: .*127.0.0.1:$KADMIT_PORT/validate" "$rendered"; then
    echo "rendered by kadmit certs --render-webhooks ${tmpl[*]}" >"$WORK/webhooks.source"
    sed -i 's/^  name: kadmit$/  name: kadmit-e2e/' "$rendered"
  else
    echo "hand-written fallback (kadmit certs --render-webhooks failed: $(tr '\n' ' ' <"$LOGS/render-webhooks.log" | head -c 300))" >"$WORK/webhooks.source"
    webhooks_fallback_yaml >"$rendered"
  fi
  cat "$WORK/webhooks.source"
  k apply -f "$rendered"
}

webhook_selector_yaml() {
  cat <<EOF
  namespaceSelector:
    matchExpressions:
    - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, kube-node-lease, kadmit-system]}
    - {key: $IGNORE_LABEL, operator: DoesNotExist}
EOF
}

# mutating_webhook_yaml CONFIG-NAME WEBHOOK-NAME [objectSelector-label]
mutating_webhook_yaml() {
  local ca; ca="$(base64 -w0 <"$KADMIT_CERTS/ca.crt")"
  cat <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: $1
webhooks:
- name: $2
  clientConfig:
    url: https://127.0.0.1:$KADMIT_PORT/mutate
    caBundle: $ca
  admissionReviewVersions: [v1]
  sideEffects: NoneOnDryRun
  timeoutSeconds: 5
  matchPolicy: Equivalent
  reinvocationPolicy: IfNeeded
  failurePolicy: Ignore
EOF
  webhook_selector_yaml
  [ -z "${3:-}" ] || printf '  objectSelector:\n    matchLabels: {%s: "true"}\n' "$3"
  echo "  rules:"
  echo "  - {apiGroups: [\"\"], apiVersions: [v1], operations: [CREATE], resources: [pods], scope: Namespaced}"
}

webhooks_fallback_yaml() {
  local ca; ca="$(base64 -w0 <"$KADMIT_CERTS/ca.crt")"
  mutating_webhook_yaml kadmit-e2e "$MUTATING_NAME"
  cat <<EOF
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: kadmit-e2e
webhooks:
- name: $VALIDATING_NAME
  clientConfig:
    url: https://127.0.0.1:$KADMIT_PORT/validate
    caBundle: $ca
  admissionReviewVersions: [v1]
  sideEffects: NoneOnDryRun
  timeoutSeconds: 5
  matchPolicy: Equivalent
  failurePolicy: Fail
EOF
  webhook_selector_yaml
  cat <<'EOF'
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods, replicationcontrollers], scope: Namespaced}
  - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments, statefulsets, daemonsets, replicasets], scope: Namespaced}
  - {apiGroups: [batch], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [jobs, cronjobs], scope: Namespaced}
  - {apiGroups: [autoscaling], apiVersions: [v2], operations: [CREATE, UPDATE], resources: [horizontalpodautoscalers], scope: Namespaced}
  - {apiGroups: [policy], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [poddisruptionbudgets], scope: Namespaced}
  - {apiGroups: [networking.k8s.io], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [ingresses], scope: Namespaced}
  - {apiGroups: [rbac.authorization.k8s.io], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [roles, rolebindings], scope: Namespaced}
  - {apiGroups: [rbac.authorization.k8s.io], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [clusterroles, clusterrolebindings], scope: Cluster}
  matchConditions:
  - name: not-rbac-bootstrap
    expression: "!(request.resource.group == 'rbac.authorization.k8s.io' && request.userInfo.username == 'system:apiserver')"
EOF
}
webhooks_active() { [ "$(probe resources-required)" = reject ]; }

# apiserver_webhook_calls NAME: how many times the API server called admission webhook NAME
apiserver_webhook_calls() {
  k get --raw /metrics | awk -v n="name=\"$1\"" '
    /^apiserver_admission_webhook_admission_duration_seconds_count/ && index($0, n) { s += $NF }
    END { print s + 0 }'
}

# ---- scenarios ------------------------------------------------------------------------------

sc_cluster_smoke() {
  ns_create
  step "ConfigMap round trip through the real API server"
  k create configmap smoke -n "$NS" --from-literal=greeting=hello --from-literal=path=/a/b
  assert_eq "$(k get configmap smoke -n "$NS" -o jsonpath='{.data.greeting}')" hello "stored greeting"
  assert_eq "$(jget configmap smoke '.data.path')" /a/b "stored path"
  assert_eq "$(k get namespace "$NS" -o jsonpath='{.status.phase}')" Active "namespace phase"
  k delete configmap smoke -n "$NS" --wait=false
}

sc_webhook_health() {
  local out
  step "kadmit health endpoints on the TLS port and metrics on the metrics port"
  for p in healthz readyz; do
    out="$(curl -fsS --max-time 5 --cacert "$KADMIT_CERTS/ca.crt" "${KADMIT_CLIENT_CERT[@]}" "https://127.0.0.1:$KADMIT_PORT/$p")" \
      || fail "GET https://127.0.0.1:$KADMIT_PORT/$p failed"
    echo "ok: TLS /$p -> $out"
    curl -fsS --max-time 5 "http://127.0.0.1:$KADMIT_METRICS_PORT/$p" >/dev/null \
      || fail "GET http://127.0.0.1:$KADMIT_METRICS_PORT/$p failed"
    echo "ok: metrics-port /$p"
  done
  out="$(curl -fsS --max-time 5 "http://127.0.0.1:$KADMIT_METRICS_PORT/metrics")" || fail "GET /metrics failed"
  assert_match "$out" '^kadmit_' "/metrics body"
  step "the registered configurations are the shipped deploy/base/webhooks.yaml"
  assert_contains "$(cat "$WORK/webhooks.source")" "rendered by kadmit certs --render-webhooks" "webhook configuration source"
  step "the API server has called both webhooks"
  [ "$(apiserver_webhook_calls "$VALIDATING_NAME")" -gt 0 ] || fail "no calls to $VALIDATING_NAME"
  [ "$(apiserver_webhook_calls "$MUTATING_NAME")" -gt 0 ] || fail "no calls to $MUTATING_NAME"
  echo "ok: apiserver_admission_webhook_admission_duration_seconds counts both webhooks"
}

sc_checklist_admitted() {
  local dir="$REPO/tests/fixtures/manifests" f ns out
  [ -d "$dir" ] || fail "no $dir in this checkout"
  for f in "$dir"/*.yaml; do
    for ns in $(awk '/^  namespace:/ {print $2}' "$f" | sort -u); do ns_create "$ns"; done
  done
  ns_create
  for f in "$dir"/agent-statefulset.yaml "$dir"/memory-spine-statefulset.yaml "$dir"/agent-hpa.yaml; do
    step "apply $(basename "$f")"
    if grep -q '^  namespace:' "$f"; then expect_ok out k apply -f "$f"; else expect_ok out k apply -n "$NS" -f "$f"; fi
    assert_no_rule_warning "$out"
  done
  ns="$(awk '/^  namespace:/ {print $2; exit}' "$dir/agent-statefulset.yaml")"; ns="${ns:-$NS}"
  assert_eq "$(jget statefulset agent '.spec.template.metadata.labels.app' "$ns")" agent "stored agent StatefulSet"
  assert_eq "$(jget statefulset agent '[.spec.template.spec.containers[] | select(.name=="metrics-sidecar")] | length' "$ns")" 1 \
    "metrics-sidecar containers in the stored agent template"
  assert_eq "$(jget statefulset memory-spine '.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey' "$ns")" \
    kubernetes.io/hostname "stored memory-spine anti-affinity"
  assert_eq "$(jget hpa agent-hpa '.spec.maxReplicas' "$ns")" 50 "stored agent HPA maxReplicas"
}

sc_reject_no_limits() {
  local out
  ns_create
  step "a pod without requests/limits is denied, naming rule, object, container and fix"
  expect_fail out create_yaml < <(pod_yaml nolimits resources=0)
  assert_contains "$out" "denied the request" "kubectl error"
  assert_contains "$out" "resources-required: Pod $NS/nolimits container \"app\": " "kubectl error"
  assert_match "$out" "resources-required: Pod $NS/nolimits container \"app\": [^(]+\\(.+\\)" "kubectl error (what is wrong, then (how to fix))"
  assert_absent pod nolimits
  step "the same pod with limits is admitted"
  expect_ok out create_yaml < <(pod_yaml withlimits)
  k get pod withlimits -n "$NS" >/dev/null
}

assert_agent_mutated() { # assert_agent_mutated POD [NS]
  local p="$1" n="${2:-$NS}" j
  j="$(k get pod "$p" -n "$n" -o json)"
  assert_eq "$(jq '[.spec.containers[] | select(.name=="metrics-sidecar")] | length' <<<"$j")" 1 "metrics-sidecar count in $p"
  assert_eq "$(jq -r '.spec.containers[] | select(.name=="metrics-sidecar") | .image' <<<"$j")" "$SIDECAR_IMAGE" "sidecar image"
  assert_eq "$(jq -r '.metadata.annotations["prometheus.io/scrape"]' <<<"$j")" true "prometheus.io/scrape"
  assert_eq "$(jq -r '.metadata.annotations["prometheus.io/port"]' <<<"$j")" 9090 "prometheus.io/port"
  assert_eq "$(jq -r '.spec.containers[] | select(.name=="agent") | .readinessProbe.httpGet.path' <<<"$j")" /health/ready "agent readinessProbe path"
  assert_eq "$(jq -r '.spec.containers[] | select(.name=="agent") | .livenessProbe.httpGet.path' <<<"$j")" /health/live "agent livenessProbe path"
  assert_eq "$(jq '.spec.containers | length' <<<"$j")" 2 "container count"
}

sc_agent_sidecar() {
  local out calls0 calls1 j
  ns_create
  step "agent pod without sidecar/probes/annotations is admitted and mutated"
  expect_ok out create_yaml < <(pod_yaml agent-1 app=agent cname=agent port=http probes=0 tgp=120)
  assert_agent_mutated agent-1
  step "creating it again from the stored object gives no duplicate sidecar, probe or annotation"
  k get pod agent-1 -n "$NS" -o json | jq '
      del(.metadata.uid, .metadata.resourceVersion, .metadata.creationTimestamp, .metadata.managedFields, .status)
      | .metadata.name = "agent-1-again"' >"$WORK/agent-1-again.json"
  expect_ok out k create -n "$NS" -f "$WORK/agent-1-again.json"
  assert_agent_mutated agent-1-again
  j="$(k get pod agent-1 -n "$NS" -o json)"
  assert_eq "$(k get pod agent-1-again -n "$NS" -o json | jq -c '.spec.containers')" "$(jq -c '.spec.containers' <<<"$j")" \
    "containers of the re-created pod equal the original's"
  step "reinvocation: a second mutating webhook on the same endpoint (reinvocationPolicy IfNeeded)"
  mutating_webhook_yaml kadmit-e2e-double double.kadmit.dev e2e.kadmit.dev/double | k apply -f -
  calls0="$(apiserver_webhook_calls double.kadmit.dev)"
  local t0=$SECONDS
  until pod_yaml agent-probe app=agent cname=agent port=http probes=0 tgp=120 labels='e2e.kadmit.dev/double: "true"' \
        | k create --dry-run=server -n "$NS" -f - >/dev/null 2>&1 \
        && [ "$(apiserver_webhook_calls double.kadmit.dev)" -gt "$calls0" ]; do
    [ $((SECONDS - t0)) -lt 20 ] || fail "the second mutating webhook was never called"
    sleep 0.5
  done
  calls0="$(apiserver_webhook_calls double.kadmit.dev)"
  expect_ok out create_yaml < <(pod_yaml agent-2 app=agent cname=agent port=http probes=0 tgp=120 labels='e2e.kadmit.dev/double: "true"')
  calls1="$(apiserver_webhook_calls double.kadmit.dev)"
  [ "$calls1" -gt "$calls0" ] || fail "double.kadmit.dev was not called for agent-2"
  echo "ok: double.kadmit.dev called $((calls1 - calls0)) time(s) for agent-2"
  assert_agent_mutated agent-2
  k delete mutatingwebhookconfiguration kadmit-e2e-double
}

sc_memory_spine_preferred() {
  local out
  ns_create
  step "Memory Spine StatefulSet with only preferred anti-affinity is denied"
  expect_fail out create_yaml < <(memory_spine_yaml spine-preferred preferred)
  assert_contains "$out" "memory-spine-anti-affinity" "kubectl error"
  assert_contains "$out" "StatefulSet $NS/spine-preferred" "kubectl error"
  assert_absent statefulset spine-preferred
  step "with required anti-affinity it is admitted"
  expect_ok out create_yaml < <(memory_spine_yaml spine-required required)
}

# rbac_yaml KIND NAME [ROLE-KIND ROLE-NAME | VERBS]: a ClusterRoleBinding or RoleBinding of the
# agent's service account, or a Role on pods and configmaps with the verbs (a flow list body).
rbac_yaml() {
  echo "apiVersion: rbac.authorization.k8s.io/v1"
  echo "kind: $1"
  echo "metadata: {name: $2}"
  case "$1" in
    *Binding)
      echo "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: $3, name: $4}"
      echo "subjects: [{kind: ServiceAccount, name: agent-sa, namespace: $NS}]" ;;
    Role)
      echo "rules: [{apiGroups: [\"\"], resources: [pods, configmaps], verbs: [$3]}]" ;;
  esac
}

sc_agent_rbac() {
  local out crb="e2e-agent-view-$NS"
  ns_create
  step "a ClusterRoleBinding of the agent's service account is denied, naming the subject and the fix"
  expect_fail out k create -f - < <(rbac_yaml ClusterRoleBinding "$crb" ClusterRole view)
  assert_contains "$out" "denied the request" "kubectl error"
  assert_contains "$out" "agent-rbac: ClusterRoleBinding $crb: subjects[0] is the agent service account $NS/agent-sa" "kubectl error"
  assert_contains "$out" "bind the agent with a RoleBinding in its own namespace" "kubectl error (the fix)"
  if k get clusterrolebinding "$crb" >/dev/null 2>&1; then fail "ClusterRoleBinding $crb was stored"; fi
  echo "ok: ClusterRoleBinding $crb was not stored"
  step "a RoleBinding of the agent to the edit ClusterRole is denied"
  expect_fail out create_yaml < <(rbac_yaml RoleBinding agent-edit ClusterRole edit)
  assert_contains "$out" "agent-rbac: RoleBinding $NS/agent-edit: subjects[0]" "kubectl error"
  assert_absent rolebinding agent-edit
  step "a read-only Role and its RoleBinding pass, without a kadmit warning"
  expect_ok out create_yaml < <(rbac_yaml Role agent-reader "get, list, watch")
  assert_no_rule_warning "$out"
  expect_ok out create_yaml < <(rbac_yaml RoleBinding agent-reader Role agent-reader)
  assert_no_rule_warning "$out"
  assert_eq "$(jget role agent-reader '.rules[0].verbs | join(",")')" get,list,watch "stored Role verbs"
  step "a Role that writes is admitted with a warning (roleAction: warn)"
  expect_ok out create_yaml < <(rbac_yaml Role pod-writer "get, create, delete")
  assert_match "$out" "^Warning: agent-rbac: .*rules\\[0\\] grants create, delete" "kubectl output"
  step "the API server's own RBAC writes (system:apiserver) are not sent to kadmit (matchConditions)"
  expect_ok out k create --as=system:apiserver --as-group=system:masters -f - < <(rbac_yaml ClusterRoleBinding "$crb" ClusterRole view)
  k delete clusterrolebinding "$crb" >/dev/null
  echo "ok: created as system:apiserver, then deleted"
}

sc_warn_rule() {
  local out
  ns_create
  policy_apply image-pinned=warn
  step "an unpinned image under a warn rule: admitted with a kubectl Warning line"
  expect_ok out create_yaml < <(pod_yaml unpinned image=registry.chaozcode.com/e2e-app:latest)
  assert_match "$out" '^Warning: .*image-pinned' "kubectl output"
  assert_eq "$(k get pod unpinned -n "$NS" -o jsonpath='{.spec.containers[0].image}')" registry.chaozcode.com/e2e-app:latest "stored image"
  policy_apply
  step "the same pod under enforce is denied"
  expect_fail out create_yaml < <(pod_yaml unpinned-2 image=registry.chaozcode.com/e2e-app:latest)
  assert_contains "$out" 'image-pinned: Pod' "kubectl error"
}

sc_dry_run() {
  local out
  ns_create
  step "kubectl apply --dry-run=server of an agent pod: mutated answer, nothing stored"
  pod_yaml agent-dry app=agent cname=agent port=http probes=0 tgp=120 >"$WORK/agent-dry.yaml"
  expect_ok out k apply --dry-run=server -n "$NS" -f "$WORK/agent-dry.yaml" -o json
  assert_eq "$(jq '[.spec.containers[] | select(.name=="metrics-sidecar")] | length' <<<"$out")" 1 "sidecar in the dry-run answer"
  assert_eq "$(jq -r '.metadata.annotations["prometheus.io/scrape"]' <<<"$out")" true "scrape annotation in the dry-run answer"
  assert_absent pod agent-dry
  step "a non-compliant pod under dry-run is denied and not stored"
  pod_yaml nolimits-dry resources=0 >"$WORK/nolimits-dry.yaml"
  expect_fail out k apply --dry-run=server -n "$NS" -f "$WORK/nolimits-dry.yaml"
  assert_contains "$out" "resources-required" "kubectl error"
  assert_absent pod nolimits-dry
  assert_eq "$(k get pods -n "$NS" -o name | wc -l | tr -d ' ')" 0 "pods in $NS"
}

sc_update_ratchet() {
  local out
  ns_create
  policy_apply resources-required=off
  step "create a Deployment without limits while resources-required is off"
  expect_ok out create_yaml < <(deploy_yaml legacy resources=0)
  policy_apply
  step "label it under enforce: not worse, so admitted with a warning"
  expect_ok out k label deployment legacy -n "$NS" e2e.kadmit.dev/touched=yes
  assert_match "$out" '^Warning: .*resources-required' "kubectl output"
  assert_eq "$(k get deployment legacy -n "$NS" -o jsonpath='{.metadata.labels.e2e\.kadmit\.dev/touched}')" yes "stored label"
  step "adding a second container without limits makes it worse: denied"
  deploy_yaml legacy resources=0 extra=1 >"$WORK/legacy-worse.yaml"
  expect_fail out k apply -n "$NS" -f "$WORK/legacy-worse.yaml"
  assert_contains "$out" 'resources-required: Deployment' "kubectl error"
  assert_contains "$out" 'container "extra"' "kubectl error"
  assert_eq "$(k get deployment legacy -n "$NS" -o jsonpath='{.spec.template.spec.containers[*].name}')" app "stored containers"
}

sc_ratchet_set_image() {
  local out old_image=registry.chaozcode.com/e2e-app:latest
  ns_create
  policy_apply image-pinned=off
  step "create a Deployment on an unpinned image while image-pinned is off"
  expect_ok out create_yaml < <(deploy_yaml setimg | sed "s#image: \"$IMG_APP\"#image: \"$old_image\"#")
  policy_apply
  step "label it under enforce: the same image, admitted with an (existing) warning"
  expect_ok out k label deployment setimg -n "$NS" e2e.kadmit.dev/touched=yes
  assert_match "$out" '^Warning: \(existing\) image-pinned' "kubectl output"
  step "kubectl set image to another unpinned image: a new subject, denied"
  expect_fail out k set image deployment/setimg -n "$NS" app=registry.chaozcode.com/miner:latest
  assert_contains "$out" 'image-pinned: Deployment' "kubectl error"
  assert_contains "$out" 'miner:latest' "kubectl error"
  assert_eq "$(jget deployment setimg '.spec.template.spec.containers[0].image')" "$old_image" "stored image"
}

# kubectl debug adds an ephemeral container through pods/ephemeralcontainers (UPDATE), which
# the shipped configuration registers; the added container is judged, the pod's own are not
# held against it.
sc_ephemeral_container() {
  local out
  ns_create
  expect_ok out create_yaml < <(pod_yaml target)
  step "kubectl debug with miner:latest and a literal DB_PASSWORD: denied"
  expect_fail out k debug target -n "$NS" --profile=general --image=miner:latest --container=dbg --env=DB_PASSWORD=hunter2
  assert_contains "$out" 'image-pinned: Pod' "kubectl error"
  assert_contains "$out" 'no-literal-secrets: Pod' "kubectl error"
  assert_contains "$out" 'container "dbg"' "kubectl error"
  assert_eq "$(jget pod target '[(.spec.ephemeralContainers // [])[].name] | join(",")')" "" "stored ephemeral containers"
  step "a pinned debug image without literal secrets: admitted"
  expect_ok out k debug target -n "$NS" --profile=general --image="$IMG_APP" --container=dbg2
  assert_eq "$(jget pod target '[(.spec.ephemeralContainers // [])[].name] | join(",")')" dbg2 "stored ephemeral containers"
  step "a raw PATCH of the subresource adding miner:latest: denied"
  expect_fail out k patch pod target -n "$NS" --subresource=ephemeralcontainers --type=json \
    -p '[{"op":"add","path":"/spec/ephemeralContainers/-","value":{"name":"dbg3","image":"miner:latest"}}]'
  assert_contains "$out" 'container "dbg3"' "kubectl error"
  assert_eq "$(jget pod target '[(.spec.ephemeralContainers // [])[].name] | join(",")')" dbg2 "stored ephemeral containers"
}

# The API server calls kadmit with a client certificate (run.sh: --admission-control-config-file
# as in deploy/caller-auth); kadmit runs with --client-ca and --client-allowed-subjects, so only
# that certificate gets in. Every other scenario's admissions go through this path.
sc_caller_auth() {
  local out rc body
  ns_create
  body='{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"direct","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"x","userInfo":{"username":"someone-claimed"},"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"miner:latest"}]}}}}'
  step "a direct POST /validate without a client certificate: refused in the handshake"
  rc=0; out="$(curl -sS --max-time 5 --cacert "$KADMIT_CERTS/ca.crt" -H 'Content-Type: application/json' \
    --data "$body" "https://127.0.0.1:$KADMIT_PORT/validate" 2>&1)" || rc=$?
  [ "$rc" != 0 ] || fail "answered without a client certificate: $out"
  assert_not_contains "$out" "AdmissionReview" "direct answer"
  step "a certificate from the same CA with another CN (the API server's serving cert): refused"
  rc=0; out="$(curl -sS --max-time 5 --cacert "$KADMIT_CERTS/ca.crt" --cert "$PKI/apiserver.crt" \
    --key "$PKI/apiserver.key" -H 'Content-Type: application/json' --data "$body" \
    "https://127.0.0.1:$KADMIT_PORT/validate" 2>&1)" || rc=$?
  [ "$rc" != 0 ] || fail "answered a certificate whose CN is not allowed: $out"
  step "through the API server: admitted and denied as usual, logged with a verified certificate"
  expect_fail out create_yaml < <(pod_yaml auth-miner image=miner:latest)
  assert_contains "$out" 'image-pinned: Pod' "kubectl error"
  assert_contains "$(grep '"name":"auth-miner"' "$WORK/decisions.jsonl" | tail -1)" \
    '"clientCertVerified":true' "decision log line"
  assert_not_contains "$(cat "$WORK/decisions.jsonl")" 'someone-claimed' "decision log"
}

sc_excluded_namespace() {
  local out n j
  grep -q "$POLICY_EXCLUDED_NS" "$POLICY" || fail "could not add $POLICY_EXCLUDED_NS to spec.exclude.namespaces"
  ns_create "$POLICY_EXCLUDED_NS"
  ns_create e2e-ignored
  k label namespace e2e-ignored "$IGNORE_LABEL=true" --overwrite >/dev/null
  # kube-system and kadmit-system: skipped by the namespaceSelector; e2e-ignored: by its label;
  # e2e-policy-excluded: reaches kadmit, which must leave it alone (spec.exclude.namespaces).
  for n in kube-system kadmit-system e2e-ignored "$POLICY_EXCLUDED_NS"; do
    ns_create "$n"
    step "agent pod without limits, probes or grace period in $n: admitted untouched"
    out="$(pod_yaml agent-excluded app=agent cname=agent port=http probes=0 resources=0 | k create -n "$n" -f - 2>&1)" \
      || fail "create in $n failed: $out"
    echo "$out"
    assert_no_rule_warning "$out"
    j="$(k get pod agent-excluded -n "$n" -o json)"
    assert_eq "$(jq '.spec.containers | length' <<<"$j")" 1 "container count in $n"
    assert_eq "$(jq -r '.metadata.annotations // {} | has("prometheus.io/scrape")' <<<"$j")" false "scrape annotation in $n"
    assert_eq "$(jq -r '.spec.containers[0].readinessProbe // "none"' <<<"$j")" none "readinessProbe in $n"
    k delete pod agent-excluded -n "$n" --wait=false >/dev/null
  done
  step "a Deployment without limits in $POLICY_EXCLUDED_NS: kadmit is called and admits it"
  local c0 c1
  c0="$(apiserver_webhook_calls "$VALIDATING_NAME")"
  expect_ok out k create -n "$POLICY_EXCLUDED_NS" -f - < <(deploy_yaml excluded-deploy resources=0)
  assert_no_rule_warning "$out"
  c1="$(apiserver_webhook_calls "$VALIDATING_NAME")"
  [ "$c1" -gt "$c0" ] || fail "$VALIDATING_NAME was not called for $POLICY_EXCLUDED_NS"
  echo "ok: $VALIDATING_NAME was called ($c0 -> $c1) and admitted"
}

sc_policy_reload() {
  ns_create
  step "policy replaced by rename (ConfigMap-style): resources-required off"
  policy_apply resources-required=off
  step "policy rewritten in place (editor-style): back to enforce"
  policy_apply --in-place
  step "policy rewritten in place: image-pinned warn"
  policy_apply --in-place image-pinned=warn
  policy_apply
  pid_alive "$PID_KADMIT" || fail "kadmit (pid $PID_KADMIT) is no longer running"
  echo "ok: the same kadmit process (pid $PID_KADMIT) served every policy"
}

# An admin tunes one rule with an overlay file next to the checklist (a file added to the policies
# ConfigMap generator arrives like this: a new file in the mounted directory). While the same
# kadmit runs: the changed rule follows the overlay and the other rules keep enforcing; a broken
# overlay is refused, the log names its file and line, and the policy in force stays.
sc_policy_overlay() {
  local ov="$POLICY_DIR/50-dev-warn.yaml" tmp="$WORK/overlay.tmp" out t0
  ns_create
  policy_apply
  step "an overlay file sets image-pinned to warn"
  printf '%s\n' 'apiVersion: kadmit.dev/v1alpha1' 'kind: Policy' 'metadata: {name: dev-warn}' \
    'spec:' '  base: checklist' '  rules:' '    - id: image-pinned' '      action: warn' >"$tmp"
  mv "$tmp" "$ov"
  await_probes enforce warn "overlay image-pinned=warn"
  step "the other rules keep enforcing"
  expect_fail out create_yaml < <(pod_yaml no-probes probes=0)
  assert_contains "$out" 'probes-required: Pod' "kubectl error"
  expect_ok out create_yaml < <(pod_yaml unpinned image=registry.chaozcode.com/e2e-app:latest)
  assert_match "$out" '^Warning: .*image-pinned' "kubectl output"
  step "a broken overlay (unknown rule id on line 7) is refused; the overlay in force stays"
  printf '%s\n' 'apiVersion: kadmit.dev/v1alpha1' 'kind: Policy' 'metadata: {name: dev-warn}' \
    'spec:' '  base: checklist' '  rules:' '    - id: image-pined' '      action: audit' >"$tmp"
  mv "$tmp" "$ov"
  expect_log_error '50-dev-warn.yaml:7:11: unknown rule id'
  t0=$SECONDS
  until grep -q '50-dev-warn.yaml:7:11: unknown rule id \\"image-pined\\"' "$LOGS/kadmit.log"; do
    [ $((SECONDS - t0)) -lt 20 ] || fail "no log line naming 50-dev-warn.yaml:7:11 after 20s"
    sleep 0.3
  done
  assert_eq "$(probe image-pinned)" warn "image-pinned after the broken overlay"
  assert_eq "$(probe resources-required)" reject "resources-required after the broken overlay"
  step "the overlay removed: image-pinned enforces again"
  rm -f "$ov"
  await_probes enforce enforce "overlay removed"
  pid_alive "$PID_KADMIT" || fail "kadmit (pid $PID_KADMIT) is no longer running"
  echo "ok: the same kadmit process (pid $PID_KADMIT) followed the overlay"
}

# rollout_yaml NAME [deploy_yaml's options]: deploy_yaml's Deployment as an Argo Rollout
rollout_yaml() {
  deploy_yaml "$@" | sed -e 's#^apiVersion: apps/v1$#apiVersion: argoproj.io/v1alpha1#' \
    -e 's#^kind: Deployment$#kind: Rollout#'
}

# Argo Rollouts: with a Rollout CRD installed (argoproj.io/v1alpha1, Argo's group and names; its
# schema is not what is tested), the shipped validating webhook judges a Rollout's template as a
# Deployment's.
# What the API server does to an object before kadmit sees it, against what `kadmit audit` says
# about the file (README "Where a manifest audit and admission differ"; found by running both on
# the GKE ai-ml and kubernetes/website samples).
sc_api_server_changes() {
  local out f="$WORK/api-server-changes"
  ns_create
  mkdir -p "$f"
  step "an autoscaling/v1 HPA, converted to v2 for the webhook, is judged as v1, as audit judges the file"
  cat >"$f/hpa-v1.yaml" <<EOF
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: frontend-scaler, namespace: $NS}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: ReplicaSet, name: frontend}
  minReplicas: 3
  maxReplicas: 10
  targetCPUUtilizationPercentage: 50
EOF
  expect_fail out k create -f "$f/hpa-v1.yaml"
  assert_contains "$out" "hpa-custom-metrics: HorizontalPodAutoscaler $NS/frontend-scaler: uses autoscaling/v1, which can only scale on CPU" "kubectl error"
  expect_fail out "$KADMIT" audit --policies "$POLICY_DIR" "$f/hpa-v1.yaml"
  assert_contains "$out" "uses autoscaling/v1, which can only scale on CPU" "kadmit audit"

  step "an agent pod its Job created gets the metrics sidecar as a native sidecar (the Job can complete)"
  cat >"$f/job-pod.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: loader-x1
  labels: {app: agent, job-name: loader}
  ownerReferences:
  - {apiVersion: batch/v1, kind: Job, name: loader, uid: 00000000-0000-0000-0000-000000000001, controller: true}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 120
  containers:
  - name: loader
    image: $IMG_APP
    resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 500m, memory: 256Mi}}
EOF
  expect_ok out k create -n "$NS" -f "$f/job-pod.yaml"
  assert_eq "$(jget pod loader-x1 '[.spec.containers[].name] | join(",")')" loader "containers of the Job's pod"
  assert_eq "$(jget pod loader-x1 '.spec.initContainers[] | select(.name=="metrics-sidecar") | .restartPolicy')" Always "metrics-sidecar as a native sidecar"

  step "a bare pod without resources where a LimitRange gives defaults: admitted (the LimitRanger plugin fills them in), a manifest audit denies it"
  cat >"$f/limitrange.yaml" <<EOF
apiVersion: v1
kind: LimitRange
metadata: {name: defaults, namespace: $NS}
spec:
  limits:
  - type: Container
    default: {cpu: 500m, memory: 256Mi}
    defaultRequest: {cpu: 100m, memory: 128Mi}
EOF
  pod_yaml bare resources=0 >"$f/bare.yaml"
  expect_ok out k apply -f "$f/limitrange.yaml"
  expect_ok out create_yaml <"$f/bare.yaml"
  assert_eq "$(jget pod bare '.spec.containers[0].resources.limits.memory')" 256Mi "limit the LimitRange filled in"
  expect_fail out "$KADMIT" audit --policies "$POLICY_DIR" -n "$NS" "$f/limitrange.yaml" "$f/bare.yaml"
  assert_contains "$out" "resources-required" "kadmit audit of the manifests"
  step "a Deployment without resources there is denied: the LimitRanger does not fill in templates"
  cat >"$f/deployment.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: $IMG_APP
        readinessProbe: {tcpSocket: {port: 8080}}
        livenessProbe: {tcpSocket: {port: 8080}}
EOF
  expect_fail out create_yaml <"$f/deployment.yaml"
  assert_contains "$out" "resources-required: Deployment $NS/web" "kubectl error"
}

sc_argo_rollout() {
  local out t0
  ns_create
  step "install a Rollout CRD (argoproj.io, as Argo Rollouts does)"
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
  k wait --for condition=established --timeout=30s crd/rollouts.argoproj.io >/dev/null \
    || fail "the Rollout CRD was not established"
  t0=$SECONDS
  until k get rollouts.argoproj.io -n "$NS" >/dev/null 2>&1; do
    [ $((SECONDS - t0)) -lt 30 ] || fail "rollouts.argoproj.io is not served"
    sleep 0.5
  done
  step "a Rollout whose template has no requests/limits is denied, as a Deployment's would be"
  expect_fail out create_yaml < <(rollout_yaml ro-nolimits resources=0)
  assert_contains "$out" "denied the request" "kubectl error"
  assert_contains "$out" "resources-required: Rollout $NS/ro-nolimits container \"app\": " "kubectl error"
  assert_absent rollouts.argoproj.io ro-nolimits
  step "the same Rollout with requests and limits is admitted"
  expect_ok out create_yaml < <(rollout_yaml ro-ok)
  k get rollouts.argoproj.io ro-ok -n "$NS" >/dev/null || fail "ro-ok was not stored"
  k delete crd rollouts.argoproj.io >/dev/null
}

sc_generate_name() {
  local out name
  ns_create
  step "agent pod with generateName is mutated"
  expect_ok out create_yaml < <(pod_yaml agent-gen- gen=1 app=agent cname=agent port=http probes=0 tgp=120)
  name="$(sed -n 's#^pod/\(agent-gen-[a-z0-9]*\) created$#\1#p' <<<"$out")"
  [ -n "$name" ] || fail "no generated pod name in: $out"
  assert_agent_mutated "$name"
  step "a non-compliant generateName pod is denied"
  expect_fail out create_yaml < <(pod_yaml nolimits-gen- gen=1 resources=0)
  assert_contains "$out" "resources-required: Pod $NS/" "kubectl error"
  assert_contains "$out" 'container "app"' "kubectl error"
}

sc_no_annotations() {
  local out
  ns_create
  step "agent pod with no metadata.annotations at all: the patch must create the map"
  pod_yaml agent-bare app=agent cname=agent port=http probes=0 tgp=120 >"$WORK/agent-bare.yaml"
  if grep -q annotations "$WORK/agent-bare.yaml"; then fail "manifest unexpectedly has annotations"; fi
  expect_ok out k create -n "$NS" -f "$WORK/agent-bare.yaml"
  assert_agent_mutated agent-bare
  assert_eq "$(jget pod agent-bare '.metadata.annotations | length')" 2 "annotation count"
}

sc_escaping() {
  local out j
  ns_create
  # Kubernetes keys cannot contain "~", so only the "/" -> "~1" escape is reachable here.
  step "existing annotation and label keys with / survive the JSON patch (~1 escaping)"
  expect_ok out create_yaml < <(pod_yaml agent-escape app=agent cname=agent port=http probes=0 tgp=120 \
      labels='e2e.kadmit.dev/team: core' \
      ann='"example.com/owner": team-a, "prometheus.io/path": /metrics')
  assert_agent_mutated agent-escape
  j="$(k get pod agent-escape -n "$NS" -o json)"
  assert_eq "$(jq -r '.metadata.annotations["example.com/owner"]' <<<"$j")" team-a "annotation example.com/owner"
  assert_eq "$(jq -r '.metadata.annotations["prometheus.io/path"]' <<<"$j")" /metrics "annotation prometheus.io/path"
  assert_eq "$(jq -r '.metadata.labels["e2e.kadmit.dev/team"]' <<<"$j")" core "label e2e.kadmit.dev/team"
  assert_eq "$(jq '.metadata.annotations | length' <<<"$j")" 4 "annotation count"
}

sc_image_attestation() {
  local A="$REPO/tests/attest" out d1 d2 d3 img=registry.chaozcode.com/e2e-app t0 now
  grep -q 'id: image-scan-attestation' "$POLICY_BASE" || skip "the policy has no image-scan-attestation rule"
  [ -x "$A/sign.sh" ] || [ -f "$A/sign.sh" ] || skip "no tests/attest/ signing tools in this checkout"
  grep -q "attestationsDir: $WORK/attestations" "$POLICY_BASE" || fail "could not point attestationsDir at the work directory"
  ns_create
  step "a scanner key, a clean scan for digest 1 and a scan with a CRITICAL finding for digest 3"
  d1="$(openssl rand -hex 32)"; d2="$(openssl rand -hex 32)"; d3="$(openssl rand -hex 32)"
  now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  bash "$A/keygen.sh" p256 "$WORK/scanner"
  cp "$WORK/scanner.pub" "$WORK/attestation-keys/scanner.pem"
  bash "$A/statement.sh" --digest "$d1" --name "$img" --finished "$now" "$A/trivy-clean.json" >"$WORK/clean.st"
  bash "$A/statement.sh" --digest "$d3" --name "$img" --finished "$now" "$A/trivy-findings.json" >"$WORK/crit.st"
  bash "$A/sign.sh" "$WORK/scanner.key" "$WORK/clean.st" >"$WORK/attestations/clean.json"
  bash "$A/sign.sh" "$WORK/scanner.key" "$WORK/crit.st" >"$WORK/attestations/crit.json"
  step "image-scan-attestation: enforce"
  policy_write image-scan-attestation=enforce
  t0=$SECONDS
  until out="$(pod_yaml probe-attest image="$img@sha256:$d2" | k create --dry-run=server -n "$NS" -f - 2>&1)"; \
        [[ "$out" == *image-scan-attestation* ]]; do
    [ $((SECONDS - t0)) -lt 20 ] || fail "image-scan-attestation enforce not in effect after 20s: $out"
    sleep 0.3
  done
  echo "in effect after $((SECONDS - t0))s"
  step "digest with a clean signed scan: admitted"
  expect_ok out create_yaml < <(pod_yaml attested image="$img@sha256:$d1")
  step "digest without attestation: denied"
  expect_fail out create_yaml < <(pod_yaml unattested image="$img@sha256:$d2")
  assert_contains "$out" "image-scan-attestation: Pod $NS/unattested container \"app\"" "kubectl error"
  assert_absent pod unattested
  step "digest whose scan has a CRITICAL finding: denied"
  expect_fail out create_yaml < <(pod_yaml critical image="$img@sha256:$d3")
  assert_contains "$out" "image-scan-attestation: Pod $NS/critical container \"app\"" "kubectl error"
  step "tag without digest: denied"
  expect_fail out create_yaml < <(pod_yaml tagonly image="$img:1.0.0")
  assert_contains "$out" "image-scan-attestation" "kubectl error"
  step "(informational) an agent pod with an attested image, with the injected tag-only sidecar"
  if out="$(pod_yaml agent-attested app=agent cname=agent port=http probes=0 tgp=120 image="$img@sha256:$d1" \
            | k create --dry-run=server -n "$NS" -f - 2>&1)"; then
    echo "NOTE: admitted: $out"
  else
    echo "NOTE: denied: $out"
  fi
  policy_apply
}

# registry_image: a real registry (crane registry serve) on a free loopback port holding one
# small image, and a cosign key pair whose public key the policy trusts. Sets REG (host:port)
# and DIG (the image's digest); the registry is stopped when the scenario's subshell exits.
registry_image() {
  local port
  grep -q 'id: image-scan-attestation' "$POLICY_BASE" || skip "the policy has no image-scan-attestation rule"
  if ! eval "$("$REPO/tests/tools/build.sh")"; then
    [ "${CI:-}" = true ] && fail "tests/tools/build.sh failed"
    skip "cosign and crane are not built (tests/tools/build.sh)"
  fi
  step "a registry (crane registry serve) with one small image"
  port="$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')"
  "$CRANE" registry serve --address "127.0.0.1:$port" >"$WORK/crane.log" 2>&1 &
  REGISTRY_PID=$!
  trap 'kill $REGISTRY_PID ${FETCHER_PID:-} 2>/dev/null' EXIT # this scenario's subshell: also on a failure
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
  REG="127.0.0.1:$port"
  echo e2e >"$WORK/e2e.txt"
  tar -C "$WORK" -cf "$WORK/e2e-layer.tar" e2e.txt
  "$CRANE" append --insecure -f "$WORK/e2e-layer.tar" -t "$REG/agent:1" >/dev/null 2>&1
  DIG="$("$CRANE" digest --insecure "$REG/agent:1")"
  step "the cosign key is trusted"
  rm -f "$WORK/cosign.key" "$WORK/cosign.pub"
  (cd "$WORK" && COSIGN_PASSWORD="" "$COSIGN" generate-key-pair >/dev/null 2>&1)
  cp "$WORK/cosign.pub" "$WORK/attestation-keys/cosign.pem"
}

# cosign_attest REPORT FINISHED: CI attests a scan (cosign attest --type vuln, a v3 bundle) of
# REG/agent@DIG from a Trivy report, finished at FINISHED, and pushes it to the registry.
cosign_attest() {
  bash "$REPO/tests/attest/statement.sh" --digest "${DIG#sha256:}" --finished "$2" "$1" \
    | jq .predicate >"$WORK/pred.json"
  COSIGN_PASSWORD="" "$COSIGN" attest --yes --allow-insecure-registry --key "$WORK/cosign.key" \
    --type vuln --predicate "$WORK/pred.json" --tlog-upload=false \
    --use-signing-config=false "$REG/agent@$DIG" >"$WORK/cosign.log" 2>&1 ||
    fail "cosign attest: $(tail -3 "$WORK/cosign.log")"
}

# await_denial NAME TEXT SECONDS: until a server-side dry run of pod NAME (image REG/agent@DIG)
# is denied with TEXT
await_denial() {
  local out t0=$SECONDS
  until out="$(pod_yaml "$1" image="$REG/agent@$DIG" | k create --dry-run=server -n "$NS" -f - 2>&1)"; \
        [[ "$out" == *"$2"* ]]; do
    [ $((SECONDS - t0)) -lt "$3" ] || fail "no denial with '$2' after $3s: $out"
    sleep 0.5
  done
  echo "ok: denied with '$2' after $((SECONDS - t0))s"
}

# await_admitted NAME SECONDS: retry creating pod NAME (image REG/agent@DIG) the way a
# ReplicaSet controller would (no controller manager runs here), until it is admitted
await_admitted() {
  local out t0=$SECONDS
  until out="$(pod_yaml "$1" image="$REG/agent@$DIG" | create_yaml 2>&1)"; do
    [ $((SECONDS - t0)) -lt "$2" ] || fail "not admitted after $2s: $out"
    sleep 0.5
  done
  echo "ok: admitted after $((SECONDS - t0))s"
}

# Attestations that live only in the registry (issue 16): a real registry (crane), real cosign
# v3 attestations, and `kadmit attest sync --interval` (the registry-fetch overlay's sidecar)
# writing into the rule's directory. No files are placed by hand.
sc_registry_attestation() {
  local out
  ns_create
  registry_image
  step "the fetcher follows the image, which has no scan yet"
  echo "$REG/agent@$DIG" >"$WORK/registry-images.txt"
  "$KADMIT" attest sync --plain-http --dir "$WORK/attestations" --images "$WORK/registry-images.txt" \
    --interval 1s --attempts 1 >"$WORK/fetcher.log" 2>&1 &
  FETCHER_PID=$!
  policy_write image-scan-attestation=enforce
  await_denial reg-probe "no attestation for $DIG" 20
  step "first creation: denied, no attestation yet"
  expect_fail out create_yaml < <(pod_yaml reg-first image="$REG/agent@$DIG")
  assert_contains "$out" "no attestation for $DIG" "kubectl error"
  step "CI attests a clean scan; retries are admitted once fetched"
  cosign_attest "$REPO/tests/attest/trivy-clean.json" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  await_admitted reg-retry 30
  step "a newer scan finds a CRITICAL: new pods of that image are denied"
  cosign_attest "$REPO/tests/attest/trivy-findings.json" "$(date -u -d '+1 minute' +%Y-%m-%dT%H:%M:%SZ)"
  await_denial reg-after "3 CRITICAL findings (max 0) (the newest verified scan decides" 30
  rm -f "$WORK/attestations/registry-"* "$WORK/attestation-keys/cosign.pem"
  policy_apply
}

# The same without a sidecar or an image list: `serve --attestation-source registry`. The first
# denial queues the digest for kadmit's own fetcher thread; the denial says where the fetch
# stands; once CI pushes the scan, a retry is admitted; a later failing scan is picked up by
# the re-poll (--registry-refresh). kadmit is restarted in that mode for this scenario only
# (run.sh restarts it as before afterwards).
sc_registry_miss() {
  local out t0
  [ -z "${KADMIT_E2E_IMAGE:-}" ] || skip "serves from the host binary; the image runs the fetcher as a sidecar (registry-attestation)"
  ns_create
  registry_image
  policy_write image-scan-attestation=enforce
  step "restart kadmit with --attestation-source registry --registry-hosts $REG"
  kill "$PID_KADMIT"
  while pid_alive "$PID_KADMIT"; do sleep 0.1; done
  "$KADMIT" serve --listen "127.0.0.1:$KADMIT_PORT" --metrics-listen "127.0.0.1:$KADMIT_METRICS_PORT" \
    --tls-cert "$KADMIT_CERTS/tls.crt" --tls-key "$KADMIT_CERTS/tls.key" --policies "$POLICY_DIR" \
    --client-ca "$PKI/ca.crt" --client-allowed-subjects "$KADMIT_CLIENT_CN" \
    --attestations "$WORK/attestations" --attestation-source registry --registry-hosts "$REG" \
    --registry-plain-http 1 --registry-timeout 5 --registry-refresh 2 \
    >>"$LOGS/kadmit.log" 2>&1 &
  PID_KADMIT=$!
  # on any exit: stop it and wait until its port is free for run.sh's restart
  trap 'kill $REGISTRY_PID $PID_KADMIT 2>/dev/null; wait $PID_KADMIT 2>/dev/null' EXIT
  wait_until 20 kadmit_ready || fail "kadmit in registry mode did not become ready"
  step "first creation: denied, and the digest is queued for a fetch"
  expect_fail out create_yaml < <(pod_yaml miss-first image="$REG/agent@$DIG")
  assert_match "$out" "no attestation for $DIG; (a registry fetch is queued|a registry fetch is under way|registry tried)" "kubectl error"
  step "the fetcher tried the registry: the denial names what it answered"
  await_denial miss-probe "registry tried" 20
  t0=$SECONDS # the fetcher's counters are folded into the metrics once a second
  until curl -fsS "http://127.0.0.1:$KADMIT_METRICS_PORT/metrics" \
          | grep -qE '^kadmit_registry_fetches_total\{result="none"\} [1-9]'; do
    [ $((SECONDS - t0)) -lt 5 ] || fail "metrics: no kadmit_registry_fetches_total{result=\"none\"} after the 404s"
    sleep 0.3
  done
  echo "ok: metrics count the fetch that found nothing"
  step "another registry is refused without a connection"
  out="$(pod_yaml miss-other image="registry.invalid/agent@sha256:$(openssl rand -hex 32)" \
    | k create --dry-run=server -n "$NS" -f - 2>&1)" &&
    fail "an image of a registry outside --registry-hosts was admitted"
  assert_contains "$out" "registry.invalid" "denial for another registry"
  step "CI attests a clean scan; the controller's retry is admitted once kadmit fetched it"
  cosign_attest "$REPO/tests/attest/trivy-clean.json" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  await_admitted miss-retry 60
  ls "$WORK/attestations"/registry-*.jsonl >/dev/null || fail "no registry-<hex>.jsonl written into --attestations"
  step "a newer scan finds a CRITICAL: the re-poll fetches it, new pods are denied"
  cosign_attest "$REPO/tests/attest/trivy-findings.json" "$(date -u -d '+1 minute' +%Y-%m-%dT%H:%M:%SZ)"
  await_denial miss-after "3 CRITICAL findings (max 0) (the newest verified scan decides" 40
  rm -f "$WORK/attestations/registry-"* "$WORK/attestation-keys/cosign.pem"
  kill "$PID_KADMIT" # run.sh restarts kadmit in its normal mode on the same port
  wait "$PID_KADMIT" 2>/dev/null || true
}

# A StatefulSet's pod is replaced after its image's scan aged past maxAge (issue 23). No
# controller manager runs here, so the test acts as the StatefulSet controller by impersonation:
# the API server then authenticates the request as that controller, exactly what kadmit trusts.
SS_CONTROLLER=system:serviceaccount:kube-system:statefulset-controller
sc_stale_scan_replacement() {
  local A="$REPO/tests/attest" out d d2 aged img=registry.chaozcode.com/memory-spine t0 before after
  grep -q 'id: image-scan-attestation' "$POLICY_BASE" || skip "the policy has no image-scan-attestation rule"
  ns_create
  d="$(openssl rand -hex 32)"
  # sign_scan DIGEST FINISHED FILE: a clean scan of DIGEST that finished at FINISHED, signed
  # with openssl into attestations/FILE (renamed into place: the reload never sees half a file)
  sign_scan() {
    bash "$A/statement.sh" --digest "$1" --name "$img" --finished "$2" "$A/trivy-clean.json" >"$WORK/stale.st"
    bash "$A/sign.sh" "$WORK/stale-scanner.key" "$WORK/stale.st" >"$WORK/$3.tmp"
    mv "$WORK/$3.tmp" "$WORK/attestations/$3"
  }
  # replacement_pod NAME [owner]: the StatefulSet's stored template as a pod, as its controller
  # would create it (with the controller ownerReference when "owner" is given)
  # the pod as the StatefulSet controller makes it: the template, each claim as a volume
  replacement_pod() {
    k get statefulset spine -n "$NS" -o json | jq --arg name "$1" --arg owner "${2:-}" '
      {apiVersion: "v1", kind: "Pod",
       metadata: (.spec.template.metadata + {name: $name}
         + (if $owner == "" then {} else {ownerReferences: [{apiVersion: "apps/v1",
             kind: "StatefulSet", name: .metadata.name, uid: .metadata.uid, controller: true,
             blockOwnerDeletion: true}]} end)),
       spec: (.spec.template.spec + {volumes: [(.spec.volumeClaimTemplates // [])[]
         | {name: .metadata.name, persistentVolumeClaim: {claimName: (.metadata.name + "-" + $name)}}]})}'
  }
  stale_count() {
    curl -fsS --max-time 5 "http://127.0.0.1:$KADMIT_METRICS_PORT/metrics" \
      | awk '/^kadmit_stale_admissions_total\{rule="image-scan-attestation",reason="scan-age"\}/ {print $2}'
  }
  step "a fresh signed scan of the Memory Spine digest; image-scan-attestation: enforce"
  bash "$A/keygen.sh" p256 "$WORK/stale-scanner"
  cp "$WORK/stale-scanner.pub" "$WORK/attestation-keys/stale-scanner.pem"
  sign_scan "$d" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" stale.json
  policy_write image-scan-attestation=enforce
  t0=$SECONDS
  until memory_spine_yaml spine required | sed "s#image: .*#image: \"$img@sha256:$d\"#" \
          | k create --dry-run=server -n "$NS" -f - >/dev/null 2>&1; do
    [ $((SECONDS - t0)) -lt 20 ] || fail "the attested StatefulSet is not admitted after 20s"
    sleep 0.3
  done
  step "create the StatefulSet and its pod spine-0 (as the controller): admitted, no warning"
  expect_ok out create_yaml < <(memory_spine_yaml spine required | sed "s#image: .*#image: \"$img@sha256:$d\"#")
  assert_no_rule_warning "$out"
  expect_ok out k create -n "$NS" --as="$SS_CONTROLLER" -f - < <(replacement_pod spine-0 owner)
  assert_no_rule_warning "$out"
  step "the scan ages: scanFinishedOn rewritten to 10 days ago and re-signed"
  aged="$(date -u -d '10 days ago' +%Y-%m-%dT%H:%M:%SZ)"
  sign_scan "$d" "$aged" stale.json
  t0=$SECONDS
  until ! out="$(replacement_pod probe-user | k create --dry-run=server -n "$NS" -f - 2>&1)"; do
    [ $((SECONDS - t0)) -lt 20 ] || fail "the aged scan is not in effect after 20s: $out"
    sleep 0.3
  done
  assert_contains "$out" "scan is 10d old (max 7d)" "kubectl error"
  before="$(stale_count)"
  step "the node fails: spine-0 is deleted; the StatefulSet controller creates the replacement"
  k delete pod spine-0 -n "$NS" --wait=false
  t0=$SECONDS
  while k get pod spine-0 -n "$NS" >/dev/null 2>&1; do
    [ $((SECONDS - t0)) -lt 20 ] || fail "spine-0 was not deleted"
    sleep 0.2
  done
  expect_ok out k create -n "$NS" --as="$SS_CONTROLLER" -f - < <(replacement_pod spine-0 owner)
  assert_contains "$out" "replacement admitted" "kubectl warning"
  assert_contains "$out" "scan is 10d old (max 7d)" "kubectl warning"
  assert_eq "$(jget pod spine-0 '.metadata.ownerReferences[0].kind')" StatefulSet "stored owner"
  after="$(stale_count)"
  assert_eq "$after" "$((before + 1))" "kadmit_stale_admissions_total{reason=\"scan-age\"}"
  step "a user creating the same pod (same ownerReference): denied"
  expect_fail out k create -n "$NS" -f - < <(replacement_pod spine-1 owner)
  assert_contains "$out" "image-scan-attestation: Pod $NS/spine-1 container \"memory-spine\"" "kubectl error"
  assert_contains "$out" "scan is 10d old (max 7d)" "kubectl error"
  assert_absent pod spine-1
  step "a user creating it without the ownerReference: denied"
  expect_fail out k create -n "$NS" -f - < <(replacement_pod spine-2)
  assert_absent pod spine-2
  step "a template UPDATE to another digest whose scan is as old: denied (a new deployment)"
  d2="$(openssl rand -hex 32)"
  sign_scan "$d2" "$aged" stale2.json
  t0=$SECONDS
  until out="$(k set image statefulset/spine -n "$NS" "memory-spine=$img@sha256:$d2" --dry-run=server 2>&1)"; \
        [[ "$out" == *"stale2.json: scan is 10d old"* ]]; do
    [ $((SECONDS - t0)) -lt 20 ] || fail "the second aged scan is not in effect after 20s: $out"
    sleep 0.3
  done
  expect_fail out k set image statefulset/spine -n "$NS" "memory-spine=$img@sha256:$d2"
  assert_contains "$out" "image-scan-attestation: StatefulSet $NS/spine container \"memory-spine\"" "kubectl error"
  assert_eq "$(jget statefulset spine '.spec.template.spec.containers[0].image')" "$img@sha256:$d" "stored image"
  rm -f "$WORK/attestations/stale.json" "$WORK/attestations/stale2.json" "$WORK/attestation-keys/stale-scanner.pem"
  policy_apply
}

sc_deploy_kustomize() {
  local out n r="$WORK/deploy-copy" d="$WORK/deploy-copy/deploy" x
  [ -f "$REPO/deploy/kustomization.yaml" ] || [ -f "$REPO/deploy/kustomization.yml" ] \
    || skip "no deploy/kustomization.yaml in this checkout"
  # deploy/ generates its TLS Secret from deploy/certs/ (made by `kadmit certs`); render a copy
  # (with the top-level directories it may refer to, e.g. ../../policies) so the checkout is
  # left alone.
  rm -rf "$r"; mkdir -p "$r"
  for x in deploy policies; do [ ! -d "$REPO/$x" ] || cp -r "$REPO/$x" "$r/"; done
  if [ ! -s "$d/certs/tls.crt" ]; then
    expect_ok out "$KADMIT" certs --out-dir "$d/certs"
  fi
  out="$(k kustomize "$d")" || fail "kubectl kustomize deploy/ failed"
  for n in $(awk '/^  namespace:/ {print $2}' <<<"$out" | sort -u); do ns_create "$n"; done
  step "kubectl apply --dry-run=server -k deploy/"
  expect_ok out k apply --dry-run=server -k "$d"
  assert_contains "$out" "(server dry run)" "kubectl output"
  assert_no_rule_warning "$out"
  step "nothing was stored"
  assert_absent deployment kadmit kadmit-system
  assert_absent service kadmit kadmit-system
  for x in mutatingwebhookconfiguration validatingwebhookconfiguration; do
    if k get "$x" kadmit >/dev/null 2>&1; then fail "$x kadmit from deploy/ was stored by a dry run"; fi
    echo "ok: $x kadmit was not stored"
  done
}

sc_webhook_down() {
  local out fp_v fp_m t0
  ns_create
  fp_v="$(k get validatingwebhookconfiguration kadmit-e2e -o jsonpath='{.webhooks[0].failurePolicy}')"
  fp_m="$(k get mutatingwebhookconfiguration kadmit-e2e -o jsonpath='{.webhooks[0].failurePolicy}')"
  assert_eq "$fp_v" Fail "validating failurePolicy"
  assert_eq "$fp_m" Ignore "mutating failurePolicy"
  step "stop kadmit"
  kill "$PID_KADMIT"
  t0=$SECONDS
  while curl -fsS --max-time 1 --cacert "$KADMIT_CERTS/ca.crt" "${KADMIT_CLIENT_CERT[@]}" "https://127.0.0.1:$KADMIT_PORT/healthz" >/dev/null 2>&1; do
    [ $((SECONDS - t0)) -lt 15 ] || fail "kadmit still answers after SIGTERM"
    sleep 0.2
  done
  step "validating failurePolicy Fail: a compliant pod is rejected, the error names the webhook"
  expect_fail out create_yaml < <(pod_yaml down-1)
  assert_contains "$out" "failed calling webhook \"$VALIDATING_NAME\"" "kubectl error"
  assert_absent pod down-1
  step "mutating failurePolicy Ignore: with validation set to Ignore, an agent pod is admitted unmutated"
  k patch validatingwebhookconfiguration kadmit-e2e --type=json \
    -p '[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"}]'
  t0=$SECONDS
  until pod_yaml down-probe | k create --dry-run=server -n "$NS" -f - >/dev/null 2>&1; do
    [ $((SECONDS - t0)) -lt 20 ] || fail "failurePolicy Ignore never took effect"
    sleep 0.3
  done
  expect_ok out create_yaml < <(pod_yaml down-agent app=agent cname=agent port=http probes=0 tgp=120)
  assert_eq "$(jget pod down-agent '.spec.containers | length')" 1 "containers (not mutated)"
  k patch validatingwebhookconfiguration kadmit-e2e --type=json \
    -p '[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Fail"}]'
}

# The fixed-response webhook of the latency scenario: the bench's bench_fixed_server (built with
# kadmit; it answers every review with an allow carrying the request's uid), on kadmit's
# certificate with the same caller authentication, registered as copies of kadmit-e2e's two
# configurations that select only namespaces labelled $LATENCY_FIXED_LABEL.
LATENCY_FIXED_LABEL=kadmit.dev/e2e-latency-fixed
LATENCY_FIXED_NS=e2e-latency-fixed # the latency program's <prefix>-fixed
LATENCY_FIXED_SERVER="${KADMIT_FIXED_SERVER:-$(dirname "$KADMIT")/bench_fixed_server}"
PID_FIXED=""
fixed_launch() {
  FIXED_PORT=$(free_port); FIXED_METRICS_PORT=$(free_port)
  "$LATENCY_FIXED_SERVER" --bench-echo-uid --listen "127.0.0.1:$FIXED_PORT" \
    --metrics-listen "127.0.0.1:$FIXED_METRICS_PORT" --policies "$POLICY_DIR" \
    --tls-cert "$KADMIT_CERTS/tls.crt" --tls-key "$KADMIT_CERTS/tls.key" \
    --client-ca "$PKI/ca.crt" --client-allowed-subjects "$KADMIT_CLIENT_CN" \
    >>"$LOGS/fixed-webhook.log" 2>&1 &
  PID_FIXED=$!
}
fixed_ready() {
  pid_alive "$PID_FIXED" && curl -fsS --max-time 2 "http://127.0.0.1:$FIXED_METRICS_PORT/readyz" >/dev/null
}
# fixed_webhooks_yaml: kadmit-e2e's live configurations, renamed, pointed at the fixed server
fixed_webhooks_yaml() {
  local kind
  for kind in mutatingwebhookconfiguration validatingwebhookconfiguration; do
    k get "$kind" kadmit-e2e -o json | jq --arg port "$FIXED_PORT" --arg sel "$LATENCY_FIXED_LABEL" '
      {apiVersion, kind, metadata: {name: "kadmit-e2e-latency-fixed"},
       webhooks: [.webhooks[] | .name |= sub("kadmit\\.dev$"; "fixed.e2e")
         | .clientConfig.url |= sub(":[0-9]+/"; ":" + $port + "/")
         | .namespaceSelector = {matchLabels: {($sel): "true"}}]}'
  done
}
# fixed_webhooks_called: a server-side dry run in the fixed namespace reached the fixed server
fixed_webhooks_called() {
  pod_yaml lat-probe app=agent cname=agent port=http probes=0 tgp=120 |
    k create --dry-run=server -n "$LATENCY_FIXED_NS" -f - >/dev/null &&
    [ "$(apiserver_webhook_calls validate.fixed.e2e)" -gt 0 ]
}
fixed_webhooks_stop() {
  k delete mutatingwebhookconfiguration,validatingwebhookconfiguration kadmit-e2e-latency-fixed \
    --ignore-not-found >/dev/null 2>&1 || true
  stop_pid "$PID_FIXED"
}

sc_latency() {
  local bin="$WORK/kadmit-e2e-latency" out n="${E2E_LATENCY_PODS:-50}" what v tok hook
  step "build tests/e2e/latency"
  (cd "$E2E_DIR" && GOFLAGS=-mod=mod "$GO" build -o "$bin" ./latency)
  step "start the fixed-response webhook ($LATENCY_FIXED_SERVER) over TLS"
  if [ ! -x "$LATENCY_FIXED_SERVER" ] && [ -f "$(dirname "$LATENCY_FIXED_SERVER")/CMakeCache.txt" ]; then
    cmake --build "$(dirname "$LATENCY_FIXED_SERVER")" --target bench_fixed_server >/dev/null
  fi
  [ -x "$LATENCY_FIXED_SERVER" ] || fail "no bench_fixed_server at $LATENCY_FIXED_SERVER (built with kadmit; or set KADMIT_FIXED_SERVER)"
  trap fixed_webhooks_stop EXIT
  start_with_retry fixed-webhook fixed_launch fixed_ready PID_FIXED 20 || fail "bench_fixed_server did not start"
  fixed_webhooks_yaml | k apply -f -
  ns_create "$LATENCY_FIXED_NS"
  k label namespace "$LATENCY_FIXED_NS" "$IGNORE_LABEL=true" "$LATENCY_FIXED_LABEL=true" --overwrite >/dev/null
  wait_until 30 fixed_webhooks_called \
    || fail "the fixed-response webhooks were never called"
  step "create $n pods each with kadmit's webhooks, the fixed-response ones and none, interleaved (printed, not asserted)"
  # shellcheck disable=SC2086 # E2E_LATENCY_ARGS is split on purpose (e.g. "-pod plain")
  out="$("$bin" -kubeconfig "$KUBECONFIG" -n "$n" -fixed-label "$LATENCY_FIXED_LABEL" ${E2E_LATENCY_ARGS:-})"
  printf '%s\n' "$out" | tee "$LOGS/latency.txt"
  step "the figures were produced and are positive (their size is not asserted)"
  for what in "kadmit webhooks" "fixed-response webhooks" "no webhooks"; do
    v="$(printf '%s\n' "$out" | awk -v w="  $what:" 'index($0, w) == 1 { print $(NF-2), $NF }')"
    [ "$(wc -w <<<"$v")" = 2 ] || fail "$what: no median and p99 in the output"
    for tok in $v; do
      case "$tok" in 0s | -*) fail "$what: $tok is not a positive duration" ;; [0-9]*s) ;; *) fail "$what: '$tok' is not a duration" ;; esac
    done
    echo "ok: $what median and p99 = $v"
  done
  assert_match "$(printf '%s\n' "$out" | grep 'kadmit added / fixed added:')" 'median +([0-9.]+x|n/a) +p99 +([0-9.]+x|n/a)$' "ratio line"
  step "the API server called both fixed webhooks for every create, and none failed open"
  for hook in mutate.fixed.e2e validate.fixed.e2e; do
    v="$(apiserver_webhook_calls "$hook")"
    [ "$v" -gt "$n" ] || fail "$hook called $v times, not more than $n"
    echo "ok: $hook called $v times (warm-up, probe and $n creates)"
  done
  assert_eq "$(k get --raw /metrics | awk '/^apiserver_admission_webhook_fail_open_count/ && /fixed.e2e/ { s += $NF } END { print s + 0 }')" 0 "fixed webhooks' fail-open count"
}

# Last: stop kadmit (so that a sanitizer's exit-time leak report lands in its log too), then
# its log over the whole run must have no sanitizer report, crash or error-level line
# (run with an ASan/UBSan build: KADMIT=build-asan/kadmit).
# A scenario that makes kadmit log an error on purpose names it here (a fixed string); the
# kadmit-log scenario then allows error-level lines containing it, and only those.
expect_log_error() { printf '%s\n' "$1" >>"$WORK/expected-log-errors"; }

sc_kadmit_log() {
  local f="$LOGS/kadmit.log" bad t0=$SECONDS
  [ -s "$f" ] || fail "no kadmit log at $f"
  kill "$PID_KADMIT" 2>/dev/null || true
  while pid_alive "$PID_KADMIT"; do
    [ $((SECONDS - t0)) -lt 30 ] || fail "kadmit did not exit within 30s of SIGTERM"
    sleep 0.2
  done
  echo "ok: kadmit exited $((SECONDS - t0))s after SIGTERM"
  touch "$WORK/expected-log-errors"
  bad="$(grep -nE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|Segmentation fault|Aborted|"level":"error"' "$f" |
    { if [ -s "$WORK/expected-log-errors" ]; then grep -vF -f "$WORK/expected-log-errors"; else cat; fi; } |
    head -n 20 || true)"
  [ -z "$bad" ] || fail "kadmit log has errors:
$bad"
  echo "ok: $(wc -l <"$f") log lines, no sanitizer report or error-level line"
}

# `kadmit audit --cluster` (issue #17): the checklist's complete namespace
# (tests/fixtures/checklist/complete/), admitted through the webhook into this scenario's
# namespace without its Memory Spine PDB and the agents' NetworkPolicy; the audit, which runs
# kubectl itself with the run's kubeconfig, finds exactly those two gaps there.
sc_audit_cluster() {
  local dir="$REPO/tests/fixtures/checklist/complete" f out got
  [ -d "$dir" ] || skip "no $dir in this checkout"
  grep -q -- --cluster <("$KADMIT" audit --help) || skip "kadmit audit has no --cluster"
  ns_create
  for f in "$dir"/*.yaml; do
    case "$(basename "$f")" in namespace.yaml | pdb-memory-spine.yaml | networkpolicy-agent.yaml) continue ;; esac
    step "apply $(basename "$f") in $NS"
    sed "s/namespace: ai-agents/namespace: $NS/" "$f" | expect_ok out k apply -f -
  done
  step "kadmit audit --cluster"
  "$KADMIT" audit --cluster --kubectl "$KUBECTL" --kubeconfig "$KUBECONFIG" --policies "$POLICY" \
    --fail-on never -o jsonl >"$WORK/audit-cluster.jsonl" 2>"$WORK/audit-cluster.err" ||
    { cat "$WORK/audit-cluster.err" >&2; fail "kadmit audit --cluster failed"; }
  got="$(jq -r --arg ns "$NS" 'select(.type == "result" and .relation != null and .namespace == $ns)
           | select(.notEvaluated != null or (.violations | length) > 0)
           | "\(.relation) \(.kind)/\(.name)"' "$WORK/audit-cluster.jsonl" | sort | paste -sd' ' -)"
  assert_eq "$got" "network-policy-coverage StatefulSet/agent pdb-coverage StatefulSet/memory-spine" \
    "relation gaps kadmit audit --cluster found in $NS"
  assert_eq "$(jq -r --arg ns "$NS" 'select(.type == "result" and .relation != null and .namespace == $ns
           and (.violations | length) == 0 and .notEvaluated == null) | .relation' "$WORK/audit-cluster.jsonl" | wc -l)" 5 \
    "relation results that hold in $NS"
}
