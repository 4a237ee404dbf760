/*
 * libFuzzer target: the YAML reader itself (ka_yaml_parse), with a small depth limit so the
 * depth check is reached, and positions looked up for every document.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kadmit/error.h"
#include "kadmit/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ka_yaml_stream s;
    ka_yaml_stream_init(&s);
    struct ka_buf diag;
    ka_buf_init(&diag, 4096);
    int ret = ka_yaml_parse(&s, "fuzz.yaml", (const char *)data, size, 16, &diag);
    if (ret != 0 && ret != KA_EPARSE && ret != KA_EDEPTH && ret != KA_ELIMIT && ret != KA_ENOMEM) {
        abort();
    }
    if (ret != 0 && diag.len == 0 && ret != KA_ENOMEM && ret != KA_ELIMIT) {
        abort(); /* an error without a message */
    }
    for (size_t i = 0; i < s.n_docs; i++) {
        unsigned line, col;
        ka_yaml_position(&s, s.docs[i], &line, &col);
        if (line == 0) {
            abort(); /* every node has a position */
        }
    }
    ka_buf_free(&diag);
    ka_yaml_stream_free(&s);
    return 0;
}
