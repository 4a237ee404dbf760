#!/usr/bin/env python3
"""Steady admission load against `kadmit serve`, for the fault tests.

    load.py --port P --ca CA.crt [--threads 8] [--stop-file F] [--until-refused]
            [--drain-file F] [--expect-deny] [--serial-log F] [--reconnect-every N]

Each thread keeps one keep-alive TLS connection (like the API server) and sends AdmissionReview
requests back to back, alternating /validate and /mutate. It stops when --stop-file exists, or,
with --until-refused, when the server no longer accepts connections (after SIGTERM).

A request counts as FAILED when its bytes were sent and no complete 200 answer with the same uid
came back, or when a new connection could not be set up while the server was accepting.
Before reusing an idle connection the client checks whether the server closed it (as Go's HTTP
transport does with its background read), and opens a new one if so. With --until-refused, a
refused connect ends the thread and is counted as refused, not failed: after SIGTERM the server
stops accepting and Kubernetes stops routing to it.

With --expect-deny, the validate request is a pod the policy denies: an answer that allows it
is counted as WRONG (used when a broken policy is written during the run).
With --serial-log, the serial number of the server certificate of each new connection is
appended to that file (used for certificate rotation).

Prints one JSON line: {"sent":..,"ok":..,"failed":..,"wrong":..,"refused":..,"errors":[..]}.
"""
import argparse
import hashlib
import json
import os
import select
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from kaclient import read_response  # noqa: E402  (tests/integration/lib)

HOST = "127.0.0.1"


def body(uid, deny):
    containers = [{"name": "agent", "image": "registry.chaozcode.com/agent:2.4.0",
                   "ports": [{"name": "http", "containerPort": 8080}],
                   "resources": {"requests": {"cpu": "500m", "memory": "1Gi"},
                                 "limits": {"cpu": "2", "memory": "4Gi"}},
                   "readinessProbe": {"httpGet": {"path": "/health/ready", "port": 8080}},
                   "livenessProbe": {"httpGet": {"path": "/health/live", "port": 8080}}}]
    if deny:
        containers[0]["env"] = [{"name": "OPENAI_API_KEY", "value": "sk-live-123"}]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "agent-0", "namespace": "ai-agents", "labels": {"app": "agent"}},
           "spec": {"terminationGracePeriodSeconds": 120, "containers": containers}}
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "request": {"uid": uid,
                                   "kind": {"group": "", "version": "v1", "kind": "Pod"},
                                   "namespace": "ai-agents", "operation": "CREATE",
                                   "object": pod}}).encode()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = self.ok = self.failed = self.wrong = self.refused = 0
        self.errors = []

    def add(self, field, err=None):
        with self.lock:
            setattr(self, field, getattr(self, field) + 1)
            if err and len(self.errors) < 20:
                self.errors.append(err)


def server_closed(sock):
    """True when an idle connection has a pending EOF/close from the server."""
    r, _, _ = select.select([sock], [], [], 0)
    if not r:
        return False
    try:
        sock.setblocking(False)
        data = sock.recv(1)
        return data == b""
    except ssl.SSLWantReadError:
        return False
    except (ssl.SSLError, OSError):
        return True
    finally:
        sock.setblocking(True)


def worker(args, stats, idx):
    n = 0
    sock = None
    while not (args.stop_file and os.path.exists(args.stop_file)):
        if sock is not None and server_closed(sock):
            sock.close()
            sock = None
        if sock is None:
            try:
                raw = socket.create_connection((HOST, args.port), timeout=30)
            except ConnectionRefusedError as e:
                if args.until_refused:
                    stats.add("refused")
                    return
                stats.add("failed", "connect: %r" % e)
                time.sleep(0.1)
                continue
            except OSError as e:
                stats.add("failed", "connect: %r" % e)
                time.sleep(0.1)
                continue
            try:
                sock = args.ctx.wrap_socket(raw, server_hostname=HOST)
            except (OSError, ssl.SSLError) as e:
                raw.close()
                if args.until_refused and args.draining():
                    stats.add("refused")
                    return
                stats.add("failed", "handshake: %r" % e)
                time.sleep(0.1)
                continue
            if args.serial_log:
                der = sock.getpeercert(binary_form=True)
                with open(args.serial_log, "a") as f:
                    f.write(hashlib.sha256(der).hexdigest()[:16] + "\n")
        n += 1
        uid = "load-%d-%d" % (idx, n)
        path = "/validate" if n % 2 else "/mutate"
        data = body(uid, args.expect_deny)
        req = (b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % (path.encode(), HOST.encode(), len(data)) + data)
        try:
            sock.sendall(req)
        except (OSError, ssl.SSLError) as e:
            # nothing was answered; the server closed the connection while we wrote
            stats.add("failed", "send: %r" % e)
            sock.close()
            sock = None
            continue
        stats.add("sent")
        try:
            status, headers, resp = read_response(sock)
        except (OSError, ssl.SSLError, EOFError, ValueError) as e:
            stats.add("failed", "%s %s: %r" % (path, uid, e))
            sock.close()
            sock = None
            continue
        try:
            r = json.loads(resp)["response"]
            good = status == 200 and r["uid"] == uid
        except (ValueError, KeyError, TypeError):
            good = False
        if not good:
            stats.add("failed", "%s %s: HTTP %d %r" % (path, uid, status, resp[:120]))
        elif args.expect_deny and path == "/validate" and r.get("allowed") is not False:
            stats.add("wrong", "%s %s: allowed a pod the policy denies" % (path, uid))
        else:
            stats.add("ok")
        if headers.get("connection", "").lower() == "close" or (
                args.reconnect_every and n % args.reconnect_every == 0):
            sock.close()
            sock = None
    if sock is not None:
        sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--stop-file")
    ap.add_argument("--until-refused", action="store_true")
    ap.add_argument("--drain-file", help="exists once SIGTERM was sent")
    ap.add_argument("--expect-deny", action="store_true")
    ap.add_argument("--serial-log")
    ap.add_argument("--reconnect-every", type=int, default=0,
                    help="open a new connection after this many requests (0: keep it)")
    args = ap.parse_args()
    args.ctx = ssl.create_default_context(cafile=args.ca)
    args.draining = lambda: bool(args.drain_file and os.path.exists(args.drain_file))
    stats = Stats()
    threads = [threading.Thread(target=worker, args=(args, stats, i)) for i in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"sent": stats.sent, "ok": stats.ok, "failed": stats.failed,
                      "wrong": stats.wrong, "refused": stats.refused, "errors": stats.errors}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
