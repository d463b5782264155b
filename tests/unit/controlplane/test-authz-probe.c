/* The tenant-isolation probe on a real store: with the real decisions
 * nothing leaks and each tenant sees its own objects; with a broken
 * decision the probe names the leak; an empty store still probes two
 * made-up tenants. */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "controlplane/authz-probe.h"
#include "controlplane/resource.h"
#include "lib/err.h"

struct fx {
	char		 dir[PATH_MAX];
	struct store	*st;
};

static int
setup(void **state)
{
	struct fx	*f = calloc(1, sizeof(*f));
	const char	*tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/bw-authz-probe-XXXXXX",
	    tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(f->dir) || store_open_lmdb(f->dir, NULL, &f->st, NULL) < 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx	*f = *state;
	DIR		*d;
	struct dirent	*e;

	store_close(f->st);
	/* the store's directory holds files only */
	if ((d = opendir(f->dir))) {
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
put(struct fx *f, const char *kind, const char *tenant, const char *name)
{
	const struct res_kind	*k = res_kind_by_name(kind);
	char			 key[RES_KEY_MAX], doc[256];

	assert_non_null(k);
	assert_int_equal(res_key(k, tenant, name, key, sizeof(key)), 0);
	snprintf(doc, sizeof(doc), "{\"kind\": \"%s\", \"metadata\": "
	    "{\"name\": \"%s\", \"tenant\": \"%s\"}, \"spec\": {}}", kind,
	    name, tenant);
	assert_int_equal(store_put(f->st, key, doc, strlen(doc),
	    STORE_REV_ANY, NULL), 0);
}

static void
two_tenants(struct fx *f)
{
	put(f, "Tenant", "system", "acme");
	put(f, "Tenant", "system", "globex");
	put(f, "Workload", "acme", "web");
	put(f, "Workload", "acme", "db");
	put(f, "Workload", "globex", "web");
}

static void
test_isolated(void **state)
{
	struct fx *f = *state;
	struct authz_probe_report rep;

	two_tenants(f);
	assert_int_equal(authz_probe_tenancy(f->st, NULL, &rep), 0);
	assert_int_equal(rep.tenants, 2);
	assert_true(rep.kinds >= 3);
	assert_int_equal(rep.objects, 3);
	/* each workload: its tenant's admin and user see it */
	assert_int_equal(rep.own, 6);
	assert_int_equal(rep.own_hidden, 0);
	assert_true(rep.foreign >= 3 * 2 * 3);
	assert_int_equal(rep.leaks, 0);
}

static int
visible_all(const struct authz_identity *id, const char *tenant)
{
	(void)id;
	(void)tenant;
	return 1;
}

static int
check_open_reads(const struct authz_identity *id, enum authz_verb verb,
    const struct res_kind *kind, const char *tenant, char **ret_err)
{
	if (verb == VERB_READ)
		return 0;
	return authz_check(id, verb, kind, tenant, ret_err);
}

/* A list filter that lets every object through: the probe sees it. */
static void
test_leaky_list(void **state)
{
	struct fx *f = *state;
	struct authz_probe_decide d = { authz_check, visible_all };
	struct authz_probe_report rep;

	two_tenants(f);
	assert_int_equal(authz_probe_tenancy(f->st, &d, &rep), 0);
	/* each of the 3 workloads listed by the 2 principals of the other
	 * tenant */
	assert_int_equal(rep.leaks, 6);
	assert_non_null(strstr(rep.first_leak, "may list Workload"));
}

/* Reads of other tenants allowed: even with no object stored, the
 * other tenant's collections show it. */
static void
test_leaky_reads_empty_store(void **state)
{
	struct fx *f = *state;
	struct authz_probe_decide d = { check_open_reads, authz_tenant_visible };
	struct authz_probe_report rep;

	assert_int_equal(authz_probe_tenancy(f->st, NULL, &rep), 0);
	assert_int_equal(rep.tenants, 2);
	assert_int_equal(rep.objects, 0);
	assert_int_equal(rep.leaks, 0);
	assert_true(rep.foreign > 0);
	assert_int_equal(authz_probe_tenancy(f->st, &d, &rep), 0);
	assert_true(rep.leaks > 0);
	assert_non_null(strstr(rep.first_leak, "isolation-probe-"));
}

/* More tenants than the probe takes, and one whose name no identity
 * can hold: the report counts them unprobed and isolation is not
 * claimed, even though every decision it took was refused. */
static void
test_unprobed_tenants(void **state)
{
	struct fx *f = *state;
	struct authz_probe_report rep;
	char name[96];

	two_tenants(f);
	assert_int_equal(authz_probe_tenancy(f->st, NULL, &rep), 0);
	assert_int_equal(rep.tenants_found, 2);
	assert_int_equal(rep.tenants_unprobed, 0);
	assert_int_equal(authz_probe_isolated(&rep), 1);
	memset(name, 'l', 70);
	name[70] = '\0';
	put(f, "Workload", name, "web");
	assert_int_equal(authz_probe_tenancy(f->st, NULL, &rep), 0);
	assert_int_equal(rep.leaks, 0);
	assert_int_equal(rep.tenants, 2);
	assert_int_equal(rep.tenants_found, 3);
	assert_int_equal(rep.tenants_unprobed, 1);
	assert_int_equal(authz_probe_isolated(&rep), 0);
	for (int i = 0; i < AUTHZ_PROBE_TENANTS + 5; i++) {
		snprintf(name, sizeof(name), "t%02d", i);
		put(f, "Tenant", "system", name);
	}
	assert_int_equal(authz_probe_tenancy(f->st, NULL, &rep), 0);
	assert_int_equal(rep.leaks, 0);
	assert_int_equal(rep.tenants, AUTHZ_PROBE_TENANTS);
	assert_int_equal(rep.tenants_found, AUTHZ_PROBE_TENANTS + 8);
	assert_int_equal(rep.tenants_unprobed, 8);
	assert_int_equal(authz_probe_isolated(&rep), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_isolated),
		T(test_leaky_list),
		T(test_leaky_reads_empty_store),
		T(test_unprobed_tenants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
