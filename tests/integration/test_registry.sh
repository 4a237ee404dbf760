#!/usr/bin/env bash
# `kadmit attest sync` against a real registry (go-containerregistry's `crane registry serve`),
# with attestations pushed the way cosign stores them, and a token-auth proxy in front for the
# 401 -> token -> 200 flow, blob redirects, corrupt blobs, oversize manifests, slow and down
# registries. Everything fetched is then judged by `kadmit attest verify`, like the rule does.
# When cosign is built (tests/tools/build.sh), real `cosign attest` output is fetched too.
set -u
cd "${KADMIT_SOURCE_DIR:-.}"
. tests/integration/lib/harness.sh
A=tests/attest
TOOL=tests/integration/lib/registry_tool.py
T=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT

eval "$(tests/tools/build.sh)" || { echo "FAIL tests/tools/build.sh"; exit 1; }

wait_port() { for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done; return 1; }

PORT=$(free_port)
"$CRANE" registry serve --address 127.0.0.1:$PORT >"$T/crane.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.1; done
REG=127.0.0.1:$PORT

# proxy MODE: start a proxy in front of the registry, set P to its port (run in this shell, not
# in $(...), so that cleanup knows its pid)
proxy() {
  local pf="$T/proxy-$1.port"
  python3 "$TOOL" proxy --upstream "http://$REG" --port-file "$pf" --mode "$1" \
    --log "$T/proxy-$1.log" >/dev/null 2>&1 &
  pids+=($!)
  wait_port "$pf" && P=$(cat "$pf")
}

# a small image, two scans of it: an older clean one and a newer one with 3 CRITICAL
echo hello >"$T/hello.txt"
tar -C "$T" -cf "$T/layer.tar" hello.txt
"$CRANE" append --insecure -f "$T/layer.tar" -t "$REG/app:1" >/dev/null 2>&1
DIG=$("$CRANE" digest --insecure "$REG/app:1")
HEX=${DIG#sha256:}
bash $A/keygen.sh p256 "$T/scanner" >/dev/null
bash $A/statement.sh --digest "$HEX" --finished 2026-11-27T10:00:00Z $A/trivy-clean.json >"$T/clean.st"
bash $A/statement.sh --digest "$HEX" --finished 2026-11-28T10:00:00Z $A/trivy-findings.json >"$T/crit.st"
bash $A/sign.sh "$T/scanner.key" "$T/clean.st" >"$T/clean.json"
bash $A/sign.sh "$T/scanner.key" "$T/crit.st" >"$T/crit.json"
python3 "$TOOL" push-att --registry "http://$REG" --repo app --digest "$HEX" "$T/clean.json"

V=(attest verify --key "$T/scanner.pub" --now 2026-11-28T12:00:00Z)
# sync OUTDIR EXPECTED_EXIT TEXT -- ARGS...: run attest sync, want the exit code and TEXT
sync_expect() {
  local out=$1 want=$2 text=$3
  shift 4
  mkdir -p "$out"
  local got=0
  "$KADMIT" attest sync --plain-http --dir "$out" "$@" >"$out.log" 2>&1 || got=$?
  if [ "$got" != "$want" ] || ! grep -qF -- "$text" "$out.log"; then
    echo "  exit $got (want $want), want \"$text\" in:"; sed 's/^/    /' "$out.log"
    return 1
  fi
}

check "the .att tag of a digest is fetched, every blob by digest, written as JSON Lines" \
  sync_expect "$T/a" 0 "wrote 1 document to $T/a/registry-$HEX.jsonl" -- "$REG/app@$DIG"
check "what was fetched is judged by the loader: PASS" \
  bash -c "\"$KADMIT\" ${V[*]} $REG/app@$DIG $T/a | grep -q 'verdict: PASS'"
check "the report names every path tried with the registry's answer" \
  bash -c "grep -q 'manifests/sha256-$HEX.att: 200' $T/a.log && grep -q 'referrers/sha256:$HEX: ' $T/a.log"
check "no temporary file is left in the directory" \
  bash -c "[ \$(ls -A $T/a | wc -l) = 1 ]"

# a re-scan found criticals: pushed, fetched again, the newest scan decides
python3 "$TOOL" push-att --registry "http://$REG" --repo app --digest "$HEX" "$T/clean.json" "$T/crit.json"
check "a re-sync replaces the file atomically with every scan" \
  sync_expect "$T/a" 0 "wrote 2 documents" -- "$REG/app@$DIG"
check "the newer failing scan decides" \
  bash -c "\"$KADMIT\" ${V[*]} $REG/app@$DIG $T/a | grep -q 'verdict: FAIL: .*3 CRITICAL findings (max 0) (the newest verified scan decides'"

check "a digest without attestations: exit 1, the registry holds none" \
  sync_expect "$T/none" 1 "the registry holds no attestation for sha256:$(printf 1%.0s {1..64})" -- \
  "$REG/app@sha256:$(printf 1%.0s {1..64})"
check "an unpinned image is refused" \
  sync_expect "$T/bad" 1 "not an image pinned by digest" -- "$REG/app:1"
# (through a proxy that is down: no packet leaves the machine)
DOWN=$(free_port)
check "Docker Hub names normalise to registry-1.docker.io/library/" \
  bash -c "https_proxy=http://127.0.0.1:$DOWN \"$KADMIT\" attest sync --timeout 1s --attempts 1 --dir $T nginx@$DIG 2>&1 | grep -q 'https://registry-1.docker.io/v2/library/nginx/manifests/sha256-$HEX.att'"

# behind a token-auth proxy (401 -> token -> 200), blobs redirected to "storage"
proxy normal
printf '{"auths":{"127.0.0.1:%s":{"auth":"%s"}}}' "$P" "$(printf ci:s3cret | base64)" >"$T/auth.json"
printf '{"auths":{"127.0.0.1:%s":{"username":"ci","password":"wrong"}}}' "$P" >"$T/wrong-auth.json"
check "401 -> token (Basic credentials from a dockerconfigjson) -> 200" \
  sync_expect "$T/p" 0 "wrote 2 documents" -- --auth "$T/auth.json" "127.0.0.1:$P/app@$DIG"
check "the token exchange and the 401 are in the report" \
  bash -c "grep -q '401 (Bearer realm=' $T/p.log && grep -q 'token): 200' $T/p.log"
check "blob redirects are followed without the Authorization header" \
  bash -c "grep -q '^GET /storage/' $T/proxy-normal.log && ! grep -q LEAK $T/proxy-normal.log"
check "wrong credentials: the token endpoint's 401 is reported, exit 1" \
  sync_expect "$T/pw" 1 "(token): 401" -- --auth "$T/wrong-auth.json" "127.0.0.1:$P/app@$DIG"
check "no credentials: the token endpoint's 401 is reported, exit 1" \
  sync_expect "$T/pn" 1 "(token): 401" -- "127.0.0.1:$P/app@$DIG"

proxy bad-digest
sed -i "s/127.0.0.1:[0-9]*/127.0.0.1:$P/" "$T/auth.json"
check "a blob that does not hash to its digest is discarded" \
  sync_expect "$T/bd" 1 "content does not hash to its digest; discarded" -- --auth "$T/auth.json" \
  "127.0.0.1:$P/app@$DIG"
check "... and nothing is written" bash -c "[ ! -e $T/bd/registry-$HEX.jsonl ]"

proxy big-manifest
sed -i "s/127.0.0.1:[0-9]*/127.0.0.1:$P/" "$T/auth.json"
check "an oversize manifest is refused at the limit" \
  sync_expect "$T/bm" 1 "response over the 4194304 byte limit" -- --auth "$T/auth.json" \
  "127.0.0.1:$P/app@$DIG"

proxy flaky
sed -i "s/127.0.0.1:[0-9]*/127.0.0.1:$P/" "$T/auth.json"
check "a 503 is retried with backoff" \
  sync_expect "$T/fl" 0 "503 (attempt 1 of 3)" -- --auth "$T/auth.json" "127.0.0.1:$P/app@$DIG"

proxy slow
sed -i "s/127.0.0.1:[0-9]*/127.0.0.1:$P/" "$T/auth.json"
check "a slow registry times out (closed: nothing written, exit 1)" \
  sync_expect "$T/sl" 1 "Timeout was reached" -- --timeout 1s --attempts 2 --auth "$T/auth.json" \
  "127.0.0.1:$P/app@$DIG"

# libcurl 7.88 (Debian 12) says "Couldn't connect to server", 8.14 (Debian 13) "Could not".
check "a registry that is down: the connection error is reported, exit 1" \
  sync_expect "$T/dn" 1 "connect to server" -- --attempts 2 "127.0.0.1:$DOWN/app@$DIG"
check "... and nothing is written: the image stays without an attestation (denied)" \
  bash -c "[ -z \"\$(ls -A $T/dn)\" ]"

printf '%s\n# a comment\n\n127.0.0.1:%s/app@%s\n' "$REG/app@$DIG" "$DOWN" "$DIG" >"$T/images.txt"
check "--images: every listed image is fetched; one failure makes the exit 1" \
  sync_expect "$T/il" 1 "wrote 2 documents" -- --attempts 1 --images "$T/images.txt"

# Admission never touches the network: kadmit serve, reading what the fetcher wrote, is traced
# while it answers requests (the misses included): it accepts connections and opens none.
"$KADMIT" certs --out-dir "$T/tls" --ip 127.0.0.1 >/dev/null 2>&1
# serve_traced LOG TRACE ARGS...: kadmit serve on fresh ports $SP, $MP with the certificate
# above, once ready with every thread's socket calls traced into TRACE (pids $spid, $tpid)
serve_traced() {
  local log=$1 trace=$2
  shift 2
  SP=$(free_port) MP=$(free_port)
  "$KADMIT" serve --listen 127.0.0.1:$SP --metrics-listen 127.0.0.1:$MP \
    --tls-cert "$T/tls/tls.crt" --tls-key "$T/tls/tls.key" "$@" 2>"$log" &
  spid=$!
  pids+=($spid)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$MP/readyz" >/dev/null && break; sleep 0.1; done
  strace -f -qq -e trace=accept,accept4,socket,connect -p $spid -o "$trace" &
  tpid=$!
  sleep 1
}
serve_traced "$T/serve.log" "$T/strace.out" --attestations "$T/a"
for f in tests/fixtures/checklist/*/request.json; do
  curl -s --cacert "$T/tls/ca.crt" -H 'Content-Type: application/json' --data-binary @"$f" \
    "https://127.0.0.1:$SP/validate" >/dev/null
done
sleep 0.5
kill $tpid 2>/dev/null
wait $tpid 2>/dev/null
check "strace saw the webhook accept the requests" grep -q 'accept' "$T/strace.out"
check "... and the request path made no socket() and no connect(): no network I/O" \
  bash -c "! grep -E 'socket\(|connect\(' $T/strace.out"
kill $spid

# serve --attestation-source registry: a miss is denied at once and queued; the background
# fetcher writes what the registry holds into --attestations; the controller's retry is admitted.
. tests/integration/lib/attest.sh
attest_setup "$T/k"
push_attested() { # NAME: push image $REG/NAME:1 and a signed clean scan of it; prints its digest
  echo "$1" >"$T/$1.txt"
  tar -C "$T" -cf "$T/$1.tar" "$1.txt"
  "$CRANE" append --insecure -f "$T/$1.tar" -t "$REG/$1:1" >/dev/null 2>&1
  local dig
  dig=$("$CRANE" digest --insecure "$REG/$1:1")
  bash $A/statement.sh --digest "${dig#sha256:}" $A/trivy-clean.json >"$T/$1.st"
  bash $A/sign.sh "$T/k/keys/scanner.key" "$T/$1.st" >"$T/$1.json"
  python3 "$TOOL" push-att --registry "http://$REG" --repo "$1" --digest "${dig#sha256:}" \
    "$T/$1.json" >&2
  echo "$dig"
}
MDIG=$(push_attested miss)
review() { # NAME IMAGE: an AdmissionReview of a pod running IMAGE
  python3 - "$1" "$2" <<'PY'
import json, sys
res = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}}
probe = {"httpGet": {"path": "/h", "port": 8080}}
c = {"name": "app", "image": sys.argv[2], "resources": res, "readinessProbe": probe, "livenessProbe": probe}
obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": sys.argv[1], "namespace": "shop"},
       "spec": {"containers": [c]}}
print(json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
    "uid": "u-" + sys.argv[1], "kind": {"group": "", "version": "v1", "kind": "Pod"},
    "namespace": "shop", "operation": "CREATE", "object": obj}}))
PY
}
review miss "$REG/miss@$MDIG" >"$T/miss.req"
# an image listed in --registry-images: fetched before any pod asks for it
LDIG=$(push_attested listed)
printf '# images to follow\n%s/listed@%s\n' "$REG" "$LDIG" >"$T/images-listed.txt"
review none "$REG/app@sha256:$(printf 2%.0s {1..64})" >"$T/none.req"
review down "127.0.0.1:$DOWN/app@sha256:$(printf 3%.0s {1..64})" >"$T/down.req"
proxy slow
review slow "127.0.0.1:$P/app@sha256:$(printf 4%.0s {1..64})" >"$T/slow.req"
mkdir -p "$T/fetched"
# every thread traced: the fetcher (named kadmit-fetcher) connects, no other thread does
serve_traced "$T/serve-reg.log" "$T/strace-reg.out" --policies "$T/k/checklist.yaml" \
  --attestations "$T/fetched" --attestation-source registry --registry-plain-http 1 \
  --registry-timeout 20s --registry-hosts "$REG,127.0.0.1:$DOWN,127.0.0.1:$P" \
  --registry-images "$T/images-listed.txt"
post() { curl -s --max-time 5 --cacert "$T/tls/ca.crt" -H 'Content-Type: application/json' \
  --data-binary @"$1" "https://127.0.0.1:$SP/validate"; }
# poll until the answer to $1 matches the extended regex $2 (keeps the last answer in $1.out)
until_answer() { for _ in $(seq 100); do post "$1" >"$1.out"; grep -qE "$2" "$1.out" && return 0; sleep 0.1; done
  echo "  last answer: $(cat "$1.out")"; return 1; }
wait_file() { for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done; return 1; }
check "--registry-images: a listed image's attestations are fetched before any request" \
  wait_file "$T/fetched/registry-${LDIG#sha256:}.jsonl"
post "$T/miss.req" >"$T/miss.first"
check "registry source: a miss is denied at once, saying its registry fetch is queued" \
  bash -c "grep -q '\"allowed\":false' $T/miss.first && grep -qE 'a registry fetch is (queued|under way)' $T/miss.first"
check "... the fetcher writes the registry's attestation and the retry is admitted" \
  until_answer "$T/miss.req" '"allowed":true'
check "... into the --attestations directory, atomically" test -s "$T/fetched/registry-${MDIG#sha256:}.jsonl"
post "$T/none.req" >/dev/null
check "a digest the registry holds nothing for: the denial says when it was tried and what each path answered" \
  until_answer "$T/none.req" 'registry tried [0-9]+s ago \(\.att tag: 404, referrers: 404, fallback tag: 404\); next try in [0-9]+s'
post "$T/down.req" >/dev/null
check "a registry that is down: denied (closed), the denial names the connection error" \
  until_answer "$T/down.req" '"allowed":false.*registry tried [0-9]+s ago \(\.att tag: [^)]*connect to server'
review elsewhere "127.0.0.1:1/app@sha256:$(printf 5%.0s {1..64})" >"$T/elsewhere.req"
post "$T/elsewhere.req" >/dev/null
check "a registry not in --registry-hosts is never contacted; the denial says so" \
  until_answer "$T/elsewhere.req" 'no attestation for sha256:[0-9a-f]{64}; registry 127.0.0.1:1 is not in --registry-hosts; not fetched'
check "serve --attestation-source registry without --registry-hosts is refused" \
  bash -c "\"$KADMIT\" serve --tls-cert $T/tls/tls.crt --tls-key $T/tls/tls.key --attestations $T \
    --attestation-source registry 2>&1 | grep -q 'needs --registry-hosts'"
post "$T/slow.req" >"$T/slow.first"
check "a registry that hangs: admission still answers at once (the fetch runs in the background)" \
  until_answer "$T/slow.req" 'a registry fetch is under way'
check "the fetcher logged each fetch with the registry's answer" \
  grep -q "registry fetch $REG/miss@$MDIG: written" "$T/serve-reg.log"
FTID=$(grep -lx kadmit-fetcher /proc/$spid/task/*/comm | cut -d/ -f5)
kill $tpid 2>/dev/null
wait $tpid 2>/dev/null
check "strace: the fetcher thread connected to the registry" \
  grep -qE "^$FTID +connect\(.*sin_port=htons\(${REG##*:}\)" "$T/strace-reg.out"
check "... the webhook's threads accepted the requests" grep -qE '^[0-9]+ +accept' "$T/strace-reg.out"
check "... and no thread but the fetcher made a socket() or connect(): the request path does no network I/O" \
  bash -c "[ -n '$FTID' ] && ! grep -E 'socket\(|connect\(' $T/strace-reg.out | grep -vE '^$FTID '"
curl -s "http://127.0.0.1:$MP/metrics" >"$T/metrics-reg.txt"
check "metrics: the fetches by result and the queue" \
  bash -c "grep -qE '^kadmit_registry_fetches_total\{result=\"written\"\} [1-9]' $T/metrics-reg.txt && \
    grep -qE '^kadmit_registry_fetches_total\{result=\"none\"\} [1-9]' $T/metrics-reg.txt && \
    grep -qE '^kadmit_registry_fetches_total\{result=\"error\"\} [1-9]' $T/metrics-reg.txt && \
    grep -qE '^kadmit_registry_fetch_queue\{state=\"tracked\"\} [1-9]' $T/metrics-reg.txt"
kill $spid
wait $spid 2>/dev/null
check "kadmit serve stops at once, aborting the fetch under way (exit 0)" test $? -eq 0

# kadmit fix --resolve-digests: tags become the digests the registry serves (as crane digest)
mkdir -p "$T/fix"
cat >"$T/fix/web.yaml" <<EOF
# the web tier
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: app
          image: "$REG/app:1"   # CI bumps this
        - name: old
          image: $REG/app:nope
EOF
cp "$T/fix/web.yaml" "$T/fix/web.orig"
"$KADMIT" fix --resolve-digests --plain-http -w "$T/fix/web.yaml" >/dev/null 2>"$T/fix.err"
check "fix --resolve-digests writes the digest crane gives for the tag, keeping the tag, quotes and comment" \
  grep -qF "image: \"$REG/app:1@$DIG\"   # CI bumps this" "$T/fix/web.yaml"
check "... and reports each resolution" grep -qF "kadmit fix: resolved $REG/app:1 -> $DIG" "$T/fix.err"
check "an unknown tag stays, its note carrying the registry's 404" \
  bash -c "grep -qF 'image: $REG/app:nope' $T/fix/web.yaml && grep -q 'not fixed: --resolve-digests: cannot resolve $REG/app:nope: GET .*/manifests/nope: 404' $T/fix.err"
"$KADMIT" fix --resolve-digests --plain-http --diff "$T/fix/web.yaml" >"$T/fix.again" 2>/dev/null
check "a second run changes nothing (idempotent)" test ! -s "$T/fix.again"
"$KADMIT" fix "$T/fix/web.orig" >"$T/fix.plain" 2>"$T/fix.plain.err"
check "without --resolve-digests no registry is asked: the tag stays, crane digest is suggested" \
  bash -c "cmp -s $T/fix.plain $T/fix/web.orig && grep -qF 'by hand: crane digest $REG/app:1' $T/fix.plain.err"
proxy lying-manifest
sed -i "s/127.0.0.1:[0-9]*/127.0.0.1:$P/" "$T/auth.json"
sed "s#$REG/#127.0.0.1:$P/#" "$T/fix/web.orig" >"$T/fix/lying.yaml"
"$KADMIT" fix --resolve-digests --plain-http --auth "$T/auth.json" -w "$T/fix/lying.yaml" >/dev/null 2>"$T/fix.lying"
check "a Docker-Content-Digest that is not the manifest's hash: nothing written, the reason reported" \
  bash -c "grep -qF 'image: \"127.0.0.1:$P/app:1\"' $T/fix/lying.yaml && grep -q 'cannot resolve 127.0.0.1:$P/app:1: Docker-Content-Digest $DIG does not match the manifest.s bytes' $T/fix.lying"

# real cosign v3: `cosign attest --type vuln` (bundles in the referrers fallback tag) and the
# legacy .att format, both fetched and verified
if [ -n "${COSIGN:-}" ] && [ -x "$COSIGN" ]; then
  export COSIGN_PASSWORD=""
  (cd "$T" && "$COSIGN" generate-key-pair >/dev/null 2>&1)
  "$CRANE" append --insecure -f "$T/layer.tar" -t "$REG/cos:1" >/dev/null 2>&1
  CDIG=$("$CRANE" digest --insecure "$REG/cos:1")
  python3 - "$T/clean.st" "$T/pred.json" <<'PY'
import json, sys
# the cosign-vuln predicate, as `trivy image --format cosign-vuln` writes it
json.dump(json.load(open(sys.argv[1]))["predicate"], open(sys.argv[2], "w"))
PY
  sed -i "s/2026-11-27T10:00:00Z/$(date -u +%Y-%m-%dT%H:%M:%SZ)/g" "$T/pred.json"
  check "cosign attest --type vuln (v3, bundle) to the registry" \
    "$COSIGN" attest --yes --allow-insecure-registry --key "$T/cosign.key" --type vuln \
    --predicate "$T/pred.json" --tlog-upload=false --use-signing-config=false "$REG/cos@$CDIG"
  check "the bundle is fetched from the referrers fallback tag sha256-<hex>" \
    sync_expect "$T/c" 0 "manifests/sha256-${CDIG#sha256:}: 200" -- "$REG/cos@$CDIG"
  check "and verified with cosign.pub" \
    bash -c "\"$KADMIT\" attest verify --key $T/cosign.pub $REG/cos@$CDIG $T/c | grep -q 'verdict: PASS'"
  # a registry with the OCI 1.1 referrers API (go-containerregistry's, with it switched on):
  # cosign v3 pushes the bundle as a referrer (no fallback tag), found through the API
  RP=$(free_port)
  "$REFERRERS_REGISTRY" --address 127.0.0.1:$RP >"$T/referrers-registry.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$RP/v2/" >/dev/null && break; sleep 0.1; done
  "$CRANE" append --insecure -f "$T/layer.tar" -t "127.0.0.1:$RP/cos:1" >/dev/null 2>&1
  "$COSIGN" attest --yes --allow-insecure-registry --key "$T/cosign.key" --type vuln \
    --predicate "$T/pred.json" --tlog-upload=false --use-signing-config=false \
    "127.0.0.1:$RP/cos@$CDIG" >/dev/null 2>&1
  check "the referrers API: cosign v3 pushed no fallback tag, the bundle is found through the API" \
    sync_expect "$T/ra" 0 "referrers/sha256:${CDIG#sha256:}: 200" -- "127.0.0.1:$RP/cos@$CDIG"
  check "... fetched by digest, one document, no fallback tag tried" \
    bash -c "grep -q 'wrote 1 document' $T/ra.log && ! grep -q 'manifests/sha256-${CDIG#sha256:}:' $T/ra.log"
  check "... and verified with cosign.pub" \
    bash -c "\"$KADMIT\" attest verify --key $T/cosign.pub 127.0.0.1:$RP/cos@$CDIG $T/ra | grep -q 'verdict: PASS'"
  # the README's by-hand alternative: cosign download, vulnerability scans only
  mkdir -p "$T/dl"
  check "cosign download attestation --predicate-type vuln gives a file kadmit accepts" \
    bash -c "\"$COSIGN\" download attestation --allow-insecure-registry --predicate-type vuln \
      $REG/cos@$CDIG >$T/dl/scan.jsonl && \"$KADMIT\" attest verify --key $T/cosign.pub \
      $REG/cos@$CDIG $T/dl | grep -q 'verdict: PASS'"
else
  [ "${CI:-}" = true ] && check "cosign is built (tests/tools/build.sh)" false
  echo "skip cosign: not built yet (tests/tools/build.sh)"
fi
finish
