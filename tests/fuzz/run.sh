#!/usr/bin/env bash
# Build the libFuzzer targets and run each for SECONDS (default 60).
#   tests/fuzz/run.sh [SECONDS] [TARGET...]      e.g. tests/fuzz/run.sh 1800 admission
# Targets default to every tests/fuzz/fuzz_*.c. Each run starts from the committed seed corpus
# (tests/fuzz/corpus/<target>, read-only) plus a working corpus in build-fuzz/corpus/<target>
# that grows across runs. A crash, leak, UB report or timeout leaves its input in
# build-fuzz/artifacts/<target>/ and makes this script exit 1. Prints executions, exec/s,
# coverage and peak RSS per target.
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
shift || true
build=${KADMIT_FUZZ_BUILD:-build-fuzz}
jobs=${KADMIT_JOBS:-2}

CC=${CC:-clang} cmake -S . -B "$build" -DKADMIT_FUZZ=ON -DKADMIT_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 2
cmake --build "$build" -j"$jobs" >/dev/null || { cmake --build "$build" -j1; exit 2; }

if [ $# -eq 0 ]; then
  set -- $(for f in tests/fuzz/fuzz_*.c; do n=${f##*/fuzz_}; echo "${n%.c}"; done)
fi
failed=0
printf '%-12s %8s %12s %9s %8s %8s %8s  %s\n' target seconds executions exec/s cov ft rss_mb result
for t in "$@"; do
  bin=$build/fuzz_$t
  [ -x "$bin" ] || { echo "no fuzzer $bin"; failed=1; continue; }
  work=$build/corpus/$t art=$build/artifacts/$t log=$build/fuzz_$t.log
  mkdir -p "$work" "$art" "tests/fuzz/corpus/$t"
  dict=()
  case $t in
    admission|manifest|attest|decisionlog|registry) dict=(-dict=tests/fuzz/json.dict) ;;
    policy|yaml|fix|stream) dict=(-dict=tests/fuzz/yaml.dict) ;;
  esac
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$art/" "${dict[@]}" \
    "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  result=ok
  if [ $rc -ne 0 ]; then
    result="FAILED (rc $rc, see $log and $art/)"
    failed=1
  fi
  printf '%-12s %8s %12s %9s %8s %8s %8s  %s\n' "$t" "$secs" "${execs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "${rss:-?}" "$result"
done
exit $failed
