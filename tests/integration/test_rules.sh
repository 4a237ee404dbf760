#!/usr/bin/env bash
# The rule registry describes itself: `kadmit rules` and `kadmit explain`, and the catalogue
# tables in README.md and policies/README.md are exactly `kadmit rules -o markdown`.
set -u
cd "${KADMIT_SOURCE_DIR:-.}"
. tests/integration/lib/harness.sh
use_tmp

"$KADMIT" rules -o markdown >"$tmp/rules.md"
# The lines between the markers of one README.
between() { sed -n '/^<!-- rules:begin/,/^<!-- rules:end -->/p' "$1" | sed '1d;$d'; }
for f in README.md policies/README.md; do
  check "$f's rule table is \`kadmit rules -o markdown\` (cmake --build build --target rules-docs)" \
    diff -u "$tmp/rules.md" <(between "$f")
done

"$KADMIT" rules -o json >"$tmp/rules.json"
check "rules -o json lists one entry per rule file, with summary and param help" python3 - "$tmp/rules.json" <<'PY'
import json, os, sys
rules = json.load(open(sys.argv[1]))
files = sorted(f[:-2] for f in os.listdir("webhook/src/rules") if f.endswith(".c") and f != "rule_api.c")
assert [r["id"] for r in rules] == files, ([r["id"] for r in rules], files)
for r in rules:
    assert r["type"] in ("validation", "mutation", "relation") and r["summary"], r
    assert bool(r["kinds"]) == (r["type"] != "relation"), r  # relations: several objects, audit only
    assert all(p["help"] and "default" in p for p in r["params"]), r
PY
check "README's checklist mapping names only rules kadmit has (or the audit relations)" python3 - "$tmp/rules.json" <<'PY'
import json, re, sys
ids = {r["id"] for r in json.load(open(sys.argv[1]))}
relations = {"pdb-coverage", "hpa-coverage", "network-policy-coverage", "namespace-guardrails",
             "storage-class-exists"}
text = open("README.md").read()
table = text.split("### The checklist, item by item", 1)[1].split("\n\n## ", 1)[0]
rows = [l for l in table.splitlines() if l.startswith("| ") and not l.startswith("| checklist")]
assert len(rows) >= 23, len(rows)  # the 23 items of section 8, then Memory Spine and cold start
named = set()
for row in rows:
    cell = row.split("|")[2]
    found = re.findall(r"`([a-z0-9-]+)`", cell)
    assert found or "checkable" in cell or "not checked" in cell, row
    named.update(found)
assert named <= ids | relations, named - ids - relations
missing = ids - named - {"no-host-path"}  # not a checklist item (README says so)
assert not missing, ("rules the mapping does not mention", missing)
PY
check "rules prints a text table" bash -c "\"$KADMIT\" rules | grep -q '^image-pinned  *validation  *enforce  *images name a tag'"
check "rules refuses an unknown format" bash -c "\"$KADMIT\" rules -o yaml 2>/dev/null; [ \$? -eq 2 ]"

for id in $(python3 -c 'import json,sys; print(" ".join(r["id"] for r in json.load(open(sys.argv[1]))))' "$tmp/rules.json"); do
  "$KADMIT" explain "$id" >"$tmp/explain.txt"
  sed -n '/^apiVersion:/,$p' "$tmp/explain.txt" >"$tmp/$id.yaml"
  check "explain $id shows its params and an example policy that lints" \
    bash -c "grep -q '^params:' $tmp/explain.txt && \"$KADMIT\" lint $tmp/$id.yaml"
done
check "explain refuses an unknown rule" bash -c "out=\$(\"$KADMIT\" explain no-such-rule 2>&1); [ \$? -eq 2 ] && [[ \$out == *'unknown rule'* ]]"
finish
