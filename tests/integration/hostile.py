#!/usr/bin/env python3
"""Hostile clients against a running `kadmit serve` on loopback.

    hostile.py --port P --metrics-port M --ca CA.crt --pid PID [--idle N]

Every case sends something a broken or malicious client could send and checks the answer: a
clear 4xx, a well-formed AdmissionReview deny, or the connection closed by the server (for
bytes that are not TLS or never finish). Meanwhile a probe thread sends a well-formed review
every 50 ms on a fresh connection, and every probe must succeed. Resident memory of the server
(VmRSS/VmHWM from /proc/PID/status) is printed after each heavy case and must stay under
--max-rss-mb. Prints one line per check and "N passed, M failed"; exits 1 on any failure.

Timeouts in this file only stop a hung check; no check asserts how fast the server is.
"""
import argparse
import base64
import copy
import json
import os
import socket
import ssl
import sys
import threading
import time

HOST = "127.0.0.1"
GUARD = 60.0  # seconds before a check that waits for the server gives up

# ------------------------------------------------------------------------------ reporting

passed = 0
failed = 0
lock = threading.Lock()


def check(name, ok, detail=""):
    global passed, failed
    with lock:
        if ok:
            passed += 1
            print("ok   " + name, flush=True)
        else:
            failed += 1
            print("FAIL " + name + (": " + detail if detail else ""), flush=True)


def memory(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "Threads"):
                    out[k] = int(v.split()[0])
        with open("/proc/%d/limits" % pid):
            pass
        out["fds"] = len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        pass
    return out


def show_memory(pid, when):
    m = memory(pid)
    print("mem  %-40s VmRSS %6.1f MiB  VmHWM %6.1f MiB  fds %5s  threads %s" % (
        when, m.get("VmRSS", 0) / 1024, m.get("VmHWM", 0) / 1024, m.get("fds", "?"),
        m.get("Threads", "?")), flush=True)
    return m


# ------------------------------------------------------------------------------ requests

POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "agent-0", "namespace": "ai-agents", "labels": {"app": "agent"},
                 "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}},
    "spec": {
        "terminationGracePeriodSeconds": 120,
        "containers": [
            {"name": "agent", "image": "registry.chaozcode.com/agent:2.4.0",
             "ports": [{"name": "http", "containerPort": 8080}],
             "resources": {"requests": {"cpu": "500m", "memory": "1Gi"},
                           "limits": {"cpu": "2", "memory": "4Gi"}},
             "readinessProbe": {"httpGet": {"path": "/health/ready", "port": 8080}},
             "livenessProbe": {"httpGet": {"path": "/health/live", "port": 8080},
                               "initialDelaySeconds": 30, "periodSeconds": 20}},
            {"name": "metrics-sidecar", "image": "registry.chaozcode.com/agent-metrics:1.2.0",
             "ports": [{"containerPort": 9090}],
             "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                           "limits": {"cpu": "100m", "memory": "128Mi"}}}]}}


def review(uid="hostile", obj=None, op="CREATE"):
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "resource": {"group": "", "version": "v1", "resource": "pods"},
                        "namespace": "ai-agents", "name": "agent-0", "operation": op,
                        "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters"]},
                        "object": copy.deepcopy(POD) if obj is None else obj,
                        "oldObject": None, "dryRun": False}}


class Conn:
    """One TLS connection with a tiny HTTP/1.1 client, so requests can be malformed."""

    def __init__(self, args, timeout=GUARD, source=None):
        self.args = args
        raw = socket.create_connection((HOST, args.port), timeout=timeout,
                                       source_address=(source, 0) if source else None)
        self.sock = args.ctx.wrap_socket(raw, server_hostname=HOST)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def post(self, path, body, ctype="application/json", extra=b""):
        head = ("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                % (path, HOST, ctype, len(body))).encode() + extra + b"\r\n"
        self.send(head + body)
        return self.response()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def response(self):
        """(status, headers dict, body bytes); EOFError when the server closes first."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def closed_by_server(self, guard=GUARD):
        """True when the server closes (EOF, reset or TLS alert) within `guard` seconds."""
        self.sock.settimeout(guard)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ssl.SSLError, ConnectionError, EOFError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def post_once(args, path, body, **kw):
    c = Conn(args)
    try:
        return c.post(path, body, **kw)
    finally:
        c.close()


def admission_answer(status, body):
    """'allow', 'deny' (with a message), '4xx' or None (malformed answer)."""
    if 400 <= status < 500:
        return "4xx"
    if status != 200:
        return None
    try:
        text = body.decode("utf-8")  # strict: a response must be UTF-8
        r = json.loads(text)["response"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    if r.get("allowed") is True:
        return "allow"
    msg = (r.get("status") or {}).get("message")
    if r.get("allowed") is False and isinstance(msg, str) and msg:
        return "deny"
    return None


def expect_reject(args, name, body, allow_ok=False, path="/validate"):
    """A 4xx or a deny (or, with allow_ok, a well-formed allow); never a malformed answer."""
    try:
        status, _, resp = post_once(args, path, body)
    except (OSError, EOFError, ssl.SSLError) as e:
        check(name, False, "no answer: %r" % e)
        return None
    got = admission_answer(status, resp)
    ok = got in ("4xx", "deny") or (allow_ok and got == "allow")
    check("%s -> %s" % (name, "HTTP %d" % status if got == "4xx" else got), ok,
          "HTTP %d %r" % (status, resp[:300]))
    return got


# ------------------------------------------------------------------------------ the probe


class Probe(threading.Thread):
    """A well-formed review every 50 ms on a fresh connection; every one must succeed."""

    def __init__(self, args):
        super().__init__(daemon=True)
        self.args = args
        self.stop = threading.Event()
        self.ok = 0
        self.errors = []
        self.n = 0

    def run(self):
        while not self.stop.is_set():
            self.n += 1
            uid = "probe-%d" % self.n
            body = json.dumps(review(uid)).encode()
            try:
                status, _, resp = post_once(self.args, "/validate", body)
                r = json.loads(resp)["response"]
                if status == 200 and r["uid"] == uid and r["allowed"] is True:
                    self.ok += 1
                else:
                    self.errors.append("HTTP %d %r during %s" % (status, resp[:200],
                                                                 self.args.phase))
            except Exception as e:  # noqa: BLE001 - every failure counts
                self.errors.append("%s during %s" % (repr(e), self.args.phase))
            self.stop.wait(0.05)


# ------------------------------------------------------------------------------ cases


def client_hello():
    """The bytes of a real TLS ClientHello."""
    ctx = ssl.create_default_context()
    out, inc = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=HOST)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def raw(args, source=None, port=None):
    return socket.create_connection((HOST, port or args.port), timeout=GUARD,
                                    source_address=(source, 0) if source else None)


def sources(first, n):
    """n loopback source addresses 127.0.F.1, 127.0.F.2, ... (all of 127/8 reaches the server)."""
    return ["127.0.%d.%d" % (first + i // 250, 1 + i % 250) for i in range(n)]


def get_metrics_port(args, path, timeout=GUARD):
    """(status, body) of GET path on the metrics port, from 127.0.0.1."""
    s = socket.create_connection((HOST, args.metrics_port), timeout=timeout)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                   % (path, HOST)).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def under_attack(args, what):
    """Figures while an attack is on: RSS, and /validate and /readyz answered (and how long they
    took: printed, never asserted). Checks the outcomes: both answered, RSS under the
    Deployment's memory limit."""
    t0 = time.monotonic()
    try:
        st, _, resp = post_once(args, "/validate", json.dumps(review("during-" + what)).encode())
    except (OSError, EOFError, ssl.SSLError) as e:
        st, resp = 0, repr(e).encode()
    t1 = time.monotonic()
    try:
        rst, rbody = get_metrics_port(args, "/readyz")
    except OSError as e:
        rst, rbody = 0, repr(e).encode()
    t2 = time.monotonic()
    m = memory(args.pid)
    rss = m.get("VmRSS", 0) / 1024
    print("figure %-18s RSS %6.1f MiB  /validate %7.1f ms (HTTP %d)  /readyz %7.1f ms (HTTP %d)"
          % (what, rss, (t1 - t0) * 1000, st, (t2 - t1) * 1000, rst), flush=True)
    check("%s: /validate answered during the attack" % what, st == 200, "HTTP %d %r" % (st, resp[:200]))
    check("%s: /readyz answered during the attack" % what, rst in (200, 503), "HTTP %d" % rst)
    check("%s: RSS %.0f MiB under the Deployment limit %d MiB" % (what, rss, args.limit_mb),
          0 < rss < args.limit_mb)
    return rst, rbody


def raw_closed(sock, guard=GUARD):
    """(closed, data): closed when the server ends the connection within `guard`."""
    sock.settimeout(guard)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True, data
            data += chunk
    except ConnectionError:
        return True, data
    except socket.timeout:
        return False, data


def case_tls_garbage(args):
    s = raw(args)
    s.sendall(os.urandom(4096))
    closed, data = raw_closed(s)
    check("random bytes instead of TLS: connection closed", closed)
    s.close()

    s = raw(args)
    s.sendall(b"\x16\x03\x01\xff\xff" + os.urandom(600))  # handshake record, absurd length
    closed, _ = raw_closed(s)
    check("TLS record header with a bad length: connection closed", closed)
    s.close()

    hello = client_hello()
    s = raw(args)
    s.sendall(hello[: len(hello) // 2])  # truncated ClientHello, then silence
    closed, _ = raw_closed(s)
    check("truncated ClientHello then silence: closed (handshake timeout)", closed)
    s.close()

    mangled = bytearray(hello)
    for i in range(5, len(mangled), 7):
        mangled[i] ^= 0x5A
    s = raw(args)
    s.sendall(bytes(mangled))
    closed, _ = raw_closed(s)
    check("mangled ClientHello: connection closed", closed)
    s.close()

    # After a good handshake: a record with a bad MAC, then a truncated record.
    c = Conn(args)
    rawsock = socket.socket(fileno=os.dup(c.sock.fileno()))
    rawsock.sendall(b"\x17\x03\x03\x00\x40" + os.urandom(64))  # application data, bad MAC
    check("forged application-data record after the handshake: closed",
          c.closed_by_server())
    rawsock.close()
    c.close()

    c = Conn(args)
    rawsock = socket.socket(fileno=os.dup(c.sock.fileno()))
    rawsock.sendall(b"\x17\x03\x03\x40\x00" + os.urandom(10))  # announces 16 KiB, sends 10
    time.sleep(1)
    st, _, body = post_once(args, "/validate", json.dumps(review("beside-truncated")).encode())
    check("server answers others while a record is truncated", st == 200, "HTTP %d" % st)
    rawsock.close()
    c.close()


def case_plaintext(args):
    s = raw(args)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    closed, data = raw_closed(s)
    st = data.split(b" ", 2)[1] if data.startswith(b"HTTP/") else b""
    check("plaintext HTTP on the TLS port: a readable 400, then closed",
          closed and st == b"400" and b"HTTPS" in data, repr(data[:200]))
    s.close()
    s = raw(args)
    body = json.dumps(review("plain")).encode()
    s.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    closed, data = raw_closed(s)
    check("plaintext POST /validate on the TLS port: not answered as a review",
          closed and b"AdmissionReview" not in data, repr(data[:200]))
    s.close()


def case_idle(args):
    n_tls = args.idle
    n_raw = max(args.idle // 5, 1)
    show_memory(args.pid, "before %d idle connections" % n_tls)
    conns, errors = [], 0
    srcs = sources(40, max(1, n_tls // 100))  # 100 per address, under the per-source cap
    for i in range(n_tls):
        try:
            conns.append(Conn(args, timeout=30, source=srcs[i % len(srcs)]))
        except (OSError, ssl.SSLError):
            errors += 1
    check("%d idle TLS connections opened (%d refused)" % (len(conns), errors),
          len(conns) >= n_tls * 0.99, "only %d" % len(conns))
    raws = []
    for _ in range(n_raw):
        try:
            raws.append(raw(args))
        except OSError:
            pass
    m = show_memory(args.pid, "with %d TLS + %d raw idle" % (len(conns), len(raws)))
    args.peak_idle = m
    # the server still answers, on fresh connections and on an old idle one
    st, _, _ = post_once(args, "/validate", json.dumps(review("beside-idle")).encode())
    check("a review is answered beside %d idle connections" % len(conns), st == 200,
          "HTTP %d" % st)
    if conns:
        st, _, _ = conns[len(conns) // 2].post("/mutate", json.dumps(review("on-idle")).encode())
        check("an idle connection from the middle still works", st == 200, "HTTP %d" % st)
    # connections that never say hello are dropped at the handshake timeout
    closed = sum(1 for s in raws[:50] if raw_closed(s)[0])
    check("idle connections without a ClientHello are closed by the server",
          closed == min(50, len(raws)), "%d of %d closed" % (closed, min(50, len(raws))))
    for c in conns:
        c.close()
    for s in raws:
        s.close()
    base = args.base_fds + 20
    start = time.monotonic()
    while time.monotonic() - start < GUARD and memory(args.pid).get("fds", 0) > base:
        time.sleep(0.5)
    m = show_memory(args.pid, "after closing them (%.0f s)" % (time.monotonic() - start))
    check("every descriptor is released after the clients close (%s open)" % m.get("fds"),
          m.get("fds", base + 1) <= base)


def dripped_until_closed(c, byte):
    """Send `byte` every 200 ms for up to GUARD seconds: True when the server closed first."""
    start = time.monotonic()
    try:
        while time.monotonic() - start < GUARD:
            c.send(byte)
            time.sleep(0.2)
    except (OSError, ssl.SSLError):
        return True
    return c.closed_by_server(1)


def case_slow(args):
    c = Conn(args)
    c.send(b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    # one byte per 200 ms of an endless header: must be cut off by the server
    check("slowloris headers (1 byte / 200 ms): closed by the server",
          dripped_until_closed(c, b"X"))
    c.close()

    c = Conn(args)
    c.send(b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Content-Length: 100000\r\n\r\n{")
    check("slow body (1 byte / 200 ms): closed by the server", dripped_until_closed(c, b" "))
    c.close()

    c = Conn(args)
    c.send(b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Content-Length: 5000\r\n\r\n{\"a\":")
    check("body that stops half-way: closed by the server", c.closed_by_server())
    c.close()


def case_limits(args):
    limit = args.max_body
    c = Conn(args)
    c.send(b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % (limit + 1))
    try:
        st, _, _ = c.response()
    except (EOFError, OSError, ssl.SSLError):
        st = 0
    check("Content-Length one past --max-body-bytes: 413 before the body", st == 413,
          "HTTP %d" % st)
    c.close()

    c = Conn(args)
    c.send(b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Content-Length: 99999999999999999999999999\r\n\r\n")
    try:
        st, _, _ = c.response()
    except (EOFError, OSError, ssl.SSLError):
        st = 0
    check("absurd Content-Length: a 4xx", 400 <= st < 500, "HTTP %d" % st)
    c.close()

    c = Conn(args)
    c.send(b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"[" * 1 + b" " * 65535
    sent = 0
    st = 0
    try:
        while sent <= limit + 65536:
            c.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            sent += len(chunk)
        c.send(b"0\r\n\r\n")
        st, _, _ = c.response()
    except (EOFError, OSError, ssl.SSLError):
        st = -1  # closed while we were still sending: refused too
    check("chunked body past --max-body-bytes: 413 or closed", st in (413, -1), "HTTP %d" % st)
    c.close()
    show_memory(args.pid, "after over-limit bodies")

    big = b"X" * (20 * 1024)
    c = Conn(args)
    c.send(b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + big + b"\r\n\r\n")
    try:
        st, _, _ = c.response()
    except (EOFError, OSError, ssl.SSLError):
        st = -1
    check("20 KiB header: 431 or closed", st in (431, 413, 400, -1), "HTTP %d" % st)
    c.close()

    c = Conn(args)
    body = json.dumps(review("both")).encode()
    c.send(b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
           + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    try:
        st, _, resp = c.response()
        got = admission_answer(st, resp)
    except (EOFError, OSError, ssl.SSLError):
        st, got = -1, "closed"
    check("Content-Length and Transfer-Encoding together: 4xx, closed or one whole review",
          got in ("4xx", "closed", "allow"), "HTTP %d" % st)
    c.close()

    for method, path, want in (("GET", "/validate", 405), ("PUT", "/mutate", 405),
                               ("POST", "/nope", 404), ("GET", "/../../etc/passwd", 404)):
        c = Conn(args)
        c.send(("%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" % (method, path))
               .encode())
        try:
            st, _, _ = c.response()
        except (EOFError, OSError, ssl.SSLError):
            st = -1
        check("%s %s: %d" % (method, path, want), st == want or (400 <= st < 500),
              "HTTP %d" % st)
        c.close()
    st, _, _ = post_once(args, "/validate", json.dumps(review("ct")).encode(), ctype="text/plain")
    check("Content-Type text/plain: 415", st == 415, "HTTP %d" % st)

    c = Conn(args)
    n = 50
    req = json.dumps(review("pipelined")).encode()
    one = (b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\n\r\n" % len(req)) + req
    c.send(one * n)
    answered = 0
    try:
        for _ in range(n):
            st, _, _ = c.response()
            answered += st == 200
    except (EOFError, OSError, ssl.SSLError):
        pass
    check("%d pipelined reviews on one connection all answered" % n, answered == n,
          "%d answered" % answered)
    c.close()


def case_json(args):
    head = b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"deep",'
    deep = head + b'"x":' + b"[" * 100000 + b"]" * 100000 + b"}}"
    expect_reject(args, "JSON nested 100,000 deep", deep)
    deep_obj = head + b'"x":' + b'{"a":' * 100000 + b"1" + b"}" * 100000 + b"}}"
    expect_reject(args, "objects nested 100,000 deep", deep_obj)

    r = review("million")
    r["request"]["object"]["spec"]["x"] = [0] * 1000000
    expect_reject(args, "array with a million elements (in a valid review)",
                  json.dumps(r, separators=(",", ":")).encode(), allow_ok=True)
    show_memory(args.pid, "after a million-element array")
    r = review("containers")
    r["request"]["object"]["spec"]["containers"] = [{}] * 250000
    expect_reject(args, "250,000 empty containers", json.dumps(r, separators=(",", ":")).encode())
    expect_reject(args, "250,000 empty containers (mutate)",
                  json.dumps(r, separators=(",", ":")).encode(), path="/mutate", allow_ok=True)
    m1 = show_memory(args.pid, "after 250,000 containers")
    # the same heavy requests again: memory must come back, not grow per request
    big = review("million-again")
    big["request"]["object"]["spec"]["x"] = [0] * 1000000
    body = json.dumps(big, separators=(",", ":")).encode()
    for _ in range(5):
        post_once(args, "/validate", body)
        post_once(args, "/mutate", json.dumps(r, separators=(",", ":")).encode())
    m2 = show_memory(args.pid, "after 5 more rounds of both")
    check("no growth per heavy request (VmRSS %.0f -> %.0f MiB over 5 rounds)" % (
        m1.get("VmRSS", 0) / 1024, m2.get("VmRSS", 0) / 1024),
        m2.get("VmRSS", 0) < m1.get("VmRSS", 0) * 1.5 + 64 * 1024)
    r = review("env")
    r["request"]["object"]["spec"]["containers"][0]["env"] = [
        {"name": "API_KEY_%d" % i, "value": "x"} for i in range(60000)]
    expect_reject(args, "60,000 literal secrets in env", json.dumps(r).encode())

    good = json.dumps(review("utf8")).encode()
    for label, body in (
            ("invalid UTF-8 in uid", good.replace(b'"utf8"', b'"\xff\xfe"')),
            ("invalid UTF-8 in a container name", good.replace(b'"agent"', b'"ag\xc3\x28nt"')),
            ("overlong UTF-8 encoding", good.replace(b'"agent"', b'"\xc0\xafagent"')),
            ("UTF-8 encoded surrogate", good.replace(b'"agent"', b'"\xed\xa0\x80"')),
            ("lone surrogate escape", good.replace(b'"agent"', b'"\\ud800"')),
            ("NUL escape in a name", good.replace(b'"agent"', b'"ag\\u0000ent"')),
            ("raw NUL byte in a name", good.replace(b'"agent"', b'"ag\x00ent"')),
            ("byte-order mark before the JSON", b"\xef\xbb\xbf" + good)):
        expect_reject(args, label, body, allow_ok=not label.startswith(("invalid", "overlong",
                                                                          "UTF-8 enc")))

    dup = (b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{'
           b'"uid":"dup-1","uid":"dup-2","kind":{"group":"","version":"v1","kind":"Pod"},'
           b'"operation":"CREATE","namespace":"ai-agents","object":'
           + json.dumps(POD).encode()[:-1] + b',"spec":{"containers":[{"name":"x","image":"x"}]}}}}')
    expect_reject(args, "duplicate keys (uid twice, spec twice)", dup, allow_ok=True)

    for label, body in (("empty body", b""), ("[]", b"[]"), ("{}", b"{}"), ("null", b"null"),
                        ("a number", b"12"), ("a string", b'"AdmissionReview"'),
                        ("a Pod, not a review", json.dumps(POD).encode()),
                        ("AdmissionReview v2", json.dumps(dict(review(), apiVersion=
                                                               "admission.k8s.io/v2")).encode()),
                        ("kind AdmissionResponse", json.dumps(dict(review(), kind=
                                                                   "AdmissionResponse")).encode()),
                        ("no request", json.dumps({"apiVersion": "admission.k8s.io/v1",
                                                   "kind": "AdmissionReview"}).encode()),
                        ("truncated JSON", json.dumps(review()).encode()[:-3]),
                        ("trailing garbage", json.dumps(review()).encode() + b"}]garbage"),
                        ("two reviews back to back", json.dumps(review()).encode() * 2)):
        expect_reject(args, "not an AdmissionReview: " + label, body)

    for label, uid in (("missing uid", None), ("empty uid", ""), ("uid a number", 7),
                       ("uid null", None), ("uid an object", {"a": 1}), ("uid 4 KiB", "u" * 4096)):
        r = review()
        if label == "missing uid":
            del r["request"]["uid"]
        else:
            r["request"]["uid"] = uid
        expect_reject(args, label, json.dumps(r).encode())


def paths_of(node, prefix=()):
    """Every path (tuple of keys/indexes) in a JSON tree."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths_of(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths_of(v, prefix + (i,))


def set_at(tree, path, value):
    node = tree
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def case_wrong_types(args):
    """Every field of the review (envelope and object) replaced by each value of another type."""
    base = review("types")
    base["request"]["oldObject"] = copy.deepcopy(POD)
    base["request"]["operation"] = "UPDATE"
    samples = {"string": "x", "number": 7, "bool": True, "array": [1], "object": {"k": 1},
               "null": None}

    def type_name(v):
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, (int, float)):
            return "number"
        if isinstance(v, str):
            return "string"
        if isinstance(v, list):
            return "array"
        if isinstance(v, dict):
            return "object"
        return "null"

    total = bad = envelope_allows = 0
    for path in list(paths_of(base)):
        if not path:
            continue
        node = base
        for p in path:
            node = node[p]
        for tname, sample in samples.items():
            if tname == type_name(node):
                continue
            r = copy.deepcopy(base)
            set_at(r, path, sample)
            total += 1
            try:
                status, _, resp = post_once(args, "/validate", json.dumps(r).encode())
                got = admission_answer(status, resp)
            except (OSError, EOFError, ssl.SSLError) as e:
                got, status, resp = None, 0, repr(e).encode()
            in_object = len(path) > 2 and path[1] in ("object", "oldObject")
            if got is None:
                bad += 1
                print("     %s = %s: malformed answer HTTP %d %r" % (
                    "/".join(map(str, path)), tname, status, resp[:160]))
            elif got == "allow" and not in_object and tname != "null":
                envelope_allows += 1
                print("     %s = %s: allowed" % ("/".join(map(str, path)), tname))
    check("%d wrong-type variants of every field: all answered well-formed" % total, bad == 0,
          "%d malformed" % bad)
    check("wrong types in the AdmissionReview envelope: 4xx or deny, never allow",
          envelope_allows == 0, "%d allowed" % envelope_allows)


def case_conn_flood(args):
    """Plain TCP connects that never say hello, from many addresses, far past --max-connections
    (default 1024): each new one evicts the oldest handshaking one, so the probe (from
    127.0.0.1) keeps getting through and /readyz stays ready."""
    n = args.flood
    socks = []
    for i, src in enumerate(sources(10, 40)):
        for _ in range(n // 40):
            try:
                socks.append(raw(args, source=src))
            except OSError:
                pass
    rst, body = under_attack(args, "conn-flood")
    check("conn-flood: %d plain connects; /readyz still ready (all evictable)" % len(socks),
          rst == 200, body.decode("latin-1")[:200])
    closed = sum(1 for s in socks[: n // 2] if raw_closed(s, 5)[0])
    check("conn-flood: the oldest half were evicted or timed out (%d of %d closed)"
          % (closed, n // 2), closed == n // 2)
    for s in socks:
        s.close()


def case_body_flood(args):
    """100 senders stall after 3 MiB - 1 byte of a 3 MiB body: the buffered-body budget sheds the
    slowest, so memory stays under the Deployment's limit and the probe's reviews still fit."""
    n = 100
    size = args.max_body
    head = ("POST /validate HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n" % (HOST, size)).encode()
    chunk = b" " * (size - 1)
    conns = []
    for src in sources(60, 4):
        for _ in range(n // 4):
            try:
                c = Conn(args, source=src)
                c.send(head + chunk)
                conns.append(c)
            except (OSError, ssl.SSLError):
                pass
    time.sleep(0.5)
    under_attack(args, "body-flood")
    closed = sum(1 for c in conns if c.closed_by_server(0.2))
    print("figure body-flood       %d of %d stalled senders shed or closed so far" % (closed, n),
          flush=True)
    check("body-flood: stalled senders were shed (%d of %d closed)" % (closed, len(conns)),
          closed > 0)
    for c in conns:
        c.close()


def selector_bomb():
    labels = {"l%d" % i: "v" for i in range(45000)}
    labels["app"] = "memory-spine"
    exprs = [{"key": "x%d" % i, "operator": "DoesNotExist"} for i in range(30000)]
    dep = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "bomb", "namespace": "ai-agents"},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "memory-spine"}},
                    "template": {"metadata": {"labels": labels},
                                 "spec": {"affinity": {"podAntiAffinity": {
                                     "requiredDuringSchedulingIgnoredDuringExecution": [
                                         {"topologyKey": "kubernetes.io/hostname",
                                          "labelSelector": {"matchExpressions": exprs}}]}},
                                     "containers": copy.deepcopy(POD["spec"]["containers"][:1])}}}}
    r = review("bomb", dep)
    r["request"]["kind"] = {"group": "apps", "version": "v1", "kind": "Deployment"}
    r["request"]["resource"] = {"group": "apps", "version": "v1", "resource": "deployments"}
    return json.dumps(r).encode()


def case_selector_bomb(args):
    """45,000 labels and a required anti-affinity term of 30,000 DoesNotExist expressions: label
    lookups are hashed and the selector is over KA_MAX_SELECTOR_REQUIREMENTS, so the review is
    cheap and denied; reviews beside it are not starved."""
    body = selector_bomb()
    stop = threading.Event()
    answers = []

    def bomber():
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                st, _, resp = post_once(args, "/validate", body)
                answers.append((st, admission_answer(st, resp), time.monotonic() - t0))
            except (OSError, EOFError, ssl.SSLError) as e:
                answers.append((0, repr(e), time.monotonic() - t0))

    threads = [threading.Thread(target=bomber, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    under_attack(args, "selector-bomb")
    stop.set()
    for t in threads:
        t.join(GUARD)
    took = sorted(a[2] for a in answers)
    if took:
        print("figure selector-bomb    %.1f MB body: %d reviews, median %.0f ms, max %.0f ms"
              % (len(body) / 1e6, len(took), took[len(took) // 2] * 1000, took[-1] * 1000),
              flush=True)
    check("selector-bomb: every bomb answered with a deny (%d)" % len(answers),
          answers and all(a[1] == "deny" for a in answers), repr(answers[:3]))
    st, _, resp = post_once(args, "/validate", body)
    check("selector-bomb: the denial names the selector limit (KA_MAX_SELECTOR_REQUIREMENTS)",
          b"more than 256 requirements" in resp, resp[:300])


def case_metrics_flood(args):
    """Idle TCP connections to the metrics/health port from many addresses: each address gets
    --metrics-connections-per-source (8), idle ones are closed after --metrics-timeout (5 s),
    and kubelet's /readyz (from its own address, 127.0.0.1 here) is still answered."""
    socks = []
    for src in sources(80, 30):
        for _ in range(20):
            try:
                socks.append(raw(args, source=src, port=args.metrics_port))
            except OSError:
                pass
    time.sleep(0.3)
    rst, body = under_attack(args, "metrics-flood")
    check("metrics-flood: /readyz from the prober's address is 200 beside %d stray connections"
          % len(socks), rst == 200, body.decode("latin-1")[:200])
    closed = sum(1 for s in socks if raw_closed(s, 10)[0])
    check("metrics-flood: stray connections closed (per-source cap, then --metrics-timeout): "
          "%d of %d" % (closed, len(socks)), closed == len(socks))
    for s in socks:
        s.close()


def case_series_flood(args):
    """Reviews with made-up kinds and operations: no new metric series, and a real denial after
    them is still counted under its own labels (not _other)."""
    before = get_metrics_port(args, "/metrics")[1].decode()
    for i in range(600):
        r = review("series-%d" % i)
        r["request"]["kind"]["kind"] = "Kind%d" % i
        r["request"]["operation"] = "OP%d" % (i % 7)
        try:
            post_once(args, "/validate", json.dumps(r).encode())
        except (OSError, EOFError, ssl.SSLError):
            pass
    bad = copy.deepcopy(POD)
    bad["spec"]["containers"][0]["image"] = "miner:latest"
    st, _, resp = post_once(args, "/validate", json.dumps(review("series-deny", bad)).encode())
    check("series-flood: a real denial after the flood", admission_answer(st, resp) == "deny")
    text = get_metrics_port(args, "/metrics")[1].decode()
    series = [l for l in text.splitlines() if l.startswith("kadmit_admission_requests_total{")]
    print("figure series-flood     %d request series after 600 made-up kinds (%d before)"
          % (len(series), before.count("kadmit_admission_requests_total{")), flush=True)
    check("series-flood: no made-up kind became a series",
          not any("Kind" in l or "OP" in l for l in series))
    check("series-flood: nothing counted under _other",
          not any('"_other"' in l and not l.endswith(" 0") for l in text.splitlines()))
    check("series-flood: the denial is counted as kind=Pod, decision=denied",
          any('kind="Pod",operation="CREATE",decision="denied"' in l for l in series))


# ------------------------------------------------------------------------------ main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--metrics-port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--idle", type=int, default=5000, help="idle TLS connections (default 5000)")
    ap.add_argument("--max-body", type=int, default=3 * 1024 * 1024)
    ap.add_argument("--max-rss-mb", type=int, default=1024)
    ap.add_argument("--only", default="", help="comma-separated case names")
    ap.add_argument("--flood", type=int, default=4000, help="connections in conn-flood")
    ap.add_argument("--limit-mb", type=int, default=256,
                    help="memory limit of the Deployment: RSS under attack stays below it")
    args = ap.parse_args()
    args.ctx = ssl.create_default_context(cafile=args.ca)
    args.peak_idle = {}
    args.phase = "start"

    cases = [("tls", case_tls_garbage), ("plaintext", case_plaintext), ("limits", case_limits),
             ("json", case_json), ("types", case_wrong_types), ("slow", case_slow),
             ("idle", case_idle), ("conn-flood", case_conn_flood), ("body-flood", case_body_flood),
             ("selector-bomb", case_selector_bomb), ("metrics-flood", case_metrics_flood),
             ("series-flood", case_series_flood)]
    only = set(filter(None, args.only.split(",")))
    args.base_fds = show_memory(args.pid, "start").get("fds", 12)
    probe = Probe(args)
    probe.start()
    for name, fn in cases:
        if only and name not in only:
            continue
        print("---- %s" % name, flush=True)
        args.phase = name
        try:
            fn(args)
        except Exception as e:  # noqa: BLE001 - a crash of the client is a failed check
            check("case %s ran to the end" % name, False, repr(e))
    probe.stop.set()
    probe.join()
    check("probe: %d well-formed reviews answered during the attacks, %d failed"
          % (probe.ok, len(probe.errors)), probe.ok > 0 and not probe.errors,
          "; ".join(probe.errors[:5]))
    m = show_memory(args.pid, "end")
    alive = os.path.exists("/proc/%d" % args.pid)
    check("the server process is still running", alive)
    check("peak resident memory VmHWM %.0f MiB under %d MiB" % (m.get("VmHWM", 0) / 1024,
                                                               args.max_rss_mb),
          0 < m.get("VmHWM", 0) / 1024 < args.max_rss_mb)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
