/*
 * `kadmit policy show`: the effective policy after the complete policy and its overlays are
 * merged, every value commented with the file:line it came from. The YAML it prints is itself a
 * complete policy that loads to the same snapshot (the comments are only for people).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kadmit/buf.h"
#include "kadmit/cli.h"
#include "kadmit/error.h"
#include "kadmit/log.h"
#include "kadmit/policy.h"

#define KA_SHOW_MAX (16u * 1024u * 1024u)

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* A JSON value as YAML flow: strings quoted, mappings {"k": v, ...}, lists [a, b]. */
static int add_flow(struct ka_buf *b, const cJSON *v)
{
    int ret = 0;
    if (cJSON_IsString(v)) {
        return ka_buf_add_json_string(b, v->valuestring, strlen(v->valuestring));
    }
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        int obj = cJSON_IsObject(v);
        ret = ka_buf_adds(b, obj ? "{" : "[");
        const cJSON *x;
        cJSON_ArrayForEach(x, v)
        {
            if (ret == 0 && x != v->child) {
                ret = ka_buf_adds(b, ", ");
            }
            if (ret == 0 && obj) {
                ret = ka_buf_add_json_string(b, x->string, strlen(x->string));
                ret = ret != 0 ? ret : ka_buf_adds(b, ": ");
            }
            ret = ret != 0 ? ret : add_flow(b, x);
        }
        return ret != 0 ? ret : ka_buf_adds(b, obj ? "}" : "]");
    }
    char *text = cJSON_PrintUnformatted(v); /* numbers, booleans, null */
    if (text == NULL) {
        return KA_ENOMEM;
    }
    ret = ka_buf_adds(b, text);
    cJSON_free(text);
    return ret;
}

/* `<indent>key: value  # origin` */
static int add_line(struct ka_buf *b, int indent, const char *key, const cJSON *v,
                    const cJSON *origin)
{
    int ret = ka_buf_printf(b, "%*s%s: ", indent, "", key);
    ret = ret != 0 ? ret : add_flow(b, v);
    if (ret == 0 && cJSON_IsString(origin)) {
        ret = ka_buf_printf(b, "  # %s", origin->valuestring);
    }
    return ret != 0 ? ret : ka_buf_adds(b, "\n");
}

static int add_rule(struct ka_buf *b, const cJSON *rule, const cJSON *origins)
{
    int ret = ka_buf_printf(b, "    - id: %s\n", cJSON_GetStringValue(get(rule, "id")));
    static const char *const fields[] = {"action", "target", "description", "match", "exclude"};
    for (size_t i = 0; ret == 0 && i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (get(rule, fields[i]) != NULL) {
            ret = add_line(b, 6, fields[i], get(rule, fields[i]), get(origins, fields[i]));
        }
    }
    const cJSON *exceptions = get(rule, "exceptions");
    if (ret == 0 && cJSON_GetArraySize(exceptions) == 0) {
        ret = ka_buf_adds(b, "      exceptions: []\n");
    } else if (ret == 0) {
        ret = ka_buf_adds(b, "      exceptions:\n");
        const cJSON *e, *o = get(origins, "exceptions")->child;
        cJSON_ArrayForEach(e, exceptions)
        {
            ret = ret != 0 ? ret : ka_buf_adds(b, "        - ");
            ret = ret != 0 ? ret : add_flow(b, e);
            ret = ret != 0 ? ret : ka_buf_printf(b, "  # %s\n", cJSON_GetStringValue(o));
            o = o != NULL ? o->next : NULL;
        }
    }
    const cJSON *params = get(rule, "params");
    ret = ret != 0 ? ret
                   : ka_buf_adds(b, cJSON_GetArraySize(params) ? "      params:\n"
                                                               : "      params: {}\n");
    const cJSON *p;
    cJSON_ArrayForEach(p, params)
    {
        ret = ret != 0 ? ret : add_line(b, 8, p->string, p, get(get(origins, "params"), p->string));
    }
    return ret;
}

/* The effective policy as YAML, with origins as comments. */
static int add_yaml(struct ka_buf *b, const cJSON *doc)
{
    const cJSON *status = get(doc, "status"), *origins = get(status, "origins");
    const cJSON *spec = get(doc, "spec");
    int ret = ka_buf_printf(b,
                            "# The effective policy, from: %s\n"
                            "# Each value's comment names where it came from.\n"
                            "apiVersion: %s\nkind: Policy\nmetadata:\n  name: %s\nspec:\n"
                            "  exclude:\n",
                            cJSON_GetStringValue(get(status, "sources")),
                            cJSON_GetStringValue(get(doc, "apiVersion")),
                            cJSON_GetStringValue(get(get(doc, "metadata"), "name")));
    ret = ret != 0 ? ret
                   : add_line(b, 4, "namespaces", get(get(spec, "exclude"), "namespaces"),
                              get(origins, "exclude.namespaces"));
    ret = ret != 0 ? ret : ka_buf_adds(b, "  rules:\n");
    const cJSON *r, *o = get(origins, "rules")->child;
    cJSON_ArrayForEach(r, get(spec, "rules"))
    {
        ret = ret != 0 ? ret : add_rule(b, r, o);
        o = o != NULL ? o->next : NULL;
    }
    return ret;
}

static const struct ka_cli_usage policy_usage = {
    "kadmit policy show [--policies PATH] [-o yaml|json]\n"
    "kadmit policy show --embedded",
    "Prints the effective policy: the complete policy (or the embedded checklist)\n"
    "with every overlay applied. Every rule of the catalogue is listed with its\n"
    "action, match, exclude, exceptions and params; each value names the file:line\n"
    "it came from, (checklist default), (default) or (not set). The YAML output is\n"
    "itself a complete policy; -o json puts the origins under status.origins.\n",
    "exit: 0 printed, 2 bad usage or a policy that does not load\n"};

int ka_cmd_policy(int argc, char **argv)
{
    const char *policies = NULL, *format = "yaml";
    int embedded = 0, operands = 0;
    const struct ka_cli_opt flags[] = {
        KA_CLI_POLICIES(&policies),
        KA_CLI_FLAG("embedded", 0, &embedded,
                    "print the embedded checklist as shipped, to build on it"),
        KA_CLI_STRING("output", 'o', &format, "FMT", "yaml (default) or json"),
        KA_CLI_END,
    };
    if (argc < 2 || strcmp(argv[1], "show") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            ka_cli_usage(stdout, &policy_usage, flags);
            return 0;
        }
        if (argc >= 2) {
            fprintf(stderr, "kadmit policy: unknown subcommand \"%s\"\n", argv[1]);
        }
        ka_cli_usage(stderr, &policy_usage, flags);
        return 2;
    }
    int done = ka_cli_parse("policy show", &policy_usage, flags, argc - 1, argv + 1, &operands);
    if (done >= 0) {
        return done;
    }
    if (operands < argc - 1 || (strcmp(format, "yaml") != 0 && strcmp(format, "json") != 0) ||
        (embedded && policies != NULL)) {
        ka_cli_usage(stderr, &policy_usage, flags);
        return 2;
    }
    if (embedded) {
        size_t len = 0;
        const char *text = ka_policy_default_text(&len);
        return fwrite(text, 1, len, stdout) == len ? 0 : 2;
    }
    int rc = 2;
    struct ka_policy *policy = NULL;
    cJSON *doc = NULL;
    struct ka_buf out;
    ka_buf_init(&out, KA_SHOW_MAX);
    if (ka_cli_load_policy(policies, NULL, &policy) != 0) {
        goto cleanup;
    }
    int ret = ka_policy_effective(policy, &doc);
    if (ret == 0 && strcmp(format, "json") == 0) {
        char *text = cJSON_Print(doc);
        ret = text != NULL ? ka_buf_adds(&out, text) : KA_ENOMEM;
        ret = ret != 0 ? ret : ka_buf_adds(&out, "\n");
        cJSON_free(text);
    } else if (ret == 0) {
        ret = add_yaml(&out, doc);
    }
    if (ret != 0) {
        fprintf(stderr, "kadmit policy show: %s\n", ka_strerror(ret));
        goto cleanup;
    }
    rc = fwrite(out.data, 1, out.len, stdout) == out.len ? 0 : 2;
cleanup:
    cJSON_Delete(doc);
    ka_policy_unref(policy);
    ka_buf_free(&out);
    return rc;
}
