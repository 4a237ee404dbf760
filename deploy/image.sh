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
# 3.6, Release, stripped). The image holds only that binary and the shared libraries it loads,
# taken from Debian 13's packages extracted by `mmdebstrap --variant=extract` (libmbedtls21,
# libmbedx509-7, libmbedcrypto16, libmicrohttpd12t64, libcjson1, libyaml-0-2, libcurl4t64 and
# ca-certificates with their dependencies; see make_root), with a
# /var/lib/dpkg/status.d/<package> entry, and <package>.md5sums listing the files shipped, for
# each package with a file in the image, so scanners (Trivy, Grype) see their versions. No
# shell, no package manager. It runs as 65532:65532 with deploy/Dockerfile's entrypoint and
# command, which deploy/base's Deployment repeats.
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
# make_root DIR KEEP PACKAGE...: extract the packages with their dependencies into DIR.x, then
# make DIR hold only what runs: kadmit, the programs named in the space-separated KEEP list, and
# the shared libraries they load (their DT_NEEDED entries, transitively, plus the loader and
# libgcc_s, which glibc itself loads for pthread_exit and thread cancellation), each with its
# soname link; the CA bundle libcurl reads; the copyright files and a /var/lib/dpkg/status.d
# entry of every package that ships a file there. Everything else the packages hold (programs,
# plugins and libraries nothing loads, OpenSSL's legacy provider, debconf, data) is pruned:
# status.d/<package>.md5sums lists exactly the files of that package the image has, so a
# scanner (Trivy, Grype) sees the versions and which files are there. The downloaded .debs
# (--skip=cleanup/apt/cache) give the control fields and who owns each file.
make_root() {
  local rootfs=$1 keep=$2
  shift 2
  local x="$rootfs.x"
  rm -rf "$x" "$rootfs"
  mmdebstrap --quiet --variant=extract --include="$(IFS=,; echo "$*")" \
    --skip=cleanup/apt/cache \
    trixie "$x" "deb $mirror trixie main" "deb $mirror trixie-updates main" \
    "deb $security trixie-security main" >&2

  mkdir -p "$rootfs"
  install -D -m 0755 "$root/root/build-image/kadmit" "$rootfs/usr/bin/kadmit"
  local p libs ship=()
  for p in $keep; do ship+=("usr/bin/$p"); done
  libs=$(needed_closure "$x" "$rootfs/usr/bin/kadmit" "${ship[@]/#/$x/}") || exit 1
  # shellcheck disable=SC2206 # one library path a line, no blanks
  ship+=($libs usr/lib64/ld-linux-x86-64.so.2 usr/lib/x86_64-linux-gnu/libgcc_s.so.1)
  for p in "${ship[@]}"; do copy_from "$x" "$rootfs" "$p"; done
  # ca-certificates' postinst (not run by an extraction) would concatenate the bundle libcurl
  # reads; the bundle is the package's only file shipped.
  mkdir -p "$rootfs/etc/ssl/certs"
  cat "$x"/usr/share/ca-certificates/mozilla/*.crt >"$rootfs/etc/ssl/certs/ca-certificates.crt"

  # Who owns each shipped file, from the .debs' file lists.
  local deb pkg f
  local -A owner=() files=()
  for deb in "$x"/var/cache/apt/archives/*.deb; do
    pkg=$(dpkg-deb -f "$deb" Package)
    while read -r f; do
      f=${f#./}
      [ -z "$f" ] || owner[$f]=$pkg
    done < <(dpkg-deb --fsys-tarfile "$deb" | tar -t)
  done
  owner[etc/ssl/certs/ca-certificates.crt]=ca-certificates
  while read -r f; do
    [ "$f" != usr/bin/kadmit ] || continue
    pkg=${owner[$f]:-}
    [ -n "$pkg" ] || { echo "image.sh: no package ships /$f" >&2; exit 1; }
    files[$pkg]+="$f "
  done < <(cd "$rootfs" && find . \( -type f -o -type l \) -printf '%P\n' | sort)
  mkdir -p "$rootfs/var/lib/dpkg/status.d"
  for deb in "$x"/var/cache/apt/archives/*.deb; do
    pkg=$(dpkg-deb -f "$deb" Package)
    [ -n "${files[$pkg]:-}" ] || continue
    { dpkg-deb -f "$deb" Package Version Architecture Maintainer Installed-Size Depends \
        Pre-Depends Section Priority Source Multi-Arch Homepage Description
      echo "Status: install ok installed"; } >"$rootfs/var/lib/dpkg/status.d/$pkg"
    # shellcheck disable=SC2086 # a list of paths without blanks
    (cd "$rootfs" && for f in ${files[$pkg]}; do [ -L "$f" ] || md5sum "$f"; done) \
      >"$rootfs/var/lib/dpkg/status.d/$pkg.md5sums"
    if [ -e "$x/usr/share/doc/$pkg/copyright" ]; then
      copy_from "$x" "$rootfs" "usr/share/doc/$pkg/copyright"
    fi
  done
  [ -s "$rootfs/var/lib/dpkg/status.d/libmbedtls21" ] || { echo "image.sh: no status.d entries" >&2; exit 1; }
  rm -rf "$x"

  # Merged /usr, as base-files makes it (not extracted here): the loader is /lib64/ld-linux-*.
  local d
  for d in bin lib lib64; do ln -s "usr/$d" "$rootfs/$d"; done
  install -d -m 0755 "$rootfs/etc/kadmit" "$rootfs/etc/kadmit/tls" "$rootfs/etc/kadmit/policies" \
    "$rootfs/etc/kadmit/attestations" "$rootfs/etc/kadmit/attestation-keys"
  install -d -m 1777 "$rootfs/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
    >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
  install -d -m 0700 -o 65532 -g 65532 "$rootfs/home/nonroot"
}

# needed_closure ROOT ELF...: the shared libraries the ELF files load, transitively (DT_NEEDED
# entries looked up in ROOT's library directories), as paths relative to ROOT, one a line.
needed_closure() {
  local r=$1 lib d hit
  shift
  local todo=("$@")
  local -A seen=()
  while [ ${#todo[@]} -gt 0 ]; do
    for lib in $(objdump -p "${todo[0]}" | awk '$1 == "NEEDED" {print $2}'); do
      [ -z "${seen[$lib]:-}" ] || continue
      hit=""
      for d in usr/lib/x86_64-linux-gnu usr/lib64 usr/lib; do
        if [ -e "$r/$d/$lib" ]; then hit=$d/$lib; break; fi
      done
      [ -n "$hit" ] || { echo "image.sh: $lib (needed by ${todo[0]#"$r"}) is in no package" >&2; return 1; }
      seen[$lib]=$hit
      todo+=("$r/$hit")
    done
    todo=("${todo[@]:1}")
  done
  printf '%s\n' "${seen[@]}"
}

# copy_from FROM TO PATH: copy FROM/PATH to TO/PATH, and when it is a symbolic link, what it
# points to (relative links, as Debian's are).
copy_from() {
  local from=$1 to=$2 rel=$3 target
  [ -e "$to/$rel" ] || [ -L "$to/$rel" ] && return 0
  mkdir -p "$to/$(dirname "$rel")"
  cp -a "$from/$rel" "$to/$rel"
  if [ -L "$from/$rel" ]; then
    target=$(readlink "$from/$rel")
    case "$target" in /*) target=${target#/} ;; *) target=$(dirname "$rel")/$target ;; esac
    copy_from "$from" "$to" "$(realpath -ms --relative-to=/ "/$target")"
  fi
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
