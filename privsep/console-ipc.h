/* The protocol between bulwark-console and bulwarkd on bulwarkd's local
 * console socket (DATA_DIR/console.sock): one request and one answer
 * per connection, each one frame of privsep/ipc.h (the header's type is
 * enum cipc_type, its id 0) whose payload is one JSON object of at most
 * CIPC_BODY_MAX bytes. A reader refuses another version, a length past
 * CIPC_BODY_MAX, a body that is not one JSON object, and bytes after
 * the frame.
 *
 *   CIPC_CRED   {"user", "tty", "lifetime", "csr"}  -> CIPC_CRED_OK
 *       {"server", "ca", "cert", "principal", "tenant", "role", "not_after"}
 *   CIPC_EVENT  {"user", "tty", "event", "detail"}  -> CIPC_OK {}
 *   any failure                                     -> CIPC_ERROR {"error"}
 */
#ifndef BW_CONSOLE_IPC_H
#define BW_CONSOLE_IPC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "privsep/ipc.h"

#define CIPC_HEADER	IPC_HDR_LEN
#define CIPC_BODY_MAX	(32 * 1024)
#define CIPC_SOCKET	"console.sock"
/* the bounds of a session certificate's lifetime, in seconds */
#define CIPC_LIFETIME_MIN	60
#define CIPC_LIFETIME_MAX	(24 * 3600)

enum cipc_type {
	CIPC_CRED = 1,
	CIPC_CRED_OK,
	CIPC_EVENT,
	CIPC_OK,
	CIPC_ERROR,
};

/* The length of the whole frame whose first LEN bytes are in BUF:
 * returns 0 and *RET_TOTAL, -EAGAIN when fewer than CIPC_HEADER bytes
 * are there, -BW_E_INVALID for another version or -BW_E_TOOLARGE for a
 * length past CIPC_BODY_MAX (message in *RET_ERR). */
int cipc_frame_len(const void *buf, size_t len, size_t *ret_total,
    char **ret_err);

/* Parses exactly one frame of LEN bytes: *RET_TYPE and *RET_BODY
 * (caller owns). Returns 0 or -BW_E_INVALID with a message. */
int cipc_parse(const void *buf, size_t len, uint32_t *ret_type,
    json_t **ret_body, char **ret_err);

/* Encodes a frame of TYPE with BODY into *RET_BUF (caller frees) and
 * *RET_LEN. Returns 0, -ENOMEM or -BW_E_TOOLARGE. */
int cipc_encode(uint32_t type, const json_t *body, char **ret_buf,
    size_t *ret_len);

/* Blocking: writes a frame to FD, then reads the one answer (at most
 * CIPC_HEADER + CIPC_BODY_MAX bytes, waiting at most TIMEOUT_MS for
 * each read). Returns 0 with *RET_TYPE and *RET_BODY, or a negative
 * error with a message. */
int cipc_call(int fd, uint32_t type, const json_t *body, int timeout_ms,
    uint32_t *ret_type, json_t **ret_body, char **ret_err);

#endif
