/* The audit trail browser of a security-auditor: its search, typed
 * after `f` as terms "action=A actor=P outcome=O since=T until=T"
 * (T an RFC 3339 UTC time), becomes a query of the audit search API
 * (/v1/audit/records); the records then list, filter and describe
 * like any other list. */
#ifndef BW_CONSOLE_AUDIT_VIEW_H
#define BW_CONSOLE_AUDIT_VIEW_H

#include <stddef.h>

#define CAUDQ_LIMIT	"5000"	/* records per search */

/* Makes the API path of the search TEXT into BUF (LEN bytes). Returns
 * 0, or -BW_E_INVALID with a message naming the bad term. */
int caudq_path(const char *text, char *buf, size_t len, char **ret_err);

#endif
