#!/usr/bin/env python3
"""A `kubectl get ... -A -o json` List of N objects for the relations (issue #17): copies of the
checklist's complete namespace (tests/fixtures/checklist/complete/: agent and Memory Spine
StatefulSets, HPA, Services, PDBs, NetworkPolicies, quota, limit range), one namespace per copy,
plus the fast-ssd StorageClass once. Every workload, PDB, HPA and policy is indexed.

    python3 tests/bench/gen_namespaces.py 20000 >snapshot.json
"""
import copy
import glob
import json
import sys

import yaml

n = int(sys.argv[1])
docs = []
for path in sorted(glob.glob("tests/fixtures/checklist/complete/*.yaml")):
    docs += [d for d in yaml.safe_load_all(open(path)) if d and d["kind"] not in ("Namespace", "StorageClass")]
items = [d for d in yaml.safe_load_all(open("tests/fixtures/checklist/complete/storageclass-fast-ssd.yaml")) if d]
i = 0
while len(items) < n:
    for d in docs:
        if len(items) >= n:
            break
        c = copy.deepcopy(d)
        c["metadata"]["namespace"] = "agents-%d" % i
        items.append(c)
    i += 1
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout, indent=4)
