/* libFuzzer target for bulwarkd's reading of the privileged collector's
 * answer (compliance/collect-proto.c, comp_collect_answer_parse()): the
 * input's first byte chooses whether the rest is the whole frame as
 * received (even) or a payload put behind a well-formed header (odd, to
 * reach the JSON checks). Invariants: nothing crashes or reads past the
 * input; an accepted answer holds only known checks, each once, within
 * every bound, with well-formed digests; a refusal is one of the two
 * documented errors and carries a message. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "compliance/check.h"
#include "compliance/collect-proto.h"
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

			FUZZ_CHECK(r->ev[j].ref != NULL);
			FUZZ_CHECK(n == 0 || n == 64);
			for (k = 0; k < n; k++)
				FUZZ_CHECK(strchr("0123456789abcdef",
				    r->ev[j].sha256[k]) != NULL);
		}
	}
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
