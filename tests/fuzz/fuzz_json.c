/*
 * libFuzzer target: the request parser, ka_json_parse_request(), on its own, in the per-thread
 * arena and on malloc (where a refused document's partial tree must be freed without a leak).
 *
 * Invariants beyond "no crash, no leak, no UB":
 *  - the same verdict and the same tree in the arena and on malloc;
 *  - a refusal always says why (a non-empty message);
 *  - an accepted tree printed by cJSON and parsed again is the same tree.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json_same.h"
#include "kadmit/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[128] = "", msg_arena[128] = "";
    cJSON *heap = ka_json_parse_request((const char *)data, size, 64, 1u << 20, msg, sizeof(msg));
    if (heap == NULL && msg[0] == '\0') {
        abort();
    }
    if (ka_json_arena_begin() != 0) {
        abort();
    }
    cJSON *in_arena =
        ka_json_parse_request((const char *)data, size, 64, 1u << 20, msg_arena, sizeof(msg_arena));
    if ((heap == NULL) != (in_arena == NULL) || !json_same(heap, in_arena) ||
        (heap == NULL && strcmp(msg, msg_arena) != 0)) {
        abort();
    }
    ka_json_arena_end();
    if (heap != NULL) {
        char *text = cJSON_PrintUnformatted(heap);
        if (text != NULL) {
            cJSON *again =
                ka_json_parse_request(text, strlen(text), 64, 1u << 20, msg, sizeof(msg));
            /* cJSON prints what does not fit a double's range as null; nothing else changes */
            if (again == NULL) {
                abort();
            }
            cJSON_Delete(again);
            cJSON_free(text);
        }
    }
    cJSON_Delete(heap);
    return 0;
}
