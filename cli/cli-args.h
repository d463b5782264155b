/* Command-line parsing for `bulwark`, kept apart from main() so the
 * unit tests can drive it. */
#ifndef BW_CLI_ARGS_H
#define BW_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cli_cmd {
	CLI_NONE,
	CLI_HELP,
	CLI_VERSION,
	CLI_GET,
	CLI_DESCRIBE,
	CLI_APPLY,
	CLI_DELETE,
	CLI_WATCH,
	CLI_WHOAMI,
	CLI_HEALTH,
	CLI_AUDIT_VERIFY,
	CLI_AUDIT_SEARCH,
	CLI_PRINCIPAL_CREATE,
	CLI_PRINCIPAL_REVOKE,
	CLI_EXPLAIN,
	CLI_IMAGE_IMPORT,
	CLI_IMAGE_SIGN,
	CLI_IMAGE_TRUST_ADD,
	CLI_COMPLIANCE_CONTROLS,
	CLI_COMPLIANCE_SCAN,
	CLI_COMPLIANCE_RESULTS,
	CLI_EVIDENCE_EXPORT,
	CLI_EVIDENCE_CONMON,
	CLI_LOGS,
	CLI_NODE_BOOTSTRAP,
	CLI_NODE_APPROVE,
	CLI_WAIVER_CREATE,
	CLI_WAIVER_APPROVE,
	CLI_WAIVER_LIST,
	CLI_WAIVER_WITHDRAW,
	CLI_STORE_SNAPSHOT,
	CLI_STORE_VERIFY,
	CLI_STORE_RESTORE,
	CLI_HELP_MAN,	/* hidden: the roff SYNOPSIS of bulwark(1) */
	CLI_CMD_MAX,
};

enum cli_output { CLI_OUT_TABLE, CLI_OUT_JSON };

/* Exit codes, documented in `bulwark --help` and bulwark(1). */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILED = 1,	/* the server refused or failed the request */
	CLI_EXIT_USAGE = 2,	/* bad command line or input file */
	CLI_EXIT_UNREACHABLE = 3, /* no connection / TLS failure */
	CLI_EXIT_NOTFOUND = 4,	/* the object does not exist */
	CLI_EXIT_CONFLICT = 5,	/* exists already, or revision conflict */
	CLI_EXIT_DENIED = 6,	/* not authenticated or not allowed */
	CLI_EXIT_VERIFY = 7,	/* audit verification found damage */
};

/* The exit status for an answer with HTTP STATUS. */
int cli_exit_for_status(int status);

struct cli_command;

struct cli_opts {
	enum cli_cmd	 cmd;
	enum cli_output	 output;
	const char	*config;
	const char	*server, *cert, *key, *cacert;
	const char	*tenant;
	const char	*selector;
	const char	*file;
	const char	*kind;
	const char	*name;
	const char	*dir;		/* audit verify */
	const char	*key_file;	/* audit verify --key */
	uint64_t	 since;		/* watch */
	int		 has_since;
	const char	*since_text;	/* audit search: RFC 3339 */
	const char	*until_text;
	const char	*actor, *action, *object, *object_kind, *outcome;
	unsigned	 limit;
	const char	*role;		/* principal create */
	const char	*out_dir;
	unsigned	 days;
	const char	*csr_file;	/* principal create --csr */
	const char	*principal_key;	/* principal create --principal-key */
	const char	*path;		/* image import / sign / trust add */
	const char	*image_type;	/* container | vm */
	const char	*digest;
	const char	*trust_name;
	const char	*baseline;	/* low | moderate | high */
	const char	*format;	/* summary | oscal | oscal-poam */
	const char	*out_file;	/* evidence export -o FILE.tar */
	int		 json;		/* --json: as -o json */
	int		 follow;	/* logs -f */
	unsigned	 tail_lines;	/* logs --tail N; 0: all held */
	int		 refuse_stale;	/* evidence export */
	const char	*month;		/* evidence conmon: YYYY-MM */
	unsigned	 ttl;		/* node bootstrap --ttl */
	/* store restore: the etcd member the snapshot is restored as */
	const char	*member, *initial_cluster, *peer_url, *data_dir;
	const char	*cluster_token;
	const struct cli_command *help_for; /* CLI_HELP: NULL, or a command */
	const char	*help_group;	/* CLI_HELP: "image" for image's commands */
};

/* One row of the command table: everything the parser, `--help` and the
 * synopsis in bulwark(1) know about a command. */
#define CLI_CMD_OPTS_MAX	10

enum cli_optid {
	CLI_OPT_NONE,
	CLI_OPT_CONFIG, CLI_OPT_SERVER, CLI_OPT_CERT, CLI_OPT_KEY,
	CLI_OPT_CACERT, CLI_OPT_TENANT, CLI_OPT_OUTPUT, CLI_OPT_HELP,
	CLI_OPT_VERSION, CLI_OPT_HELP_MAN,
	CLI_OPT_SELECTOR, CLI_OPT_FILE, CLI_OPT_SINCE, CLI_OPT_UNTIL,
	CLI_OPT_KEY_FILE, CLI_OPT_ACTOR, CLI_OPT_ACTION, CLI_OPT_OBJECT,
	CLI_OPT_KIND, CLI_OPT_OUTCOME, CLI_OPT_LIMIT, CLI_OPT_ROLE,
	CLI_OPT_OUT, CLI_OPT_DAYS, CLI_OPT_CSR, CLI_OPT_PRINCIPAL_KEY,
	CLI_OPT_TYPE, CLI_OPT_DIGEST, CLI_OPT_NAME, CLI_OPT_BASELINE,
	CLI_OPT_FORMAT, CLI_OPT_FOLLOW, CLI_OPT_TTL,
	CLI_OPT_REFUSE_STALE, CLI_OPT_MONTH, CLI_OPT_TAIL, CLI_OPT_JSON,
	CLI_OPT_MEMBER, CLI_OPT_INITIAL_CLUSTER, CLI_OPT_PEER_URL,
	CLI_OPT_DATA_DIR, CLI_OPT_CLUSTER_TOKEN,
	CLI_OPT_MAX,
};

#define CLI_REQUIRED	0x1	/* the command needs this option */

struct cli_cmd_opt {
	enum cli_optid	 id;
	unsigned	 flags;		/* CLI_REQUIRED */
	const char	*arg;		/* value's name here, or NULL */
};

#define CLI_F_OUTPUT_FILE 0x1	/* -o names a file, not a format */

struct cli_command {
	const char	*name;		/* words: "image trust add" */
	enum cli_cmd	 cmd;
	const char	*args;		/* positional part of the synopsis */
	int		 min_args, max_args;
	const char	*summary;	/* one line for --help */
	unsigned	 flags;		/* CLI_F_* */
	struct cli_cmd_opt opts[CLI_CMD_OPTS_MAX]; /* beyond the global ones */
	/* checks ARGS and sets fields of *O; NULL: takes no arguments */
	int		(*parse)(struct cli_opts *o, const struct cli_command *c,
			    char *const *args, int nargs, char **ret_err);
};

/* The command table, in the order of --help and bulwark(1). */
const struct cli_command *cli_commands(size_t *ret_n);

/* Writes `bulwark --help` to F: of command C, else of the commands whose
 * first word is GROUP, else of every command. */
void cli_help(FILE *f, const struct cli_command *c, const char *group);

/* Writes the roff text of bulwark(1)'s SYNOPSIS section, heading
 * included, made from the table; tests/integration/man-pages.sh
 * compares it with the page. */
void cli_help_man(FILE *f);

/* Parses ARGV into *RET. Returns 0, or -BW_E_INVALID with a message for
 * the user in *ret_err. Reads no files and no environment. */
int cli_parse(int argc, char **argv, struct cli_opts *ret, char **ret_err);

#endif
