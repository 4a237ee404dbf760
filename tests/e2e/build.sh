#!/usr/bin/env bash
# Build (once) and cache etcd, kube-apiserver and kubectl for the e2e harness.
#
# One Go module per supported Kubernetes minor, tests/e2e/k8s/<minor>/go.mod, pins
# k8s.io/kubernetes and the etcd that release is tested with (its build/dependencies.yaml);
# KADMIT_E2E_K8S picks one. Binaries are cached under
# $E2E_CACHE_DIR/<k8s-version>-etcd<etcd-version>/bin,
# so only the first run pays the build. Idempotent: re-running with a complete
# cache only prints the paths.
#
# `build.sh --cached` builds nothing: it prints the same lines when every binary is already
# cached, else says what is missing on stderr and exits 3 (tests that use the binaries when
# they are there call it so).
#
# Output (stdout): shell assignments, one per line, usable with eval:
#   E2E_BIN_DIR=... ETCD=... KUBE_APISERVER=... KUBECTL=...
# Build logs go to <cache>/build.log.
#
# Environment:
#   KADMIT_E2E_K8S Kubernetes minor (default 1.37, the newest; 1.32 is the oldest kept here)
#   GO             go binary (default: go on PATH, else /usr/local/go/bin/go)
#   E2E_CACHE_DIR  cache root (default: tests/e2e/.cache)
#   E2E_BUILD_P    go build -p value (default 2; lower it if memory is short)
#   E2E_SYSTEM_KUBECTL=1  use kubectl from PATH if its minor version matches
#                  instead of building it (default 0: always build it, so CI and
#                  dev machines run the same client)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
CACHED_ONLY=0
if [ "${1:-}" = --cached ]; then CACHED_ONLY=1; fi

GO="${GO:-}"
if [ -z "$GO" ]; then
  if command -v go >/dev/null 2>&1; then GO="$(command -v go)";
  elif [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go;
  elif [ "$CACHED_ONLY" = 1 ]; then GO=go;
  else echo "build.sh: no go toolchain found (set GO=...)" >&2; exit 2; fi
fi

K8S_MINOR="${KADMIT_E2E_K8S:-1.37}"
MOD="$HERE/k8s/$K8S_MINOR"
if [ ! -f "$MOD/go.mod" ]; then
  echo "build.sh: no module for Kubernetes $K8S_MINOR (KADMIT_E2E_K8S); have: $(ls "$HERE/k8s" | tr '\n' ' ')" >&2
  exit 2
fi
cd "$MOD"
modver() { awk -v m="$1" '$1==m && $2 ~ /^v/ {print $2; exit}' go.mod; }
K8S_VERSION="$(modver k8s.io/kubernetes)"
ETCD_VERSION="$(modver go.etcd.io/etcd/server/v3)"
[ -n "$K8S_VERSION" ] && [ -n "$ETCD_VERSION" ] || { echo "build.sh: cannot read versions from go.mod" >&2; exit 2; }

CACHE_ROOT="${E2E_CACHE_DIR:-$HERE/.cache}"
CACHE="$CACHE_ROOT/${K8S_VERSION}-etcd${ETCD_VERSION}"
BIN="$CACHE/bin"
LOG="$CACHE/build.log"
if [ "$CACHED_ONLY" = 0 ]; then mkdir -p "$BIN"; fi

export GOFLAGS="${GOFLAGS:--mod=mod}"
export CGO_ENABLED="${CGO_ENABLED:-0}"
P="${E2E_BUILD_P:-2}"

# build <output-name> <package>
build() {
  local out="$1" pkg="$2"
  if [ -x "$BIN/$out" ]; then return 0; fi
  if [ "$CACHED_ONLY" = 1 ]; then
    echo "build.sh: $BIN/$out is not built (run tests/e2e/build.sh)" >&2
    exit 3
  fi
  echo "build.sh: building $out ($pkg) -> $BIN/$out (log: $LOG)" >&2
  local start=$SECONDS
  if ! "$GO" build -p "$P" -trimpath -ldflags "-s -w" -o "$BIN/$out.tmp" "$pkg" >>"$LOG" 2>&1; then
    echo "build.sh: building $out failed; last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2
    rm -f "$BIN/$out.tmp"
    exit 1
  fi
  mv "$BIN/$out.tmp" "$BIN/$out"
  echo "build.sh: built $out in $((SECONDS - start))s" >&2
}

if [ "$CACHED_ONLY" = 0 ]; then
  echo "=== $(date -u +%FT%TZ) build k8s $K8S_VERSION etcd $ETCD_VERSION with $("$GO" version)" >>"$LOG"
fi

build etcd go.etcd.io/etcd/server/v3
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver

KUBECTL_OUT="$BIN/kubectl"
if [ "${E2E_SYSTEM_KUBECTL:-0}" = 1 ] && command -v kubectl >/dev/null 2>&1; then
  want_minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
  have="$(kubectl version --client -o json 2>/dev/null | sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p' | head -1)"
  if [ "$have" = "$want_minor" ]; then KUBECTL_OUT="$(command -v kubectl)"; fi
fi
if [ "$KUBECTL_OUT" = "$BIN/kubectl" ]; then
  build kubectl k8s.io/kubernetes/cmd/kubectl
fi

echo "GO=$GO"
echo "E2E_BIN_DIR=$BIN"
echo "ETCD=$BIN/etcd"
echo "KUBE_APISERVER=$BIN/kube-apiserver"
echo "KUBECTL=$KUBECTL_OUT"
echo "K8S_MINOR=$K8S_MINOR"
echo "K8S_VERSION=$K8S_VERSION"
echo "ETCD_VERSION=$ETCD_VERSION"
