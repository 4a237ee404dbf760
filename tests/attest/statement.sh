#!/usr/bin/env bash
# Wrap a scanner's JSON report (Trivy `--format json` or Grype `-o json`) into an in-toto
# Statement with the cosign vulnerability predicate, as `cosign attest --type vuln` does.
#
#   tests/attest/statement.sh --digest HEX [flags] REPORT.json > statement.json
#     --digest HEX           subject sha256 (64 hex digits); repeat for several subjects
#     --name NAME            subject name (default: registry.example/app)
#     --finished RFC3339     metadata.scanFinishedOn (default: now, UTC)
#     --started RFC3339      metadata.scanStartedOn (default: same as finished)
#     --scanner URI          scanner.uri (default: pkg:github/aquasecurity/trivy@v0.57.1)
#     --scanner-version V    scanner.version (default: v0.57.1)
#     --predicate-type URI   (default: https://cosign.sigstore.dev/attestation/vuln/v1)
#     --statement-type URI   (default: https://in-toto.io/Statement/v1)
# REPORT.json is inserted verbatim as predicate.scanner.result.
set -euo pipefail
name=registry.example/app
finished="" started="" scanner=pkg:github/aquasecurity/trivy@v0.57.1 version=v0.57.1
ptype=https://cosign.sigstore.dev/attestation/vuln/v1 stype=https://in-toto.io/Statement/v1
digests=()
while [ $# -gt 1 ]; do
  case "$1" in
    --digest) digests+=("$2") ;;
    --name) name=$2 ;;
    --finished) finished=$2 ;;
    --started) started=$2 ;;
    --scanner) scanner=$2 ;;
    --scanner-version) version=$2 ;;
    --predicate-type) ptype=$2 ;;
    --statement-type) stype=$2 ;;
    *) echo "statement.sh: unknown flag $1" >&2; exit 2 ;;
  esac
  shift 2
done
[ $# -eq 1 ] && [ ${#digests[@]} -gt 0 ] || {
  echo "usage: $0 --digest HEX [flags] REPORT.json" >&2; exit 2; }
report=$1
[ -n "$finished" ] || finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)
[ -n "$started" ] || started=$finished
subjects=""
for d in "${digests[@]}"; do
  subjects+="${subjects:+,}{\"name\":\"$name\",\"digest\":{\"sha256\":\"$d\"}}"
done
printf '{"_type":"%s","predicateType":"%s","subject":[%s],"predicate":{' \
  "$stype" "$ptype" "$subjects"
printf '"invocation":{"parameters":null,"uri":"","event_id":"","builder.id":""},'
printf '"scanner":{"uri":"%s","version":"%s","db":{"uri":"","version":""},"result":' \
  "$scanner" "$version"
cat "$report"
printf '},"metadata":{"scanStartedOn":"%s","scanFinishedOn":"%s"}}}\n' "$started" "$finished"
