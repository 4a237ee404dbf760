# The benchmark peer: kadmit's four checks (resources-required, probes-required, image-pinned,
# memory-spine-anti-affinity) as an OPA admission webhook, written the way an OPA user would.
#
# Served by `opa run --server --set=default_decision=kadmit/main`: OPA's `POST /` takes the raw
# AdmissionReview body as `input` and answers the value of data.kadmit.main, which is an
# AdmissionReview v1 response. Same parameters, exception and excluded namespaces as
# tests/bench/peer/four-rules.yaml; messages have kadmit's shape
# ("<rule>: <Kind> <ns>/<name> container "<c>": ...") so verdicts can be compared finding by
# finding. Not implemented (not exercised by the benchmark): UPDATE ratcheting, glob patterns in
# the excluded namespaces.
package kadmit

excluded_namespaces := {"kube-system", "kube-public", "kube-node-lease", "kadmit-system"}

template_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}

req := input.request

obj := req.object

kind := req.kind.kind

# ---- the object view ------------------------------------------------------------------------

pod_spec := obj.spec if kind == "Pod"

pod_spec := obj.spec.template.spec if kind in template_kinds

pod_spec := obj.spec.jobTemplate.spec.template.spec if kind == "CronJob"

pod_meta := obj.metadata if kind == "Pod"

pod_meta := obj.spec.template.metadata if kind in template_kinds

pod_meta := obj.spec.jobTemplate.spec.template.metadata if kind == "CronJob"

pod_labels := object.get(pod_meta, "labels", {})

namespace := obj.metadata.namespace if {
	is_string(obj.metadata.namespace)
	obj.metadata.namespace != ""
} else := req.namespace if {
	is_string(req.namespace)
} else := ""

name := obj.metadata.name if {
	is_string(obj.metadata.name)
	obj.metadata.name != ""
} else := concat("", [obj.metadata.generateName, "*"]) if {
	is_string(obj.metadata.generateName)
} else := "(unnamed)"

where := sprintf("%s %s/%s", [kind, namespace, name]) if namespace != ""

else := sprintf("%s %s", [kind, name])

job_pod if kind in {"Job", "CronJob"}

job_pod if {
	kind == "Pod"
	some ref in obj.metadata.ownerReferences
	ref.kind == "Job"
}

job_pod if {
	kind == "Pod"
	is_string(obj.metadata.labels["batch.kubernetes.io/job-name"])
}

job_pod if {
	kind == "Pod"
	is_string(obj.metadata.labels["job-name"])
}

mirror_pod if {
	kind == "Pod"
	is_string(obj.metadata.annotations["kubernetes.io/config.mirror"])
}

spec_change if {
	not req.subResource
}

spec_change if req.subResource == ""

spec_change if req.subResource == "ephemeralcontainers"

reviewed if {
	req.operation in {"CREATE", "UPDATE"}
	spec_change
	is_object(pod_spec)
	not mirror_pod
	not namespace in excluded_namespaces
}

init_containers := object.get(pod_spec, "initContainers", [])

app_containers := object.get(pod_spec, "containers", [])

ephemeral_containers := object.get(pod_spec, "ephemeralContainers", [])

container_name(c) := c.name if is_string(c.name)

else := "(unnamed)"

# ---- resources-required ---------------------------------------------------------------------

required_resources := [["requests", "cpu"], ["requests", "memory"], ["limits", "cpu"], ["limits", "memory"]]

has_resource(c, r) if {
	v := c.resources[r[0]][r[1]]
	v != null
	v != ""
}

missing_resources(c) := [sprintf("no %s %s", [r[1], kind_word]) |
	some r in required_resources
	not has_resource(c, r)
	kind_word := {"requests": "request", "limits": "limit"}[r[0]]
]

deny contains msg if {
	reviewed
	some c in array.concat(init_containers, app_containers)
	missing := missing_resources(c)
	count(missing) > 0
	msg := sprintf("resources-required: %s container %q: %s (set the missing resources)", [where, container_name(c), concat(", ", missing)])
}

# ---- probes-required ------------------------------------------------------------------------

probe_exception_containers := {"metrics-sidecar"}

deny contains msg if {
	reviewed
	not job_pod
	some c in app_containers
	not container_name(c) in probe_exception_containers
	some probe in ["readinessProbe", "livenessProbe"]
	object.get(c, probe, null) == null
	msg := sprintf("probes-required: %s container %q: has no %s (add %s with httpGet, tcpSocket, grpc or exec)", [where, container_name(c), probe, probe])
}

# ---- image-pinned ---------------------------------------------------------------------------

image_problem(image) := "has no image" if image == ""

image_problem(image) := sprintf("image %q has no tag (means :latest)", [image]) if {
	image != ""
	not contains(image, "@sha256:")
	parts := split(image, "/")
	not contains(parts[count(parts) - 1], ":")
}

image_problem(image) := sprintf("image %q uses the latest tag", [image]) if {
	not contains(image, "@sha256:")
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	i := indexof(last, ":")
	i >= 0
	substring(last, i + 1, -1) == "latest"
}

deny contains msg if {
	reviewed
	some c in array.concat(array.concat(init_containers, app_containers), ephemeral_containers)
	image := object.get(c, "image", "")
	problem := image_problem(image)
	msg := sprintf("image-pinned: %s container %q: %s (use a version tag or @sha256 digest)", [where, container_name(c), problem])
}

# ---- memory-spine-anti-affinity -------------------------------------------------------------

topology_key := "kubernetes.io/hostname"

selector_matches(sel, labels) if {
	every k, v in object.get(sel, "matchLabels", {}) {
		labels[k] == v
	}
	every e in object.get(sel, "matchExpressions", []) {
		expression_matches(e, labels)
	}
}

expression_matches(e, labels) if {
	e.operator == "In"
	labels[e.key] in e.values
}

expression_matches(e, labels) if {
	e.operator == "NotIn"
	not labels[e.key] in e.values
}

expression_matches(e, labels) if {
	e.operator == "Exists"
	is_string(labels[e.key])
}

expression_matches(e, labels) if {
	e.operator == "DoesNotExist"
	not is_string(labels[e.key])
}

spine_protected if {
	some term in pod_spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution
	term.topologyKey == topology_key
	sel := term.labelSelector
	is_object(sel)
	count({k | some k in ["matchLabels", "matchExpressions"]; sel[k]}) > 0
	selector_matches(sel, pod_labels)
}

deny contains msg if {
	reviewed
	pod_labels.app == "memory-spine"
	not spine_protected
	msg := sprintf("memory-spine-anti-affinity: %s: replicas may share a node (add podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution with topologyKey %s and a labelSelector matching the pod's own labels)", [where, topology_key])
}

# ---- the AdmissionReview response -----------------------------------------------------------

response := {"uid": req.uid, "allowed": true} if count(deny) == 0

response := {
	"uid": req.uid,
	"allowed": false,
	"status": {
		"status": "Failure",
		"code": 403,
		"reason": "Forbidden",
		"message": concat("\n", sort(deny)),
	},
} if count(deny) > 0

main := {
	"apiVersion": "admission.k8s.io/v1",
	"kind": "AdmissionReview",
	"response": response,
}
