#!/usr/bin/env bash
# deploy/: every kustomization renders with plain `kubectl kustomize` (no flags), the rendered
# objects have the properties kadmit's install promises (tests/integration/check_deploy.py), the
# webhook template compiled into kadmit matches the kustomize base, and kadmit's own manifests
# pass kadmit's checklist (`kadmit audit`).
# Env: KADMIT = path of the kadmit binary (default build/kadmit). Prints "N passed, M failed".
set -u
KADMIT=${KADMIT:-build/kadmit}
root=$(pwd)
pass=0
fail=0
ok() {
    echo "ok   - $1"
    pass=$((pass + 1))
}
bad() {
    echo "FAIL - $1"
    fail=$((fail + 1))
}

# kubectl: the system one, else the one the e2e suite builds.
kubectl=""
if command -v kubectl >/dev/null 2>&1; then
    kubectl=$(command -v kubectl)
else
    for k in "$root"/tests/e2e/.cache/*/kubectl; do
        if [ -x "$k" ]; then kubectl=$k; fi
    done
fi
if [ -z "$kubectl" ]; then
    echo "SKIP - no kubectl (neither on PATH nor tests/e2e/.cache/*/kubectl): deploy/ not rendered"
    echo "0 passed, 0 failed"
    exit 0
fi
echo "using kubectl: $kubectl ($("$kubectl" version --client 2>/dev/null | tr '\n' ' '))"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
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
    pass=$((pass + $(grep -c '^ok ' <<<"$out")))
    fail=$((fail + $(grep -c '^FAIL ' <<<"$out")))
    if ! grep -q '^ok ' <<<"$out"; then bad "check_deploy.py ran no check"; fi
else
    bad "python3 with PyYAML is needed for the property checks (apt-get install python3-yaml)"
fi

# The copy of the webhook template compiled into kadmit is the file in deploy/base.
if "$KADMIT" certs --out-dir "$tmp/deploy/certs" --render-webhooks "$tmp/from-file.yaml" \
    --webhooks-template "$root/deploy/base/webhooks.yaml" >/dev/null 2>&1 &&
    diff -q <(tail -n +2 "$tmp/from-file.yaml") <(tail -n +2 "$tmp/rendered.yaml") >/dev/null; then
    ok "the compiled-in webhook template is deploy/base/webhooks.yaml (rebuild if this fails)"
else
    bad "the compiled-in webhook template is deploy/base/webhooks.yaml (rebuild if this fails)"
fi

# Private keys never get committed.
if git -C "$root" rev-parse >/dev/null 2>&1; then
    if git -C "$root" check-ignore -q deploy/certs/tls.key; then
        ok "deploy/certs/ is git-ignored"
    else
        bad "deploy/certs/ is git-ignored"
    fi
fi

# kadmit's own manifests pass kadmit's checklist.
if "$KADMIT" audit --help >/dev/null 2>&1; then
    for f in plain cert-manager; do
        if "$KADMIT" audit "$tmp/$f.yaml" >"$tmp/audit.out" 2>&1; then
            ok "kadmit audit passes the $f install"
        else
            bad "kadmit audit passes the $f install: $(grep -E 'DENY|enforce' "$tmp/audit.out" | head -5)"
        fi
    done
    # In a namespace the checklist does not exclude, so no exclusion can hide a finding.
    sed 's/namespace: kadmit-system$/namespace: kadmit-audit/' "$tmp/plain.yaml" >"$tmp/moved.yaml"
    if "$KADMIT" audit "$tmp/moved.yaml" >"$tmp/audit.out" 2>&1; then
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
    "$KADMIT" audit "$tmp/broken.yaml" >/dev/null 2>&1
    if [ $? -eq 1 ]; then
        ok "control: kadmit audit rejects the Deployment without probe and limits"
    else
        bad "control: kadmit audit rejects the Deployment without probe and limits"
    fi
else
    bad "kadmit audit is not available: kadmit's own manifests are unchecked"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
