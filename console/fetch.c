/* The console's reads through the API; see fetch.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "client/client.h"
#include "console/fetch.h"
#include "lib/err.h"
#include "lib/json.h"

/* What a panel says when the API refused or failed: the principal's
 * role not allowing the read is a normal state, not an error. */
static void
status_text(const struct client_response *resp, char *buf, size_t len)
{
	_cleanup_json_ json_t *doc = json_loadb(resp->body, resp->body_len, 0, NULL);

	if (resp->status == 403)
		snprintf(buf, len, "not permitted for this principal");
	else if (resp->status == 404)
		snprintf(buf, len, "%s", client_error_message(doc, "none yet"));
	else
		snprintf(buf, len, "read failed (%d): %s", resp->status,
		    client_error_message(doc, "no message"));
}

int
cfetch_list(struct client_conn *cc, const char *path, const char *fields,
    json_t **ret, char *why, size_t whylen, char **ret_err)
{
	_cleanup_json_ json_t	*all = json_pack("{s:[]}", "items");
	_cleanup_free_ char	*token = NULL;
	struct client_response	 resp = { 0 };
	char			 url[2048];
	int			 page, r;

	for (page = 0; all && page < CFETCH_PAGES_MAX; page++) {
		_cleanup_json_ json_t	*doc = NULL;
		_cleanup_free_ char	*enc = token ? evhttp_encode_uri(token) : NULL;
		const char		*next;

		snprintf(url, sizeof(url), "%s?limit=" CFETCH_PAGE "%s%s%s%s",
		    path, fields ? "&fields=" : "", fields ? fields : "",
		    enc ? "&continue=" : "", enc ? enc : "");
		if ((r = client_conn_request(cc, "GET", url, NULL, &resp,
		    ret_err)) < 0)
			return r;
		if (resp.status != 200) {
			status_text(&resp, why, whylen);
			client_response_clear(&resp);
			return 0;
		}
		doc = json_loadb(resp.body, resp.body_len, 0, NULL);
		client_response_clear(&resp);
		if (json_array_extend(json_object_get(all, "items"),
		    json_object_get(doc, "items")) < 0) {
			snprintf(why, whylen, "the server's list is not JSON");
			return 0;
		}
		next = json_str_at(doc, "metadata", "continue");
		free(TAKE_PTR(token));
		if (!next) {
			*ret = TAKE_PTR(all);
			return 0;
		}
		if (!(token = strdup(next)))
			return -ENOMEM;
	}
	snprintf(why, whylen, all ? "more than %d pages" : "out of memory",
	    CFETCH_PAGES_MAX);
	return 0;
}

int
cfetch_doc(struct client_conn *cc, const char *path, json_t **ret, char *why,
    size_t whylen, char **ret_err)
{
	struct client_response	resp = { 0 };
	int			r;

	if ((r = client_conn_request(cc, "GET", path, NULL, &resp, ret_err)) < 0)
		return r;
	if (resp.status == 200 &&
	    !(*ret = json_loadb(resp.body, resp.body_len, 0, NULL)))
		snprintf(why, whylen, "the server's answer is not JSON");
	else if (resp.status != 200)
		status_text(&resp, why, whylen);
	client_response_clear(&resp);
	return 0;
}
