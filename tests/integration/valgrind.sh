#!/usr/bin/env bash
# Valgrind memcheck pass: every unit test binary, `kadmit review` on every admission case and
# regression input (both endpoints), `kadmit lint` and `kadmit audit` on the fixtures. Any
# memory error or definite leak fails the run.
#   tests/integration/valgrind.sh [BUILD_DIR]      (default: build; a non-sanitizer build)
# Not named test_*.sh: ctest does not run it (it takes minutes); tests/run calls it.
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
if ! command -v valgrind >/dev/null; then
    echo "valgrind not installed (apt-get install valgrind)"
    exit 2
fi
if ldd "$build/kadmit" | grep -q libasan; then
    echo "$build is a sanitizer build: valgrind needs a plain one"
    exit 2
fi
vg=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --track-origins=yes --quiet)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
passed=0
failed=0
VG_EXTRA=()
run() { # NAME CMD...: passes when valgrind reports nothing (exit 99 = memcheck error)
    local name=$1
    shift
    "${vg[@]}" --log-file="$log" "${VG_EXTRA[@]}" "$@" >/dev/null 2>&1
    local rc=$?
    if [ "$rc" -ne 99 ] && [ ! -s "$log" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $name (exit $rc)"
        head -40 "$log"
    fi
}

echo "== unit tests"
export KADMIT_SOURCE_DIR=$PWD KADMIT=$PWD/$build/kadmit
for t in "$build"/test_*; do
    [ -x "$t" ] || continue
    # test_torture defines malloc() itself (calling __libc_malloc): valgrind must leave the
    # program's own malloc alone and intercept glibc's instead
    VG_EXTRA=()
    case $t in */test_torture) VG_EXTRA=(--soname-synonyms=somalloc=nouserintercepts) ;; esac
    run "$(basename "$t")" "$t"
    VG_EXTRA=()
    echo "   $(basename "$t")"
done

echo "== kadmit review on every admission case and regression input"
n=0
for f in tests/fixtures/rules/*/*/request.json tests/fixtures/checklist/*/request.json \
    tests/fixtures/regressions/*.json; do
    [ -f "$f" ] || continue
    dir=$(dirname "$f")
    pol=()
    [ -f "$dir/policy.yaml" ] && pol=(--policies "$dir/policy.yaml")
    for ep in validate mutate; do
        run "review --endpoint $ep $f" "$build/kadmit" review --endpoint "$ep" "${pol[@]}" "$f"
        n=$((n + 1))
    done
done
echo "   $n reviews"

echo "== kadmit lint and audit"
run "lint policies" "$build/kadmit" lint policies/checklist.yaml
for p in tests/fixtures/rules/*/*/policy.yaml tests/fixtures/checklist/*/policy.yaml; do
    run "lint $p" "$build/kadmit" lint "$p"
done
run "audit fixtures" "$build/kadmit" audit tests/fixtures/manifests
run "audit -o json" "$build/kadmit" audit -o json tests/fixtures/manifests

echo "valgrind: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
