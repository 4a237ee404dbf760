#!/usr/bin/env python3
"""Write a generated `kubectl get pods -A -o json` snapshot (a v1 List of realistic pods).

usage: gen_pods.py N [--no-owners] [--compact]   (stdout)

Pods belong to controllers as in a real cluster, none of which is in a pods-only snapshot:
nine workloads in ten are Deployments (3 replicas: the pods of one ReplicaSet, named
`<rs>-x<n>`), one in ten a StatefulSet (3 replicas, `<sts>-0..2`); each carries the
controller's ownerReference (kind, name, uid, controller: true). A workload's pods share their
template, so a third of the workloads break a rule in every pod. --no-owners: no
ownerReferences (standalone pods). --compact: no indentation (about 2.1 KB a pod instead of
4.3 KB). Indented like kubectl otherwise.
"""
import json
import sys


def pod(i, owned):
    w = i // 3  # the workload: 3 replicas each
    ns = "team-%02d" % (w % 50)
    sts = w % 10 == 9
    bad = w % 3 == 0
    c = {
        "name": "app",
        "image": "nginx:latest" if w % 7 == 0 else "registry.example/app@sha256:" + "a" * 64,
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
    if w % 5:
        c["readinessProbe"] = {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 10}
        c["livenessProbe"] = {"httpGet": {"path": "/live", "port": 8080}, "periodSeconds": 10}
    owner = ("db-%d" % w) if sts else ("app-%d-7d9f8c6b5" % w)
    meta = {
        "name": ("%s-%d" % (owner, i % 3)) if sts else ("%s-x%04d" % (owner, i % 10000)),
        "generateName": owner + "-",
        "namespace": ns,
        "uid": "00000000-0000-4000-8000-%012d" % i,
        "resourceVersion": str(100000 + i),
        "creationTimestamp": "2026-11-01T12:00:00Z",
        "labels": {"app": owner.split("-7d9f")[0]},
    }
    if not sts:
        meta["labels"]["pod-template-hash"] = "7d9f8c6b5"
    if owned:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1",
                                    "kind": "StatefulSet" if sts else "ReplicaSet",
                                    "name": owner,
                                    "uid": "11111111-0000-4000-8000-%012d" % w,
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
    owned = "--no-owners" not in sys.argv
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
