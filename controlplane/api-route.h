/* Maps a request path onto the resource model. Pure parsing with no
 * I/O, so it can run in an unprivileged worker and be fuzzed alone. */
#ifndef BW_API_ROUTE_H
#define BW_API_ROUTE_H

#include "controlplane/resource.h"

#define API_NAME_MAX	64

enum api_route_type {
	ROUTE_HEALTH,		/* /healthz */
	ROUTE_METRICS,		/* /metrics */
	ROUTE_WATCH,		/* /v1/watch */
	ROUTE_COLLECTION,	/* /v1/{plural}, /v1/tenants/{t}/{plural} */
	ROUTE_ITEM,		/* /v1/{plural}/{name}, /v1/tenants/{t}/{plural}/{name} */
	ROUTE_AUDIT,		/* /v1/audit/records */
	ROUTE_WHOAMI,		/* /v1/whoami */
	ROUTE_STATUS,		/* /v1/nodes/{n}/status, /v1/tenants/{t}/instances/{n}/status */
	ROUTE_APPLY,		/* /v1/apply */
};

struct api_route {
	enum api_route_type	 type;
	const struct res_kind	*kind;
	char			 tenant[API_NAME_MAX];	/* "" when the path names none */
	char			 name[API_NAME_MAX];
};

/* Parses PATH (no query string). Returns 0, or -BW_E_NOTFOUND for a
 * path that names nothing, -BW_E_INVALID for a malformed name, with a
 * message in *ret_err. */
int api_route_parse(const char *path, struct api_route *ret, char **ret_err);

#endif
