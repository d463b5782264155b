/* The audit trail's facts for a compliance scan: its hash chain,
 * verified from where the last scan's verification stopped (AU-9,
 * AU-10), and how far back it reaches (AU-11). */
#ifndef BW_COMP_AUDIT_FACTS_H
#define BW_COMP_AUDIT_FACTS_H

#include <time.h>

#include "audit/verify.h"
#include "compliance/check.h"

/* What comp_audit_facts() measured; the facts point into it, so it must
 * outlive the scan that uses them. */
struct comp_audit_facts {
	/* Where this verification stopped. The caller keeps it where a
	 * tamperer cannot quietly move it forward (bulwarkd commits it
	 * with the scan's record, docs/audit-format.md section 7) and
	 * passes it to the next scan. When the chain was found damaged it
	 * is the mark that was given, unchanged. */
	struct audit_verify_mark	mark;
	int				intact;		/* 1 when verified */
	uint64_t			records;	/* records verified now */
	char				chain_detail[256];
};

/* Verifies the trail in DIR after FROM (NULL or seq 0: the whole trail;
 * see audit_verify_dir_from(), with DURABLE_SEQ as its mark_max: the
 * writer's last durable seq, which the walk must reach, 0 when the
 * trail is closed) with the NKEYS trusted checkpoint KEYS (not taken
 * over; the appliance's, never DIR's key file, which whoever rewrites
 * the trail can replace too; with none, DIR's key file: consistency
 * only), and measures its oldest record. Sets
 * F->audit_chain_intact and ->audit_chain_detail, ->audit_oldest_age_s
 * and ->audit_pruned (NOW is the scan's time). Returns 0 (whatever was
 * found: see RET->intact), or a negative error when DIR cannot be read
 * (the facts stay unknown). */
int comp_audit_facts(const char *dir, EVP_PKEY *const *keys, size_t nkeys,
    const struct audit_verify_mark *from, uint64_t durable_seq, time_t now, struct comp_facts *f,
    struct comp_audit_facts *ret);

/* The time of the oldest record in the trail DIR into *RET_TIME and
 * its seq into *RET_SEQ. Returns 0, -ENOENT when the trail holds no
 * record, or another negative error. */
int comp_audit_oldest(const char *dir, time_t *ret_time, uint64_t *ret_seq);

#endif
