#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "json.h"

/* Measures nesting outside strings before jansson sees the input, so a
 * hostile document costs one linear pass and no recursion. */
static int
json_depth_scan(const char *buf, size_t len, int max_depth, size_t *ret_off)
{
	int	depth = 0;
	int	in_str = 0, esc = 0;
	size_t	i;

	for (i = 0; i < len; i++) {
		char c = buf[i];

		if (in_str) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"')
			in_str = 1;
		else if (c == '{' || c == '[') {
			if (++depth > max_depth) {
				*ret_off = i;
				return -BW_E_INVALID;
			}
		} else if (c == '}' || c == ']')
			depth--;
	}
	return 0;
}

int
json_parse_bounded(const char *buf, size_t len, int max_depth, json_t **ret,
    char **ret_err)
{
	json_error_t	 jerr;
	json_t		*v;
	size_t		 off = 0;

	if (json_depth_scan(buf, len, max_depth, &off) < 0)
		return errf(-BW_E_INVALID, ret_err,
		    "body: JSON nested deeper than %d levels at byte %zu",
		    max_depth, off);
	v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!v)
		return errf(-BW_E_INVALID, ret_err,
		    "body: invalid JSON at byte %d (line %d, column %d): %s",
		    jerr.position, jerr.line, jerr.column, jerr.text);
	*ret = v;
	return 0;
}

static const json_t *
json_at(const json_t *o, const char *a, const char *b)
{
	const json_t *v = json_object_get(o, a);

	return b ? json_object_get(v, b) : v;
}

const char *
json_str_at(const json_t *o, const char *a, const char *b)
{
	return json_string_value(json_at(o, a, b));
}

long long
json_int_at(const json_t *o, const char *a, const char *b, long long dflt)
{
	const json_t *v = json_at(o, a, b);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

json_t *
json_array_find(const json_t *a, const char *key, const char *value)
{
	json_t	*e;
	size_t	 i;

	json_array_foreach(a, i, e) {
		const char *v = json_string_value(json_object_get(e, key));

		if (v && strcmp(v, value) == 0)
			return e;
	}
	return NULL;
}
