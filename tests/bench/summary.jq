# tests/bench/summary.jq: the numbers of a benchmark run, from tests/bench/out/input.json.
# Used as a jq module: `jq -L tests/bench 'include "summary"; summary'`.

def median: map(select(. != null)) | sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;

def wrk_rows: .raw | map(select(.type == "wrk"));

# Median req/s etc. per server and mode.
def wrk_summary:
  wrk_rows | group_by([.mode, .server]) | map({
    mode: .[0].mode, server: .[0].server, rounds: length,
    rps: (map(.rps) | median), p50_us: (map(.p50_us) | median), p99_us: (map(.p99_us) | median),
    rss_kib: (map(.rss_kib) | max),
    cpu_us_per_req: (map(.cpu_us_per_req) | median), server_util: (map(.server_util) | median),
    errors: (map(.err_connect + .err_read + .err_write + .err_status + .err_timeout) | add)
  });

# Median over rounds of num/den, each round's two runs taken back to back. $what: "rps" compares
# requests/s; "cpu" compares requests per server CPU-second (den's CPU per request / num's).
def ratio($rows; $num; $den; $mode; $what):
  [ $rows[] | select(.mode == $mode and .server == $num) ] as $a
  | [ $rows[] | select(.mode == $mode and .server == $den) ] as $b
  | [ $a[] as $x | $b[] | select(.round == $x.round)
      | if $what == "rps" then (if .rps > 0 then $x.rps / .rps else null end)
        elif ($x.cpu_us_per_req // 0) > 0 and (.cpu_us_per_req // 0) > 0
        then .cpu_us_per_req / $x.cpu_us_per_req else null end ] | median;

def cpu_of($w; $server; $mode): ($w | map(select(.server == $server and .mode == $mode)) | .[0].cpu_us_per_req);

def fmt2: if . == null then "n/a" else (. * 100 | round / 100 | tostring) end;

def both: "per server CPU-second: ka16 \(.cpu_ka16 | fmt2), ka1 \(.cpu_ka1 | fmt2), new16 \(.cpu_new16 | fmt2); wall-clock req/s: ka16 \(.ka16 | fmt2), ka1 \(.ka1 | fmt2), new16 \(.new16 | fmt2)";

def summary:
  . as $in
  | wrk_rows as $rows
  | wrk_summary as $w
  | ([["kadmit / fixed floor (TLS)", "kadmit", "fixed"],
      ["kadmit / nginx (TLS)", "kadmit", "nginx"],
      ["kadmit (4 rules) / OPA (4 rules)", "kadmit-4r", "opa"],
      ["kadmit (checklist) / kadmit (4 rules)", "kadmit", "kadmit-4r"],
      ["fixed floor / nginx (TLS)", "fixed", "nginx"],
      ["fixed-plain / nginx-plain (HTTP only)", "fixed-plain", "nginx-plain"],
      ["fixed TLS / fixed plain", "fixed", "fixed-plain"],
      ["nginx TLS / nginx plain", "nginx", "nginx-plain"]]
     | map(. as [$name, $n, $d] | {name: $name, num: $n, den: $d,
         ka1: ratio($rows; $n; $d; "ka1"; "rps"), ka16: ratio($rows; $n; $d; "ka16"; "rps"),
         new16: ratio($rows; $n; $d; "new16"; "rps"),
         cpu_ka1: ratio($rows; $n; $d; "ka1"; "cpu"), cpu_ka16: ratio($rows; $n; $d; "ka16"; "cpu"),
         cpu_new16: ratio($rows; $n; $d; "new16"; "cpu")})
     | map(select(.ka1 != null or .ka16 != null or .new16 != null))) as $ratios
  | ($ratios | map({key: .name, value: .}) | from_entries) as $R
  | ($in.raw | map(select(.type == "rate")) | group_by(.server) | map({
      server: .[0].server, rounds: length, target_rps: .[0].target_rps,
      rps: (map(.rps) | median), p50_us: (map(.p50_us) | median), p90_us: (map(.p90_us) | median),
      p99_us: (map(.p99_us) | median), p999_us: (map(.p999_us) | median), max_us: (map(.max_us) | max),
      service_p50_us: (map(.service_p50_us) | median), service_p99_us: (map(.service_p99_us) | median),
      handler_p99_le_us: (map(.handler_p99_le_us) | median), non200: (map(.non200) | add)})) as $rate
  | ($in.raw | map(select(.type == "rss"))) as $rss
  | ($in.raw | map(select(.type == "startup"))) as $startup
  | ($in.raw | map(select(.type == "reload"))) as $reload
  | ($in.raw | map(select(.type == "handler")) | .[0]) as $handler
  | ($in.raw | map(select(.type == "parity")) | .[0]) as $parity
  | (["kadmit", "fixed", "nginx", "fixed-plain", "nginx-plain"]
     | map(cpu_of($w; .; "ka16"))) as [$tk, $tf, $tn, $tfp, $tnp]
  | (if ([$tk, $tf, $tn, $tfp, $tnp] | all(. != null)) then
       ($tk - $tn) as $gap
       | {total_us: $gap, parts: [
           {part: "policy work (kadmit − fixed floor)", us: ($tk - $tf)},
           {part: "TLS termination + relay (kadmit's TLS cost − nginx's TLS cost)",
            us: (($tf - $tfp) - ($tn - $tnp))},
           {part: "HTTP server (fixed-plain − nginx-plain)", us: ($tfp - $tnp)}]
           | map(. + {share: (if $gap != 0 then .us / $gap else null end)})}
     else null end) as $gap
  | ($rate | map(select(.server == "kadmit")) | .[0]) as $krate
  | ($rss | map(select(.server == "kadmit")) | .[0]) as $krss
  | {
      wrk: $w,
      ratios: $ratios,
      gap: $gap,
      rate: $rate,
      handler: $handler,
      parity: $parity,
      reload: $reload,
      tls: ($in.raw | map(select(.type == "tls"))),
      crypto: ($in.raw | map(select(.type == "crypto"))),
      footprint: ($rss | map(. as $r | $r + {startup_us: ($startup | map(select(.server == $r.server)) | .[0].median_us)})),
      core: ($in.core.results | map(select(.op == "review")) | map(. as $c | {
        case: .case, bytes: .bytes, endpoint: .endpoint, median_us: (.median_ns / 1000),
        four_rules_us: ($in.core_four_rules.results | map(select(.op == "review" and .case == $c.case and .endpoint == $c.endpoint)) | .[0].median_ns / 1000),
        allocs: .allocs, alloc_kib: (.alloc_bytes / 1024)})),
      parsers: ($in.core.results | map(select(.op != "review")) | group_by(.case) | map(
        {case: .[0].case, bytes: .[0].bytes, cjson_allocs: (map(select(.op == "cjson_parse_delete")) | .[0].allocs)}
        + (map({key: .op, value: (.median_ns / 1000)}) | from_entries))),
      goals: [
        {goal: "kadmit ≥ 0.7× its fixed-response floor (ka16)", target: "≥ 0.7",
         measured: ($R["kadmit / fixed floor (TLS)"] | both),
         met: ($R["kadmit / fixed floor (TLS)"].cpu_ka16 | if . == null then "n/a" elif . >= 0.7 then "yes" else "no (short by \((0.7 - .) / 0.7 * 1000 | round / 10) %)" end)},
        {goal: "kadmit / nginx (ka16)", target: "expected ≈ 0.25–0.3 with mbedTLS 2.28",
         measured: ($R["kadmit / nginx (TLS)"] | both),
         met: ($R["kadmit / nginx (TLS)"].cpu_ka16 | if . == null then "n/a" elif . >= 0.25 then "yes" else "below expectation" end)},
        {goal: "kadmit ≥ 10× OPA (same four checks, ka16)", target: "≥ 10",
         measured: ($R["kadmit (4 rules) / OPA (4 rules)"] | both),
         met: ($R["kadmit (4 rules) / OPA (4 rules)"].cpu_ka16 | if . == null then "n/a" elif . >= 10 then "yes" else "no (\(. | fmt2)×, short by \((10 - .) / 10 * 100 | round) %)" end)},
        {goal: "kadmit p99 < 1 ms at \($in.rate) req/s", target: "< 1000 µs",
         measured: ($krate | if . == null then "n/a" else "p99 \(.p99_us | round) µs (p50 \(.p50_us | round) µs); service time p99 \(.service_p99_us // 0 | round) µs; in-server handler p99 ≤ \(.handler_p99_le_us // "n/a") µs" end),
         met: ($krate | if . == null then "n/a" elif .p99_us < 1000 then "yes" else "no (\(.p99_us / 1000 | fmt2) ms)" end)},
        {goal: "kadmit < 10 MiB resident when idle", target: "< 10 MiB",
         measured: ($krss | if . == null then "n/a" else "\(.idle_kib / 1024 | fmt2) MiB idle, \(.hwm_kib / 1024 | fmt2) MiB peak" end),
         met: ($krss | if . == null then "n/a" elif .idle_kib < 10240 then "yes" else "no (\(.idle_kib / 1024 | fmt2) MiB)" end)}
      ]
    };
