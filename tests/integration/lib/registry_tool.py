#!/usr/bin/env python3
"""Helpers for the registry fetcher tests, in front of a real registry (crane registry serve).

  registry_tool.py proxy --upstream http://127.0.0.1:P --port-file F [--mode M] [--log F]
      An HTTP proxy that demands a bearer token, as Docker Hub and GHCR do: /v2/ answers 401
      with `WWW-Authenticate: Bearer realm=.../token,service=test,scope=...`; /token wants Basic
      user:secret and returns {"token": ...}. Blobs are answered with a 307 redirect to
      /storage/..., which must arrive without an Authorization header (logged as LEAK if not).
      --mode: normal | bad-digest (blob bytes altered) | big-manifest (5 MiB manifests) |
              slow (every /v2/ answer waits 30 s) | flaky (the first manifest GET answers 503) |
              lying-manifest (manifest bytes altered, Docker-Content-Digest kept)
  registry_tool.py push-att --registry http://127.0.0.1:P --repo R --digest HEX FILE...
      Push each JSON-lines document of FILEs as a layer of the cosign tag sha256-HEX.att,
      the way cosign before v3 stores attestations (mediaType application/vnd.dsse.envelope.v1+json,
      annotation predicateType from the statement).
"""
import base64
import hashlib
import http.server
import json
import sys
import threading
import time
import urllib.error
import urllib.request

TOKEN = "t0ken-" + "x" * 20
USER, SECRET = "ci", "s3cret"


def proxy(args):
    upstream, mode, log_path = args["--upstream"], args.get("--mode", "normal"), args.get("--log")
    log = open(log_path, "a", buffering=1) if log_path else sys.stderr
    state = {"flaky": mode == "flaky"}

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            log.write("%s %s\n" % (self.command, self.path))

        def send(self, code, body=b"", headers=()):
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            auth = self.headers.get("Authorization", "")
            if self.path.startswith("/token"):
                want = "Basic " + base64.b64encode(("%s:%s" % (USER, SECRET)).encode()).decode()
                if auth != want:
                    return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
                return self.send(200, json.dumps({"token": TOKEN}).encode(),
                                 [("Content-Type", "application/json")])
            if self.path.startswith("/storage/"):
                if auth:
                    log.write("LEAK Authorization sent to storage\n")
                return self.forward("/v2/" + self.path[len("/storage/"):], redirected=True)
            if not self.path.startswith("/v2/"):
                return self.send(404)
            if auth != "Bearer " + TOKEN:
                host = self.headers.get("Host")
                return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', [(
                    "WWW-Authenticate",
                    'Bearer realm="http://%s/token",service="test",scope="repository:app:pull"'
                    % host)])
            if mode == "slow":
                time.sleep(30)
            if "/blobs/" in self.path:
                return self.send(307, b"", [("Location", "/storage/" + self.path[len("/v2/"):])])
            if "/manifests/" in self.path and state["flaky"]:
                state["flaky"] = False
                return self.send(503, b"try later")
            return self.forward(self.path)

        def forward(self, path, redirected=False):
            req = urllib.request.Request(upstream + path)
            if self.headers.get("Accept"):
                req.add_header("Accept", self.headers["Accept"])
            try:
                with urllib.request.urlopen(req) as r:
                    body, code, hdrs = r.read(), r.status, r.headers
            except urllib.error.HTTPError as e:
                body, code, hdrs = e.read(), e.code, e.headers
            out = [(k, v) for k, v in hdrs.items()
                   if k.lower() in ("content-type", "docker-content-digest")]
            if code == 200 and "/manifests/" in path and mode == "big-manifest":
                body = b'{"layers":[],"pad":"' + b"x" * (5 * 1024 * 1024) + b'"}'
                out = [("Content-Type", "application/vnd.oci.image.manifest.v1+json")]
            if code == 200 and "/manifests/" in path and mode == "lying-manifest":
                body = body + b" "
            if code == 200 and redirected and mode == "bad-digest":
                body = body.replace(b'"payload"', b'"payload" ', 1)
            self.send(code, body, out)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    with open(args["--port-file"], "w") as f:
        f.write(str(srv.server_address[1]))
    srv.serve_forever()


def put(url, data, ctype):
    req = urllib.request.Request(url, data=data, method="PUT")
    req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req) as r:
        return r.headers


def push_blob(reg, repo, data):
    dg = "sha256:" + hashlib.sha256(data).hexdigest()
    req = urllib.request.Request("%s/v2/%s/blobs/uploads/" % (reg, repo), data=b"", method="POST")
    with urllib.request.urlopen(req) as r:
        loc = r.headers["Location"]
    if loc.startswith("/"):
        loc = reg + loc
    put(loc + ("&" if "?" in loc else "?") + "digest=" + dg, data, "application/octet-stream")
    return dg


def push_att(args, files):
    reg, repo, hexd = args["--registry"], args["--repo"], args["--digest"]
    config = b"{}"
    cdg = push_blob(reg, repo, config)
    layers = []
    for path in files:
        for line in open(path, "rb").read().splitlines():
            if not line.strip():
                continue
            env = json.loads(line)
            stmt = json.loads(base64.b64decode(env["payload"]))
            dg = push_blob(reg, repo, line)
            layers.append({"mediaType": "application/vnd.dsse.envelope.v1+json", "size": len(line),
                           "digest": dg, "annotations": {"predicateType": stmt["predicateType"]}})
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "size": len(config), "digest": cdg},
                "layers": layers}
    put("%s/v2/%s/manifests/sha256-%s.att" % (reg, repo, hexd), json.dumps(manifest).encode(),
        "application/vnd.oci.image.manifest.v1+json")


def main():
    cmd, rest = sys.argv[1], sys.argv[2:]
    args, files, i = {}, [], 0
    while i < len(rest):
        if rest[i].startswith("--"):
            args[rest[i]] = rest[i + 1]
            i += 2
        else:
            files.append(rest[i])
            i += 1
    if cmd == "proxy":
        proxy(args)
    elif cmd == "push-att":
        push_att(args, files)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
