/* Declarative validation of untrusted JSON documents against C tables.
 * Every rejection names the exact field path ("spec.replicas: ..."),
 * and unknown fields are errors, so a typo never silently loses a
 * setting. */
#ifndef BW_SCHEMA_H
#define BW_SCHEMA_H

#include <jansson.h>

enum schema_type {
	SCHEMA_STRING,
	SCHEMA_INT,
	SCHEMA_BOOL,
	SCHEMA_OBJECT,		/* fixed fields, listed in .fields */
	SCHEMA_ARRAY,		/* items described by .items */
	SCHEMA_MAP,		/* string keys to string values (labels) */
	SCHEMA_ENV,		/* environment: names to text values */
};

/* Bounds of a SCHEMA_ENV map (.max bounds its entries): a name is
 * [A-Za-z_][A-Za-z0-9_]* of at most SCHEMA_ENV_NAME_MAX characters; a
 * value is UTF-8 text of at most SCHEMA_ENV_VALUE_MAX bytes without NUL
 * or control characters other than tab and newline; names and values
 * together at most SCHEMA_ENV_TOTAL_MAX bytes. */
#define SCHEMA_ENV_NAME_MAX	128
#define SCHEMA_ENV_VALUE_MAX	4096
#define SCHEMA_ENV_TOTAL_MAX	(32 * 1024)

#define SCHEMA_REQUIRED	0x1

struct schema_field;

/* Extra check on a value already of the right type. Returns 0 or
 * -BW_E_INVALID with *ret_err set to "PATH: reason". */
typedef int (*schema_check_fn)(const json_t *v, const char *path,
    char **ret_err);

struct schema_field {
	const char			*name;
	enum schema_type		 type;
	unsigned			 flags;
	long long			 min, max;	/* int range; string, array or map length */
	const char *const		*one_of;	/* allowed strings, NULL-terminated */
	schema_check_fn			 check;
	const struct schema_field	*fields;	/* SCHEMA_OBJECT: terminated by name NULL */
	const struct schema_field	*items;		/* SCHEMA_ARRAY: one element */
};

/* Validates object V (at PATH, e.g. "spec") against FIELDS. Returns 0
 * or -BW_E_INVALID with a precise allocated message in *ret_err. */
int schema_validate_object(const json_t *v, const struct schema_field *fields,
    const char *path, char **ret_err);

/* Validates V against one field description F at PATH. */
int schema_validate_value(const json_t *v, const struct schema_field *f,
    const char *path, char **ret_err);

/* Reusable checks. */
int schema_check_dns_label(const json_t *v, const char *path, char **ret_err);
int schema_check_digest(const json_t *v, const char *path, char **ret_err);
int schema_check_label_key(const char *s);
int schema_check_label_value(const char *s);
/* 1 when S is an environment variable name (see SCHEMA_ENV), else 0. */
int schema_is_env_name(const char *s);
/* 1 when the LEN bytes at S are an acceptable environment value (see
 * SCHEMA_ENV), else 0. */
int schema_is_env_value(const char *s, size_t len);
int schema_is_dns_label(const char *s);

#endif
