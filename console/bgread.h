/* A list read in a thread of its own, so that a view's periodic
 * refresh never holds up the keys: the browser asks for a read, keeps
 * answering keys, and takes the result when one is ready (on its next
 * key or tick). The thread has its own API connection (the session's
 * TLS context is shared, OpenSSL allows that); it never touches the
 * screen, and a result is handed over whole, never shared while the
 * thread still holds it. */
#ifndef BW_CONSOLE_BGREAD_H
#define BW_CONSOLE_BGREAD_H

#include <stddef.h>

#include <jansson.h>

struct client_conf;
typedef struct ssl_ctx_st SSL_CTX;
struct cbg;

/* Starts the reader for CONF (and CTX, may be NULL), both borrowed:
 * they must outlive it. Returns 0 or a negative error with a message. */
int cbg_new(const struct client_conf *conf, SSL_CTX *ctx, struct cbg **ret,
    char **ret_err);

/* Asks for the list at PATH (with FIELDS and from the continue token
 * FROM, both may be NULL; see cfetch_list()), tagged TAG. The newest
 * request wins: it replaces one not yet started and an untaken result,
 * and the result of the read under way is dropped (only the list on
 * top of the screen reads, so an older request is one it left). The
 * request starts when the read under way ends. Returns 0, or
 * -ENAMETOOLONG. */
int cbg_start(struct cbg *bg, const char *path, const char *fields,
    const char *from, unsigned long tag);

/* A finished read: returns 1 and sets *RET_TAG, *RET_DOC (new
 * reference, or NULL when the server refused: WHY says why) and
 * *RET_ERR (allocated, or NULL: the API could not be reached), or
 * returns 0 when none is ready. Never waits. */
int cbg_take(struct cbg *bg, unsigned long *ret_tag, json_t **ret_doc,
    char *why, size_t whylen, char **ret_err);

/* Ends the thread (after the read under way, if one is) and frees BG;
 * NULL is fine. */
void cbg_free(struct cbg *bg);

#endif
