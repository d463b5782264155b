/* Error codes. Functions return 0 (or a non-negative value) on success
 * and a negative code on failure: -errno for system errors, or one of
 * the domain codes below. */
#ifndef BW_ERR_H
#define BW_ERR_H

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

#endif
