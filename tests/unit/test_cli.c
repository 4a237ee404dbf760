/*
 * The subcommands' option tables: every row is documented, and every long flag of a table is in
 * the --help the real binary prints. The tables are not listed here: each command in
 * ka_cli_commands is run with --help while ka_cli_usage_hook collects the tables its usage is
 * printed from (serve's comes from config.c's settings; attest prints verify's and sync's).
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kadmit/cli.h"
#include "ka_test.h"

#define MAX_TABLES 64
#define MAX_ROWS 64
#define HELP_MAX (256 * 1024)

struct row {
    char name[64];
    char short_name;
    int takes_value;
    int has_metavar;
    int has_help;
};

struct table {
    const char *command; /* the ka_cli_commands row it was printed for */
    char synopsis[256];
    struct row rows[MAX_ROWS];
    size_t n;
};

static struct table tables[MAX_TABLES];
static size_t n_tables;
static const char *current;

static void collect(const struct ka_cli_usage *usage, const struct ka_cli_opt *opts)
{
    CU_ASSERT_FATAL(n_tables < MAX_TABLES);
    struct table *t = &tables[n_tables++];
    memset(t, 0, sizeof(*t));
    t->command = current;
    snprintf(t->synopsis, sizeof(t->synopsis), "%s", usage->synopsis ? usage->synopsis : "");
    for (const struct ka_cli_opt *o = opts; o->name != NULL; o++) {
        CU_ASSERT_FATAL(t->n < MAX_ROWS);
        struct row *r = &t->rows[t->n++];
        snprintf(r->name, sizeof(r->name), "%s", o->name);
        r->short_name = o->short_name;
        r->takes_value = o->type != KA_CLI_OPT_FLAG;
        r->has_metavar = o->metavar != NULL && o->metavar[0] != '\0';
        r->has_help = o->help != NULL && o->help[0] != '\0';
    }
}

/* Run every subcommand's --help with the hook on, once. */
static void collect_all(void)
{
    if (n_tables > 0) {
        return;
    }
    ka_cli_usage_hook = collect;
    for (const struct ka_cli_command *c = ka_cli_commands; c->name != NULL; c++) {
        char *argv[] = {(char *)c->name, "--help", NULL};
        size_t before = n_tables;
        current = c->name;
        CU_ASSERT_EQUAL(c->run(2, argv), 0);
        if (n_tables == before) {
            fprintf(stderr, "kadmit %s --help: not printed from an option table\n", c->name);
        }
        CU_ASSERT(n_tables > before);
    }
    ka_cli_usage_hook = NULL;
}

static void test_every_row_documented(void)
{
    collect_all();
    CU_ASSERT(n_tables >= 11);
    for (size_t i = 0; i < n_tables; i++) {
        const struct table *t = &tables[i];
        CU_ASSERT(strncmp(t->synopsis, "kadmit ", 7) == 0);
        for (size_t j = 0; j < t->n; j++) {
            const struct row *r = &t->rows[j];
            if (!r->has_help || r->takes_value != r->has_metavar) {
                fprintf(stderr, "kadmit %s: --%s: help %s, value name %s\n", t->command, r->name,
                        r->has_help ? "yes" : "missing", r->has_metavar ? "yes" : "no");
            }
            CU_ASSERT(r->has_help);
            CU_ASSERT_EQUAL(r->takes_value, r->has_metavar);
            CU_ASSERT(strcmp(r->name, "help") != 0 && r->short_name != 'h');
            for (size_t k = 0; k < j; k++) { /* no name twice in one table */
                CU_ASSERT(strcmp(t->rows[k].name, r->name) != 0);
                CU_ASSERT(r->short_name == 0 || t->rows[k].short_name != r->short_name);
            }
        }
    }
}

/* `$KADMIT COMMAND --help` into buf; returns its exit status. */
static int run_help(const char *kadmit, const char *command, char *buf, size_t size)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' %s --help", kadmit, command);
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        return -1;
    }
    size_t n = fread(buf, 1, size - 1, p);
    buf[n] = '\0';
    return pclose(p);
}

/* "--NAME" as a whole flag: followed by a space, a newline or the end. */
static int lists_flag(const char *text, const char *name)
{
    char flag[80];
    snprintf(flag, sizeof(flag), "--%s", name);
    size_t len = strlen(flag);
    for (const char *at = strstr(text, flag); at != NULL; at = strstr(at + 1, flag)) {
        if (at[len] == ' ' || at[len] == '\n' || at[len] == '\0') {
            return 1;
        }
    }
    return 0;
}

static void test_binary_help_lists_every_flag(void)
{
    const char *kadmit = getenv("KADMIT");
    if (kadmit == NULL) {
        fprintf(stderr, "(KADMIT not set: the binary's --help is not checked)\n");
        return;
    }
    collect_all();
    char *help = malloc(HELP_MAX);
    CU_ASSERT_FATAL(help != NULL);
    const char *last = NULL;
    for (size_t i = 0; i < n_tables; i++) {
        const struct table *t = &tables[i];
        if (last == NULL || strcmp(last, t->command) != 0) {
            CU_ASSERT_EQUAL(run_help(kadmit, t->command, help, HELP_MAX), 0);
            last = t->command;
            for (const char *line = help; *line != '\0';) { /* wrapped at 80 columns */
                size_t len = strcspn(line, "\n");
                if (len > 80) {
                    fprintf(stderr, "kadmit %s --help: line over 80: %.*s\n", t->command, (int)len,
                            line);
                }
                CU_ASSERT(len <= 80);
                line += len + (line[len] != '\0');
            }
            CU_ASSERT(lists_flag(help, "help"));
        }
        for (size_t j = 0; j < t->n; j++) {
            if (!lists_flag(help, t->rows[j].name)) {
                fprintf(stderr, "kadmit %s --help does not list --%s\n", t->command,
                        t->rows[j].name);
            }
            CU_ASSERT(lists_flag(help, t->rows[j].name));
        }
    }
    free(help);
}

/* README.md's tables: a row per command ("| `kadmit NAME") and one per serve flag ("| `--NAME` |").
 */
static void test_readme_lists_commands_and_serve_flags(void)
{
    const char *dir = getenv("KADMIT_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/README.md", dir != NULL ? dir : ".");
    struct ka_buf readme;
    ka_buf_init(&readme, 4u * 1024u * 1024u);
    CU_ASSERT_EQUAL_FATAL(ka_buf_read_file(&readme, path), 0);
    collect_all();
    char want[128];
    for (const struct ka_cli_command *c = ka_cli_commands; c->name != NULL; c++) {
        snprintf(want, sizeof(want), "| `kadmit %s", c->name);
        if (strstr(readme.data, want) == NULL) {
            fprintf(stderr, "README.md: no row \"%s\" in the command table\n", want);
        }
        CU_ASSERT_PTR_NOT_NULL(strstr(readme.data, want));
    }
    for (size_t i = 0; i < n_tables; i++) {
        for (size_t j = 0; strcmp(tables[i].command, "serve") == 0 && j < tables[i].n; j++) {
            snprintf(want, sizeof(want), "| `--%s` |", tables[i].rows[j].name);
            if (strstr(readme.data, want) == NULL) {
                fprintf(stderr, "README.md: no row \"%s\" in serve's flags\n", want);
            }
            CU_ASSERT_PTR_NOT_NULL(strstr(readme.data, want));
        }
    }
    ka_buf_free(&readme);
}

static const struct ka_test tests[] = {
    {"every_row_documented", test_every_row_documented},
    {"binary_help_lists_every_flag", test_binary_help_lists_every_flag},
    {"readme_lists_commands_and_serve_flags", test_readme_lists_commands_and_serve_flags},
    {NULL, NULL},
};

KA_TEST_MAIN("cli", tests)
