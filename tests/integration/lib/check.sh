# Shared helpers for integration tests: `check NAME CMD...` counts passes and failures;
# `finish` prints "N passed, M failed" and sets the exit code.
KADMIT=${KADMIT:-build/kadmit}
passed=0
failed=0
check() {
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
  fi
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}
