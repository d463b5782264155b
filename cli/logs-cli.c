#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli-args.h"
#include "cli/logs-cli.h"
#include "client/client.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"

/* How often a follower asks: with the node's push period (200 ms) new
 * lines show within about half a second. */
#define LOGS_POLL_MS		200
/* How long the first answer may wait for the node. */
#define LOGS_FIRST_WAIT_MS	15000

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One GET of PATH; *RET the answer. Returns CLI_EXIT_OK or the exit
 * status after printing why. */
static int
logs_get(struct client_conn *cc, const char *path, json_t **ret)
{
	struct client_response	 resp = { 0 };
	_cleanup_free_ char	*err = NULL;
	json_t			*doc;
	int			 r, rc;

	if ((r = client_conn_request(cc, "GET", path, NULL, &resp, &err)) < 0) {
		fprintf(stderr, "bulwark: %s\n", err ? err : bw_strerror(r));
		return CLI_EXIT_UNREACHABLE;
	}
	doc = json_loadb(resp.body, resp.body_len, 0, NULL);
	if (resp.status != 200 || !doc) {
		rc = cli_exit_for_status(resp.status ? resp.status : 500);
		fprintf(stderr, "bulwark: logs: %s (%d)\n",
		    client_error_message(doc, "failed"), resp.status);
		json_decref(doc);
		client_response_clear(&resp);
		return rc;
	}
	client_response_clear(&resp);
	*ret = doc;
	return CLI_EXIT_OK;
}

/* Prints an answer's lines; *AFTER moves to its end. */
static void
logs_print(const struct cli_opts *o, const json_t *doc, uint64_t *after,
    bool *missing_said)
{
	const json_t	*data = json_object_get(doc, "data");
	uint64_t	 from = (uint64_t)json_integer_value(json_object_get(doc,
	    "from"));
	uint64_t	 end = (uint64_t)json_integer_value(json_object_get(doc,
	    "end"));
	size_t		 len = json_string_length(data);

	if (json_is_true(json_object_get(doc, "missing"))) {
		if (!*missing_said)
			fprintf(stderr, "bulwark: node %s has no log of %s "
			    "(yet)\n", json_string_value(json_object_get(doc,
			    "node")) ?: "?", o->name);
		*missing_said = true;
		return;
	}
	*missing_said = false;
	if (*after != UINT64_MAX && from > *after)
		fprintf(stderr, "bulwark: %llu bytes of output went by "
		    "unread\n", (unsigned long long)(from - *after));
	*after = end;
	if (len == 0)
		return;
	if (o->output == CLI_OUT_JSON) {
		json_t *line = json_pack("{s:I, s:I, s:O, s:O}", "offset",
		    (json_int_t)from, "end", (json_int_t)end, "dropped",
		    json_object_get(doc, "dropped"), "data", data);

		if (line)
			json_dumpf(line, stdout, JSON_COMPACT);
		json_decref(line);
		putchar('\n');
	} else
		fwrite(json_string_value(data), 1, len, stdout);
	fflush(stdout);
}

int
logs_cli(const struct cli_opts *o, const struct client_conf *conf)
{
	struct client_conn_opts	 co = { .reconnect = 1, .timeout_s = 30 };
	struct client_conn	*cc = NULL;
	_cleanup_free_ char	*err = NULL;
	char			 base[256], path[320];
	uint64_t		 after = UINT64_MAX;
	bool			 missing_said = false;
	int			 rc = CLI_EXIT_OK, waited = 0, r;

	snprintf(base, sizeof(base), "/v1/logs/tenants/%s/instances/%s",
	    o->tenant, o->name);
	if ((r = client_conn_open_opts(conf, &co, &cc, &err)) < 0) {
		fprintf(stderr, "bulwark: %s\n", err ? err : bw_strerror(r));
		return CLI_EXIT_UNREACHABLE;
	}
	snprintf(path, sizeof(path), "%s?tail=%u", base, o->tail_lines);
	for (;;) {
		json_t	*doc = NULL;
		bool	 pending;

		if ((rc = logs_get(cc, path, &doc)) != CLI_EXIT_OK)
			break;
		pending = json_is_true(json_object_get(doc, "pending"));
		if (pending && (waited += LOGS_POLL_MS) > LOGS_FIRST_WAIT_MS) {
			fprintf(stderr, "bulwark: node %s did not send the log "
			    "within %d s\n", json_string_value(json_object_get(
			    doc, "node")) ?: "?", LOGS_FIRST_WAIT_MS / 1000);
			json_decref(doc);
			rc = CLI_EXIT_UNREACHABLE;
			break;
		}
		if (!pending) {
			logs_print(o, doc, &after, &missing_said);
			snprintf(path, sizeof(path), "%s?after=%llu", base,
			    (unsigned long long)(after == UINT64_MAX ? 0 :
			    after));
		}
		json_decref(doc);
		if (!pending && !o->follow)
			break;
		sleep_ms(LOGS_POLL_MS);
	}
	client_conn_close(cc);
	return rc;
}
