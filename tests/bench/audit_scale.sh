#!/usr/bin/env bash
# kadmit audit at cluster scale: a generated `kubectl get pods -A -o json` snapshot (realistic,
# indented pods, ~4.3 KB each, each owned by a ReplicaSet or StatefulSet that is not in the
# snapshot, as in a real one; tests/bench/gen_pods.py) of 1k, 10k and 150k pods audited as text,
# JSON Lines and JSON; prints time, objects/s and peak RSS per size, the peers (kube-score,
# gator, Kyverno CLI; PEERS=0: none, PEER_SIZES, PEER_TOOLS) and the 20,000-pod compact
# snapshot that issue #12 keeps within 10% of its old time (with BASELINE=/path/to/old/kadmit,
# both side by side, interleaved), and the html, policyreport and markdown reports at
# REPORT_SIZES (default 5000 20000). Figures only: nothing is asserted.
#
#   tests/bench/audit_scale.sh                  # KADMIT=build/kadmit, sizes 1000 10000 150000
#   SIZES="1000 10000" ROUNDS=3 ROUNDS_20K=5 BASELINE=/tmp/kadmit-old tests/bench/audit_scale.sh
#
# Writes tests/bench/out/audit-scale.md and the section between the audit-scale markers of
# tests/bench/RESULTS.md (unless BENCH_NO_RESULTS=1). Snapshots are cached in
# ${XDG_CACHE_HOME:-$HOME/.cache}/kadmit-bench/ (150k pods is about 650 MB).
set -euo pipefail
cd "$(dirname "$0")/../.."
KADMIT=${KADMIT:-build/kadmit}
SIZES=${SIZES:-1000 10000 150000}
ROUNDS=${ROUNDS:-3}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/kadmit-bench
OUT=tests/bench/out
mkdir -p "$CACHE" "$OUT"

snapshot() { # N [--compact]  (g2: the generator with ownerReferences)
  local f="$CACHE/pods-g2-$1${2:+-compact}.json"
  [ -s "$f" ] || python3 tests/bench/gen_pods.py "$1" ${2:+"$2"} >"$f.tmp" && mv "$f.tmp" "$f" 2>/dev/null || true
  echo "$f"
}
# one run: prints "seconds max_rss_kib"
run() { # BINARY FORMAT FILE
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$1" audit --fail-on never -o "$2" "$3" \
    >/dev/null 2>"$OUT/stderr.txt" || { echo "kadmit audit failed: $(tail -3 "$OUT/stderr.txt")" >&2; exit 1; }
  tail -1 "$OUT/time.txt"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

{
  echo "<!-- audit-scale:begin -->"
  echo "### kadmit audit at scale (tests/bench/audit_scale.sh)"
  echo
  echo "Generated \`kubectl get pods -A -o json\` snapshots (indented, ~4.3 KB a pod; every pod owned"
  echo "by a ReplicaSet or StatefulSet that is not in the snapshot, as in a real one), the shipped"
  echo "checklist (which denies every pod here: no scan attestations), medians of $ROUNDS runs."
  echo
  echo "| pods | input | format | time | objects/s | peak RSS |"
  echo "|---:|---:|---|---:|---:|---:|"
} >"$OUT/audit-scale.md"
for n in $SIZES; do
  f=$(snapshot "$n")
  mb=$(($(stat -c %s "$f") / 1000000))
  for fmt in text jsonl json; do
    if [ "$fmt" = jsonl ] && ! grep -q jsonl <("$KADMIT" audit --help); then continue; fi
    : >"$OUT/runs.txt"
    for _ in $(seq "$ROUNDS"); do run "$KADMIT" "$fmt" "$f" >>"$OUT/runs.txt"; done
    t=$(cut -d' ' -f1 "$OUT/runs.txt" | median)
    rss=$(cut -d' ' -f2 "$OUT/runs.txt" | sort -n | tail -1)
    rate=$(awk -v n="$n" -v t="$t" 'BEGIN {printf "%.0f", n / (t > 0 ? t : 0.001)}')
    printf '| %s | %s MB | %s | %s s | %s | %s MiB |\n' "$n" "$mb" "$fmt" "$t" "$rate" \
      $((rss / 1024)) | tee -a "$OUT/audit-scale.md"
  done
done
# The 20,000-pod snapshot of issue #12 (compact, ~2.1 KB a pod), old binary against new.
f=$(snapshot 20000 --compact)
{
  echo
  echo "20,000-pod compact snapshot as text (issue #12: within 10% of the old time):"
  echo
  echo "| binary | time (median) | peak RSS |"
  echo "|---|---:|---:|"
} >>"$OUT/audit-scale.md"
: >"$OUT/new.txt"
: >"$OUT/old.txt"
for _ in $(seq "${ROUNDS_20K:-$ROUNDS}"); do
  run "$KADMIT" text "$f" >>"$OUT/new.txt"
  if [ -n "${BASELINE:-}" ]; then run "$BASELINE" text "$f" >>"$OUT/old.txt"; fi
done
for which in new old; do
  [ -s "$OUT/$which.txt" ] || continue
  printf '| %s | %s s | %s MiB |\n' "$([ $which = new ] && echo "$KADMIT" || echo "$BASELINE (before)")" \
    "$(cut -d' ' -f1 "$OUT/$which.txt" | median)" \
    $(($(cut -d' ' -f2 "$OUT/$which.txt" | sort -n | tail -1) / 1024)) | tee -a "$OUT/audit-scale.md"
done
# Reports that need the whole picture (issue #22): html, policyreport and markdown hold only what
# they print (rows and results in temporary files), one run each at REPORT_SIZES.
{
  echo
  echo "Reports on the same snapshots (every pod fails), one run each:"
  echo
  echo "| pods | format | time | peak RSS |"
  echo "|---:|---|---:|---:|"
} >>"$OUT/audit-scale.md"
for n in ${REPORT_SIZES:-5000 20000}; do
  f=$(snapshot "$n")
  for fmt in html policyreport markdown; do
    r=$(run "$KADMIT" "$fmt" "$f")
    printf '| %s | %s | %s s | %s MiB |\n' "$n" "$fmt" "${r% *}" $((${r#* } / 1024)) | tee -a "$OUT/audit-scale.md"
  done
done
# Relations (issue #17): copies of the checklist's complete namespace (tests/bench/gen_namespaces.py:
# StatefulSets, PDBs, HPA, NetworkPolicies, quota, limit range, Services), every workload, PDB,
# HPA and policy held in the relation index until the input ends; old binary against new.
{
  echo
  echo "Complete namespaces (relations indexed: about 1 KB per workload, PDB, HPA, policy), as jsonl:"
  echo
  echo "| objects | binary | time | peak RSS |"
  echo "|---:|---|---:|---:|"
} >>"$OUT/audit-scale.md"
for n in ${NS_SIZES:-10000 20000}; do
  f="$CACHE/namespaces-$n.json"
  [ -s "$f" ] || python3 tests/bench/gen_namespaces.py "$n" >"$f"
  for bin in "$KADMIT" ${BASELINE:+"$BASELINE"}; do
    r=$(run "$bin" jsonl "$f")
    printf '| %s | %s | %s s | %s MiB |\n' "$n" "$bin$([ "$bin" = "${BASELINE:-}" ] && echo " (before)")" \
      "${r% *}" $((${r#* } / 1024)) | tee -a "$OUT/audit-scale.md"
  done
done
# Peers: the same snapshots through kube-score, gator and the Kyverno CLI (built from their Go
# modules by peers_build.sh, cached outside the clone), beside kadmit on the same three checks
# (peer/four-rules.yaml; gator.yaml and kyverno.yaml are their ports). gator and Kyverno do not
# read a List: they get the pods as a YAML stream (`---` before each `jq -c .items[]` line),
# made once and not timed. Agreement: the (pod, check) pairs flagged, against kadmit's.
if [ "${PEERS:-1}" != 0 ]; then
  eval "$(tests/bench/peers_build.sh ${PEER_TOOLS:-kube-score gator kyverno} 2>>"$OUT/peers-build.txt")" ||
    echo "peers: build failed (see $OUT/peers-build.txt)" >&2
  {
    echo
    echo "Peers on the same snapshots, the three checks they share with kadmit (requests and"
    echo "limits, probes, no \`:latest\`; kube-score runs its own full set), medians of $ROUNDS runs:"
    echo
    echo "| tool | pods | time | objects/s | peak RSS | time / kadmit's | (pod, check) pairs flagged |"
    echo "|---|---:|---:|---:|---:|---:|---|"
  } >>"$OUT/audit-scale.md"
  # pairs TOOL OUTPUT: sorted "namespace/pod rule" lines
  pairs() {
    case $1 in
    kadmit) jq -r 'select(.type=="result") | .namespace + "/" + .name + " " + .violations[].rule' "$2" ;;
    gator) sed -n 's|^v1/Pod \([^:]*\): .*Message: "\([a-z-]*\):.*|\1 \2|p' "$2" ;;
    kyverno) sed -n 's|^policy bench-checks -> resource \([^/]*\)/Pod/\([^ ]*\) failed:.*|\1/\2|p' "$2" ;;
    esac | sort -u
  }
  for n in ${PEER_SIZES:-1000 10000}; do
    f=$(snapshot "$n")
    docs="${f%.json}.docs.yaml"
    [ -s "$docs" ] || jq -c '.items[]' "$f" | sed 's/^/---\n/' >"$docs"
    for tool in kadmit kube-score gator kyverno; do
      case $tool in
      kadmit) cmd=("$KADMIT" audit --policies tests/bench/peer/four-rules.yaml --fail-on never -o jsonl "$f") ;;
      kube-score) cmd=("${KUBE_SCORE:-}" score "$f") ;;
      gator) cmd=("${GATOR:-}" test -f tests/bench/peer/gator.yaml -f "$docs") ;;
      kyverno) cmd=("${KYVERNO:-}" apply tests/bench/peer/kyverno.yaml --resource "$docs") ;;
      esac
      [ -x "${cmd[0]}" ] || { echo "| $tool | $n | not built | | | | |" >>"$OUT/audit-scale.md"; continue; }
      : >"$OUT/runs.txt"
      for _ in $(seq "$ROUNDS"); do
        /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "${cmd[@]}" >"$OUT/peer-$tool.out" 2>&1 || true
        tail -1 "$OUT/time.txt" >>"$OUT/runs.txt"
      done
      t=$(cut -d' ' -f1 "$OUT/runs.txt" | median)
      rss=$(cut -d' ' -f2 "$OUT/runs.txt" | sort -n | tail -1)
      [ $tool = kadmit ] && tk=$t
      rate=$(awk -v n="$n" -v t="$t" 'BEGIN {printf "%.0f", n / (t > 0 ? t : 0.001)}')
      ratio=$(awk -v t="$t" -v k="$tk" 'BEGIN {printf "%.1fx", t / (k > 0 ? k : 0.001)}')
      case $tool in
      kadmit) pairs kadmit "$OUT/peer-kadmit.out" >"$OUT/pairs-kadmit.txt"; agree="$(wc -l <"$OUT/pairs-kadmit.txt")" ;;
      kube-score) agree="its own checks ($(grep -c '^v1/Pod' "$OUT/peer-$tool.out") pods scored)" ;;
      gator)
        pairs gator "$OUT/peer-gator.out" >"$OUT/pairs-gator.txt"
        agree="$(wc -l <"$OUT/pairs-gator.txt"), $(comm -3 "$OUT/pairs-kadmit.txt" "$OUT/pairs-gator.txt" | wc -l) differ" ;;
      kyverno)
        pairs kyverno "$OUT/peer-kyverno.out" >"$OUT/pods-kyverno.txt"
        cut -d' ' -f1 "$OUT/pairs-kadmit.txt" | sort -u >"$OUT/pods-kadmit.txt"
        agree="$(wc -l <"$OUT/pods-kyverno.txt") pods, $(comm -3 "$OUT/pods-kadmit.txt" "$OUT/pods-kyverno.txt" | wc -l) differ" ;;
      esac
      printf '| %s | %s | %s s | %s | %s MiB | %s | %s |\n' "$tool" "$n" "$t" "$rate" \
        $((rss / 1024)) "$ratio" "$agree" | tee -a "$OUT/audit-scale.md"
    done
  done
fi
cat >>"$OUT/audit-scale.md" <<NOTE

Machine: $(nproc) cores shared with other work while these ran (figures from one session).
NOTE
echo "<!-- audit-scale:end -->" >>"$OUT/audit-scale.md"
if [ -z "${BENCH_NO_RESULTS:-}" ]; then
  R=tests/bench/RESULTS.md
  if grep -q '<!-- audit-scale:begin -->' "$R"; then
    awk -v f="$OUT/audit-scale.md" '
      /<!-- audit-scale:begin -->/ {while ((getline l < f) > 0) print l; skip = 1; next}
      /<!-- audit-scale:end -->/ {skip = 0; next}
      !skip' "$R" >"$R.tmp" && mv "$R.tmp" "$R"
  else
    { echo; cat "$OUT/audit-scale.md"; } >>"$R"
  fi
fi
cat "$OUT/audit-scale.md"
