/* libFuzzer target for the request-path router, which sees every path
 * a client sends before authentication. Invariants: nothing crashes;
 * a failure is -BW_E_NOTFOUND or -BW_E_INVALID with a message; a
 * success names tenant and object only through DNS labels, and the
 * route spells the path back exactly (one object, one spelling). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "controlplane/api-route.h"
#include "controlplane/schema.h"
#include "lib/err.h"
#include "tests/fuzz/fuzz.h"

/* Writes the one path that names RT into BUF. */
static void
route_path(const struct api_route *rt, char *buf, size_t len)
{
	int n = -1;

	switch (rt->type) {
	case ROUTE_HEALTH:
		n = snprintf(buf, len, "/healthz");
		break;
	case ROUTE_METRICS:
		n = snprintf(buf, len, "/metrics");
		break;
	case ROUTE_WATCH:
		n = snprintf(buf, len, "/v1/watch");
		break;
	case ROUTE_WHOAMI:
		n = snprintf(buf, len, "/v1/whoami");
		break;
	case ROUTE_APPLY:
		n = snprintf(buf, len, "/v1/apply");
		break;
	case ROUTE_AUDIT:
		n = snprintf(buf, len, "/v1/audit/records");
		break;
	case ROUTE_COLLECTION:
		if (rt->tenant[0])
			n = snprintf(buf, len, "/v1/tenants/%s/%s", rt->tenant,
			    rt->kind->plural);
		else
			n = snprintf(buf, len, "/v1/%s", rt->kind->plural);
		break;
	case ROUTE_ITEM:
	case ROUTE_STATUS:
		if (rt->tenant[0])
			n = snprintf(buf, len, "/v1/tenants/%s/%s/%s%s", rt->tenant,
			    rt->kind->plural, rt->name,
			    rt->type == ROUTE_STATUS ? "/status" : "");
		else
			n = snprintf(buf, len, "/v1/%s/%s%s", rt->kind->plural,
			    rt->name, rt->type == ROUTE_STATUS ? "/status" : "");
		break;
	}
	FUZZ_CHECK(n > 0 && (size_t)n < len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_route	 rt;
	char			*path = fuzz_cstr(data, size);
	char			*err = NULL;
	char			 back[512];
	int			 r;

	memset(&rt, 0xa5, sizeof(rt));
	r = api_route_parse(path, &rt, &err);
	if (r < 0) {
		FUZZ_CHECK(r == -BW_E_NOTFOUND || r == -BW_E_INVALID);
		FUZZ_CHECK(err != NULL && err[0] != '\0');
		free(err);
		free(path);
		return 0;
	}
	FUZZ_CHECK(err == NULL);
	FUZZ_CHECK(memchr(rt.tenant, '\0', sizeof(rt.tenant)) != NULL);
	FUZZ_CHECK(memchr(rt.name, '\0', sizeof(rt.name)) != NULL);
	FUZZ_CHECK(rt.tenant[0] == '\0' || schema_is_dns_label(rt.tenant));
	FUZZ_CHECK(rt.name[0] == '\0' || schema_is_dns_label(rt.name));
	switch (rt.type) {
	case ROUTE_COLLECTION:
		FUZZ_CHECK(rt.kind != NULL && rt.name[0] == '\0');
		FUZZ_CHECK(!rt.tenant[0] || rt.kind->scope == RES_TENANT);
		break;
	case ROUTE_STATUS:
		/* Only kinds that controllers and agents write, and kinds
		 * bound to a node (whose node reports their state), have a
		 * status endpoint. */
		FUZZ_CHECK(rt.kind != NULL);
		FUZZ_CHECK((rt.kind->flags & (RES_F_SYSTEM_WRITES |
		    RES_F_NODE)) != 0 || rt.kind->node_field != NULL);
		/* fall through */
	case ROUTE_ITEM:
		FUZZ_CHECK(rt.kind != NULL && rt.name[0] != '\0');
		/* A tenant's object is only reachable under its tenant. */
		FUZZ_CHECK((rt.kind->scope == RES_TENANT) == (rt.tenant[0] != '\0'));
		break;
	case ROUTE_HEALTH:
	case ROUTE_METRICS:
	case ROUTE_WATCH:
	case ROUTE_AUDIT:
	case ROUTE_WHOAMI:
	case ROUTE_APPLY:
		FUZZ_CHECK(rt.kind == NULL && !rt.tenant[0] && !rt.name[0]);
		break;
	default:
		FUZZ_CHECK(!"unknown route type");
	}
	route_path(&rt, back, sizeof(back));
	if (strcmp(back, path) != 0)
		fprintf(stderr, "path \"%s\" routed as \"%s\"\n", path, back);
	FUZZ_CHECK(strcmp(back, path) == 0);
	free(path);
	return 0;
}
