#!/usr/bin/env bash
# Run an unpacked image as deploy/base's Deployment runs it, without a container runtime: the
# fallback of tests/platforms/image.sh and tests/e2e/run.sh where podman cannot run.
#
#   tests/platforms/chroot-image.sh BUNDLE [-p PORT=HOSTPORT]... [-v SRC:DST[:ro|:rw]]...
#                                    [-e NAME=VALUE]... [-- ARG...]
#
# BUNDLE is what `umoci unpack --image OCI:TAG BUNDLE` writes: rootfs/ and config.json, whose
# process.args (the image's entrypoint and command, or the entrypoint and ARG... when given)
# and process.user are what runs. In a private mount namespace (unshare), the root file system
# is bind-mounted read-only, the -v directories are bind-mounted into it (read-only unless
# :rw; :ro is accepted, as podman takes it), with a fresh /proc and a /dev holding null, zero, random and urandom. No writable /tmp:
# Kubernetes' readOnlyRootFilesystem gives none (podman runs get --read-only-tmpfs=false).
# The process starts through `setpriv --no-new-privs` and
# `chroot --userspec=UID:GID`, so it runs as the image's user with no capabilities (a setuid
# away from root drops them) and cannot regain privileges, in an environment holding only the
# -e variables. It is exec'd: the caller's $! is the process itself.
#
# Unlike podman it shares the host's network: -p PORT=HOSTPORT rewrites an argument
# "0.0.0.0:PORT" to "127.0.0.1:HOSTPORT", as podman's -p 127.0.0.1:HOSTPORT:PORT would publish
# it. No cgroup limits, no seccomp profile. Needs root.
set -euo pipefail
if [ $# -lt 1 ] || [ ! -f "$1/config.json" ] || [ ! -d "$1/rootfs" ]; then
  echo "chroot-image.sh: BUNDLE (umoci unpack's output) expected" >&2
  exit 2
fi
bundle=$(realpath "$1")
shift
ports=() mounts=() envs=()
while [ $# -gt 0 ]; do
  case "$1" in
    -p) ports+=("$2"); shift 2 ;;
    -v) mounts+=("$2"); shift 2 ;;
    -e) envs+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "chroot-image.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
root="$bundle/rootfs"
user=$(jq -r '"\(.process.user.uid):\(.process.user.gid)"' "$bundle/config.json")
args=()
if [ $# -gt 0 ]; then
  args=("$(jq -r '.process.args[0]' "$bundle/config.json")" "$@")
else
  mapfile -t args < <(jq -r '.process.args[]' "$bundle/config.json")
fi
for p in "${ports[@]}"; do
  for i in "${!args[@]}"; do
    [ "${args[$i]}" != "0.0.0.0:${p%%=*}" ] || args[$i]="127.0.0.1:${p#*=}"
  done
done

# Mount points the image lacks are made in the unpacked copy (as podman makes them), before
# its root turns read-only.
mkdir -p "$root/proc" "$root/dev" "$root/tmp"

SETPRIV=$(command -v setpriv) CHROOT=$(command -v chroot)
export SETPRIV CHROOT
# shellcheck disable=SC2016 # expanded by the inner shell
exec unshare --mount --propagation private -- bash -euc '
  root=$1 user=$2 nmounts=$3 nenvs=$4
  shift 4
  mounts=("${@:1:nmounts}")
  shift "$nmounts"
  envs=("${@:1:nenvs}")
  shift "$nenvs"
  mount --bind "$root" "$root"
  mount -t proc proc "$root/proc"
  mount -t tmpfs -o mode=0755,nosuid tmpfs "$root/dev"
  for d in null zero random urandom; do
    touch "$root/dev/$d"
    mount --bind "/dev/$d" "$root/dev/$d"
  done
  # Volumes last, in order (one may sit inside another, or under /tmp).
  for m in "${mounts[@]}"; do
    src=${m%%:*} dst=${m#*:} mode=ro
    case "$dst" in *:rw) dst=${dst%:rw} mode=rw ;; *:ro) dst=${dst%:ro} ;; esac
    mkdir -p "$root/$dst"
    mount --bind "$src" "$root/$dst"
    [ "$mode" = rw ] || mount -o remount,bind,ro "$root/$dst"
  done
  mount -o remount,bind,ro "$root"
  exec /usr/bin/env -i "${envs[@]}" "$SETPRIV" --no-new-privs \
    "$CHROOT" --userspec="$user" --groups="${user#*:}" "$root" "$@"
' chroot-image "$root" "$user" "${#mounts[@]}" "${#envs[@]}" "${mounts[@]}" "${envs[@]}" "${args[@]}"
