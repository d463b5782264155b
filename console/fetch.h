/* The console's reads through the API: a whole list page by page, or
 * one document, over a kept-alive client connection. A refusal (403,
 * 404, any other status) is not an error of the read: it becomes the
 * text a screen shows in its place. */
#ifndef BW_CONSOLE_FETCH_H
#define BW_CONSOLE_FETCH_H

#include <stddef.h>

#include <jansson.h>

struct client_conn;

#define CFETCH_PAGE		"10000"	/* the server cuts pages at 512 KiB */
#define CFETCH_PAGES_MAX	200	/* 100,000 objects per kind */

/* GETs the whole list at PATH page by page into one new {"items": [...]}
 * at *RET; with FIELDS (comma-separated dotted paths, URL-safe; NULL:
 * whole objects) each object holds only those members (the API's
 * ?fields=). When the server refuses or answers no JSON, *RET stays
 * NULL and WHY (WHYLEN bytes) says why. Returns 0, or a negative error
 * when the server could not be reached, with a message. */
int cfetch_list(struct client_conn *cc, const char *path, const char *fields,
    json_t **ret, char *why, size_t whylen, char **ret_err);

/* GETs the document at PATH into *RET; otherwise as cfetch_list(). */
int cfetch_doc(struct client_conn *cc, const char *path, json_t **ret,
    char *why, size_t whylen, char **ret_err);

#endif
