#!/usr/bin/env bash
# Build kadmit on Debian 13 'trixie' against its Mbed TLS 3.6 and run the unit and integration
# tests there, so tests/run covers both supported releases (the host is Debian 12, Mbed TLS 2.28).
#
#   tests/platforms/debian13.sh          build (or reuse) the root, then build and test in it
#   tests/platforms/debian13.sh --root   only make sure the root exists; print its path
#   tests/platforms/debian13.sh -- CMD   run CMD in the root, in the clone (mounted at /src)
#
# The root is a plain directory made by mmdebstrap from Debian 13 packages, cached outside the
# clone in ${XDG_CACHE_HOME:-~/.cache}/kadmit-platforms/debian13 (about 600 MB; rebuilt when the
# package list of `tests/deps.sh --list platform` changes). Entering it needs root: mounts are made
# in a private mount namespace (unshare), so nothing is left mounted when the script ends.
# The build directory lives inside the root (/root/build), so a second run is incremental.
# KADMIT_E2E_BIN (etcd, kube-apiserver, kubectl) is mounted read-only when set, for the
# integration test that talks to a real API server.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
cache="${KADMIT_PLATFORM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kadmit-platforms}"
root="$cache/debian13"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

if [ "$(id -u)" -ne 0 ]; then
  echo "debian13.sh: needs root (mmdebstrap, mount, chroot)" >&2
  exit 2
fi

# ---- the root: made once, reused while the package list is unchanged ----------------------
pkgs=$(tests/deps.sh --list platform | paste -sd, -)
stamp="trixie $pkgs"
if [ ! -f "$root/.kadmit-root" ] || [ "$(cat "$root/.kadmit-root")" != "$stamp" ]; then
  tests/deps.sh image
  mkdir -p "$cache"
  echo "debian13: creating the Debian 13 root in $root (once; about a minute)" >&2
  rm -rf "$root.new"
  mmdebstrap --quiet --variant=apt --include="$pkgs" trixie "$root.new" \
    "deb $mirror trixie main" "deb $mirror trixie-updates main" \
    "deb $security trixie-security main" >&2
  printf '%s\n' "$stamp" >"$root.new/.kadmit-root"
  rm -rf "$root"
  mv "$root.new" "$root"
fi
if [ "${1:-}" = --root ]; then
  echo "$root"
  exit 0
fi

# ---- enter it: proc, dev, a fresh /tmp, the clone at /src ----------------------------------
in_root() {
  local e2e_mount="" e2e_env=""
  # The Go-built test tools (tools/build.sh's cache) and the Go toolchain are static binaries:
  # the root uses the host's, read-only, instead of building them again.
  local tools="${XDG_CACHE_HOME:-$HOME/.cache}/kadmit-tools" tools_mount="" go_mount=""
  if [ -d "$tools" ]; then
    tools_mount="mkdir -p '$root/root/.cache/kadmit-tools' && mount --bind -o ro '$tools' '$root/root/.cache/kadmit-tools' &&"
  fi
  if [ -d /usr/local/go ]; then
    go_mount="mkdir -p '$root/usr/local/go' && mount --bind -o ro /usr/local/go '$root/usr/local/go' &&"
  fi
  if [ -n "${KADMIT_E2E_BIN:-}" ]; then
    e2e_mount="mkdir -p '$root/e2e-bin' && mount --bind -o ro '$KADMIT_E2E_BIN' '$root/e2e-bin' &&"
    e2e_env="KADMIT_E2E_BIN=/e2e-bin"
  fi
  unshare --mount --propagation private -- bash -euc "
    mount -t proc proc '$root/proc'
    mount --rbind /dev '$root/dev'
    mount -t tmpfs tmpfs '$root/tmp'
    mkdir -p '$root/src'
    mount --bind '$src' '$root/src'
    $e2e_mount $tools_mount $go_mount true
    exec chroot '$root' /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/go/bin HOME=/root \
      LANG=C.UTF-8 CI='${CI:-}' KADMIT_REQUIRE_ALL='${KADMIT_REQUIRE_ALL:-}' $e2e_env \
      /bin/bash -euc 'cd /src && \"\$@\"' bash \"\$@\"" bash "$@"
}
if [ "${1:-}" = -- ]; then
  shift
  in_root "$@"
  exit
fi

jobs=$(nproc)
in_root bash -c "
  echo \"== Debian \$(cat /etc/debian_version), Mbed TLS \$(dpkg-query -W -f='\${Version}' libmbedtls-dev)\"
  cmake -S . -B /root/build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKADMIT_TESTS=ON >/dev/null
  cmake --build /root/build -j$jobs
  /root/build/kadmit version
  ctest --test-dir /root/build --output-on-failure -j$jobs"
