#!/usr/bin/env bash
# Integration test for `kadmit attest verify`: fresh openssl keys and signatures, the real
# binary, and its exit codes (0 pass, 1 fail, 2 usage / unreadable input).
set -euo pipefail
KADMIT=${KADMIT:-build/kadmit}
SRC=${KADMIT_SOURCE_DIR:-.}
A=$SRC/tests/attest
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
D1=$(printf '1%.0s' {1..64})
D2=$(printf '2%.0s' {1..64})
IMG1=registry.example/app@sha256:$D1
NOW=2026-11-28T12:00:00Z
FIN=2026-11-27T10:00:00Z

# expect CODE TEXT -- ARGS: run kadmit attest verify ARGS, want exit CODE and TEXT in the output
expect() {
  local want=$1 text=$2; shift 3
  local got=0
  "$KADMIT" attest verify "$@" > "$T/out" 2>&1 || got=$?
  if [ "$got" != "$want" ] || ! grep -qF -- "$text" "$T/out"; then
    echo "FAIL: attest verify $* -> exit $got (want $want), want text: $text"
    sed 's/^/    /' "$T/out"
    fails=$((fails + 1))
  else
    echo "ok: exit $got: $text"
  fi
}

for k in p256 p384 rsa2048; do bash "$A/keygen.sh" $k "$T/$k"; done
bash "$A/keygen.sh" p256 "$T/rogue"
mkdir "$T/keys" && cp "$T"/p256.pub "$T"/p384.pub "$T"/rsa2048.pub "$T/keys/"

stmt() { # stmt OUT REPORT [statement.sh flags]
  local out=$1 rep=$2; shift 2
  bash "$A/statement.sh" --digest "$D1" --finished "$FIN" "$@" "$A/$rep" > "$out"
}
stmt "$T/clean.st" trivy-clean.json
stmt "$T/crit.st" trivy-findings.json
stmt "$T/grype.st" grype-findings.json --scanner pkg:github/anchore/grype@v0.84.0 --scanner-version 0.84.0
stmt "$T/old.st" trivy-clean.json --finished 2026-11-18T12:00:00Z
stmt "$T/newer.st" trivy-clean.json --finished 2026-11-28T10:00:00Z
stmt "$T/secret.st" trivy-secret.json
stmt "$T/slsa.st" trivy-clean.json --predicate-type https://slsa.dev/provenance/v1

bash "$A/sign.sh" "$T/p256.key" "$T/clean.st" > "$T/clean.json"
bash "$A/sign.sh" "$T/p384.key" "$T/crit.st" > "$T/crit.json"
bash "$A/sign.sh" --pss "$T/rsa2048.key" "$T/grype.st" > "$T/grype.json"
bash "$A/sign.sh" "$T/rsa2048.key" "$T/old.st" > "$T/old.json"
bash "$A/sign.sh" "$T/p256.key" "$T/newer.st" > "$T/newer.json"
bash "$A/sign.sh" "$T/p256.key" "$T/secret.st" > "$T/secret.json"
bash "$A/sign.sh" "$T/rogue.key" "$T/clean.st" > "$T/rogue.json"
bash "$A/sign.sh" "$T/p256.key" "$T/slsa.st" > "$T/slsa.json"
bash "$A/sign.sh" --bundle "$T/p384.key" "$T/clean.st" > "$T/bundle.json"
# as `cosign download attestation` prints: one envelope per line
cat "$T/crit.json" "$T/old.json" "$T/clean.json" > "$T/cosign.jsonl"
# the same, after a re-scan that found nothing (newest last, as a bundle)
bash "$A/sign.sh" --bundle "$T/p384.key" "$T/newer.st" > "$T/newer-bundle.json"
cat "$T/cosign.jsonl" "$T/newer-bundle.json" > "$T/rescanned.jsonl"

# PSS with openssl's default (maximum) salt length, signed by hand over the PAE
pt=application/vnd.in-toto+json
{ printf 'DSSEv1 %d %s %d ' ${#pt} $pt "$(wc -c < "$T/clean.st")"; cat "$T/clean.st"; } > "$T/pae"
openssl dgst -sha256 -sign "$T/rsa2048.key" -sigopt rsa_padding_mode:pss -out "$T/pss.sig" "$T/pae"
printf '{"payloadType":"%s","payload":"%s","signatures":[{"keyid":"","sig":"%s"}]}\n' \
  $pt "$(openssl base64 -A -in "$T/clean.st")" "$(openssl base64 -A -in "$T/pss.sig")" > "$T/pssmax.json"

K=(--key "$T/keys/*.pub" --now $NOW)
echo "== passing"
expect 0 "verdict: PASS" -- "${K[@]}" "$IMG1" "$T/clean.json"
expect 0 "verified with $T/keys/p384.pub" -- "${K[@]}" "$IMG1" "$T/bundle.json"
expect 0 "(sigstore-bundle)" -- "${K[@]}" "$IMG1" "$T/bundle.json"
expect 0 "verified with $T/keys/rsa2048.pub" -- "${K[@]}" "$IMG1" "$T/pssmax.json"
expect 0 "attestation at line 4 (sigstore-bundle)" -- "${K[@]}" "$IMG1" "$T/rescanned.jsonl"
expect 0 "PASS (the newest verified scan: it decides)" -- "${K[@]}" "$IMG1" "$T/rescanned.jsonl"
expect 0 "FAIL: scan is 10d old (max 7d) (superseded: a newer verified scan decides)" -- \
  "${K[@]}" "$IMG1" "$T/rescanned.jsonl"
expect 0 "verdict: PASS" -- "${K[@]}" "$IMG1" "$T/old.json" "$T/newer.json"
expect 0 "findings:   CRITICAL 1, HIGH 2, MEDIUM 1, LOW 2, UNKNOWN 1" -- \
  "${K[@]}" --max-severity CRITICAL=1 "$IMG1" "$T/grype.json"
expect 0 "scanner:    pkg:github/anchore/grype@v0.84.0 0.84.0" -- \
  "${K[@]}" --max-severity critical=-1 "$IMG1" "$T/grype.json"
expect 0 "verdict: PASS" -- "${K[@]}" --max-age 10d "$IMG1" "$T/old.json"
expect 0 "registry.example/app:1.0@sha256:$D1" -- "${K[@]}" "registry.example/app:1.0@sha256:$D1" "$T/clean.json"

echo "== failing"
expect 1 "3 CRITICAL findings (max 0)" -- "${K[@]}" "$IMG1" "$T/crit.json"
expect 1 "2 HIGH findings (max 1)" -- "${K[@]}" --max-severity CRITICAL=5,HIGH=1 "$IMG1" "$T/crit.json"
expect 1 "1 CRITICAL finding (max 0)" -- "${K[@]}" "$IMG1" "$T/grype.json"
expect 1 "scan is 10d old (max 7d)" -- "${K[@]}" "$IMG1" "$T/old.json"
expect 1 "scan is 1d2h old (max 1d)" -- "${K[@]}" --max-age 24h "$IMG1" "$T/clean.json"
expect 1 "in the future (max skew 5m)" -- "${K[@]}" --now 2026-11-27T09:00:00Z "$IMG1" "$T/clean.json"
expect 1 "signature does not verify with any trusted key" -- "${K[@]}" "$IMG1" "$T/rogue.json"
expect 1 "is not a vulnerability scan" -- "${K[@]}" "$IMG1" "$T/slsa.json"
expect 1 "no attestation for sha256:$D2" -- "${K[@]}" "registry.example/app@sha256:$D2" "$T/clean.json"
expect 1 "does not apply (no subject is this image)" -- "${K[@]}" "registry.example/app@sha256:$D2" "$T/clean.json"
expect 1 "is referenced by tag; pin the digest" -- "${K[@]}" registry.example/app:1.0 "$T/clean.json"
# the newest scans (lines 1 and 3 finished the same second) decide; the older clean one does not
expect 1 "cosign.jsonl:1: 3 CRITICAL findings (max 0) (the newest verified scan decides; 1 older scan does not count)" -- \
  "${K[@]}" "$IMG1" "$T/cosign.jsonl"
expect 1 "cosign.jsonl:1: scan is 1d2h old (max 1d), 3 CRITICAL findings (max 0); $T/cosign.jsonl:3: scan is 1d2h old (max 1d) (the newest verified scan decides; 1 older scan does not count)" -- \
  "${K[@]}" --max-age 1d "$IMG1" "$T/cosign.jsonl"
expect 1 "1 CRITICAL finding (max 0)" -- "${K[@]}" "$IMG1" "$T/secret.json"
expect 1 "FAIL: 3 CRITICAL findings (max 0) (the newest verified scan: it decides)" -- \
  "${K[@]}" "$IMG1" "$T/old.json" "$T/crit.json"

echo "== keyid"
expect 0 "verdict: PASS" -- --keyid scanner-1 --key "$T/p256.pub" --now $NOW "$IMG1" \
  <(bash "$A/sign.sh" --keyid scanner-1 "$T/p256.key" "$T/clean.st")
expect 1 "no key has keyid scanner-2" -- --keyid scanner-1 --key "$T/p256.pub" --now $NOW "$IMG1" \
  <(bash "$A/sign.sh" --keyid scanner-2 "$T/p256.key" "$T/clean.st")

echo "== tampering and malformed input"
# payload: flip CRITICAL -> LOW and keep the signature
jq -c --arg p "$(jq -r .payload "$T/crit.json" | openssl base64 -d -A | sed 's/"CRITICAL"/"LOW"/g' | openssl base64 -A)" \
  '.payload = $p' "$T/crit.json" > "$T/forged.json"
expect 1 "NOT VERIFIED: signature does not verify" -- "${K[@]}" "$IMG1" "$T/forged.json"
# signature: change one byte
jq -c '.signatures[0].sig |= (.[0:20] + (if .[20:21] == "A" then "B" else "A" end) + .[21:])' \
  "$T/clean.json" > "$T/badsig.json"
expect 1 "signature does not verify" -- "${K[@]}" "$IMG1" "$T/badsig.json"
jq -c '.signatures[0].sig = "MEQCIAAA"' "$T/clean.json" > "$T/badder.json"
expect 1 "DER" -- "${K[@]}" "$IMG1" "$T/badder.json"
jq -c '.payload = "***"' "$T/clean.json" > "$T/badb64.json"
expect 1 "payload is not valid base64" -- "${K[@]}" "$IMG1" "$T/badb64.json"
printf '{"payloadType": "application/vnd.in-toto+json", "payload": ' > "$T/trunc.json"
expect 1 "malformed JSON at line 1 column" -- "${K[@]}" "$IMG1" "$T/trunc.json"
truncate -s $((64 * 1024 * 1024 + 1)) "$T/huge.json" # sparse: never read
expect 1 "over the 67108864 byte limit" -- "${K[@]}" "$IMG1" "$T/huge.json"

echo "== a directory: bad files do not stop good ones"
mkdir "$T/dir"
cp "$T/trunc.json" "$T/dir/a-trunc.json"
cp "$T/huge.json" "$T/dir/b-huge.json"
cp "$T/rogue.json" "$T/dir/c-rogue.json"
cp "$T/cosign.jsonl" "$T/dir/d-cosign.jsonl"
echo garbage > "$T/dir/.hidden"
cp "$T/newer.json" "$T/dir/e-newer.json"
expect 0 "verdict: PASS" -- "${K[@]}" "$IMG1" "$T/dir"
expect 0 "attestation at line 3 (dsse-jsonl)" -- "${K[@]}" "$IMG1" "$T/dir"

echo "== usage"
expect 2 "at least one --key is required" -- --now $NOW "$IMG1" "$T/clean.json"
expect 2 "--max-age: invalid value" -- "${K[@]}" --max-age 7 "$IMG1" "$T/clean.json"
expect 2 "--max-severity: invalid value" -- "${K[@]}" --max-severity SEVERE=1 "$IMG1" "$T/clean.json"
expect 2 "--now: invalid value" -- "${K[@]}" --now yesterday "$IMG1" "$T/clean.json"
expect 2 "no such key file" -- --key "$T/nope-*.pub" "$IMG1" "$T/clean.json"
expect 2 "is a private key" -- --key "$T/p256.key" "$IMG1" "$T/clean.json"
expect 2 "RSA key of 1024 bits" -- --key <(bash "$A/keygen.sh" rsa1024 "$T/small" && cat "$T/small.pub") "$IMG1" "$T/clean.json"
expect 2 "No such file or directory" -- "${K[@]}" "$IMG1" "$T/missing.json"
expect 2 "need IMAGE@sha256:DIGEST and at least one FILE" -- "${K[@]}" "$IMG1"
expect 2 "unknown flag --bogus" -- --bogus 1 "$IMG1" "$T/clean.json"
out=$("$KADMIT" attest verify --help)
for flag in --key --keyid --max-age "default 168h" --max-future-skew "default 5m" \
            --max-severity "default CRITICAL=0" --now; do
  grep -qF -- "$flag" <<<"$out" || { echo "FAIL: --help lacks $flag"; fails=$((fails + 1)); }
done

if [ "$fails" -ne 0 ]; then
  echo "$fails attest checks failed"
  exit 1
fi
echo "all attest checks passed"
