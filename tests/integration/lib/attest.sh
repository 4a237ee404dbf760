# Image-scan attestations made at test time, for tests that run the shipped checklist.
#
#   attest_setup DIR            fresh P-256 scanner key (DIR/keys/scanner.pem), an empty
#                               DIR/attestations/, and DIR/checklist.yaml: the shipped policy
#                               trusting that key (keyFiles -> DIR/keys/*.pem)
#   attest_image DIR IMAGE      sign a clean Trivy scan of IMAGE's digest (IMAGE is
#                               repo@sha256:<hex>) into DIR/attestations/
#   checklist_without_attestations OUT
#                               the shipped policy with image-scan-attestation off, for tests
#                               of the other rules
_attest_src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)

attest_setup() {
  local dir=$1
  mkdir -p "$dir/keys" "$dir/attestations"
  "$_attest_src/tests/attest/keygen.sh" p256 "$dir/keys/scanner" >/dev/null
  mv "$dir/keys/scanner.pub" "$dir/keys/scanner.pem"
  sed "s#keyFiles: \[\"/etc/kadmit/attestation-keys/\*.{pem,pub}\"\]#keyFiles: [$dir/keys/*.pem]#" \
    "$_attest_src/policies/checklist.yaml" >"$dir/checklist.yaml"
  grep -q "keyFiles: \[$dir/keys/\*.pem\]" "$dir/checklist.yaml" ||
    { echo "attest_setup: policies/checklist.yaml no longer has the expected keyFiles line" >&2; return 1; }
}

attest_image() {
  local dir=$1 image=$2
  local hex=${image##*@sha256:}
  [ ${#hex} -eq 64 ] || { echo "attest_image: $image is not pinned by digest" >&2; return 1; }
  "$_attest_src/tests/attest/statement.sh" --digest "$hex" --name "${image%@*}" \
    "$_attest_src/tests/attest/trivy-clean.json" >"$dir/statement-$hex.json"
  "$_attest_src/tests/attest/sign.sh" "$dir/keys/scanner.key" "$dir/statement-$hex.json" \
    >"$dir/attestations/$hex.json"
}

checklist_without_attestations() {
  python3 - "$_attest_src/policies/checklist.yaml" "$1" <<'PY'
import sys
text = open(sys.argv[1]).read()
needle = "- id: image-scan-attestation\n      action: enforce"
assert needle in text, "policies/checklist.yaml no longer enforces image-scan-attestation as expected"
open(sys.argv[2], "w").write(text.replace(needle, "- id: image-scan-attestation\n      action: off"))
PY
}
