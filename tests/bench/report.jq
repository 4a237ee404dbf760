# tests/bench/report.jq: turns tests/bench/out/input.json (written by tests/bench/run) into the
# Markdown report. tests/bench/summary.jq holds the numbers; this file only formats them.
include "summary";

def r1: if . == null then "n/a" else (. * 10 | round / 10 | tostring) end;
def r2: if . == null then "n/a" else (. * 100 | round / 100 | tostring) end;
def r0: if . == null then "n/a" else (round | tostring) end;
def mib: if . == null then "n/a" else (. / 1024 * 10 | round / 10 | tostring) end;
def us_ms: if . == null then "n/a" else (. / 1000 * 10 | round / 10 | tostring) end;
def row(cells): "| " + (cells | map(tostring) | join(" | ")) + " |";

. as $in
| summary as $s
| [
  "# kadmit benchmark results",
  "",
  "Written by `tests/bench/run`. Speed is measured, never asserted: every number below comes from this one invocation, and every ratio compares runs interleaved in it (server A, B, C, A, B, C, ...; median of the per-round ratios).",
  "",
  "- date: \($in.date), commit: \($in.commit)",
  "- machine: \($in.machine.nproc) CPUs, \($in.machine.cpu), Linux \($in.machine.kernel); load average \($in.machine.loadavg_at_start) at the start, \($in.machine.loadavg_at_end) at the end (shared machine: other developers compile, fuzz and test on it, so wall-clock numbers carry their load)",
  "- \($in.pinning)",
  "- load: wrk \($in.versions.wrk), \($in.wrk_seconds) s per run, \($in.rounds) rounds; body `\($in.body)` (\($in.body_bytes) bytes, \(if $in.body == "pod-agent.json" then "a 2-container agent Pod AdmissionReview as the API server sends it" else "bench_core --emit's AdmissionReview of that name (BENCH_REVIEW)" end)) to `/validate` (OPA: `POST /`)",
  "- versions: mbedTLS \($in.versions.mbedtls), nginx \($in.versions.nginx), OPA \($in.versions.opa); suite took \($in.suite_seconds) s",
  "",
  "## Goals (recorded, not asserted)",
  "",
  row(["goal", "target", "measured", "met"]),
  row(["---", "---", "---", "---"]),
  ($s.goals[] | row([.goal, .target, .measured, .met])),
  "",
  "## Throughput and latency (wrk, medians over rounds)",
  "",
  "Modes: `ka1` one keep-alive connection; `ka16` 16 keep-alive connections; `new16` 16 connections with `Connection: close`, i.e. a new TCP (and TLS) connection for every request. Servers: `kadmit` = `kadmit serve` with the embedded checklist; `kadmit-4r` = `kadmit serve` with the four rules the OPA peer implements; `fixed` = `bench_fixed_server` (kadmit's server code answering a fixed AdmissionReview, no policy work) over TLS; `fixed-plain` = the same over plain HTTP (libmicrohttpd's own listener, no TLS, no relay); `nginx`/`nginx-plain` = nginx, 1 worker, the same fixed answer over TLS 1.2 with the same ECDSA P-256 certificate / plain HTTP; `opa` = OPA with `tests/bench/peer/kadmit.rego`.",
  "",
  ($s.wrk | group_by(.mode)[] |
    "### \(.[0].mode)", "",
    row(["server", "req/s", "p50 µs", "p99 µs", "server CPU µs/req", "req per CPU-s", "core busy", "RSS under load MiB", "errors", "rounds"]),
    row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
    (.[] | row([.server, (.rps | r0), (.p50_us | r0), (.p99_us | r0), (.cpu_us_per_req | r1),
      (if (.cpu_us_per_req // 0) > 0 then 1e6 / .cpu_us_per_req | r0 else "n/a" end),
      ((.server_util // 0) * 100 | r0) + " %", (.rss_kib | mib), .errors, .rounds])),
    ""),
  "## Ratios (median of per-round ratios)",
  "",
  "Two views of the same runs. *Per server CPU-second* divides the denominator's server CPU time per request by the numerator's (CPU time from /proc/PID/stat, all threads): it does not depend on how much of the core the neighbours took, so it is the steadier number on a shared machine. *Wall-clock req/s* is what wrk saw.",
  "",
  row(["ratio", "CPU ka1", "CPU ka16", "CPU new16", "req/s ka1", "req/s ka16", "req/s new16"]),
  row(["---", "---:", "---:", "---:", "---:", "---:", "---:"]),
  ($s.ratios[] | row([.name, (.cpu_ka1 | r2), (.cpu_ka16 | r2), (.cpu_new16 | r2), (.ka1 | r2), (.ka16 | r2), (.new16 | r2)])),
  "",
  (if $s.gap != null then
    "## Where the gap to nginx goes (ka16, median server CPU time per request)",
    "",
    row(["part", "µs per request", "share of the gap"]),
    row(["---", "---:", "---:"]),
    ($s.gap.parts[] | row([.part, (.us | r1), ((.share * 100) | r0) + " %"])),
    row(["total: kadmit − nginx", ($s.gap.total_us | r1), "100 %"]),
    "",
    "The TLS part is kadmit's TLS termination and relay (mbedTLS + socketpair hop to libmicrohttpd) minus nginx's TLS cost (OpenSSL); the HTTP part is libmicrohttpd vs nginx on plain HTTP; policy work is kadmit minus its fixed-response floor.",
    ""
  else empty end),
  "## Fixed rate: \($in.rate) requests/s on one keep-alive TLS 1.2 connection (bench_rate, open loop; medians over \($in.rounds) interleaved rounds, max over all)",
  "",
  "Latency is measured from when each request was due, so queueing behind a slow answer counts (no coordinated omission).",
  "",
  row(["server", "achieved req/s", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs", "service p50 µs", "service p99 µs", "handler p99 µs", "non-200"]),
  row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
  ($s.rate[] | row([.server, (.rps | r0), (.p50_us | r0), (.p90_us | r0), (.p99_us | r0), (.p999_us | r0), (.max_us | r0), (.service_p50_us | r0), (.service_p99_us | r0), (if .handler_p99_le_us != null then "≤ \(.handler_p99_le_us)" else "" end), .non200])),
  "",
  "*Service* time runs from the actual send to the end of the answer (without the wait behind earlier answers); *handler* is kadmit's own `kadmit_admission_duration_seconds` histogram over this run (the bucket bound holding 99 %): the admission core inside the server, without TLS and HTTP.",
  "",
  "## Footprint",
  "",
  row(["server", "idle RSS MiB", "peak RSS (VmHWM) MiB", "start-up to ready ms"]),
  row(["---", "---:", "---:", "---:"]),
  ($s.footprint[] | row([.server, (.idle_kib | mib), (.hwm_kib | mib), (.startup_us | us_ms)])),
  "",
  (if ($s.reload | length) > 0 then
    "Policy reload (kadmit `--policies FILE`, time from the change until `kadmit_policy_reloads_total` moves on /metrics, polled every 2 ms; median of 3): " + ($s.reload | map("\(.how) \(.median_us | us_ms) ms") | join(", ")) + ".", ""
  else empty end),
  (if $s.handler != null then
    "kadmit's own `kadmit_admission_duration_seconds` histogram during the load runs: mean \($s.handler.mean_us) µs per admission over \($s.handler.requests) requests (in-server core time; compare with bench_core below).", ""
  else empty end),
  "## Core: `ka_admission_review()` alone (bench_core, thread CPU time, median of \($in.core.runs) runs)",
  "",
  row(["case", "bytes", "endpoint", "median µs (checklist)", "median µs (four rules)", "allocs", "alloc KiB"]),
  row(["---", "---:", "---", "---:", "---:", "---:", "---:"]),
  ($s.core[] | row([.case, .bytes, .endpoint, (.median_us | r1), (.four_rules_us | r1), (.allocs | r0), (.alloc_kib | r1)])),
  "",
  "## Request-path JSON parsing alone (same bodies)",
  "",
  "Parse only (and free). `cJSON_Parse+Delete`: cJSON on malloc; `kadmit arena`: the hot path's per-thread arena (`ka_json_arena_begin`, parse, `ka_json_arena_end`); `bump arena`: one preallocated arena reset per request (the lower bound for cJSON); `jsmn 2-pass`: JSMN_PARENT_LINKS + JSMN_STRICT, a counting pass then a malloc'd token array; `jsmn 1-pass`: the same with a reused per-thread token array. jsmn only finds token boundaries: no unescaping, no numbers, every key lookup a linear scan.",
  "",
  row(["case", "bytes", "cJSON_Parse+Delete µs", "kadmit arena µs", "bump arena µs", "jsmn 2-pass µs", "jsmn 1-pass µs", "cJSON mallocs"]),
  row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
  ($s.parsers[] | row([.case, .bytes, (.cjson_parse_delete | r1), (.kadmit_arena | r1), (.bump_arena | r1), (.jsmn_two_pass | r1), (.jsmn_one_pass | r1), (.cjson_allocs | r0)])),
  "",
  (if ($s.crypto | length) > 0 then
    "## TLS primitives in the installed mbedTLS (bench_tls_crypto, thread CPU time, median of 11 runs)",
    "",
    row(["operation", "µs", "note"]),
    row(["---", "---:", "---"]),
    ($s.crypto[] | row([.op + (if (.op | test("record")) then " (\(.bytes) bytes)" else "" end), (.median_us | r1), .note])),
    ""
  else empty end),
  "## Verdict parity and TLS",
  "",
  (if $s.parity != null then
    "kadmit (`tests/bench/peer/four-rules.yaml`) and OPA (`tests/bench/peer/kadmit.rego`) gave the same verdict (allowed + rule/container of every finding) on \($s.parity.checked - $s.parity.differ) of \($s.parity.checked) AdmissionReviews (offline via `kadmit review`/`opa eval`, and live over TLS when the server is present)."
  else "OPA not run: no verdict parity check." end),
  "",
  ("Negotiated with wrk's OpenSSL client: " + ($s.tls | map("\(.server) \(.negotiated)") | join("; ")) + ".")
] | .[]
