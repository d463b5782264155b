/* The audit browser's search; see audit-view.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "console/audit-view.h"
#include "lib/err.h"
#include "lib/macro.h"

static const char *const terms[] = { "action", "actor", "outcome", "kind",
    "name", "tenant", "since", "until" };

/* Appends "&KEY=VALUE" (LEN bytes of value, URI-encoded) to BUF. */
static int
append(char *buf, size_t len, const char *key, const char *v, size_t vlen)
{
	_cleanup_free_ char	*enc = evhttp_uriencode(v, (ev_ssize_t)vlen, 0);
	size_t			 off = strlen(buf);
	int			 n;

	if (!enc)
		return -BW_E_INVALID;
	n = snprintf(buf + off, len - off, "&%s=%s", key, enc);
	return n < 0 || (size_t)n >= len - off ? -BW_E_INVALID : 0;
}

int
caudq_path(const char *text, char *buf, size_t len, char **ret_err)
{
	const char	*p = text, *eq;
	size_t		 n, i, klen;

	if (snprintf(buf, len, "/v1/audit/records?limit=" CAUDQ_LIMIT) < 0)
		return -BW_E_INVALID;
	for (;;) {
		p += strspn(p, " ");
		if (!*p)
			return 0;
		n = strcspn(p, " ");
		eq = memchr(p, '=', n);
		klen = eq ? (size_t)(eq - p) : 0;
		for (i = 0; eq && i < ELEMENTSOF(terms); i++)
			if (strlen(terms[i]) == klen &&
			    strncmp(terms[i], p, klen) == 0)
				break;
		if (!eq || i == ELEMENTSOF(terms) || klen + 1 == n)
			return errf(-BW_E_INVALID, ret_err, "search: \"%.*s\" "
			    "is not one of action=, actor=, outcome=, kind=, "
			    "name=, tenant=, since=, until= with a value",
			    (int)(n > 40 ? 40 : n), p);
		if (append(buf, len, terms[i], eq + 1, n - klen - 1) < 0)
			return errf(-BW_E_INVALID, ret_err, "search: too long");
		p += n;
	}
}
