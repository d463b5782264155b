#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

static const struct {
	int		 code;
	const char	*name;
	const char	*text;
} bw_errors[] = {
	{ BW_E_INVALID,		"invalid",		"invalid input" },
	{ BW_E_NOTFOUND,	"not_found",		"not found" },
	{ BW_E_EXISTS,		"already_exists",	"already exists" },
	{ BW_E_CONFLICT,	"conflict",		"revision conflict" },
	{ BW_E_COMPACTED,	"compacted",		"revision compacted" },
	{ BW_E_TOOLARGE,	"too_large",		"input too large" },
	{ BW_E_CORRUPT,		"corrupt",		"stored data corrupt" },
	{ BW_E_AUDIT,		"audit_unavailable",	"audit record could not be made durable" },
	{ BW_E_DENIED,		"forbidden",		"permission denied" },
	{ BW_E_UNAUTH,		"unauthenticated",	"no valid identity" },
	{ BW_E_QUOTA,		"quota_exceeded",	"quota exceeded" },
	{ BW_E_UNAVAILABLE,	"unavailable",		"service unavailable" },
	{ BW_E_CRYPTO,		"crypto",		"cryptographic operation failed" },
	{ BW_E_NOSPACE,		"insufficient_storage",	"the state store is past its high-water mark" },
};

const char *
bw_strerror(int r)
{
	size_t i;

	for (i = 0; i < sizeof(bw_errors) / sizeof(bw_errors[0]); i++)
		if (bw_errors[i].code == -r)
			return bw_errors[i].text;
	return strerror(-r);
}

const char *
bw_errcode(int r)
{
	size_t i;

	for (i = 0; i < sizeof(bw_errors) / sizeof(bw_errors[0]); i++)
		if (bw_errors[i].code == -r)
			return bw_errors[i].name;
	return "internal";
}

int
errf(int r, char **ret_err, const char *fmt, ...)
{
	va_list ap;

	if (ret_err) {
		free(*ret_err);
		*ret_err = NULL;
		va_start(ap, fmt);
		if (vasprintf(ret_err, fmt, ap) < 0)
			*ret_err = NULL;
		va_end(ap);
	}
	return r;
}

int
errf_wrap(int r, char **ret_err, const char *fmt, ...)
{
	char	*ctx = NULL, *msg = NULL;
	va_list	 ap;
	int	 n;

	if (!ret_err)
		return r;
	va_start(ap, fmt);
	n = vasprintf(&ctx, fmt, ap);
	va_end(ap);
	if (n < 0)
		return r;
	if (*ret_err)
		n = asprintf(&msg, "%s: %s", ctx, *ret_err);
	else if (r < 0)
		n = asprintf(&msg, "%s: %s", ctx, bw_strerror(r));
	else {
		msg = ctx;
		ctx = NULL;
	}
	free(ctx);
	if (n < 0)
		return r;
	free(*ret_err);
	*ret_err = msg;
	return r;
}
