/*
 * libFuzzer target: the manifest stream reader (manifest.h) - YAML documents split on `---`
 * lines, anchors/aliases/merge keys, JSON values, streams and List items.
 *
 * The first input byte picks a window (1-64 bytes) and a per-object cap; the rest is read twice:
 * from memory, and from a FILE in windows of that size, so every value, string, escape and line
 * straddles a refill somewhere. Both readings must yield the same documents (sources, errors and
 * objects) - a differential check of the refill logic - and free everything.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kadmit/error.h"
#include "kadmit/manifest.h"

#define MAX_DOCS 256

struct seen {
    char *text[MAX_DOCS]; /* "source|error|object" */
    size_t n;
};

static void seen_free(struct seen *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->text[i]);
    }
    s->n = 0;
}

static int read_all(struct ka_manifest_reader *r, struct seen *s)
{
    struct ka_manifest_doc d;
    int ret;
    while ((ret = ka_manifest_next(r, &d)) == 1) {
        char *obj = d.object != NULL ? cJSON_PrintUnformatted(d.object) : NULL;
        if (d.object != NULL && obj == NULL) {
            abort(); /* the fuzzer runs without allocation failures */
        }
        if ((d.object == NULL) == (d.error[0] == '\0')) {
            abort(); /* exactly one of object and error */
        }
        cJSON_Delete(d.object);
        if (s->n < MAX_DOCS) {
            size_t len = strlen(d.source) + strlen(d.error) + (obj ? strlen(obj) : 0) + 3;
            s->text[s->n] = malloc(len);
            if (s->text[s->n] == NULL) {
                abort();
            }
            snprintf(s->text[s->n], len, "%s|%s|%s", d.source, d.error, obj ? obj : "");
            s->n++;
        }
        free(obj);
    }
    return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    struct ka_manifest_opts opts = {.window = (size_t)(data[0] & 63) + 1,
                                    .max_object = data[0] & 64 ? 256 : 0,
                                    .max_depth = 32};
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    struct seen a = {.n = 0}, b = {.n = 0};

    struct ka_manifest_reader *r = NULL;
    if (ka_manifest_reader_new_bytes(&r, "fuzz", text, len, &opts) != 0) {
        abort();
    }
    int ra = read_all(r, &a);
    ka_manifest_reader_free(r);

    FILE *f = len > 0 ? fmemopen((void *)text, len, "rb") : fopen("/dev/null", "rb");
    if (f == NULL) {
        abort();
    }
    if (ka_manifest_reader_new(&r, "fuzz", f, &opts) != 0) {
        abort();
    }
    int rb = read_all(r, &b);
    ka_manifest_reader_free(r);
    fclose(f);

    if (ra != 0 || rb != 0 || a.n != b.n) {
        abort();
    }
    for (size_t i = 0; i < a.n; i++) {
        if (strcmp(a.text[i], b.text[i]) != 0) {
            fprintf(stderr, "memory: %s\nfile:   %s\n", a.text[i], b.text[i]);
            abort();
        }
    }
    seen_free(&a);
    seen_free(&b);
    return 0;
}
