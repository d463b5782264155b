/* libFuzzer target for the path every API body takes: the bounded JSON
 * parser, then validation against the kind table and its schema, then
 * the stored form, its serialisation, and rendering it back with a
 * revision. Invariants: nothing crashes or leaks; every failure carries
 * a message; a validated document has DNS-label names, a store key the
 * store accepts and that parses back to the same object, and its
 * rendered stored form validates again and equals what was stored. */
#include "config.h"

#include <string.h>

#include <jansson.h>

#include "controlplane/resource.h"
#include "controlplane/schema.h"
#include "controlplane/store.h"
#include "lib/err.h"
#include "lib/json.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_UID	"0f4b5d7e-3c1a-4e8b-9a6d-2b7c8e9f0a1b"
#define FUZZ_CREATED	"2024-05-01T12:00:00Z"
#define FUZZ_REV	7

static void
check_failure(int r, char **err)
{
	FUZZ_CHECK(r == -BW_E_INVALID);
	FUZZ_CHECK(*err != NULL && (*err)[0] != '\0');
	free(*err);
	*err = NULL;
}

/* The store key of a validated object must pass the store's own check
 * and split back into the same kind, tenant and name. */
static void
check_key(const struct res_kind *k, const char *tenant, const char *name)
{
	const struct res_kind	*pk = NULL;
	char			 key[RES_KEY_MAX], pt[RES_KEY_MAX], pn[RES_KEY_MAX];

	FUZZ_CHECK(res_key(k, tenant, name, key, sizeof(key)) == 0);
	FUZZ_CHECK(store_key_check(key) == 0);
	FUZZ_CHECK(res_key_parse(key, &pk, pt, sizeof(pt), pn, sizeof(pn)) == 0);
	FUZZ_CHECK(pk == k);
	FUZZ_CHECK(strcmp(pt, tenant) == 0);
	FUZZ_CHECK(strcmp(pn, name) == 0);
}

static void
check_round_trip(json_t *doc, const struct res_kind *k, int with_status)
{
	json_t			*stored = NULL, *rendered = NULL, *reparsed = NULL;
	json_t			*status = NULL;
	const struct res_kind	*k2 = NULL;
	const char		*name = res_name(doc), *tenant = res_tenant(doc);
	char			*text = NULL, *err = NULL;
	int			 r;

	FUZZ_CHECK(name && schema_is_dns_label(name));
	FUZZ_CHECK(tenant && schema_is_dns_label(tenant));
	if (k->scope == RES_CLUSTER)
		FUZZ_CHECK(strcmp(tenant, RES_SYSTEM_TENANT) == 0);
	check_key(k, tenant, name);

	if (with_status) {
		status = json_pack("{s:s}", "phase", "Running");
		FUZZ_CHECK(status != NULL);
	}
	stored = res_stored_form(doc, FUZZ_UID, FUZZ_CREATED, status);
	FUZZ_CHECK(stored != NULL);
	text = json_dumps(stored, JSON_COMPACT | JSON_SORT_KEYS);
	FUZZ_CHECK(text != NULL);

	/* What we write must be readable by the parser that guards reads. */
	r = json_parse_bounded(text, strlen(text), BW_JSON_MAX_DEPTH, &reparsed,
	    &err);
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(json_equal(reparsed, stored));

	rendered = res_render(text, strlen(text), FUZZ_REV);
	FUZZ_CHECK(rendered != NULL);
	FUZZ_CHECK(res_revision(rendered) == FUZZ_REV);
	r = res_validate(rendered, k, NULL, &k2, &err);
	if (r < 0)
		fprintf(stderr, "rendered form failed validation: %s\n", err);
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(k2 == k);
	FUZZ_CHECK(strcmp(res_name(rendered), name) == 0);
	FUZZ_CHECK(strcmp(res_tenant(rendered), tenant) == 0);

	/* Validation of a rendered object changes nothing but what the
	 * revision adds. */
	FUZZ_CHECK(json_object_del(json_object_get(rendered, "metadata"),
	    "revision") == 0);
	FUZZ_CHECK(json_equal(rendered, stored));

	free(text);
	json_decref(status);
	json_decref(stored);
	json_decref(rendered);
	json_decref(reparsed);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* Validates a copy of DOC as the API would and checks the invariants
 * of the outcome. Returns what res_validate returned. */
static int
validate_case(const json_t *doc, const struct res_kind *expect,
    const char *default_tenant, const struct res_kind **ret_kind)
{
	json_t			*copy;
	const struct res_kind	*k = NULL;
	char			*err = NULL;
	int			 r;

	/* res_validate fills defaults in place. */
	copy = json_deep_copy(doc);
	FUZZ_CHECK(copy != NULL);
	r = res_validate(copy, expect, default_tenant, &k, &err);
	if (r < 0) {
		check_failure(r, &err);
	} else {
		FUZZ_CHECK(err == NULL && k != NULL);
		FUZZ_CHECK(!expect || k == expect);
		check_round_trip(copy, k, default_tenant != NULL);
		*ret_kind = k;
	}
	json_decref(copy);
	return r;
}

/* A valid document with one member of metadata or spec, or one section,
 * replaced by null must be refused or pass every invariant. Byte-level
 * mutation seldom builds such a document, and null is where jansson
 * hands back NULL strings. */
static void
check_null_variants(const json_t *doc)
{
	static const char *const sections[] = { "metadata", "spec" };
	const struct res_kind	*k;
	const char		*key;
	json_t			*v, *copy;
	size_t			 i;

	for (i = 0; i < 2; i++) {
		json_object_foreach(json_object_get(doc, sections[i]), key, v) {
			copy = json_deep_copy(doc);
			FUZZ_CHECK(copy != NULL);
			FUZZ_CHECK(json_object_set_new(json_object_get(copy,
			    sections[i]), key, json_null()) == 0);
			validate_case(copy, NULL, "acme", &k);
			json_decref(copy);
		}
	}
	json_object_foreach((json_t *)doc, key, v) {
		copy = json_deep_copy(doc);
		FUZZ_CHECK(copy != NULL);
		FUZZ_CHECK(json_object_set_new(copy, key, json_null()) == 0);
		validate_case(copy, NULL, "acme", &k);
		json_decref(copy);
	}
}

/* The same bytes as a stored value read back from the store (a damaged
 * store must not crash the reader): rendering yields NULL or an object
 * with a metadata object that carries the revision. */
static void
check_render_raw(const uint8_t *data, size_t size)
{
	json_t *doc = res_render(data, size, FUZZ_REV);

	if (!doc)
		return;
	FUZZ_CHECK(json_is_object(doc));
	FUZZ_CHECK(json_is_object(json_object_get(doc, "metadata")));
	FUZZ_CHECK(res_revision(doc) == FUZZ_REV);
	json_decref(doc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t			*doc = NULL;
	const struct res_kind	*kinds, *expect, *ka = NULL, *kb = NULL;
	char			*err = NULL;
	size_t			 nkinds;
	int			 ra, rb, r;

	check_render_raw(data, size);
	r = json_parse_bounded((const char *)data, size, BW_JSON_MAX_DEPTH,
	    &doc, &err);
	if (r < 0) {
		check_failure(r, &err);
		return 0;
	}
	FUZZ_CHECK(doc != NULL && err == NULL);

	/* A: a body on /v1/tenants/acme/...; B: a body on one kind's own
	 * path (picked by the input size) with no default tenant. */
	kinds = res_kinds(&nkinds);
	expect = &kinds[size % nkinds];
	ra = validate_case(doc, NULL, "acme", &ka);
	rb = validate_case(doc, expect, NULL, &kb);
	/* A document that names its kind and passes the stricter call
	 * passes the lenient one too, as the same kind. */
	if (rb == 0 && json_object_get(doc, "kind")) {
		FUZZ_CHECK(ra == 0);
		FUZZ_CHECK(ka == kb);
	}
	if (ra == 0)
		check_null_variants(doc);
	json_decref(doc);
	return 0;
}
