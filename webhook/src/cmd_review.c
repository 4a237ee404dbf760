/* `kadmit review`: the offline face of the admission core. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kadmit/admission.h"
#include "kadmit/cli.h"
#include "kadmit/error.h"
#include "kadmit/limits.h"
#include "kadmit/policy.h"

static const struct ka_cli_usage review_usage = {
    "kadmit review --endpoint validate|mutate [--policies PATH]\n"
    "              [--attestations DIR] [FILE|-]",
    "Reads one AdmissionReview v1 request (FILE or stdin) and writes the exact\n"
    "AdmissionReview v1 response the server would send.\n",
    "exit: 0 answered (allowed or denied), 2 bad input or policy\n"};

int ka_cmd_review(int argc, char **argv)
{
    const char *endpoint = NULL, *policies = NULL, *attestations = NULL, *depth_text = NULL;
    unsigned depth = KA_MAX_DEPTH_DEFAULT;
    int rc = 2, operands = 0;
    const struct ka_cli_opt flags[] = {
        KA_CLI_STRING("endpoint", 'e', &endpoint, "E", "validate or mutate (required)"),
        KA_CLI_POLICY_OPTS(&policies, &attestations),
        KA_CLI_STRING("max-json-depth", 'd', &depth_text, "N",
                      "JSON nesting limit (default " KA_CLI_TEXT(KA_MAX_DEPTH_DEFAULT) ")"),
        KA_CLI_END,
    };
    int done = ka_cli_parse("review", &review_usage, flags, argc, argv, &operands);
    if (done >= 0) {
        return done;
    }
    if (depth_text != NULL) {
        char *end = NULL;
        unsigned long v = strtoul(depth_text, &end, 10);
        if (end == depth_text || *end != '\0' || v < KA_MAX_DEPTH_MIN || v > KA_MAX_DEPTH_MAX) {
            fprintf(stderr, "kadmit review: --max-json-depth must be %d..%d\n", KA_MAX_DEPTH_MIN,
                    KA_MAX_DEPTH_MAX);
            return 2;
        }
        depth = (unsigned)v;
    }
    enum ka_endpoint ep;
    if (endpoint != NULL && strcmp(endpoint, "validate") == 0) {
        ep = KA_ENDPOINT_VALIDATE;
    } else if (endpoint != NULL && strcmp(endpoint, "mutate") == 0) {
        ep = KA_ENDPOINT_MUTATE;
    } else {
        fprintf(stderr, "kadmit review: --endpoint must be validate or mutate\n");
        ka_cli_usage(stderr, &review_usage, flags);
        return 2;
    }
    const char *file = operands < argc ? argv[operands] : "-";
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
