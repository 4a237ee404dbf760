/*
 * agent-rbac: the checklist's "RBAC roles scoped: agents cannot modify cluster resources; only
 * read secrets in their namespace". An agent runs model-chosen tool calls, so whatever its
 * service account may do, a confused or prompt-injected agent may do too. The agent service
 * accounts are the serviceAccounts globs ("agent-sa" in any namespace, "ai-agents/agent-*" in
 * one); a binding's subject is one when it is that ServiceAccount or the User
 * system:serviceaccount:<ns>:<name>. Group subjects (system:serviceaccounts, ...) are
 * Kubernetes' own bootstrap bindings and are not judged.
 *
 * - A ClusterRoleBinding with an agent subject is denied: it grants in every namespace.
 * - A RoleBinding of an agent to a forbiddenClusterRoles ClusterRole (admin, edit, ...) is
 *   denied: those modify the namespace.
 * - A Role that grants a verb other than get, list or watch, and an agent's role that reads
 *   secrets without resourceNames, are reported at roleAction (warn in the checklist: a Role
 *   alone grants nobody anything). An agent's role is one named in agentRoles, or (in audits)
 *   one a binding of the same input binds to an agent. A ClusterRole is judged only as an
 *   agent's role.
 */
#include "rule_api.h"

#include "kadmit/policy.h"

static const struct ka_param_def agent_rbac_params[] = {
    {"serviceAccounts", KA_P_STRINGS, "[\"agent-sa\"]",
     "the agents' service accounts: globs of a name, or of namespace/name"},
    {"forbiddenClusterRoles", KA_P_STRINGS, "[\"cluster-admin\", \"admin\", \"edit\"]",
     "ClusterRoles (globs) a RoleBinding may not grant to an agent"},
    {"agentRoles", KA_P_STRINGS, "[]",
     "Roles and ClusterRoles (globs of a name, or of namespace/name) that are agents' roles, whose "
     "secrets access needs resourceNames"},
    {"roleAction", KA_P_STRING, "\"warn\"",
     "action of the Role and ClusterRole findings (enforce, warn, audit, off), at most the "
     "rule's"},
    {NULL, 0, NULL, NULL},
};

/* The service account a binding subject names, as "<ns>/<name>" in `out`; 0 when it names
 * none. `binding_ns` is the RoleBinding's namespace ("" for a ClusterRoleBinding). */
static int subject_account(const cJSON *subject, const char *binding_ns, char *out, size_t len)
{
    static const char sa_user[] = "system:serviceaccount:";
    const char *kind = str_at(subject, "kind");
    const char *name = str_at(subject, "name");
    if (kind == NULL || name == NULL || name[0] == '\0') {
        return 0;
    }
    if (strcmp(kind, "ServiceAccount") == 0) {
        const char *ns = str_at(subject, "namespace");
        snprintf(out, len, "%s/%s", ns != NULL && ns[0] != '\0' ? ns : binding_ns, name);
        return 1;
    }
    if (strcmp(kind, "User") != 0 || strncmp(name, sa_user, sizeof(sa_user) - 1) != 0) {
        return 0;
    }
    const char *rest = name + sizeof(sa_user) - 1; /* "<ns>:<name>" */
    const char *colon = strchr(rest, ':');
    if (colon == NULL || colon == rest || colon[1] == '\0') {
        return 0;
    }
    snprintf(out, len, "%.*s/%s", (int)(colon - rest), rest, colon + 1);
    return 1;
}

/* Does a glob of `globs` name `ns_name` ("<ns>/<name>")? A glob with a '/' is matched against
 * "<ns>/<name>", one without against the name alone. */
static int named_by(const cJSON *globs, const char *ns_name)
{
    const char *slash = strchr(ns_name, '/');
    const char *name = slash != NULL ? slash + 1 : ns_name;
    const cJSON *g;
    cJSON_ArrayForEach(g, globs)
    {
        if (cJSON_IsString(g) &&
            ka_glob_match(g->valuestring, strchr(g->valuestring, '/') ? ns_name : name, 0)) {
            return 1;
        }
    }
    return 0;
}

int ka_rbac_record_bindings(const cJSON *binding, const char *ns, cJSON *out)
{
    const char *kind = str_at(binding, "kind");
    const cJSON *ref = item(binding, "roleRef");
    const char *ref_kind = str_at(ref, "kind");
    const char *ref_name = str_at(ref, "name");
    const char *name = str_at(item(binding, "metadata"), "name");
    if (kind == NULL || ref_kind == NULL || ref_name == NULL || name == NULL) {
        return 0;
    }
    int cluster = strcmp(kind, "ClusterRoleBinding") == 0;
    char role[600], by[400], account[600];
    if (strcmp(ref_kind, "ClusterRole") == 0) {
        snprintf(role, sizeof(role), "ClusterRole/%.253s", ref_name);
    } else if (strcmp(ref_kind, "Role") == 0 && !cluster) {
        snprintf(role, sizeof(role), "Role/%.63s/%.253s", ns, ref_name);
    } else {
        return 0;
    }
    snprintf(by, sizeof(by), "%s %.63s%s%.253s", kind, cluster ? "" : ns, cluster ? "" : "/", name);
    const cJSON *s;
    cJSON_ArrayForEach(s, item(binding, "subjects"))
    {
        if (!subject_account(s, cluster ? "" : ns, account, sizeof(account))) {
            continue;
        }
        cJSON *e = cJSON_CreateObject();
        if (e == NULL || !cJSON_AddItemToArray(out, e) ||
            cJSON_AddStringToObject(e, "role", role) == NULL ||
            cJSON_AddStringToObject(e, "serviceAccount", account) == NULL ||
            cJSON_AddStringToObject(e, "binding", by) == NULL) {
            return KA_ENOMEM; /* `e` is freed with `out` once added */
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Bindings
 */

static int check_binding(struct ka_rule_run *run)
{
    const struct ka_object *o = run->obj;
    int cluster = o->kind == KA_KIND_CLUSTERROLEBINDING;
    const cJSON *ref = item(o->root, "roleRef");
    const char *ref_kind = str_at(ref, "kind");
    const char *ref_name = str_at(ref, "name");
    ref_kind = ref_kind != NULL ? ref_kind : "(no kind)";
    ref_name = ref_name != NULL ? ref_name : "(no name)";
    int forbidden = !cluster && strcmp(ref_kind, "ClusterRole") == 0 &&
                    ka_glob_match_any(param(run, "forbiddenClusterRoles"), ref_name, 0);
    const cJSON *s;
    size_t i = 0;
    cJSON_ArrayForEach(s, item(o->root, "subjects"))
    {
        size_t index = i++;
        char account[600], path[48], what[400], fix[400];
        if (!subject_account(s, o->namespace_, account, sizeof(account)) ||
            !named_by(param(run, "serviceAccounts"), account) || (!cluster && !forbidden)) {
            continue;
        }
        snprintf(path, sizeof(path), "/subjects/%zu", index);
        if (cluster) {
            snprintf(what, sizeof(what),
                     "subjects[%zu] is the agent service account %.200s: a ClusterRoleBinding "
                     "grants %.20s %.120s in every namespace",
                     index, account, ref_kind, ref_name);
            snprintf(fix, sizeof(fix),
                     "remove the subject and bind the agent with a RoleBinding in its own "
                     "namespace to a Role that grants only get, list and watch");
        } else {
            snprintf(what, sizeof(what),
                     "subjects[%zu] is the agent service account %.200s, bound to ClusterRole "
                     "%.120s (roleRef.name), which may modify the namespace",
                     index, account, ref_name);
            snprintf(fix, sizeof(fix),
                     "set roleRef to a Role that grants only get, list and watch (secrets by "
                     "resourceNames), or remove the subject");
        }
        int ret = ka_rule_report(run, NULL, path, what, fix);
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Roles
 */

/* Why the role being judged is an agent's ("named in agentRoles", "bound to ServiceAccount
 * ns/sa by RoleBinding ns/b"), in `why`; 0 when it is not. */
static int agent_role(const struct ka_rule_run *run, char *why, size_t len)
{
    const struct ka_object *o = run->obj;
    int cluster = o->kind == KA_KIND_CLUSTERROLE;
    char role[600], ns_name[400];
    snprintf(ns_name, sizeof(ns_name), "%.63s/%.253s", cluster ? "" : o->namespace_, o->name);
    if (cluster ? ka_glob_match_any(param(run, "agentRoles"), o->name, 0)
                : named_by(param(run, "agentRoles"), ns_name)) {
        snprintf(why, len, "named in agentRoles");
        return 1;
    }
    if (cluster) {
        snprintf(role, sizeof(role), "ClusterRole/%.253s", o->name);
    } else {
        snprintf(role, sizeof(role), "Role/%s", ns_name);
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, run->ev->role_bindings)
    {
        const char *r = str_at(e, "role");
        const char *account = str_at(e, "serviceAccount");
        if (r != NULL && account != NULL && strcmp(r, role) == 0 &&
            named_by(param(run, "serviceAccounts"), account)) {
            snprintf(why, len, "bound to ServiceAccount %.200s by %.200s", account,
                     str_at(e, "binding") ?: "a binding");
            return 1;
        }
    }
    return 0;
}

static int grants_secrets(const cJSON *rule)
{
    const cJSON *names = item(rule, "resourceNames");
    if (cJSON_GetArraySize(names) > 0) {
        return 0;
    }
    return (ka_list_has(item(rule, "apiGroups"), "") ||
            ka_list_has(item(rule, "apiGroups"), "*")) &&
           (ka_list_has(item(rule, "resources"), "secrets") ||
            ka_list_has(item(rule, "resources"), "*"));
}

/* The verbs of `rule` other than get, list and watch, comma-separated in `out`; 0 when none. */
static int write_verbs(const cJSON *rule, char *out, size_t len)
{
    size_t n = 0;
    out[0] = '\0';
    const cJSON *v;
    cJSON_ArrayForEach(v, item(rule, "verbs"))
    {
        const char *verb = cJSON_IsString(v) ? v->valuestring : "(not a string)";
        if (strcmp(verb, "get") == 0 || strcmp(verb, "list") == 0 || strcmp(verb, "watch") == 0 ||
            n >= len) {
            continue;
        }
        n += (size_t)snprintf(out + n, len - n, "%s%.40s", n ? ", " : "", verb);
    }
    return n > 0;
}

static int check_role(struct ka_rule_run *run)
{
    enum ka_action action = KA_ACTION_WARN;
    (void)ka_action_parse(param_str(run, "roleAction"), &action); /* checked at load */
    char why[500];
    int agent = agent_role(run, why, sizeof(why));
    int cluster = run->obj->kind == KA_KIND_CLUSTERROLE;
    if (cluster && !agent) {
        return 0; /* ClusterRoles are judged only as an agent's role */
    }
    const cJSON *rule;
    size_t i = 0;
    cJSON_ArrayForEach(rule, item(run->obj->root, "rules"))
    {
        size_t index = i++;
        char verbs[200], path[48], what[600], fix[300];
        int ret = 0;
        if (write_verbs(rule, verbs, sizeof(verbs))) {
            snprintf(path, sizeof(path), "/rules/%zu/verbs", index);
            snprintf(what, sizeof(what), "rules[%zu] grants %s%s%.400s%s", index, verbs,
                     cluster ? " to an agent's ClusterRole (" : "", cluster ? why : "",
                     cluster ? ")" : "");
            snprintf(fix, sizeof(fix), "grant only get, list and watch in rules[%zu].verbs", index);
            ret = ka_rule_report_at(run, action, path, what, fix);
        }
        if (ret == 0 && agent && grants_secrets(rule)) {
            snprintf(path, sizeof(path), "/rules/%zu/resources", index);
            snprintf(what, sizeof(what),
                     "rules[%zu] grants all secrets to an agent's role (%.400s)", index, why);
            snprintf(fix, sizeof(fix), "name the agent's secrets in rules[%zu].resourceNames",
                     index);
            ret = ka_rule_report_at(run, action, path, what, fix);
        }
        if (ret != 0) {
            return ret;
        }
    }
    return 0;
}

static int run_agent_rbac(struct ka_rule_run *run)
{
    unsigned roles = KA_KIND_ROLE | KA_KIND_CLUSTERROLE;
    return (run->obj->kind & roles) != 0 ? check_role(run) : check_binding(run);
}

static int check_params(const cJSON *params, char *err, size_t err_len, const cJSON **where)
{
    enum ka_action action;
    const cJSON *v = item(params, "roleAction");
    if (ka_action_parse(cJSON_GetStringValue(v), &action) != 0) {
        *where = v;
        snprintf(err, err_len, "roleAction must be enforce, warn, audit or off");
        return KA_EPOLICY;
    }
    return 0;
}

const struct ka_rule_def ka_rule_agent_rbac = {
    .id = "agent-rbac",
    .summary = "agents' service accounts get no ClusterRoleBinding and no admin/edit "
               "RoleBinding; Roles only read, agents' secrets by `resourceNames` (Roles at "
               "`roleAction`, warn)",
    .description =
        "Agent service accounts are the serviceAccounts globs (ServiceAccount subjects, or User "
        "system:serviceaccount:<ns>:<name>). Denied: a ClusterRoleBinding with an agent subject; "
        "a RoleBinding binding an agent to a forbiddenClusterRoles ClusterRole. Reported at "
        "roleAction (never above the rule's action): a Role granting a verb other than get, "
        "list or watch; an agent's Role or ClusterRole granting secrets without resourceNames "
        "(an agent's role: named in agentRoles, or in audits bound to an agent by a binding of "
        "the same input). ClusterRoles are judged only as agents' roles. Group subjects are "
        "not judged.",
    .default_action = KA_ACTION_ENFORCE,
    .kinds = KA_KIND_ROLE | KA_KIND_CLUSTERROLE | KA_KIND_ROLEBINDING | KA_KIND_CLUSTERROLEBINDING,
    .params = agent_rbac_params,
    .check = check_params,
    .run = run_agent_rbac,
};
