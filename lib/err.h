/* Error codes. Functions return 0 (or a non-negative value) on success
 * and a negative code on failure: -errno for system errors, or one of
 * the domain codes below. */
#ifndef BW_ERR_H
#define BW_ERR_H

#include "macro.h"

enum bw_err {
	BW_E_BASE = 10000,
	BW_E_INVALID,		/* input failed validation */
	BW_E_NOTFOUND,		/* object does not exist */
	BW_E_EXISTS,		/* object already exists */
	BW_E_CONFLICT,		/* revision precondition failed */
	BW_E_COMPACTED,		/* watch revision older than the horizon */
	BW_E_TOOLARGE,		/* input over a configured limit */
	BW_E_CORRUPT,		/* stored data failed an integrity check */
	BW_E_AUDIT,		/* audit record could not be made durable */
	BW_E_DENIED,		/* authorisation refused */
	BW_E_UNAUTH,		/* no valid identity */
	BW_E_QUOTA,		/* tenant quota exceeded */
	BW_E_UNAVAILABLE,	/* dependency (TPM, backend) unavailable */
	BW_E_CRYPTO,		/* OpenSSL or TPM operation failed */
	BW_E_NOSPACE,		/* store past its high-water mark: no new data */
	BW_E_MAX
};

/* Returns a static, human-readable description of R (negative). */
const char *bw_strerror(int r);

/* Returns the short stable code used in API errors ("invalid",
 * "not_found", ...) for R. */
const char *bw_errcode(int r);

/* Where a person must read the error, a function takes a last parameter
 * `char **ret_err` that receives an allocated message (caller frees);
 * RET_ERR may be NULL when the caller needs only the code. */

/* Formats a new message into *RET_ERR (replacing any) when RET_ERR is
 * not NULL and returns R, so callers can write
 * `return errf(-BW_E_INVALID, ret_err, "spec.replicas: ...")`. */
int errf(int r, char **ret_err, const char *fmt, ...) _printf_(3, 4);

/* Passes a callee's error up with context: *RET_ERR becomes
 * "<FMT>: <the callee's message>", e.g. "loading profile moderate:
 * catalog line 12: unknown control ac-99". When the callee left no
 * message, "<FMT>: <bw_strerror(R)>". Returns R; does nothing when
 * RET_ERR is NULL; keeps the callee's message if memory runs out. */
int errf_wrap(int r, char **ret_err, const char *fmt, ...) _printf_(3, 4);

#endif
