/* Command-line parsing for `bulwark`: one table of options and one of
 * commands drive the parser, `--help` and the synopsis of bulwark(1)
 * (`bulwark --help-man`, compared with the page by
 * tests/integration/man-pages.sh), so the three cannot drift apart. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli-args.h"
#include "controlplane/resource.h"
#include "lib/err.h"
#include "lib/json.h"

struct cli_option;

typedef int cli_set_fn(struct cli_opts *o, const struct cli_option *opt,
    const char *val, char **ret_err);

struct cli_option {
	enum cli_optid	 id;
	const char	*name;		/* long name, without "--" */
	int		 short_name;	/* or 0 */
	const char	*arg;		/* value's name, or NULL */
	int		 global;	/* every command accepts it */
	const char	*help;		/* NULL: hidden from --help */
	size_t		 field;		/* set_str's const char * */
	cli_set_fn	*set;
};

static cli_set_fn set_str, set_tenant, set_name, set_type, set_baseline,
    set_format, set_since, set_days, set_limit, set_ttl, set_follow,
    set_refuse_stale, set_month, set_tail, set_json;

#define F(f)	offsetof(struct cli_opts, f)

static const struct cli_option options[] = {
	{ CLI_OPT_CONFIG, "config", 0, "FILE", 1, "client configuration "
	  "(default $BULWARK_CONFIG, then ./var/admin.conf, then "
	  "/var/lib/bulwark/admin.conf)", F(config), set_str },
	{ CLI_OPT_SERVER, "server", 0, "URL", 1,
	  "https://HOST:PORT of bulwarkd", F(server), set_str },
	{ CLI_OPT_CERT, "cert", 0, "FILE", 1, "client certificate (PEM)",
	  F(cert), set_str },
	{ CLI_OPT_KEY, "key", 0, "FILE", 1, "client private key (PEM); for "
	  "image sign, the publisher's signing key", F(key), set_str },
	{ CLI_OPT_CACERT, "cacert", 0, "FILE", 1, "CA certificate that signed "
	  "the server's (PEM)", F(cacert), set_str },
	{ CLI_OPT_TENANT, "tenant", 't', "T", 1, "tenant of tenant-scoped "
	  "objects", 0, set_tenant },
	{ CLI_OPT_OUTPUT, "output", 'o', "FMT", 1, "table (default) or json; "
	  "for evidence export and node bootstrap, the file to write",
	  F(out_file), set_str },
	{ CLI_OPT_HELP, "help", 'h', NULL, 1, "show this help, or with a "
	  "command, the command's", 0, NULL },
	{ CLI_OPT_VERSION, "version", 'V', NULL, 1, "show the version", 0,
	  NULL },
	{ CLI_OPT_HELP_MAN, "help-man", 0, NULL, 1, NULL, 0, NULL },
	{ CLI_OPT_SELECTOR, "selector", 'l', "S", 0,
	  "label selector: k=v,k!=v,k", F(selector), set_str },
	{ CLI_OPT_FILE, "file", 'f', "FILE", 0,
	  "input ('-' for standard input)", F(file), set_str },
	{ CLI_OPT_SINCE, "since", 0, "T", 0, "watch: start after revision REV; "
	  "audit search, evidence export: from time T (RFC 3339)", 0,
	  set_since },
	{ CLI_OPT_UNTIL, "until", 0, "T", 0, "up to time T (RFC 3339)",
	  F(until_text), set_str },
	{ CLI_OPT_KEY_FILE, "key-file", 0, "FILE", 0, "public key that signs "
	  "checkpoints (PEM; after a key change, one file holding every key)",
	  F(key_file), set_str },
	{ CLI_OPT_ACTOR, "actor", 0, "A", 0, "records by this principal",
	  F(actor), set_str },
	{ CLI_OPT_ACTION, "action", 0, "X", 0, "records of this action (a "
	  "trailing * matches by prefix)", F(action), set_str },
	{ CLI_OPT_OBJECT, "object", 0, "NAME", 0, "records about this object",
	  F(object), set_str },
	{ CLI_OPT_KIND, "kind", 0, "K", 0, "records about objects of this kind",
	  F(object_kind), set_str },
	{ CLI_OPT_OUTCOME, "outcome", 0, "O", 0, "records with this outcome",
	  F(outcome), set_str },
	{ CLI_OPT_LIMIT, "limit", 0, "N", 0, "at most N records (1..10000)", 0,
	  set_limit },
	{ CLI_OPT_ROLE, "role", 0, "ROLE", 0, "role to bind the principal to",
	  F(role), set_str },
	{ CLI_OPT_OUT, "out", 0, "DIR", 0, "directory for NAME.{crt,key,conf}",
	  F(out_dir), set_str },
	{ CLI_OPT_DAYS, "days", 0, "N", 0, "certificate lifetime (1..365 days)",
	  0, set_days },
	{ CLI_OPT_CSR, "csr", 0, "FILE", 0, "send this PEM CSR instead of "
	  "making a key", F(csr_file), set_str },
	{ CLI_OPT_PRINCIPAL_KEY, "principal-key", 0, "FILE", 0, "the key the "
	  "CSR certifies, for the config", F(principal_key), set_str },
	{ CLI_OPT_TYPE, "type", 0, "container|vm", 0, "image type (default "
	  "container)", 0, set_type },
	{ CLI_OPT_DIGEST, "digest", 0, "sha256:HEX", 0, "expected digest of "
	  "the image", F(digest), set_str },
	{ CLI_OPT_NAME, "name", 0, "NAME", 0, "name of the trusted signer "
	  "(default: the file's base name)", 0, set_name },
	{ CLI_OPT_BASELINE, "baseline", 0, "low|moderate|high", 0, "baseline "
	  "(default moderate)", 0, set_baseline },
	{ CLI_OPT_FORMAT, "format", 0, "summary|oscal|oscal-poam", 0, "the "
	  "summary, OSCAL assessment results, or OSCAL POA&M", 0, set_format },
	{ CLI_OPT_FOLLOW, "follow", 0, NULL, 0, "keep printing new output", 0,
	  set_follow },
	{ CLI_OPT_TTL, "ttl", 0, "SECS", 0, "lifetime of the credential "
	  "(60..86400 s, default 900)", 0, set_ttl },
	{ CLI_OPT_REFUSE_STALE, "refuse-stale", 0, NULL, 0, "fail, naming "
	  "them, when findings are older than the evidence cadence", 0,
	  set_refuse_stale },
	{ CLI_OPT_MONTH, "month", 0, "YYYY-MM", 0, "the month (UTC)", 0,
	  set_month },
	{ CLI_OPT_TAIL, "tail", 0, "N", 0, "only the last N lines "
	  "(1..10000)", 0, set_tail },
	{ CLI_OPT_JSON, "json", 0, NULL, 0, "one JSON object a line (as -o "
	  "json)", 0, set_json },
	{ CLI_OPT_MEMBER, "member", 0, "NAME", 0, "the etcd member's name "
	  "(its --name)", F(member), set_str },
	{ CLI_OPT_INITIAL_CLUSTER, "initial-cluster", 0, "N=URL,...", 0,
	  "every member of the new cluster and its peer URL", F(initial_cluster),
	  set_str },
	{ CLI_OPT_PEER_URL, "peer-url", 0, "URL", 0, "this member's peer URL "
	  "(its --initial-advertise-peer-urls)", F(peer_url), set_str },
	{ CLI_OPT_DATA_DIR, "data-dir", 0, "DIR", 0, "the member's new data "
	  "directory (must not exist)", F(data_dir), set_str },
	{ CLI_OPT_CLUSTER_TOKEN, "cluster-token", 0, "T", 0, "the new "
	  "cluster's token (default etcd-cluster; the same for every member)",
	  F(cluster_token), set_str },
};

typedef int cli_parse_fn(struct cli_opts *o, const struct cli_command *c,
    char *const *args, int nargs, char **ret_err);

static cli_parse_fn parse_kind_name, parse_name, parse_path, parse_dir,
    parse_explain, parse_watch, parse_principal_create, parse_help;

#define REQ(id, arg)	{ CLI_OPT_##id, CLI_REQUIRED, arg }
#define OPT(id, arg)	{ CLI_OPT_##id, 0, arg }

static const struct cli_command commands[] = {
	{ "get", CLI_GET, "KIND [NAME]", 1, 2,
	  "list objects of KIND (every page of a long list), or show one", 0,
	  { OPT(SELECTOR, NULL) }, parse_kind_name },
	{ "describe", CLI_DESCRIBE, "KIND NAME", 2, 2,
	  "show one object in full (spec and status)", 0, { { 0 } },
	  parse_kind_name },
	{ "apply", CLI_APPLY, NULL, 0, 0,
	  "create or replace the objects in FILE ('-' for standard input): "
	  "one JSON document, several concatenated, or an array; all are "
	  "parsed before any is sent, and several are stored in one "
	  "transaction, all or none (above 8,192 objects or 1 MiB, one per "
	  "request)", 0, { REQ(FILE, NULL) }, NULL },
	{ "delete", CLI_DELETE, "KIND NAME", 2, 2, "delete an object", 0,
	  { { 0 } }, parse_kind_name },
	{ "watch", CLI_WATCH, "[KIND]", 0, 1,
	  "print changes as they happen (JSON lines)", 0,
	  { OPT(SINCE, "REV") }, parse_watch },
	{ "logs", CLI_LOGS, "INSTANCE", 1, 1, "the instance's output, read "
	  "from its node (the last 64 KiB or --tail lines); --follow keeps "
	  "printing new lines as they come", 0,
	  { REQ(TENANT, "TENANT"), OPT(FOLLOW, NULL), OPT(TAIL, NULL),
	    OPT(JSON, NULL) }, parse_name },
	{ "whoami", CLI_WHOAMI, NULL, 0, 0, "show the identity the server sees",
	  0, { { 0 } }, NULL },
	{ "health", CLI_HEALTH, NULL, 0, 0,
	  "show the appliance's health (no credential needed)", 0, { { 0 } },
	  NULL },
	{ "audit verify", CLI_AUDIT_VERIFY, "[DIR]", 0, 1,
	  "verify the audit trail in DIR (default: the configured appliance's "
	  "DATA_DIR/audit)", 0, { OPT(KEY_FILE, NULL) }, parse_dir },
	{ "audit search", CLI_AUDIT_SEARCH, NULL, 0, 0,
	  "search the trail (security-auditor)", 0,
	  { OPT(ACTOR, NULL), OPT(ACTION, NULL), OPT(KIND, NULL),
	    OPT(OBJECT, NULL), OPT(OUTCOME, NULL), OPT(SINCE, NULL),
	    OPT(UNTIL, NULL), OPT(LIMIT, NULL) }, NULL },
	{ "principal create", CLI_PRINCIPAL_CREATE, "NAME", 1, 1,
	  "issue a client certificate and write DIR/NAME.{crt,key,conf}: the "
	  "key is made here and only a CSR is sent; with --csr your own CSR is "
	  "sent and the config names your key file", 0,
	  { REQ(TENANT, "TENANT"), REQ(ROLE, NULL), REQ(OUT, NULL),
	    OPT(DAYS, NULL), OPT(CSR, NULL), OPT(PRINCIPAL_KEY, NULL) },
	  parse_principal_create },
	{ "principal revoke", CLI_PRINCIPAL_REVOKE, "NAME", 1, 1,
	  "revoke it at once and remove its role binding", 0,
	  { REQ(TENANT, "TENANT") }, parse_name },
	{ "explain", CLI_EXPLAIN, "instance NAME", 2, 2,
	  "why an instance was placed where it is, or why it is still pending",
	  0, { REQ(TENANT, "TENANT") }, parse_explain },
	{ "image import", CLI_IMAGE_IMPORT, "FILE", 1, 1,
	  "import an image from local media; FILE.sig must be beside it, "
	  "signed by a trusted key", 0, { OPT(TYPE, NULL), OPT(DIGEST, NULL) },
	  parse_path },
	{ "image sign", CLI_IMAGE_SIGN, "FILE", 1, 1,
	  "write FILE.sig (ECDSA P-384; offline publisher tool)", 0,
	  { REQ(KEY, "KEY.pem") }, parse_path },
	{ "image trust add", CLI_IMAGE_TRUST_ADD, "PUBKEY.pem", 1, 1,
	  "trust a publisher's signing key (system-admin)", 0,
	  { OPT(NAME, NULL) }, parse_path },
	{ "compliance controls", CLI_COMPLIANCE_CONTROLS, NULL, 0, 0,
	  "list the baseline's controls and which are checked automatically "
	  "(reads local data only)", 0, { OPT(BASELINE, NULL) }, NULL },
	{ "compliance scan", CLI_COMPLIANCE_SCAN, NULL, 0, 0,
	  "assess the running appliance now", 0, { OPT(BASELINE, NULL) },
	  NULL },
	{ "compliance results", CLI_COMPLIANCE_RESULTS, NULL, 0, 0,
	  "the latest scan, or its OSCAL assessment results or POA&M", 0,
	  { OPT(FORMAT, NULL) }, NULL },
	{ "evidence export", CLI_EVIDENCE_EXPORT, NULL, 0, 0,
	  "signed evidence bundle for an assessor (security-auditor); check "
	  "it with bulwark-verify", CLI_F_OUTPUT_FILE,
	  { OPT(SINCE, NULL), OPT(UNTIL, NULL), OPT(REFUSE_STALE, NULL),
	    REQ(OUTPUT, "FILE.tar") }, NULL },
	{ "evidence conmon", CLI_EVIDENCE_CONMON, NULL, 0, 0,
	  "the month's continuous-monitoring package (scan summary, POA&M "
	  "changes, inventory, audit attestation), signed like a bundle "
	  "(security-auditor); check it with bulwark-verify", CLI_F_OUTPUT_FILE,
	  { REQ(MONTH, NULL), REQ(OUTPUT, "FILE.tar") }, NULL },
	{ "node bootstrap", CLI_NODE_BOOTSTRAP, "NAME", 1, 1,
	  "issue a single-use enrolment credential for a node's agent "
	  "(written 0600 to FILE, or to standard output)", CLI_F_OUTPUT_FILE,
	  { OPT(TTL, NULL), OPT(OUTPUT, "FILE") }, parse_name },
	{ "node approve", CLI_NODE_APPROVE, "NAME", 1, 1,
	  "accept a node's PCR values as its golden values", 0, { { 0 } },
	  parse_name },
	{ "waiver create", CLI_WAIVER_CREATE, NULL, 0, 0,
	  "ask to accept the risk of a failing control or check until a time "
	  "(system-admin; FILE is a Waiver document); it has no effect until "
	  "a security-auditor approves it", 0, { REQ(FILE, NULL) }, NULL },
	{ "waiver approve", CLI_WAIVER_APPROVE, "NAME", 1, 1,
	  "approve a waiver another principal asked for (security-auditor)",
	  0, { { 0 } }, parse_name },
	{ "waiver list", CLI_WAIVER_LIST, NULL, 0, 0,
	  "the waivers, their state, requester, approver and expiry", 0,
	  { { 0 } }, NULL },
	{ "waiver withdraw", CLI_WAIVER_WITHDRAW, "NAME", 1, 1,
	  "delete a waiver (system-admin)", 0, { { 0 } }, parse_name },
	{ "store snapshot", CLI_STORE_SNAPSHOT, NULL, 0, 0,
	  "a snapshot of the etcd cluster the store is on, every object with "
	  "its revision, its SHA-256 checked (system-admin; audited)",
	  CLI_F_OUTPUT_FILE, { REQ(OUTPUT, "FILE.db") }, NULL },
	{ "store verify", CLI_STORE_VERIFY, "FILE.db", 1, 1,
	  "check a snapshot is whole: the SHA-256 etcd appended matches "
	  "(offline)", 0, { { 0 } }, parse_path },
	{ "store restore", CLI_STORE_RESTORE, "FILE.db", 1, 1,
	  "verify a snapshot, then restore it as one member of a new etcd "
	  "cluster with etcdctl (offline; once per member, see docs/ha.md)", 0,
	  { REQ(MEMBER, NULL), REQ(INITIAL_CLUSTER, NULL), REQ(PEER_URL, NULL),
	    REQ(DATA_DIR, NULL), OPT(CLUSTER_TOKEN, NULL) }, parse_path },
	{ "help", CLI_HELP, "[COMMAND]", 0, 3, "show this help, or a "
	  "command's", 0, { { 0 } }, parse_help },
	{ "version", CLI_VERSION, NULL, 0, 0, "show the version", 0, { { 0 } },
	  NULL },
};

int
cli_exit_for_status(int status)
{
	switch (status) {
	case 401:
	case 403:
		return CLI_EXIT_DENIED;
	case 404:
		return CLI_EXIT_NOTFOUND;
	case 409:
		return CLI_EXIT_CONFLICT;
	}
	return status >= 400 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}

const struct cli_command *
cli_commands(size_t *ret_n)
{
	*ret_n = ELEMENTSOF(commands);
	return commands;
}

static const struct cli_option *
option_by_id(enum cli_optid id)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(options); i++)
		if (options[i].id == id)
			return &options[i];
	return NULL;
}

/* How command C uses option ID: its row in C->opts, or NULL. */
static const struct cli_cmd_opt *
command_opt(const struct cli_command *c, enum cli_optid id)
{
	size_t i;

	for (i = 0; i < CLI_CMD_OPTS_MAX && c->opts[i].id; i++)
		if (c->opts[i].id == id)
			return &c->opts[i];
	return NULL;
}

/* Option setters: check one value and store it. */

static int
set_str(struct cli_opts *o, const struct cli_option *opt, const char *val,
    char **ret_err)
{
	*(const char **)((char *)o + opt->field) = val;
	return 0;
}

static int
set_tenant(struct cli_opts *o, const struct cli_option *opt, const char *val,
    char **ret_err)
{
	if (!schema_is_dns_label(val))
		return errf(-BW_E_INVALID, ret_err,
		    "--tenant: \"%s\" is not a valid name", val);
	o->tenant = val;
	return 0;
}

static int
set_name(struct cli_opts *o, const struct cli_option *opt, const char *val,
    char **ret_err)
{
	if (!schema_is_dns_label(val))
		return errf(-BW_E_INVALID, ret_err,
		    "--name: \"%s\" is not a valid name", val);
	o->trust_name = val;
	return 0;
}

/* Returns 1 if VAL is one of the '|'-separated words of LIST. */
static int
one_of(const char *list, const char *val)
{
	size_t n = strlen(val);

	while (*list) {
		size_t w = strcspn(list, "|");

		if (w == n && strncmp(list, val, n) == 0)
			return 1;
		list += w + (list[w] == '|');
	}
	return 0;
}

static int
set_type(struct cli_opts *o, const struct cli_option *opt, const char *val,
    char **ret_err)
{
	if (!one_of(opt->arg, val))
		return errf(-BW_E_INVALID, ret_err,
		    "--type: must be container or vm");
	o->image_type = val;
	return 0;
}

static int
set_baseline(struct cli_opts *o, const struct cli_option *opt,
    const char *val, char **ret_err)
{
	if (!one_of(opt->arg, val))
		return errf(-BW_E_INVALID, ret_err,
		    "--baseline: must be low, moderate or high");
	o->baseline = val;
	return 0;
}

static int
set_format(struct cli_opts *o, const struct cli_option *opt, const char *val,
    char **ret_err)
{
	if (!one_of(opt->arg, val))
		return errf(-BW_E_INVALID, ret_err,
		    "--format: must be summary, oscal or oscal-poam");
	o->format = val;
	return 0;
}

static int
set_since(struct cli_opts *o, const struct cli_option *opt, const char *val,
    char **ret_err)
{
	char *end;

	/* a revision for watch, a time otherwise: parse_watch decides */
	o->since_text = val;
	errno = 0;
	o->since = strtoull(val, &end, 10);
	o->has_since = !(errno || *end || !*val || *val == '-');
	return 0;
}

/* Parses VAL as an unsigned number in MIN..MAX into *RET. */
static int
parse_uint(const char *val, unsigned min, unsigned max, unsigned *ret)
{
	unsigned long	 v;
	char		*end;

	errno = 0;
	v = strtoul(val, &end, 10);
	if (errno || *end || !*val || *val == '-' || v < min || v > max)
		return -BW_E_INVALID;
	*ret = (unsigned)v;
	return 0;
}

static int
set_days(struct cli_opts *o, const struct cli_option *opt, const char *val,
    char **ret_err)
{
	if (parse_uint(val, 1, 365, &o->days) < 0)
		return errf(-BW_E_INVALID, ret_err, "--days: must be 1..365");
	return 0;
}

static int
set_limit(struct cli_opts *o, const struct cli_option *opt, const char *val,
    char **ret_err)
{
	if (parse_uint(val, 1, 10000, &o->limit) < 0)
		return errf(-BW_E_INVALID, ret_err,
		    "--limit: must be 1..10000");
	return 0;
}

static int
set_ttl(struct cli_opts *o, const struct cli_option *opt, const char *val,
    char **ret_err)
{
	if (parse_uint(val, 60, 86400, &o->ttl) < 0)
		return errf(-BW_E_INVALID, ret_err,
		    "--ttl: must be 60..86400 seconds");
	return 0;
}

static int
set_follow(struct cli_opts *o, const struct cli_option *opt, const char *val,
    char **ret_err)
{
	o->follow = 1;
	return 0;
}

static int
set_tail(struct cli_opts *o, const struct cli_option *opt, const char *val,
    char **ret_err)
{
	/* lines, not bytes: bulwarkd holds 64 KiB or more of a log */
	return parse_uint(val, 1, 10000, &o->tail_lines) < 0 ?
	    errf(-BW_E_INVALID, ret_err, "--tail: must be 1..10000 lines") : 0;
}

static int
set_json(struct cli_opts *o, const struct cli_option *opt, const char *val,
    char **ret_err)
{
	/* a flag, not out_file = "json": every string in the options
	 * points into argv, and -o FILE of the commands that write a file
	 * must not be replaced */
	o->json = 1;
	return 0;
}

static int
set_refuse_stale(struct cli_opts *o, const struct cli_option *opt,
    const char *val, char **ret_err)
{
	o->refuse_stale = 1;
	return 0;
}

static int
set_month(struct cli_opts *o, const struct cli_option *opt, const char *val,
    char **ret_err)
{
	/* The server parses it; this catches a typo before the request. */
	if (strlen(val) != 7 || val[4] != '-' || strspn(val, "0123456789") != 4 ||
	    strspn(val + 5, "0123456789") != 2 || strcmp(val + 5, "01") < 0 ||
	    strcmp(val + 5, "12") > 0)
		return errf(-BW_E_INVALID, ret_err, "--month: must be YYYY-MM, "
		    "like 2026-12");
	o->month = val;
	return 0;
}

/* Positional-argument parsers, one per shape of command. */

static int
check_name(const struct cli_command *c, const char *name, char **ret_err)
{
	if (!schema_is_dns_label(name))
		return errf(-BW_E_INVALID, ret_err,
		    "%s: \"%s\" is not a valid name", c->name, name);
	return 0;
}

static int
parse_kind_name(struct cli_opts *o, const struct cli_command *c,
    char *const *args, int nargs, char **ret_err)
{
	if (nargs >= 1 && !res_kind_lookup(args[0]))
		return errf(-BW_E_INVALID, ret_err, "%s: unknown kind \"%s\"",
		    c->name, args[0]);
	if (nargs >= 2 && check_name(c, args[1], ret_err) < 0)
		return -BW_E_INVALID;
	o->kind = nargs >= 1 ? args[0] : NULL;
	o->name = nargs >= 2 ? args[1] : NULL;
	return 0;
}

static int
parse_watch(struct cli_opts *o, const struct cli_command *c,
    char *const *args, int nargs, char **ret_err)
{
	if (o->since_text && !o->has_since)
		return errf(-BW_E_INVALID, ret_err,
		    "--since: must be a revision number");
	return parse_kind_name(o, c, args, nargs, ret_err);
}

static int
parse_name(struct cli_opts *o, const struct cli_command *c,
    char *const *args, int nargs, char **ret_err)
{
	if (check_name(c, args[0], ret_err) < 0)
		return -BW_E_INVALID;
	o->name = args[0];
	return 0;
}

static int
parse_principal_create(struct cli_opts *o, const struct cli_command *c,
    char *const *args, int nargs, char **ret_err)
{
	if (o->csr_file && !o->principal_key)
		return errf(-BW_E_INVALID, ret_err, "principal create: --csr "
		    "needs --principal-key (the key the CSR certifies, for the "
		    "config)");
	return parse_name(o, c, args, nargs, ret_err);
}

static int
parse_path(struct cli_opts *o, const struct cli_command *c,
    char *const *args, int nargs, char **ret_err)
{
	o->path = args[0];
	return 0;
}

static int
parse_dir(struct cli_opts *o, const struct cli_command *c,
    char *const *args, int nargs, char **ret_err)
{
	o->dir = nargs ? args[0] : NULL;
	return 0;
}

static int
parse_explain(struct cli_opts *o, const struct cli_command *c,
    char *const *args, int nargs, char **ret_err)
{
	if (res_kind_lookup(args[0]) != res_kind_by_name("Instance"))
		return errf(-BW_E_INVALID, ret_err,
		    "explain: use explain instance NAME -t TENANT");
	o->kind = args[0];
	return parse_name(o, c, args + 1, nargs - 1, ret_err);
}

static const struct cli_command *find_command(char *const *words, int n,
    int *ret_used);
static int is_group(const char *word);

static int
parse_help(struct cli_opts *o, const struct cli_command *c,
    char *const *args, int nargs, char **ret_err)
{
	const struct cli_command	*topic;
	int				 used;

	if (nargs == 0)
		return 0;
	topic = find_command(args, nargs, &used);
	if (!topic && nargs == 1 && is_group(args[0])) {
		o->help_group = args[0];
		return 0;
	}
	if (!topic || used != nargs)
		return errf(-BW_E_INVALID, ret_err,
		    "help: unknown command \"%s\"", args[0]);
	o->help_for = topic;
	return 0;
}

/* The command named by the first words of WORDS (the longest match), and
 * in *RET_USED how many words its name has; NULL if none matches. */
static const struct cli_command *
find_command(char *const *words, int n, int *ret_used)
{
	const struct cli_command	*best = NULL;
	size_t				 i;
	int				 best_used = 0;

	for (i = 0; i < ELEMENTSOF(commands); i++) {
		const char	*p = commands[i].name;
		int		 w = 0;

		while (w < n) {
			size_t len = strcspn(p, " ");

			if (strlen(words[w]) != len ||
			    strncmp(p, words[w], len) != 0)
				break;
			w++;
			p += len;
			if (!*p)
				break;
			p++;
		}
		if (!*p && w > best_used) {
			best = &commands[i];
			best_used = w;
		}
	}
	*ret_used = best_used;
	return best;
}

/* "WORD: use WORD a|b|c ARGS" for a first word that only starts command
 * names (principal, image, ...), or NULL if WORD starts none. */
static int
group_error(const char *word, char **ret_err)
{
	_cleanup_free_ char	*list = NULL;
	const char		*args = NULL;
	size_t			 i, wl = strlen(word), len = 0;
	int			 n = 0, same = 1;
	FILE			*f;

	if (!(f = open_memstream(&list, &len)))
		return -ENOMEM;
	for (i = 0; i < ELEMENTSOF(commands); i++) {
		const struct cli_command *c = &commands[i];

		if (strncmp(c->name, word, wl) || c->name[wl] != ' ')
			continue;
		fprintf(f, "%s%s", n++ ? "|" : "", c->name + wl + 1);
		if (n == 1)
			args = c->args;
		else if (!args != !c->args || (args && strcmp(args, c->args)))
			same = 0;
	}
	fclose(f);
	if (n == 0)
		return errf(-BW_E_INVALID, ret_err,
		    "unknown command \"%s\" (try bulwark --help)", word);
	return errf(-BW_E_INVALID, ret_err, "%s: use %s %s%s%s (try bulwark "
	    "%s --help)", word, word, list, same && args ? " " : "",
	    same && args ? args : "", word);
}

/* The table's option for getopt's return value C. */
static const struct cli_option *
option_by_val(int c)
{
	size_t i;

	if (c >= 256)
		return option_by_id((enum cli_optid)(c - 256));
	for (i = 0; i < ELEMENTSOF(options); i++)
		if (options[i].short_name == c)
			return &options[i];
	return NULL;
}

/* Returns 1 if argv[I] is an option whose value is the next word. */
static int
takes_next(char *const *argv, int i)
{
	const char	*a = argv[i];
	size_t		 k;

	if (strncmp(a, "--", 2) == 0) {
		if (strchr(a, '='))
			return 0;
		for (k = 0; k < ELEMENTSOF(options); k++)
			if (strcmp(options[k].name, a + 2) == 0)
				return options[k].arg != NULL;
		return 0;
	}
	/* a cluster of short options: the first with a value takes the
	 * rest of the word, or the next one */
	for (a++; *a; a++) {
		const struct cli_option *opt = option_by_val((unsigned char)*a);

		if (opt && opt->arg)
			return a[1] == '\0';
	}
	return 0;
}

/* Returns 1 if WORD is the first word of a command of several words. */
static int
is_group(const char *word)
{
	size_t i, n = strlen(word);

	for (i = 0; i < ELEMENTSOF(commands); i++)
		if (strncmp(commands[i].name, word, n) == 0 &&
		    commands[i].name[n] == ' ')
			return 1;
	return 0;
}

/* For `bulwark ... --help`: the command named by the words of ARGV that
 * are neither options nor their values, or NULL; or in *RET_GROUP the
 * first word of several commands ("image"). */
static const struct cli_command *
help_topic(int argc, char *const *argv, const char **ret_group)
{
	char	*words[4];
	int	 i, n = 0, used;

	for (i = 1; i < argc && n < (int)ELEMENTSOF(words); i++) {
		if (strcmp(argv[i], "--") == 0)
			continue;
		if (argv[i][0] == '-' && argv[i][1]) {
			i += takes_next(argv, i);
			continue;
		}
		words[n++] = argv[i];
	}
	*ret_group = n > 0 && is_group(words[0]) ? words[0] : NULL;
	return find_command(words, n, &used);
}

/* getopt_long's tables, made from options[]. */
static void
build_getopt(struct option *longopts, char *shortopts)
{
	size_t i, n = 0;

	*shortopts++ = ':';	/* report a missing value as such */
	for (i = 0; i < ELEMENTSOF(options); i++) {
		const struct cli_option *opt = &options[i];

		longopts[n++] = (struct option){ opt->name, opt->arg ?
		    required_argument : no_argument, NULL, 256 + (int)opt->id };
		if (opt->short_name) {
			*shortopts++ = (char)opt->short_name;
			if (opt->arg)
				*shortopts++ = ':';
		}
	}
	longopts[n] = (struct option){ 0 };
	*shortopts = '\0';
}

static int
option_error(int c, char **argv, char **ret_err)
{
	const char *what = c == ':' ? "needs a value" : NULL;

	if (optopt && optopt < 256 && strncmp(argv[optind - 1], "--", 2) != 0)
		return what ? errf(-BW_E_INVALID, ret_err, "-%c: %s", optopt,
		    what) : errf(-BW_E_INVALID, ret_err, "unknown option -%c",
		    optopt);
	return what ? errf(-BW_E_INVALID, ret_err, "%s: %s", argv[optind - 1],
	    what) : errf(-BW_E_INVALID, ret_err, "unknown option %s",
	    argv[optind - 1]);
}

/* Runs getopt over ARGV, storing values in *O and marking SEEN. Returns
 * 0, 1 when --help, --version or --help-man ends parsing (O->cmd set),
 * or a negative error. */
static int
scan_options(int argc, char **argv, struct cli_opts *o, unsigned char *seen,
    char **ret_err)
{
	struct option		 longopts[ELEMENTSOF(options) + 1];
	char			 shortopts[2 * ELEMENTSOF(options) + 2];
	const struct cli_option	*opt;
	int			 c, r;

	build_getopt(longopts, shortopts);
	optind = 0;	/* full reset: cli_parse may run several times */
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == ':' || c == '?' || !(opt = option_by_val(c)))
			return option_error(c, argv, ret_err);
		seen[opt->id] = 1;
		switch (opt->id) {
		case CLI_OPT_HELP:
			o->cmd = CLI_HELP;
			o->help_for = help_topic(argc, argv, &o->help_group);
			return 1;
		case CLI_OPT_VERSION:
			o->cmd = CLI_VERSION;
			return 1;
		case CLI_OPT_HELP_MAN:
			o->cmd = CLI_HELP_MAN;
			return 1;
		default:
			if ((r = opt->set(o, opt, optarg, ret_err)) < 0)
				return r;
		}
	}
	return 0;
}

/* What goes before item K of N in "a, b and c". */
static const char *
list_sep(size_t k, size_t n)
{
	return k == 0 ? "" : k + 1 == n ? " and " : ", ";
}

/* "--since is only for watch, audit search and evidence export" */
static int
misplaced_option(const struct cli_command *c, const struct cli_option *opt,
    char **ret_err)
{
	_cleanup_free_ char	*list = NULL;
	size_t			 i, len = 0, n = 0, k = 0;
	FILE			*f;

	for (i = 0; i < ELEMENTSOF(commands); i++)
		n += command_opt(&commands[i], opt->id) != NULL;
	if (!(f = open_memstream(&list, &len)))
		return -ENOMEM;
	for (i = 0; i < ELEMENTSOF(commands); i++)
		if (command_opt(&commands[i], opt->id))
			fprintf(f, "%s%s", list_sep(k++, n), commands[i].name);
	fclose(f);
	return errf(-BW_E_INVALID, ret_err, "%s: --%s is only for %s", c->name,
	    opt->name, list);
}

/* The value's name of option OPT as command C shows it. */
static const char *
opt_arg(const struct cli_command *c, const struct cli_option *opt)
{
	const struct cli_cmd_opt *co = c ? command_opt(c, opt->id) : NULL;

	return co && co->arg ? co->arg : opt->arg;
}

/* How command C names option OPT in messages and synopses. */
static void
opt_spelling(const struct cli_option *opt, char *buf, size_t len)
{
	if (opt->short_name)
		snprintf(buf, len, "-%c", opt->short_name);
	else
		snprintf(buf, len, "--%s", opt->name);
}

/* "--role and --out are required", naming the options C needs and SEEN
 * lacks (the value's name too when only one is missing). */
static int
missing_options(const struct cli_command *c, const unsigned char *seen,
    char **ret_err)
{
	_cleanup_free_ char	*list = NULL;
	const struct cli_option	*opt;
	char			 spelling[32];
	size_t			 i, len = 0, n = 0, k = 0;
	FILE			*f;

	for (i = 0; i < CLI_CMD_OPTS_MAX && c->opts[i].id; i++)
		if ((c->opts[i].flags & CLI_REQUIRED) && !seen[c->opts[i].id])
			n++;
	if (n == 0)
		return 0;
	if (!(f = open_memstream(&list, &len)))
		return -ENOMEM;
	for (i = 0; i < CLI_CMD_OPTS_MAX && c->opts[i].id; i++) {
		if (!(c->opts[i].flags & CLI_REQUIRED) || seen[c->opts[i].id])
			continue;
		opt = option_by_id(c->opts[i].id);
		opt_spelling(opt, spelling, sizeof(spelling));
		fprintf(f, "%s%s", list_sep(k++, n), spelling);
		if (n == 1)
			fprintf(f, " %s", opt_arg(c, opt));
	}
	fclose(f);
	return errf(-BW_E_INVALID, ret_err, "%s: %s %s required", c->name, list,
	    n == 1 ? "is" : "are");
}

/* Checks the options SEEN against what command C accepts and needs. */
static int
check_options(const struct cli_command *c, const unsigned char *seen,
    char **ret_err)
{
	const struct cli_option	*opt;
	size_t			 i;

	for (i = 0; i < ELEMENTSOF(options); i++) {
		opt = &options[i];
		if (seen[opt->id] && !opt->global && !command_opt(c, opt->id))
			return misplaced_option(c, opt, ret_err);
	}
	return missing_options(c, seen, ret_err);
}

static int
cli_parse_args(int argc, char **argv, struct cli_opts *ret, char **ret_err)
{
	unsigned char			 seen[CLI_OPT_MAX] = { 0 };
	const struct cli_command	*c;
	struct cli_opts			 o = { 0 };
	int				 r, used, nargs;

	if ((r = scan_options(argc, argv, &o, seen, ret_err)) != 0) {
		if (r > 0)
			*ret = o;
		return r < 0 ? r : 0;
	}
	if (optind >= argc)
		return errf(-BW_E_INVALID, ret_err,
		    "no command given (try bulwark --help)");
	if (!(c = find_command(argv + optind, argc - optind, &used)))
		return group_error(argv[optind], ret_err);
	nargs = argc - optind - used;
	if (nargs > 0 && c->max_args == 0)
		return errf(-BW_E_INVALID, ret_err, "%s: takes %s (try bulwark "
		    "%s --help)", c->name, c->opts[0].id ? "options only" :
		    "no arguments", c->name);
	if (nargs < c->min_args || nargs > c->max_args)
		return errf(-BW_E_INVALID, ret_err, "%s: wrong number of "
		    "arguments (try bulwark %s --help)", c->name, c->name);
	if ((r = check_options(c, seen, ret_err)) < 0)
		return r;
	if (c->parse && (r = c->parse(&o, c, argv + optind + used, nargs,
	    ret_err)) < 0)
		return r;
	o.cmd = c->cmd;
	if (!(c->flags & CLI_F_OUTPUT_FILE)) {
		/* -o is the output format here, not a file */
		if (o.json && o.out_file && strcmp(o.out_file, "json") != 0)
			return errf(-BW_E_INVALID, ret_err, "--json and "
			    "--output %s: choose one", o.out_file);
		if (o.json)
			o.output = CLI_OUT_JSON;
		else if (!o.out_file || strcmp(o.out_file, "table") == 0)
			o.output = CLI_OUT_TABLE;
		else if (strcmp(o.out_file, "json") == 0)
			o.output = CLI_OUT_JSON;
		else
			return errf(-BW_E_INVALID, ret_err, "--output: must be "
			    "table or json, not \"%s\"", o.out_file);
		o.out_file = NULL;
	}
	*ret = o;
	return 0;
}

int
cli_parse(int argc, char **argv, struct cli_opts *ret, char **ret_err)
{
	return cli_parse_args(argc, argv, ret, ret_err);
}

/* Help and the man page synopsis, from the same tables. */

#define HELP_WIDTH	78
#define HELP_COL	28

/* Writes TEXT from column COL, breaking lines before HELP_WIDTH and
 * indenting the next ones by INDENT; ends the line. */
static void
wrap(FILE *f, const char *text, size_t col, size_t indent)
{
	int first = 1;

	while (*text) {
		size_t	w;
		int	depth = 0;

		/* "[--limit N]" is one word: break between brackets only */
		for (w = 0; text[w] && (text[w] != ' ' || depth > 0); w++)
			depth += (text[w] == '[') - (text[w] == ']');
		if (!first && col + 1 + w > HELP_WIDTH) {
			fprintf(f, "\n%*s", (int)indent, "");
			col = indent;
		} else if (!first) {
			fputc(' ', f);
			col++;
		}
		fwrite(text, 1, w, f);
		col += w;
		text += w;
		first = 0;
		while (*text == ' ')
			text++;
	}
	fputc('\n', f);
}

/* Writes synopsis word W (LEN bytes): in roff, names of values in
 * italics, literal words in bold, brackets and bars in roman. */
static void
put_word(FILE *f, const char *w, size_t len, int roff)
{
	size_t i, run;

	if (!roff) {
		fwrite(w, 1, len, f);
		return;
	}
	for (i = 0; i < len; i += run) {
		if (strchr("[]|", w[i])) {
			fputc(w[i], f);
			run = 1;
			continue;
		}
		run = 0;
		while (i + run < len && !strchr("[]|", w[i + run]))
			run++;
		fputs(isupper((unsigned char)w[i]) ? "\\fI" : "\\fB", f);
		for (size_t k = i; k < i + run; k++)
			fputs(w[k] == '-' ? "\\-" : (char[]){ w[k], 0 }, f);
		fputs("\\fR", f);
	}
}

static void
put_words(FILE *f, const char *s, int roff)
{
	while (s && *s) {
		size_t w = strcspn(s, " ");

		put_word(f, s, w, roff);
		s += w;
		while (*s == ' ')
			s++;
		if (*s)
			fputc(' ', f);
	}
}

/* Writes command C's synopsis: name, arguments, options. */
static void
put_synopsis(FILE *f, const struct cli_command *c, int roff)
{
	char	spelling[32];
	size_t	i;

	put_words(f, c->name, roff);
	if (c->args) {
		fputc(' ', f);
		put_words(f, c->args, roff);
	}
	for (i = 0; i < CLI_CMD_OPTS_MAX && c->opts[i].id; i++) {
		const struct cli_option	*opt;
		int			 req = c->opts[i].flags & CLI_REQUIRED;

		opt = option_by_id(c->opts[i].id);

		opt_spelling(opt, spelling, sizeof(spelling));
		fputs(req ? " " : " [", f);
		put_word(f, spelling, strlen(spelling), roff);
		if (opt_arg(c, opt)) {
			fputc(' ', f);
			put_word(f, opt_arg(c, opt), strlen(opt_arg(c, opt)), roff);
		}
		if (!req)
			fputc(']', f);
	}
}

static void
put_option_help(FILE *f, const struct cli_command *c,
    const struct cli_option *opt)
{
	int col;

	if (opt->short_name)
		col = fprintf(f, "  -%c, --%s", opt->short_name, opt->name);
	else
		col = fprintf(f, "  --%s", opt->name);
	if (opt_arg(c, opt))
		col += fprintf(f, " %s", opt_arg(c, opt));
	if (col > 20) {
		fputc('\n', f);
		col = 0;
	}
	fprintf(f, "%*s", 22 - col, "");
	wrap(f, opt->help, 22, 22);
}

/* "KIND is one of tenant, node, ..." from the resource table. */
static void
put_kinds(FILE *f)
{
	const struct res_kind	*kinds;
	_cleanup_free_ char	*list = NULL;
	size_t			 n, i, len = 0;
	FILE			*s;

	kinds = res_kinds(&n);
	if (!(s = open_memstream(&list, &len)))
		return;
	fputs("KIND is one of", s);
	for (i = 0; i < n; i++) {
		fprintf(s, i == 0 ? " " : i + 1 == n ? " or " : ", ");
		for (const char *p = kinds[i].kind; *p; p++)
			fputc(tolower((unsigned char)*p), s);
	}
	fputs(" (singular or plural, any case).", s);
	if (fclose(s) == 0)
		wrap(f, list, 0, 0);
}

static const char help_tail[] =
"\n"
"Exit status:\n"
"  0 success; 1 the server refused or failed the request; 2 usage error or\n"
"  unreadable input; 3 the server could not be reached (connection or TLS);\n"
"  4 not found; 5 conflict (already exists, or the revision changed);\n"
"  6 not authenticated or not allowed; 7 audit verification found damage.\n";

/* Command C's synopsis as plain text, in *RET (free it). */
static int
synopsis_text(const struct cli_command *c, char **ret)
{
	char	*syn = NULL;
	size_t	 len = 0;
	FILE	*s = open_memstream(&syn, &len);

	if (!s)
		return -ENOMEM;
	put_synopsis(s, c, 0);
	if (fclose(s) != 0) {
		free(syn);
		return -ENOMEM;
	}
	*ret = syn;
	return 0;
}

static void
help_command(FILE *f, const struct cli_command *c)
{
	_cleanup_free_ char	*globals = NULL, *syn = NULL;
	size_t			 i, len = 0;
	FILE			*g;

	if (synopsis_text(c, &syn) < 0)
		return;
	fputs("Usage: bulwark [GLOBAL OPTIONS] ", f);
	wrap(f, syn, 32, 8);
	fputc('\n', f);
	wrap(f, c->summary, 0, 0);
	if (c->opts[0].id)
		fputs("\nOptions:\n", f);
	for (i = 0; i < CLI_CMD_OPTS_MAX && c->opts[i].id; i++)
		put_option_help(f, c, option_by_id(c->opts[i].id));
	if (!(g = open_memstream(&globals, &len)))
		return;
	fputs("Global options (see bulwark --help):", g);
	for (i = 0; i < ELEMENTSOF(options); i++)
		if (options[i].global && options[i].help)
			fprintf(g, " --%s", options[i].name);
	if (fclose(g) != 0)
		return;
	fputc('\n', f);
	wrap(f, globals, 0, 0);
}

void
cli_help(FILE *f, const struct cli_command *c, const char *group)
{
	size_t	i, gl = group ? strlen(group) : 0;
	int	global;

	if (c) {
		help_command(f, c);
		return;
	}
	fprintf(f, "Usage: bulwark [GLOBAL OPTIONS] %s%sCOMMAND [ARGS]\n"
	    "       bulwark %s%sCOMMAND --help\n\nCommands:\n", group ?
	    group : "", group ? " " : "", group ? group : "", group ? " " : "");
	for (i = 0; i < ELEMENTSOF(commands); i++) {
		_cleanup_free_ char *syn = NULL;

		if (group && (strncmp(commands[i].name, group, gl) ||
		    commands[i].name[gl] != ' '))
			continue;
		if (synopsis_text(&commands[i], &syn) < 0)
			return;
		if (strlen(syn) + 4 <= HELP_COL)
			fprintf(f, "  %-*s", HELP_COL - 2, syn);
		else {
			fprintf(f, "  ");
			wrap(f, syn, 2, 6);
			fprintf(f, "%*s", HELP_COL, "");
		}
		wrap(f, commands[i].summary, HELP_COL, HELP_COL);
	}
	if (group) {
		fprintf(f, "\nGlobal options: see bulwark --help.\n");
		return;
	}
	for (global = 1; global >= 0; global--) {
		fputs(global ? "\nGlobal options:\n" : "\nCommand options:\n", f);
		for (i = 0; i < ELEMENTSOF(options); i++)
			if (options[i].help && options[i].global == global)
				put_option_help(f, NULL, &options[i]);
	}
	fputc('\n', f);
	put_kinds(f);
	fputs(help_tail, f);
}

void
cli_help_man(FILE *f)
{
	size_t i;

	fputs(".SH SYNOPSIS\n.nf\n", f);
	for (i = 0; i < ELEMENTSOF(commands); i++) {
		fputs("\\fBbulwark\\fR [\\fIGLOBAL OPTIONS\\fR] ", f);
		put_synopsis(f, &commands[i], 1);
		fputc('\n', f);
	}
	fputs(".fi\n", f);
}
