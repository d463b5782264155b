#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/cli-args.h"
#include "controlplane/resource.h"
#include "lib/err.h"
#include "lib/json.h"

const char cli_usage[] =
"Usage: bulwark [GLOBAL OPTIONS] COMMAND [ARGS]\n"
"\n"
"Commands:\n"
"  get KIND [NAME]           list objects of KIND, or show one\n"
"  describe KIND NAME        show one object in full (spec and status)\n"
"  apply -f FILE|-           create or replace the objects in FILE (one JSON\n"
"                            document, several concatenated, or an array)\n"
"  delete KIND NAME          delete an object\n"
"  watch [KIND] [--since REV] print changes as they happen (JSON lines)\n"
"  logs INSTANCE -t TENANT [--follow]\n"
"                            the instance's recent output (the last 16 KiB its\n"
"                            node reports); --follow keeps printing\n"
"  whoami                    show the identity the server sees\n"
"  health                    show the appliance's health (no credential needed)\n"
"  audit verify [DIR]        verify the audit trail in DIR (default: the\n"
"                            configured appliance's DATA_DIR/audit)\n"
"  principal create NAME -t TENANT --role ROLE --out DIR [--days N]\n"
"                    [--csr FILE --principal-key FILE]\n"
"                            issue a client certificate and write\n"
"                            DIR/NAME.{crt,key,conf}: the key is made here\n"
"                            and only a CSR is sent; with --csr your own CSR\n"
"                            is sent and the config names your key file\n"
"  principal revoke NAME -t TENANT\n"
"                            revoke it at once and remove its role binding\n"
"  explain instance NAME -t TENANT\n"
"                            why an instance was placed where it is, or why\n"
"                            it is still pending\n"
"  image import FILE [--type container|vm] [--digest sha256:HEX]\n"
"                            import an image from local media; FILE.sig must\n"
"                            be beside it, signed by a trusted key\n"
"  image sign --key KEY.pem FILE\n"
"                            write FILE.sig (ECDSA P-384; offline publisher tool)\n"
"  image trust add PUBKEY.pem [--name NAME]\n"
"                            trust a publisher's signing key (system-admin)\n"
"  compliance controls [--baseline low|moderate|high]\n"
"                            list the baseline's controls and which are\n"
"                            checked automatically (reads local data only)\n"
"  compliance scan [--baseline B]\n"
"                            assess the running appliance now (default moderate)\n"
"  compliance results [--format summary|oscal|oscal-poam]\n"
"                            the latest scan, or its OSCAL assessment results\n"
"                            or POA&M\n"
"  node bootstrap NAME [--ttl S] [-o FILE]\n"
"                            issue a single-use enrolment credential for a node\n"
"  node approve NAME         accept a node's PCR values as its golden values\n"
"  evidence export [--since T] [--until T] -o FILE.tar\n"
"                            signed evidence bundle for an assessor\n"
"                            (security-auditor); check it with bulwark-verify\n"
"  audit search [FILTERS]    search the trail (security-auditor): --actor,\n"
"                            --action (prefix with *), --kind, --object NAME,\n"
"                            --outcome, --since/--until RFC 3339, --limit N\n"
"\n"
"KIND is one of tenant, node, image, quota, rolebinding, network, workload,\n"
"instance (singular or plural, any case).\n"
"\n"
"Global options:\n"
"  --config FILE     client configuration (default $BULWARK_CONFIG, then\n"
"                    ./var/admin.conf, then /var/lib/bulwark/admin.conf)\n"
"  --server URL      https://HOST:PORT of bulwarkd\n"
"  --cert FILE       client certificate (PEM)\n"
"  --key FILE        client private key (PEM)\n"
"  --cacert FILE     CA certificate that signed the server's (PEM)\n"
"  -t, --tenant T    tenant of tenant-scoped objects\n"
"  -l, --selector S  label selector for get: k=v,k!=v,k\n"
"  -o, --output FMT  table (default) or json\n"
"  -f, --file FILE   input for apply ('-' for standard input)\n"
"  --since REV       watch: start after revision REV\n"
"  --key-file FILE   audit verify: public key that signs checkpoints (PEM;\n"
"                    after a key change, one file holding every key)\n"
"  -h, --help        show this help\n"
"  -V, --version     show the version\n"
"\n"
"Exit status:\n"
"  0 success; 1 the server refused or failed the request; 2 usage error or\n"
"  unreadable input; 3 the server could not be reached (connection or TLS);\n"
"  4 not found; 5 conflict (already exists, or the revision changed);\n"
"  6 not authenticated or not allowed; 7 audit verification found damage.\n";

static const struct {
	const char	*name;
	enum cli_cmd	 cmd;
	int		 min_args, max_args;
} commands[] = {
	{ "get", CLI_GET, 1, 2 },
	{ "describe", CLI_DESCRIBE, 2, 2 },
	{ "apply", CLI_APPLY, 0, 0 },
	{ "delete", CLI_DELETE, 2, 2 },
	{ "watch", CLI_WATCH, 0, 1 },
	{ "whoami", CLI_WHOAMI, 0, 0 },
	{ "health", CLI_HEALTH, 0, 0 },
	{ "help", CLI_HELP, 0, 0 },
	{ "version", CLI_VERSION, 0, 0 },
};

static int cli_parse_args(int argc, char **argv, struct cli_opts *ret,
    const char **ret_output, char **ret_err);

int
cli_parse(int argc, char **argv, struct cli_opts *ret, char **ret_err)
{
	struct cli_opts	 o;
	const char	*output = NULL;
	int		 r;

	/* *ret is set only on success */
	if ((r = cli_parse_args(argc, argv, &o, &output, ret_err)) < 0)
		return r;
	if (o.cmd == CLI_EVIDENCE_EXPORT) {
		if (!output)
			return errf(-BW_E_INVALID, ret_err,
			    "evidence export: -o FILE.tar is required");
		o.out_file = output;
	} else if (!output || strcmp(output, "table") == 0)
		o.output = CLI_OUT_TABLE;
	else if (strcmp(output, "json") == 0)
		o.output = CLI_OUT_JSON;
	else
		return errf(-BW_E_INVALID, ret_err,
		    "--output: must be table or json, not \"%s\"", output);
	*ret = o;
	return 0;
}

static int
cli_parse_args(int argc, char **argv, struct cli_opts *ret,
    const char **ret_output, char **ret_err)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'C' },
		{ "server", required_argument, NULL, 'S' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "cacert", required_argument, NULL, 'a' },
		{ "tenant", required_argument, NULL, 't' },
		{ "selector", required_argument, NULL, 'l' },
		{ "output", required_argument, NULL, 'o' },
		{ "file", required_argument, NULL, 'f' },
		{ "since", required_argument, NULL, 's' },
		{ "key-file", required_argument, NULL, 'K' },
		{ "until", required_argument, NULL, 'U' },
		{ "actor", required_argument, NULL, 'A' },
		{ "action", required_argument, NULL, 'X' },
		{ "object", required_argument, NULL, 'O' },
		{ "kind", required_argument, NULL, 'k' + 256 },
		{ "outcome", required_argument, NULL, 'u' + 256 },
		{ "limit", required_argument, NULL, 'L' },
		{ "role", required_argument, NULL, 'R' },
		{ "out", required_argument, NULL, 'D' },
		{ "days", required_argument, NULL, 'Y' },
		{ "csr", required_argument, NULL, 'c' + 256 },
		{ "principal-key", required_argument, NULL, 'p' + 256 },
		{ "type", required_argument, NULL, 'T' },
		{ "digest", required_argument, NULL, 'G' },
		{ "name", required_argument, NULL, 'N' },
		{ "baseline", required_argument, NULL, 'B' },
		{ "format", required_argument, NULL, 'F' },
		{ "follow", no_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_opts	 o = { 0 };
	const char	*output = NULL;
	char		*end;
	const char	*args[4];
	int		 nargs = 0, c, i;
	size_t		 j;

	optind = 0;	/* full reset: cli_parse may run several times */
	opterr = 0;
	/* leading ':' : a missing value is reported as such, not as an
	 * unknown option */
	while ((c = getopt_long(argc, argv, ":t:l:o:f:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'C': o.config = optarg; break;
		case 'S': o.server = optarg; break;
		case 'c': o.cert = optarg; break;
		case 'k': o.key = optarg; break;
		case 'a': o.cacert = optarg; break;
		case 't':
			if (!schema_is_dns_label(optarg))
				return errf(-BW_E_INVALID, ret_err,
				    "--tenant: \"%s\" is not a valid name", optarg);
			o.tenant = optarg;
			break;
		case 'l': o.selector = optarg; break;
		case 'f': o.file = optarg; break;
		case 'K': o.key_file = optarg; break;
		case 'o':
			/* checked once the command is known: evidence export
			 * takes a file here */
			output = optarg;
			break;
		case 's':
			o.since_text = optarg;
			errno = 0;
			o.since = strtoull(optarg, &end, 10);
			o.has_since = !(errno || *end || !*optarg || *optarg == '-');
			break;
		case 'U': o.until_text = optarg; break;
		case 'A': o.actor = optarg; break;
		case 'X': o.action = optarg; break;
		case 'O': o.object = optarg; break;
		case 'k' + 256: o.object_kind = optarg; break;
		case 'u' + 256: o.outcome = optarg; break;
		case 'R': o.role = optarg; break;
		case 'T':
			if (strcmp(optarg, "container") && strcmp(optarg, "vm"))
				return errf(-BW_E_INVALID, ret_err,
				    "--type: must be container or vm");
			o.image_type = optarg;
			break;
		case 'G': o.digest = optarg; break;
		case 'W': o.follow = 1; break;
		case 'B':
			if (strcmp(optarg, "low") && strcmp(optarg, "moderate") &&
			    strcmp(optarg, "high"))
				return errf(-BW_E_INVALID, ret_err,
				    "--baseline: must be low, moderate or high");
			o.baseline = optarg;
			break;
		case 'F':
			if (strcmp(optarg, "summary") && strcmp(optarg, "oscal") &&
			    strcmp(optarg, "oscal-poam"))
				return errf(-BW_E_INVALID, ret_err,
				    "--format: must be summary, oscal or oscal-poam");
			o.format = optarg;
			break;
		case 'N':
			if (!schema_is_dns_label(optarg))
				return errf(-BW_E_INVALID, ret_err,
				    "--name: \"%s\" is not a valid name", optarg);
			o.trust_name = optarg;
			break;
		case 'D': o.out_dir = optarg; break;
		case 'c' + 256: o.csr_file = optarg; break;
		case 'p' + 256: o.principal_key = optarg; break;
		case 'Y':
			errno = 0;
			o.days = (unsigned)strtoul(optarg, &end, 10);
			if (errno || *end || o.days == 0 || o.days > 365)
				return errf(-BW_E_INVALID, ret_err,
				    "--days: must be 1..365");
			break;
		case 'L':
			errno = 0;
			o.limit = (unsigned)strtoul(optarg, &end, 10);
			if (errno || *end || o.limit == 0 || o.limit > 10000)
				return errf(-BW_E_INVALID, ret_err,
				    "--limit: must be 1..10000");
			break;
		case 'h': o.cmd = CLI_HELP; *ret = o; return 0;
		case 'V': o.cmd = CLI_VERSION; *ret = o; return 0;
		case ':':
			if (optopt && strncmp(argv[optind - 1], "--", 2) != 0)
				return errf(-BW_E_INVALID, ret_err,
				    "-%c: needs a value", optopt);
			return errf(-BW_E_INVALID, ret_err,
			    "%s: needs a value", argv[optind - 1]);
		default:
			if (optopt && optopt < 256 &&
			    strncmp(argv[optind - 1], "--", 2) != 0)
				return errf(-BW_E_INVALID, ret_err,
				    "unknown option -%c", optopt);
			return errf(-BW_E_INVALID, ret_err,
			    "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return errf(-BW_E_INVALID, ret_err,
		    "no command given (try bulwark --help)");
	if (strcmp(argv[optind], "principal") == 0) {
		if (argc - optind != 3 || (strcmp(argv[optind + 1], "create") &&
		    strcmp(argv[optind + 1], "revoke")))
			return errf(-BW_E_INVALID, ret_err,
			    "principal: use principal create|revoke NAME");
		if (!schema_is_dns_label(argv[optind + 2]))
			return errf(-BW_E_INVALID, ret_err,
			    "principal: \"%s\" is not a valid name", argv[optind + 2]);
		if (!o.tenant)
			return errf(-BW_E_INVALID, ret_err,
			    "principal: -t TENANT is required");
		o.name = argv[optind + 2];
		if (strcmp(argv[optind + 1], "create") == 0) {
			if (!o.role || !o.out_dir)
				return errf(-BW_E_INVALID, ret_err,
				    "principal create: --role and --out are required");
			if (o.csr_file && !o.principal_key)
				return errf(-BW_E_INVALID, ret_err, "principal "
				    "create: --csr needs --principal-key (the "
				    "key the CSR certifies, for the config)");
			o.cmd = CLI_PRINCIPAL_CREATE;
		} else
			o.cmd = CLI_PRINCIPAL_REVOKE;
		*ret = o;
	*ret_output = output;
		return 0;
	}
	if (strcmp(argv[optind], "logs") == 0) {
		if (argc - optind != 2 || !schema_is_dns_label(argv[optind + 1]))
			return errf(-BW_E_INVALID, ret_err,
			    "logs: use logs INSTANCE -t TENANT [--follow]");
		if (!o.tenant)
			return errf(-BW_E_INVALID, ret_err, "logs: -t TENANT is required");
		o.cmd = CLI_LOGS;
		o.name = argv[optind + 1];
		*ret = o;
		*ret_output = output;
		return 0;
	}
	if (strcmp(argv[optind], "evidence") == 0) {
		if (argc - optind != 2 || strcmp(argv[optind + 1], "export") != 0)
			return errf(-BW_E_INVALID, ret_err,
			    "evidence: use evidence export [--since T] [--until T] "
			    "-o FILE.tar");
		o.cmd = CLI_EVIDENCE_EXPORT;
		*ret = o;
		*ret_output = output;
		return 0;
	}
	if (strcmp(argv[optind], "compliance") == 0) {
		const char *sub = optind + 1 < argc ? argv[optind + 1] : "";

		if (argc - optind != 2)
			return errf(-BW_E_INVALID, ret_err,
			    "compliance: use compliance controls|scan|results");
		if (strcmp(sub, "controls") == 0)
			o.cmd = CLI_COMPLIANCE_CONTROLS;
		else if (strcmp(sub, "scan") == 0)
			o.cmd = CLI_COMPLIANCE_SCAN;
		else if (strcmp(sub, "results") == 0)
			o.cmd = CLI_COMPLIANCE_RESULTS;
		else
			return errf(-BW_E_INVALID, ret_err,
			    "compliance: use compliance controls|scan|results");
		*ret = o;
	*ret_output = output;
		return 0;
	}
	if (strcmp(argv[optind], "image") == 0) {
		const char *sub = optind + 1 < argc ? argv[optind + 1] : "";

		if (strcmp(sub, "import") == 0 && argc - optind == 3) {
			o.cmd = CLI_IMAGE_IMPORT;
			o.path = argv[optind + 2];
		} else if (strcmp(sub, "sign") == 0 && argc - optind == 3) {
			if (!o.key)
				return errf(-BW_E_INVALID, ret_err,
				    "image sign: --key KEY.pem is required");
			o.cmd = CLI_IMAGE_SIGN;
			o.path = argv[optind + 2];
		} else if (strcmp(sub, "trust") == 0 && argc - optind == 4 &&
		    strcmp(argv[optind + 2], "add") == 0) {
			o.cmd = CLI_IMAGE_TRUST_ADD;
			o.path = argv[optind + 3];
		} else
			return errf(-BW_E_INVALID, ret_err,
			    "image: use image import FILE, image sign --key KEY FILE "
			    "or image trust add PUBKEY.pem");
		*ret = o;
	*ret_output = output;
		return 0;
	}
	if (strcmp(argv[optind], "explain") == 0) {
		if (argc - optind != 3 || !res_kind_lookup(argv[optind + 1]) ||
		    res_kind_lookup(argv[optind + 1]) != res_kind_by_name("Instance"))
			return errf(-BW_E_INVALID, ret_err,
			    "explain: use explain instance NAME -t TENANT");
		if (!schema_is_dns_label(argv[optind + 2]) || !o.tenant)
			return errf(-BW_E_INVALID, ret_err,
			    "explain: a valid NAME and -t TENANT are required");
		o.kind = argv[optind + 1];
		o.name = argv[optind + 2];
		o.cmd = CLI_EXPLAIN;
		*ret = o;
	*ret_output = output;
		return 0;
	}
	if (strcmp(argv[optind], "audit") == 0 && optind + 1 < argc &&
	    strcmp(argv[optind + 1], "search") == 0) {
		if (argc - optind - 2 > 0)
			return errf(-BW_E_INVALID, ret_err,
			    "audit search: takes options only");
		o.cmd = CLI_AUDIT_SEARCH;
		*ret = o;
	*ret_output = output;
		return 0;
	}
	if (strcmp(argv[optind], "audit") == 0) {
		if (optind + 1 >= argc || strcmp(argv[optind + 1], "verify") != 0)
			return errf(-BW_E_INVALID, ret_err,
			    "audit: the subcommand is verify or search");
		if (argc - optind - 2 > 1)
			return errf(-BW_E_INVALID, ret_err,
			    "audit verify: takes at most one directory");
		o.cmd = CLI_AUDIT_VERIFY;
		o.dir = optind + 2 < argc ? argv[optind + 2] : NULL;
		*ret = o;
	*ret_output = output;
		return 0;
	}
	for (j = 0; j < ELEMENTSOF(commands); j++)
		if (strcmp(commands[j].name, argv[optind]) == 0)
			break;
	if (j == ELEMENTSOF(commands))
		return errf(-BW_E_INVALID, ret_err,
		    "unknown command \"%s\" (try bulwark --help)", argv[optind]);
	for (i = optind + 1; i < argc; i++) {
		if (nargs == (int)ELEMENTSOF(args))
			break;
		args[nargs++] = argv[i];
	}
	if (nargs < commands[j].min_args || nargs > commands[j].max_args ||
	    argc - optind - 1 > commands[j].max_args)
		return errf(-BW_E_INVALID, ret_err,
		    "%s: wrong number of arguments (try bulwark --help)",
		    commands[j].name);
	o.cmd = commands[j].cmd;
	if (nargs >= 1) {
		if (!res_kind_lookup(args[0]))
			return errf(-BW_E_INVALID, ret_err,
			    "%s: unknown kind \"%s\"", commands[j].name, args[0]);
		o.kind = args[0];
	}
	if (nargs >= 2) {
		if (!schema_is_dns_label(args[1]))
			return errf(-BW_E_INVALID, ret_err,
			    "%s: \"%s\" is not a valid name", commands[j].name,
			    args[1]);
		o.name = args[1];
	}
	if (o.cmd == CLI_APPLY && !o.file)
		return errf(-BW_E_INVALID, ret_err, "apply: -f FILE is required");
	if (o.cmd != CLI_APPLY && o.file)
		return errf(-BW_E_INVALID, ret_err, "-f is only for apply");
	if (o.since_text && o.cmd != CLI_WATCH && o.cmd != CLI_EVIDENCE_EXPORT)
		return errf(-BW_E_INVALID, ret_err,
		    "--since is only for watch and audit search");
	if (o.since_text && !o.has_since)
		return errf(-BW_E_INVALID, ret_err,
		    "--since: must be a revision number");
	*ret = o;
	*ret_output = output;
	return 0;
}
