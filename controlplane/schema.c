#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/schema.h"
#include "lib/err.h"
#include "lib/json.h"

#define SCHEMA_PATH_MAX	256

static const char *const type_names[] = {
	[SCHEMA_STRING] = "a string",
	[SCHEMA_INT] = "an integer",
	[SCHEMA_BOOL] = "a boolean",
	[SCHEMA_OBJECT] = "an object",
	[SCHEMA_ARRAY] = "an array",
	[SCHEMA_MAP] = "an object of strings",
	[SCHEMA_ENV] = "an object of strings",
};

static int
type_matches(const json_t *v, enum schema_type t)
{
	switch (t) {
	case SCHEMA_STRING:
		return json_is_string(v);
	case SCHEMA_INT:
		return json_is_integer(v);
	case SCHEMA_BOOL:
		return json_is_boolean(v);
	case SCHEMA_OBJECT:
	case SCHEMA_MAP:
	case SCHEMA_ENV:
		return json_is_object(v);
	case SCHEMA_ARRAY:
		return json_is_array(v);
	}
	return 0;
}

static void
range_text(const struct schema_field *f, const char *unit, char *buf,
    size_t len)
{
	snprintf(buf, len, "%lld..%lld%s", f->min, f->max, unit);
}

static int
validate_string(const json_t *v, const struct schema_field *f,
    const char *path, char **ret_err)
{
	const char	*s = json_string_value(v);
	size_t		 len = json_string_length(v);
	const char *const *p;
	char		 range[64], allowed[256] = "";

	if (strlen(s) != len)
		return errf(-BW_E_INVALID, ret_err,
		    "%s: must not contain NUL bytes", path);
	if (f->max > 0 && ((long long)len < f->min ||
	    (long long)len > f->max)) {
		range_text(f, " characters", range, sizeof(range));
		return errf(-BW_E_INVALID, ret_err,
		    "%s: length must be %s", path, range);
	}
	if (!f->one_of)
		return 0;
	for (p = f->one_of; *p; p++)
		if (strcmp(*p, s) == 0)
			return 0;
	for (p = f->one_of; *p; p++) {
		if (allowed[0])
			strncat(allowed, ", ",
			    sizeof(allowed) - strlen(allowed) - 1);
		strncat(allowed, *p, sizeof(allowed) - strlen(allowed) - 1);
	}
	return errf(-BW_E_INVALID, ret_err, "%s: must be one of %s", path,
	    allowed);
}

static int
validate_array(const json_t *v, const struct schema_field *f,
    const char *path, char **ret_err)
{
	char	 sub[SCHEMA_PATH_MAX];
	size_t	 i, n = json_array_size(v);
	int	 r;

	if (f->max > 0 && (long long)n > f->max)
		return errf(-BW_E_INVALID, ret_err,
		    "%s: at most %lld items", path, f->max);
	for (i = 0; i < n; i++) {
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		r = schema_validate_value(json_array_get(v, i),
		    f->items, sub, ret_err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Labels: keys and values in the label syntax. */
static int
validate_map(const json_t *v, const char *path, char **ret_err)
{
	const char	*k;
	json_t		*val;

	json_object_foreach((json_t *)v, k, val) {
		if (!schema_check_label_key(k))
			return errf(-BW_E_INVALID, ret_err,
			    "%s: invalid key \"%.64s\" (1..63 of "
			    "[A-Za-z0-9._-], optional DNS prefix/)",
			    path, k);
		if (!json_is_string(val))
			return errf(-BW_E_INVALID, ret_err,
			    "%s.%s: must be a string", path, k);
		if (!schema_check_label_value(json_string_value(val)))
			return errf(-BW_E_INVALID, ret_err,
			    "%s.%s: invalid value (0..63 of "
			    "[A-Za-z0-9._-])", path, k);
	}
	return 0;
}

/* An environment: variable names and text values, bounded in total. */
static int
validate_env(const json_t *v, const char *path, char **ret_err)
{
	const char	*k;
	json_t		*val;
	size_t		 total = 0;

	json_object_foreach((json_t *)v, k, val) {
		if (!schema_is_env_name(k))
			return errf(-BW_E_INVALID, ret_err,
			    "%s: invalid name \"%.64s\" (1..%d of "
			    "[A-Za-z0-9_], not starting with a digit)",
			    path, k, SCHEMA_ENV_NAME_MAX);
		if (!json_is_string(val))
			return errf(-BW_E_INVALID, ret_err,
			    "%s.%s: must be a string", path, k);
		if (!schema_is_env_value(json_string_value(val),
		    json_string_length(val)))
			return errf(-BW_E_INVALID, ret_err,
			    "%s.%s: must be text of at most %d bytes "
			    "without NUL or control characters other "
			    "than tab and newline", path, k,
			    SCHEMA_ENV_VALUE_MAX);
		total += strlen(k) + json_string_length(val);
	}
	if (total > SCHEMA_ENV_TOTAL_MAX)
		return errf(-BW_E_INVALID, ret_err,
		    "%s: names and values take %zu bytes, at most %d",
		    path, total, SCHEMA_ENV_TOTAL_MAX);
	return 0;
}

int
schema_validate_value(const json_t *v, const struct schema_field *f,
    const char *path, char **ret_err)
{
	char	 range[64];
	int	 r = 0;

	if (!type_matches(v, f->type)) {
		if (f->type == SCHEMA_INT && f->max > f->min) {
			range_text(f, "", range, sizeof(range));
			return errf(-BW_E_INVALID, ret_err,
			    "%s: must be an integer %s", path, range);
		}
		return errf(-BW_E_INVALID, ret_err, "%s: must be %s", path,
		    type_names[f->type]);
	}
	switch (f->type) {
	case SCHEMA_INT: {
		long long x = json_integer_value(v);

		if (f->max > f->min && (x < f->min || x > f->max)) {
			range_text(f, "", range, sizeof(range));
			return errf(-BW_E_INVALID, ret_err,
			    "%s: must be an integer %s", path, range);
		}
		break;
	}
	case SCHEMA_STRING:
		r = validate_string(v, f, path, ret_err);
		break;
	case SCHEMA_OBJECT:
		r = schema_validate_object(v, f->fields, path, ret_err);
		break;
	case SCHEMA_ARRAY:
		r = validate_array(v, f, path, ret_err);
		break;
	case SCHEMA_MAP:
	case SCHEMA_ENV:
		if (f->max > 0 && (long long)json_object_size(v) > f->max)
			return errf(-BW_E_INVALID, ret_err,
			    "%s: at most %lld entries", path, f->max);
		r = f->type == SCHEMA_MAP ? validate_map(v, path, ret_err) :
		    validate_env(v, path, ret_err);
		break;
	case SCHEMA_BOOL:
		break;
	}
	if (r < 0)
		return r;
	if (f->check)
		return f->check(v, path, ret_err);
	return 0;
}

int
schema_validate_object(const json_t *v, const struct schema_field *fields,
    const char *path, char **ret_err)
{
	const struct schema_field	*f;
	const char			*k;
	json_t				*val;
	char				 sub[SCHEMA_PATH_MAX];
	int				 r;

	if (!json_is_object(v))
		return errf(-BW_E_INVALID, ret_err, "%s: must be an object",
		    path);
	json_object_foreach((json_t *)v, k, val) {
		for (f = fields; f && f->name; f++)
			if (strcmp(f->name, k) == 0)
				break;
		if (!f || !f->name)
			return errf(-BW_E_INVALID, ret_err,
			    "%s.%.64s: unknown field", path, k);
	}
	for (f = fields; f && f->name; f++) {
		snprintf(sub, sizeof(sub), "%s.%s", path, f->name);
		val = json_object_get(v, f->name);
		if (val && json_is_null(val))
			return errf(-BW_E_INVALID, ret_err,
			    "%s: must not be null (leave it out instead)", sub);
		if (!val) {
			if (f->flags & SCHEMA_REQUIRED)
				return errf(-BW_E_INVALID, ret_err,
				    "%s: is required", sub);
			continue;
		}
		if ((r = schema_validate_value(val, f, sub, ret_err)) < 0)
			return r;
	}
	return 0;
}

int
schema_is_dns_label(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 63)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (c == '-' && i > 0 && i < n - 1)
			continue;
		return 0;
	}
	return 1;
}

int
schema_check_dns_label(const json_t *v, const char *path, char **ret_err)
{
	if (!schema_is_dns_label(json_string_value(v)))
		return errf(-BW_E_INVALID, ret_err,
		    "%s: must be 1..63 lowercase letters, digits or '-', "
		    "starting and ending with a letter or digit", path);
	return 0;
}

int
schema_check_digest(const json_t *v, const char *path, char **ret_err)
{
	const char	*s = json_string_value(v);
	size_t		 i;

	if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
		goto bad;
	for (i = 7; i < 7 + 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			goto bad;
	return 0;
bad:
	return errf(-BW_E_INVALID, ret_err,
	    "%s: must be \"sha256:\" followed by 64 lowercase hex digits", path);
}

static int
label_chars_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int
schema_check_label_key(const char *s)
{
	const char	*slash = strchr(s, '/');
	const char	*name = slash ? slash + 1 : s;
	size_t		 n = strlen(name);

	if (slash && (slash == s || slash - s > 253 ||
	    !label_chars_ok(s, (size_t)(slash - s))))
		return 0;
	return n > 0 && n <= 63 && label_chars_ok(name, n);
}

int
schema_check_label_value(const char *s)
{
	size_t n = strlen(s);

	return n <= 63 && label_chars_ok(s, n);
}

int
schema_is_env_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > SCHEMA_ENV_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return 1;
}

int
schema_is_env_value(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i;

	/* A NUL would cut the value short on its way to execve(). The
	 * JSON parser has checked the UTF-8; C0 controls (but tab and
	 * newline), DEL and the C1 controls (U+0080..U+009F, encoded
	 * C2 80..C2 9F) are refused: they rewrite terminals and logs. */
	if (len > SCHEMA_ENV_VALUE_MAX || strlen(s) != len)
		return 0;
	for (i = 0; i < len; i++) {
		if ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\n') ||
		    p[i] == 0x7f)
			return 0;
		if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 &&
		    p[i + 1] <= 0x9f)
			return 0;
	}
	return 1;
}
