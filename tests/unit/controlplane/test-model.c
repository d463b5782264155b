/* The controllers' model (controlplane/model.c): after any series of
 * store changes, a model fed the changed keys (in any grouping, keys
 * repeated, keys of other kinds mixed in, some writes also handed over
 * by their writer with model_set()) equals one rebuilt from the
 * store. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "controlplane/model.h"
#include "controlplane/resource.h"
#include "controlplane/store-lmdb.h"
#include "controlplane/store.h"
#include "lib/err.h"
#include "tests/unit/hardening/tmpdir.h"

static const char *const kinds[] = { "Node", "Workload", "Instance" };

struct fixture {
	char		*dir;
	struct store	*st;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || !(f->dir = tmpdir_make()) ||
	    store_open_lmdb(f->dir, NULL, &f->st, NULL) < 0) {
		if (f)
			tmpdir_remove(f->dir);
		free(f);
		return 1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/* Every object of A is in B with the same revision and document, and
 * each kind has as many in both. */
static void
assert_same(const struct model *a, const struct model *b)
{
	for (int k = 0; k < (int)ELEMENTSOF(kinds); k++) {
		assert_int_equal(model_count(a, k), model_count(b, k));
		for (size_t i = 0; i < model_count(a, k); i++) {
			const struct model_obj *o = model_at(a, k, i);
			const struct model_obj *p = model_get(b, o->key);

			assert_non_null(p);
			assert_int_equal(o->idx, i);
			assert_int_equal(o->rev, p->rev);
			assert_true(json_equal(o->doc, p->doc));
			assert_ptr_equal(model_find(a, k, o->tenant, o->name), o);
		}
	}
}

/* The stored value of object I of KIND (one in 13 unusable: no tenant). */
static char *
value_of(const char *kind, unsigned i, unsigned gen)
{
	char *v = NULL;

	if (gen % 13 == 12)
		return strdup("{\"kind\":\"x\",\"metadata\":{\"name\":\"bad\"}}");
	if (asprintf(&v, "{\"kind\":\"%s\",\"metadata\":{\"name\":\"o%u\","
	    "\"tenant\":\"t%u\"},\"spec\":{\"gen\":%u}}", kind, i, i % 3,
	    gen) < 0)
		return NULL;
	return v;
}

static void
test_random_changes_match_rebuild(void **state)
{
	struct fixture		*f = *state;
	struct model		*fed = NULL, *fresh = NULL;
	char			*keys[64];
	size_t			 nkeys = 0, i;
	unsigned		 seed = 18, step;

	assert_int_equal(model_new(kinds, ELEMENTSOF(kinds), &fed), 0);
	assert_int_equal(model_new(kinds, ELEMENTSOF(kinds), &fresh), 0);
	assert_int_equal(model_rebuild(fed, f->st), 0);
	for (step = 0; step < 3000; step++) {
		static const char *const all[] = { "Node", "Workload",
		    "Instance", "Tenant" };
		const char		*kind = all[rand_r(&seed) % 4];
		const struct res_kind	*rk = res_kind_by_name(kind);
		unsigned		 obj = (unsigned)rand_r(&seed) % 40;
		char			 key[RES_KEY_MAX], tenant[8], name[8];
		struct model_change	 ch;
		int			 r;

		snprintf(tenant, sizeof(tenant), "t%u", obj % 3);
		snprintf(name, sizeof(name), "o%u", obj);
		assert_int_equal(res_key(rk, tenant, name, key, sizeof(key)), 0);
		if (rand_r(&seed) % 4 == 0) {
			r = store_delete(f->st, key, STORE_REV_ANY, NULL);
			assert_true(r == 0 || r == -BW_E_NOTFOUND);
		} else {
			char		*v = value_of(kind, obj, step);
			uint64_t	 rev = 0;

			assert_non_null(v);
			assert_int_equal(store_put(f->st, key, v, strlen(v),
			    STORE_REV_ANY, &rev), 0);
			/* the writer hands some over (the controller's own) */
			if (rand_r(&seed) % 2) {
				r = model_set(fed, key, json_loads(v, 0, NULL),
				    rev, &ch);
				assert_true(r == 0 || r == -ENOENT);
				if (r == 0)
					json_decref(ch.old);
			}
			free(v);
		}
		assert_non_null(keys[nkeys++] = strdup(key));
		if (rand_r(&seed) % 3 == 0)	/* a key written twice */
			assert_non_null(keys[nkeys++] = strdup(key));
		/* Batches of 1..60 keys, fed once each batch "committed". */
		if (nkeys < 60 && rand_r(&seed) % 8)
			continue;
		for (i = 0; i < nkeys; i++) {
			r = model_apply(fed, f->st, keys[i], &ch);
			assert_true(r == 0 || r == -ENOENT);
			if (r == 0) {
				assert_true(ch.cur == NULL || ch.cur ==
				    model_get(fed, keys[i]));
				json_decref(ch.old);
			}
			free(keys[i]);
		}
		nkeys = 0;
		if (step % 97 == 0) {
			assert_int_equal(model_rebuild(fresh, f->st), 0);
			assert_same(fed, fresh);
			assert_same(fresh, fed);
		}
	}
	for (i = 0; i < nkeys; i++) {
		struct model_change ch;

		if (model_apply(fed, f->st, keys[i], &ch) == 0)
			json_decref(ch.old);
		free(keys[i]);
	}
	assert_int_equal(model_rebuild(fresh, f->st), 0);
	assert_same(fed, fresh);
	assert_same(fresh, fed);
	assert_true(model_count(fed, 0) > 0 && model_count(fed, 2) > 0);
	model_free(fed);
	model_free(fresh);
}

/* A key of another kind is not the model's; a key applied again at the
 * same revision changes nothing. */
static void
test_apply_reports(void **state)
{
	struct fixture		*f = *state;
	struct model		*m = NULL;
	struct model_change	 ch;
	const char		*v = "{\"kind\":\"Node\",\"metadata\":{\"name\":"
	    "\"n1\",\"tenant\":\"system\"}}";

	assert_int_equal(model_new(kinds, ELEMENTSOF(kinds), &m), 0);
	assert_int_equal(model_apply(m, f->st, "/r/tenants/a", &ch), -ENOENT);
	assert_int_equal(store_put(f->st, "/r/nodes/n1", v, strlen(v),
	    STORE_REV_ANY, NULL), 0);
	assert_int_equal(model_apply(m, f->st, "/r/nodes/n1", &ch), 0);
	assert_true(ch.changed && !ch.old && ch.cur && ch.kind == 0);
	assert_string_equal(ch.cur->name, "n1");
	assert_int_equal(model_apply(m, f->st, "/r/nodes/n1", &ch), 0);
	assert_false(ch.changed);
	assert_int_equal(store_delete(f->st, "/r/nodes/n1", STORE_REV_ANY,
	    NULL), 0);
	assert_int_equal(model_apply(m, f->st, "/r/nodes/n1", &ch), 0);
	assert_true(ch.changed && ch.old && !ch.cur);
	json_decref(ch.old);
	assert_int_equal(model_count(m, 0), 0);
	assert_null(model_find(m, 0, NULL, "n1"));
	model_free(m);
}

/* A write handed over with model_set() is there as model_apply() would
 * read it, which then finds nothing new; an older revision is ignored;
 * another kind or an object without a tenant is not the model's. */
static void
test_set_reports(void **state)
{
	struct fixture		*f = *state;
	struct model		*m = NULL, *fresh = NULL;
	struct model_change	 ch;
	const char		*v = "{\"kind\":\"Node\",\"metadata\":{\"name\":"
	    "\"n1\",\"tenant\":\"system\"},\"spec\":{\"zone\":\"a\"}}";
	uint64_t		 rev = 0, rev2 = 0;

	assert_int_equal(model_new(kinds, ELEMENTSOF(kinds), &m), 0);
	assert_int_equal(model_new(kinds, ELEMENTSOF(kinds), &fresh), 0);
	assert_int_equal(model_set(m, "/r/tenants/a", json_loads(v, 0, NULL),
	    7, &ch), -ENOENT);
	assert_int_equal(model_set(m, "/r/nodes/n1", json_loads("{\"kind\":"
	    "\"Node\",\"metadata\":{\"name\":\"n1\"}}", 0, NULL), 7, &ch),
	    -ENOENT);
	assert_int_equal(store_put(f->st, "/r/nodes/n1", v, strlen(v),
	    STORE_REV_ANY, &rev), 0);
	assert_int_equal(model_set(m, "/r/nodes/n1", json_loads(v, 0, NULL),
	    rev, &ch), 0);
	assert_true(ch.changed && !ch.old && ch.cur && ch.kind == 0);
	assert_int_equal(ch.cur->rev, rev);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    ch.cur->doc, "metadata"), "revision")), (json_int_t)rev);
	assert_int_equal(model_apply(m, f->st, "/r/nodes/n1", &ch), 0);
	assert_false(ch.changed);
	assert_int_equal(model_rebuild(fresh, f->st), 0);
	assert_same(m, fresh);
	/* an older write handed over late changes nothing */
	assert_int_equal(store_put(f->st, "/r/nodes/n1", v, strlen(v),
	    STORE_REV_ANY, &rev2), 0);
	assert_int_equal(model_apply(m, f->st, "/r/nodes/n1", &ch), 0);
	assert_true(ch.changed);
	json_decref(ch.old);
	assert_int_equal(model_set(m, "/r/nodes/n1", json_loads(v, 0, NULL),
	    rev, &ch), 0);
	assert_false(ch.changed);
	assert_int_equal(model_get(m, "/r/nodes/n1")->rev, rev2);
	model_free(m);
	model_free(fresh);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_apply_reports, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_set_reports, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_random_changes_match_rebuild,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
