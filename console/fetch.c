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
#include "lib/macro.h"

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

/* GETs one page of at most LIMIT objects of PATH from TOKEN (NULL: the
 * start) into *RET_DOC: 0 with the page, 0 with *RET_DOC NULL and WHY
 * set when refused, or a negative error. */
static int
get_page(struct client_conn *cc, const char *path, const char *fields,
    size_t limit, const char *token, json_t **ret_doc, char *why,
    size_t whylen, char **ret_err)
{
	_cleanup_free_ char	*enc = token ? evhttp_encode_uri(token) : NULL;
	struct client_response	 resp = { 0 };
	char			 url[2048];
	int			 r;

	snprintf(url, sizeof(url), "%s?limit=%zu%s%s%s%s", path, limit,
	    fields ? "&fields=" : "", fields ? fields : "",
	    enc ? "&continue=" : "", enc ? enc : "");
	if ((r = client_conn_request(cc, "GET", url, NULL, &resp, ret_err)) < 0)
		return r;
	if (resp.status != 200)
		status_text(&resp, why, whylen);
	else if (!(*ret_doc = json_loadb(resp.body, resp.body_len, 0, NULL)) ||
	    !json_is_array(json_object_get(*ret_doc, "items"))) {
		json_decref(TAKE_PTR(*ret_doc));
		snprintf(why, whylen, "the server's list is not JSON");
	}
	client_response_clear(&resp);
	return 0;
}

/* The continue token of page DOC (allocated in *RET; NULL: the last
 * page). Returns 0 or -ENOMEM. */
static int
next_token(const json_t *doc, char **ret)
{
	const char *next = json_str_at(doc, "metadata", "continue");

	*ret = next ? strdup(next) : NULL;
	return next && !*ret ? -ENOMEM : 0;
}

int
cfetch_list(struct client_conn *cc, const char *path, const char *fields,
    const char *from, json_t **ret, char *why, size_t whylen, char **ret_err)
{
	_cleanup_json_ json_t	*all = json_pack("{s:[]}", "items");
	_cleanup_free_ char	*token = from ? strdup(from) : NULL;
	int			 page, r;

	if (from && !token)
		return -ENOMEM;
	for (page = 0; all && page < CFETCH_PAGES_MAX; page++) {
		_cleanup_json_ json_t *doc = NULL;

		if ((r = get_page(cc, path, fields, CFETCH_PAGE, token, &doc,
		    why, whylen, ret_err)) < 0 || !doc)
			return r;
		if (json_array_extend(json_object_get(all, "items"),
		    json_object_get(doc, "items")) < 0)
			return -ENOMEM;
		free(TAKE_PTR(token));
		if ((r = next_token(doc, &token)) < 0)
			return r;
		if (!token) {
			*ret = TAKE_PTR(all);
			return 0;
		}
	}
	snprintf(why, whylen, all ? "more than %d pages" : "out of memory",
	    CFETCH_PAGES_MAX);
	return 0;
}

int
cfetch_first(struct client_conn *cc, const char *path, const char *fields,
    size_t limit, json_t **ret, char **ret_next, char *why, size_t whylen,
    char **ret_err)
{
	_cleanup_json_ json_t	*doc = NULL;
	int			 r;

	if ((r = get_page(cc, path, fields, limit, NULL, &doc, why, whylen,
	    ret_err)) < 0 || !doc)
		return r;
	if ((r = next_token(doc, ret_next)) < 0)
		return r;
	*ret = TAKE_PTR(doc);
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
