/* The console's actions through the API and which are offered: an
 * action appears only when bulwarkd's /v1/whoami says the principal's
 * role may write that kind ("may"), and never in read-only mode. The
 * API decides again on each request; the console only leaves out what
 * would be refused. */
#ifndef BW_CONSOLE_ACTIONS_H
#define BW_CONSOLE_ACTIONS_H

#include <jansson.h>

struct client_conn;

/* 1 when MAY (whoami's "may" object, may be NULL) lists PLURAL under
 * VERB ("read" or "write"), else 0. */
int cact_may(const json_t *may, const char *verb, const char *plural);

/* The API path of OBJ (a Workload, Tenant, ...: its kind and metadata)
 * into BUF. Returns 0 or -BW_E_INVALID. */
int cact_path(const json_t *obj, const char *plural, char *buf, size_t len);

/* Sets spec.replicas of workload OBJ to REPLICAS with a PUT of the
 * object (its revision: a change made meanwhile is refused, not
 * overwritten). Returns 0, or a negative error with the API's message. */
int cact_scale(struct client_conn *cc, const json_t *obj, long replicas,
    char **ret_err);

/* DELETEs object OBJ of PLURAL. Returns 0 or a negative error with the
 * API's message. */
int cact_delete(struct client_conn *cc, const json_t *obj, const char *plural,
    char **ret_err);

/* Reads whoami's "may" into *RET (new reference; NULL with the reason
 * in WHY when the server refused). Returns 0 or a negative error. */
int cact_whoami(struct client_conn *cc, json_t **ret_me, char *why,
    size_t whylen, char **ret_err);

#endif
