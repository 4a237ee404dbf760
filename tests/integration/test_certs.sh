#!/usr/bin/env bash
# kadmit certs: the certificates it writes, checked with openssl and used by real TLS servers
# (openssl s_server, and kadmit serve when it exists) with curl as the client.
# Env: KADMIT = path of the kadmit binary (default build/kadmit). Prints "N passed, M failed".
set -u
# the shared harness: ok, bad, finish, free_port (this script keeps its quiet check)
. "$(dirname "$0")/lib/harness.sh"
# check NAME COMMAND...: passes when the command succeeds.
check() {
    local name=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$name"; else bad "$name"; fi
}
# contains NAME HAYSTACK NEEDLE
contains() {
    if [[ "$2" == *"$3"* ]]; then ok "$1"; else
        bad "$1 (\"$3\" not found)"
        printf '%s\n' "$2" | sed 's/^/       | /' | head -20
    fi
}
not_contains() {
    if [[ "$2" != *"$3"* ]]; then ok "$1"; else bad "$1 (\"$3\" found)"; fi
}

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

seconds() { date -u -d "$1" +%s; }
# notAfter - notBefore of a certificate, in seconds
lifetime() {
    local nb na
    nb=$(openssl x509 -in "$1" -noout -startdate | cut -d= -f2)
    na=$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)
    echo $(($(seconds "$na") - $(seconds "$nb")))
}
sums() { (cd "$1" && sha256sum ca.crt ca.key tls.crt tls.key); }
mode() { stat -c %a "$1"; }

if ! command -v openssl >/dev/null || ! command -v curl >/dev/null; then
    echo "test_certs: openssl and curl are required"
    exit 1
fi

# ---- creation ------------------------------------------------------------------------------------
d=$tmp/c
out=$("$KADMIT" certs --out-dir "$d" --ip 127.0.0.1 --dns localhost 2>&1)
check "certs exits 0 on a fresh directory" test $? -eq 0
contains "reports a created CA" "$out" "ca: created"
contains "reports a created leaf" "$out" "leaf: created"
for f in ca.crt ca.key tls.crt tls.key; do check "writes $f" test -s "$d/$f"; done
check "openssl verify -CAfile ca.crt tls.crt" openssl verify -CAfile "$d/ca.crt" "$d/tls.crt"

leaf=$(openssl x509 -in "$d/tls.crt" -noout -text)
ca=$(openssl x509 -in "$d/ca.crt" -noout -text)
for san in "DNS:kadmit," "DNS:kadmit.kadmit-system," "DNS:kadmit.kadmit-system.svc," \
    "DNS:kadmit.kadmit-system.svc.cluster.local" "DNS:localhost" "IP Address:127.0.0.1"; do
    contains "leaf SAN $san" "$leaf" "$san"
done
contains "leaf extKeyUsage serverAuth" "$leaf" "TLS Web Server Authentication"
contains "leaf keyUsage digitalSignature" "$leaf" "Digital Signature"
not_contains "ECDSA leaf has no keyEncipherment" "$leaf" "Key Encipherment"
contains "leaf is not a CA" "$leaf" "CA:FALSE"
contains "leaf key is ECDSA P-256" "$leaf" "prime256v1"
contains "leaf signed with ecdsa-with-SHA256" "$leaf" "ecdsa-with-SHA256"
contains "CA basicConstraints CA:TRUE" "$ca" "CA:TRUE"
contains "CA keyUsage certSign" "$ca" "Certificate Sign"
contains "CA key is ECDSA P-256" "$ca" "prime256v1"
check "leaf lifetime is --validity 365d (+5 min backdating)" test "$(lifetime "$d/tls.crt")" -eq $((365 * 86400 + 300))
check "CA lifetime is --ca-validity 3650d (+5 min backdating)" test "$(lifetime "$d/ca.crt")" -eq $((3650 * 86400 + 300))
s1=$(openssl x509 -in "$d/tls.crt" -noout -serial | cut -d= -f2)
s2=$(openssl x509 -in "$d/ca.crt" -noout -serial | cut -d= -f2)
check "serial numbers are 16 bytes" test ${#s1} -eq 32 -a ${#s2} -eq 32
check "serial numbers differ" test "$s1" != "$s2"
check "tls.key matches tls.crt" test "$(openssl x509 -in "$d/tls.crt" -noout -pubkey)" = "$(openssl pkey -in "$d/tls.key" -pubout)"
check "ca.key matches ca.crt" test "$(openssl x509 -in "$d/ca.crt" -noout -pubkey)" = "$(openssl pkey -in "$d/ca.key" -pubout)"
check "tls.key mode 0600" test "$(mode "$d/tls.key")" = 600
check "ca.key mode 0600" test "$(mode "$d/ca.key")" = 600
check "tls.crt mode 0644" test "$(mode "$d/tls.crt")" = 644
check "out-dir created 0700" test "$(mode "$d")" = 700
check "no temporary files left" test "$(ls -A "$d" | wc -l)" -eq 4

# ---- idempotence ----------------------------------------------------------------------------------
before=$(sums "$d")
out=$("$KADMIT" certs --out-dir "$d" --ip 127.0.0.1 --dns localhost 2>&1)
check "second run exits 0" test $? -eq 0
contains "second run keeps the CA" "$out" "ca: kept"
contains "second run keeps the leaf" "$out" "leaf: kept"
check "second run leaves all four files byte-identical" test "$before" = "$(sums "$d")"
out=$("$KADMIT" certs --out-dir "$d" 2>&1)
contains "a subset of the names keeps the leaf" "$out" "leaf: kept"

# ---- renewal --------------------------------------------------------------------------------------
r=$tmp/renew
"$KADMIT" certs --out-dir "$r" --validity 1d >/dev/null 2>&1
check "--validity 1d gives a one-day leaf" test "$(lifetime "$r/tls.crt")" -eq $((86400 + 300))
ca_before=$(cd "$r" && sha256sum ca.crt ca.key)
leaf_before=$(sha256sum <"$r/tls.crt")
out=$("$KADMIT" certs --out-dir "$r" --renew-before 30d 2>&1)
contains "near-expiry leaf is renewed" "$out" "leaf: renewed"
contains "renewal says why" "$out" "expires in"
contains "renewal keeps the CA" "$out" "ca: kept"
check "renewal leaves ca.crt and ca.key byte-identical" test "$ca_before" = "$(cd "$r" && sha256sum ca.crt ca.key)"
check "renewal replaced tls.crt" test "$leaf_before" != "$(sha256sum <"$r/tls.crt")"
check "renewed leaf verifies against the kept CA" openssl verify -CAfile "$r/ca.crt" "$r/tls.crt"
check "renewed leaf has the default lifetime" test "$(lifetime "$r/tls.crt")" -eq $((365 * 86400 + 300))
check "renewed tls.key still 0600" test "$(mode "$r/tls.key")" = 600
out=$("$KADMIT" certs --out-dir "$r" --renew-before 30d 2>&1)
contains "renewed leaf is then kept" "$out" "leaf: kept"

out=$("$KADMIT" certs --out-dir "$r" --force 2>&1)
contains "--force re-issues the leaf" "$out" "leaf: renewed (--force"
check "--force keeps the CA" test "$ca_before" = "$(cd "$r" && sha256sum ca.crt ca.key)"

out=$("$KADMIT" certs --out-dir "$r" --dns extra.example.com --ip ::1 2>&1)
contains "a missing name re-issues the leaf" "$out" "missing name extra.example.com"
leaf=$(openssl x509 -in "$r/tls.crt" -noout -text)
contains "new leaf has the extra DNS name" "$leaf" "DNS:extra.example.com"
contains "new leaf has the IPv6 address" "$leaf" "IP Address:0:0:0:0:0:0:0:1"
out=$("$KADMIT" certs --out-dir "$r" --ip 10.0.0.1 --dns extra.example.com --ip ::1 2>&1)
contains "a missing IP address re-issues the leaf" "$out" "missing address 10.0.0.1"

# A leaf from another CA, and a key that does not match.
o=$tmp/other
"$KADMIT" certs --out-dir "$o" >/dev/null 2>&1
cp "$o/tls.crt" "$o/tls.key" "$r/"
out=$("$KADMIT" certs --out-dir "$r" 2>&1)
contains "a leaf signed by another CA is re-issued" "$out" "not signed by the CA"
check "and then verifies against our CA" openssl verify -CAfile "$r/ca.crt" "$r/tls.crt"
cp "$o/tls.key" "$r/tls.key"
out=$("$KADMIT" certs --out-dir "$r" 2>&1)
contains "a key that does not match is re-issued" "$out" "tls.key does not match tls.crt"
echo "not a certificate" >"$r/tls.crt"
out=$("$KADMIT" certs --out-dir "$r" 2>&1)
contains "a corrupt tls.crt is re-issued" "$out" "tls.crt is not a valid certificate"
rm "$r/tls.key"
out=$("$KADMIT" certs --out-dir "$r" 2>&1)
contains "a missing tls.key is re-issued" "$out" "tls.key was missing"
check "CA survived all of that" test "$ca_before" = "$(cd "$r" && sha256sum ca.crt ca.key)"

# A valid CA without its key: kept while the leaf is fine, an error when the leaf needs signing.
n=$tmp/nokey
"$KADMIT" certs --out-dir "$n" >/dev/null 2>&1
rm "$n/ca.key"
out=$("$KADMIT" certs --out-dir "$n" 2>&1)
check "valid leaf, CA key absent: exit 0" test $? -eq 0
contains "valid leaf, CA key absent: leaf kept" "$out" "leaf: kept"
"$KADMIT" certs --out-dir "$n" --force >/dev/null 2>&1
check "leaf needs signing, CA key absent: exit 1" test $? -eq 1
check "and the CA is not replaced" test ! -e "$n/ca.key"
# An expired (here: not a CA) ca.crt is replaced, and the leaf with it.
cp "$n/tls.crt" "$n/ca.crt"
out=$("$KADMIT" certs --out-dir "$n" 2>&1)
contains "a ca.crt that is not a CA is replaced" "$out" "ca: created"
check "new pair verifies" openssl verify -CAfile "$n/ca.crt" "$n/tls.crt"

# ---- CA rotation: a ca.crt bundle (new CA first, old CA second) keeps working -------------------
cur=$tmp/rot-cur
new=$tmp/rot-new
"$KADMIT" certs --out-dir "$cur" --ip 127.0.0.1 >/dev/null 2>&1
"$KADMIT" certs --out-dir "$new" --ip 127.0.0.1 >/dev/null 2>&1
cp "$cur/tls.crt" "$tmp/old-leaf.crt"
cat "$new/ca.crt" "$cur/ca.crt" >"$tmp/both.crt"
cp "$new/ca.key" "$new/tls.crt" "$new/tls.key" "$cur/"
mv "$tmp/both.crt" "$cur/ca.crt"
out=$("$KADMIT" certs --out-dir "$cur" --ip 127.0.0.1 2>&1)
contains "rotation: a two-CA bundle is kept" "$out" "ca: kept"
contains "rotation: the new leaf is kept" "$out" "leaf: kept"
check "rotation: the bundle trusts the new leaf" openssl verify -CAfile "$cur/ca.crt" "$cur/tls.crt"
check "rotation: the bundle still trusts the old leaf" openssl verify -CAfile "$cur/ca.crt" "$tmp/old-leaf.crt"
check "rotation: --print-ca-bundle carries both CAs" test "$("$KADMIT" certs --out-dir "$cur" --ip 127.0.0.1 --print-ca-bundle 2>/dev/null | base64 -d | grep -c 'BEGIN CERTIFICATE')" -eq 2
out=$("$KADMIT" certs --out-dir "$cur" --ip 127.0.0.1 --force 2>&1)
check "rotation: renewals sign with the new CA" openssl verify -CAfile "$new/ca.crt" "$cur/tls.crt"

# ---- key types ---------------------------------------------------------------------------------------
k=$tmp/rsa
"$KADMIT" certs --out-dir "$k" --key-type rsa-2048 --ip 127.0.0.1 >/dev/null 2>&1
leaf=$(openssl x509 -in "$k/tls.crt" -noout -text)
contains "rsa-2048 leaf is RSA" "$leaf" "rsaEncryption"
contains "rsa-2048 leaf is 2048 bits" "$leaf" "Public-Key: (2048 bit)"
contains "RSA leaf has keyEncipherment" "$leaf" "Key Encipherment"
contains "RSA leaf signed with sha256WithRSAEncryption" "$leaf" "sha256WithRSAEncryption"
check "rsa-2048 pair verifies" openssl verify -CAfile "$k/ca.crt" "$k/tls.crt"
k3=$tmp/p384
"$KADMIT" certs --out-dir "$k3" --key-type ecdsa-p384 --ip 127.0.0.1 >/dev/null 2>&1
leaf=$(openssl x509 -in "$k3/tls.crt" -noout -text)
contains "ecdsa-p384 leaf is P-384" "$leaf" "secp384r1"
contains "P-384 CA signs with SHA-384" "$leaf" "ecdsa-with-SHA384"
check "ecdsa-p384 pair verifies" openssl verify -CAfile "$k3/ca.crt" "$k3/tls.crt"
cp -r "$k3" "$tmp/p384-copy"
out=$("$KADMIT" certs --out-dir "$tmp/p384-copy" --key-type ecdsa-p256 --ip 127.0.0.1 2>&1)
contains "asking for another key type re-issues the leaf" "$out" "key type is not ecdsa-p256"

# ---- caBundle and webhook rendering -------------------------------------------------------------
bundle=$("$KADMIT" certs --out-dir "$d" --print-ca-bundle 2>/dev/null)
check "--print-ca-bundle prints one line" test "$(printf '%s\n' "$bundle" | wc -l)" -eq 1
check "--print-ca-bundle is base64 of ca.crt" test "$(printf '%s' "$bundle" | base64 -d)" = "$(cat "$d/ca.crt")"
check "--print-ca-bundle changes nothing" test "$before" = "$(sums "$d")"

"$KADMIT" certs --out-dir "$d" --render-webhooks "$tmp/hooks.yaml" --webhook-url https://127.0.0.1:9443 >/dev/null 2>&1
check "--render-webhooks FILE writes the file" test -s "$tmp/hooks.yaml"
check "rendered webhooks: URL clientConfig and the CA bundle" python3 - "$tmp/hooks.yaml" "$d/ca.crt" <<'EOF'
import base64, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
ca = open(sys.argv[2], "rb").read()
kinds = sorted(d["kind"] for d in docs)
assert kinds == ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"], kinds
for d in docs:
    for w in d["webhooks"]:
        cc = w["clientConfig"]
        assert base64.b64decode(cc["caBundle"]) == ca
        assert "service" not in cc, cc
        want = "/mutate" if d["kind"].startswith("Mutating") else "/validate"
        assert cc["url"] == "https://127.0.0.1:9443" + want, cc["url"]
EOF
svc=$("$KADMIT" certs --out-dir "$d" --render-webhooks - 2>/dev/null)
check "rendered webhooks (service): caBundle set, service kept" python3 -c '
import base64, sys, yaml
docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
ca = open(sys.argv[1], "rb").read()
assert len(docs) == 2
for d in docs:
    for w in d["webhooks"]:
        cc = w["clientConfig"]
        assert base64.b64decode(cc["caBundle"]) == ca
        assert cc["service"]["name"] == "kadmit" and cc["service"]["namespace"] == "kadmit-system"
' "$d/ca.crt" <<<"$svc"
out=$("$KADMIT" certs --out-dir "$tmp/ns" --namespace webhooks --service admit --render-webhooks - 2>/dev/null)
check "--namespace/--service reach the rendered service and namespaceSelector" python3 -c '
import sys, yaml
for d in (d for d in yaml.safe_load_all(sys.stdin) if d):
    for w in d["webhooks"]:
        s = w["clientConfig"]["service"]
        assert s["name"] == "admit" and s["namespace"] == "webhooks", s
        vals = w["namespaceSelector"]["matchExpressions"][0]["values"]
        assert "webhooks" in vals and "kadmit-system" not in vals, vals
' <<<"$out"
contains "--service names the leaf" "$(openssl x509 -in "$tmp/ns/tls.crt" -noout -text)" "DNS:admit.webhooks.svc"

# ---- bad input ------------------------------------------------------------------------------------
for args in "--ip not-an-ip" "--key-type dsa-1024" "--validity 0d" "--validity 10y" \
    "--dns bad_name!" "--service UPPER" "--no-such-flag" "--webhook-url https://x"; do
    # shellcheck disable=SC2086
    "$KADMIT" certs --out-dir "$tmp/bad" $args >/dev/null 2>&1
    check "bad input ($args) exits 2" test $? -eq 2
done
"$KADMIT" certs >/dev/null 2>&1
check "missing --out-dir exits 2" test $? -eq 2
"$KADMIT" certs --out-dir "$d" --render-webhooks - --webhook-url http://insecure >/dev/null 2>&1
check "a non-https --webhook-url is refused" test $? -ne 0
help=$("$KADMIT" certs --help)
check "--help exits 0" test $? -eq 0
for flag in --out-dir --service --namespace --dns --ip --key-type --ca-validity --validity \
    --renew-before --force --print-ca-bundle --render-webhooks --webhook-url --webhooks-template; do
    contains "--help lists $flag" "$help" "$flag"
done
"$KADMIT" certs --out-dir "$tmp/deep/er/dir" >/dev/null 2>&1
check "--out-dir parents are created (mkdir -p), the directory 0700" test "$(mode "$tmp/deep/er/dir")" = 700
touch "$tmp/file"
"$KADMIT" certs --out-dir "$tmp/file" >/dev/null 2>&1
check "--out-dir that is a file exits non-zero" test $? -ne 0

# ---- real TLS: openssl s_server with the certificate, curl trusting only ca.crt ------------------
# curl_tls PORT CAFILE [curl args]: HTTP status, or 000 when TLS fails.
curl_tls() {
    local port=$1 cafile=$2
    shift 2
    curl -sS --max-time 5 --cacert "$cafile" "$@" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/" 2>/dev/null
}
wait_listen() {
    for _ in $(seq 1 100); do
        if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}
s_server() { # DIR PORT
    openssl s_server -quiet -www -cert "$1/tls.crt" -key "$1/tls.key" -accept "127.0.0.1:$2" \
        >/dev/null 2>&1 </dev/null &
    pids+=($!)
    wait_listen "$2"
}
for dir in "$d" "$k" "$k3"; do
    port=$(free_port)
    if ! s_server "$dir" "$port"; then
        bad "openssl s_server ($(basename "$dir")) did not start"
        continue
    fi
    code=$(curl_tls "$port" "$dir/ca.crt")
    check "curl --cacert ca.crt accepts $(basename "$dir") leaf on 127.0.0.1 (HTTP $code)" test "$code" = 200
    code=$(curl -sS --max-time 5 --cacert "$dir/ca.crt" -o /dev/null -w '%{http_code}' \
        --resolve "kadmit.kadmit-system.svc:$port:127.0.0.1" "https://kadmit.kadmit-system.svc:$port/" 2>/dev/null)
    check "curl accepts it as kadmit.kadmit-system.svc (HTTP $code)" test "$code" = 200
    code=$(curl -sS --max-time 5 --cacert "$o/ca.crt" -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/" 2>/dev/null)
    check "curl trusting another CA refuses it" test "${code: -3}" = 000
    code=$(curl -sS --max-time 5 --cacert "$dir/ca.crt" -o /dev/null -w '%{http_code}' \
        --resolve "evil.example:$port:127.0.0.1" "https://evil.example:$port/" 2>/dev/null)
    check "curl refuses a name the certificate does not carry" test "${code: -3}" = 000
done

# ---- kadmit serve, when it exists: it presents the certificate and picks up renewals ----------
served_serial() { # PORT
    openssl s_client -connect "127.0.0.1:$1" -servername kadmit.kadmit-system.svc </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
file_serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
# wait_serial PORT FILE: until new connections get FILE's certificate (at most ~15s).
wait_serial() {
    local want
    want=$(file_serial "$2")
    for _ in $(seq 1 150); do
        [ "$(served_serial "$1")" = "$want" ] && return 0
        sleep 0.1
    done
    return 1
}
if "$KADMIT" serve --help >/dev/null 2>&1; then
    sd=$tmp/serve
    "$KADMIT" certs --out-dir "$sd" --ip 127.0.0.1 >/dev/null 2>&1
    port=$(free_port)
    mport=$(free_port)
    "$KADMIT" serve --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$mport" \
        --tls-cert "$sd/tls.crt" --tls-key "$sd/tls.key" >"$tmp/serve.log" 2>&1 &
    spid=$!
    pids+=("$spid")
    if wait_listen "$port" && wait_listen "$mport"; then
        code=$(curl -sS --max-time 5 --cacert "$sd/ca.crt" -o /dev/null -w '%{http_code}' \
            "https://127.0.0.1:$port/healthz" 2>/dev/null)
        check "kadmit serve: curl --cacert ca.crt completes TLS (HTTP $code)" test "${code: -3}" != 000
        code=$(curl -sS --max-time 5 --cacert "$sd/ca.crt" -o /dev/null -w '%{http_code}' \
            --resolve "kadmit.kadmit-system.svc:$port:127.0.0.1" \
            "https://kadmit.kadmit-system.svc:$port/healthz" 2>/dev/null)
        check "kadmit serve: accepted as kadmit.kadmit-system.svc (HTTP $code)" test "${code: -3}" != 000
        check "kadmit serve presents tls.crt" test "$(served_serial "$port")" = "$(file_serial "$sd/tls.crt")"
        "$KADMIT" certs --out-dir "$sd" --ip 127.0.0.1 --force >/dev/null 2>&1
        check "kadmit serve picks up a renewed certificate without a signal" wait_serial "$port" "$sd/tls.crt"
        "$KADMIT" certs --out-dir "$sd" --ip 127.0.0.1 --force >/dev/null 2>&1
        kill -HUP "$spid"
        check "kadmit serve picks up a renewed certificate on SIGHUP" wait_serial "$port" "$sd/tls.crt"
        code=$(curl -sS --max-time 5 --cacert "$sd/ca.crt" -o /dev/null -w '%{http_code}' \
            "https://127.0.0.1:$port/healthz" 2>/dev/null)
        check "kadmit serve: the same ca.crt still trusts it after renewals" test "${code: -3}" != 000
        na=$(seconds "$(openssl x509 -in "$sd/tls.crt" -noout -enddate | cut -d= -f2)")
        m=$(curl -s --max-time 5 "http://127.0.0.1:$mport/metrics" | grep '^kadmit_tls_certificate_expiry_timestamp_seconds' | awk '{print $2}')
        check "kadmit_tls_certificate_expiry_timestamp_seconds is the renewed notAfter ($m)" test "${m%.*}" = "$na"
        check "kadmit serve still running" kill -0 "$spid"
    else
        bad "kadmit serve did not start: $(tail -3 "$tmp/serve.log")"
    fi
else
    echo "note - kadmit serve is not built yet: TLS checked against openssl s_server only"
fi

finish
