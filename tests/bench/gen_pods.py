#!/usr/bin/env python3
"""Write a generated `kubectl get pods -A -o json` snapshot (a v1 List of realistic pods).

usage: gen_pods.py N [--owned] [--compact]   (stdout)

--owned: every pod carries an ownerReference to a ReplicaSet that is not in the snapshot
(a pods-only snapshot). --compact: no indentation (about 2.1 KB a pod instead of 4.3 KB).
About a third of the pods break a rule. Indented like kubectl otherwise.
"""
import json
import sys


def pod(i, owned):
    ns = "team-%02d" % (i % 50)
    bad = i % 3 == 0
    c = {
        "name": "app",
        "image": "nginx:latest" if i % 7 == 0 else "registry.example/app@sha256:" + "a" * 64,
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [{"name": "MODE", "value": "prod"}, {"name": "POD_IP", "valueFrom": {
            "fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "IfNotPresent",
        "volumeMounts": [{"name": "kube-api-access", "mountPath":
                          "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True}],
    }
    if not bad:
        c["resources"] = {"requests": {"cpu": "100m", "memory": "128Mi"},
                          "limits": {"cpu": "500m", "memory": "256Mi"}}
    if i % 5:
        c["readinessProbe"] = {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 10}
        c["livenessProbe"] = {"httpGet": {"path": "/live", "port": 8080}, "periodSeconds": 10}
    meta = {
        "name": "app-%d-7d9f8c6b5-x%05d" % (i % 40, i),
        "generateName": "app-%d-7d9f8c6b5-" % (i % 40),
        "namespace": ns,
        "uid": "00000000-0000-4000-8000-%012d" % i,
        "resourceVersion": str(100000 + i),
        "creationTimestamp": "2026-11-01T12:00:00Z",
        "labels": {"app": "app-%d" % (i % 40), "pod-template-hash": "7d9f8c6b5"},
    }
    if owned:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                    "name": "app-%d-7d9f8c6b5" % (i % 40),
                                    "uid": "11111111-0000-4000-8000-%012d" % (i % 40),
                                    "controller": True, "blockOwnerDeletion": True}]
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {"containers": [c], "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                 "serviceAccountName": "default", "nodeName": "node-%d" % (i % 30),
                 "securityContext": {}, "schedulerName": "default-scheduler",
                 "terminationGracePeriodSeconds": 30,
                 "volumes": [{"name": "kube-api-access", "projected": {"sources": [
                     {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}]},
        "status": {"phase": "Running", "podIP": "10.0.%d.%d" % (i // 250 % 250, i % 250),
                   "qosClass": "Burstable",
                   "conditions": [{"type": "Ready", "status": "True",
                                   "lastTransitionTime": "2026-11-01T12:00:05Z"}]},
    }


def main():
    n = int(sys.argv[1])
    owned = "--owned" in sys.argv
    out = sys.stdout
    if "--compact" in sys.argv:
        out.write('{"apiVersion":"v1","items":[')
        out.write(",".join(json.dumps(pod(i, owned), separators=(",", ":")) for i in range(n)))
        out.write('],"kind":"List","metadata":{"resourceVersion":""}}\n')
        return
    out.write('{\n    "apiVersion": "v1",\n    "items": [\n')
    for i in range(n):
        text = json.dumps(pod(i, owned), indent=4)
        out.write("        " + text.replace("\n", "\n        "))
        out.write(",\n" if i + 1 < n else "\n")
    out.write('    ],\n    "kind": "List",\n    "metadata": {\n        "resourceVersion": ""\n    }\n}\n')


if __name__ == "__main__":
    main()
