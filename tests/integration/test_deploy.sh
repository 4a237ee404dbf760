#!/usr/bin/env bash
# deploy/: every kustomization renders with plain `kubectl kustomize` (no flags), the rendered
# objects have the properties kadmit's install promises (tests/integration/check_deploy.py), the
# webhook template compiled into kadmit matches the kustomize base, and kadmit's own manifests
# pass kadmit's checklist (`kadmit audit`).
# Env: KADMIT = path of the kadmit binary (default build/kadmit). Prints "N passed, M failed".
set -u
# the shared harness: ok, bad, finish, free_port (this script keeps its quiet check)
. "$(dirname "$0")/lib/harness.sh"
root=$(pwd)

# kubectl: the system one, else the one the e2e suite builds.
kubectl=""
if command -v kubectl >/dev/null 2>&1; then
    kubectl=$(command -v kubectl)
else
    if [ -x "${KADMIT_E2E_BIN:-/nonexistent}/kubectl" ]; then
        kubectl=$KADMIT_E2E_BIN/kubectl
    elif cached=$("$root/tests/e2e/build.sh" --cached 2>/dev/null); then
        kubectl=$(printf '%s\n' "$cached" | sed -n 's/^KUBECTL=//p')
    fi
fi
if [ -z "$kubectl" ]; then
    echo "SKIP - no kubectl (neither on PATH, in KADMIT_E2E_BIN nor built by tests/e2e/build.sh): deploy/ not rendered"
    [ -n "${KADMIT_REQUIRE_ALL:-}" ] && { echo "KADMIT_REQUIRE_ALL is set: a skipped check fails"; exit 1; }
    echo "0 passed, 0 failed"
    exit 0
fi
echo "using kubectl: $kubectl ($("$kubectl" version --client 2>/dev/null | tr '\n' ' '))"

use_tmp
# A copy of deploy/ and policies/ so the generated certificates never land in the worktree.
cp -r "$root/deploy" "$root/policies" "$tmp/"
rm -rf "$tmp/deploy/certs"

render() { # NAME DIR OUT
    if "$kubectl" kustomize "$2" >"$3" 2>"$tmp/err"; then
        ok "kubectl kustomize renders $1"
    else
        bad "kubectl kustomize renders $1: $(head -3 "$tmp/err")"
    fi
}

# Without certificates the plain install must refuse to render (never a webhook without a CA).
if "$kubectl" kustomize "$tmp/deploy" >/dev/null 2>&1; then
    bad "deploy/ without deploy/certs/ refuses to render"
else
    ok "deploy/ without deploy/certs/ refuses to render"
fi
if "$KADMIT" certs --out-dir "$tmp/deploy/certs" >/dev/null 2>&1; then
    ok "kadmit certs --out-dir deploy/certs"
else
    bad "kadmit certs --out-dir deploy/certs"
fi
render "deploy/ (plain install)" "$tmp/deploy" "$tmp/plain.yaml"
render "deploy/base" "$tmp/deploy/base" "$tmp/base.yaml"
render "deploy/overlays/cert-manager" "$tmp/deploy/overlays/cert-manager" "$tmp/cert-manager.yaml"
render "deploy/overlays/monitoring" "$tmp/deploy/overlays/monitoring" "$tmp/monitoring.yaml"
for o in "$root"/deploy/overlays/*/; do
    n=$(basename "$o")
    case $n in cert-manager | monitoring) ;; *) render "deploy/overlays/$n" "$tmp/deploy/overlays/$n" "$tmp/$n.yaml" ;; esac
done
if "$KADMIT" certs --out-dir "$tmp/deploy/certs" --render-webhooks "$tmp/rendered.yaml" >/dev/null 2>&1; then
    ok "kadmit certs --render-webhooks"
else
    bad "kadmit certs --render-webhooks"
fi

# Property checks.
if python3 -c 'import yaml' 2>/dev/null; then
    out=$(python3 "$root/tests/integration/check_deploy.py" "$tmp/plain.yaml" "$tmp/base.yaml" \
        "$tmp/cert-manager.yaml" "$tmp/monitoring.yaml" "$tmp/rendered.yaml" \
        "$tmp/deploy/certs/ca.crt" "$root/policies/checklist.yaml" 2>&1)
    echo "$out"
    passed=$((passed + $(grep -c '^ok ' <<<"$out")))
    failed=$((failed + $(grep -c '^FAIL ' <<<"$out")))
    if ! grep -q '^ok ' <<<"$out"; then bad "check_deploy.py ran no check"; fi
else
    bad "python3 with PyYAML is needed for the property checks (apt-get install python3-yaml)"
fi

# An admin tunes the checklist by adding an overlay file to the ConfigMap generator: nothing
# else changes. The rendered ConfigMap, written out as the kubelet mounts it, is a policy
# directory whose effective policy has the overlay's change and the checklist's other rules.
cat >"$tmp/policies/50-dev-warn.yaml" <<'Y'
apiVersion: kadmit.dev/v1alpha1
kind: Policy
metadata: {name: dev-warn}
spec:
  base: checklist
  rules: [{id: image-pinned, action: warn}]
Y
sed -i 's/^      - checklist.yaml$/      - checklist.yaml\n      - 50-dev-warn.yaml/' "$tmp/policies/Kustomization"
render "deploy/base with an overlay file added to policies/Kustomization" "$tmp/deploy/base" "$tmp/tuned.yaml"
if python3 - "$tmp/tuned.yaml" "$tmp/mounted" <<'PY'; then
import os, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
cm = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "kadmit-policies")
assert set(cm["data"]) == {"checklist.yaml", "50-dev-warn.yaml"}, cm["data"].keys()
os.makedirs(sys.argv[2])
for k, v in cm["data"].items():
    open(os.path.join(sys.argv[2], k), "w").write(v)
PY
    if "$KADMIT" policy show --policies "$tmp/mounted" -o json 2>/dev/null | python3 -c '
import json, sys
rules = {r["id"]: r["action"] for r in json.load(sys.stdin)["spec"]["rules"]}
sys.exit(0 if rules["image-pinned"] == "warn" and rules["resources-required"] == "enforce" else 1)'; then
        ok "an overlay added to the policies ConfigMap generator changes its rule and keeps the others"
    else
        bad "an overlay added to the policies ConfigMap generator changes its rule and keeps the others"
    fi
else
    bad "the rendered policies ConfigMap holds the checklist and the added overlay"
fi

# The copy of the webhook template compiled into kadmit is the file in deploy/base.
if "$KADMIT" certs --out-dir "$tmp/deploy/certs" --render-webhooks "$tmp/from-file.yaml" \
    --webhooks-template "$root/deploy/base/webhooks.yaml" >/dev/null 2>&1 &&
    diff -q <(tail -n +2 "$tmp/from-file.yaml") <(tail -n +2 "$tmp/rendered.yaml") >/dev/null; then
    ok "the compiled-in webhook template is deploy/base/webhooks.yaml (rebuild if this fails)"
else
    bad "the compiled-in webhook template is deploy/base/webhooks.yaml (rebuild if this fails)"
fi

# policies/Kustomization (the ConfigMap generator) is not mistaken for a policy file.
if "$KADMIT" lint --help >/dev/null 2>&1; then
    if "$KADMIT" lint "$root/policies" >"$tmp/lint.out" 2>&1; then
        ok "kadmit lint policies/ ignores policies/Kustomization"
    else
        bad "kadmit lint policies/ ignores policies/Kustomization: $(head -3 "$tmp/lint.out")"
    fi
fi

# Private keys never get committed.
if git -C "$root" rev-parse >/dev/null 2>&1; then
    if git -C "$root" check-ignore -q deploy/certs/tls.key; then
        ok "deploy/certs/ is git-ignored"
    else
        bad "deploy/certs/ is git-ignored"
    fi
fi

# The registry-fetch overlay: the fetcher is a sidecar sharing an emptyDir; the webhook container
# only reads it; the pod may reach DNS and 443 and nothing else.
if python3 - "$tmp/registry-fetch.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
dep = next(d for d in docs if d["kind"] == "Deployment")
np = next(d for d in docs if d["kind"] == "NetworkPolicy")
spec = dep["spec"]["template"]["spec"]
c = {x["name"]: x for x in spec["containers"]}
vol = {v["name"]: v for v in spec["volumes"]}
assert vol["attestations"].get("emptyDir") is not None and "configMap" not in vol["attestations"], vol
assert c["attestation-fetcher"]["args"][:2] == ["attest", "sync"], c["attestation-fetcher"]
hook = {m["name"]: m for m in c["kadmit"]["volumeMounts"]}
assert hook["attestations"].get("readOnly") is True
assert not any(m["name"] == "registry-auth" for m in c["kadmit"]["volumeMounts"])
ports = sorted((p["port"], p["protocol"]) for e in np["spec"]["egress"] for p in e["ports"])
assert ports == [(53, "TCP"), (53, "UDP"), (443, "TCP")], ports
PY
then
    ok "registry-fetch: fetcher sidecar on a shared emptyDir, webhook reads it, egress only DNS and 443"
else
    bad "registry-fetch: fetcher sidecar on a shared emptyDir, webhook reads it, egress only DNS and 443"
fi

# kadmit's own manifests pass kadmit's checklist.
if "$KADMIT" audit --help >/dev/null 2>&1; then
    for f in plain cert-manager registry-fetch; do
        if "$KADMIT" audit "$tmp/$f.yaml" >"$tmp/audit.out" 2>&1; then
            ok "kadmit audit passes the $f install"
        else
            bad "kadmit audit passes the $f install: $(grep -E 'DENY|enforce' "$tmp/audit.out" | head -5)"
        fi
    done
    # In a namespace the checklist does not exclude, so no exclusion can hide a finding. The
    # image must then carry a signed scan attestation, as any image would: sign one for the
    # digest the manifests pin, with a key made now, and trust that key.
    sed 's/namespace: kadmit-system$/namespace: kadmit-audit/' "$tmp/plain.yaml" >"$tmp/moved.yaml"
    . "$(dirname "$0")/lib/attest.sh"
    attest_setup "$tmp/attest"
    for image in $(grep -oE 'image: [^ ]+@sha256:[0-9a-f]{64}' "$tmp/moved.yaml" | sort -u | cut -d' ' -f2); do
        attest_image "$tmp/attest" "$image"
    done
    if "$KADMIT" audit --policies "$tmp/attest/checklist.yaml" --attestations "$tmp/attest/attestations" \
        "$tmp/moved.yaml" >"$tmp/audit.out" 2>&1; then
        ok "kadmit audit passes the install moved out of kadmit-system"
    else
        bad "kadmit audit passes the install moved out of kadmit-system: $(grep -E 'DENY|enforce' "$tmp/audit.out" | head -5)"
    fi
    # Control: the same audit does reject a kadmit Deployment without probes and limits.
    python3 - "$tmp/moved.yaml" >"$tmp/broken.yaml" <<'EOF'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "Deployment":
        c = d["spec"]["template"]["spec"]["containers"][0]
        c.pop("readinessProbe")
        c["resources"].pop("limits")
        print(yaml.safe_dump(d))
EOF
    "$KADMIT" audit --policies "$tmp/attest/checklist.yaml" --attestations "$tmp/attest/attestations" \
        "$tmp/broken.yaml" >/dev/null 2>&1
    if [ $? -eq 1 ]; then
        ok "control: kadmit audit rejects the Deployment without probe and limits"
    else
        bad "control: kadmit audit rejects the Deployment without probe and limits"
    fi
else
    bad "kadmit audit is not available: kadmit's own manifests are unchecked"
fi

# kadmit serve with the Deployment's own args, on files laid out the way the kubelet projects a
# Secret and a ConfigMap (timestamped dir, ..data symlink, file symlinks; updates swap ..data).
project() { # DIR FILE... : (re)project FILEs into DIR like the kubelet's atomic writer
    local dir=$1 ts
    shift
    mkdir -p "$dir"
    ts="..$(date -u +%Y_%m_%d_%H_%M_%S).$RANDOM$RANDOM"
    mkdir "$dir/$ts"
    cp "$@" "$dir/$ts/"
    ln -sfn "$ts" "$dir/..data_tmp"
    mv -T "$dir/..data_tmp" "$dir/..data"
    for f in "$@"; do ln -sfn "..data/$(basename "$f")" "$dir/$(basename "$f")"; done
    find "$dir" -maxdepth 1 -name '..20*' ! -name "$ts" -exec rm -rf {} +
}
wait_until() { # up to ~15s for COMMAND to succeed
    for _ in $(seq 1 150); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    return 1
}
served_serial() {
    openssl s_client -connect "127.0.0.1:$1" -servername kadmit.kadmit-system.svc </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
serial_is() { [ "$(served_serial "$1")" = "$(openssl x509 -in "$2" -noout -serial | cut -d= -f2)" ]; }
metric() { curl -s --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
metric_above() { [ "$(metric "$1" "$2")" -gt "$3" ] 2>/dev/null; }
http_ok() { [ "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$1")" = 200 ]; }

if "$KADMIT" serve --help >/dev/null 2>&1 && command -v openssl >/dev/null && [ -s "$tmp/plain.yaml" ]; then
    et=$tmp/etc
    src=$tmp/src
    "$KADMIT" certs --out-dir "$src" >/dev/null 2>&1
    project "$et/tls" "$src/tls.crt" "$src/tls.key" "$src/ca.crt"
    project "$et/policies" "$root/policies/checklist.yaml"
    mkdir -p "$et/attestations"
    port=$(free_port)
    mport=$(free_port)
    # The container args from the rendered Deployment, with loopback ports and $et for /etc/kadmit.
    mapfile -t args < <(python3 - "$tmp/plain.yaml" "$et" "$port" "$mport" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "Deployment":
        for a in d["spec"]["template"]["spec"]["containers"][0]["args"]:
            a = a.replace("/etc/kadmit", sys.argv[2])
            a = a.replace("0.0.0.0:8443", "127.0.0.1:" + sys.argv[3])
            a = a.replace("0.0.0.0:9090", "127.0.0.1:" + sys.argv[4])
            print(a)
PY
)
    "$KADMIT" "${args[@]}" >"$tmp/serve.log" 2>&1 &
    spid=$!
    if wait_until http_ok "http://127.0.0.1:$mport/readyz"; then
        ok "kadmit serve starts with the Deployment's args and mounts; /readyz 200 on the metrics port"
        if http_ok "http://127.0.0.1:$mport/healthz"; then ok "/healthz 200 on the metrics port"; else bad "/healthz 200 on the metrics port"; fi
        if serial_is "$port" "$src/tls.crt"; then ok "serves the projected Secret's certificate"; else bad "serves the projected Secret's certificate"; fi
        "$KADMIT" certs --out-dir "$src" --force >/dev/null 2>&1
        project "$et/tls" "$src/tls.crt" "$src/tls.key" "$src/ca.crt"
        if wait_until serial_is "$port" "$src/tls.crt"; then
            ok "a renewed certificate swapped into the Secret mount (..data) is served without restart"
        else
            bad "a renewed certificate swapped into the Secret mount (..data) is served without restart"
        fi
        before=$(metric "$mport" 'kadmit_policy_reloads_total{result="success"}')
        sed 's/minSeconds: 120/minSeconds: 121/' "$root/policies/checklist.yaml" >"$tmp/checklist.yaml"
        project "$et/policies" "$tmp/checklist.yaml"
        if wait_until metric_above "$mport" 'kadmit_policy_reloads_total{result="success"}' "${before:-0}"; then
            ok "a policy change swapped into the ConfigMap mount is reloaded"
        else
            bad "a policy change swapped into the ConfigMap mount is reloaded"
        fi
        errs=$(metric "$mport" 'kadmit_policy_reloads_total{result="error"}')
        printf 'apiVersion: kadmit.dev/v1alpha1\nkind: Policy\nspec: {rules: [{id: no-such-rule}]}\n' >"$tmp/checklist.yaml"
        project "$et/policies" "$tmp/checklist.yaml"
        if wait_until metric_above "$mport" 'kadmit_policy_reloads_total{result="error"}' "${errs:-0}" &&
            http_ok "http://127.0.0.1:$mport/readyz"; then
            ok "a broken policy is rejected (reload error counted) and kadmit stays ready"
        else
            bad "a broken policy is rejected (reload error counted) and kadmit stays ready"
        fi
        kill -TERM "$spid"
        # terminationGracePeriodSeconds is 40: kadmit must be gone well within it.
        if wait_until bash -c "! kill -0 $spid 2>/dev/null"; then
            wait "$spid"
            rc=$?
            if [ "$rc" -eq 0 ]; then ok "SIGTERM: kadmit drains and exits 0"; else bad "SIGTERM: kadmit exited $rc"; fi
        else
            bad "SIGTERM: kadmit still running"
            kill -KILL "$spid" 2>/dev/null
            wait "$spid" 2>/dev/null
        fi
    else
        bad "kadmit serve starts with the Deployment's args: $(tail -3 "$tmp/serve.log")"
        kill -KILL "$spid" 2>/dev/null
        wait "$spid" 2>/dev/null
    fi
else
    echo "note - kadmit serve not built: the Deployment's args and mounts are not exercised"
fi

# README's image pinning: the `images:` entry it shows, with a registry and digest filled in,
# makes `kubectl kustomize` render the Deployment with that image; its `kustomize edit set
# image` lines use the NAME=NEW@sha256 form of the same entry.
digest=$(printf kadmit | sha256sum | cut -c1-64)
if python3 - "$root/README.md" "$tmp/deploy/base/kustomization.yaml" "$digest" <<'PY'; then
import re, sys
readme, kust, digest = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
block = re.search(r"<!-- images: [^\n]*-->\n```yaml\n(.*?)```", readme, re.S).group(1)
block = block.replace("REGISTRY", "registry.example").replace("<digest>", digest)
text = open(kust).read()
text = re.sub(r"^images:\n(?:[ #-].*\n)*", block, text, flags=re.M)
open(kust, "w").write(text)
edits = re.findall(r"kustomize edit set image ([^\s)`]+)", readme + open("deploy/README.md").read())
assert edits and all(re.fullmatch(r"ghcr\.io/kadmit/(kadmit(?:-audit)?)=REGISTRY/\1@(sha256:<digest>|\$digest)", e)
                     for e in edits), edits
PY
    render "deploy/base with the README's images: entry" "$tmp/deploy/base" "$tmp/pinned.yaml"
    if grep -q "image: registry.example/kadmit@sha256:$digest" "$tmp/pinned.yaml" &&
        ! grep -q 'ghcr.io/kadmit/kadmit' "$tmp/pinned.yaml"; then
        ok "README's images: entry pins the Deployment to REGISTRY/kadmit@sha256:..."
    else
        bad "README's images: entry does not render as REGISTRY/kadmit@sha256:... ($(grep 'image:' "$tmp/pinned.yaml" | head -3))"
    fi
else
    bad "README: no images: block, or a kustomize edit set image line not in the NAME=NEW@sha256 form"
fi

finish
