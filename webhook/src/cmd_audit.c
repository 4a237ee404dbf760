/* `kadmit audit`: evaluate manifests as CREATE and report. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kadmit/audit.h"
#include "kadmit/cli.h"
#include "kadmit/error.h"

static void audit_usage(FILE *f)
{
    fprintf(f,
            "usage: kadmit audit [--policies PATH] [-o text|json] [--fail-on enforce|warn|never]\n"
            "                    FILE|DIR|-...\n\n"
            "Evaluates manifests (multi-document YAML or JSON, kind: List as printed by\n"
            "`kubectl get -o json`, AdmissionReview requests) as CREATE: kadmit's mutations\n"
            "are applied, then every validation rule runs.\n\n"
            "  --policies PATH     policy file or directory (default: embedded checklist)\n"
            "  --attestations DIR  attestation directory for image-scan-attestation\n"
            "  -o, --output FMT    text (default) or json\n"
            "  --fail-on LEVEL     enforce (default): exit 1 when something would be denied;\n"
            "                      warn: also when something would be warned; never\n"
            "  --color auto|always|never   colour in text output (default auto)\n"
            "exit: 0 nothing fails, 1 something fails, 2 bad input or policy\n");
}

int ka_cmd_audit(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"policies", required_argument, NULL, 'p'},
        {"attestations", required_argument, NULL, 'a'},
        {"output", required_argument, NULL, 'o'},
        {"fail-on", required_argument, NULL, 'f'},
        {"color", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *policies = NULL, *attestations = NULL, *format = "text", *fail_on = "enforce",
               *color = "auto";
    int c, rc = 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:a:o:f:c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            policies = optarg;
            break;
        case 'a':
            attestations = optarg;
            break;
        case 'o':
            format = optarg;
            break;
        case 'f':
            fail_on = optarg;
            break;
        case 'c':
            color = optarg;
            break;
        case 'h':
            audit_usage(stdout);
            return 0;
        default:
            audit_usage(stderr);
            return 2;
        }
    }
    if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
        fprintf(stderr, "kadmit audit: unknown output format \"%s\" (text, json)\n", format);
        return 2;
    }
    if (strcmp(fail_on, "enforce") != 0 && strcmp(fail_on, "warn") != 0 &&
        strcmp(fail_on, "never") != 0) {
        fprintf(stderr, "kadmit audit: --fail-on must be enforce, warn or never\n");
        return 2;
    }
    if (optind >= argc) {
        fprintf(stderr, "kadmit audit: name at least one FILE, DIR or -\n");
        audit_usage(stderr);
        return 2;
    }
    struct ka_policy *policy = NULL;
    if (ka_cli_load_policy(policies, attestations, &policy) != 0) {
        return 2;
    }
    struct ka_audit audit;
    ka_audit_init(&audit, policy);
    struct ka_buf out;
    ka_buf_init(&out, 512u * 1024u * 1024u);
    int ret = 0;
    for (int i = optind; ret == 0 && i < argc; i++) {
        ret = ka_audit_add_path(&audit, argv[i]);
    }
    if (ret != 0) {
        fprintf(stderr, "kadmit audit: %s\n", ka_strerror(ret));
        goto cleanup;
    }
    int use_color =
        strcmp(color, "always") == 0 || (strcmp(color, "auto") == 0 && isatty(STDOUT_FILENO));
    ret = strcmp(format, "json") == 0 ? ka_audit_render_json(&audit, &out)
                                      : ka_audit_render_text(&audit, &out, use_color);
    if (ret != 0) {
        fprintf(stderr, "kadmit audit: %s\n", ka_strerror(ret));
        goto cleanup;
    }
    fwrite(out.data, 1, out.len, stdout);
    struct ka_audit_counts counts;
    ka_audit_count(&audit, &counts);
    if (counts.errors > 0) {
        rc = 2;
    } else if (strcmp(fail_on, "never") == 0) {
        rc = 0;
    } else if (counts.denied > 0 || (strcmp(fail_on, "warn") == 0 && counts.warned > 0)) {
        rc = 1;
    } else {
        rc = 0;
    }
cleanup:
    ka_buf_free(&out);
    ka_audit_free(&audit);
    ka_policy_unref(policy);
    return rc;
}
