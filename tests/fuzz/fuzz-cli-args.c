/* libFuzzer target for the CLI's argument parser. The input is split on
 * '\n' into argv[1..] (argv[0] is "bulwark"), each argument in its own
 * allocation so ASan sees reads past its end. Invariants: nothing
 * crashes; a failure is -BW_E_INVALID with a message; a success names a
 * command, accepts only a DNS-label tenant and name, a known kind, -f
 * only with apply (where it is required), a revision --since only with
 * watch, what each subcommand requires (principal: -t, create: --role
 * and --out; explain: an instance and -t; image sign: --key; logs: -t;
 * logs and node: a DNS-label name), values in range, and every string it
 * returns points into the caller's argv. */
#include "config.h"

#include <string.h>

#include "cli/cli-args.h"
#include "controlplane/resource.h"
#include "controlplane/schema.h"
#include "lib/err.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_ARGS_MAX	64

/* Returns 1 if S is NULL or points inside one of the N strings ARGS. */
static int
in_args(const char *s, char *const *args, int n)
{
	int i;

	if (!s)
		return 1;
	for (i = 0; i < n; i++)
		if (s >= args[i] && s <= args[i] + strlen(args[i]))
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*own[FUZZ_ARGS_MAX + 1], *argv[FUZZ_ARGS_MAX + 2];
	char		*err = NULL;
	struct cli_opts	 o;
	size_t		 pos = 0;
	int		 argc = 1, n = 1, r, i;

	if (!(own[0] = strdup("bulwark")))
		abort();
	while (pos < size && n <= FUZZ_ARGS_MAX) {
		const uint8_t	*nl = memchr(data + pos, '\n', size - pos);
		size_t		 len = nl ? (size_t)(nl - data) - pos : size - pos;

		own[n++] = fuzz_cstr(data + pos, len);
		pos += len + 1;
	}
	/* getopt_long permutes argv, so it gets its own array. */
	for (argc = 0; argc < n; argc++)
		argv[argc] = own[argc];
	argv[argc] = NULL;

	memset(&o, 0, sizeof(o));
	o.cmd = (enum cli_cmd)-1;
	r = cli_parse(argc, argv, &o, &err);
	if (r < 0) {
		FUZZ_CHECK(r == -BW_E_INVALID);
		FUZZ_CHECK(err != NULL && err[0] != '\0');
		FUZZ_CHECK(o.cmd == (enum cli_cmd)-1);
		goto out;
	}
	FUZZ_CHECK(r == 0 && err == NULL);
	FUZZ_CHECK(o.cmd > CLI_NONE && o.cmd < CLI_CMD_MAX);
	FUZZ_CHECK(o.output == CLI_OUT_TABLE || o.output == CLI_OUT_JSON);
	FUZZ_CHECK(!o.tenant || schema_is_dns_label(o.tenant));
	FUZZ_CHECK(!o.trust_name || schema_is_dns_label(o.trust_name));
	FUZZ_CHECK(!o.image_type || strcmp(o.image_type, "container") == 0 ||
	    strcmp(o.image_type, "vm") == 0);
	FUZZ_CHECK(o.days <= 365 && o.limit <= 10000);
	switch (o.cmd) {
	case CLI_GET:
	case CLI_DESCRIBE:
	case CLI_APPLY:
	case CLI_DELETE:
	case CLI_WATCH:
	case CLI_WHOAMI:
	case CLI_HEALTH:
		FUZZ_CHECK(!o.kind || res_kind_lookup(o.kind) != NULL);
		FUZZ_CHECK(!o.name || schema_is_dns_label(o.name));
		FUZZ_CHECK((o.cmd == CLI_APPLY) == (o.file != NULL));
		FUZZ_CHECK(!o.since_text || (o.cmd == CLI_WATCH && o.has_since));
		if (o.cmd == CLI_DESCRIBE || o.cmd == CLI_DELETE)
			FUZZ_CHECK(o.kind && o.name);
		if (o.cmd == CLI_GET)
			FUZZ_CHECK(o.kind != NULL);
		break;
	case CLI_PRINCIPAL_CREATE:
	case CLI_PRINCIPAL_REVOKE:
		FUZZ_CHECK(o.tenant && o.name && schema_is_dns_label(o.name));
		if (o.cmd == CLI_PRINCIPAL_CREATE)
			FUZZ_CHECK(o.role && o.out_dir);
		break;
	case CLI_EXPLAIN:
		FUZZ_CHECK(o.tenant && o.name && schema_is_dns_label(o.name));
		FUZZ_CHECK(o.kind && res_kind_lookup(o.kind) ==
		    res_kind_by_name("Instance"));
		break;
	case CLI_LOGS:
	case CLI_NODE_BOOTSTRAP:
	case CLI_NODE_APPROVE:
		FUZZ_CHECK(o.name && schema_is_dns_label(o.name));
		FUZZ_CHECK(o.cmd != CLI_LOGS || o.tenant);
		FUZZ_CHECK(o.ttl == 0 || (o.ttl >= 60 && o.ttl <= 86400));
		break;
	case CLI_IMAGE_SIGN:
		FUZZ_CHECK(o.key != NULL);
		/* fall through */
	case CLI_IMAGE_IMPORT:
	case CLI_IMAGE_TRUST_ADD:
		FUZZ_CHECK(o.path != NULL);
		break;
	default:
		break;
	}
	FUZZ_CHECK(in_args(o.config, own, n) && in_args(o.server, own, n) &&
	    in_args(o.cert, own, n) && in_args(o.key, own, n) &&
	    in_args(o.cacert, own, n) && in_args(o.tenant, own, n) &&
	    in_args(o.selector, own, n) && in_args(o.file, own, n) &&
	    in_args(o.kind, own, n) && in_args(o.name, own, n) &&
	    in_args(o.dir, own, n) && in_args(o.key_file, own, n));
	FUZZ_CHECK(in_args(o.since_text, own, n) && in_args(o.until_text, own, n) &&
	    in_args(o.actor, own, n) && in_args(o.action, own, n) &&
	    in_args(o.object, own, n) && in_args(o.object_kind, own, n) &&
	    in_args(o.outcome, own, n) && in_args(o.role, own, n) &&
	    in_args(o.out_dir, own, n) && in_args(o.path, own, n) &&
	    in_args(o.image_type, own, n) && in_args(o.digest, own, n) &&
	    in_args(o.trust_name, own, n) && in_args(o.out_file, own, n));
out:
	free(err);
	for (i = 0; i < n; i++)
		free(own[i]);
	return 0;
}
