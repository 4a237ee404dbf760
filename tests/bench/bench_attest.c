/*
 * bench_attest [N] [LOOKUPS]: generate N (default 10000) signed attestations (ECDSA P-256,
 * signed here with mbedTLS, one DSSE file each, a small Trivy report inside) into a temporary
 * directory, then time ka_attest_index_load_dir() and LOOKUPS (default 1000000) calls of
 * ka_attest_check() for hits and misses. Prints milliseconds and peak RSS; never fails on time.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>

#include "bench_time.h"
#include "kadmit/attest.h"
#include "kadmit/buf.h"
#include "kadmit/log.h"
#include "mbedtls_compat.h"

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static double cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void digest_of(size_t i, char out[65])
{
    /* a spread-out, reproducible digest per attestation */
    uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull + 12345;
    for (int k = 0; k < 64; k++) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 29;
        out[k] = "0123456789abcdef"[x & 15];
    }
    out[64] = '\0';
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
    size_t lookups = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
    int ret = 1;
    char dir[] = "/tmp/kadmit-bench-attest-XXXXXX";
    mbedtls_pk_context key;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    struct ka_attest_keys *keys = NULL;
    struct ka_attest_index *idx = NULL;
    struct ka_buf st, pae, file;
    unsigned char pem[1024], hash[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    mbedtls_pk_init(&key);
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    ka_buf_init(&st, 1 << 20);
    ka_buf_init(&pae, 1 << 20);
    ka_buf_init(&file, 1 << 21);
    ka_log_threshold = KA_LOG_WARN;

    if (n == 0 || mkdtemp(dir) == NULL ||
        mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0) != 0 ||
        mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
        mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), mbedtls_ctr_drbg_random,
                            &drbg) != 0 ||
        mbedtls_pk_write_pubkey_pem(&key, pem, sizeof(pem)) != 0) {
        fprintf(stderr, "bench_attest: setup failed\n");
        goto exit;
    }
    if (ka_attest_keys_new(&keys) != 0 ||
        ka_attest_keys_add_pem(keys, (const char *)pem, strlen((const char *)pem), "bench", NULL,
                               NULL) != 0) {
        fprintf(stderr, "bench_attest: key setup failed\n");
        goto exit;
    }

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        char d[65], path[128];
        digest_of(i, d);
        ka_buf_reset(&st);
        ka_buf_reset(&pae);
        ka_buf_reset(&file);
        int r = ka_buf_printf(
            &st,
            "{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicateType\":\"https://"
            "cosign.sigstore.dev/attestation/vuln/v1\",\"subject\":[{\"name\":\"registry."
            "example/app-%zu\",\"digest\":{\"sha256\":\"%s\"}}],\"predicate\":{\"invocation\":{},"
            "\"scanner\":{\"uri\":\"pkg:github/aquasecurity/trivy@v0.57.1\",\"version\":"
            "\"v0.57.1\",\"db\":{},\"result\":{\"SchemaVersion\":2,\"Results\":[{\"Target\":"
            "\"app\",\"Vulnerabilities\":[{\"VulnerabilityID\":\"CVE-2024-1\",\"Severity\":"
            "\"HIGH\"},{\"VulnerabilityID\":\"CVE-2024-2\",\"Severity\":\"%s\"}]}]}},"
            "\"metadata\":{\"scanStartedOn\":\"2026-11-27T10:00:00Z\",\"scanFinishedOn\":"
            "\"2026-11-27T10:00:00Z\"}}}",
            i, d, i % 10 == 0 ? "CRITICAL" : "LOW");
        r = r ? r : ka_buf_printf(&pae, "DSSEv1 28 application/vnd.in-toto+json %zu ", st.len);
        r = r ? r : ka_buf_add(&pae, st.data, st.len);
        size_t sig_len = 0, olen = 0;
        r = r ? r
              : mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                           (const unsigned char *)pae.data, pae.len, hash);
        r = r ? r
              : ka_pk_sign(&key, MBEDTLS_MD_SHA256, hash, 32, sig, sizeof(sig), &sig_len,
                           mbedtls_ctr_drbg_random, &drbg);
        static unsigned char p64[1 << 20], s64[512];
        r = r ? r
              : mbedtls_base64_encode(p64, sizeof(p64), &olen, (const unsigned char *)st.data,
                                      st.len);
        size_t slen = 0;
        r = r ? r : mbedtls_base64_encode(s64, sizeof(s64), &slen, sig, sig_len);
        r = r ? r
              : ka_buf_printf(&file,
                              "{\"payloadType\":\"application/vnd.in-toto+json\",\"payload\":"
                              "\"%s\",\"signatures\":[{\"keyid\":\"\",\"sig\":\"%s\"}]}\n",
                              p64, s64);
        snprintf(path, sizeof(path), "%s/att-%06zu.json", dir, i);
        FILE *f = r ? NULL : fopen(path, "wb");
        if (f == NULL || fwrite(file.data, 1, file.len, f) != file.len || fclose(f) != 0) {
            fprintf(stderr, "bench_attest: cannot write %s\n", path);
            goto exit;
        }
        bytes += file.len;
    }
    printf("generate: %zu signed attestations (%zu bytes) in %.0f ms\n", n, bytes, ms_since(&t0));
    long rss0 = bench_peak_rss_kib();

    clock_gettime(CLOCK_MONOTONIC, &t0);
    double c0 = cpu_ms();
    if (ka_attest_index_load_dir(dir, keys, &idx, NULL) != 0) {
        fprintf(stderr, "bench_attest: load failed\n");
        goto exit;
    }
    double load_ms = ms_since(&t0), load_cpu = cpu_ms() - c0;
    struct ka_attest_stats stats;
    ka_attest_index_stats(idx, &stats);
    printf("load:     %zu files, %zu verified, %zu entries in %.1f ms wall, %.1f ms CPU "
           "(%.3f ms CPU/file)\n",
           stats.files, stats.verified, stats.entries, load_ms, load_cpu, load_cpu / (double)n);

    /* reload after one more file arrives: unchanged files are reused, not re-verified */
    {
        char path[128];
        snprintf(path, sizeof(path), "%s/zz-new.json", dir);
        FILE *f = fopen(path, "wb");
        if (f == NULL || fwrite(file.data, 1, file.len, f) != file.len || fclose(f) != 0) {
            goto exit;
        }
        struct ka_attest_index *next = NULL;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        c0 = cpu_ms();
        if (ka_attest_index_reload_dir(dir, keys, idx, &next, NULL) != 0) {
            fprintf(stderr, "bench_attest: reload failed\n");
            goto exit;
        }
        double rl_ms = ms_since(&t0), rl_cpu = cpu_ms() - c0;
        ka_attest_index_stats(next, &stats);
        printf("reload:   %zu files (%zu unchanged, reused) in %.1f ms wall, %.1f ms CPU\n",
               stats.files, stats.reused, rl_ms, rl_cpu);
        ka_attest_index_free(idx);
        idx = next;
    }

    struct ka_attest_params p;
    ka_attest_params_init(&p);
    int64_t now = 0;
    if (ka_attest_parse_time("2026-11-28T12:00:00Z", 20, &now) != 0) {
        goto exit;
    }
    struct ka_buf why;
    ka_buf_init(&why, 4096);
    /* image references are built before timing: the loop measures ka_attest_check() alone */
    size_t distinct = n < 4096 ? n : 4096;
    char(*hits)[100] = malloc(distinct * sizeof(*hits));
    char(*misses)[100] = malloc(distinct * sizeof(*misses));
    if (hits == NULL || misses == NULL) {
        free(hits);
        free(misses);
        ka_buf_free(&why);
        goto exit;
    }
    for (size_t i = 0; i < distinct; i++) {
        char d[65];
        digest_of(i * (n / distinct), d);
        snprintf(hits[i], sizeof(hits[i]), "registry.example/app@sha256:%s", d);
        digest_of(n + i, d);
        snprintf(misses[i], sizeof(misses[i]), "registry.example/app@sha256:%s", d);
    }
    for (int round = 0; round < 2; round++) {
        char(*images)[100] = round == 0 ? hits : misses;
        size_t pass = 0, fail = 0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        c0 = cpu_ms();
        for (size_t i = 0; i < lookups; i++) {
            ka_buf_reset(&why);
            if (ka_attest_check(idx, images[i % distinct], &p, now, &why) == 0) {
                pass++;
            } else {
                fail++;
            }
        }
        double wall = ms_since(&t0), cpu = cpu_ms() - c0;
        printf("lookup:   %zu %s (%zu pass, %zu denied) in %.1f ms wall, %.1f ms CPU "
               "(%.3f us CPU each)\n",
               lookups, round == 0 ? "hits" : "misses", pass, fail, wall, cpu,
               cpu * 1e3 / (double)lookups);
    }
    free(hits);
    free(misses);
    ka_buf_free(&why);
    printf("rss:      peak %ld KiB (%ld KiB before load)\n", bench_peak_rss_kib(), rss0);
    ret = 0;
exit:
    if (getenv("KADMIT_BENCH_KEEP") == NULL) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "bench_attest: could not remove %s\n", dir);
        }
    } else {
        printf("kept:     %s\n", dir);
    }
    ka_attest_index_free(idx);
    ka_attest_keys_free(keys);
    mbedtls_pk_free(&key);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    ka_buf_free(&st);
    ka_buf_free(&pae);
    ka_buf_free(&file);
    return ret;
}
