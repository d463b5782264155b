/* The console's actions; see actions.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "console/actions.h"
#include "console/fetch.h"
#include "lib/err.h"
#include "lib/json.h"

int
cact_may(const json_t *may, const char *verb, const char *plural)
{
	const json_t	*v;
	size_t		 i;

	if (!plural)
		return 0;
	json_array_foreach(json_object_get(may, verb), i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), plural) == 0)
			return 1;
	return 0;
}

int
cact_path(const json_t *obj, const char *plural, char *buf, size_t len)
{
	const char	*name = json_str_at(obj, "metadata", "name");
	const char	*tenant = json_str_at(obj, "metadata", "tenant");
	int		 n;

	if (!name || !plural)
		return -BW_E_INVALID;
	if (tenant && *tenant)
		n = snprintf(buf, len, "/v1/tenants/%s/%s/%s", tenant, plural,
		    name);
	else
		n = snprintf(buf, len, "/v1/%s/%s", plural, name);
	return n < 0 || (size_t)n >= len ? -BW_E_INVALID : 0;
}

/* Sends METHOD PATH with BODY; a status other than 200..204 is an
 * error with the API's message. */
static int
call(struct client_conn *cc, const char *method, const char *path,
    const char *body, char **ret_err)
{
	struct client_response	 resp = { 0 };
	_cleanup_json_ json_t	*doc = NULL;
	int			 r;

	if ((r = client_conn_request(cc, method, path, body, &resp,
	    ret_err)) < 0)
		return r;
	if (resp.status >= 200 && resp.status <= 204) {
		client_response_clear(&resp);
		return 0;
	}
	doc = json_loadb(resp.body, resp.body_len, 0, NULL);
	r = errf(resp.status == 403 ? -BW_E_DENIED : -BW_E_INVALID, ret_err,
	    "%s %s: %d %s", method, path, resp.status,
	    client_error_message(doc, "no message"));
	client_response_clear(&resp);
	return r;
}

int
cact_scale(struct client_conn *cc, const json_t *obj, long replicas,
    char **ret_err)
{
	_cleanup_json_ json_t	*copy = json_deep_copy(obj);
	_cleanup_free_ char	*body = NULL;
	char			 path[512];

	if (replicas < 0 || replicas > 1000)
		return errf(-BW_E_INVALID, ret_err, "replicas: must be 0..1000");
	if (cact_path(obj, "workloads", path, sizeof(path)) < 0)
		return errf(-BW_E_INVALID, ret_err, "not a workload");
	if (!copy || json_object_set_new(json_object_get(copy, "spec"),
	    "replicas", json_integer(replicas)) < 0)
		return -ENOMEM;
	json_object_del(copy, "status");
	if (!(body = json_dumps(copy, JSON_COMPACT)))
		return -ENOMEM;
	return call(cc, "PUT", path, body, ret_err);
}

int
cact_delete(struct client_conn *cc, const json_t *obj, const char *plural,
    char **ret_err)
{
	char path[512];

	if (cact_path(obj, plural, path, sizeof(path)) < 0)
		return errf(-BW_E_INVALID, ret_err, "no name to delete");
	return call(cc, "DELETE", path, NULL, ret_err);
}

int
cact_whoami(struct client_conn *cc, json_t **ret_me, char *why, size_t whylen,
    char **ret_err)
{
	*ret_me = NULL;
	return cfetch_doc(cc, "/v1/whoami", ret_me, why, whylen, ret_err);
}
