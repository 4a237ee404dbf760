/*
 * libFuzzer target: decision-log bytes (JSON lines, torn and malformed ones included) ->
 * ka_audit_add_decision_log_bytes(), then every renderer (text, json, markdown, html,
 * policyreport). Every line must become an admission or a problem item; no renderer may fail.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kadmit/audit.h"
#include "kadmit/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ka_audit a;
    ka_audit_init(&a, NULL);
    a.now = 1795000000;
    int ret = ka_audit_add_decision_log_bytes(&a, "fuzz.log", (const char *)data, size);
    if (ret != 0 && ret != KA_ENOMEM) {
        abort();
    }
    /* every non-blank line is accounted for */
    size_t lines = 0;
    for (size_t i = 0; ret == 0 && i < size;) {
        const char *nl = memchr(data + i, '\n', size - i);
        size_t end = nl != NULL ? (size_t)(nl - (const char *)data) : size;
        int blank = 1;
        for (size_t j = i; j < end; j++) {
            blank &= data[j] == ' ' || data[j] == '\t' || data[j] == '\r';
        }
        lines += !blank;
        i = end + 1;
    }
    if (ret == 0 && lines != a.n_items) {
        abort();
    }
    struct ka_buf out;
    ka_buf_init(&out, 256u * 1024u * 1024u);
    a.show_passed = 1;
    if (ka_audit_render_text(&a, &out, 1) != 0 || (ka_buf_reset(&out), 0) ||
        ka_audit_render_json(&a, &out) != 0 || (ka_buf_reset(&out), 0) ||
        ka_audit_render_markdown(&a, &out) != 0 || (ka_buf_reset(&out), 0) ||
        ka_audit_render_html(&a, &out) != 0 || (ka_buf_reset(&out), 0) ||
        ka_audit_render_policyreport(&a, &out, 0, 0) != 0) {
        abort();
    }
    ka_buf_free(&out);
    ka_audit_free(&a);
    return 0;
}
