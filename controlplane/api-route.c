#include "config.h"

#include <string.h>

#include "controlplane/api-route.h"
#include "controlplane/schema.h"
#include "lib/err.h"
#include "lib/json.h"

#define API_SEGS_MAX	6

/* Splits PATH on '/' into at most API_SEGS_MAX segments of BUF. Empty
 * segments ("//", trailing "/") are refused: one object, one spelling. */
static int
split_path(const char *path, char *buf, size_t buflen, char **segs,
    size_t *ret_n)
{
	size_t	 n = 0, len = strlen(path);
	char	*p, *s;

	if (len == 0 || path[0] != '/' || len >= buflen)
		return -BW_E_INVALID;
	memcpy(buf, path + 1, len);
	for (s = buf; ; s = p + 1) {
		p = strchr(s, '/');
		if (p)
			*p = '\0';
		if (*s == '\0' || n == API_SEGS_MAX)
			return -BW_E_INVALID;
		segs[n++] = s;
		if (!p)
			break;
	}
	*ret_n = n;
	return 0;
}

static int
copy_name(char *dst, const char *src, const char *what, char **ret_err)
{
	if (!schema_is_dns_label(src))
		return errf(-BW_E_INVALID, ret_err,
		    "path: %s \"%.64s\" is not a valid name (1..63 of "
		    "[a-z0-9-], starting and ending with a letter or digit)",
		    what, src);
	strcpy(dst, src);
	return 0;
}

int
api_route_parse(const char *path, struct api_route *ret, char **ret_err)
{
	char			 buf[512];
	char			*seg[API_SEGS_MAX];
	size_t			 n = 0;
	struct api_route	 rt = { 0 };
	const struct res_kind	*k, *tk;
	int			 r;

	if (split_path(path, buf, sizeof(buf), seg, &n) < 0)
		goto notfound;
	if (n == 1 && strcmp(seg[0], "healthz") == 0) {
		rt.type = ROUTE_HEALTH;
		goto ok;
	}
	if (n == 1 && strcmp(seg[0], "metrics") == 0) {
		rt.type = ROUTE_METRICS;
		goto ok;
	}
	if (strcmp(seg[0], "v1") != 0 || n < 2)
		goto notfound;
	if (n == 2 && strcmp(seg[1], "watch") == 0) {
		rt.type = ROUTE_WATCH;
		goto ok;
	}
	if (n == 2 && strcmp(seg[1], "whoami") == 0) {
		rt.type = ROUTE_WHOAMI;
		goto ok;
	}
	if (n == 2 && strcmp(seg[1], "apply") == 0) {
		rt.type = ROUTE_APPLY;
		goto ok;
	}
	if (n == 3 && strcmp(seg[1], "audit") == 0 &&
	    strcmp(seg[2], "records") == 0) {
		rt.type = ROUTE_AUDIT;
		goto ok;
	}
	/* /v1/tenants/{t}/{plural}[/{name}] for kinds inside a tenant */
	tk = res_kind_by_flag(RES_F_TENANT_DEFINING);
	if (n >= 4 && tk && strcmp(seg[1], tk->plural) == 0) {
		if (!(k = res_kind_by_plural(seg[3])) || k->scope != RES_TENANT)
			goto notfound;
		if ((r = copy_name(rt.tenant, seg[2], "tenant", ret_err)) < 0)
			return r;
		rt.kind = k;
		if (n == 4) {
			rt.type = ROUTE_COLLECTION;
			goto ok;
		}
		if (n == 5 || (n == 6 && strcmp(seg[5], "status") == 0 &&
		    ((k->flags & RES_F_SYSTEM_WRITES) || k->node_field))) {
			if ((r = copy_name(rt.name, seg[4], "name", ret_err)) < 0)
				return r;
			rt.type = n == 5 ? ROUTE_ITEM : ROUTE_STATUS;
			goto ok;
		}
		goto notfound;
	}
	/* /v1/{plural}[/{name}]: cluster kinds, or a tenant kind across
	 * every tenant the caller may see (collection only). */
	if (!(k = res_kind_by_plural(seg[1])))
		goto notfound;
	rt.kind = k;
	if (n == 2) {
		rt.type = ROUTE_COLLECTION;
		goto ok;
	}
	if ((n == 3 || (n == 4 && strcmp(seg[3], "status") == 0 &&
	    (k->flags & RES_F_NODE))) && k->scope == RES_CLUSTER) {
		if ((r = copy_name(rt.name, seg[2], "name", ret_err)) < 0)
			return r;
		rt.type = n == 3 ? ROUTE_ITEM : ROUTE_STATUS;
		goto ok;
	}
notfound:
	return errf(-BW_E_NOTFOUND, ret_err, "path: %.200s names no resource",
	    path);
ok:
	*ret = rt;
	return 0;
}
