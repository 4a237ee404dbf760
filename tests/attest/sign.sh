#!/usr/bin/env bash
# Sign an in-toto statement into a DSSE envelope with openssl, the way cosign does:
# the signature covers the DSSE pre-authentication encoding
#   "DSSEv1" SP LEN(payloadType) SP payloadType SP LEN(payload) SP payload
# and payload and sig are standard base64.
#
#   tests/attest/sign.sh [flags] KEY.key STATEMENT.json > envelope.json
#     --keyid ID        put ID in signatures[0].keyid (default: "")
#     --pss             RSA keys: RSASSA-PSS (salt = digest length) instead of PKCS#1 v1.5
#     --bundle          wrap the envelope in a Sigstore bundle v0.3 (mediaType
#                       application/vnd.dev.sigstore.bundle.v0.3+json, dsseEnvelope)
#     --payload-type T  (default: application/vnd.in-toto+json)
# The hash follows the key: SHA-384 for P-384 keys, SHA-256 otherwise. The envelope is printed
# as one line, so several outputs appended to one file make a JSON Lines file like
# `cosign download attestation IMAGE` prints.
set -euo pipefail
keyid="" pss=0 bundle=0 ptype=application/vnd.in-toto+json
while [ $# -gt 2 ]; do
  case "$1" in
    --keyid) keyid=$2; shift 2 ;;
    --pss) pss=1; shift ;;
    --bundle) bundle=1; shift ;;
    --payload-type) ptype=$2; shift 2 ;;
    *) echo "sign.sh: unknown flag $1" >&2; exit 2 ;;
  esac
done
[ $# -eq 2 ] || { echo "usage: $0 [--keyid ID] [--pss] [--bundle] KEY.key STATEMENT.json" >&2; exit 2; }
key=$1 statement=$2
case "$keyid" in *[!A-Za-z0-9._:@/+=-]*) echo "sign.sh: keyid has unsupported characters" >&2; exit 2 ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
keytext=$(openssl pkey -in "$key" -noout -text 2>/dev/null | head -n 40)
md=sha256
case "$keytext" in *"NIST CURVE: P-384"*|*secp384r1*) md=sha384 ;; esac
opts=()
if [ "$pss" = 1 ]; then
  opts=(-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -sigopt rsa_mgf1_md:sha256)
fi
len=$(wc -c < "$statement" | tr -d ' ')
{ printf 'DSSEv1 %d %s %d ' "${#ptype}" "$ptype" "$len"; cat "$statement"; } > "$tmp/pae"
openssl dgst "-$md" -sign "$key" "${opts[@]}" -out "$tmp/sig" "$tmp/pae"
payload=$(openssl base64 -A -in "$statement")
sig=$(openssl base64 -A -in "$tmp/sig")
envelope=$(printf '{"payloadType":"%s","payload":"%s","signatures":[{"keyid":"%s","sig":"%s"}]}' \
  "$ptype" "$payload" "$keyid" "$sig")
if [ "$bundle" = 1 ]; then
  pub=$(openssl pkey -in "$key" -pubout -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1)
  printf '{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"%s"},"tlogEntries":[]},"dsseEnvelope":%s}\n' \
    "$pub" "$envelope"
else
  printf '%s\n' "$envelope"
fi
