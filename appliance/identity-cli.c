#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "appliance/client.h"
#include "appliance/identity-cli.h"
#include "hardening/crypto-policy.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"

static const char identity_cli_usage[] =
"Usage: bulwark node bootstrap NAME [--ttl SECS] [-o FILE] [--config FILE]\n"
"       bulwark node approve NAME [--config FILE]\n"
"\n"
"bootstrap  issue a single-use, short-lived enrolment credential for node\n"
"           NAME (valid 900 s unless --ttl; JSON to FILE or standard output),\n"
"           to be given to its bulwark-agent with --bootstrap FILE\n"
"approve    accept the PCR values node NAME reported at enrolment as its\n"
"           golden values (the node becomes Trusted; audited)\n"
"Exit status: 0 done, 1 failed, 2 usage, 3 denied, 4 not found, 5 conflict.\n";

static int
exit_for(int status)
{
	if (status / 100 == 2)
		return 0;
	if (status == 401 || status == 403)
		return 3;
	if (status == 404)
		return 4;
	if (status == 409)
		return 5;
	return 1;
}

int
identity_cli_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "ttl", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "config", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct client_conf	 conf = { 0 };
	struct client_response	 resp = { 0 };
	_cleanup_free_ char	*err = NULL, *body = NULL;
	_cleanup_json_ json_t	*req = NULL;
	const char		*path = NULL, *out = NULL, *verb, *name;
	unsigned long		 ttl = 0;
	char			*end;
	int			 c, r, rc = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			ttl = strtoul(optarg, &end, 10);
			if (*end || ttl < 60 || ttl > 86400) {
				fprintf(stderr, "bulwark: --ttl: 60..86400 seconds\n");
				return 2;
			}
			break;
		case 'o': out = optarg; break;
		case 'C': path = optarg; break;
		case 'h':
			fputs(identity_cli_usage, stdout);
			return 0;
		default:
			fputs(identity_cli_usage, stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		fputs(identity_cli_usage, stderr);
		return 2;
	}
	verb = argv[optind];
	name = argv[optind + 1];
	if (strcmp(verb, "bootstrap") == 0)
		req = ttl ? json_pack("{s:s, s:I}", "node", name, "ttl_seconds",
		    (json_int_t)ttl) : json_pack("{s:s}", "node", name);
	else if (strcmp(verb, "approve") == 0 && !out && !ttl)
		req = json_pack("{s:s}", "node", name);
	else {
		fputs(identity_cli_usage, stderr);
		return 2;
	}
	if (!req || !(body = json_dumps(req, JSON_COMPACT)))
		return 1;
	if (!path)
		path = getenv("BULWARK_CONFIG");
	if (!path && access("/var/lib/bulwark/admin.conf", R_OK) == 0)
		path = "/var/lib/bulwark/admin.conf";
	if (!path) {
		fprintf(stderr, "bulwark: no client configuration: pass --config\n");
		return 2;
	}
	if ((r = crypto_policy_init(NULL)) < 0 ||
	    (r = client_conf_load(path, &conf, &err)) < 0 ||
	    (r = client_request(&conf, "POST", strcmp(verb, "bootstrap") == 0 ?
	    "/v1/enrol/bootstrap" : "/v1/enrol/approve", body, &resp,
	    &err)) < 0) {
		fprintf(stderr, "bulwark: %s\n", err ? err : bw_strerror(r));
		goto out;
	}
	rc = exit_for(resp.status);
	if (rc != 0) {
		json_t *o = json_loads(resp.body, 0, NULL);
		const char *m = json_string_value(json_object_get(
		    json_object_get(o, "error"), "message"));

		fprintf(stderr, "bulwark: %s\n", m ? m : resp.body);
		json_decref(o);
	} else if (out) {
		/* The credential holds a private key: owner-only. */
		if ((r = write_file_atomic_at(AT_FDCWD, out, resp.body,
		    resp.body_len, 0600)) < 0) {
			fprintf(stderr, "bulwark: %s: %s\n", out, strerror(-r));
			rc = 1;
		} else
			fprintf(stderr, "bootstrap credential for %s written to "
			    "%s (single use; give it to the node's agent with "
			    "--bootstrap)\n", name, out);
	} else
		fputs(resp.body, stdout);
out:
	if (resp.body)
		OPENSSL_cleanse(resp.body, resp.body_len);
	client_response_clear(&resp);
	client_conf_clear(&conf);
	return rc;
}
