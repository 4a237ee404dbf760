#!/usr/bin/env bash
# Quick start: install the missing Debian packages, build kadmit, make a local CA and serving
# certificate (SAN 127.0.0.1, localhost), and serve the embedded production checklist on
# https://127.0.0.1:8443 (metrics and health on http://127.0.0.1:9090). Extra arguments go to
# `kadmit serve` (e.g. --policies policies/ --log-level debug). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKADMIT_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)"
build/kadmit certs --out-dir build/quickstart-certs --service kadmit --namespace kadmit-system \
  --ip 127.0.0.1 --dns localhost >&2
cat >&2 <<MSG

kadmit is starting. Try it from another terminal:
  curl --cacert build/quickstart-certs/ca.crt https://127.0.0.1:8443/readyz
  curl --cacert build/quickstart-certs/ca.crt -H 'Content-Type: application/json' \\
       --data @tests/fixtures/rules/resources-required/resources-missing-all/request.json https://127.0.0.1:8443/validate
  curl http://127.0.0.1:9090/metrics

MSG
exec build/kadmit serve --listen 127.0.0.1:8443 --metrics-listen 127.0.0.1:9090 \
  --tls-cert build/quickstart-certs/tls.crt --tls-key build/quickstart-certs/tls.key "$@"
