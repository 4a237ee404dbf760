/* `kadmit lint`: the policy loader's diagnostics without loading anything. */
#include <stdio.h>
#include <string.h>

#include "kadmit/buf.h"
#include "kadmit/cli.h"
#include "kadmit/error.h"
#include "kadmit/policy.h"

int ka_cmd_lint(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: kadmit lint PATH...\n\n"
                   "Validates policy files or directories: unknown fields, wrong types, bad\n"
                   "selectors, duplicate or unknown rule ids. Problems are printed as\n"
                   "file:line:column: message.\nexit: 0 valid, 2 invalid\n");
        return argc < 2 ? 2 : 0;
    }
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        struct ka_buf diag;
        ka_buf_init(&diag, 1024 * 1024);
        int ret = ka_policy_lint_path(argv[i], &diag);
        if (diag.len > 0) {
            fputs(diag.data, stderr);
        }
        if (ret != 0) {
            if (diag.len == 0) {
                fprintf(stderr, "%s: %s\n", argv[i], ka_strerror(ret));
            }
            rc = 2;
        } else {
            printf("%s: ok\n", argv[i]);
        }
        ka_buf_free(&diag);
    }
    return rc;
}
