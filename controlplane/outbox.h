/* Audit records as audit-outbox entries (controlplane/store.h): the
 * commit pipeline stores each acknowledged mutation's record in the
 * same store transaction as the mutation, and appends it to the trail
 * from there. This module is the entry format and the check that tells
 * whether the trail already holds an entry's record. */
#ifndef BW_CONTROLPLANE_OUTBOX_H
#define BW_CONTROLPLANE_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "audit/record.h"

/* A decoded entry; REC's strings point into the same allocation. */
struct outbox_rec {
	uint64_t		 id;
	uint64_t		 seq_floor;	/* trail seq before it was appended */
	struct audit_record	 rec;
	char			 strings[];
};

/* Encodes REC (seq and time are not kept: the trail assigns them) with
 * SEQ_FLOOR, a trail sequence number below the one REC will get, into
 * *RET (free()) and *RET_LEN. Returns 0, -BW_E_INVALID (REC is not a
 * valid record) or -ENOMEM. */
int outbox_encode(const struct audit_record *rec, uint64_t seq_floor,
    void **ret, size_t *ret_len);

/* Decodes entry ID (P, LEN bytes) into *RET (free()). Returns 0 or
 * -BW_E_CORRUPT. */
int outbox_decode(uint64_t id, const void *p, size_t len,
    struct outbox_rec **ret);

/* Returns 1 when the canonical trail LINE (LEN bytes, no newline)
 * records exactly REC's fields (everything but seq, time and the chain),
 * 0 when not, or a negative error. */
int outbox_line_matches(const struct audit_record *rec, const char *line,
    size_t len);

#endif
