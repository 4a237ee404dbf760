/*
 * libFuzzer driver for the attestation parser: arbitrary bytes as one attestation file (DSSE
 * envelope, JSON Lines or Sigstore bundle), then a lookup for an image and an inspection of
 * every entry. Build with -DKADMIT_FUZZ=ON (clang). Seed it with files made by
 * tests/attest/sign.sh for deeper coverage.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>

#include "kadmit/attest.h"
#include "kadmit/duration.h"
#include "kadmit/log.h"

static struct ka_attest_keys *keys;

static int fixed_entropy(void *ctx, unsigned char *out, size_t len)
{
    (void)ctx;
    memset(out, 0x5a, len);
    return 0;
}

static void init_keys(void)
{
    mbedtls_pk_context pk;
    mbedtls_ctr_drbg_context drbg;
    unsigned char pem[1024];
    mbedtls_pk_init(&pk);
    mbedtls_ctr_drbg_init(&drbg);
    if (mbedtls_ctr_drbg_seed(&drbg, fixed_entropy, NULL, NULL, 0) != 0 ||
        mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
        mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), mbedtls_ctr_drbg_random,
                            &drbg) != 0 ||
        mbedtls_pk_write_pubkey_pem(&pk, pem, sizeof(pem)) != 0 || ka_attest_keys_new(&keys) != 0 ||
        ka_attest_keys_add_pem(keys, (const char *)pem, strlen((const char *)pem), "fuzz", NULL,
                               NULL) != 0) {
        abort();
    }
    mbedtls_pk_free(&pk);
    mbedtls_ctr_drbg_free(&drbg);
    ka_log_threshold = KA_LOG_ERROR;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (keys == NULL) {
        init_keys();
    }
    struct ka_attest_index *idx = NULL;
    struct ka_buf diag, why;
    ka_buf_init(&diag, 4096);
    ka_buf_init(&why, 4096);
    if (ka_attest_index_new(&idx) != 0) {
        abort();
    }
    (void)ka_attest_index_add_bytes(idx, "fuzz", (const char *)data, size, keys, &diag);
    struct ka_attest_params p;
    ka_attest_params_init(&p);
    (void)ka_attest_check(
        idx, "r/x@sha256:0000000000000000000000000000000000000000000000000000000000000000", &p,
        1800000000, &why);
    for (size_t i = 0; i < ka_attest_index_count(idx); i++) {
        struct ka_attest_entry e;
        if (ka_attest_index_entry(idx, i, &e) != 0) {
            abort();
        }
        char image[128];
        snprintf(image, sizeof(image), "r/x@%s", e.digest);
        ka_buf_reset(&why);
        (void)ka_attest_check(idx, image, &p, 1800000000, &why);
        (void)ka_attest_entry_evaluate(&e, e.digest, &p, 1800000000, &why);
        (void)ka_attest_check(idx, image, &p, INT64_MAX, &why);
        (void)ka_attest_check(idx, image, &p, INT64_MIN, &why);
    }
    /* the same bytes as an in-toto statement inside an envelope (the signature fails, but the
     * statement and predicate are parsed and indexed either way) */
    size_t b64_len = 0;
    unsigned char *b64 = malloc(size * 4 / 3 + 8);
    struct ka_buf env;
    ka_buf_init(&env, size * 2 + 1024);
    if (b64 != NULL && mbedtls_base64_encode(b64, size * 4 / 3 + 8, &b64_len, data, size) == 0 &&
        ka_buf_printf(&env,
                      "{\"payloadType\":\"application/vnd.in-toto+json\",\"payload\":\"%.*s\","
                      "\"signatures\":[{\"keyid\":\"\",\"sig\":\"MEUCIQ==\"}]}",
                      (int)b64_len, (const char *)b64) == 0) {
        (void)ka_attest_index_add_bytes(idx, "fuzz-statement", env.data, env.len, keys, &diag);
        for (size_t i = 0; i < ka_attest_index_count(idx); i++) {
            struct ka_attest_entry e;
            if (ka_attest_index_entry(idx, i, &e) != 0) {
                abort();
            }
            ka_buf_reset(&why);
            (void)ka_attest_entry_evaluate(&e, e.digest, &p, 1800000000, &why);
        }
    }
    free(b64);
    ka_buf_free(&env);
    int64_t v;
    char text[64];
    size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    (void)ka_attest_parse_time(text, n, &v);
    (void)ka_duration_parse(text, &v);
    (void)ka_attest_parse_severity_limits(text, &p);
    ka_attest_index_free(idx);
    ka_buf_free(&diag);
    ka_buf_free(&why);
    return 0;
}
