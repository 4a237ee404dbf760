#!/usr/bin/env bash
# Make a fresh signing key pair with openssl.
#   tests/attest/keygen.sh p256|p384|rsa2048|rsa3072|rsa1024|p521 PREFIX
# writes PREFIX.key (private, PKCS#8 PEM, mode 600) and PREFIX.pub (public, PEM "PUBLIC KEY").
# rsa1024 and p521 exist only so tests can check that kadmit rejects them.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 p256|p384|rsa2048|rsa3072|rsa1024|p521 PREFIX" >&2; exit 2; }
type=$1 prefix=$2
umask 077
case "$type" in
  p256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$prefix.key" ;;
  p384) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$prefix.key" ;;
  p521) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out "$prefix.key" ;;
  rsa1024|rsa2048|rsa3072)
    openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${type#rsa}" -out "$prefix.key" ;;
  *) echo "keygen.sh: unknown key type $type" >&2; exit 2 ;;
esac 2>/dev/null
openssl pkey -in "$prefix.key" -pubout -out "$prefix.pub"
chmod 644 "$prefix.pub"
