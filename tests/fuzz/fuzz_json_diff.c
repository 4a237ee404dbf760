/*
 * libFuzzer target: the request parser against cJSON, differentially. The reference is what the
 * request path did before ka_json_parse_request(): cJSON_ParseWithLengthOpts() and nothing but
 * ' ', '\t', '\n', '\r' after the document. On every input:
 *  - both accept: the trees are the same, node for node (so every rule reads the same object
 *    and gives the same verdict);
 *  - kadmit accepts, cJSON refuses: never (kadmit is never laxer);
 *  - cJSON accepts, kadmit refuses: only for the checks kadmit adds on purpose (NUL, raw control
 *    character, invalid UTF-8, \u0000, a \u escape that is not hex: message says which), never
 *    as "malformed JSON" or "data after the JSON document".
 * The depth limit is cJSON's own (1000) and the value limit out of reach, so they never decide.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json_same.h"
#include "kadmit/json.h"

static cJSON *reference(const char *s, size_t len)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(s, len, &end, 0);
    if (root == NULL) {
        return NULL;
    }
    while (end < s + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) {
        end++;
    }
    if (end != s + len) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[128] = "";
    cJSON *ref = reference((const char *)data, size);
    cJSON *mine = ka_json_parse_request((const char *)data, size, 1000, SIZE_MAX, msg, sizeof(msg));
    if (mine != NULL && (ref == NULL || !json_same(ref, mine))) {
        abort();
    }
    if (mine == NULL && ref != NULL &&
        (strcmp(msg, "malformed JSON") == 0 || strcmp(msg, "data after the JSON document") == 0 ||
         strncmp(msg, "JSON ", 5) == 0)) {
        abort();
    }
    cJSON_Delete(mine);
    cJSON_Delete(ref);
    return 0;
}
