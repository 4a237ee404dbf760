#!/usr/bin/env python3
"""Small TLS clients for tests/integration/test_serve.sh (loopback only, bounded in time).

  load  HOST PORT CA PATH BODY STOPFILE   keep-alive POSTs until STOPFILE exists (max 120 s);
                                          prints "ok=N fail=M connects=K" (fail: any non-200,
                                          any error on a connection the server did not close)
  slow  HOST PORT CA PATH BODY PAUSE [READYFILE]
                                          one POST whose body arrives in two halves PAUSE s
                                          apart (READYFILE touched after the first half);
                                          prints the status code (or "error: ...")
  hold  HOST PORT CA COUNT SECONDS        open COUNT TLS connections, print how many completed
                                          the handshake, keep them SECONDS, close
  idle  HOST PORT CA GOFILE               one GET /healthz on a keep-alive connection, touch
                                          GOFILE, then wait (max 60 s) for the server to close;
                                          prints "closed" or "open"
  raw   HOST PORT SECONDS                 plain TCP connect, send nothing; prints "closed" when
                                          the server closes within SECONDS, else "open"
"""
import os
import socket
import ssl
import sys
import time


def tls_context(ca, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def connect(host, port, ca):
    raw = socket.create_connection((host, int(port)), timeout=15)
    return tls_context(ca).wrap_socket(raw, server_hostname="localhost")


def read_response(sock):
    """Read one HTTP/1.1 response with Content-Length: (status, headers, body), the header names
    lower-cased. Raises ConnectionError when the server closes early."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response headers")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(":") for line in lines[1:])}
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the response body")
        rest += chunk
    return status, headers, rest[:n]


def request_bytes(path, body):
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() +
            b"\r\n\r\n" + body)


def cmd_load(host, port, ca, path, body_file, stopfile):
    body = open(body_file, "rb").read()
    ok = fail = connects = 0
    end = time.time() + 120
    sock = None
    while not os.path.exists(stopfile) and time.time() < end:
        if sock is None:
            try:
                sock = connect(host, port, ca)
                connects += 1
            except Exception as e:  # a refused connect is a failed request
                print("connect error:", e, file=sys.stderr)
                fail += 1
                time.sleep(0.05)
                continue
        try:
            sock.sendall(request_bytes(path, body))
            status, headers, _ = read_response(sock)
            keepalive = headers.get("connection", "").lower() != "close"
            if status == 200:
                ok += 1
            else:
                fail += 1
                print("status", status, file=sys.stderr)
            if not keepalive:
                sock.close()
                sock = None
        except Exception as e:
            print("request error:", e, file=sys.stderr)
            fail += 1
            sock.close()
            sock = None
    if sock is not None:
        sock.close()
    print("ok=%d fail=%d connects=%d" % (ok, fail, connects))


def cmd_slow(host, port, ca, path, body_file, pause, readyfile=None):
    body = open(body_file, "rb").read()
    try:
        sock = connect(host, port, ca)
        req = request_bytes(path, body)
        half = len(req) - len(body) // 2
        sock.sendall(req[:half])
        if readyfile:
            open(readyfile, "w").close()
        time.sleep(float(pause))
        sock.sendall(req[half:])
        status, _, _ = read_response(sock)
        print(status)
    except Exception as e:
        print("error:", e)


def cmd_hold(host, port, ca, count, seconds):
    socks = []
    done = 0
    for _ in range(int(count)):
        try:
            s = connect(host, port, ca)
            s.settimeout(2)
            # A refused connection is closed right after accept: the handshake fails.
            socks.append(s)
            done += 1
        except Exception:
            pass
    print(done, flush=True)
    time.sleep(float(seconds))
    for s in socks:
        s.close()


def cmd_idle(host, port, ca, gofile):
    sock = connect(host, port, ca)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    status, _, _ = read_response(sock)
    if status != 200:
        print("status", status)
        return
    open(gofile, "w").close()
    sock.settimeout(60)
    try:
        data = sock.recv(1)
        print("closed" if not data else "data")
    except socket.timeout:
        print("open")
    except (ssl.SSLError, OSError):
        print("closed")


def cmd_raw(host, port, seconds):
    s = socket.create_connection((host, int(port)), timeout=float(seconds))
    try:
        data = s.recv(1)
        print("closed" if not data else "data")
    except socket.timeout:
        print("open")
    except OSError:
        print("closed")


def main():
    cmds = {"load": cmd_load, "slow": cmd_slow, "hold": cmd_hold, "idle": cmd_idle,
            "raw": cmd_raw}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    cmds[sys.argv[1]](*sys.argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
