#!/usr/bin/env bash
# webhook/quickstart.sh with the built binary (KADMIT): the curl lines it prints name the ports
# kadmit really listens on, given ports or port 0, and each of them works as printed.
set -u
cd "${KADMIT_SOURCE_DIR:-$(dirname "$0")/../..}"
. tests/integration/lib/harness.sh
qs_pid=
use_tmp '[ -n "$qs_pid" ] && kill -TERM "$qs_pid" 2>/dev/null; wait 2>/dev/null'

# quickstart ARGS...: start it, wait for its curl lines; $qs_pid, the lines in $tmp/curl
quickstart() {
  : >"$tmp/qs.err"
  KADMIT=$KADMIT KADMIT_QUICKSTART_CERTS=$tmp/certs webhook/quickstart.sh "$@" 2>"$tmp/qs.err" &
  qs_pid=$!
  for _ in $(seq 1 100); do
    grep -q 'metrics$' "$tmp/qs.err" && break
    sleep 0.1
  done
  # one command a line (the printed ones continue with a backslash)
  sed -e :a -e '/\\$/N; s/\\\n//; ta' "$tmp/qs.err" | grep '^  curl' >"$tmp/curl"
}
# every printed curl line, run as printed, answers 200
curl_lines_work() {
  local n=0 line code
  while IFS= read -r line; do
    code=$(eval "${line/curl/curl -sS -o /dev/null -w '%{http_code}'}") || return 1
    [ "$code" = 200 ] || { echo "     $line: HTTP $code"; return 1; }
    n=$((n + 1))
  done <"$tmp/curl"
  [ "$n" -eq 3 ]
}
stop_quickstart() {
  kill -TERM "$qs_pid"
  local rc=0
  wait "$qs_pid" || rc=$?
  qs_pid=
  return "$rc"
}

p=$(free_port)
m=$(free_port)
quickstart --listen "127.0.0.1:$p" --metrics-listen "127.0.0.1:$m"
check_eq "given ports: the curl lines name them" "3 3 0" \
  "$(grep -c "127.0.0.1:\($p\|$m\)/" "$tmp/curl") $(wc -l <"$tmp/curl") $(grep -c ':8443\|:9090' "$tmp/curl")"
check "given ports: every curl line works as printed" curl_lines_work
check "Ctrl-C (SIGTERM) stops kadmit cleanly" stop_quickstart

quickstart --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0
check "port 0: the curl lines name the ports kadmit chose" \
  bash -c "! grep -q ':0/\|:8443\|:9090' $tmp/curl && [ \$(wc -l <$tmp/curl) -eq 3 ]"
check "port 0: every curl line works as printed" curl_lines_work
check "port 0: stops cleanly" stop_quickstart

check "a bad flag: quickstart exits 2 (kadmit's status)" \
  bash -c "KADMIT=$KADMIT KADMIT_QUICKSTART_CERTS=$tmp/certs webhook/quickstart.sh --listen nowhere 2>/dev/null; [ \$? -eq 2 ]"
finish
