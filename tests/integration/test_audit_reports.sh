#!/usr/bin/env bash
# kadmit audit reports: every output format on the same inputs (a cluster snapshot, manifests,
# an AdmissionReview and a decision log with torn and malformed lines) compared with golden
# files; exit codes; PolicyReport shape; the HTML report in headless Chromium (after its JS ran).
#
# Regenerate the golden files after an intended change:
#   KADMIT_UPDATE_GOLDEN=1 KADMIT=build/kadmit bash tests/integration/test_audit_reports.sh
set -euo pipefail
cd "${KADMIT_SOURCE_DIR:-$(dirname "$0")/../..}"
KADMIT="${KADMIT:-build/kadmit}"
F=tests/fixtures/audit
EXP=$F/expected
WORK="$(mktemp -d /tmp/kadmit-audit-reports.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

INPUTS=("$F/inputs/snapshot.json" "$F/inputs/manifests.yaml" "$F/inputs/review.json"
        --decision-log "$F/inputs/decisions.log")
audit() { "$KADMIT" audit --policies "$F/policy.yaml" --now 2026-11-28T12:00:00Z --color never "$@"; }

# ---- golden files: every format -------------------------------------------------------------
declare -A EXT=([text]=txt [json]=json [markdown]=md [html]=html [policyreport]=policyreport.json)
for fmt in text json markdown html policyreport; do
  out="$WORK/report.${EXT[$fmt]}"
  rc=0
  audit -o "$fmt" "${INPUTS[@]}" >"$out" 2>"$WORK/stderr.$fmt" || rc=$?
  [ "$rc" -eq 1 ] || fail "$fmt: exit $rc, want 1 (enforce findings)"
  if [ -n "${KADMIT_UPDATE_GOLDEN:-}" ]; then
    cp "$out" "$EXP/report.${EXT[$fmt]}"
    echo "updated $EXP/report.${EXT[$fmt]}"
  elif diff -u "$EXP/report.${EXT[$fmt]}" "$out" >"$WORK/diff.$fmt"; then
    ok "$fmt matches $EXP/report.${EXT[$fmt]}"
  else
    head -40 "$WORK/diff.$fmt" >&2
    fail "$fmt differs from $EXP/report.${EXT[$fmt]}"
  fi
done
# decision-log problems are reported with file:line on stderr (not fatal)
for line in 3 5 7; do
  grep -q "decisions.log:$line: " "$WORK/stderr.json" || fail "stderr does not name decisions.log:$line"
done
grep -q "decisions.log:7: truncated line" "$WORK/stderr.json" || fail "truncated last line not reported"
# the same output twice (deterministic), and KADMIT_NOW works like --now
KADMIT_NOW=2026-11-28T12:00:00Z "$KADMIT" audit --policies "$F/policy.yaml" -o markdown \
  "${INPUTS[@]}" >"$WORK/again.md" 2>/dev/null || true
cmp -s "$WORK/again.md" "$WORK/report.md" && ok "KADMIT_NOW is --now" || fail "KADMIT_NOW output differs"

# ---- json: machine form ---------------------------------------------------------------------
J="$WORK/report.json"
[ "$(jq '.summary.objects' "$J")" = 8 ] || fail "json: summary.objects"
[ "$(jq '.summary.admissions.total' "$J")" = 3 ] || fail "json: summary.admissions.total"
[ "$(jq '.decisionLogProblems | length' "$J")" = 3 ] || fail "json: decisionLogProblems"
[ "$(jq -r '.results[] | select(.name=="web" and .kind=="Deployment") | .violations | map(.rule) | join(",")' "$J")" = \
  "resources-required,probes-required,probes-required,image-pinned,no-literal-secrets" ] || fail "json: web violations"
[ "$(jq -r '[.results[] | select(.mutations | length > 0) | .name] | join(",")' "$J")" = "agent-7f9c" ] ||
  fail "json: mutated objects"
# a Pod whose ReplicaSet is in the input is not reported again, nor the ReplicaSet whose
# Deployment is (the Pod comes before its ReplicaSet, the ReplicaSet after its Deployment),
# unless --include-owned
[ "$(jq '.summary.owned' "$J")" = 2 ] || fail "json: summary.owned"
# every document accounted for: read = evaluated + skipped + owned + errors
[ "$(jq '.summary | [.read, .objects + .skipped + .owned + .errors] | "\(.[0])=\(.[1])"' "$J")" = '"12=12"' ] ||
  fail "json: summary.read"
[ "$(jq -c '.summary.skippedKinds' "$J")" = '{"Service":1,"ConfigMap":1}' ] ||
  fail "json: summary.skippedKinds"
jq -e '[.results[].name] | index("web-5d9f7c-x2k4q") == null' "$J" >/dev/null || fail "json: owned pod evaluated"
audit -o json --include-owned "${INPUTS[@]}" >"$WORK/owned.json" 2>/dev/null || true
[ "$(jq '.summary.objects' "$WORK/owned.json")" = 10 ] || fail "--include-owned: summary.objects"
[ "$(jq -r '.results[] | select(.name=="web-5d9f7c-x2k4q") | .allowed' "$WORK/owned.json")" = false ] ||
  fail "--include-owned: the owned pod is evaluated"
ok "json fields"

# ---- policyreport: shape the API server accepts ---------------------------------------------
P="$WORK/report.policyreport.json"
jq -e '.apiVersion == "v1" and .kind == "List"' "$P" >/dev/null || fail "policyreport: not a v1 List"
jq -e 'all(.items[]; .apiVersion == "wgpolicyk8s.io/v1alpha2" and
          (.kind == "PolicyReport" or .kind == "ClusterPolicyReport") and
          (.metadata.name | test("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")) and
          ((.kind == "PolicyReport") == (.metadata.namespace != null)))' "$P" >/dev/null ||
  fail "policyreport: kinds, names or namespaces"
jq -e 'all(.items[].results[]; .source == "kadmit" and .policy == "checklist" and
          (.result | IN("pass","fail","warn","error","skip")) and
          ((.severity // "high") | IN("critical","high","medium","low","info")) and
          (.timestamp.seconds == 1795867200) and (.resources | length == 1) and
          (.properties | to_entries | all(.value | type == "string")))' "$P" >/dev/null ||
  fail "policyreport: result fields"
jq -e 'all(.items[]; .summary.pass == ([.results[] | select(.result=="pass")] | length) and
          .summary.fail == ([.results[] | select(.result=="fail")] | length) and
          .summary.warn == ([.results[] | select(.result=="warn")] | length))' "$P" >/dev/null ||
  fail "policyreport: summary counts"
[ "$(jq -r '[.items[] | "\(.kind)/\(.metadata.namespace // "-")/\(.metadata.name)"] | join(" ")' "$P")" = \
  "PolicyReport/ai-agents/kadmit-checklist PolicyReport/batch-jobs/kadmit-checklist PolicyReport/default/kadmit-checklist PolicyReport/payments/kadmit-checklist PolicyReport/shop/kadmit-checklist" ] ||
  fail "policyreport: report set"
# enforce -> fail/high, warn -> warn/medium, audit -> warn/low
[ "$(jq -r '[.items[].results[] | select(.rule=="termination-grace-period") | "\(.result)/\(.severity)/\(.properties.action)"] | join(",")' "$P")" = "warn/low/audit" ] ||
  fail "policyreport: audit mapping"
[ "$(jq -r '[.items[].results[] | select(.rule=="image-pinned") | "\(.result)/\(.severity)"] | unique | join(",")' "$P")" = "warn/medium" ] ||
  fail "policyreport: warn mapping"
[ "$(jq -r '[.items[].results[] | select(.rule=="no-literal-secrets") | "\(.result)/\(.severity)"] | join(",")' "$P")" = "fail/high" ] ||
  fail "policyreport: enforce mapping"
audit -o policyreport --report-max-results 2 "${INPUTS[@]}" >"$WORK/split.json" 2>/dev/null || true
[ "$(jq -r '[.items[] | select(.metadata.namespace=="shop") | .metadata.name] | join(" ")' "$WORK/split.json")" = \
  "kadmit-checklist-1 kadmit-checklist-2 kadmit-checklist-3 kadmit-checklist-4 kadmit-checklist-5" ] ||
  fail "policyreport: split names"
[ "$(jq '[.items[].results | length] | add' "$WORK/split.json")" = "$(jq '[.items[].results | length] | add' "$P")" ] ||
  fail "policyreport: split lost results"
ok "policyreport shape"

# ---- reports of many objects: rows and results spooled to temporary files (issue #22) --------
# html renders each item's rows as it is decided (past 64 KiB into a temporary file) and
# policyreport writes each result to one, chained per namespace; without a writable $TMPDIR
# html holds its rows in memory, with the same page. Every row and result is there, in order.
python3 tests/bench/gen_pods.py 600 >"$WORK/pods.json"
audit --fail-on never -o jsonl "$WORK/pods.json" >"$WORK/pods.jsonl" 2>/dev/null
want=$(jq -s '[.[] | select(.type=="result") | .violations | length] | add' "$WORK/pods.jsonl")
for fmt in html policyreport; do
  audit --fail-on never -o "$fmt" --report-max-results 10 "$WORK/pods.json" >"$WORK/many.$fmt" 2>/dev/null
  TMPDIR="$WORK/absent" audit --fail-on never -o "$fmt" --report-max-results 10 "$WORK/pods.json" \
    >"$WORK/many-mem.$fmt" 2>/dev/null
  cmp -s "$WORK/many.$fmt" "$WORK/many-mem.$fmt" || fail "$fmt: differs without a writable TMPDIR"
done
[ "$(grep -c '^<tr data-rule=' "$WORK/many.html")" = "$want" ] || fail "html: $want finding rows expected"
[ "$(jq '[.items[].results[] | select(.result != "pass")] | length' "$WORK/many.policyreport")" = "$want" ] ||
  fail "policyreport: $want results with findings expected"
[ "$(jq -r '[.items[] | select(.metadata.namespace=="team-00") | .metadata.name] | join(" ")' "$WORK/many.policyreport")" = \
  "kadmit-checklist-1 kadmit-checklist-2 kadmit-checklist-3 kadmit-checklist-4" ] ||
  fail "policyreport: team-00's 33 results split in four"
[ "$(jq -r '[.items[].metadata.namespace] | . == (. | sort)' "$WORK/many.policyreport")" = true ] ||
  fail "policyreport: namespaces in order"
ok "html and policyreport of $want findings through their temporary files"

# ---- exit codes -----------------------------------------------------------------------------
rc=0; audit --fail-on never "${INPUTS[@]}" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "--fail-on never: exit $rc"
rc=0; audit --decision-log "$F/inputs/decisions.log" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "a denial in the decision log: exit $rc, want 1"
printf '%s\n' '{"apiVersion":"v1","kind":"List","items":[' >"$WORK/warn-only.json"
jq -c '.items[] | select(.metadata.name=="debug-shell" or .metadata.name=="ledger")' \
  "$F/inputs/snapshot.json" | paste -sd, >>"$WORK/warn-only.json"
echo ']}' >>"$WORK/warn-only.json"
rc=0; audit "$WORK/warn-only.json" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "warn findings with --fail-on enforce: exit $rc, want 0"
rc=0; audit --fail-on warn "$WORK/warn-only.json" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "--fail-on warn: exit $rc, want 1"
printf 'kind: Deployment\nmetadata: {name: x\n' >"$WORK/broken.yaml"
rc=0; audit "$WORK/broken.yaml" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "unparsable manifest: exit $rc, want 2"
rc=0; audit -o pdf "$WORK/warn-only.json" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "unknown format: exit $rc, want 2"
rc=0; audit --now yesterday "$WORK/warn-only.json" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "bad --now: exit $rc, want 2"
# (to a file: grep -q leaving a pipe early would kill the help, longer than one pipe write, with
# SIGPIPE, and pipefail would call that a failure)
"$KADMIT" audit --help >"$WORK/help.txt"
grep -q -- "--decision-log FILE" "$WORK/help.txt" || fail "--help lacks --decision-log"
grep -q -- "--cluster" "$WORK/help.txt" || fail "--help lacks --cluster"
ok "exit codes"

# ---- html in headless Chromium --------------------------------------------------------------
CHROME=""
for c in chromium chromium-browser google-chrome; do
  if command -v "$c" >/dev/null 2>&1; then CHROME="$c"; break; fi
done
if [ -z "$CHROME" ]; then
  echo "SKIP: headless Chromium checks (chromium not installed; apt-get install chromium)"
  [ -n "${KADMIT_REQUIRE_ALL:-}" ] && { echo "KADMIT_REQUIRE_ALL is set: a skipped check fails"; exit 1; }
else
  H="$WORK/report.html"
  chrome() {
    timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
      --disable-background-networking --disable-component-update --disable-sync \
      --user-data-dir="$(mktemp -d "$WORK/chrome.XXXXXX")" --virtual-time-budget=5000 "$@" 2>>"$WORK/chrome.log"
  }
  chrome --dump-dom "file://$H" >"$WORK/dom.html" || fail "chromium --dump-dom failed"
  n_findings="$(jq '.summary.findings.total' "$J")"
  grep -q 'id="summary"' "$WORK/dom.html" || fail "dom: no summary"
  grep -q '<svg id="chart-rules"' "$WORK/dom.html" || fail "dom: no rule chart"
  grep -q '<svg id="chart-namespaces"' "$WORK/dom.html" || fail "dom: no namespace chart"
  [ "$(grep -o '<rect ' "$WORK/dom.html" | wc -l)" -ge 10 ] || fail "dom: charts have no bars"
  grep -q 'id="filter-text"' "$WORK/dom.html" || fail "dom: no filter input"
  [ "$(grep -o '<tr data-rule=' "$WORK/dom.html" | wc -l)" -eq "$n_findings" ] || fail "dom: table rows != $n_findings findings"
  grep -q "<span id=\"shown\">$n_findings of $n_findings findings shown</span>" "$WORK/dom.html" ||
    fail "dom: the filter script did not run"
  grep -q '<script>alert' "$WORK/dom.html" && fail "dom: unescaped script from the input"
  # filters preset from the URL fragment: only enforce findings in shop remain visible
  chrome --dump-dom "file://$H#action=enforce&namespace=shop" >"$WORK/dom2.html" || fail "chromium (filtered) failed"
  want="$(jq '[(.results[], .decisions[]) | select(.namespace=="shop") | (.violations // .findings)[] | select(.action=="enforce")] | length' "$J")"
  grep -q "<span id=\"shown\">$want of $n_findings findings shown</span>" "$WORK/dom2.html" ||
    fail "dom: filtering by action and namespace (want $want shown)"
  [ "$(grep -o '<tr data-rule=[^>]*hidden' "$WORK/dom2.html" | wc -l)" -eq $((n_findings - want)) ] ||
    fail "dom: hidden rows"
  chrome --screenshot="$WORK/report.png" --window-size=1400,1800 "file://$H" >/dev/null || fail "screenshot failed"
  [ "$(head -c 8 "$WORK/report.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "screenshot is not a PNG"
  [ "$(stat -c %s "$WORK/report.png")" -gt 20000 ] || fail "screenshot suspiciously small"
  if [ -n "${KADMIT_AUDIT_SCREENSHOT:-}" ]; then cp "$WORK/report.png" "$KADMIT_AUDIT_SCREENSHOT"; fi
  ok "html in $CHROME: summary, 2 charts, $n_findings rows, filters ran"
fi

if [ "$fails" -gt 0 ]; then
  echo "$fails checks failed" >&2
  exit 1
fi
echo "all audit report checks passed"
