#!/usr/bin/env bash
# Hostile clients against the real server on loopback (tests/integration/hostile.py): broken
# and garbage TLS, plaintext HTTP, idle connections, slowloris, bodies over the limit, absurd
# JSON, invalid UTF-8, wrong types, not-a-review bodies, and the denial-of-service cases of
# webhook/SECURITY.md: connection flood, body flood, selector bomb, metrics-port flood, series
# flood. The server runs with its default limits (--max-connections is not raised). A probe sends
# a good review every 50 ms meanwhile; every probe must succeed. Each flood prints a "figure"
# line: RSS, and how long /validate and /readyz took under attack (printed, never asserted);
# the checks are on outcomes (answered, RSS under the Deployment's 256 MiB limit).
#   KADMIT_HOSTILE_IDLE=N   idle TLS connections (default 400)
#   KADMIT_HOSTILE_FLOOD=N  plain connects in conn-flood (default 4000)
#   KADMIT_HOSTILE_ONLY=a,b run only these cases (tls,plaintext,limits,json,types,slow,idle,
#                           conn-flood,body-flood,selector-bomb,metrics-flood,series-flood)
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/integration/lib/harness.sh
use_tmp 'stop_server KILL'

idle=${KADMIT_HOSTILE_IDLE:-400}
flood=${KADMIT_HOSTILE_FLOOD:-4000}
max_rss=1024
limit=256 # deploy/base/deployment.yaml: resources.limits.memory
if ldd "$KADMIT" 2>/dev/null | grep -q libasan; then
    max_rss=4096 # ASan's shadow memory and quarantine
    limit=4096
fi
# room for the idle connections: the server holds 3 descriptors per TLS connection (socket and
# both ends of the socketpair to libmicrohttpd), the client 1
ulimit -n $((flood + idle * 4 + 8192)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

make_certs "$tmp/certs" || { echo "kadmit certs failed"; exit 1; }
test_policy "$tmp/policy.yaml"
start_server "$tmp/serve.log" --tls-cert "$tmp/certs/tls.crt" --tls-key "$tmp/certs/tls.key" \
    --policies "$tmp/policy.yaml" || exit 1

python3 tests/integration/hostile.py --port "$srv_port" --metrics-port "$srv_mport" \
    --ca "$tmp/certs/ca.crt" --pid "$srv_pid" --idle "$idle" --max-rss-mb "$max_rss" \
    --flood "$flood" --limit-mb "$limit" \
    --only "${KADMIT_HOSTILE_ONLY:-}" | tee "$tmp/hostile.out"
read -r hp _ hf _ < <(tail -1 "$tmp/hostile.out")
passed=$((passed + ${hp:-0}))
failed=$((failed + ${hf:-1}))

check "/healthz still answers after the attacks" \
    test "$(curl -s --max-time 10 "http://127.0.0.1:$srv_mport/healthz")" = ok
stop_server TERM
check "server exits 0 on SIGTERM after the attacks (exit $srv_rc)" test "$srv_rc" -eq 0
check "no sanitizer report or crash in the server log" clean_log "$tmp/serve.log"
finish
