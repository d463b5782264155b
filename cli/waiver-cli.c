#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli-args.h"
#include "cli/waiver-cli.h"
#include "client/client.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/macro.h"

#define WAIVER_FILE_MAX		(64 * 1024)

static int
read_input(const char *file, char **ret_text, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;

	if (strcmp(file, "-") == 0)
		return read_bounded(STDIN_FILENO, WAIVER_FILE_MAX, ret_text,
		    ret_len);
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	return read_bounded(fd, WAIVER_FILE_MAX, ret_text, ret_len);
}

/* One row of `waiver list`. */
static void
print_row(json_t *w)
{
	const char *c = json_str_at(w, "spec", "control");

	printf("%-20s %-8s %-24s %-10s %-21s %-14s %s\n",
	    json_str_at(w, "metadata", "name") ?: "?", c ? "control" : "check",
	    c ? c : json_str_at(w, "spec", "check") ?: "?",
	    json_str_at(w, "status", "state") ?: "?",
	    json_str_at(w, "spec", "expires") ?: "?",
	    json_str_at(w, "status", "requested_by") ?: "-",
	    json_str_at(w, "status", "approved_by") ?: "-");
}

static int
list(const struct cli_opts *o, const struct client_response *resp)
{
	_cleanup_json_ json_t	*doc = json_loadb(resp->body, resp->body_len,
	    0, NULL);
	json_t			*w;
	size_t			 i;

	if (o->output == CLI_OUT_JSON || !doc) {
		fwrite(resp->body, 1, resp->body_len, stdout);
		return CLI_EXIT_OK;
	}
	printf("%-20s %-8s %-24s %-10s %-21s %-14s %s\n", "NAME", "ON", "ID",
	    "STATE", "EXPIRES", "REQUESTED-BY", "APPROVED-BY");
	json_array_foreach(json_object_get(doc, "items"), i, w)
		print_row(w);
	return CLI_EXIT_OK;
}

int
waiver_cli(const struct cli_opts *o, const struct client_conf *conf)
{
	struct client_response	 resp = { 0 };
	_cleanup_free_ char	*err = NULL, *body = NULL;
	char			 path[160];
	const char		*method = "POST", *what = "waiver";
	size_t			 len;
	int			 r, rc, want = 200;

	switch (o->cmd) {
	case CLI_WAIVER_CREATE:
		if ((r = read_input(o->file, &body, &len)) < 0) {
			fprintf(stderr, "bulwark: waiver create: %s: %s\n",
			    o->file, bw_strerror(r));
			return CLI_EXIT_USAGE;
		}
		snprintf(path, sizeof(path), "/v1/compliance/waivers");
		what = "waiver create";
		want = 201;
		break;
	case CLI_WAIVER_APPROVE:
		snprintf(path, sizeof(path), "/v1/compliance/waivers/%s/approval",
		    o->name);
		what = "waiver approve";
		break;
	case CLI_WAIVER_WITHDRAW:
		snprintf(path, sizeof(path), "/v1/compliance/waivers/%s", o->name);
		method = "DELETE";
		what = "waiver withdraw";
		break;
	default:
		snprintf(path, sizeof(path), "/v1/waivers");
		method = "GET";
		what = "waiver list";
		break;
	}
	if ((r = client_request(conf, method, path, body, &resp, &err)) < 0) {
		fprintf(stderr, "bulwark: %s\n", err ? err : bw_strerror(r));
		return CLI_EXIT_UNREACHABLE;
	}
	rc = resp.status == want ? CLI_EXIT_OK : cli_exit_for_status(
	    resp.status ? resp.status : 500);
	if (rc != CLI_EXIT_OK) {
		_cleanup_json_ json_t *e = json_loadb(resp.body, resp.body_len,
		    0, NULL);

		fprintf(stderr, "bulwark: %s: %s (%d)\n", what,
		    client_error_message(e, "failed"), resp.status);
	} else if (o->cmd == CLI_WAIVER_LIST)
		rc = list(o, &resp);
	else
		fwrite(resp.body, 1, resp.body_len, stdout);
	client_response_clear(&resp);
	return rc;
}
