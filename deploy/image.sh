#!/usr/bin/env bash
# Build kadmit's container image from Debian 13 packages, without a Docker daemon.
#
#   deploy/image.sh [OUT_DIR]        default OUT_DIR: build/image
#
# Writes OUT_DIR/oci (an OCI image layout, tag "latest") and OUT_DIR/kadmit.tar (a
# docker-archive for `docker load` / `kind load image-archive` / `podman load`), and prints the
# image's digest. Needs root (mmdebstrap, chroot) and the tools of `tests/deps.sh image`.
#
# It also builds the audit CronJob's image (deploy/audit), ghcr.io/kadmit/kadmit-audit:
# OUT_DIR/audit-oci and OUT_DIR/kadmit-audit.tar, the same root plus kubectl (the one
# tests/e2e/build.sh builds from the Kubernetes source and caches, or $KADMIT_E2E_BIN/kubectl)
# and the shell, date, grep and head its script runs. KADMIT_IMAGE_NO_AUDIT=1 skips it.
#
# The binary is built in the cached Debian 13 root of tests/platforms/debian13.sh (Mbed TLS
# 3.6, Release, stripped). The image holds only that binary and the runtime libraries, extracted
# from Debian 13's packages by `mmdebstrap --variant=extract` (libmbedtls21, libmbedx509-7,
# libmbedcrypto16, libmicrohttpd12t64, libcjson1, libyaml-0-2, libcurl4t64 and ca-certificates
# with their dependencies), with one
# /var/lib/dpkg/status.d/<package> entry per package so scanners (Trivy, Grype) see their
# versions. No shell, no package manager. It runs as 65532:65532 with deploy/Dockerfile's
# entrypoint and command, which deploy/base's Deployment repeats.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
out=$(realpath -m "${1:-build/image}")
tag=latest
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
runtime=(libmbedtls21 libmbedx509-7 libmbedcrypto16 libmicrohttpd12t64 libcjson1 libyaml-0-2
         libcurl4t64 ca-certificates)
# The Deployment's arguments (deploy/base/deployment.yaml) and deploy/Dockerfile's CMD.
cmd=(serve --listen 0.0.0.0:8443 --metrics-listen 0.0.0.0:9090
     --tls-cert /etc/kadmit/tls/tls.crt --tls-key /etc/kadmit/tls/tls.key
     --policies /etc/kadmit/policies --attestations /etc/kadmit/attestations)

if [ "$(id -u)" -ne 0 ]; then
  echo "image.sh: needs root (mmdebstrap, chroot)" >&2
  exit 2
fi
tests/deps.sh image

# ---- the binary, built on Debian 13 --------------------------------------------------------
root=$(tests/platforms/debian13.sh --root)
tests/platforms/debian13.sh -- bash -c '
  cmake -S . -B /root/build-image -DCMAKE_BUILD_TYPE=Release -DKADMIT_TESTS=OFF >/dev/null
  cmake --build /root/build-image -j"$(nproc)" --target kadmit >/dev/null
  strip /root/build-image/kadmit
  /root/build-image/kadmit version' >&2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- a root file system: the binary and the runtime libraries, from Debian 13's packages ----
# make_root DIR KEEP PACKAGE...: extract the packages with their dependencies, keep the
# libraries, their copyright files and one dpkg entry per package, drop every program but the
# space-separated KEEP list, and install kadmit. The downloaded .debs are kept
# (--skip=cleanup/apt/cache) for their control fields: each becomes the package's status.d entry,
# as distroless images have them.
make_root() {
  local rootfs=$1 keep=$2
  shift 2
  mmdebstrap --quiet --variant=extract --include="$(IFS=,; echo "$*")" \
    --skip=cleanup/apt/cache \
    trixie "$rootfs" "deb $mirror trixie main" "deb $mirror trixie-updates main" \
    "deb $security trixie-security main" >&2
  mkdir -p "$rootfs/var/lib/dpkg/status.d"
  for deb in "$rootfs"/var/cache/apt/archives/*.deb; do
    pkg=$(dpkg-deb -f "$deb" Package)
    { dpkg-deb -f "$deb" Package Version Architecture Maintainer Installed-Size Depends \
        Pre-Depends Section Priority Source Multi-Arch Homepage Description
      echo "Status: install ok installed"; } >"$rootfs/var/lib/dpkg/status.d/$pkg"
  done
  [ -s "$rootfs/var/lib/dpkg/status.d/libmbedtls21" ] || { echo "image.sh: no status.d entries" >&2; exit 1; }

  # Drop what a daemon never reads (apt's state, manuals, translations, charset converters,
  # documentation but licences), and every program not in KEEP.
  rm -rf "$rootfs"/etc/apt "$rootfs"/var/lib/apt "$rootfs"/var/cache "$rootfs"/var/log \
    "$rootfs"/usr/share/man "$rootfs"/usr/share/info "$rootfs"/usr/share/locale \
    "$rootfs"/usr/share/lintian "$rootfs"/usr/share/bug "$rootfs"/usr/lib/*/gconv \
    "$rootfs"/usr/share/i18n "$rootfs"/usr/lib/*/audit
  find "$rootfs/usr/share/doc" -type f ! -name copyright -delete 2>/dev/null || true
  find "$rootfs/usr/share/doc" -type d -empty -delete 2>/dev/null || true
  local p
  for p in "$rootfs"/usr/bin/* "$rootfs"/usr/sbin/*; do
    case " $keep " in *" $(basename "$p") "*) ;; *) rm -f "$p" ;; esac
  done

  # ca-certificates' postinst (not run by an extraction) would concatenate the bundle libcurl
  # reads.
  mkdir -p "$rootfs/etc/ssl/certs"
  cat "$rootfs"/usr/share/ca-certificates/mozilla/*.crt >"$rootfs/etc/ssl/certs/ca-certificates.crt"
  install -D -m 0755 "$root/root/build-image/kadmit" "$rootfs/usr/bin/kadmit"
  # Merged /usr, as base-files makes it (not extracted here): the loader is /lib64/ld-linux-*.
  local d
  for d in bin lib lib64 sbin; do
    [ -e "$rootfs/$d" ] || [ ! -d "$rootfs/usr/$d" -a "$d" != bin ] || ln -s "usr/$d" "$rootfs/$d"
  done
  install -d -m 0755 "$rootfs/etc/kadmit" "$rootfs/etc/kadmit/tls" "$rootfs/etc/kadmit/policies" \
    "$rootfs/etc/kadmit/attestations" "$rootfs/etc/kadmit/attestation-keys"
  install -d -m 1777 "$rootfs/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
    >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
  install -d -m 0700 -o 65532 -g 65532 "$rootfs/home/nonroot"
}

# pack ROOTFS OCI_DIR ARCHIVE NAME CONFIG...: an OCI layout (umoci, tag $tag) and a
# docker-archive (skopeo) named NAME:$tag.
pack() {
  local rootfs=$1 oci=$2 archive=$3 name=$4
  shift 4
  rm -rf "$oci" "$archive" "$work/bundle"
  umoci init --layout "$oci"
  umoci new --image "$oci:$tag"
  umoci unpack --image "$oci:$tag" "$work/bundle" >/dev/null
  cp -a "$rootfs/." "$work/bundle/rootfs/"
  umoci repack --image "$oci:$tag" "$work/bundle"
  umoci config --image "$oci:$tag" --os linux --architecture amd64 "$@"
  umoci gc --layout "$oci"
  skopeo copy --quiet "oci:$oci:$tag" "docker-archive:$archive:$name:$tag" >&2
}

# ---- the webhook's image ---------------------------------------------------------------------
rootfs="$work/rootfs"
make_root "$rootfs" "" "${runtime[@]}"
# The binary must start in the root exactly as it will in the image.
version=$(chroot --userspec=65532:65532 "$rootfs" /usr/bin/kadmit version)
echo "in the image's root: $version" >&2
mkdir -p "$out"
labels=(--config.label "org.opencontainers.image.source=https://github.com/kadmit/kadmit"
        --config.label "org.opencontainers.image.version=$(echo "$version" | awk '{print $2}')")
config=(--config.user 65532:65532 --config.entrypoint /usr/bin/kadmit
        --config.workingdir / --config.exposedports 8443/tcp --config.exposedports 9090/tcp
        "${labels[@]}")
for a in "${cmd[@]}"; do config+=(--config.cmd "$a"); done
pack "$rootfs" "$out/oci" "$out/kadmit.tar" ghcr.io/kadmit/kadmit "${config[@]}"

# ---- the audit CronJob's image (deploy/audit): the same kadmit, plus kubectl and the shell,
# date, grep and head its script runs. kubectl is the one tests/e2e/build.sh builds from the
# Kubernetes source (static, cached). ------------------------------------------------------------
if [ -z "${KADMIT_IMAGE_NO_AUDIT:-}" ]; then
  kubectl_bin=${KADMIT_E2E_BIN:+$KADMIT_E2E_BIN/kubectl}
  if [ ! -x "$kubectl_bin" ]; then
    kubectl_bin=$(E2E_CACHE_DIR="${E2E_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kadmit-e2e}" \
      tests/e2e/build.sh | sed -n 's/^KUBECTL=//p')
  fi
  [ -x "$kubectl_bin" ] || { echo "image.sh: tests/e2e/build.sh gave no kubectl" >&2; exit 1; }
  audit_root="$work/audit-rootfs"
  make_root "$audit_root" "dash date grep head" "${runtime[@]}" dash coreutils grep
  ln -s dash "$audit_root/usr/bin/sh"
  install -m 0755 "$kubectl_bin" "$audit_root/usr/bin/kubectl"
  install -d -m 0777 "$audit_root/work"
  chroot --userspec=65532:65532 "$audit_root" /bin/sh -c \
    'kadmit version && kubectl version --client && date -u && echo ok | grep -q ok | head -1' >&2
  pack "$audit_root" "$out/audit-oci" "$out/kadmit-audit.tar" ghcr.io/kadmit/kadmit-audit \
    --config.user 65532:65532 --config.workingdir /work --config.entrypoint /bin/sh \
    --config.cmd -c --config.cmd "kadmit audit --help" "${labels[@]}"
  echo "audit image: $out/audit-oci:$tag and $out/kadmit-audit.tar (digest $(skopeo inspect --format '{{.Digest}}' "oci:$out/audit-oci:$tag"))" >&2
fi

size=$(du -sb "$rootfs" | cut -f1)
echo "image: $out/oci:$tag and $out/kadmit.tar (root file system $((size / 1024 / 1024)) MB, $(du -b "$out/kadmit.tar" | cut -f1 | awk '{printf "%.1f", $1/1048576}') MB archive)" >&2
echo "digest: $(skopeo inspect --format '{{.Digest}}' "oci:$out/oci:$tag")" >&2
