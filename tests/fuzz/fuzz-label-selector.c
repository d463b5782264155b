/* libFuzzer target for label selectors (`get -l`, `?selector=`), matched
 * against a fixed object. The input is "A\nB": selectors A and B are
 * matched alone and joined as "A,B". Invariants: nothing crashes; the
 * result is 1, 0 or -BW_E_INVALID; terms are a conjunction evaluated in
 * order, so match(A,B) is match(B) when A matches and match(A)
 * otherwise; and for one term "k=v" the term "k!=v" gives the opposite
 * answer. A is also read as a list's `?fields=` projection
 * (res_fields_parse): 0 or -BW_E_INVALID; when it parses, projecting
 * the object leaves the object as it was, and projecting the
 * projection again gives the projection (it holds only those paths). */
#include "config.h"

#include <string.h>

#include <jansson.h>

#include "controlplane/resource.h"
#include "lib/err.h"
#include "tests/fuzz/fuzz.h"

static const char doc_text[] =
    "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"web\",\"tenant\":\"acme\","
    "\"labels\":{\"app\":\"web\",\"tier\":\"frontend\",\"version\":\"1.2.3\","
    "\"example.com/team\":\"core\",\"empty\":\"\",\"A_b-c.d\":\"X_y-z.0\"}},"
    "\"spec\":{}}";

static json_t *doc, *pristine;	/* pristine: a copy, never projected */

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	doc = json_loads(doc_text, 0, NULL);
	pristine = json_loads(doc_text, 0, NULL);
	return doc && pristine ? 0 : 1;
}

static int
match(const char *sel)
{
	int r = res_label_match(doc, sel);

	FUZZ_CHECK(r == 0 || r == 1 || r == -BW_E_INVALID);
	return r;
}

/* For a single "k=v" term, returns "k!=v" (allocated), else NULL. */
static char *
negated(const char *sel)
{
	const char	*eq = strchr(sel, '=');
	char		*out;
	size_t		 n = strlen(sel);

	if (!eq || eq == sel || eq[-1] == '!' || strchr(sel, ','))
		return NULL;
	if (!(out = malloc(n + 2)))
		abort();
	memcpy(out, sel, (size_t)(eq - sel));
	out[eq - sel] = '!';
	memcpy(out + (eq - sel) + 1, eq, n - (size_t)(eq - sel) + 1);
	return out;
}

static void
project(const char *text)
{
	struct res_fields	 f;
	char			*err = NULL;
	json_t			*p, *pp;
	int			 r = res_fields_parse(text, &f, &err);

	FUZZ_CHECK(r == 0 || r == -BW_E_INVALID);
	FUZZ_CHECK((r == 0) == (err == NULL));
	free(err);
	if (r < 0)
		return;
	FUZZ_CHECK(f.n >= 1 && f.n <= RES_FIELDS_MAX);
	p = res_project(doc, &f);
	FUZZ_CHECK(p != NULL);
	pp = res_project(p, &f);
	FUZZ_CHECK(pp != NULL && json_equal(p, pp));
	FUZZ_CHECK(json_equal(doc, pristine));
	json_decref(pp);
	json_decref(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*in = fuzz_cstr(data, size), *a, *b, *ab, *nl, *neg;
	int	 ra, rb, rab, rn;

	nl = strchr(in, '\n');
	if (nl)
		*nl = '\0';
	a = in;
	b = nl ? nl + 1 : in + strlen(in);
	if (asprintf(&ab, "%s,%s", a, b) < 0)
		abort();

	ra = match(a);
	rb = match(b);
	rab = match(ab);
	FUZZ_CHECK(rab == (ra == 1 ? rb : ra));
	FUZZ_CHECK(match(NULL) == 1);
	project(a);

	if ((neg = negated(a)) != NULL) {
		rn = match(neg);
		if (ra == -BW_E_INVALID)
			FUZZ_CHECK(rn == -BW_E_INVALID);
		else
			FUZZ_CHECK(rn == !ra);
		free(neg);
	}
	free(ab);
	free(in);
	return 0;
}
