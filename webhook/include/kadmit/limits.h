/*
 * Every input limit kadmit enforces, with its default and allowed range.
 *
 * A limit is checked while reading, and exceeding it is an error the client can read, never a
 * silent truncation. The server exposes each as a flag (see `kadmit serve --help`).
 */
#ifndef KADMIT_LIMITS_H
#define KADMIT_LIMITS_H

/* Request body: the API server's own cap on an object is 3 MiB. */
#define KA_MAX_BODY_DEFAULT (3u * 1024u * 1024u)
#define KA_MAX_BODY_MIN (64u * 1024u)
#define KA_MAX_BODY_MAX (64u * 1024u * 1024u)

/* JSON / YAML nesting depth (a pod spec is ~12 deep). */
#define KA_MAX_DEPTH_DEFAULT 64
#define KA_MAX_DEPTH_MIN 16
#define KA_MAX_DEPTH_MAX 512

/* JSON values (tree nodes) in one request, bounding the parsed tree's memory (~64 bytes a
 * node): a 3 MiB body of "[0,0,0,..." would otherwise become ~100 MB of nodes. A large pod is
 * a few thousand values. */
#define KA_MAX_JSON_VALUES_DEFAULT (256u * 1024u)
#define KA_MAX_JSON_VALUES_MIN 1024u
#define KA_MAX_JSON_VALUES_MAX (16u * 1024u * 1024u)

/* Label selectors: requirements (matchLabels entries + matchExpressions) in one selector, and
 * values in one In/NotIn expression. A selector from an object past them selects nothing (so a
 * required anti-affinity term that large does not count); a policy's is rejected at load.
 * Label lookups are hashed, so a pod's label count costs linear time, not a limit. */
#define KA_MAX_SELECTOR_REQUIREMENTS 256
#define KA_MAX_SELECTOR_VALUES 256
/* Required podAntiAffinity terms looked at by memory-spine-anti-affinity; more is a finding. */
#define KA_MAX_AFFINITY_TERMS 64

/* JSON patch operations in one response. */
#define KA_MAX_PATCH_OPS 256

/* Findings listed for one review (more are counted and summarised as "and N more"; the verdict
 * is over all of them: an enforced finding displaces a listed warning), and the mutations
 * listed for reports (the patch itself is bounded by KA_MAX_PATCH_OPS). */
#define KA_MAX_FINDINGS 64
/* Findings of the old object remembered for UPDATE ratcheting; past it, findings of the new
 * object are judged fresh (fail closed). */
#define KA_MAX_RATCHET_FINDINGS 16384
#define KA_MAX_MUTATIONS_LISTED 32
/* Exemptions (rule, exception) listed for one review; one per rule and exception. */
#define KA_MAX_EXEMPTIONS_LISTED 16

/* Warnings in one response; each warning is at most this long (the API server truncates). */
#define KA_MAX_WARNINGS 32
#define KA_MAX_WARNING_LEN 120

/* One message (violation text). */
#define KA_MAX_MESSAGE_LEN 512

/* Roles, ClusterRoles and RoleBindings/ClusterRoleBindings one audit relates (agent-rbac holds
 * the roles until every binding is read); past it each is an error item, not evaluated. */
#define KA_AUDIT_MAX_RBAC_OBJECTS 65536

/* Objects one audit keeps in its relation index (relations.h: workloads a relation looks at,
 * PDBs, HPAs, NetworkPolicies, quotas, limit ranges, StorageClasses; about 1 KB each); past it
 * the relations are not evaluated and the audit reports one error (audit the cluster in parts,
 * by namespace). */
#define KA_AUDIT_MAX_RELATION_OBJECTS 65536
/* JSON values one relation index entry may keep (labels, selectors, ingress peers); an object
 * past it takes no part in the relations (reported the same way). */
#define KA_RELATION_MAX_ENTRY_NODES 512

/* Rules in one policy snapshot, and policy file size. */
#define KA_MAX_RULES 64
#define KA_MAX_POLICY_FILE (1024u * 1024u)
#define KA_MAX_POLICY_FILES 64

/* Nodes in one YAML document with every alias expanded (an alias bomb stops here). As many
 * values as one admission request may carry. */
#define KA_MAX_YAML_NODES KA_MAX_JSON_VALUES_DEFAULT

/* Manifest input for `kadmit audit`: one document, List item or JSON value (the input itself is
 * unbounded). Above the API server's 3 MiB request limit. */
#define KA_MAX_MANIFEST_OBJECT (8u * 1024u * 1024u)

/* A manifest file `kadmit fix` rewrites (it holds the whole text to edit it in place). */
#define KA_MAX_MANIFEST_FILE (64u * 1024u * 1024u)

/* Server: connections, header size and timeouts (seconds).
 * Connections are shared out between the worker threads (each gets its share of both caps).
 * At a cap, a new connection evicts the oldest connection still in its TLS handshake, else the
 * one idle longest (at least KA_EVICT_IDLE_MS); from the same source when the source is at its
 * cap. Only when nothing can be evicted is it refused, and /readyz then reports the webhook
 * port saturated for KA_SATURATED_READY_MS. */
#define KA_MAX_CONNECTIONS_DEFAULT 1024
#define KA_MAX_CONNECTIONS_PER_SOURCE_DEFAULT 256
#define KA_EVICT_IDLE_MS 1000
#define KA_SATURATED_READY_MS 10000
#define KA_MAX_HEADER_DEFAULT (16u * 1024u)
#define KA_HANDSHAKE_TIMEOUT_DEFAULT 3
/* Request bodies buffered at once, over all connections (each worker gets its share). Past it
 * the slowest sender (fewest bytes per second so far) is shed: its body is dropped and it is
 * answered 503 or closed. 3 MiB bodies: about 20 at full size in flight. */
#define KA_MAX_BUFFERED_BODY_DEFAULT (64u * 1024u * 1024u)
/* The metrics and health port (plain HTTP): connections in all, per source address, and how
 * long one may stay open idle. Kubelet probes come from the node's address, so a flood from
 * pods cannot take their slots. */
#define KA_METRICS_MAX_CONNECTIONS_DEFAULT 256
#define KA_METRICS_CONNECTIONS_PER_SOURCE_DEFAULT 8
#define KA_METRICS_TIMEOUT_DEFAULT 5
#define KA_IDLE_TIMEOUT_DEFAULT 120
#define KA_REQUEST_DEADLINE_DEFAULT 9
#define KA_DRAIN_TIMEOUT_DEFAULT 25

/* The registry fetch queue (`serve --attestation-source registry`, kadmit/fetch_queue.h): an
 * admission miss queues its digest and never waits. Digests waiting for the fetcher, digests
 * remembered (with when they were tried and what the registry answered; the least recently
 * missed is forgotten first), the retry backoff after a failed fetch (doubling from MIN up to
 * MAX, counted from the last try) and the registry's answer kept for the denial text. */
#define KA_FETCH_QUEUE_MAX 256
#define KA_FETCH_TRACKED_MAX 4096
#define KA_FETCH_BACKOFF_MIN_S 10
#define KA_FETCH_BACKOFF_MAX_S 600
#define KA_FETCH_ANSWER_MAX 160
#define KA_FETCH_IMAGE_MAX 512
/* Re-poll of digests fetched before, for fresh scans: default, --registry-refresh range. */
#define KA_FETCH_REFRESH_DEFAULT_S 600
#define KA_FETCH_REFRESH_MAX_S 86400

#endif
