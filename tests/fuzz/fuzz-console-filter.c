/* libFuzzer target for the console's `/` filter (console/filter.c),
 * what a person types at the console. The input is "TEXT\nROW": TEXT
 * is parsed and matched against ROW with fixed labels. Invariants:
 * nothing crashes; the parse gives 0, or -BW_E_INVALID with a message;
 * a match is 0 or 1; for a filter that parses and is not inverted,
 * the same text after "!" parses too (when it has a pattern) and gives
 * the opposite answer; a literal pattern (matched with strcasestr())
 * answers as regexec() of the same expression. */
#include "config.h"

#include <regex.h>
#include <string.h>

#include <jansson.h>

#include "console/filter.h"
#include "lib/err.h"
#include "tests/fuzz/fuzz.h"

static json_t *labels;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	labels = json_loads("{\"app\":\"web\",\"tier\":\"front\","
	    "\"example.com/team\":\"core\",\"empty\":\"\"}", 0, NULL);
	return labels ? 0 : 1;
}

/* 1 when the extended regular expression PATTERN, case insensitive,
 * matches ROW. */
static int
regex_says(const char *pattern, const char *row)
{
	regex_t	re;
	int	r;

	FUZZ_CHECK(regcomp(&re, pattern, REG_EXTENDED | REG_ICASE |
	    REG_NOSUB) == 0);
	r = regexec(&re, row, 0, NULL, 0) == 0;
	regfree(&re);
	return r;
}

/* Parses TEXT and matches ROW: 0 or 1, or -BW_E_INVALID. */
static int
run(const char *text, const char *row, int *ret_has_re)
{
	struct cfilter	 f;
	char		*err = NULL;
	int		 r;

	r = cfilter_parse(text, &f, &err);
	FUZZ_CHECK(r == 0 || r == -BW_E_INVALID);
	if (r < 0) {
		FUZZ_CHECK(err != NULL && *err);
		free(err);
		return r;
	}
	FUZZ_CHECK(err == NULL);
	*ret_has_re = f.has_re;
	r = cfilter_match(&f, row, labels);
	FUZZ_CHECK(r == 0 || r == 1);
	FUZZ_CHECK(cfilter_match(&f, row, labels) == r);
	if (f.literal && f.nlabels == 0)
		FUZZ_CHECK(regex_says(f.text, row) == (r != f.inverse));
	cfilter_clear(&f);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*in = fuzz_cstr(data, size), *row, *neg;
	int	 r, rn, has_re = 0, neg_re = 0;
	size_t	 n;

	row = strchr(in, '\n');
	if (row)
		*row++ = '\0';
	else
		row = in + strlen(in);
	r = run(in, row, &has_re);
	n = strlen(in);
	/* "!TEXT" of a plain pattern (no -l, no leading space or '!') */
	if (r >= 0 && has_re && in[0] != '!' && in[0] != ' ' && in[0] != '-' &&
	    n + 1 < CFILTER_TEXT_MAX) {
		if (!(neg = malloc(n + 2)))
			abort();
		neg[0] = '!';
		memcpy(neg + 1, in, n + 1);
		rn = run(neg, row, &neg_re);
		FUZZ_CHECK(rn == !r);
		free(neg);
	}
	free(in);
	return 0;
}
