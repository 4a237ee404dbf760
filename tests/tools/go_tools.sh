# Sourced by the scripts that build pinned Go tools into a cache outside the clone
# (tests/tools/build.sh, tests/bench/peers_build.sh), after they set ME (their name in
# messages) and LOG's file name under the cache (LOG_NAME). Sets
#   GO     the go binary: $GO, else go on PATH, else /usr/local/go/bin/go
#   CACHE  ${KADMIT_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kadmit-tools}, created
#   LOG    $CACHE/$LOG_NAME
#   P      go build -p value ($TOOLS_BUILD_P, default 1: the build machines are small)
# exports CGO_ENABLED (default 0) and defines
#   build_failed WHAT   says WHAT failed, with the last lines of $LOG, and exits 1
GO="${GO:-}"
if [ -z "$GO" ]; then
  if command -v go >/dev/null 2>&1; then GO="$(command -v go)";
  elif [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go;
  else echo "$ME: no go toolchain found (set GO=...)" >&2; exit 2; fi
fi
CACHE="${KADMIT_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kadmit-tools}"
LOG="$CACHE/$LOG_NAME"
mkdir -p "$CACHE"
export CGO_ENABLED="${CGO_ENABLED:-0}"
P="${TOOLS_BUILD_P:-1}"

build_failed() {
  echo "$ME: building $1 failed; last lines of $LOG:" >&2
  tail -n 30 "$LOG" >&2
  exit 1
}
