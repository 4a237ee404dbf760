/*
 * no-literal-secrets: Secrets live in Secrets: an env var with a secret-like name takes its value
 * from valueFrom, never from a literal in the manifest.
 *
 * Many env vars only refer to a secret: DB_SECRET_NAME names a Secret, TOKEN_SECRET_REF points at
 * one, API_KEY_FILE and PASSWORD_PATH say where a mounted one lives. Their literal values are
 * names and paths, so names ending in an allowed suffix pass. _KEY_ID is not one by default: an
 * access key id is half of a credential pair (secret scanners flag AWS key ids), so an admin who
 * wants API_KEY_ID literals adds the suffix.
 *
 * LLM servers are configured by names that contain TOKEN but count tokens: MAX_TOTAL_TOKENS=4096,
 * MAX_BATCH_PREFILL_TOKENS, TOKENIZERS_PARALLELISM=false. A literal that is only a number or a
 * boolean is such a setting, not a credential, so it passes while allowNumbersAndBooleans is on.
 * Their tokenizer settings take words (TOKENIZER_MODE=auto, vLLM's and TGI's tokenizer names):
 * allowNames lets them pass by name.
 */
#include "rule_api.h"

static const struct ka_param_def secrets_params[] = {
    {"names", KA_P_STRINGS,
     "[\"*API_KEY*\",\"*APIKEY*\",\"*TOKEN*\",\"*SECRET*\",\"*PASSWORD*\",\"*PASSWD*\","
     "\"*CREDENTIAL*\",\"*PRIVATE_KEY*\"]",
     "globs of env var names that look like secrets (case-insensitive)"},
    {"allowNames", KA_P_STRINGS, "[\"*TOKENIZER*\"]",
     "globs of names that pass although `names` matches them: settings named after tokens, such "
     "as TOKENIZER_MODE=auto or HF_TOKENIZER=org/model (case-insensitive)"},
    {"allowSuffixes", KA_P_STRINGS, "[\"_PATH\",\"_FILE\",\"_DIR\",\"_NAME\",\"_REF\"]",
     "name suffixes that pass anyway: the var refers to a secret (a file, a Secret's name), "
     "it does not hold one (case-insensitive)"},
    {"allowNumbersAndBooleans", KA_P_BOOL, "true",
     "a literal that is only a decimal number (4096, 0.5) or true/false passes: it is a setting "
     "such as MAX_TOTAL_TOKENS, not a credential"},
    {NULL, 0, NULL, NULL},
};

static int ends_with_nocase(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* "4096", "-1", "0.95", "true", "False": a setting, not a credential */
static int number_or_boolean(const char *v)
{
    if (strcasecmp(v, "true") == 0 || strcasecmp(v, "false") == 0) {
        return 1;
    }
    size_t i = v[0] == '-' || v[0] == '+' ? 1 : 0, digits = 0, dots = 0;
    for (; v[i] != '\0'; i++) {
        if (v[i] == '.') {
            dots++;
        } else if (v[i] >= '0' && v[i] <= '9') {
            digits++;
        } else {
            return 0;
        }
    }
    return digits > 0 && dots <= 1;
}

static int literal_secret(const struct ka_rule_run *run, const cJSON *e, char *what, size_t len)
{
    const char *var = str_at(e, "name");
    const cJSON *value = item(e, "value");
    if (var == NULL || !cJSON_IsString(value) || value->valuestring[0] == '\0') {
        return 0;
    }
    if (!ka_glob_match_any(param(run, "names"), var, 1) ||
        ka_glob_match_any(param(run, "allowNames"), var, 1)) {
        return 0;
    }
    if (param_bool(run, "allowNumbersAndBooleans") && number_or_boolean(value->valuestring)) {
        return 0;
    }
    int allowed = 0;
    const cJSON *suf;
    cJSON_ArrayForEach(suf, param(run, "allowSuffixes"))
    {
        allowed |= ends_with_nocase(var, suf->valuestring);
    }
    if (allowed) {
        return 0;
    }
    snprintf(what, len, "env %.100s holds a literal value that looks like a secret", var);
    return 1;
}

static const struct ka_element_check literal_secrets = {
    KA_INIT | KA_APP | KA_EPHEMERAL, "env", "/value",
    "use valueFrom.secretKeyRef and keep the value in a Secret", literal_secret};

static int run_secrets(struct ka_rule_run *run)
{
    return ka_check_container_elements(run, &literal_secrets);
}

const struct ka_rule_def ka_rule_no_literal_secrets = {
    .id = "no-literal-secrets",
    .summary = "secret-looking env vars come from `valueFrom`, never literals",
    .description = "An env var whose name matches a secret-like glob (case-insensitive) uses "
                   "valueFrom, not a literal value. Names ending in an allowed suffix "
                   "(case-insensitive) pass: they refer to a secret rather than hold one, as "
                   "DB_SECRET_NAME (a Secret's name), TOKEN_SECRET_REF, API_KEY_FILE or "
                   "PASSWORD_PATH do. _KEY_ID is not allowed by default: an access key id is half "
                   "of a credential pair; add it to allowSuffixes if your ids are not secret. A "
                   "literal that is only a decimal number or true/false passes while "
                   "allowNumbersAndBooleans is on: MAX_TOTAL_TOKENS=4096 counts tokens, it is not "
                   "one. Names matching allowNames (*TOKENIZER* by default: TOKENIZER_MODE=auto "
                   "names a tokenizer) pass whatever their value.",
    .kinds = KA_KINDS_WORKLOAD,
    .params = secrets_params,
    .run = run_secrets,
};
