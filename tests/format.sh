#!/usr/bin/env bash
# Fails when a tracked C file differs from `clang-format` (.clang-format at the root); prints the
# files to fix with `clang-format -i`.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h')
[ ${#files[@]} -gt 0 ] || { echo "format: no C files found (not a git checkout?)" >&2; exit 1; }
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "format: ${#bad[@]} file(s) differ from clang-format; run: clang-format -i ${bad[*]}" >&2
  exit 1
fi
echo "format: ${#files[@]} C files match .clang-format"
