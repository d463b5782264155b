/* Streaming search of an audit trail for `bulwark audit search`: reads
 * one segment at a time and calls back for each record that matches. */
#ifndef BW_AUDIT_SEARCH_H
#define BW_AUDIT_SEARCH_H

#include <stdint.h>
#include <time.h>

#include "audit/record.h"

/* Unset (NULL / 0) members match everything. String members match
 * exactly, or by prefix when they end in '*' ("workload.*"). */
struct audit_search_filter {
	const char	*actor, *action, *object_kind, *object_tenant,
			*object_name, *outcome, *tenant;
	struct timespec	 since, until;	/* inclusive; tv_sec == 0: open */
	uint64_t	 seq_from, seq_to; /* inclusive; 0: open */
	/* Optional: asked before each segment and every
	 * AUDIT_SEARCH_POLL_LINES lines, matching or not, so that a search
	 * that matches nothing in a long trail still stops soon when its
	 * caller goes away. A non-zero return ends the search with it. */
	int		(*cancelled)(void *userdata);
};

#define AUDIT_SEARCH_POLL_LINES	4096

/* Called for each match with the decoded record and its canonical line
 * (without '\n'); both valid only during the call. A non-zero return
 * stops the search and is returned by audit_search_dir(). */
typedef int (*audit_search_cb)(const struct audit_record *rec,
    const char *line, size_t len, void *userdata);

/* Returns 1 when REC matches F. */
int audit_search_match(const struct audit_search_filter *f,
    const struct audit_record *rec);

/* Searches the trail in DIR. Lines that do not parse are skipped (use
 * audit_verify_dir() for integrity). Returns 0, the callback's non-zero
 * value, or a negative error with *RET_ERR. */
int audit_search_dir(const char *dir, const struct audit_search_filter *f,
    audit_search_cb cb, void *userdata, char **ret_err);

#endif
