#!/usr/bin/env bash
# Build (once) and cache the Go tools the attestation tests use: cosign (signs real
# attestations) and crane (pushes images; `crane registry serve` is the test registry).
#
# Versions are pinned below. Binaries go to ${KADMIT_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kadmit-tools}/<tool>-<version>,
# outside the clone, so only the first run pays the build. Idempotent: with a complete
# cache it only prints the paths.
#
# Output (stdout): shell assignments, usable with eval:  COSIGN=... CRANE=...
# Build logs go to <cache>/build.log.
#
# Environment:
#   GO                go binary (default: go on PATH, else /usr/local/go/bin/go)
#   KADMIT_TOOLS_DIR  cache root
#   TOOLS_BUILD_P     go build -p value (default 1: the build machines are small)
set -euo pipefail

COSIGN_VERSION=v3.1.3
GGCR_VERSION=v0.22.1

GO="${GO:-}"
if [ -z "$GO" ]; then
  if command -v go >/dev/null 2>&1; then GO="$(command -v go)";
  elif [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go;
  else echo "tools/build.sh: no go toolchain found (set GO=...)" >&2; exit 2; fi
fi

CACHE="${KADMIT_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kadmit-tools}"
LOG="$CACHE/build.log"
mkdir -p "$CACHE"
export CGO_ENABLED="${CGO_ENABLED:-0}"
P="${TOOLS_BUILD_P:-1}"

# build <output-path> <package@version>
build() {
  local out="$1" pkg="$2"
  if [ -x "$out" ]; then return 0; fi
  echo "tools/build.sh: building $pkg -> $out (log: $LOG)" >&2
  local start=$SECONDS gobin
  gobin="$(mktemp -d "$CACHE/.gobin.XXXXXX")"
  echo "=== $(date -u +%FT%TZ) go install $pkg with $("$GO" version)" >>"$LOG"
  if ! GOBIN="$gobin" "$GO" install -p "$P" -trimpath -ldflags "-s -w" "$pkg" >>"$LOG" 2>&1; then
    echo "tools/build.sh: building $pkg failed; last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2
    rm -rf "$gobin"
    exit 1
  fi
  mv "$gobin"/* "$out"
  rm -rf "$gobin"
  echo "tools/build.sh: built $pkg in $((SECONDS - start))s" >&2
}

build "$CACHE/crane-$GGCR_VERSION" "github.com/google/go-containerregistry/cmd/crane@$GGCR_VERSION"
build "$CACHE/cosign-$COSIGN_VERSION" "github.com/sigstore/cosign/v3/cmd/cosign@$COSIGN_VERSION"

echo "COSIGN=$CACHE/cosign-$COSIGN_VERSION"
echo "CRANE=$CACHE/crane-$GGCR_VERSION"
