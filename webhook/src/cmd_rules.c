/*
 * `kadmit rules` and `kadmit explain RULE`: the rule registry describing itself. Everything
 * printed comes from the ka_rule_def of each webhook/src/rules/<rule-id>.c and from the shipped
 * checklist, so the catalogue in README.md and policies/README.md (between the
 * `<!-- rules:begin -->` and `<!-- rules:end -->` markers) is never typed by hand: a test
 * compares it with `kadmit rules -o markdown`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kadmit/cli.h"
#include "kadmit/error.h"
#include "kadmit/log.h"
#include "kadmit/policy.h"
#include "kadmit/rules.h"

/* The shipped checklist, to tell each rule's action in it. NULL when it cannot load. */
static struct ka_policy *load_checklist(void)
{
    struct ka_policy *p = NULL;
    enum ka_log_level saved = ka_log_threshold;
    ka_log_threshold = KA_LOG_ERROR; /* attestation loading notes are not the output */
    if (ka_policy_load_default(NULL, &p, NULL) != 0) {
        p = NULL;
    }
    ka_log_threshold = saved;
    return p;
}

/* "enforce", "warn", ...: the rule's action in the checklist, or "-" when it is not there. */
static const char *checklist_action(const struct ka_policy *checklist, const char *id)
{
    size_t n = 0;
    const struct ka_rule *rules = checklist ? ka_policy_rules(checklist, &n) : NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rules[i].def->id, id) == 0) {
            return ka_action_name(rules[i].action);
        }
    }
    return "-";
}

/* "pods and workloads", or the kinds by name ("HorizontalPodAutoscaler"). */
static void kinds_text(unsigned kinds, char *out, size_t len)
{
    if (kinds == 0) { /* a relation */
        snprintf(out, len, "several objects (`kadmit audit` only)");
        return;
    }
    if (kinds == KA_KINDS_WORKLOAD) {
        snprintf(out, len, "pods and workloads");
        return;
    }
    size_t n = 0;
    out[0] = '\0';
    for (unsigned bit = 1; bit != 0 && bit <= KA_KIND_LAST; bit <<= 1) {
        if ((kinds & bit) != 0 && n < len) {
            n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "",
                                  ka_kind_name((enum ka_kind)bit));
        }
    }
}

static const char *rule_type(const struct ka_rule_def *def)
{
    return def->relation != NULL ? "relation" : def->mutating ? "mutation" : "validation";
}

static void print_text(const struct ka_policy *checklist)
{
    printf("%-28s %-10s %-9s %s\n", "RULE", "TYPE", "CHECKLIST", "SUMMARY");
    for (size_t i = 0; ka_rule_defs[i] != NULL; i++) {
        const struct ka_rule_def *d = ka_rule_defs[i];
        printf("%-28s %-10s %-9s %s\n", d->id, rule_type(d), checklist_action(checklist, d->id),
               d->summary);
    }
}

static void print_markdown(const struct ka_policy *checklist)
{
    printf("| rule | kind of rule | applies to | checklist | checks or does | params (default) |\n"
           "|---|---|---|---|---|---|\n");
    for (size_t i = 0; ka_rule_defs[i] != NULL; i++) {
        const struct ka_rule_def *d = ka_rule_defs[i];
        char kinds[256];
        kinds_text(d->kinds, kinds, sizeof(kinds));
        printf("| `%s` | %s | %s | %s | %s | ", d->id, rule_type(d), kinds,
               checklist_action(checklist, d->id), d->summary);
        for (const struct ka_param_def *p = d->params; p != NULL && p->name != NULL; p++) {
            printf("%s`%s` (%s%s%s): %s", p == d->params ? "" : "; ", p->name,
                   p->default_json ? "`" : "", p->default_json ? p->default_json : "none",
                   p->default_json ? "`" : "", p->help);
        }
        printf(" |\n");
    }
}

static int print_json(const struct ka_policy *checklist)
{
    int ret = KA_ENOMEM;
    cJSON *all = cJSON_CreateArray();
    char *text = NULL;
    for (size_t i = 0; all != NULL && ka_rule_defs[i] != NULL; i++) {
        const struct ka_rule_def *d = ka_rule_defs[i];
        cJSON *r = cJSON_CreateObject();
        if (r == NULL || !cJSON_AddItemToArray(all, r)) {
            cJSON_Delete(r);
            goto cleanup;
        }
        cJSON *kinds = cJSON_AddArrayToObject(r, "kinds");
        if (cJSON_AddStringToObject(r, "id", d->id) == NULL ||
            cJSON_AddStringToObject(r, "type", rule_type(d)) == NULL ||
            cJSON_AddStringToObject(r, "checklist", checklist_action(checklist, d->id)) == NULL ||
            cJSON_AddStringToObject(r, "summary", d->summary) == NULL ||
            cJSON_AddStringToObject(r, "description", d->description) == NULL || kinds == NULL) {
            goto cleanup;
        }
        for (unsigned bit = 1; bit <= KA_KIND_LAST; bit <<= 1) {
            cJSON *k =
                (d->kinds & bit) ? cJSON_CreateString(ka_kind_name((enum ka_kind)bit)) : NULL;
            if ((d->kinds & bit) && (k == NULL || !cJSON_AddItemToArray(kinds, k))) {
                cJSON_Delete(k);
                goto cleanup;
            }
        }
        cJSON *params = cJSON_AddArrayToObject(r, "params");
        for (const struct ka_param_def *p = d->params; p != NULL && p->name != NULL; p++) {
            cJSON *pj = cJSON_CreateObject();
            cJSON *def = p->default_json ? cJSON_Parse(p->default_json) : cJSON_CreateNull();
            if (params == NULL || pj == NULL || !cJSON_AddItemToArray(params, pj) ||
                cJSON_AddStringToObject(pj, "name", p->name) == NULL ||
                cJSON_AddStringToObject(pj, "type", ka_param_type_name(p->type)) == NULL ||
                def == NULL || !cJSON_AddItemToObject(pj, "default", def) ||
                cJSON_AddStringToObject(pj, "help", p->help) == NULL) {
                cJSON_Delete(def);
                goto cleanup;
            }
        }
    }
    text = all != NULL ? cJSON_Print(all) : NULL;
    if (text != NULL) {
        printf("%s\n", text);
        ret = 0;
    }
cleanup:
    cJSON_free(text);
    cJSON_Delete(all);
    return ret;
}

static const struct ka_cli_usage rules_usage = {
    "kadmit rules [-o text|json|markdown]",
    "Lists every rule kadmit knows: id, kind of rule (validation or mutation), the\n"
    "action the shipped checklist gives it (\"-\": not in the checklist) and what it\n"
    "checks. json and markdown add the kinds each rule applies to and its params.\n"
    "`kadmit explain RULE` tells one rule in full.\n",
    "exit status: 0 listed, 2 bad usage\n"};

int ka_cmd_rules(int argc, char **argv)
{
    const char *format = "text";
    int operands = 0;
    const struct ka_cli_opt flags[] = {
        KA_CLI_STRING("output", 'o', &format, "FMT", "text (default), json or markdown"),
        KA_CLI_END,
    };
    int done = ka_cli_parse("rules", &rules_usage, flags, argc, argv, &operands);
    if (done >= 0) {
        return done;
    }
    if (operands < argc || (strcmp(format, "text") != 0 && strcmp(format, "json") != 0 &&
                            strcmp(format, "markdown") != 0)) {
        ka_cli_usage(stderr, &rules_usage, flags);
        return 2;
    }
    struct ka_policy *checklist = load_checklist();
    int ret = 0;
    if (strcmp(format, "json") == 0) {
        ret = print_json(checklist);
    } else if (strcmp(format, "markdown") == 0) {
        print_markdown(checklist);
    } else {
        print_text(checklist);
    }
    ka_policy_unref(checklist);
    if (ret != 0) {
        fprintf(stderr, "kadmit rules: %s\n", ka_strerror(ret));
        return 1;
    }
    return 0;
}

static const struct ka_cli_usage explain_usage = {
    "kadmit explain RULE",
    "Tells one rule: what it checks or does, the kinds it applies to, each param\n"
    "with its type, default and meaning, and a policy file that configures it\n"
    "with those defaults. `kadmit rules` lists the rule ids.\n",
    "exit status: 0 explained, 2 unknown rule or bad usage\n"};

int ka_cmd_explain(int argc, char **argv)
{
    int rule = 0;
    const struct ka_cli_opt flags[] = {
        KA_CLI_END,
    };
    int done = ka_cli_parse("explain", &explain_usage, flags, argc, argv, &rule);
    if (done >= 0) {
        return done;
    }
    if (argc - rule != 1) {
        ka_cli_usage(stderr, &explain_usage, flags);
        return 2;
    }
    const struct ka_rule_def *d = ka_rule_def_find(argv[rule]);
    if (d == NULL) {
        fprintf(stderr, "kadmit explain: unknown rule \"%s\" (`kadmit rules` lists them)\n",
                argv[rule]);
        return 2;
    }
    struct ka_policy *checklist = load_checklist();
    const char *action = checklist_action(checklist, d->id);
    char kinds[256];
    kinds_text(d->kinds, kinds, sizeof(kinds));
    printf("%s: %s rule for %s; in the shipped checklist: %s\n\n%s\n\n%s\n", d->id, rule_type(d),
           kinds, strcmp(action, "-") == 0 ? "absent" : action, d->summary, d->description);
    printf("\nparams:\n");
    for (const struct ka_param_def *p = d->params; p != NULL && p->name != NULL; p++) {
        printf("  %s (%s, default %s)\n      %s\n", p->name, ka_param_type_name(p->type),
               p->default_json ? p->default_json : "none", p->help);
    }
    int in_checklist = strcmp(action, "-") != 0;
    /* In the checklist: an overlay, so following the example keeps every other rule. */
    printf(in_checklist
               ? "\nAn overlay that sets it on the checklist (every other rule stays as the "
                 "checklist says):\n\n"
               : "\nA policy file that turns it on with these defaults (the checklist does not "
                 "have it, so this is a complete policy: rules it does not list are off; "
                 "`kadmit policy show > policy.yaml` lists every rule to start from):\n\n");
    printf("apiVersion: kadmit.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: %s\nspec:\n%s"
           "  rules:\n    - id: %s\n      action: %s\n",
           d->id, in_checklist ? "  base: checklist\n" : "", d->id, in_checklist ? action : "warn");
    if (d->params != NULL && d->params[0].name != NULL) {
        printf("      params:\n");
        for (const struct ka_param_def *p = d->params; p->name != NULL; p++) {
            if (p->default_json != NULL) {
                printf("        %s: %s\n", p->name, p->default_json);
            }
        }
    }
    ka_policy_unref(checklist);
    return 0;
}
