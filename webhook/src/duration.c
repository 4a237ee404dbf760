#include "kadmit/duration.h"

#include <ctype.h>
#include <stddef.h>

#include "kadmit/error.h"

int ka_duration_parse(const char *s, int64_t *out_seconds)
{
    if (s == NULL || *s == '\0' || out_seconds == NULL) {
        return KA_EINVAL;
    }
    int64_t total = 0;
    const char *p = s;
    while (*p != '\0') {
        if (!isdigit((unsigned char)*p)) {
            return KA_EINVAL;
        }
        int64_t n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n > (INT64_MAX - 9) / 10) {
                return KA_EINVAL;
            }
            n = n * 10 + (*p - '0');
            p++;
        }
        int64_t unit;
        switch (*p) {
        case 'd':
            unit = 86400;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'm':
            unit = 60;
            break;
        case 's':
            unit = 1;
            break;
        default:
            return KA_EINVAL; /* missing or unknown unit */
        }
        p++;
        if (n > INT64_MAX / unit || total > INT64_MAX - n * unit) {
            return KA_EINVAL;
        }
        total += n * unit;
    }
    *out_seconds = total;
    return 0;
}
