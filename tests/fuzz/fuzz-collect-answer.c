/* libFuzzer target for bulwarkd's reading of the privileged collector's
 * answer (compliance/collect-proto.c, comp_collect_answer_parse()): the
 * input's first byte chooses whether the rest is the whole frame as
 * received (even) or a payload put behind a well-formed header (odd, to
 * reach the JSON checks). Invariants: nothing crashes or reads past the
 * input; an accepted answer holds only known checks, each once, within
 * every bound, with well-formed digests; a refusal is one of the two
 * documented errors and carries a message. An accepted answer is merged
 * (compliance/collect.c, comp_collect_merge()) into a scan whose every
 * collector check bulwarkd found satisfied on its facts alone: a merged
 * check is satisfied only when the collector said so and sent at least
 * one host (not "fact:") observation. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "compliance/check.h"
#include "compliance/collect.h"
#include "lib/err.h"
#include "tests/fuzz/fuzz.h"

static void
check_answer(const struct comp_collect_answer *a)
{
	size_t i, j, k;

	FUZZ_CHECK(a->euid >= 0);
	for (i = 0; i < a->n; i++) {
		const struct comp_collect_result *r = &a->results[i];

		FUZZ_CHECK(comp_collect_is_privileged(r->check));
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(a->results[j].check, r->check) != 0);
		FUZZ_CHECK(r->verdict >= COMP_SATISFIED &&
		    r->verdict <= COMP_ERROR);
		FUZZ_CHECK(r->n_obs <= COMP_COLLECT_OBS_MAX);
		FUZZ_CHECK(r->n_ev <= COMP_COLLECT_EV_MAX);
		for (j = 0; j < r->n_obs; j++) {
			FUZZ_CHECK(r->obs[j].subject != NULL);
			FUZZ_CHECK(strlen(r->obs[j].subject) <=
			    COMP_COLLECT_STR_MAX);
			FUZZ_CHECK(!r->obs[j].found || strlen(r->obs[j].found) <=
			    COMP_COLLECT_STR_MAX);
		}
		for (j = 0; j < r->n_ev; j++) {
			size_t n = strlen(r->ev[j].sha256);

			FUZZ_CHECK(r->ev[j].ref != NULL &&
			    r->ev[j].ref[0] == '/');
			FUZZ_CHECK(n == 0 || n == 64);
			for (k = 0; k < n; k++)
				FUZZ_CHECK(strchr("0123456789abcdef",
				    r->ev[j].sha256[k]) != NULL);
		}
	}
}

/* The collector's result for ID in A, or NULL. */
static const struct comp_collect_result *
find_result(const struct comp_collect_answer *a, const char *id)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (!strcmp(a->results[i].check, id))
			return &a->results[i];
	return NULL;
}

static size_t
host_obs(const struct comp_collect_result *c)
{
	size_t i, n = 0;

	for (i = 0; i < c->n_obs; i++)
		if (strncmp(c->obs[i].subject, "fact:", 5))
			n++;
	return n;
}

/* bulwarkd's scan of the collector checks, each satisfied by one good
 * fact, merged with A. */
static void
check_merge(const struct comp_collect_answer *a)
{
	struct comp_scan *scan;
	size_t i, n;

	for (n = 0; comp_collect_checks[n]; n++)
		;
	if (!(scan = calloc(1, sizeof(*scan))) ||
	    !(scan->results = calloc(n, sizeof(*scan->results))))
		abort();
	for (i = 0; i < n; i++) {
		struct comp_result *res = calloc(1, sizeof(*res));

		if (!res)
			abort();
		scan->results[scan->n++] = res;
		FUZZ_CHECK((res->check = comp_check_find(comp_collect_checks[i])));
		if (comp_obs_add(res, true, "fact:audit_active", "yes", "yes") < 0 ||
		    comp_evidence_add(res, "fact:audit_active", NULL, 0) < 0)
			abort();
		res->verdict = COMP_SATISFIED;
	}
	FUZZ_CHECK(comp_collect_merge(scan, a, NULL) == 0);
	for (i = 0; i < scan->n; i++) {
		const struct comp_result *m = scan->results[i];
		const struct comp_collect_result *c = find_result(a,
		    m->check->id);

		if (m->verdict != COMP_SATISFIED)
			continue;
		FUZZ_CHECK(c != NULL);
		FUZZ_CHECK(c->verdict == COMP_SATISFIED);
		FUZZ_CHECK(host_obs(c) >= 1);
	}
	comp_scan_free(scan);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct comp_collect_answer *a = NULL;
	unsigned char *buf;
	size_t len;
	char *err = NULL;
	int r;

	if (size < 1 || size > 65536)
		return 0;
	len = size - 1 + ((data[0] & 1) ? COMP_COLLECT_HDR_LEN : 0);
	if (!(buf = malloc(len ? len : 1)))
		abort();
	if (data[0] & 1) {
		comp_collect_header(buf, COMP_COLLECT_ANSWER,
		    (uint32_t)(size - 1));
		memcpy(buf + COMP_COLLECT_HDR_LEN, data + 1, size - 1);
	} else
		memcpy(buf, data + 1, size - 1);
	r = comp_collect_answer_parse(buf, len, &a, &err);
	if (r == 0) {
		FUZZ_CHECK(a != NULL && err == NULL);
		check_answer(a);
		check_merge(a);
	} else {
		FUZZ_CHECK(r == -BW_E_INVALID || r == -BW_E_TOOLARGE ||
		    r == -ENOMEM);
		FUZZ_CHECK(a == NULL);
		FUZZ_CHECK(r == -ENOMEM || err != NULL);
	}
	comp_collect_answer_free(a);
	free(err);
	free(buf);
	return 0;
}
