/*
 * Image-scan attestations, the values they are judged by: severities, scan times and ages,
 * the rule's parameters, image digests. Keys are in attest_keys.c, documents in
 * attest_envelope.c, the index and lookups in attest_index.c. See kadmit/attest.h.
 */
#include "kadmit/attest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kadmit/duration.h"
#include "kadmit/error.h"

/* ======================================================================================== */
/* severities                                                                               */
/* ======================================================================================== */

static const char *const sev_names[KA_SEV_COUNT] = {"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"};

const char *ka_attest_sev_name(enum ka_sev s)
{
    if ((int)s < 0 || s >= KA_SEV_COUNT) {
        return "?";
    }
    return sev_names[s];
}

static int ieq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen) {
        return 0;
    }
    for (size_t i = 0; i < alen; i++) {
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) {
            return 0;
        }
    }
    return 1;
}

int ka_attest_sev_parse(const char *s, size_t len)
{
    if (s == NULL) {
        return -1;
    }
    for (int i = 0; i < KA_SEV_COUNT; i++) {
        if (ieq(s, len, sev_names[i])) {
            return i;
        }
    }
    if (ieq(s, len, "negligible")) {
        return KA_SEV_LOW;
    }
    return -1;
}

/* ======================================================================================== */
/* durations and times                                                                      */
/* ======================================================================================== */

void ka_attest_params_init(struct ka_attest_params *p)
{
    p->max_age_s = 168 * 3600;
    p->max_future_skew_s = 5 * 60;
    for (int i = 0; i < KA_SEV_COUNT; i++) {
        p->max_severity[i] = -1;
    }
    p->max_severity[KA_SEV_CRITICAL] = 0;
}

int ka_attest_format_duration(struct ka_buf *b, int64_t s)
{
    int ret = 0;
    if (s < 0) {
        ret = ka_buf_add(b, "-", 1);
        s = s == INT64_MIN ? INT64_MAX : -s;
    }
    if (ret != 0) {
        return ret;
    }
    long long d = (long long)(s / 86400), h = (long long)(s % 86400 / 3600);
    long long m = (long long)(s % 3600 / 60), sec = (long long)(s % 60);
    if (d > 0) {
        return h > 0 ? ka_buf_printf(b, "%lldd%lldh", d, h) : ka_buf_printf(b, "%lldd", d);
    }
    if (h > 0) {
        return m > 0 ? ka_buf_printf(b, "%lldh%lldm", h, m) : ka_buf_printf(b, "%lldh", h);
    }
    if (m > 0) {
        return sec > 0 ? ka_buf_printf(b, "%lldm%llds", m, sec) : ka_buf_printf(b, "%lldm", m);
    }
    return ka_buf_printf(b, "%llds", sec);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, size_t len, size_t at, size_t n, int *out)
{
    int v = 0;
    if (at + n > len) {
        return -1;
    }
    for (size_t i = at; i < at + n; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int ka_attest_parse_time(const char *s, size_t len, int64_t *out)
{
    int y, mo, d, h, mi, se;
    if (s == NULL || out == NULL || digits(s, len, 0, 4, &y) || len < 19 || s[4] != '-' ||
        digits(s, len, 5, 2, &mo) || s[7] != '-' || digits(s, len, 8, 2, &d) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || digits(s, len, 11, 2, &h) ||
        s[13] != ':' || digits(s, len, 14, 2, &mi) || s[16] != ':' || digits(s, len, 17, 2, &se)) {
        return KA_EINVAL;
    }
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || se > 60) {
        return KA_EINVAL;
    }
    size_t i = 19;
    if (i < len && s[i] == '.') {
        i++;
        size_t start = i;
        while (i < len && isdigit((unsigned char)s[i])) {
            i++;
        }
        if (i == start) {
            return KA_EINVAL;
        }
    }
    int64_t offset = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int oh, om;
        if (digits(s, len, i + 1, 2, &oh) || i + 3 >= len || s[i + 3] != ':' ||
            digits(s, len, i + 4, 2, &om) || oh > 23 || om > 59) {
            return KA_EINVAL;
        }
        offset = (int64_t)(oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
        i += 6;
    } else {
        return KA_EINVAL;
    }
    if (i != len) {
        return KA_EINVAL;
    }
    *out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se - offset;
    return 0;
}

int ka_attest_parse_severity_limits(const char *s, struct ka_attest_params *p)
{
    if (s == NULL || p == NULL) {
        return KA_EINVAL;
    }
    int limits[KA_SEV_COUNT];
    memcpy(limits, p->max_severity, sizeof(limits));
    const char *q = s;
    while (*q != '\0') {
        const char *eq = strchr(q, '=');
        if (eq == NULL || eq == q) {
            return KA_EINVAL;
        }
        int sev = ka_attest_sev_parse(q, (size_t)(eq - q));
        if (sev < 0 || ieq(q, (size_t)(eq - q), "negligible")) {
            return KA_EINVAL;
        }
        const char *v = eq + 1;
        int neg = 0;
        if (*v == '-') {
            neg = 1;
            v++;
        }
        if (!isdigit((unsigned char)*v)) {
            return KA_EINVAL;
        }
        long n = 0;
        while (isdigit((unsigned char)*v)) {
            if (n > 100000000) {
                return KA_EINVAL;
            }
            n = n * 10 + (*v - '0');
            v++;
        }
        if (neg && n != 1) {
            return KA_EINVAL;
        }
        limits[sev] = neg ? -1 : (int)n;
        if (*v == ',') {
            v++;
            if (*v == '\0') {
                return KA_EINVAL;
            }
        } else if (*v != '\0') {
            return KA_EINVAL;
        }
        q = v;
    }
    memcpy(p->max_severity, limits, sizeof(limits));
    return 0;
}

enum ka_image_digest ka_image_digest(const char *image, const char **hex)
{
    const char *at = image != NULL ? strrchr(image, '@') : NULL;
    if (at == NULL) {
        return KA_DIGEST_NONE;
    }
    static const struct {
        const char *prefix;
        size_t digits;
        enum ka_image_digest kind;
    } algs[] = {{"sha256:", 64, KA_DIGEST_SHA256}, {"sha512:", 128, KA_DIGEST_SHA512}};
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        size_t plen = strlen(algs[i].prefix);
        if (strncmp(at + 1, algs[i].prefix, plen) != 0) {
            continue;
        }
        const char *h = at + 1 + plen;
        if (strlen(h) != algs[i].digits || strspn(h, "0123456789abcdef") != algs[i].digits) {
            return KA_DIGEST_MALFORMED;
        }
        if (hex != NULL) {
            *hex = h;
        }
        return algs[i].kind;
    }
    return KA_DIGEST_MALFORMED;
}
