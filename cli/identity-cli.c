#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cli/cli-args.h"
#include "client/client.h"
#include "cli/identity-cli.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"

int
identity_cli_node(const struct client_conf *conf, int approve,
    const char *name, unsigned ttl, const char *out)
{
	struct client_response	 resp = { 0 };
	_cleanup_free_ char	*err = NULL, *body = NULL;
	_cleanup_json_ json_t	*req = NULL;
	int			 r, rc;

	req = ttl ? json_pack("{s:s, s:I}", "node", name, "ttl_seconds",
	    (json_int_t)ttl) : json_pack("{s:s}", "node", name);
	if (!req || !(body = json_dumps(req, JSON_COMPACT)))
		return CLI_EXIT_FAILED;
	if ((r = client_request(conf, "POST", approve ? "/v1/enrol/approve" :
	    "/v1/enrol/bootstrap", body, &resp, &err)) < 0) {
		fprintf(stderr, "bulwark: %s\n", err ? err : bw_strerror(r));
		return CLI_EXIT_UNREACHABLE;
	}
	rc = cli_exit_for_status(resp.status);
	if (rc != CLI_EXIT_OK) {
		_cleanup_json_ json_t *o = json_loadb(resp.body, resp.body_len,
		    0, NULL);

		fprintf(stderr, "bulwark: node %s: %s (%d)\n", approve ?
		    "approve" : "bootstrap", client_error_message(o, "failed"),
		    resp.status);
	} else if (out) {
		if ((r = write_file_atomic_at(AT_FDCWD, out, resp.body,
		    resp.body_len, 0600)) < 0) {
			fprintf(stderr, "bulwark: %s: %s\n", out,
			    bw_strerror(r));
			rc = CLI_EXIT_FAILED;
		} else
			fprintf(stderr, "bootstrap credential for %s written to "
			    "%s (single use; give it to the node's agent with "
			    "--bootstrap)\n", name, out);
	} else
		fwrite(resp.body, 1, resp.body_len, stdout);
	if (resp.body)
		OPENSSL_cleanse(resp.body, resp.body_len);
	client_response_clear(&resp);
	return rc;
}
