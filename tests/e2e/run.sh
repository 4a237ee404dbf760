#!/usr/bin/env bash
# End-to-end suite: kadmit against a real etcd + kube-apiserver on loopback.
#
# Usage (from the repository root):
#   KADMIT=build/kadmit tests/e2e/run.sh                 all scenarios
#   KADMIT=build/kadmit tests/e2e/run.sh agent-sidecar   only the named scenarios
#   tests/e2e/run.sh --list                              list scenario names
#
# No kubelet, scheduler or controllers run: scenarios assert what the API server stored or
# answered. The last line printed is exactly "N passed, M failed"; the exit status is non-zero
# when any scenario failed (or the cluster could not be brought up).
#
# Environment:
#   KADMIT        kadmit binary (default: build/kadmit under the repository root)
#   E2E_KEEP=1    keep the work directory (certificates, kubeconfig, logs) after the run
#   KADMIT_E2E_IMAGE=NAME  serve from that container image instead of $KADMIT (which still runs
#                 `kadmit certs` and `kadmit rules`): podman runs it as deploy/base's Deployment
#                 does (read-only root, uid 65532, no capabilities, the image's own arguments,
#                 the certificate, policy and attestation mounts under /etc/kadmit), with
#                 KADMIT_LOG_LEVEL=debug; tests/platforms/image.sh uses it
#   KADMIT_E2E_IMAGE_BUNDLE=DIR  the same from an unpacked image (umoci unpack's bundle) with
#                 tests/platforms/chroot-image.sh, where podman cannot run
#   E2E_VERBOSE=1 print every scenario's log, not only failing ones
#   KADMIT_E2E_K8S=1.32   the Kubernetes minor (default 1.37; tests/e2e/k8s/ lists them)
#   GO, E2E_CACHE_DIR, E2E_BUILD_P, E2E_SYSTEM_KUBECTL   see build.sh
set -uo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$E2E_DIR/../.." && pwd)"
# shellcheck source=tests/e2e/scenarios.sh
. "$E2E_DIR/scenarios.sh"

if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${ALL_SCENARIOS[@]}"
  exit 0
fi

SELECTED=("$@")
if [ ${#SELECTED[@]} -eq 0 ]; then SELECTED=("${ALL_SCENARIOS[@]}"); fi
for s in "${SELECTED[@]}"; do
  if ! declare -F "sc_${s//-/_}" >/dev/null; then
    echo "run.sh: unknown scenario '$s' (try --list)" >&2
    exit 2
  fi
done

KADMIT="${KADMIT:-$REPO/build/kadmit}"
# A bundle is served as the image is: everything below that differs for an image applies.
if [ -n "${KADMIT_E2E_IMAGE_BUNDLE:-}" ]; then KADMIT_E2E_IMAGE="${KADMIT_E2E_IMAGE:-$KADMIT_E2E_IMAGE_BUNDLE}"; fi
case "$KADMIT" in /*) ;; *) KADMIT="$PWD/$KADMIT" ;; esac

for tool in openssl curl jq awk; do
  command -v "$tool" >/dev/null 2>&1 || { echo "run.sh: $tool is required (tests/deps.sh test installs it)" >&2; exit 2; }
done

log() { echo "[e2e $(date -u +%H:%M:%S)] $*" >&2; }

# ---- binaries -------------------------------------------------------------------------------
BUILD_OUT="$("$E2E_DIR/build.sh")" || { echo "run.sh: build.sh failed"; echo "0 passed, ${#SELECTED[@]} failed"; exit 1; }
eval "$BUILD_OUT"
log "etcd $ETCD_VERSION, kube-apiserver $K8S_VERSION, kubectl $KUBECTL"

rm -rf "$E2E_DIR/.cache/last-failed-run"
WORK="$(mktemp -d /tmp/kadmit-e2e.XXXXXX)"
LOGS="$WORK/logs"
mkdir -p "$LOGS"
PIDS_ETCD="" PID_APISERVER="" PID_KADMIT=""
RUN_FAILED=0
PASSED=0 FAILED=0 SKIPPED=0 FINAL_LINE=""

pid_alive() { # running and not a zombie
  local st
  st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}
stop_pid() { # stop_pid PID  (TERM, wait up to 10s, then KILL)
  local pid="$1" i
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do
    pid_alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

teardown() {
  local rc=$?
  trap - EXIT INT TERM
  if declare -F kadmit_stop >/dev/null; then kadmit_stop; fi
  stop_pid "$PID_APISERVER"
  stop_pid "$PIDS_ETCD"
  if [ "$RUN_FAILED" != 0 ] || [ "$rc" != 0 ]; then
    local keep="$E2E_DIR/.cache/last-failed-run"
    rm -rf "$keep"; mkdir -p "$keep"; cp -r "$LOGS" "$keep/" 2>/dev/null
    log "logs of this run copied to $keep/logs"
  fi
  if [ "${E2E_KEEP:-0}" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  # The summary is the very last line, whatever ended the run (scenarios not run count as failed).
  if [ -z "$FINAL_LINE" ]; then
    FINAL_LINE="$PASSED passed, $(( ${#SELECTED[@]} - PASSED - SKIPPED )) failed"
    [ "$rc" != 0 ] || rc=1
  fi
  echo "$FINAL_LINE"
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# ---- ports ----------------------------------------------------------------------------------
# Ports are picked below the kernel's ephemeral range (outgoing connections never take them)
# and must not appear as the local port of any TCP socket; a collision at bind time anyway
# (another process racing us) is handled by start_with_retry.
. tests/lib/ports.sh
KA_PORTS_FILE="$WORK/ports"
wait_until() { # wait_until SECONDS CMD...   (polls every 0.2s)
  local deadline=$(( SECONDS + $1 )); shift
  while ! "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
# start_with_retry NAME START-FN READY-FN PID-VAR SECONDS: up to 3 attempts, each with fresh
# ports (START-FN picks them); an attempt ends early when the process exits.
start_with_retry() {
  local name="$1" startfn="$2" readyfn="$3" pidvar="$4" secs="$5" attempt deadline pid
  for attempt in 1 2 3; do
    "$startfn"
    pid="${!pidvar}"
    deadline=$(( SECONDS + secs ))
    while ! "$readyfn" >/dev/null 2>&1; do
      if ! pid_alive "$pid"; then
        wait "$pid" 2>/dev/null
        log "$name exited during startup (attempt $attempt); log tail:"; tail -n 5 "$LOGS/$name.log" >&2
        continue 2
      fi
      [ "$SECONDS" -lt "$deadline" ] || { log "$name not ready after ${secs}s"; tail -n 30 "$LOGS/$name.log" >&2; return 1; }
      sleep 0.2
    done
    return 0
  done
  return 1
}

# ---- certificates ---------------------------------------------------------------------------
# gen_ca DIR NAME          -> DIR/NAME.crt DIR/NAME.key
# gen_cert DIR NAME CA CN SAN  (SAN like "IP:127.0.0.1,DNS:localhost") -> DIR/NAME.crt/.key
gen_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=$2" -keyout "$1/$2.key" -out "$1/$2.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    >/dev/null 2>&1
}
gen_cert() {
  local dir="$1" name="$2" ca="$3" cn="$4" san="$5"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$cn" \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" >/dev/null 2>&1 || return 1
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n' \
    "$san" >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/$name.ext" -out "$dir/$name.crt" >/dev/null 2>&1
}

PKI="$WORK/pki"; mkdir -p "$PKI"
gen_ca "$PKI" ca || { echo "run.sh: openssl CA generation failed" >&2; exit 1; }
gen_cert "$PKI" apiserver ca kube-apiserver \
  "IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1" \
  || { echo "run.sh: apiserver cert generation failed" >&2; exit 1; }
# Caller authentication (deploy/caller-auth): the API server presents this client certificate
# to kadmit, and kadmit accepts only certificates from this CA with this Common Name.
KADMIT_CLIENT_CN=kadmit-e2e-apiserver-client
gen_cert "$PKI" kadmit-client ca "$KADMIT_CLIENT_CN" "DNS:$KADMIT_CLIENT_CN" \
  || { echo "run.sh: webhook client cert generation failed" >&2; exit 1; }
KADMIT_CLIENT_CERT=(--cert "$PKI/kadmit-client.crt" --key "$PKI/kadmit-client.key")
cat >"$PKI/webhook-kubeconfig.yaml" <<EOF
apiVersion: v1
kind: Config
users:
- name: "*"
  user:
    client-certificate: $PKI/kadmit-client.crt
    client-key: $PKI/kadmit-client.key
EOF
cat >"$PKI/admission-configuration.yaml" <<EOF
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: ValidatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: $PKI/webhook-kubeconfig.yaml
- name: MutatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: $PKI/webhook-kubeconfig.yaml
EOF
openssl genrsa -out "$PKI/sa.key" 2048 >/dev/null 2>&1
openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" >/dev/null 2>&1
ADMIN_TOKEN="$(openssl rand -hex 24)"
printf '%s,e2e-admin,e2e-admin-uid,"system:masters"\n' "$ADMIN_TOKEN" >"$PKI/tokens.csv"

# ---- etcd -----------------------------------------------------------------------------------
start_etcd() {
  ETCD_PORT=$(free_port); ETCD_PEER_PORT=$(free_port)
  rm -rf "$WORK/etcd"
  log "starting etcd on 127.0.0.1:$ETCD_PORT"
  "$ETCD" --name e2e --data-dir "$WORK/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "e2e=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync \
    --quota-backend-bytes 1073741824 --log-level warn >"$LOGS/etcd.log" 2>&1 &
  PIDS_ETCD=$!
}
etcd_healthy() { curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }
if ! start_with_retry etcd start_etcd etcd_healthy PIDS_ETCD 30; then
  log "etcd did not become healthy"
  RUN_FAILED=1; exit 1
fi

# ---- kube-apiserver -------------------------------------------------------------------------
# ServiceAccount admission is disabled: without kube-controller-manager no "default"
# ServiceAccount is ever created, and that plugin would reject every pod. No endpoint
# reconciler: the "kubernetes" Service's endpoints would be 127.0.0.1, which 1.37 refuses
# to start with (1.32 only logged it) and nothing here reaches the API server through it.
start_apiserver() {
  API_PORT=$(free_port)
  write_kubeconfig
  log "starting kube-apiserver on 127.0.0.1:$API_PORT"
  "$KUBE_APISERVER" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --token-auth-file="$PKI/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --disable-admission-plugins=ServiceAccount \
    --endpoint-reconciler-type=none \
    --admission-control-config-file="$PKI/admission-configuration.yaml" \
    --cert-dir="$WORK/apiserver-certs" \
    --profiling=false \
    >"$LOGS/kube-apiserver.log" 2>&1 &
  PID_APISERVER=$!
}

export KUBECONFIG="$WORK/kubeconfig"
write_kubeconfig() {
  cat >"$KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: e2e-admin
  user:
    token: $ADMIN_TOKEN
contexts:
- name: e2e
  context: {cluster: e2e, user: e2e-admin}
current-context: e2e
EOF
}
k() { "$KUBECTL" --request-timeout=30s "$@"; }
apiserver_ready() { [ "$(k get --raw /readyz 2>/dev/null)" = ok ]; }
if ! start_with_retry kube-apiserver start_apiserver apiserver_ready PID_APISERVER 90; then
  log "kube-apiserver did not become ready"
  RUN_FAILED=1; exit 1
fi
# The default namespace is created by a post-start hook shortly after /readyz.
wait_until 30 k get namespace default || true
log "kube-apiserver ready (kubeconfig: $KUBECONFIG)"

# ---- kadmit ---------------------------------------------------------------------------------
needs_kadmit=0
for s in "${SELECTED[@]}"; do case "$s" in cluster-*) ;; *) needs_kadmit=1 ;; esac; done
KADMIT_READY=0
KADMIT_CERTS="$WORK/kadmit-certs"
# kadmit reads a policy directory, as in a cluster (the mounted ConfigMap): the checklist copy
# that scenarios rewrite, plus the overlays policy-overlay adds next to it.
POLICY_DIR="$WORK/policies"
POLICY="$POLICY_DIR/checklist.yaml"
mkdir -p "$POLICY_DIR"
if [ -n "${KADMIT_E2E_IMAGE:-}" ]; then
  # The policy's own paths ($WORK/attestations, $WORK/attestation-keys) are mounted read-only
  # at the same place in the container.
  mkdir -p "$WORK/attestations" "$WORK/attestation-keys"
  chmod 0755 "$WORK" # mktemp's 0700 would keep uid 65532 out of the mounted paths
fi
POLICY_BASE="$WORK/policy-base.yaml"

kadmit_certs() {
  mkdir -p "$KADMIT_CERTS"
  if "$KADMIT" certs --out-dir "$KADMIT_CERTS" --service kadmit --namespace kadmit-system \
       --ip 127.0.0.1 --dns localhost >"$LOGS/kadmit-certs.log" 2>&1 \
     && [ -s "$KADMIT_CERTS/ca.crt" ] && [ -s "$KADMIT_CERTS/tls.crt" ] && [ -s "$KADMIT_CERTS/tls.key" ]; then
    KADMIT_CERTS_SOURCE="kadmit certs"
    return 0
  fi
  # Fallback: same layout, made with openssl (recorded in the run output).
  KADMIT_CERTS_SOURCE="openssl (kadmit certs failed: $(head -c 200 "$LOGS/kadmit-certs.log" | tr '\n' ' '))"
  gen_ca "$KADMIT_CERTS" ca && gen_cert "$KADMIT_CERTS" tls ca kadmit.kadmit-system.svc \
    "IP:127.0.0.1,DNS:localhost,DNS:kadmit.kadmit-system.svc,DNS:kadmit.kadmit-system.svc.cluster.local"
}

kadmit_launch_image() {
  # The Secret's defaultMode 0440 with fsGroup 65532: the key readable by group 65532 only.
  chgrp -R 65532 "$KADMIT_CERTS" && chmod -R g+rX "$KADMIT_CERTS"
  # Caller authentication and the decision log as the host run has them (caller-auth checks
  # both): the API server's CA from $WORK (mounted read-only), the log in a writable directory
  # that $WORK/decisions.jsonl points into.
  mkdir -p "$WORK/decision-log" && chmod 0777 "$WORK/decision-log"
  ln -sfn decision-log/decisions.jsonl "$WORK/decisions.jsonl"
  chmod -R o+rX "$PKI"
  # The environment and volumes both runners take (podman's -e and -v syntax).
  local run=(-e KADMIT_LOG_LEVEL=debug -e KADMIT_CLIENT_CA="$PKI/ca.crt"
    -e KADMIT_CLIENT_ALLOWED_SUBJECTS="$KADMIT_CLIENT_CN"
    -e KADMIT_DECISION_LOG="$WORK/decision-log/decisions.jsonl"
    -v "$KADMIT_CERTS:/etc/kadmit/tls:ro" -v "$POLICY_DIR:/etc/kadmit/policies:ro"
    -v "$WORK/attestations:/etc/kadmit/attestations:ro"
    -v "$WORK/attestation-keys:/etc/kadmit/attestation-keys:ro" -v "$WORK:$WORK:ro"
    -v "$WORK/decision-log:$WORK/decision-log:rw")
  if [ -n "${KADMIT_E2E_IMAGE_BUNDLE:-}" ]; then
    "$REPO/tests/platforms/chroot-image.sh" "$KADMIT_E2E_IMAGE_BUNDLE" "${run[@]}" \
      -p "8443=$KADMIT_PORT" -p "9090=$KADMIT_METRICS_PORT" >>"$LOGS/kadmit.log" 2>&1 &
  else
    podman --runtime runc --cgroup-manager cgroupfs run --rm --name "kadmit-e2e-$$" \
      --read-only-tmpfs=false \
      --read-only --user 65532:65532 --cap-drop ALL --security-opt no-new-privileges \
      --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "${run[@]}" \
      -p "127.0.0.1:$KADMIT_PORT:8443" -p "127.0.0.1:$KADMIT_METRICS_PORT:9090" \
      "$KADMIT_E2E_IMAGE" >>"$LOGS/kadmit.log" 2>&1 &
  fi
  PID_KADMIT=$!
}
kadmit_launch() {
  if [ -n "${KADMIT_E2E_IMAGE:-}" ]; then
    kadmit_launch_image
    return
  fi
  "$KADMIT" serve --listen "127.0.0.1:$KADMIT_PORT" --metrics-listen "127.0.0.1:$KADMIT_METRICS_PORT" \
    --tls-cert "$KADMIT_CERTS/tls.crt" --tls-key "$KADMIT_CERTS/tls.key" --policies "$POLICY_DIR" \
    --client-ca "$PKI/ca.crt" --client-allowed-subjects "$KADMIT_CLIENT_CN" \
    --decision-log "$WORK/decisions.jsonl" \
    >>"$LOGS/kadmit.log" 2>&1 &
  PID_KADMIT=$!
}
kadmit_launch_new_ports() {
  KADMIT_PORT=$(free_port); KADMIT_METRICS_PORT=$(free_port)
  log "starting kadmit on 127.0.0.1:$KADMIT_PORT (metrics 127.0.0.1:$KADMIT_METRICS_PORT)"
  kadmit_launch
}
# First start: fresh ports (retried on a bind collision). Restarts reuse the registered port.
kadmit_start() {
  if [ -z "${KADMIT_PORT:-}" ]; then
    start_with_retry kadmit kadmit_launch_new_ports kadmit_ready PID_KADMIT 20
  else
    kadmit_launch
    wait_until 20 kadmit_ready || { log "kadmit did not become ready; log:"; tail -n 30 "$LOGS/kadmit.log" >&2; return 1; }
  fi
}
kadmit_stop() {
  stop_pid "$PID_KADMIT"
  PID_KADMIT=""
  if [ -n "${KADMIT_E2E_IMAGE:-}" ]; then
    podman --runtime runc --cgroup-manager cgroupfs rm -f "kadmit-e2e-$$" >/dev/null 2>&1 || true
  fi
}
kadmit_ready() {
  pid_alive "$PID_KADMIT" &&
    curl -fsS --max-time 2 --cacert "$KADMIT_CERTS/ca.crt" "${KADMIT_CLIENT_CERT[@]}" \
      "https://127.0.0.1:$KADMIT_PORT/readyz" >/dev/null
}

if [ "$needs_kadmit" = 1 ]; then
  if [ ! -x "$KADMIT" ]; then
    log "kadmit binary not found at $KADMIT (set KADMIT=...); webhook scenarios will fail"
  else
    kadmit_certs || { log "could not create kadmit certificates"; }
    log "kadmit certificates from: $KADMIT_CERTS_SOURCE"
    policy_init
    policy_write
    KADMIT_PORT=""
    if kadmit_start; then
      register_webhooks >"$LOGS/register.log" 2>&1 && wait_until 30 webhooks_active \
        && KADMIT_READY=1 || { log "webhook registration did not take effect"; cat "$LOGS/register.log" >&2; }
    fi
  fi
fi

# ---- scenarios ------------------------------------------------------------------------------
FAILED_NAMES=()
for s in "${SELECTED[@]}"; do
  fn="sc_${s//-/_}"
  slog="$LOGS/scenario-$s.log"
  start=$SECONDS
  if [ "$needs_kadmit" = 1 ] && [ "$KADMIT_READY" != 1 ] && [[ "$s" != cluster-* ]]; then
    echo "kadmit is not running (binary $KADMIT); cannot run a webhook scenario" >"$slog"
    rc=1
  else
    ( set -eE; NS="e2e-$s"; "$fn" ) >"$slog" 2>&1
    rc=$?
  fi
  dur=$(( SECONDS - start ))
  if [ "$rc" = 0 ]; then
    PASSED=$((PASSED + 1)); echo "PASS $s (${dur}s)"
    if [ "${E2E_VERBOSE:-0}" = 1 ]; then sed 's/^/    /' "$slog";
    elif [ "$s" = latency ] && [ -f "$LOGS/latency.txt" ]; then sed 's/^/    /' "$LOGS/latency.txt"; fi
  elif [ "$rc" = 77 ]; then
    SKIPPED=$((SKIPPED + 1)); echo "SKIP $s: $(tail -n 1 "$slog")"
  else
    FAILED=$((FAILED + 1)); FAILED_NAMES+=("$s"); RUN_FAILED=1
    echo "FAIL $s (${dur}s); last lines of its log:"
    tail -n 25 "$slog" | sed 's/^/    /'
  fi
  # a scenario may have stopped kadmit (webhook-down); bring it back for the next one
  if [ "$KADMIT_READY" = 1 ] && [ "$s" != kadmit-log ] && ! kadmit_ready; then
    kadmit_stop; policy_write; kadmit_start || KADMIT_READY=0
  fi
done

[ "$SKIPPED" -gt 0 ] && echo "($SKIPPED skipped)"
[ "$FAILED" -gt 0 ] && echo "failed: ${FAILED_NAMES[*]}"
FINAL_LINE="$PASSED passed, $FAILED failed"   # printed last, by teardown
[ "$FAILED" -eq 0 ]
