/* The lists' filter; see filter.h. */
#define _GNU_SOURCE	/* strcasestr */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "console/filter.h"
#include "lib/err.h"
#include "lib/macro.h"

/* Label keys may hold a DNS prefix ("example.com/team"); values are
 * what the API accepts in labels. */
static int
label_char(int c, int key)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' ||
	    (key && c == '/');
}

/* Parses one "k=v" term of LEN bytes at S into slot I of F. */
static int
parse_term(const char *s, size_t len, struct cfilter *f, size_t i,
    char **ret_err)
{
	const char	*eq = memchr(s, '=', len);
	size_t		 klen, vlen, j;

	if (!eq || eq == s)
		return errf(-BW_E_INVALID, ret_err, "-l: \"%.*s\" is not "
		    "key=value", (int)(len > 64 ? 64 : len), s);
	klen = (size_t)(eq - s);
	vlen = len - klen - 1;
	if (klen >= CFILTER_KEY_MAX || vlen >= CFILTER_VALUE_MAX)
		return errf(-BW_E_INVALID, ret_err, "-l: a key is at most %d "
		    "and a value at most %d characters", CFILTER_KEY_MAX - 1,
		    CFILTER_VALUE_MAX - 1);
	for (j = 0; j < len; j++)
		if (j != klen && !label_char((unsigned char)s[j], j < klen))
			return errf(-BW_E_INVALID, ret_err, "-l: '%c' is not "
			    "allowed in a label %s", isprint((unsigned char)s[j]) ?
			    s[j] : '?', j < klen ? "key" : "value");
	memcpy(f->label[i].key, s, klen);
	f->label[i].key[klen] = '\0';
	memcpy(f->label[i].value, eq + 1, vlen);
	f->label[i].value[vlen] = '\0';
	return 0;
}

/* Parses the selector "k=v,k2=v2" (LEN bytes at S) into F's labels. */
static int
parse_labels(const char *s, size_t len, struct cfilter *f, char **ret_err)
{
	const char	*end = s + len, *comma;
	int		 r;

	if (len == 0)
		return errf(-BW_E_INVALID, ret_err, "-l: needs key=value");
	while (s <= end) {
		comma = memchr(s, ',', (size_t)(end - s));
		if (!comma)
			comma = end;
		if (f->nlabels == CFILTER_LABELS_MAX)
			return errf(-BW_E_INVALID, ret_err, "-l: at most %d "
			    "labels", CFILTER_LABELS_MAX);
		if ((r = parse_term(s, (size_t)(comma - s), f, f->nlabels,
		    ret_err)) < 0)
			return r;
		f->nlabels++;
		s = comma + 1;
	}
	return 0;
}

/* glibc's regcomp() takes time exponential in stacked repetitions
 * ("a++++") and in the product of nested bounds ("((a{1,99}){1,99})"):
 * a pattern typed at the console must never hang it (the idle lock
 * waits on the same loop). Refuses a repetition right after another,
 * more than CFILTER_BOUNDS_MAX bounds, and bounds past
 * CFILTER_BOUND_MAX. Brackets and escaped characters are literal. */
#define CFILTER_BOUNDS_MAX	2
#define CFILTER_BOUND_MAX	16

static int
check_pattern(const char *p, char **ret_err)
{
	const char	*q;
	int		 prev_rep = 0, rep, bounds = 0;
	long		 v;

	for (; *p; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			prev_rep = 0;
			continue;
		}
		if (*p == '[') {
			q = p + 1 + (p[1] == '^');
			q += *q == ']';
			if (!(q = strchr(q, ']')))
				return 0;	/* regcomp() says what is wrong */
			p = q;
			prev_rep = 0;
			continue;
		}
		rep = *p == '*' || *p == '+' || *p == '?' || *p == '{';
		if (rep && prev_rep)
			return errf(-BW_E_INVALID, ret_err, "filter: a "
			    "repetition may not follow a repetition");
		if (*p == '{') {
			if (++bounds > CFILTER_BOUNDS_MAX)
				return errf(-BW_E_INVALID, ret_err, "filter: at "
				    "most %d {m,n} bounds", CFILTER_BOUNDS_MAX);
			for (q = p + 1; *q && *q != '}'; q++) {
				v = strtol(q, (char **)&q, 10);
				if (v > CFILTER_BOUND_MAX)
					return errf(-BW_E_INVALID, ret_err,
					    "filter: a bound is at most %d",
					    CFILTER_BOUND_MAX);
				if (*q == '}' || !*q)
					break;
			}
			if (!*q)
				return 0;
			p = q;
		}
		prev_rep = rep;
	}
	return 0;
}

static const char *
skip_space(const char *s)
{
	while (*s == ' ')
		s++;
	return s;
}

/* Letters, digits and characters that are literal in an extended
 * regular expression wherever they stand; ASCII only, so that
 * strcasestr()'s byte-wise folding is REG_ICASE's. */
static const char literal_chars[] = "abcdefghijklmnopqrstuvwxyz"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/:=@,";

int
cfilter_literal(const char *text)
{
	return text[0] && text[0] != '!' && text[0] != '-' &&
	    text[0] != ' ' && text[strspn(text, literal_chars)] == '\0';
}

int
cfilter_parse(const char *text, struct cfilter *ret, char **ret_err)
{
	struct cfilter	 f = { 0 };
	const char	*p = skip_space(text), *end;
	char		 msg[128];
	int		 r;

	if (strlen(text) >= CFILTER_TEXT_MAX)
		return errf(-BW_E_INVALID, ret_err, "filter: at most %d "
		    "characters", CFILTER_TEXT_MAX - 1);
	/* "-l SELECTOR" terms first, then the pattern */
	while (p[0] == '-' && p[1] == 'l' && (p[2] == ' ' || !p[2])) {
		p = skip_space(p + 2);
		end = strchr(p, ' ');
		if (!end)
			end = p + strlen(p);
		if ((r = parse_labels(p, (size_t)(end - p), &f, ret_err)) < 0)
			return r;
		p = skip_space(end);
	}
	if (*p == '!') {
		f.inverse = 1;
		p++;
	}
	if (*p && p[strspn(p, literal_chars)] == '\0') {
		f.has_re = f.literal = 1;
		snprintf(f.text, sizeof(f.text), "%s", p);
	} else if (*p) {
		if ((r = check_pattern(p, ret_err)) < 0)
			return r;
		if ((r = regcomp(&f.re, p, REG_EXTENDED | REG_ICASE |
		    REG_NOSUB)) != 0) {
			regerror(r, &f.re, msg, sizeof(msg));
			return errf(-BW_E_INVALID, ret_err, "filter: %s", msg);
		}
		f.has_re = 1;
	} else if (f.inverse)
		return errf(-BW_E_INVALID, ret_err, "filter: '!' needs a "
		    "pattern after it");
	*ret = f;
	return 0;
}

int
cfilter_match(const struct cfilter *f, const char *text, const json_t *labels)
{
	const char	*v;
	size_t		 i;

	for (i = 0; i < f->nlabels; i++) {
		v = json_string_value(json_object_get(labels, f->label[i].key));
		if (!v || strcmp(v, f->label[i].value) != 0)
			return 0;
	}
	if (!f->has_re)
		return 1;
	if (f->literal)
		return (strcasestr(text, f->text) != NULL) != f->inverse;
	return (regexec(&f->re, text, 0, NULL, 0) == 0) != f->inverse;
}

void
cfilter_clear(struct cfilter *f)
{
	if (f->has_re && !f->literal)
		regfree(&f->re);
	*f = (struct cfilter){ 0 };
}
