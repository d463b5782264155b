/* A QMP (QEMU Machine Protocol) client over a unix socket: one command
 * at a time, asynchronous events skipped. */
#ifndef BW_QMP_H
#define BW_QMP_H

#include <jansson.h>

#include "lib/macro.h"

/* Lines longer than this end the connection: QEMU's answers to the
 * commands we send are small. */
#define QMP_LINE_MAX	(1024 * 1024)

struct qmp;

/* Connects to PATH, retrying until TIMEOUT_MS while QEMU creates the
 * socket, reads the greeting and negotiates capabilities. */
int qmp_connect(const char *path, int timeout_ms, struct qmp **ret,
    char **ret_err);
void qmp_close(struct qmp *q);	/* NULL ok */
DEFINE_TRIVIAL_CLEANUP_FUNC(struct qmp *, qmp_close)

/* Executes CMD with ARGS (borrowed, may be NULL) and waits up to
 * TIMEOUT_MS for the answer. On success *RET_RETURN (may be NULL) gets
 * the "return" value (caller decrefs); a QMP error becomes
 * -BW_E_UNAVAILABLE with its class and description. A "quit" may see
 * the connection close instead of an answer; that counts as success. */
int qmp_execute(struct qmp *q, const char *cmd, json_t *args, int timeout_ms,
    json_t **ret_return, char **ret_err);

/* query-status: *RET_STATUS (caller frees) is "running", "paused",
 * "shutdown", ... */
int qmp_query_status(struct qmp *q, char **ret_status, char **ret_err);

#endif
