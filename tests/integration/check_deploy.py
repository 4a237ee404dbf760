#!/usr/bin/env python3
"""Property checks on kadmit's rendered manifests (used by test_deploy.sh).

usage: check_deploy.py PLAIN.yaml BASE.yaml CERT_MANAGER.yaml MONITORING.yaml RENDERED_HOOKS.yaml
                       CA.crt CHECKLIST.yaml

Prints one "ok   - ..." or "FAIL - ..." line per check.
"""
import base64
import json
import re
import sys

import yaml

results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print(("ok   - " if cond else "FAIL - ") + name + ("" if cond or not detail else f" ({detail})"))


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def find(docs, kind, name=None):
    for d in docs:
        if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name):
            return d
    return None


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


plain, base, cm, mon, rendered = (load(p) for p in sys.argv[1:6])
ca_pem = open(sys.argv[6], "rb").read()
checklist = open(sys.argv[7]).read()

# ---- the plain install ---------------------------------------------------------------------------
kinds = sorted((d["kind"], d["metadata"]["name"]) for d in plain)
want = sorted([("Namespace", "kadmit-system"), ("ServiceAccount", "kadmit"),
               ("ConfigMap", "kadmit-policies"), ("Secret", "kadmit-tls"), ("Service", "kadmit"),
               ("Deployment", "kadmit"), ("PodDisruptionBudget", "kadmit"),
               ("NetworkPolicy", "kadmit"), ("MutatingWebhookConfiguration", "kadmit"),
               ("ValidatingWebhookConfiguration", "kadmit")])
check("plain install has exactly the expected objects", kinds == want, kinds)
cluster_scoped = {"Namespace", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}
check("every namespaced object is in kadmit-system",
      all(d["metadata"].get("namespace") == "kadmit-system"
          for d in plain if d["kind"] not in cluster_scoped))
check("no ClusterRole or RoleBinding: kadmit needs no API access",
      not any("Role" in d["kind"] for d in plain))

ns = find(plain, "Namespace")
check("namespace enforces the restricted Pod Security Standard",
      ns["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") == "restricted")

dep = find(plain, "Deployment", "kadmit")
spec = dep["spec"]
pod = spec["template"]["spec"]
pod_labels = spec["template"]["metadata"]["labels"]
c = pod["containers"][0]
check("deployment runs 2+ replicas", spec["replicas"] >= 2)
check("selector matches the pod labels", selects(spec["selector"]["matchLabels"], pod_labels))
anti = pod.get("affinity", {}).get("podAntiAffinity", {}).get(
    "requiredDuringSchedulingIgnoredDuringExecution", [])
check("required pod anti-affinity across kubernetes.io/hostname",
      any(t["topologyKey"] == "kubernetes.io/hostname"
          and selects(t["labelSelector"]["matchLabels"], pod_labels) for t in anti))
check("rolling update without surge (fits 2 nodes with required anti-affinity)",
      spec["strategy"]["rollingUpdate"]["maxSurge"] == 0)
check("terminationGracePeriodSeconds 40 (> --drain-timeout 25s)",
      pod["terminationGracePeriodSeconds"] == 40)
check("no service account token", pod.get("automountServiceAccountToken") is False)
psc = pod["securityContext"]
check("pod runAsNonRoot and seccomp RuntimeDefault",
      psc.get("runAsNonRoot") is True and psc["seccompProfile"]["type"] == "RuntimeDefault")
check("pod runs as uid 65532", psc.get("runAsUser") == 65532)
sc = c["securityContext"]
check("container readOnlyRootFilesystem", sc.get("readOnlyRootFilesystem") is True)
check("container allowPrivilegeEscalation false", sc.get("allowPrivilegeEscalation") is False)
check("container drops ALL capabilities", sc.get("capabilities", {}).get("drop") == ["ALL"]
      and not sc.get("capabilities", {}).get("add"))
check("container runAsNonRoot and seccomp RuntimeDefault",
      sc.get("runAsNonRoot") is True and sc["seccompProfile"]["type"] == "RuntimeDefault")
res = c.get("resources", {})
check("cpu and memory requests and limits",
      all(k in res.get(t, {}) for t in ("requests", "limits") for k in ("cpu", "memory")))
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
check("container ports https 8443 and metrics 9090", ports == {"https": 8443, "metrics": 9090})


def probe_ok(p, path):
    h = p.get("httpGet", {})
    port = ports.get(h.get("port"), h.get("port"))
    return h.get("path") == path and port == 9090 and h.get("scheme", "HTTP") == "HTTP"


check("readiness probe GET /readyz on metrics port 9090 over HTTP",
      probe_ok(c.get("readinessProbe", {}), "/readyz"))
check("liveness probe GET /healthz on metrics port 9090 over HTTP",
      probe_ok(c.get("livenessProbe", {}), "/healthz"))
check("serve args as specified", c["args"] == [
    "serve", "--listen", "0.0.0.0:8443", "--metrics-listen", "0.0.0.0:9090",
    "--tls-cert", "/etc/kadmit/tls/tls.crt", "--tls-key", "/etc/kadmit/tls/tls.key",
    "--policies", "/etc/kadmit/policies", "--attestations", "/etc/kadmit/attestations"], c["args"])
check("image pinned by digest", re.fullmatch(r"ghcr\.io/kadmit/kadmit@sha256:[0-9a-f]{64}",
                                             c["image"]), c["image"])
vols = {v["name"]: v for v in pod["volumes"]}
mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
check("TLS Secret kadmit-tls mounted at /etc/kadmit/tls",
      vols[mounts["/etc/kadmit/tls"]].get("secret", {}).get("secretName") == "kadmit-tls")
check("policies ConfigMap mounted at /etc/kadmit/policies",
      vols[mounts["/etc/kadmit/policies"]].get("configMap", {}).get("name") == "kadmit-policies")
check("every mount is read-only", all(m.get("readOnly") for m in c["volumeMounts"]))
check("the policies volume mounts every key of the ConfigMap (no items list): an overlay file "
      "added to the generator is read with the checklist",
      "items" not in vols[mounts["/etc/kadmit/policies"]]["configMap"]
      and not any(m.get("subPath") for m in c["volumeMounts"]))

cmap = find(plain, "ConfigMap", "kadmit-policies")
check("policies ConfigMap holds policies/checklist.yaml verbatim",
      cmap["data"].get("checklist.yaml") == checklist)

sec = find(plain, "Secret", "kadmit-tls")
check("kadmit-tls is a kubernetes.io/tls Secret with tls.crt, tls.key, ca.crt",
      sec["type"] == "kubernetes.io/tls" and set(sec["data"]) == {"tls.crt", "tls.key", "ca.crt"})
check("kadmit-tls ca.crt is the CA kadmit certs wrote",
      base64.b64decode(sec["data"]["ca.crt"]) == ca_pem)

svc = find(plain, "Service", "kadmit")
sports = {p["name"]: p for p in svc["spec"]["ports"]}
check("service 443 -> 8443", sports["https"]["port"] == 443
      and ports.get(sports["https"]["targetPort"], sports["https"]["targetPort"]) == 8443)
check("service metrics 9090", sports["metrics"]["port"] == 9090
      and ports.get(sports["metrics"]["targetPort"], sports["metrics"]["targetPort"]) == 9090)
check("service selects the pods", selects(svc["spec"]["selector"], pod_labels))

pdb = find(plain, "PodDisruptionBudget", "kadmit")
check("PDB minAvailable 1 over the pods", pdb["spec"]["minAvailable"] == 1
      and selects(pdb["spec"]["selector"]["matchLabels"], pod_labels))

npol = find(plain, "NetworkPolicy", "kadmit")
nspec = npol["spec"]
check("network policy covers the pods", selects(nspec["podSelector"]["matchLabels"], pod_labels))
check("network policy denies all egress",
      "Egress" in nspec["policyTypes"] and not nspec.get("egress"))
ing = nspec["ingress"]
check("8443 open to any source", any(not r.get("from") and
                                     [p["port"] for p in r["ports"]] == [8443] for r in ing))
check("9090 only from the monitoring namespace", any(
    [p["port"] for p in r["ports"]] == [9090] and r.get("from") == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    for r in ing))
check("no other ingress", len(ing) == 2)

# ---- webhook configurations --------------------------------------------------------------------
VALIDATED = {("", "pods"), ("", "replicationcontrollers"), ("apps", "deployments"),
             ("apps", "statefulsets"), ("apps", "daemonsets"), ("apps", "replicasets"),
             ("batch", "jobs"), ("batch", "cronjobs"), ("autoscaling", "horizontalpodautoscalers"),
             ("policy", "poddisruptionbudgets"), ("networking.k8s.io", "ingresses"),
             ("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "rolebindings"),
             ("rbac.authorization.k8s.io", "clusterroles"),
             ("rbac.authorization.k8s.io", "clusterrolebindings"), ("argoproj.io", "rollouts")}


def rule_set(hook):
    out = set()
    for r in hook["rules"]:
        for g in r["apiGroups"]:
            for res_ in r["resources"]:
                out.add((g, res_, tuple(sorted(r["operations"]))))
    return out


def check_hooks(docs, label, want_bundle):
    mwc = find(docs, "MutatingWebhookConfiguration", "kadmit")
    vwc = find(docs, "ValidatingWebhookConfiguration", "kadmit")
    check(f"{label}: both webhook configurations present", mwc and vwc)
    if not (mwc and vwc):
        return
    for cfg, path in ((mwc, "/mutate"), (vwc, "/validate")):
        for h in cfg["webhooks"]:
            k = cfg["kind"][:-len("WebhookConfiguration")]
            check(f"{label}: {k} admissionReviewVersions [v1], sideEffects NoneOnDryRun, "
                  "timeout 5s, matchPolicy Equivalent",
                  h["admissionReviewVersions"] == ["v1"] and h["sideEffects"] == "NoneOnDryRun"
                  and h["timeoutSeconds"] == 5 and h["matchPolicy"] == "Equivalent")
            exprs = h["namespaceSelector"]["matchExpressions"]
            check(f"{label}: {k} skips kube-system, kube-node-lease, kadmit-system, kadmit.dev/ignore",
                  {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                   "values": ["kube-system", "kube-node-lease", "kadmit-system"]} in exprs
                  and {"key": "kadmit.dev/ignore", "operator": "DoesNotExist"} in exprs)
            s = h["clientConfig"].get("service", {})
            check(f"{label}: {k} calls service kadmit.kadmit-system:443{path}",
                  s == {"name": "kadmit", "namespace": "kadmit-system", "path": path, "port": 443})
            if want_bundle:
                b = h["clientConfig"].get("caBundle", "")
                check(f"{label}: {k} caBundle is the CA", base64.b64decode(b) == ca_pem)
            else:
                check(f"{label}: {k} has no caBundle (injected)", "caBundle" not in h["clientConfig"])
    mh, vh = mwc["webhooks"][0], vwc["webhooks"][0]
    check(f"{label}: mutation fails open, reinvocation IfNeeded",
          mh["failurePolicy"] == "Ignore" and mh["reinvocationPolicy"] == "IfNeeded")
    check(f"{label}: validation fails closed", vh["failurePolicy"] == "Fail")
    check(f"{label}: mutating rules are exactly pods CREATE",
          rule_set(mh) == {("", "pods", ("CREATE",))}, rule_set(mh))
    got = rule_set(vh)
    check(f"{label}: validating rules are exactly the 16 kinds on CREATE+UPDATE, and "
          "pods/ephemeralcontainers on UPDATE",
          got == {(g, r, ("CREATE", "UPDATE")) for g, r in VALIDATED}
          | {("", "pods/ephemeralcontainers", ("UPDATE",))}, got)
    check(f"{label}: cluster-scoped RBAC kinds registered with scope Cluster, the rest Namespaced",
          all(r["scope"] == ("Cluster" if set(r["resources"]) <= {"clusterroles",
                                                                   "clusterrolebindings"}
                             else "Namespaced") for r in vh["rules"]), vh["rules"])
    check(f"{label}: the API server's RBAC bootstrap (system:apiserver) is not sent to kadmit",
          [c["name"] for c in vh.get("matchConditions", [])] == ["not-rbac-bootstrap"]
          and "system:apiserver" in vh["matchConditions"][0]["expression"]
          and "rbac.authorization.k8s.io" in vh["matchConditions"][0]["expression"])


check_hooks(plain, "plain", True)
check_hooks(cm, "cert-manager", False)

# `kadmit certs --render-webhooks` renders the same webhooks as the kustomize base.
def hooks_without_bundle(docs):
    out = {}
    for d in docs:
        if d["kind"].endswith("WebhookConfiguration"):
            hs = json.loads(json.dumps(d["webhooks"]))
            for h in hs:
                h["clientConfig"].pop("caBundle", None)
            out[d["kind"]] = hs
    return out


check("kadmit certs --render-webhooks renders the base's webhooks (one source of truth)",
      hooks_without_bundle(rendered) == hooks_without_bundle(base)
      and len(hooks_without_bundle(base)) == 2)
check("rendered webhooks carry the CA", all(
    base64.b64decode(h["clientConfig"]["caBundle"]) == ca_pem
    for d in rendered for h in d["webhooks"]))

# ---- cert-manager overlay ----------------------------------------------------------------------
check("cert-manager: no kadmit-tls Secret in the manifests (cert-manager writes it)",
      find(cm, "Secret", "kadmit-tls") is None)
for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
    d = find(cm, kind, "kadmit")
    check(f"cert-manager: {kind} annotated inject-ca-from kadmit-system/kadmit-serving",
          d["metadata"].get("annotations", {}).get("cert-manager.io/inject-ca-from")
          == "kadmit-system/kadmit-serving")
selfsigned = find(cm, "Issuer", "kadmit-selfsigned")
ca_cert = find(cm, "Certificate", "kadmit-ca")
ca_issuer = find(cm, "Issuer", "kadmit-ca")
serving = find(cm, "Certificate", "kadmit-serving")
check("cert-manager: self-signed Issuer", selfsigned and "selfSigned" in selfsigned["spec"])
check("cert-manager: CA Certificate issued by the self-signed Issuer",
      ca_cert and ca_cert["spec"]["isCA"] is True
      and ca_cert["spec"]["issuerRef"]["name"] == "kadmit-selfsigned")
check("cert-manager: CA Issuer uses the CA Certificate's Secret",
      ca_issuer and ca_issuer["spec"]["ca"]["secretName"] == ca_cert["spec"]["secretName"])
check("cert-manager: serving Certificate -> Secret kadmit-tls, issued by the CA Issuer",
      serving and serving["spec"]["secretName"] == "kadmit-tls"
      and serving["spec"]["issuerRef"]["name"] == "kadmit-ca")
check("cert-manager: serving Certificate names the four service DNS names",
      sorted(serving["spec"]["dnsNames"]) == sorted([
          "kadmit", "kadmit.kadmit-system", "kadmit.kadmit-system.svc",
          "kadmit.kadmit-system.svc.cluster.local"]))
check("cert-manager: serving Certificate is for server auth",
      "server auth" in serving["spec"]["usages"])
check("cert-manager: renews before expiry", "renewBefore" in serving["spec"])

# ---- monitoring overlay ------------------------------------------------------------------------
KNOWN = {"kadmit_admission_requests_total", "kadmit_admission_duration_seconds_bucket",
         "kadmit_admission_duration_seconds_sum", "kadmit_admission_duration_seconds_count",
         "kadmit_rule_results_total", "kadmit_policy_reloads_total",
         "kadmit_stale_admissions_total", "kadmit_rule_misconfigured",
         "kadmit_policy_last_reload_success_timestamp_seconds",
         "kadmit_tls_certificate_expiry_timestamp_seconds", "kadmit_build_info", "up",
         "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"}


def metric_names(expr):
    return {m for m in re.findall(r"\b(kadmit_[a-z_]+|process_[a-z_]+|up)\b", expr)}


pm = find(mon, "PodMonitor", "kadmit")
check("monitoring: PodMonitor scrapes the metrics port",
      pm and pm["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
      and selects(pm["spec"]["selector"]["matchLabels"], pod_labels))
pr = find(mon, "PrometheusRule", "kadmit")
alerts = {r["alert"]: r for g in pr["spec"]["groups"] for r in g["rules"]}
exprs = " ".join(r["expr"] for r in alerts.values())
check("monitoring: webhook-down alert", any("up{" in r["expr"] for r in alerts.values()))
check("monitoring: stale-scan admissions alert",
      "kadmit_stale_admissions_total" in alerts.get("KadmitStaleScanAdmitted", {}).get("expr", ""))
check("monitoring: rejections alert", 'decision="denied"' in exprs)
check("monitoring: misconfigured-rule alert (e.g. no trusted scanner keys)",
      "kadmit_rule_misconfigured" in alerts.get("KadmitRuleMisconfigured", {}).get("expr", ""))
check("monitoring: p99 latency alert",
      "histogram_quantile(0.99" in exprs and "kadmit_admission_duration_seconds_bucket" in exprs)
check("monitoring: certificate expiry < 14d alert", re.search(
    r"kadmit_tls_certificate_expiry_timestamp_seconds\{[^}]*\}\)? - time\(\) < 14 \* 86400", exprs))
check("monitoring: policy reload failure alert", re.search(
    r'increase\(kadmit_policy_reloads_total\{[^}]*result="error"[^}]*\}\[10m\]\) > 0', exprs))
check("monitoring: every alert has a severity and summary", all(
    r["labels"].get("severity") in ("warning", "critical") and r["annotations"].get("summary")
    for r in alerts.values()))
unknown = set().union(*(metric_names(r["expr"]) for r in alerts.values())) - KNOWN
check("monitoring: alerts use only metrics kadmit exposes", not unknown, unknown)
dash_cm = find(mon, "ConfigMap", "kadmit-grafana-dashboard")
check("monitoring: dashboard ConfigMap labelled for the Grafana sidecar",
      dash_cm and dash_cm["metadata"]["labels"].get("grafana_dashboard") == "1")
dash = json.loads(dash_cm["data"]["kadmit.json"])
dexprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
check("monitoring: dashboard has panels with queries", len(dexprs) >= 8)
unknown = set().union(*(metric_names(e) for e in dexprs)) - KNOWN
check("monitoring: dashboard uses only metrics kadmit exposes", not unknown, unknown)
used = set().union(*(metric_names(e) for e in dexprs))
check("monitoring: dashboard covers requests, latency, rules, reloads, certificate",
      {"kadmit_admission_requests_total", "kadmit_admission_duration_seconds_bucket",
       "kadmit_rule_results_total", "kadmit_policy_reloads_total",
       "kadmit_tls_certificate_expiry_timestamp_seconds"} <= used)

sys.exit(0 if all(results) else 1)
