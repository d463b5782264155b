/* Offline verification of an audit trail: walks every segment in order
 * and names the first record that was altered, removed, inserted,
 * reordered or cut off, and any checkpoint whose signature is not the
 * trusted key's. Needs only the directory and a public key. */
#ifndef BW_AUDIT_VERIFY_H
#define BW_AUDIT_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "audit/record.h"
#include "audit/segment.h"

enum audit_damage {
	AUDIT_OK,
	AUDIT_MODIFIED,		/* a record's bytes do not match its hash */
	AUDIT_MISSING,		/* records absent from the sequence */
	AUDIT_INSERTED,		/* a record that does not belong to the chain */
	AUDIT_REORDERED,	/* records out of order */
	AUDIT_TRUNCATED,	/* a segment ends inside a record */
	AUDIT_BAD_SIGNATURE,	/* a checkpoint not signed by the trusted key */
	AUDIT_MALFORMED,	/* bytes that are not a record at all */
};

enum audit_key_source {
	AUDIT_KEY_NONE,		/* no key: checkpoint signatures not checked */
	AUDIT_KEY_TRAIL,	/* DIR/checkpoint-key.pem: consistent, not anchored */
	AUDIT_KEY_TRUSTED,	/* the key given by the caller */
};

/* Where a walk stopped: the last record it accepted, and where that
 * record's line ends, so a later walk can resume after it
 * (audit_verify_dir_from()). */
struct audit_verify_mark {
	uint64_t		 seq;		/* 0: nothing verified */
	char			 segment[AUDIT_SEG_NAME_LEN + 1];
	uint64_t		 offset;	/* bytes of SEGMENT through the record's LF */
	char			 hash[AUDIT_HASH_HEX + 1];
};

struct audit_verify_report {
	enum audit_damage	 damage;
	uint64_t		 bad_seq;	/* first bad seq, when damage != OK */
	char			*segment;	/* file where it was found (or NULL) */
	char			*message;	/* one sentence for people */
	uint64_t		 records, segments, checkpoints;
	uint64_t		 first_seq, last_seq;
	char			 head_hash[AUDIT_HASH_HEX + 1];
	enum audit_key_source	 key_source;
	uint64_t		 unsigned_tail;	/* records after the last good checkpoint */
	uint64_t		 recoveries;	/* audit.recovery records */
	int			 ended_cleanly;	/* the last record is audit.stop */
	struct audit_verify_mark mark;		/* the last record accepted */
	int			 resumed;	/* the walk started after a mark */
};

/* Returns the upper-case name of D ("MODIFIED", ...). */
const char *audit_damage_name(enum audit_damage d);

/* Verifies the trail in DIR. Checkpoints are checked against
 * TRUSTED_CHECKPOINT_KEY when given, else against DIR/checkpoint-key.pem
 * (which only proves consistency). Returns 0 when the walk completed,
 * whatever it found (see RET->damage), or a negative error when DIR
 * cannot be read. Release the report with audit_verify_report_done(). */
int audit_verify_dir(const char *dir, EVP_PKEY *trusted_checkpoint_key,
    struct audit_verify_report *ret);
/* The same with NKEYS trusted keys (not taken over): after the
 * appliance's checkpoint key changed, each checkpoint must verify with
 * the trusted key its `key` field names. With none, every key in
 * DIR/checkpoint-key.pem is used (consistency only). */
int audit_verify_dir_keys(const char *dir, EVP_PKEY *const *keys,
    size_t nkeys, struct audit_verify_report *ret);
/* The same walk resumed after FROM (NULL or seq 0: from the start), as
 * the compliance scan does: first the record FROM names must still be
 * in FROM->segment, ending at FROM->offset, with FROM->hash (else
 * MODIFIED, or TRUNCATED when the segment is shorter, at FROM->seq);
 * then only the records after it are checked, chained from its hash.
 * Records before FROM are not read: a full walk (FROM NULL) is what
 * finds damage there. When FROM->segment no longer exists (pruned), the
 * whole trail is walked. RET->mark is where the walk stopped: the last
 * record accepted, or with MARK_MAX > 0 the last one whose seq is at
 * most MARK_MAX (the writer's last durable seq, so that the mark never
 * names a record a failed commit or a power loss takes back). MARK_MAX
 * is also a floor: a walk (resumed or whole) that ends before it reports
 * MISSING at the first seq absent, since those records were durable.
 * With RET->resumed, RET->records counts only the records after FROM. */
int audit_verify_dir_from(const char *dir, EVP_PKEY *const *keys,
    size_t nkeys, const struct audit_verify_mark *from, uint64_t mark_max,
    struct audit_verify_report *ret);
void audit_verify_report_done(struct audit_verify_report *r);

/* The same walk fed segment by segment from memory (used by the fuzzer
 * and by evidence bundles). KEY may be NULL; it is not taken over. */
struct audit_verifier;
int audit_verifier_new(EVP_PKEY *key, enum audit_key_source src,
    struct audit_verifier **ret);
/* Trusts one more checkpoint key (at most AUDIT_KEYS_MAX; not taken
 * over). Returns 0, -BW_E_INVALID when full, or -BW_E_CRYPTO. */
int audit_verifier_add_key(struct audit_verifier *v, EVP_PKEY *key,
    enum audit_key_source src);
/* Feeds one segment (NAME, LEN bytes of DATA) in chain order; only the
 * last segment fed may end in NUL padding. Returns 1 once damage is
 * found (stop feeding), 0 to continue, or -ENOMEM. */
int audit_verifier_segment(struct audit_verifier *v, const char *name,
    const char *data, size_t len);
/* Completes the report into *RET (release with
 * audit_verify_report_done()). */
int audit_verifier_finish(struct audit_verifier *v,
    struct audit_verify_report *ret);
void audit_verifier_free(struct audit_verifier *v);

#endif
