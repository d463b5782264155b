/* The `/` filter of the console's lists, k9s-like: "TEXT" keeps the
 * rows whose text matches the extended regular expression TEXT (case
 * insensitive), "!TEXT" the rows that do not, and "-l k=v[,k2=v2]"
 * before either keeps the objects carrying every one of those labels.
 * A parser of what a person types: every input is either a filter or
 * a precise message; nothing in it is trusted. */
#ifndef BW_CONSOLE_FILTER_H
#define BW_CONSOLE_FILTER_H

#include <regex.h>
#include <stddef.h>

#include <jansson.h>

#define CFILTER_TEXT_MAX	256
#define CFILTER_LABELS_MAX	8
#define CFILTER_KEY_MAX		64
#define CFILTER_VALUE_MAX	64

struct cfilter {
	int	has_re;		/* a regular expression was given */
	int	inverse;	/* "!": rows that do NOT match it */
	regex_t	re;		/* compiled unless LITERAL */
	/* the expression when it has no character a regular expression
	 * gives a meaning to: matched as a case-insensitive substring
	 * (what the expression means), without regexec() (a tenth of its
	 * time a row: the first key of a filter matches every row) */
	int	literal;
	char	text[CFILTER_TEXT_MAX];
	size_t	nlabels;
	struct {
		char	key[CFILTER_KEY_MAX];
		char	value[CFILTER_VALUE_MAX];
	} label[CFILTER_LABELS_MAX];
};

/* Parses TEXT into *RET (clear with cfilter_clear()). An empty TEXT is
 * the filter that keeps everything. Returns 0, or -BW_E_INVALID with a
 * message ("-l: \"a\" is not key=value"); *RET is untouched then. */
int cfilter_parse(const char *text, struct cfilter *ret, char **ret_err);

/* 1 when a row with TEXT and the object's LABELS (metadata.labels, may
 * be NULL) passes F, else 0. */
int cfilter_match(const struct cfilter *f, const char *text,
    const json_t *labels);

/* 1 when TEXT (a whole filter) is a literal expression as above, with
 * neither "!" nor "-l": every row a longer TEXT typed on from it keeps
 * is among the rows it keeps. */
int cfilter_literal(const char *text);

/* Frees what cfilter_parse() made; a zeroed or cleared F is fine. */
void cfilter_clear(struct cfilter *f);

#endif
