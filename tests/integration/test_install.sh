#!/usr/bin/env bash
# `cmake --install` puts the binary, the man page (generated from --help) and the shipped
# policies where a package expects them, and the installed binary runs.
set -u
cd "${KADMIT_SOURCE_DIR:-.}"
. tests/integration/lib/harness.sh
build=$(dirname "$KADMIT")
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
if ! command -v help2man >/dev/null; then
  if [ "${CI:-}" = true ]; then echo "FAIL help2man is missing (tests/deps.sh installs it)"; exit 1; fi
  echo "skip: no help2man (tests/deps.sh installs it)"; exit 0
fi
check "cmake --install succeeds" cmake --install "$build" --prefix "$prefix"
check "bin/kadmit runs" bash -c "\"$prefix/bin/kadmit\" version | grep -q '^kadmit [0-9]'"
check "the checklist is in share/kadmit/policies and lints" \
  "$prefix/bin/kadmit" lint "$prefix/share/kadmit/policies/checklist.yaml"
man="$prefix/share/man/man1/kadmit.1"
check "the man page is installed" test -s "$man"
check "the man page has every subcommand's flags" bash -c \
  "for c in \$(\"$KADMIT\" --help | awk '/^  [a-z]+ /{print \$1}'); do grep -q \"^.SS kadmit \$c\" $man || exit 1; done; grep -q 'tls\\\\-cert\\|tls-cert' $man"
check "the man page carries the binary's version" bash -c "grep -q \"\$(\"$KADMIT\" version | cut -d' ' -f2)\" $man"
finish
