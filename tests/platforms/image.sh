#!/usr/bin/env bash
# The image users deploy, built and run here without a Docker daemon:
#   1. deploy/image.sh builds it (OCI layout + docker-archive) from Debian 13 packages;
#   2. podman loads the docker-archive; its user, entrypoint and command are the Deployment's;
#   3. podman runs it as deploy/base's Deployment does (read-only root, uid 65532, all
#      capabilities dropped, no privilege escalation, the tls/policies/attestations mounts at
#      /etc/kadmit, the image's own arguments) and /healthz, /readyz, an admission over TLS 1.3
#      and the process's uid are checked;
#   4. the audit CronJob's image (also built by deploy/image.sh) runs the programs of the
#      CronJob's script as the CronJob runs it;
#   5. with KADMIT_E2E_BIN set (tests/run sets it), the end-to-end suite registers the real API
#      server's webhooks against the image (tests/e2e/run.sh with KADMIT_E2E_IMAGE) and checks
#      the API server's connections negotiated TLS 1.3.
# Where podman cannot run (no podman, or it fails to start the image), steps 3-5 run the unpacked
# image with tests/platforms/chroot-image.sh instead: a read-only root, `chroot
# --userspec=65532:65532`, no_new_privs, the same mounts and arguments, on the host's network
# (the listen addresses are rewritten to free loopback ports, as podman's -p publishes them).
# KADMIT_IMAGE_RUNNER=podman|chroot picks one. Needs root. Prints "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
KADMIT=${KADMIT:-$ROOT/build/kadmit}
. tests/integration/lib/harness.sh
out=${KADMIT_IMAGE_DIR:-$ROOT/build/image}
name=ghcr.io/kadmit/kadmit:latest
podman=(podman --runtime runc --cgroup-manager cgroupfs) # crun cannot run in this sandbox
T=$(mktemp -d)
ctr="kadmit-image-test-$$"
pid=""
cleanup() {
  "${podman[@]}" rm -f "$ctr" >/dev/null 2>&1
  [ -z "$pid" ] || kill "$pid" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

echo "# build"
deploy/image.sh "$out" 2>"$T/build.log"
check_eq "deploy/image.sh exits 0" 0 $?
tail -3 "$T/build.log"
check_eq "OCI layout written" 0 "$(test -f "$out/oci/index.json"; echo $?)"
check_eq "docker-archive written" 0 "$(test -s "$out/kadmit.tar"; echo $?)"
mb=$(du -sb "$out/kadmit.tar" | awk '{print int($1 / 1048576)}')
# Only kadmit's shared-library closure is shipped (deploy/image.sh's make_root): 24.7 MB, of
# which libcurl's OpenSSL, Kerberos, LDAP and SSH libraries are 11 MB and libmicrohttpd's GnuTLS
# with its dependencies 7.5 MB. With every file of those packages it was 30 MB.
check_eq "image under 25 MB ($mb MB)" 1 $((mb < 25))
echo "# the image's configuration is the Deployment's"
runner=${KADMIT_IMAGE_RUNNER:-}
if [ -z "$runner" ]; then
  runner=chroot
  if command -v podman >/dev/null && "${podman[@]}" load -q -i "$out/kadmit.tar" >/dev/null 2>&1 &&
    "${podman[@]}" run --rm --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$name" version \
      >/dev/null 2>&1; then
    runner=podman
  fi
fi
echo "runner: $runner"
if [ "$runner" = podman ]; then
  "${podman[@]}" load -q -i "$out/kadmit.tar" >/dev/null
  check_eq "podman loads the docker-archive" 0 $?
fi
# The image's own files and runtime configuration, from the OCI layout (umoci's bundle is also
# what the chroot runner runs).
umoci unpack --image "$out/oci:latest" "$T/bundle" >/dev/null 2>&1
check_eq "umoci unpacks the OCI layout" 0 $?
fs="$T/bundle/rootfs"
status="$fs/var/lib/dpkg/status.d"
check_contains "scanners see Mbed TLS's package (/var/lib/dpkg/status.d)" "Version: 3.6" \
  "$(cat "$status/libmbedtls21" 2>/dev/null)"
check_contains "status.d entries are installed packages" "Status: install ok installed" \
  "$(cat "$status/libc6" 2>/dev/null)"
# Each entry's .md5sums lists the files of that package the image has; everything but kadmit
# and the account files comes from a listed package, and a package none of whose files is
# shipped has no entry.
check_eq "status.d md5sums match the shipped files" 0 \
  "$(cd "$fs" && cat var/lib/dpkg/status.d/*.md5sums | md5sum -c --quiet >/dev/null 2>&1; echo $?)"
unlisted=$(cd "$fs" && find . -type f ! -path './var/lib/dpkg/status.d/*' ! -path './usr/share/doc/*' \
  ! -path ./usr/bin/kadmit ! -path ./etc/passwd ! -path ./etc/group -printf '%P\n' | sort |
  comm -23 - <(cut -d' ' -f3- var/lib/dpkg/status.d/*.md5sums | sort))
check_eq "every shipped file belongs to a status.d package" "" "$unlisted"
check_eq "no entry for packages pruned whole (openssl, debconf)" "" \
  "$(ls "$status/openssl" "$status/debconf" 2>/dev/null)"
cfg=$(skopeo inspect --config "oci:$out/oci:latest" | jq .config)
check_eq "runs as 65532:65532" 65532:65532 "$(jq -r .User <<<"$cfg")"
check_eq "entrypoint /usr/bin/kadmit" '["/usr/bin/kadmit"]' "$(jq -c .Entrypoint <<<"$cfg")"
want=$(python3 -c 'import json, sys, yaml
d = yaml.safe_load(open("deploy/base/deployment.yaml"))
print(json.dumps(d["spec"]["template"]["spec"]["containers"][0]["args"], separators=(",", ":")))')
check_eq "command is the Deployment's args" "$want" "$(jq -c .Cmd <<<"$cfg")"

echo "# run as the Deployment runs it"
mkdir -p "$T/tls" "$T/policies" "$T/attestations" "$T/attestation-keys"
"$KADMIT" certs --out-dir "$T/certs" --ip 127.0.0.1 --dns localhost >/dev/null 2>&1
cp "$T/certs/tls.crt" "$T/certs/tls.key" "$T/tls/"
cp policies/checklist.yaml "$T/policies/"
chmod a+rx "$T"
chmod -R a+rX "$T/certs" "$T/tls" "$T/policies" "$T/attestations" "$T/attestation-keys"
chgrp 65532 "$T/tls/"* && chmod 0440 "$T/tls/"* # the Secret's defaultMode 0440, fsGroup 65532
PORT=$(free_port)
METRICS_PORT=$(free_port)
if [ "$runner" = podman ]; then
  # --read-only-tmpfs=false: Kubernetes' readOnlyRootFilesystem gives no writable /tmp either
  "${podman[@]}" run -d --name "$ctr" --read-only --read-only-tmpfs=false --user 65532:65532 --cap-drop ALL \
    --security-opt no-new-privileges --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
    -p "127.0.0.1:$PORT:8443" -p "127.0.0.1:$METRICS_PORT:9090" \
    -v "$T/tls:/etc/kadmit/tls:ro" -v "$T/policies:/etc/kadmit/policies:ro" \
    -v "$T/attestations:/etc/kadmit/attestations:ro" \
    -v "$T/attestation-keys:/etc/kadmit/attestation-keys:ro" "$name" >/dev/null
  check_eq "podman run (runc) starts the container" 0 $?
else
  tests/platforms/chroot-image.sh "$T/bundle" -p "8443=$PORT" -p "9090=$METRICS_PORT" \
    -v "$T/tls:/etc/kadmit/tls" -v "$T/policies:/etc/kadmit/policies" \
    -v "$T/attestations:/etc/kadmit/attestations" \
    -v "$T/attestation-keys:/etc/kadmit/attestation-keys" >"$T/kadmit.log" 2>&1 &
  pid=$!
  wait_for 20 curl -fsS -o /dev/null "http://127.0.0.1:$METRICS_PORT/healthz"
  check_eq "the chroot runner starts the image's command" 0 "$(kill -0 "$pid" 2>/dev/null; echo $?)"
fi
wait_for 20 curl -fsS -o /dev/null "http://127.0.0.1:$METRICS_PORT/healthz"
check_eq "/healthz 200" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/healthz")"
wait_for 20 curl -fsS -o /dev/null "http://127.0.0.1:$METRICS_PORT/readyz"
check_eq "/readyz 200" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/readyz")"
review='{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"img-1","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"default","name":"web","operation":"CREATE","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"default"},"spec":{"containers":[{"name":"web","image":"nginx:1.25"}]}}}}'
resp=$(curl -sS --cacert "$T/certs/ca.crt" --tlsv1.3 -H 'Content-Type: application/json' -d "$review" \
  "https://localhost:$PORT/validate")
check_contains "an admission over TLS 1.3 is answered (denied)" '"allowed":false' "$resp"
handshake=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$T/certs/ca.crt" -tls1_3 2>&1)
check_contains "openssl s_client -tls1_3 completes a handshake" "New, TLSv1.3" "$handshake"
[ "$runner" = chroot ] || pid=$("${podman[@]}" inspect --format '{{.State.Pid}}' "$ctr")
check_eq "the process runs as uid 65532" 65532 "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status" 2>/dev/null)"
check_eq "no capabilities" 0000000000000000 "$(awk '/^CapEff:/ {print $2}' "/proc/$pid/status" 2>/dev/null)"
check_eq "no_new_privs" 1 "$(awk '/^NoNewPrivs:/ {print $2}' "/proc/$pid/status" 2>/dev/null)"
# The process's own view: its / is mounted read-only (mountinfo field 5 is the mount point).
check_eq "the root file system is read-only" ro \
  "$(awk '$5 == "/" {split($6, o, ","); print o[1]}' "/proc/$pid/mountinfo" 2>/dev/null | tail -1)"
if [ "$runner" = podman ]; then
  "${podman[@]}" stop -t 30 "$ctr" >/dev/null
  check_eq "SIGTERM: exits 0 after draining" 0 "$("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$ctr")"
  "${podman[@]}" logs "$ctr" >"$T/kadmit.log" 2>&1
else
  kill -TERM "$pid"
  wait "$pid"
  check_eq "SIGTERM: exits 0 after draining" 0 $?
fi
check_contains "the log says drained" '"msg":"drained"' "$(cat "$T/kadmit.log")"

echo "# the audit CronJob's image (deploy/audit), built by deploy/image.sh too"
audit_name=$(python3 -c 'import yaml; print(yaml.safe_load(open("deploy/audit/kustomization.yaml"))["images"][0]["name"])')
check_eq "deploy/audit pins the image deploy/image.sh builds" ghcr.io/kadmit/kadmit-audit "$audit_name"
check_eq "audit docker-archive written" 0 "$(test -s "$out/kadmit-audit.tar"; echo $?)"
# As the CronJob runs it: read-only root (no writable /tmp), uid 65532, no capabilities, /work an
# emptyDir, the CronJob's environment; every program its script calls is there, and kadmit
# audits (-o policyreport, which needs a temporary file) with the image's own kadmit.
audit_env=()
while read -r kv; do audit_env+=(-e "$kv"); done < <(python3 -c 'import yaml
c = yaml.safe_load(open("deploy/audit/cronjob.yaml"))["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
for e in c.get("env", []): print("%s=%s" % (e["name"], e["value"]))')
check_contains "the CronJob points TMPDIR at its emptyDir" "TMPDIR=/work" "${audit_env[*]}"
if [ "$runner" = podman ]; then
  "${podman[@]}" load -q -i "$out/kadmit-audit.tar" >/dev/null
  check_eq "podman loads the audit image" 0 $?
  run_audit=("${podman[@]}" run --rm --read-only --read-only-tmpfs=false --user 65532:65532 --cap-drop ALL
    --security-opt no-new-privileges --ulimit nofile=1024:1024 --ulimit nproc=1024:1024
    --tmpfs /work:rw,mode=1777 -v "$T/policies:/etc/kadmit/policies:ro" "${audit_env[@]}"
    "$audit_name:latest")
else
  umoci unpack --image "$out/audit-oci:latest" "$T/audit-bundle" >/dev/null 2>&1
  check_eq "umoci unpacks the audit OCI layout" 0 $?
  install -d -m 1777 "$T/work"
  run_audit=(tests/platforms/chroot-image.sh "$T/audit-bundle" -v "$T/work:/work:rw"
    -v "$T/policies:/etc/kadmit/policies" "${audit_env[@]}" --)
fi
audit_out=$("${run_audit[@]}" -c 'set -eu; cd /work
    for c in kubectl kadmit date grep head; do command -v "$c" >/dev/null || { echo "missing $c"; exit 1; }; done
    kubectl version --client >/dev/null
    printf "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec: {containers: [{name: c, image: x}]}\n" >pod.yaml
    kadmit audit --policies /etc/kadmit/policies --fail-on never --color never --now "$(date +%s)" \
      -o policyreport pod.yaml >reports.json
    grep -q "\"kind\":[[:space:]]*\"PolicyReport\"" reports.json
    grep -q "\"kind\":[[:space:]]*\"List\"" reports.json && echo audit-ok | head -n 1' 2>&1)
check_contains "the CronJob's programs run in the audit image" "audit-ok" "$audit_out"

if [ -n "${KADMIT_E2E_BIN:-}" ]; then
  echo "# end to end: the API server's webhooks call the image"
  if [ "$runner" = podman ]; then
    KADMIT="$KADMIT" KADMIT_E2E_IMAGE="$name" E2E_KEEP=1 tests/e2e/run.sh >"$T/e2e.out" 2>&1
  else
    KADMIT="$KADMIT" KADMIT_E2E_IMAGE_BUNDLE="$T/bundle" E2E_KEEP=1 tests/e2e/run.sh >"$T/e2e.out" 2>&1
  fi
  rc=$?
  grep -E '^(PASS|FAIL|SKIP)|passed, .* failed$' "$T/e2e.out"
  check_eq "e2e suite against the image" 0 $rc
  work=$(sed -n 's/.*work directory kept: //p' "$T/e2e.out" | tail -1)
  n13=$(grep -c '"TLS handshake done: TLSv1.3"' "$work/logs/kadmit.log" 2>/dev/null)
  check_eq "the API server's connections negotiated TLS 1.3 ($n13 handshakes)" 1 $((n13 > 0))
  n12=$(grep -c '"TLS handshake done: TLSv1.2"' "$work/logs/kadmit.log" 2>/dev/null)
  check_eq "no connection fell back to TLS 1.2" 0 "$n12"
  [ -n "$work" ] && rm -rf "$work"
elif [ -n "${KADMIT_REQUIRE_ALL:-}" ]; then
  bad "end to end against the image" "KADMIT_E2E_BIN is not set (tests/e2e/build.sh)"
fi

finish
