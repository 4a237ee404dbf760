#!/usr/bin/env bash
# `kadmit fix`: the golden cases of tests/fixtures/fix/<case>/ (input.yaml|json, expected.*,
# optional policy.yaml and exit), each checked five ways: stdout is the expected file, a second
# fix changes nothing, -w writes the same bytes, --diff applied with `patch -p0` and with
# `git apply -p0` reproduces them, and `kadmit audit` of the result shows exactly the findings
# fix listed as left (so none that fix claimed to fix), and the same input errors. Then bad input
# and flags.
# KADMIT_REGEN=1 rewrites expected.* and exit from the current binary (review the diff!).
set -u
. "$(dirname "$0")/lib/harness.sh"
. "$(dirname "$0")/lib/attest.sh"
use_tmp
command -v patch >/dev/null || { echo "FAIL patch(1) is needed"; exit 1; }
checklist_without_attestations "$tmp/checklist.yaml"

# "source: message" of each finding fix listed (stderr), or audit found (JSON), sorted. Relation
# results (several objects together: a PDB missing for a workload) are not fix's: it changes the
# objects it is given, it does not add objects.
fix_notes() { grep -E '^[^ ]+:[0-9]+: ' "$1" | grep -v ': warning: ' | sed 's/^[^ ]*: //' | sort; }
audit_findings() {
  "$KADMIT" audit --policies "$1" -o json "$2" 2>/dev/null | python3 -c '
import json, sys
audit = json.load(sys.stdin)
for r in audit["results"]:
    for v in [] if r.get("relation") else r.get("violations", []):
        print(v["message"])
for e in audit["errors"]:
    print(e["error"])' | sort
}

for dir in tests/fixtures/fix/*/; do
  case=$(basename "$dir")
  input=$(ls "$dir"input.* 2>/dev/null | head -1)
  [ -n "$input" ] || continue
  ext=${input##*.}
  expected=${dir}expected.$ext
  policy=$tmp/checklist.yaml
  [ -f "${dir}policy.yaml" ] && policy=$PWD/${dir}policy.yaml
  "$KADMIT" fix --policies "$policy" "$input" >"$tmp/out.$ext" 2>"$tmp/err"
  rc=$?
  if [ "${KADMIT_REGEN:-}" = 1 ]; then
    cp "$tmp/out.$ext" "$expected"
    if [ $rc -ne 0 ]; then echo $rc >"${dir}exit"; else rm -f "${dir}exit"; fi
  fi
  want_rc=0
  [ -f "${dir}exit" ] && want_rc=$(cat "${dir}exit")
  check "$case: prints the expected file" cmp "$tmp/out.$ext" "$expected"
  check "$case: exits $want_rc" [ "$rc" -eq "$want_rc" ]
  check "$case: input and output differ only where fix says" \
    bash -c "[ \"$want_rc\" -ne 0 ] || ! cmp -s '$input' '$expected' || [ ! -s '$tmp/err' ] || grep -q '^kadmit fix: 0 changes' '$tmp/err'"

  # Idempotent: the fixed file needs nothing more, and the same findings are left.
  "$KADMIT" fix --policies "$policy" "$tmp/out.$ext" >"$tmp/again.$ext" 2>"$tmp/err2"
  check "$case: a second fix changes nothing" cmp "$tmp/out.$ext" "$tmp/again.$ext"
  check "$case: a second fix lists the same findings" \
    diff <(fix_notes "$tmp/err") <(fix_notes "$tmp/err2")

  # -w: in place, atomically, mode kept.
  mkdir -p "$tmp/w/$case"
  cp "$input" "$tmp/w/$case/"
  chmod 640 "$tmp/w/$case/input.$ext"
  (cd "$tmp/w" && "$KADMIT" fix -w --policies "$policy" "$case/input.$ext" >"$tmp/wout" 2>/dev/null)
  check "$case: -w writes the expected bytes" cmp "$tmp/w/$case/input.$ext" "$expected"
  check "$case: -w prints nothing on stdout" [ ! -s "$tmp/wout" ]
  check "$case: -w keeps the file mode" [ "$(stat -c %a "$tmp/w/$case/input.$ext")" = 640 ]
  check "$case: -w leaves no temporary file" [ "$(ls "$tmp/w/$case" | wc -l)" -eq 1 ]

  # --diff applies with patch -p0 and git apply -p0 and reproduces -w.
  for tool in "patch -p0 --quiet" "git apply -p0"; do
    rm -rf "$tmp/p" && mkdir -p "$tmp/p/$case"
    cp "$input" "$tmp/p/$case/"
    (cd "$tmp/p" && "$KADMIT" fix --diff --policies "$policy" "$case/input.$ext" \
      >../d.patch 2>/dev/null; [ ! -s ../d.patch ] || $tool <../d.patch)
    check "$case: --diff applied with ${tool%% *} gives the -w result" \
      cmp "$tmp/p/$case/input.$ext" "$expected"
  done

  # After fix, audit finds exactly what fix listed as left.
  check "$case: audit of the result shows only the findings fix left" \
    diff <(audit_findings "$policy" "$tmp/out.$ext") <(fix_notes "$tmp/err")
done

# Documents that need no change are copied byte for byte (the middle-document case).
mid=tests/fixtures/fix/multi-doc-middle
check "multi-doc: the first and last documents are unchanged" \
  bash -c "diff <(sed -n '1,/^---/p' $mid/input.yaml) <(sed -n '1,/^---/p' $mid/expected.yaml) &&
           diff <(tac $mid/input.yaml | sed -n '1,/^---/p') <(tac $mid/expected.yaml | sed -n '1,/^---/p')"
odd=tests/fixtures/fix/odd-formatting
check "odd formatting: every line still ends in CRLF" \
  bash -c "[ \$(grep -c \$'\r\$' $odd/expected.yaml) -eq \$(wc -l <$odd/expected.yaml) ]"

# Bad input: exit 2, nothing written.
printf 'kind: Deployment\nspec: [unclosed\n' >"$tmp/bad.yaml"
cp "$tmp/bad.yaml" "$tmp/bad.orig"
"$KADMIT" fix -w "$tmp/bad.yaml" >/dev/null 2>"$tmp/err"
check "unparseable YAML exits 2" [ $? -eq 2 ]
check "unparseable YAML is left as it was" cmp "$tmp/bad.yaml" "$tmp/bad.orig"
check "unparseable YAML says where" grep -q "bad.yaml:[0-9]*: cannot parse" "$tmp/err"
# A %YAML directive parses, but kubectl refuses it (it reads the text between "---" lines alone):
# exit 2 and the file unchanged, as audit reports the same error.
printf '%%YAML 1.2\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: r/a:1}]\n' >"$tmp/directive.yaml"
cp "$tmp/directive.yaml" "$tmp/directive.orig"
"$KADMIT" fix -w "$tmp/directive.yaml" >/dev/null 2>"$tmp/err"
check "a YAML directive exits 2" [ $? -eq 2 ]
check "a YAML directive leaves the file as it was" cmp "$tmp/directive.yaml" "$tmp/directive.orig"
check "a YAML directive is named, with what to do" \
  grep -q 'directive.yaml:1: YAML directive "%YAML 1.2": kubectl .* delete the line' "$tmp/err"
check "a YAML directive: fix's summary counts the input error" grep -q '; 1 input error (left unchanged)$' "$tmp/err"
"$KADMIT" fix --policies tests/fixtures/fix/anchors/policy.yaml tests/fixtures/fix/anchors/input.yaml \
  >/dev/null 2>"$tmp/err"
check "anchors: a fix under an alias is reported, not written" \
  grep -q 'under a YAML alias; editing its anchor would change every use' "$tmp/err"
check "anchors: a fix to an anchor that aliases share is reported, not written" \
  grep -q 'would change other values too (a YAML anchor that aliases share)' "$tmp/err"
"$KADMIT" fix "$tmp/missing.yaml" >/dev/null 2>&1
check "a missing file exits 2" [ $? -eq 2 ]
"$KADMIT" fix -w - </dev/null >/dev/null 2>&1
check "-w refuses stdin" [ $? -eq 2 ]
"$KADMIT" fix -w --diff "$tmp/bad.yaml" >/dev/null 2>&1
check "-w and --diff exclude each other" [ $? -eq 2 ]
check "fix reads stdin" bash -c "\"$KADMIT\" fix --policies $tmp/checklist.yaml - <tests/fixtures/fix/hpa-scale-down-window/input.yaml 2>/dev/null | cmp - tests/fixtures/fix/hpa-scale-down-window/expected.yaml"
"$KADMIT" fix --policies "$tmp/checklist.yaml" --namespace sandbox tests/fixtures/fix/no-namespace/input.yaml >/dev/null 2>"$tmp/ns-err"
check "--namespace: an object that names none is judged and named in it, as audit does" \
  grep -q 'no-literal-secrets: Deployment sandbox/guestbook container' "$tmp/ns-err"
"$KADMIT" fix --namespace Not_A_Namespace tests/fixtures/fix/no-namespace/input.yaml >/dev/null 2>&1
check "--namespace must be a namespace name" [ $? -eq 2 ]
cat >"$tmp/sidecar.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: sidecar, namespace: ai-agents}
spec:
  initContainers:
    - name: memory-proxy
      image: registry.example.com/memory-proxy:1.0
      restartPolicy: Always
      ports: [{name: http, containerPort: 8080}]
      resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {cpu: 100m, memory: 128Mi}}
  containers:
    - name: app
      image: registry.example.com/app:1.0
      resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {cpu: 100m, memory: 128Mi}}
      readinessProbe: {httpGet: {path: /ready, port: 8080}}
      livenessProbe: {httpGet: {path: /live, port: 8080}}
EOF
"$KADMIT" fix --policies "$tmp/checklist.yaml" "$tmp/sidecar.yaml" >/dev/null 2>"$tmp/sidecar.err"
check "a native sidecar's missing probes are listed as a sidecar's (inject-probes writes app containers only)" \
  bash -c "[ \$(grep -c 'probes-required: Pod ai-agents/sidecar container \"memory-proxy\"' '$tmp/sidecar.err') = 2 ] &&
    grep -q 'not fixed: a native sidecar: inject-probes writes probes on app containers only' '$tmp/sidecar.err'"
check "fix --help documents the flags" bash -c "\"$KADMIT\" fix --help | grep -q -- '--diff' && \"$KADMIT\" fix --help | grep -q 'params.fix'"

# A directory: every manifest under it, in place; the result is what fixing each file gives.
mkdir -p "$tmp/dir/sub"
cp tests/fixtures/fix/grace-period/input.yaml "$tmp/dir/a.yaml"
cp tests/fixtures/fix/json/input.json "$tmp/dir/sub/b.json"
echo "not a manifest" >"$tmp/dir/notes.txt"
"$KADMIT" fix -w --policies "$tmp/checklist.yaml" "$tmp/dir" >/dev/null 2>&1
check "a directory is fixed recursively" \
  bash -c "cmp $tmp/dir/a.yaml tests/fixtures/fix/grace-period/expected.yaml && cmp $tmp/dir/sub/b.json tests/fixtures/fix/json/expected.json && [ \"\$(cat $tmp/dir/notes.txt)\" = 'not a manifest' ]"

# resources-required's fix params are validated by the policy loader.
cat >"$tmp/badfix.yaml" <<'Y'
apiVersion: kadmit.dev/v1alpha1
kind: Policy
metadata: {name: badfix}
spec:
  rules:
    - id: resources-required
      action: enforce
      params:
        fix: {requests: {gpu: 1}}
Y
check "lint rejects an unknown resource in params.fix" \
  bash -c "\"$KADMIT\" lint $tmp/badfix.yaml 2>&1 | grep -q 'fix.requests.gpu'"
finish
