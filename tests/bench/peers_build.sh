#!/usr/bin/env bash
# Build (once) and cache the offline checkers audit_scale.sh compares kadmit with: kube-score,
# gator (Gatekeeper's CLI) and the Kyverno CLI, each from its Go module at a pinned version.
#
# Every module is built inside its own source tree (`go mod download`, then `go build` in a
# writable copy of the module), because the Kyverno and Gatekeeper go.mod files carry `replace`
# directives that `go install pkg@version` refuses. Binaries go to
# ${KADMIT_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kadmit-tools}/<tool>-<version>, outside the
# clone. Idempotent: with a complete cache it only prints the paths. Bench only: tests/run does
# not call it.
#
#   tests/bench/peers_build.sh              # all three (the Kyverno CLI is a long build)
#   tests/bench/peers_build.sh kube-score   # one of kube-score, gator, kyverno
#
# Output (stdout): shell assignments, usable with eval: KUBE_SCORE=... GATOR=... KYVERNO=...
# Build logs go to <cache>/peers-build.log with the time each build took.
#
# Environment:
#   GO                go binary (default: go on PATH, else /usr/local/go/bin/go)
#   KADMIT_TOOLS_DIR  cache root
#   TOOLS_BUILD_P     go build -p value (default 1: the build machines are small)
set -euo pipefail

KUBE_SCORE_VERSION=v1.20.0
GATEKEEPER_VERSION=v3.23.1
KYVERNO_VERSION=v1.19.1

ME=peers_build.sh LOG_NAME=peers-build.log
. "$(dirname "$0")/../tools/go_tools.sh"

# build <output-path> <module> <version> <package dir inside the module>
build() {
  local out="$1" mod="$2" ver="$3" pkg="$4"
  if [ -x "$out" ]; then return 0; fi
  echo "peers_build.sh: building $mod@$ver ./$pkg -> $out (log: $LOG)" >&2
  local start=$SECONDS src work
  echo "=== $(date -u +%FT%TZ) $mod@$ver ./$pkg with $("$GO" version)" >>"$LOG"
  src="$(cd "$CACHE" && "$GO" mod download -json "$mod@$ver" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  [ -d "$src" ] || { echo "peers_build.sh: go mod download $mod@$ver failed" >&2; exit 1; }
  work="$(mktemp -d "$CACHE/.src.XXXXXX")"
  cp -r "$src/." "$work" && chmod -R u+w "$work"
  if ! (cd "$work" && "$GO" mod download >>"$LOG" 2>&1 &&
    "$GO" build -p "$P" -trimpath -ldflags "-s -w" -o "$out.tmp" "./$pkg" >>"$LOG" 2>&1); then
    rm -rf "$work" "$out.tmp"
    build_failed "$mod@$ver"
  fi
  mv "$out.tmp" "$out"
  rm -rf "$work"
  echo "=== built $mod@$ver in $((SECONDS - start))s" >>"$LOG"
  echo "peers_build.sh: built $mod@$ver in $((SECONDS - start))s" >&2
}

want() { [ $# -eq 0 ] || [[ " $* " == *" $TOOL "* ]]; }
for TOOL in kube-score gator kyverno; do
  want "$@" || continue
  case $TOOL in
  kube-score) build "$CACHE/kube-score-$KUBE_SCORE_VERSION" github.com/zegl/kube-score \
    "$KUBE_SCORE_VERSION" cmd/kube-score ;;
  gator) build "$CACHE/gator-$GATEKEEPER_VERSION" github.com/open-policy-agent/gatekeeper/v3 \
    "$GATEKEEPER_VERSION" cmd/gator ;;
  kyverno) build "$CACHE/kyverno-$KYVERNO_VERSION" github.com/kyverno/kyverno \
    "$KYVERNO_VERSION" cmd/cli/kubectl-kyverno ;;
  esac
done
echo "KUBE_SCORE=$CACHE/kube-score-$KUBE_SCORE_VERSION"
echo "GATOR=$CACHE/gator-$GATEKEEPER_VERSION"
echo "KYVERNO=$CACHE/kyverno-$KYVERNO_VERSION"
