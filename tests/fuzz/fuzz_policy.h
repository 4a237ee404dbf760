/*
 * The policy the fuzz targets judge by: the embedded default checklist, loaded once in
 * libFuzzer's LLVMFuzzerInitialize. Include it in exactly one target file.
 */
#ifndef KADMIT_FUZZ_POLICY_H
#define KADMIT_FUZZ_POLICY_H

#include <stdlib.h>

#include "kadmit/policy.h"

static struct ka_policy *policy;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (ka_policy_load_default(NULL, &policy, NULL) != 0) {
        abort();
    }
    return 0;
}

#endif
