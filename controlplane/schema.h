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
};

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
int schema_is_dns_label(const char *s);

#endif
