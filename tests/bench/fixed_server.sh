#!/usr/bin/env bash
# Measure kadmit's server code with no policy work: bench_fixed_server (the real server module
# answering a fixed AdmissionReview) over plain HTTP (libmicrohttpd's own listener) and over the
# mbedTLS relay, 1 and 16 keep-alive connections, 8 KB POST bodies. Prints req/s and server CPU
# microseconds per request (utime+stime of the server process / requests). Loopback only.
# Usage: tests/bench/fixed_server.sh [BUILD_DIR (default build-rel)] [SECONDS (default 10)]
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build-rel}
DUR=${2:-10}
command -v wrk >/dev/null || tests/deps.sh bench
if [ ! -x "$B/bench_fixed_server" ]; then
  cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$B" -j2 --target bench_fixed_server >/dev/null
fi
T=$(mktemp -d)
SPID=""
trap '[ -n "$SPID" ] && kill $SPID 2>/dev/null; rm -rf "$T"' EXIT
openssl ecparam -name prime256v1 -genkey -noout -out "$T/ca.key"
openssl req -x509 -new -key "$T/ca.key" -subj /CN=bench-ca -days 1 -out "$T/ca.crt" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$T/s.key"
openssl req -new -key "$T/s.key" -subj /CN=localhost -out "$T/s.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$T/ext"
openssl x509 -req -in "$T/s.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial -days 1 \
  -extfile "$T/ext" -out "$T/s.crt" 2>/dev/null
python3 - "$T/post.lua" <<'PY'
import sys
body = '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","pad":"' + "x" * 8000 + '"}}'
open(sys.argv[1], "w").write('wrk.method = "POST"\nwrk.body = \'%s\'\nwrk.headers["Content-Type"] = "application/json"\n' % body)
PY
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

printf '%-12s %-6s %12s %14s %12s\n' mode conns "req/s" "server_us/req" "p99_latency"
for mode in plain tls; do
  for conns in 1 16; do
    P=$(port)
    MP=$(port)
    extra=()
    [ "$mode" = plain ] && extra=(--bench-plain)
    "$B/bench_fixed_server" "${extra[@]}" --listen "127.0.0.1:$P" --metrics-listen "127.0.0.1:$MP" \
      --tls-cert "$T/s.crt" --tls-key "$T/s.key" --log-level warn &
    SPID=$!
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$MP/healthz" && break; sleep 0.1; done
    scheme=http
    [ "$mode" = tls ] && scheme=https
    wrk -t1 -c"$conns" -d2s -s "$T/post.lua" "$scheme://127.0.0.1:$P/validate" >/dev/null
    t0=$(cpu_ticks $SPID)
    out=$(wrk -t1 -c"$conns" -d"${DUR}s" --latency -s "$T/post.lua" "$scheme://127.0.0.1:$P/validate")
    t1=$(cpu_ticks $SPID)
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errs=$(grep -E "Non-2xx|Socket errors" <<<"$out" || true)
    us=$(python3 -c "print('%.1f' % (($t1 - $t0) / $HZ * 1e6 / max(1, $reqs)))")
    printf '%-12s %-6s %12s %14s %12s %s\n' "$mode" "$conns" "$rps" "$us" "$p99" "$errs"
    kill $SPID
    wait $SPID || true
    SPID=""
  done
done

# Full handshakes: new connection per request (openssl s_time -new), server CPU per handshake.
P=$(port)
MP=$(port)
"$B/bench_fixed_server" --listen "127.0.0.1:$P" --metrics-listen "127.0.0.1:$MP" \
  --tls-cert "$T/s.crt" --tls-key "$T/s.key" --log-level warn &
SPID=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$MP/healthz" && break; sleep 0.1; done
t0=$(cpu_ticks $SPID)
out=$(openssl s_time -connect "127.0.0.1:$P" -new -time "$DUR" 2>/dev/null || true)
t1=$(cpu_ticks $SPID)
conns=$(awk '/connections in/ && /real seconds/ {print $1; exit}' <<<"$out")
conns=${conns:-0}
us=$(python3 -c "print('%.0f' % (($t1 - $t0) / $HZ * 1e6 / max(1, $conns)))")
printf '%-12s %-6s %12s %14s\n' handshake new "$(python3 -c "print('%.0f' % ($conns / $DUR))")/s" "$us"
kill $SPID
wait $SPID || true
SPID=""
