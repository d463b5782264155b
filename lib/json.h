/* Bounded JSON parsing for untrusted input. */
#ifndef BW_JSON_H
#define BW_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "macro.h"

/* jansson ships json_decrefp() for cleanup attributes. */
#define _cleanup_json_	_cleanup_(json_decrefp)

#define BW_JSON_MAX_DEPTH	32

/* Parses LEN bytes of BUF as one JSON value, refusing nesting deeper
 * than MAX_DEPTH, duplicate keys, invalid UTF-8 and NUL bytes. On
 * success *ret (caller owns) is set; on failure *ret_err gets a precise
 * allocated message with the byte offset. Returns 0 or -BW_E_INVALID /
 * -ENOMEM. */
int json_parse_bounded(const char *buf, size_t len, int max_depth,
    json_t **ret, char **ret_err);

/* The string at O.A, or at O.A.B when B is not NULL (borrowed from O);
 * NULL when a member is absent or not of the expected type. */
const char *json_str_at(const json_t *o, const char *a, const char *b);

/* The integer at O.A, or at O.A.B when B is not NULL; DFLT when a
 * member is absent or not an integer. */
long long json_int_at(const json_t *o, const char *a, const char *b,
    long long dflt);

/* The first object of array A whose member KEY is the string VALUE
 * (borrowed from A); NULL when none is, or A is not an array. */
json_t *json_array_find(const json_t *a, const char *key, const char *value);

#endif
