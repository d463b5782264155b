#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "controlplane/api-route.h"
#include "controlplane/authz.h"
#include "lib/err.h"
#include "lib/macro.h"

static void
test_routes(void **state)
{
	static const struct {
		const char		*path;
		int			 r;
		enum api_route_type	 type;
		const char		*kind, *tenant, *name;
	} cases[] = {
		{ "/healthz", 0, ROUTE_HEALTH, NULL, "", "" },
		{ "/metrics", 0, ROUTE_METRICS, NULL, "", "" },
		{ "/v1/watch", 0, ROUTE_WATCH, NULL, "", "" },
		{ "/v1/nodes", 0, ROUTE_COLLECTION, "Node", "", "" },
		{ "/v1/nodes/n1", 0, ROUTE_ITEM, "Node", "", "n1" },
		{ "/v1/tenants", 0, ROUTE_COLLECTION, "Tenant", "", "" },
		{ "/v1/tenants/acme", 0, ROUTE_ITEM, "Tenant", "", "acme" },
		{ "/v1/workloads", 0, ROUTE_COLLECTION, "Workload", "", "" },
		{ "/v1/tenants/acme/workloads", 0, ROUTE_COLLECTION, "Workload", "acme", "" },
		{ "/v1/tenants/acme/workloads/web", 0, ROUTE_ITEM, "Workload", "acme", "web" },
		{ "/v1/audit/records", 0, ROUTE_AUDIT, NULL, "", "" },
		{ "/v1/nodes/n1/status", 0, ROUTE_STATUS, "Node", "", "n1" },
		{ "/v1/tenants/acme/instances/web-0/status", 0, ROUTE_STATUS, "Instance", "acme", "web-0" },
		{ "/v1/tenants/acme/workloads/web/status", -BW_E_NOTFOUND, 0, NULL, NULL, NULL },
		{ "/v1/tenants/status", 0, ROUTE_ITEM, "Tenant", "", "status" },
		{ "/v1/tenants/acme/status", -BW_E_NOTFOUND, 0, NULL, NULL, NULL },
		{ "/v1/images/x/status", -BW_E_NOTFOUND, 0, NULL, NULL, NULL },
		{ "/v1/workloads/web", -BW_E_NOTFOUND, 0, NULL, NULL, NULL },
		{ "/v1/tenants/acme/nodes", -BW_E_NOTFOUND, 0, NULL, NULL, NULL },
		{ "/v1/tenants/ACME/workloads", -BW_E_INVALID, 0, NULL, NULL, NULL },
		{ "/v1/tenants/acme/workloads/web/x", -BW_E_NOTFOUND, 0, NULL, NULL, NULL },
		{ "/v1/gadgets", -BW_E_NOTFOUND, 0, NULL, NULL, NULL },
		{ "/v1//nodes", -BW_E_NOTFOUND, 0, NULL, NULL, NULL },
		{ "/v1/nodes/", -BW_E_NOTFOUND, 0, NULL, NULL, NULL },
		{ "/v2/nodes", -BW_E_NOTFOUND, 0, NULL, NULL, NULL },
		{ "", -BW_E_NOTFOUND, 0, NULL, NULL, NULL },
		{ "/v1/nodes/..", -BW_E_INVALID, 0, NULL, NULL, NULL },
	};
	size_t i;

	for (i = 0; i < ELEMENTSOF(cases); i++) {
		struct api_route	 rt;
		char			*err = NULL;
		int			 r = api_route_parse(cases[i].path, &rt, &err);

		if (r != cases[i].r)
			fail_msg("%s: got %d want %d", cases[i].path, r, cases[i].r);
		if (r == 0) {
			assert_int_equal(rt.type, cases[i].type);
			if (cases[i].kind)
				assert_string_equal(rt.kind->kind, cases[i].kind);
			assert_string_equal(rt.tenant, cases[i].tenant);
			assert_string_equal(rt.name, cases[i].name);
		} else
			assert_non_null(err);
		free(err);
	}
}

static struct authz_identity
ident(enum authz_role role, const char *name, const char *tenant)
{
	struct authz_identity id = { .role = role };

	strcpy(id.principal, "p");
	strcpy(id.role_name, name);
	strcpy(id.tenant, tenant);
	return id;
}

static void
test_authz_matrix(void **state)
{
	const struct res_kind *wl = res_kind_by_name("Workload");
	const struct res_kind *node = res_kind_by_name("Node");
	const struct res_kind *quota = res_kind_by_name("Quota");
	const struct res_kind *inst = res_kind_by_name("Instance");
	struct authz_identity admin = ident(ROLE_SYSTEM_ADMIN, "system-admin", "system");
	struct authz_identity aud = ident(ROLE_SECURITY_AUDITOR, "security-auditor", "system");
	struct authz_identity ta = ident(ROLE_TENANT_ADMIN, "tenant-admin", "acme");
	struct authz_identity tu = ident(ROLE_TENANT_USER, "tenant-user", "acme");

	/* separation of duties */
	assert_int_equal(authz_check(&admin, VERB_AUDIT_READ, NULL, NULL, NULL), -BW_E_DENIED);
	assert_int_equal(authz_check(&aud, VERB_AUDIT_READ, NULL, NULL, NULL), 0);
	assert_int_equal(authz_check(&aud, VERB_WRITE, wl, "acme", NULL), -BW_E_DENIED);
	assert_int_equal(authz_check(&aud, VERB_READ, wl, "acme", NULL), 0);
	assert_int_equal(authz_check(&admin, VERB_WRITE, node, NULL, NULL), 0);
	/* tenancy: other tenants' objects do not exist */
	assert_int_equal(authz_check(&ta, VERB_READ, wl, "other", NULL), -BW_E_NOTFOUND);
	assert_int_equal(authz_check(&ta, VERB_WRITE, wl, "other", NULL), -BW_E_NOTFOUND);
	assert_int_equal(authz_check(&ta, VERB_WRITE, wl, "acme", NULL), 0);
	assert_int_equal(authz_check(&ta, VERB_WRITE, quota, "acme", NULL), -BW_E_DENIED);
	assert_int_equal(authz_check(&tu, VERB_WRITE, wl, "acme", NULL), 0);
	assert_int_equal(authz_check(&tu, VERB_WRITE, res_kind_by_name("Network"),
	    "acme", NULL), -BW_E_DENIED);
	assert_int_equal(authz_check(&tu, VERB_READ, node, NULL, NULL), -BW_E_DENIED);
	assert_int_equal(authz_check(&tu, VERB_AUDIT_READ, NULL, NULL, NULL), -BW_E_DENIED);
	assert_int_equal(authz_check(&admin, VERB_WRITE, inst, "acme", NULL), -BW_E_DENIED);
	assert_true(authz_tenant_visible(&ta, "acme"));
	assert_false(authz_tenant_visible(&ta, "other"));
	assert_true(authz_tenant_visible(&aud, "other"));
	assert_int_equal(authz_role_parse("tenant-user"), ROLE_TENANT_USER);
	assert_int_equal(authz_role_parse("root"), ROLE_NONE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_authz_matrix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
