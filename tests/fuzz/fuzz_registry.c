/*
 * libFuzzer target: the registry's answers as the fetcher parses them (kadmit/registry.h):
 * image manifests, referrers indexes, token answers, Bearer challenges and image references.
 * The first byte picks the parser, the rest is the answer. Every digest handed back must be
 * sha256:<64 hex> and the counts within KA_REGISTRY_MAX_LAYERS.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kadmit/error.h"
#include "kadmit/registry.h"

static void check_digests(const struct ka_registry_digests *d)
{
    if (d->n + d->bad > KA_REGISTRY_MAX_LAYERS) {
        abort();
    }
    for (size_t i = 0; i < d->n; i++) {
        if (strlen(d->digest[i]) != 71 || strncmp(d->digest[i], "sha256:", 7) != 0 ||
            strspn(d->digest[i] + 7, "0123456789abcdef") != 64) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    struct ka_registry_digests d;
    struct ka_buf notes;
    ka_buf_init(&notes, 8192);
    char *text = malloc(len + 1); /* the NUL-terminated parsers */
    if (text == NULL) {
        return 0;
    }
    memcpy(text, body, len);
    text[len] = '\0';
    switch (data[0] % 5) {
    case 0:
        if (ka_registry_manifest_layers(body, len, data[0] & 0x80, &d, &notes) == 0) {
            check_digests(&d);
        }
        break;
    case 1:
        if (ka_registry_index_referrers(body, len, &d, &notes) == 0) {
            check_digests(&d);
        }
        break;
    case 2: {
        char *token = NULL;
        int r = ka_registry_parse_token(body, len, &token);
        if ((r == 0) != (token != NULL) ||
            (token != NULL &&
             (strlen(token) >= KA_REGISTRY_MAX_TOKEN_LEN || strpbrk(token, "\r\n") != NULL))) {
            abort();
        }
        free(token);
        break;
    }
    case 3: {
        struct ka_registry_ref ref;
        if (ka_registry_parse_image(text, &ref) == 0 &&
            (strlen(ref.hex) != 64 || ref.repo[0] == '\0' || ref.host[0] == '\0')) {
            abort();
        }
        break;
    }
    default: {
        char out[64];
        ka_registry_challenge_param(text, "realm", out, sizeof(out));
        if (strlen(out) >= sizeof(out)) {
            abort();
        }
        break;
    }
    }
    free(text);
    ka_buf_free(&notes);
    return 0;
}
