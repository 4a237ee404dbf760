/* `kadmit review`: the offline face of the admission core. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kadmit/admission.h"
#include "kadmit/cli.h"
#include "kadmit/error.h"
#include "kadmit/limits.h"
#include "kadmit/log.h"
#include "kadmit/policy.h"

int ka_cli_attestations_override(const char *dir, struct ka_rule_override *out, char **json)
{
    cJSON *v = cJSON_CreateString(dir);
    *json = v != NULL ? cJSON_PrintUnformatted(v) : NULL;
    cJSON_Delete(v);
    if (*json == NULL) {
        return KA_ENOMEM;
    }
    *out = (struct ka_rule_override){"image-scan-attestation", "attestationsDir", *json};
    return 0;
}

int ka_cli_load_policy(const char *path, const char *attestations, struct ka_policy **out)
{
    struct ka_buf diag;
    ka_buf_init(&diag, 256 * 1024);
    struct ka_rule_override override;
    char *json = NULL;
    struct ka_policy_load_opts opts = {.quiet_warnings = 1}; /* `kadmit lint` shows them */
    int ret = 0;
    if (attestations != NULL) {
        ret = ka_cli_attestations_override(attestations, &override, &json);
        opts.overrides = &override;
        opts.n_overrides = 1;
    }
    if (ret == 0) {
        enum ka_log_level saved = ka_log_threshold;
        ka_log_threshold = KA_LOG_WARN; /* the server's "attestations loaded" notes: not here */
        ret = path != NULL ? ka_policy_load_path(path, &opts, out, &diag)
                           : ka_policy_load_default(&opts, out, &diag);
        ka_log_threshold = saved;
    }
    cJSON_free(json);
    if (ret != 0) {
        fprintf(stderr, "%skadmit: cannot load policy %s: %s\n", diag.data ? diag.data : "",
                path ? path : "(embedded)", ka_strerror(ret));
    } else {
        /* warnings, e.g. no trusted keys or skipped attestation files: one line each */
        for (const char *line = diag.data; line != NULL && *line != '\0';) {
            const char *end = strchr(line, '\n');
            int len = end != NULL ? (int)(end - line) : (int)strlen(line);
            fprintf(stderr, "kadmit: warning: %.*s\n", len, line);
            line = end != NULL ? end + 1 : NULL;
        }
    }
    ka_buf_free(&diag);
    return ret;
}

static void review_usage(FILE *f)
{
    fprintf(f,
            "usage: kadmit review --endpoint validate|mutate [--policies PATH] "
            "[--attestations DIR] [FILE|-]\n\n"
            "Reads one AdmissionReview v1 request (FILE or stdin) and writes the exact\n"
            "AdmissionReview v1 response the server would send.\n\n"
            "  --endpoint E        validate or mutate (required)\n"
            "  --policies PATH     policy file or directory (default: embedded checklist)\n"
            "  --attestations DIR  attestation directory for image-scan-attestation\n"
            "  --max-json-depth N  JSON nesting limit (default %d)\n"
            "exit: 0 answered (allowed or denied), 2 bad input or policy\n",
            KA_MAX_DEPTH_DEFAULT);
}

int ka_cmd_review(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"endpoint", required_argument, NULL, 'e'},
        {"policies", required_argument, NULL, 'p'},
        {"attestations", required_argument, NULL, 'a'},
        {"max-json-depth", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *endpoint = NULL, *policies = NULL, *attestations = NULL;
    unsigned depth = KA_MAX_DEPTH_DEFAULT;
    int c, rc = 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "e:p:a:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'e':
            endpoint = optarg;
            break;
        case 'p':
            policies = optarg;
            break;
        case 'a':
            attestations = optarg;
            break;
        case 'd': {
            char *end = NULL;
            unsigned long v = strtoul(optarg, &end, 10);
            if (end == optarg || *end != '\0' || v < KA_MAX_DEPTH_MIN || v > KA_MAX_DEPTH_MAX) {
                fprintf(stderr, "kadmit review: --max-json-depth must be %d..%d\n",
                        KA_MAX_DEPTH_MIN, KA_MAX_DEPTH_MAX);
                return 2;
            }
            depth = (unsigned)v;
            break;
        }
        case 'h':
            review_usage(stdout);
            return 0;
        default:
            review_usage(stderr);
            return 2;
        }
    }
    enum ka_endpoint ep;
    if (endpoint != NULL && strcmp(endpoint, "validate") == 0) {
        ep = KA_ENDPOINT_VALIDATE;
    } else if (endpoint != NULL && strcmp(endpoint, "mutate") == 0) {
        ep = KA_ENDPOINT_MUTATE;
    } else {
        fprintf(stderr, "kadmit review: --endpoint must be validate or mutate\n");
        review_usage(stderr);
        return 2;
    }
    const char *file = optind < argc ? argv[optind] : "-";
    struct ka_buf body, out;
    ka_buf_init(&body, KA_MAX_BODY_DEFAULT);
    ka_buf_init(&out, 16u * 1024u * 1024u);
    struct ka_policy *policy = NULL;
    int ret =
        strcmp(file, "-") == 0 ? ka_buf_read_stream(&body, stdin) : ka_buf_read_file(&body, file);
    if (ret != 0) {
        fprintf(stderr, "kadmit review: %s: %s\n", file,
                ret == KA_ELIMIT ? "request larger than the 3 MiB body limit" : ka_strerror(ret));
        goto cleanup;
    }
    if (ka_cli_load_policy(policies, attestations, &policy) != 0) {
        goto cleanup;
    }
    struct ka_review_opts opts = {.max_depth = depth};
    ret = ka_admission_review(policy, ep, body.data, body.len, &opts, &out, NULL);
    if (ret == KA_EREVIEW) {
        fprintf(stderr, "kadmit review: %s: %s\n", file, out.data ? out.data : "bad request");
        goto cleanup;
    }
    if (ret != 0) {
        fprintf(stderr, "kadmit review: %s\n", ka_strerror(ret));
        goto cleanup;
    }
    fwrite(out.data, 1, out.len, stdout);
    fputc('\n', stdout);
    rc = 0;
cleanup:
    ka_policy_unref(policy);
    ka_buf_free(&body);
    ka_buf_free(&out);
    return rc;
}
