#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli/cli-args.h"
#include "lib/err.h"
#include "lib/macro.h"

static int
parse(struct cli_opts *o, char **err, ...)
{
	char	*argv[16];
	int	 argc = 0;
	va_list	 ap;

	va_start(ap, err);
	argv[argc++] = "bulwark";
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	*err = NULL;
	return cli_parse(argc, argv, o, err);
}

static void
test_get_with_options_anywhere(void **state)
{
	struct cli_opts	 o;
	char		*err;

	assert_int_equal(parse(&o, &err, "get", "workloads", "-o", "json",
	    "-t", "acme", "--config", "/x.conf", NULL), 0);
	assert_int_equal(o.cmd, CLI_GET);
	assert_int_equal(o.output, CLI_OUT_JSON);
	assert_string_equal(o.kind, "workloads");
	assert_null(o.name);
	assert_string_equal(o.tenant, "acme");
	assert_string_equal(o.config, "/x.conf");
}

static void
test_errors_are_precise(void **state)
{
	static const struct {
		const char *args[6];
		const char *want;
	} cases[] = {
		{ { NULL }, "no command given" },
		{ { "frobnicate", NULL }, "unknown command \"frobnicate\"" },
		{ { "get", NULL }, "get: wrong number of arguments" },
		{ { "get", "gadgets", NULL }, "get: unknown kind \"gadgets\"" },
		{ { "get", "workload", "Bad_Name", NULL }, "is not a valid name" },
		{ { "apply", NULL }, "apply: -f FILE is required" },
		{ { "get", "nodes", "-o", "yaml", NULL }, "--output: must be table or json" },
		{ { "watch", "--since", "-3", NULL }, "--since: must be a revision number" },
		{ { "get", "nodes", "--since", "4", NULL }, "get: --since is only for watch, audit search and evidence export" },
		{ { "get", "nodes", "--limit", "0", NULL }, "--limit: must be 1..10000" },
		{ { "audit", "search", "extra", NULL }, "audit search: takes options only" },
		{ { "principal", "create", "bob", NULL }, "principal create: -t, --role and --out are required" },
		{ { "principal", "revoke", "bob", NULL }, "principal revoke: -t TENANT is required" },
		{ { "principal", "create", "bob", "-t", "acme", NULL }, "--role and --out are required" },
		{ { "principal", "delete", "bob", NULL }, "principal: use principal create|revoke NAME" },
		{ { "explain", "workload", "web", "-t", "acme", NULL }, "explain: use explain instance NAME" },
		{ { "principal", "create", "bob", "--days", "999", NULL }, "--days: must be 1..365" },
		{ { "image", "sign", "f.tar", NULL }, "image sign: --key KEY.pem is required" },
		{ { "compliance", "audit", NULL }, "compliance: use compliance controls|scan|results" },
		{ { "evidence", "export", NULL }, "evidence export: -o FILE.tar is required" },
		{ { "logs", "web-0", NULL }, "logs: -t TENANT is required" },
		{ { "logs", NULL }, "logs: wrong number of arguments" },
		{ { "evidence", "import", "-o", "x.tar", NULL }, "evidence: use evidence export" },
		{ { "compliance", "scan", "--baseline", "extreme", NULL }, "--baseline: must be low, moderate or high" },
		{ { "compliance", "results", "--format", "xml", NULL }, "--format: must be summary, oscal or oscal-poam" },
		{ { "image", "push", "f.tar", NULL }, "image: use image import|sign|trust add" },
		{ { "image", "import", "f", "--type", "lxc", NULL }, "--type: must be container or vm" },
		{ { "delete", "workload", NULL }, "delete: wrong number of arguments" },
		{ { "audit", "erase", NULL }, "audit: use audit verify|search" },
		{ { "whoami", "--role", "x", NULL }, "whoami: --role is only for principal create" },
		{ { "get", "nodes", "--follow", NULL }, "get: --follow is only for logs" },
		{ { "node", "bootstrap", "n1", "--ttl", "5", NULL }, "--ttl: must be 60..86400" },
		{ { "node", "approve", "n1", "--ttl", "600", NULL }, "--ttl is only for node bootstrap" },
		{ { "help", "frobnicate", NULL }, "help: unknown command \"frobnicate\"" },
		{ { "get", "nodes", "--bogus", NULL }, "unknown option --bogus" },
		{ { "get", "nodes", "-t", NULL }, "-t: needs a value" },
		{ { "-xy", "health", NULL }, "unknown option -x" },
		{ { "get", "nodes", "--output", NULL }, "--output: needs a value" },
		{ { "get", "nodes", "-t", "ACME", NULL }, "--tenant: \"ACME\" is not a valid name" },
	};
	size_t i;

	for (i = 0; i < ELEMENTSOF(cases); i++) {
		struct cli_opts	 o;
		char		*argv[8] = { "bulwark" };
		char		*err = NULL;
		int		 argc = 1, j;

		for (j = 0; cases[i].args[j]; j++)
			argv[argc++] = (char *)cases[i].args[j];
		assert_int_equal(cli_parse(argc, argv, &o, &err), -BW_E_INVALID);
		if (!err || !strstr(err, cases[i].want))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i,
			    err ? err : "(null)", cases[i].want);
		free(err);
	}
}

static void
test_apply_watch_audit(void **state)
{
	struct cli_opts	 o;
	char		*err;

	assert_int_equal(parse(&o, &err, "apply", "-f", "-", NULL), 0);
	assert_int_equal(o.cmd, CLI_APPLY);
	assert_string_equal(o.file, "-");
	assert_int_equal(parse(&o, &err, "watch", "workloads", "--since", "42", NULL), 0);
	assert_int_equal(o.cmd, CLI_WATCH);
	assert_true(o.has_since);
	assert_int_equal(o.since, 42);
	assert_int_equal(parse(&o, &err, "audit", "verify", NULL), 0);
	assert_int_equal(o.cmd, CLI_AUDIT_VERIFY);
	assert_null(o.dir);
	assert_int_equal(parse(&o, &err, "audit", "verify", "/tmp/a", NULL), 0);
	assert_string_equal(o.dir, "/tmp/a");
	assert_int_equal(parse(&o, &err, "audit", "search", "--actor", "admin",
	    "--since", "2026-11-26T00:00:00Z", "--outcome", "denied", NULL), 0);
	assert_int_equal(o.cmd, CLI_AUDIT_SEARCH);
	assert_string_equal(o.actor, "admin");
	assert_string_equal(o.since_text, "2026-11-26T00:00:00Z");
	assert_string_equal(o.outcome, "denied");
	assert_int_equal(parse(&o, &err, "principal", "create", "bob", "-t", "acme",
	    "--role", "tenant-user", "--out", "/tmp/x", NULL), 0);
	assert_int_equal(o.cmd, CLI_PRINCIPAL_CREATE);
	assert_string_equal(o.role, "tenant-user");
	assert_int_equal(parse(&o, &err, "explain", "instance", "web-0", "-t", "acme", NULL), 0);
	assert_int_equal(o.cmd, CLI_EXPLAIN);
	assert_int_equal(parse(&o, &err, "evidence", "export", "--since",
	    "2026-11-01", "-o", "b.tar", NULL), 0);
	assert_int_equal(o.cmd, CLI_EVIDENCE_EXPORT);
	assert_string_equal(o.out_file, "b.tar");
	assert_string_equal(o.since_text, "2026-11-01");
	assert_int_equal(o.refuse_stale, 0);
	assert_int_equal(parse(&o, &err, "evidence", "export", "--refuse-stale",
	    "-o", "b.tar", NULL), 0);
	assert_int_equal(o.refuse_stale, 1);
	assert_int_equal(parse(&o, &err, "evidence", "conmon", "--month",
	    "2026-12", "-o", "c.tar", NULL), 0);
	assert_int_equal(o.cmd, CLI_EVIDENCE_CONMON);
	assert_string_equal(o.month, "2026-12");
	assert_string_equal(o.out_file, "c.tar");
	assert_true(parse(&o, &err, "evidence", "conmon", "--month", "2026-13",
	    "-o", "c.tar", NULL) < 0);
	free(err);
	err = NULL;
	assert_true(parse(&o, &err, "evidence", "conmon", "-o", "c.tar",
	    NULL) < 0);
	free(err);
	err = NULL;
	assert_int_equal(parse(&o, &err, "--help", NULL), 0);
	assert_int_equal(o.cmd, CLI_HELP);
	assert_int_equal(parse(&o, &err, "describe", "Tenant", "acme", NULL), 0);
	assert_int_equal(o.cmd, CLI_DESCRIBE);
	assert_string_equal(o.name, "acme");
}

/* Every command in the table parses from its own name and the smallest
 * arguments its synopsis asks for, and --help after it names it. */
static void
test_table_and_help(void **state)
{
	const struct cli_command	*cmds;
	struct cli_opts			 o;
	size_t				 n, i;
	char				*err;

	cmds = cli_commands(&n);
	assert_true(n >= 20);
	for (i = 0; i < n; i++) {
		char	 name[64], *argv[8] = { "bulwark" };
		char	*save = NULL, *w;
		int	 argc = 1;

		snprintf(name, sizeof(name), "%s", cmds[i].name);
		for (w = strtok_r(name, " ", &save); w; w = strtok_r(NULL, " ", &save))
			argv[argc++] = w;
		argv[argc++] = "--help";
		err = NULL;
		assert_int_equal(cli_parse(argc, argv, &o, &err), 0);
		assert_int_equal(o.cmd, CLI_HELP);
		assert_ptr_equal(o.help_for, &cmds[i]);
	}
	assert_int_equal(parse(&o, &err, "-o", "json", "--help", NULL), 0);
	assert_null(o.help_for);
	assert_int_equal(parse(&o, &err, "--config", "image", "image", "trust",
	    "add", "-h", NULL), 0);
	assert_string_equal(o.help_for->name, "image trust add");
	assert_int_equal(parse(&o, &err, "image", "--help", NULL), 0);
	assert_null(o.help_for);
	assert_string_equal(o.help_group, "image");
	assert_int_equal(parse(&o, &err, "help", "principal", NULL), 0);
	assert_string_equal(o.help_group, "principal");
	assert_int_equal(parse(&o, &err, "help", "logs", NULL), 0);
	assert_int_equal(o.cmd, CLI_HELP);
	assert_string_equal(o.help_for->name, "logs");
	assert_int_equal(parse(&o, &err, "--help-man", NULL), 0);
	assert_int_equal(o.cmd, CLI_HELP_MAN);
	assert_int_equal(parse(&o, &err, "--config", "c", "node", "bootstrap",
	    "n1", "--ttl", "600", "-o", "cred.json", NULL), 0);
	assert_int_equal(o.cmd, CLI_NODE_BOOTSTRAP);
	assert_string_equal(o.name, "n1");
	assert_int_equal(o.ttl, 600);
	assert_string_equal(o.out_file, "cred.json");
	assert_int_equal(parse(&o, &err, "logs", "web-0", "-t", "acme",
	    "--follow", NULL), 0);
	assert_int_equal(o.cmd, CLI_LOGS);
	assert_true(o.follow);
	/* one mapping of HTTP answers to exit codes, node commands included */
	assert_int_equal(cli_exit_for_status(201), CLI_EXIT_OK);
	assert_int_equal(cli_exit_for_status(403), CLI_EXIT_DENIED);
	assert_int_equal(cli_exit_for_status(404), CLI_EXIT_NOTFOUND);
	assert_int_equal(cli_exit_for_status(409), CLI_EXIT_CONFLICT);
	assert_int_equal(cli_exit_for_status(500), CLI_EXIT_FAILED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_with_options_anywhere),
		cmocka_unit_test(test_errors_are_precise),
		cmocka_unit_test(test_apply_watch_audit),
		cmocka_unit_test(test_table_and_help),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
