/* The console's reads through the API: a whole list page by page, or
 * one document, over a kept-alive client connection. A refusal (403,
 * 404, any other status) is not an error of the read: it becomes the
 * text a screen shows in its place. */
#ifndef BW_CONSOLE_FETCH_H
#define BW_CONSOLE_FETCH_H

#include <stddef.h>

#include <jansson.h>

struct client_conn;

#define CFETCH_PAGE		10000	/* the server cuts pages at 512 KiB */
#define CFETCH_PAGES_MAX	200	/* 100,000 objects per kind */

/* GETs the whole list at PATH page by page into one new {"items": [...]}
 * at *RET; with FIELDS (comma-separated dotted paths, URL-safe; NULL:
 * whole objects) each object holds only those members (the API's
 * ?fields=); with FROM (NULL: the start) from that continue token on.
 * When the server refuses or answers no JSON, *RET stays NULL and WHY
 * (WHYLEN bytes) says why. Returns 0, or a negative error when the
 * server could not be reached, with a message. */
int cfetch_list(struct client_conn *cc, const char *path, const char *fields,
    const char *from, json_t **ret, char *why, size_t whylen, char **ret_err);

/* GETs the first page of at most LIMIT objects of the list at PATH (as
 * cfetch_list()) into *RET, and its continue token into *RET_NEXT
 * (allocated; NULL when the page holds the whole list), so a screen
 * can be drawn before the rest is read. */
int cfetch_first(struct client_conn *cc, const char *path, const char *fields,
    size_t limit, json_t **ret, char **ret_next, char *why, size_t whylen,
    char **ret_err);

/* GETs the document at PATH into *RET; otherwise as cfetch_list(). */
int cfetch_doc(struct client_conn *cc, const char *path, json_t **ret,
    char *why, size_t whylen, char **ret_err);

#endif
