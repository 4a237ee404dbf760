# A real etcd + kube-apiserver on loopback for the audit tests (source it from the repository
# root). Token auth and RBAC; the admin is in system:masters.
#   apiserver_setup TOOLS...  sets ROOT (the repository root, $PWD) and KADMIT (absolute; default
#                             build/kadmit), then apiserver_find_bin, and SKIPs unless every
#                             command of TOOLS is installed
#   apiserver_find_bin        sets BIN and KUBECTL, or prints SKIP and exits (exit 1 with
#                             KADMIT_REQUIRE_ALL): $KADMIT_E2E_BIN, else the binaries
#                             tests/e2e/build.sh has cached for $KADMIT_E2E_K8S
#                             (`build.sh --cached`, which builds nothing)
#   apiserver_start           needs $WORK; starts etcd and kube-apiserver (PID_ETCD, PID_API,
#                             API_PORT, PKI, ADMIN_TOKEN, $WORK/admin.kubeconfig) and waits until
#                             ready; exits 1 when one does not start
#   apiserver_stop            kills them (for the caller's EXIT trap)
#   kubeconfig FILE TOKEN     a kubeconfig for a bearer token
#   k ARGS...                 kubectl as the admin
PID_ETCD="" PID_API=""

apiserver_skip() { # WHY: prints SKIP and exits 0 (1 with KADMIT_REQUIRE_ALL)
  echo "SKIP: $1"
  [ -n "${KADMIT_REQUIRE_ALL:-}" ] && { echo "KADMIT_REQUIRE_ALL is set: a skipped check fails"; exit 1; }
  exit 0
}

apiserver_setup() { # TOOLS...
  ROOT="$PWD"
  KADMIT="${KADMIT:-build/kadmit}"
  case "$KADMIT" in /*) ;; *) KADMIT="$ROOT/$KADMIT" ;; esac
  apiserver_find_bin
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || apiserver_skip "$tool not installed"
  done
}

apiserver_find_bin() {
  BIN="${KADMIT_E2E_BIN:-}"
  local cached
  if [ -z "$BIN" ] && cached="$("$ROOT/tests/e2e/build.sh" --cached 2>/dev/null)"; then
    BIN="$(printf '%s\n' "$cached" | sed -n 's/^E2E_BIN_DIR=//p')"
  fi
  if [ -z "$BIN" ] || [ ! -x "$BIN/kube-apiserver" ] || [ ! -x "$BIN/etcd" ]; then
    apiserver_skip "no etcd/kube-apiserver (set KADMIT_E2E_BIN or run tests/e2e/build.sh)"
  fi
  KUBECTL="$BIN/kubectl"
  [ -x "$KUBECTL" ] || KUBECTL="$(command -v kubectl || true)"
  [ -n "$KUBECTL" ] || apiserver_skip "no kubectl"
}

apiserver_stop() {
  for p in $PID_API $PID_ETCD; do
    kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
}

kubeconfig() { # FILE TOKEN
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: t, cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$PKI/ca.crt"}}]
users: [{name: u, user: {token: "$2"}}]
contexts: [{name: t, context: {cluster: t, user: u}}]
current-context: t
EOF
}
k() { "$KUBECTL" --kubeconfig "$WORK/admin.kubeconfig" "$@"; }

apiserver_start() {
  # Below the kernel's ephemeral range: a port there may be taken by any outgoing connection
  # between this check and etcd's bind, which parallel tests make likely.
  . tests/lib/ports.sh
  KA_PORTS_FILE="$WORK/ports"
  ETCD_PORT=$(free_port); ETCD_PEER=$(free_port); API_PORT=$(free_port)

  # etcd + kube-apiserver with token auth and RBAC
  PKI="$WORK/pki"; mkdir -p "$PKI"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=ca \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign >/dev/null 2>&1
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=kube-apiserver \
    -keyout "$PKI/api.key" -out "$PKI/api.csr" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1\nextendedKeyUsage=serverAuth\n' >"$PKI/api.ext"
  openssl x509 -req -in "$PKI/api.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 1 \
    -extfile "$PKI/api.ext" -out "$PKI/api.crt" >/dev/null 2>&1
  openssl genrsa -out "$PKI/sa.key" 2048 >/dev/null 2>&1
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" >/dev/null 2>&1
  ADMIN_TOKEN="$(openssl rand -hex 24)"
  printf '%s,admin,admin-uid,"system:masters"\n' "$ADMIN_TOKEN" >"$PKI/tokens.csv"

  "$BIN/etcd" --name t --data-dir "$WORK/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-cluster "t=http://127.0.0.1:$ETCD_PEER" --unsafe-no-fsync --log-level warn >"$WORK/etcd.log" 2>&1 &
  PID_ETCD=$!
  # etcd first (a loaded machine can take seconds), so a failure says which part failed.
  for i in $(seq 1 600); do
    curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" >/dev/null 2>&1 && break
    if ! kill -0 "$PID_ETCD" 2>/dev/null; then
      tail -20 "$WORK/etcd.log" >&2
      echo "FAIL: etcd exited before becoming healthy"
      exit 1
    fi
    sleep 0.2
  done
  # No endpoint reconciler: 1.37 refuses to publish 127.0.0.1 as the kubernetes Service's
  # endpoint (1.32 only logged it), and nothing here reaches the API server through it.
  "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
    --tls-cert-file="$PKI/api.crt" --tls-private-key-file="$PKI/api.key" --client-ca-file="$PKI/ca.crt" \
    --token-auth-file="$PKI/tokens.csv" --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" --service-cluster-ip-range=10.0.0.0/24 \
    --disable-admission-plugins=ServiceAccount --cert-dir="$WORK/api-certs" --profiling=false \
    --endpoint-reconciler-type=none >"$WORK/apiserver.log" 2>&1 &
  PID_API=$!
  kubeconfig "$WORK/admin.kubeconfig" "$ADMIN_TOKEN"
  for i in $(seq 1 600); do
    k get --raw /readyz >/dev/null 2>&1 && break
    kill -0 "$PID_API" 2>/dev/null || break
    sleep 0.2
  done
  if ! k get --raw /readyz >/dev/null 2>&1; then
    tail -20 "$WORK/apiserver.log" >&2
    echo "FAIL: kube-apiserver did not become ready"
    exit 1
  fi
}
