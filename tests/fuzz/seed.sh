#!/usr/bin/env bash
# Build the seed corpora of the fuzz targets from the repository's fixtures and policies.
#   tests/fuzz/seed.sh [OUTDIR]     (default: tests/fuzz/corpus)
# One directory per target: admission/, policy/, manifest/, yaml/ (and attest/, decisionlog/
# when those modules' fixtures exist). Files are named by content hash, so re-running is
# idempotent and merges with what is already there. Needs python3 with PyYAML (Debian:
# python3-yaml) to turn the YAML fixtures into AdmissionReview JSON.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-tests/fuzz/corpus}
mkdir -p "$out"/{admission,policy,manifest,yaml,fix,json,json_diff}

put() { # put DIR FILE: copy FILE into DIR under its hash
  local h
  h=$(sha1sum "$2" | cut -c1-16)
  cp "$2" "$1/$h"
}

shopt -s nullglob globstar
# Manifests: the checklist's YAML examples. Requests: the table-driven admission cases
# (tests/fixtures/rules/<rule-id>/<case>/request.json, tests/fixtures/checklist/<case>/) and the regression inputs. Policies: the shipped
# ones and the cases' policy.yaml files.
manifests=(tests/fixtures/manifests/*.yaml)
requests=(tests/fixtures/rules/*/*/request.json tests/fixtures/checklist/*/request.json)
policies=(policies/*.yaml tests/fixtures/rules/*/*/policy.yaml tests/fixtures/checklist/*/policy.yaml)

for f in "${manifests[@]}"; do
  put "$out/manifest" "$f"
  put "$out/yaml" "$f"
  put "$out/fix" "$f"
done
# kadmit fix: the golden cases' inputs (comments, CRLF, flow style, JSON, Helm, kustomize).
for f in tests/fixtures/fix/*/input.*; do
  put "$out/fix" "$f"
done
for f in "${requests[@]}"; do
  put "$out/admission" "$f"
  put "$out/manifest" "$f"
  put "$out/json" "$f"
  put "$out/json_diff" "$f"
done
for f in "${policies[@]}"; do
  put "$out/policy" "$f"
  put "$out/yaml" "$f"
done

# AdmissionReview requests: every workload document as CREATE (and its pod template as a Pod),
# UPDATE with itself as oldObject, DELETE, a dry run, a status subresource.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp" "${manifests[@]}" <<'PY'
import copy, json, sys, yaml
outdir, files = sys.argv[1], sys.argv[2:]
n = 0
def emit(obj, op="CREATE", old=None, sub=None, dry=False, kind=None):
    global n
    kind = kind or obj.get("kind", "Pod")
    group, _, version = obj.get("apiVersion", "v1").rpartition("/")
    req = {"uid": "seed-%d" % n, "kind": {"group": group, "version": version, "kind": kind},
           "resource": {"group": group, "version": version, "resource": kind.lower() + "s"},
           "namespace": obj.get("metadata", {}).get("namespace", "default"),
           "name": obj.get("metadata", {}).get("name", ""), "operation": op,
           "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters"]},
           "object": None if op == "DELETE" else obj, "oldObject": old, "dryRun": dry}
    if sub:
        req["subResource"] = sub
    with open("%s/%04d.json" % (outdir, n), "w") as f:
        json.dump({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                   "request": req}, f, separators=(",", ":"))
    n += 1
for path in files:
    try:
        docs = [d for d in yaml.safe_load_all(open(path)) if isinstance(d, dict)]
    except Exception:
        continue
    for d in docs:
        emit(d)
        emit(d, "UPDATE", old=copy.deepcopy(d))
        emit(d, "DELETE", old=d)
        emit(d, dry=True)
        emit(d, "UPDATE", old=d, sub="status")
        tmpl = d.get("spec", {}).get("template")
        if isinstance(tmpl, dict):
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": dict(tmpl.get("metadata", {}), name=d["metadata"]["name"] + "-0",
                                    namespace=d["metadata"].get("namespace", "default")),
                   "spec": tmpl.get("spec", {})}
            emit(pod)
            bare = copy.deepcopy(pod)
            for c in bare["spec"].get("containers", []):
                for k in ("resources", "readinessProbe", "livenessProbe"):
                    c.pop(k, None)
            emit(bare)
            emit(bare, "UPDATE", old=pod)
PY
# Policies: the checklist in JSON, each rule alone, each action, with exceptions and selectors.
mkdir -p "$tmp/pol"
python3 - "$tmp/pol" policies/*.yaml <<'PY'
import copy, json, sys, yaml
outdir, files = sys.argv[1], sys.argv[2:]
n = 0
def emit(doc, as_json=False):
    global n
    with open("%s/%04d.%s" % (outdir, n, "json" if as_json else "yaml"), "w") as f:
        if as_json:
            json.dump(doc, f)
        else:
            yaml.safe_dump(doc, f, sort_keys=False)
    n += 1
for path in files:
    for doc in yaml.safe_load_all(open(path)):
        if not isinstance(doc, dict):
            continue
        emit(doc, as_json=True)
        for r in doc.get("spec", {}).get("rules", []):
            one = copy.deepcopy(doc)
            one["spec"]["rules"] = [r]
            emit(one)
            for action in ("warn", "audit", "off"):
                r2 = dict(r, action=action)
                one["spec"]["rules"] = [r2]
                emit(one)
            r3 = dict(r, exceptions=[{"name": "x", "reason": "seed", "namespaces": ["ai-*"],
                                      "containers": ["side*"], "selector": {"matchExpressions": [
                                          {"key": "tier", "operator": "In", "values": ["a"]}]}}],
                      exclude={"kinds": ["Job"], "namespaces": ["tmp-*"], "names": ["x?"]})
            one["spec"]["rules"] = [r3]
            emit(one)
PY
for f in "$tmp"/pol/*; do
  put "$out/policy" "$f"
  put "$out/yaml" "$f"
done
for f in "$tmp"/*.json tests/fixtures/regressions/*.json; do
  [ "$(stat -c %s "$f")" -le 65536 ] || continue # over run.sh's -max_len
  put "$out/admission" "$f"
  put "$out/manifest" "$f"
done

# Attestations (DSSE envelopes, Sigstore bundles) and decision-log lines, when present.
for d in tests/fixtures/attest tests/fixtures/attestations; do
  [ -d "$d" ] || continue
  mkdir -p "$out/attest"
  for f in "$d"/**/*.json "$d"/**/*.jsonl "$d"/**/*.intoto.jsonl; do put "$out/attest" "$f"; done
done
# Attestations made fresh with the tests/attest scripts (throwaway key; the fuzzer's own key
# differs, so these exercise parsing and the failed-signature path): DSSE, JSON Lines, bundle,
# and the bare statements, which fuzz_attest also wraps into an envelope.
if command -v openssl >/dev/null; then
  mkdir -p "$out/attest" "$tmp/att"
  bash tests/attest/keygen.sh p256 "$tmp/att/k"
  for r in trivy-clean trivy-findings grype-findings; do
    bash tests/attest/statement.sh --digest "$(printf 'a%.0s' {1..64})" --digest "$(printf 'b%.0s' {1..64})" \
      "tests/attest/$r.json" > "$tmp/att/$r.st"
    bash tests/attest/sign.sh "$tmp/att/k.key" "$tmp/att/$r.st" > "$tmp/att/$r.dsse.json"
    bash tests/attest/sign.sh --bundle "$tmp/att/k.key" "$tmp/att/$r.st" > "$tmp/att/$r.bundle.json"
    put "$out/attest" "$tmp/att/$r.st"
    put "$out/attest" "$tmp/att/$r.dsse.json"
    put "$out/attest" "$tmp/att/$r.bundle.json"
  done
  cat "$tmp"/att/*.dsse.json > "$tmp/att/all.jsonl"
  put "$out/attest" "$tmp/att/all.jsonl"
fi
for d in tests/fixtures/decisionlog tests/fixtures/reports; do
  [ -d "$d" ] || continue
  mkdir -p "$out/decisionlog"
  for f in "$d"/**/*.jsonl "$d"/**/*.log; do put "$out/decisionlog" "$f"; done
done
for t in "$out"/*/; do
  echo "seed: $(ls "$t" | wc -l) inputs in $t"
done
