# Moved to lib/harness.sh (one harness for every integration script); this name stays for
# branches written before it.
. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"
