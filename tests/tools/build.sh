#!/usr/bin/env bash
# Build (once) and cache the Go tools the attestation tests use: cosign (signs real
# attestations), crane (pushes images; `crane registry serve` is the test registry) and
# referrers-registry (the same go-containerregistry registry with its OCI 1.1 referrers API on,
# from tests/tools/referrers-registry/, which crane's command leaves off).
#
# Versions are pinned below. Binaries go to ${KADMIT_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kadmit-tools}/<tool>-<version>,
# outside the clone, so only the first run pays the build. Idempotent: with a complete
# cache it only prints the paths.
#
# Output (stdout): shell assignments, usable with eval:  COSIGN=... CRANE=... REFERRERS_REGISTRY=...
# Build logs go to <cache>/build.log.
#
# Environment:
#   GO                go binary (default: go on PATH, else /usr/local/go/bin/go)
#   KADMIT_TOOLS_DIR  cache root
#   TOOLS_BUILD_P     go build -p value (default 1: the build machines are small)
set -euo pipefail

COSIGN_VERSION=v3.1.3
GGCR_VERSION=v0.22.1

HERE="$(cd "$(dirname "$0")" && pwd)"
ME=tools/build.sh LOG_NAME=build.log
. "$HERE/go_tools.sh"

# build <output-path> <package@version>
build() {
  local out="$1" pkg="$2"
  if [ -x "$out" ]; then return 0; fi
  echo "tools/build.sh: building $pkg -> $out (log: $LOG)" >&2
  local start=$SECONDS gobin
  gobin="$(mktemp -d "$CACHE/.gobin.XXXXXX")"
  echo "=== $(date -u +%FT%TZ) go install $pkg with $("$GO" version)" >>"$LOG"
  if ! GOBIN="$gobin" "$GO" install -p "$P" -trimpath -ldflags "-s -w" "$pkg" >>"$LOG" 2>&1; then
    rm -rf "$gobin"
    build_failed "$pkg"
  fi
  mv "$gobin"/* "$out"
  rm -rf "$gobin"
  echo "tools/build.sh: built $pkg in $((SECONDS - start))s" >&2
}

build "$CACHE/crane-$GGCR_VERSION" "github.com/google/go-containerregistry/cmd/crane@$GGCR_VERSION"
build "$CACHE/cosign-$COSIGN_VERSION" "github.com/sigstore/cosign/v3/cmd/cosign@$COSIGN_VERSION"

# referrers-registry: a local module; its cache name carries the source's hash
RR_SRC="$HERE/referrers-registry"
RR_OUT="$CACHE/referrers-registry-$GGCR_VERSION-$(cat "$RR_SRC"/go.mod "$RR_SRC"/go.sum "$RR_SRC"/main.go | sha256sum | cut -c1-12)"
if [ ! -x "$RR_OUT" ]; then
  echo "tools/build.sh: building $RR_SRC -> $RR_OUT (log: $LOG)" >&2
  echo "=== $(date -u +%FT%TZ) go build $RR_SRC with $("$GO" version)" >>"$LOG"
  if ! (cd "$RR_SRC" && "$GO" build -p "$P" -trimpath -ldflags "-s -w" -o "$RR_OUT.tmp" .) >>"$LOG" 2>&1; then
    build_failed "$RR_SRC"
  fi
  mv "$RR_OUT.tmp" "$RR_OUT"
fi

echo "COSIGN=$CACHE/cosign-$COSIGN_VERSION"
echo "CRANE=$CACHE/crane-$GGCR_VERSION"
echo "REFERRERS_REGISTRY=$RR_OUT"
