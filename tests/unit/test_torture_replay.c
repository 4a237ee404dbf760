/*
 * Replays tests/fixtures/regressions/: bodies that once crashed kadmit or were answered wrongly
 * (found by the fuzzers, the torture test and the hostile-client test). Each goes through both
 * endpoints and the manifest reader; the expected answer is in the file name (see the README
 * there). Runs under ASan/UBSan in tests/run and under valgrind in valgrind.sh.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ka_test.h"
#include "kadmit/admission.h"
#include "kadmit/audit.h"
#include "kadmit/error.h"
#include "kadmit/policy.h"

static struct ka_policy *policy;
static char dir[1024];

/* Decoded response.patch (a JSON array) or NULL. Caller deletes. */
static cJSON *decode_patch(const cJSON *resp)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(resp, "patch");
    if (!cJSON_IsString(p)) {
        return NULL;
    }
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(p->valuestring);
    char *out = malloc(n + 1);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; out != NULL && i < n && p->valuestring[i] != '='; i++) {
        const char *c = strchr(tbl, p->valuestring[i]);
        if (c == NULL) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)(c - tbl);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xFF);
        }
    }
    cJSON *patch = out != NULL ? cJSON_ParseWithLength(out, o) : NULL;
    free(out);
    return patch;
}

/* The mutate answer is complete: every added container has its parts, every probe a port. */
static int patch_complete(const cJSON *patch)
{
    const cJSON *op;
    int n = 0;
    cJSON_ArrayForEach(op, patch)
    {
        const cJSON *path = cJSON_GetObjectItemCaseSensitive(op, "path");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(op, "value");
        if (!cJSON_IsString(path) || v == NULL) {
            return 0;
        }
        if (strcmp(path->valuestring, "/spec/containers/-") == 0) {
            const cJSON *res = cJSON_GetObjectItemCaseSensitive(v, "resources");
            if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, "name")) ||
                !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(v, "image")) ||
                !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(res, "requests")) ||
                !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(res, "limits"))) {
                return 0;
            }
        }
        if (strstr(path->valuestring, "Probe") != NULL) {
            const cJSON *get = cJSON_GetObjectItemCaseSensitive(v, "httpGet");
            if (cJSON_GetObjectItemCaseSensitive(get, "port") == NULL) {
                return 0;
            }
        }
        n++;
    }
    return n > 0;
}

/* One endpoint on one body; `expect` is the name's expectation token or "answer". */
static int replay_one(const char *name, const char *data, size_t len, enum ka_endpoint ep,
                      const char *expect)
{
    struct ka_buf out;
    ka_buf_init(&out, 16u * 1024u * 1024u);
    struct ka_review_opts opts = {.now = 1795000000};
    int ret = ka_admission_review(policy, ep, data, len, &opts, &out, NULL);
    int ok = 0;
    const char *why = "";
    if (strcmp(expect, "400") == 0) {
        ok = ret == KA_EREVIEW && out.len > 0;
        why = "want KA_EREVIEW with a reason";
    } else if (ret != 0) {
        why = "no answer";
    } else {
        cJSON *root = cJSON_ParseWithLength(out.data, out.len);
        const cJSON *resp = cJSON_GetObjectItemCaseSensitive(root, "response");
        const cJSON *allowed = cJSON_GetObjectItemCaseSensitive(resp, "allowed");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(resp, "status"), "message");
        int deny_ok = cJSON_IsFalse(allowed) && cJSON_IsString(msg) && msg->valuestring[0];
        if (strcmp(expect, "validate-deny") == 0 || strcmp(expect, "deny") == 0) {
            ok = deny_ok;
            why = "want a deny with a message";
        } else if (strcmp(expect, "mutate-patch") == 0) {
            cJSON *patch = decode_patch(resp);
            ok = cJSON_IsTrue(allowed) && patch_complete(patch);
            cJSON_Delete(patch);
            why = "want an allow with a complete patch";
        } else {
            ok = cJSON_IsTrue(allowed) || deny_ok;
            why = "want a well-formed answer";
        }
        cJSON_Delete(root);
    }
    if (!ok) {
        fprintf(stderr, "\n  %s (%s): %s; got %d %.300s\n", name, ka_endpoint_name(ep), why, ret,
                out.data ? out.data : "");
    }
    ka_buf_free(&out);
    return ok;
}

/* NAME.policy-error.yaml: the policy loader refuses it with a diagnostic (no crash, no UB). */
static int replay_policy(const char *name)
{
    char path[2048];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct ka_buf data, diag;
    ka_buf_init(&data, 1024u * 1024u);
    ka_buf_init(&diag, 64u * 1024u);
    CU_ASSERT_EQUAL_FATAL(ka_buf_read_file(&data, path), 0);
    struct ka_policy *p = NULL;
    int ret = ka_policy_load_buffer(name, data.data, data.len, NULL, &p, &diag);
    CU_ASSERT_EQUAL(ret, KA_EPOLICY);
    CU_ASSERT(diag.len > 0);
    if (ret != KA_EPOLICY) {
        fprintf(stderr, "\n  %s: want KA_EPOLICY, got %d\n", name, ret);
    }
    ka_policy_unref(p);
    ka_buf_free(&diag);
    ka_buf_free(&data);
    return 1;
}

static void test_replay(void)
{
    DIR *d = opendir(dir);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 18 && strcmp(e->d_name + len - 18, ".policy-error.yaml") == 0) {
            n += replay_policy(e->d_name);
            continue;
        }
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0) {
            continue;
        }
        /* NAME.EXPECT.json */
        char expect[32] = "answer";
        const char *dot = memrchr(e->d_name, '.', len - 5);
        if (dot != NULL) {
            snprintf(expect, sizeof(expect), "%.*s", (int)(e->d_name + len - 5 - dot - 1), dot + 1);
        }
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct ka_buf body;
        ka_buf_init(&body, 64u * 1024u * 1024u);
        CU_ASSERT_EQUAL_FATAL(ka_buf_read_file(&body, path), 0);
        int both = strcmp(expect, "400") == 0 || strcmp(expect, "deny") == 0;
        const char *v_expect = both || strcmp(expect, "validate-deny") == 0 ? expect : "answer";
        const char *m_expect = both || strcmp(expect, "mutate-patch") == 0 ? expect : "answer";
        CU_ASSERT(replay_one(e->d_name, body.data, body.len, KA_ENDPOINT_VALIDATE, v_expect));
        CU_ASSERT(replay_one(e->d_name, body.data, body.len, KA_ENDPOINT_MUTATE, m_expect));
        /* the manifest reader must survive it too */
        struct ka_audit a;
        ka_audit_init(&a, policy);
        int ret = ka_audit_add_bytes(&a, e->d_name, body.data, body.len);
        CU_ASSERT(ret == 0);
        ka_audit_free(&a);
        ka_buf_free(&body);
        n++;
    }
    closedir(d);
    printf("\n  replayed %d regression inputs from %s\n", n, dir);
    CU_ASSERT(n >= 10);
}

static const struct ka_test tests[] = {
    {"regression inputs: both endpoints and the manifest reader", test_replay},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    const char *src = getenv("KADMIT_SOURCE_DIR");
    snprintf(dir, sizeof(dir), "%s/tests/fixtures/regressions", src ? src : ".");
    return ka_test_run_with_policy("torture_replay", tests, argc, argv, ka_test_load_checklist,
                                   &policy);
}
