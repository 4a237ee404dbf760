#!/usr/bin/env bash
# Instructions per admission request, by stage, from valgrind's callgrind: stable on a shared
# machine where wall-clock and CPU-time figures move with the neighbours' load.
#
#   tests/bench/instructions.sh [BUILD_DIR (default build)] [CASE (default pod-agent)]
#
# Core: `bench_core --count N` runs N reviews of CASE on /validate under callgrind, twice (N1 and
# N2); every figure is the difference divided by N2 - N1, so start-up and policy load cancel.
# Server: `kadmit serve --threads 1` and `bench_fixed_server` (the same server answering a fixed
# AdmissionReview: the floor) under callgrind, N1 and then N2 keep-alive POSTs of CASE over TLS
# (curl on one keep-alive connection; CONNS="1 16" adds 16 connections, where a handshake that
# does not cancel between the two runs can skew the figure), the same difference. Counts user-space
# instructions only (the kernel's share of a request is not in them). Prints Markdown tables.
# Needs valgrind (callgrind_annotate), curl, openssl. Loopback only; about 3 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
CASE=${2:-pod-agent}
N1=${N1:-160}
N2=${N2:-640}
[ $((N1 % 16)) = 0 ] && [ $((N2 % 16)) = 0 ] && [ "$N2" -gt "$N1" ] || {
  echo "instructions.sh: N1 < N2, both multiples of 16" >&2
  exit 2
}
command -v valgrind >/dev/null || {
  echo "instructions.sh: needs valgrind (apt-get install valgrind)" >&2
  exit 2
}
for f in kadmit bench_core bench_fixed_server; do
  [ -x "$B/$f" ] || {
    echo "instructions.sh: $B/$f not built" >&2
    exit 2
  }
done
T=$(mktemp -d)
SPID=""
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$T"' EXIT
"$B/bench_core" --root . --emit "$T/reviews" >/dev/null
BODY=$T/reviews/$CASE.json
[ -f "$BODY" ] || {
  echo "instructions.sh: no case $CASE" >&2
  exit 2
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -keyout "$T/key.pem" -out "$T/cert.pem" -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Inclusive instructions of each function and self instructions of each shared object, as
# "name<TAB>count" lines, from one callgrind output file.
summarize() {
  callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$1" 2>/dev/null |
    awk '/^ *[0-9,]+ .*\[/ { n=$1; gsub(",","",n); sub(/^ *[0-9,]+ +(\([ 0-9.%]+\) +)?/,""); f=$0;
         sub(/ \[.*$/,"",f); sub(/^.*:/,"",f); sub(/\.(constprop|isra|part)\..*$/,"",f);
         print "fn\t" f "\t" n }'
  callgrind_annotate --auto=no --threshold=100 "$1" 2>/dev/null |
    awk '/^ *[0-9,]+ .*\[/ { n=$1; gsub(",","",n); o=$0; sub(/^.*\[/,"",o); sub(/\].*$/,"",o);
         sub(/^.*\//,"",o); sub(/\.so.*$/,"",o); s[o]+=n } END { for (o in s) print "obj\t" o "\t" s[o] }'
}

# Per-request difference of two summaries: "kind<TAB>name<TAB>per-request".
diff_per_request() { # small large count
  awk -F'\t' -v n="$3" 'FNR==NR { a[$1 "\t" $2]+=$3; next } { b[$1 "\t" $2]+=$3 }
    END { for (k in b) { v=(b[k]-a[k])/n; if (v > 50) printf "%s\t%.0f\n", k, v } }' "$1" "$2"
}

core_run() { # count out
  valgrind --tool=callgrind --callgrind-out-file="$2" "$B/bench_core" --root . --count "$1" \
    --case "$CASE" >/dev/null 2>&1
}

server_run() { # name count conns out binary [args]
  local name=$1 count=$2 conns=$3 out=$4 p m
  shift 4
  p=$(port)
  m=$(port)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$@" --listen "127.0.0.1:$p" \
    --metrics-listen "127.0.0.1:$m" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" \
    --threads 1 --log-level warn >"$T/$name.log" 2>&1 &
  SPID=$!
  for _ in $(seq 1 600); do
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$m/readyz" && break
    sleep 0.1
  done
  local per=$((count / conns)) urls=() i
  for i in $(seq 1 "$per"); do urls+=("https://127.0.0.1:$p/validate"); done
  for i in $(seq 1 "$conns"); do
    curl -s --cacert "$T/cert.pem" -H 'Content-Type: application/json' --data-binary "@$BODY" \
      "${urls[@]}" >/dev/null &
  done
  wait $(jobs -p | grep -v "^$SPID\$") 2>/dev/null || true
  kill -TERM "$SPID"
  wait "$SPID" || true
  SPID=""
}

core_run "$N1" "$T/core1.cg"
core_run "$N2" "$T/core2.cg"
summarize "$T/core1.cg" >"$T/core1.txt"
summarize "$T/core2.cg" >"$T/core2.txt"
diff_per_request "$T/core1.txt" "$T/core2.txt" $((N2 - N1)) >"$T/core.txt"
for conns in ${CONNS:-1}; do
  for srv in kadmit fixed; do
    if [ "$srv" = kadmit ]; then bin=("$B/kadmit" serve); else bin=("$B/bench_fixed_server"); fi
    server_run "$srv" "$N1" "$conns" "$T/$srv-$conns-1.cg" "${bin[@]}"
    server_run "$srv" "$N2" "$conns" "$T/$srv-$conns-2.cg" "${bin[@]}"
    summarize "$T/$srv-$conns-1.cg" >"$T/a.txt"
    summarize "$T/$srv-$conns-2.cg" >"$T/b.txt"
    diff_per_request "$T/a.txt" "$T/b.txt" $((N2 - N1)) >"$T/$srv-$conns.txt"
  done
done

fn() { awk -F'\t' -v f="$2" '$1=="fn" && $2==f { s+=$3 } END { printf "%.0f", s+0 }' "$1"; }
obj_total() { awk -F'\t' '$1=="obj" { s+=$3 } END { printf "%.0f", s+0 }' "$1"; }

echo "### Core: ka_admission_review() on $CASE, /validate (instructions per review)"
echo
echo "| stage | functions | instructions |"
echo "| --- | --- | ---: |"
C=$T/core.txt
total=$(fn "$C" ka_admission_review)
parse=$(($(fn "$C" cJSON_ParseWithLengthOpts) + $(fn "$C" ka_json_parse_request)))
rules=$(fn "$C" validate_object)
resp=$(fn "$C" write_response)
report=$(fn "$C" ka_rule_report_stale)
scan=$(fn "$C" json_scan)
envelope=$(($(fn "$C" check_envelope) + $(fn "$C" read_envelope)))
arena=$(($(fn "$C" ka_json_arena_end) + $(fn "$C" ka_json_arena_begin)))
glue=$((total - parse - rules - resp - scan - envelope - arena))
echo "| byte scan | json_scan (0: folded into the parse) | $scan |"
echo "| parse | ka_json_parse_request, or cJSON_ParseWithLengthOpts (arena allocation included) | $parse |"
echo "| envelope checks | check_envelope, read_envelope | $envelope |"
echo "| rules | validate_object (object view, every rule's run) | $((rules - report)) |"
echo "| findings | ka_rule_report_stale (exceptions, message formatting) | $report |"
echo "| response build | write_response | $resp |"
echo "| arena | ka_json_arena_begin/end | $arena |"
echo "| glue | the rest of ka_admission_review (field reads, copies) | $glue |"
echo "| **total** | ka_admission_review | **$total** |"
echo
for conns in ${CONNS:-1}; do
  K=$T/kadmit-$conns.txt
  F=$T/fixed-$conns.txt
  kt=$(obj_total "$K")
  ft=$(obj_total "$F")
  core=$(fn "$K" ka_admission_review)
  metrics=$(fn "$K" ka_metrics_observe_review)
  logging=$(($(fn "$K" log_admission) + $(fn "$K" ka_decision_log_write)))
  handler=$(fn "$K" serve_handler)
  echo "### Server: $conns keep-alive connection(s), $CASE on /validate over TLS (instructions per request, user space)"
  echo
  echo "| stage | kadmit | fixed floor |"
  echo "| --- | ---: | ---: |"
  fh=$(fn "$F" fixed_handler)
  echo "| admission core (ka_admission_review) | $core | 0 |"
  echo "| metrics (ka_metrics_observe_review) | $metrics | 0 |"
  echo "| logging (log_admission, decision log) | $logging | 0 |"
  echo "| handler glue (rest of serve_handler / fixed_handler) | $((handler - core - metrics - logging)) | $fh |"
  echo "| server: TLS relay, HTTP, response send (everything else) | $((kt - handler)) | $((ft - fh)) |"
  for o in libmbedcrypto libmicrohttpd; do
    echo "| of which $o (self) | $(awk -F'\t' -v o="$o" '$1=="obj" && $2==o { printf "%.0f", $3 }' "$K") | $(awk -F'\t' -v o="$o" '$1=="obj" && $2==o { printf "%.0f", $3 }' "$F") |"
  done
  echo "| **total** | **$kt** | **$ft** |"
  echo "| ratio fixed / kadmit | $(awk -v a="$ft" -v b="$kt" 'BEGIN { printf "%.2f", a / b }') | |"
  echo
done
