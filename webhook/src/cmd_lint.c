/* `kadmit lint`: the policy loader's diagnostics without loading anything. */
#include <stdio.h>

#include "kadmit/buf.h"
#include "kadmit/cli.h"
#include "kadmit/error.h"
#include "kadmit/policy.h"

static const struct ka_cli_usage lint_usage = {
    "kadmit lint [--strict] PATH...",
    "Validates policy files or directories: unknown fields, wrong types, bad\n"
    "selectors, duplicate or unknown rule ids, overlays whose base or rules do not\n"
    "exist. Problems are printed as file:line:column: message. Warnings\n"
    "(file:line:column: warning: ...) name what an admin may not have meant: a\n"
    "field set by two overlays, a checklist rule left off without action: off, an\n"
    "enforced rule that denies every object.\n",
    "exit: 0 valid, 1 warnings with --strict, 2 invalid\n"};

int ka_cmd_lint(int argc, char **argv)
{
    int strict = 0, first = 0;
    const struct ka_cli_opt flags[] = {
        KA_CLI_FLAG("strict", 0, &strict, "exit 1 when there are warnings"),
        KA_CLI_END,
    };
    int done = ka_cli_parse("lint", &lint_usage, flags, argc, argv, &first);
    if (done >= 0) {
        return done;
    }
    if (first == argc) {
        ka_cli_usage(stderr, &lint_usage, flags);
        return 2;
    }
    int rc = 0;
    for (int i = first; i < argc; i++) {
        struct ka_buf diag;
        ka_buf_init(&diag, 1024 * 1024);
        size_t warnings = 0;
        int ret = ka_policy_lint_path(argv[i], &diag, &warnings);
        if (diag.len > 0) {
            fputs(diag.data, stderr);
        }
        if (ret != 0) {
            if (diag.len == 0) {
                fprintf(stderr, "%s: %s\n", argv[i], ka_strerror(ret));
            }
            rc = 2;
        } else if (warnings > 0) {
            printf("%s: ok, %zu warning%s\n", argv[i], warnings, warnings == 1 ? "" : "s");
            rc = strict && rc == 0 ? 1 : rc;
        } else {
            printf("%s: ok\n", argv[i]);
        }
        ka_buf_free(&diag);
    }
    return rc;
}
