/* Command-line parsing for `bulwark`, kept apart from main() so the
 * unit tests can drive it. */
#ifndef BW_CLI_ARGS_H
#define BW_CLI_ARGS_H

#include <stdint.h>

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
	CLI_LOGS,
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
	int		 follow;	/* logs -f */
};

/* Parses ARGV into *RET. Returns 0, or -BW_E_INVALID with a message for
 * the user in *ret_err. Reads no files and no environment. */
int cli_parse(int argc, char **argv, struct cli_opts *ret, char **ret_err);

extern const char cli_usage[];

#endif
