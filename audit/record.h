/* One audit record and its canonical, hash-chained line form.
 *
 * Every record is one line of printable ASCII: fixed keys in a fixed
 * order, values percent-encoded, a SHA-256 over everything before
 * " hash=". docs/audit-format.md describes the bytes exactly so that a
 * third party can check a trail without this code. */
#ifndef BW_AUDIT_RECORD_H
#define BW_AUDIT_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/buf.h"

struct audit_record {
	uint64_t	 seq;		/* assigned by the trail */
	struct timespec	 time;		/* assigned by the trail (UTC) */
	const char	*actor, *role, *tenant, *source, *auth_method;
	const char	*action;	/* "workload.create", "api.request", "auth.failure", ... */
	const char	*object_kind, *object_tenant, *object_name;
	uint64_t	 object_revision;
	const char	*outcome;	/* "success" | "denied" | "failure" | "error" */
	const char	*reason;
	const char	*controls;	/* comma list of 800-53 ids, "AU-2,AC-3" */
};

#define AUDIT_FORMAT_VERSION	1
#define AUDIT_HASH_LEN		32	/* SHA-256 */
#define AUDIT_HASH_HEX		64
#define AUDIT_TIME_LEN		30	/* 2024-05-01T12:00:00.123456789Z */
/* Longer values are cut and marked (see audit-format.md): a record is
 * never refused for its size, so a request is never unaudited. */
#define AUDIT_FIELD_MAX		2048
/* No valid line can be longer: 12 fields of at most 3 * (FIELD_MAX + 24)
 * bytes plus the fixed fields. Readers refuse longer lines. */
#define AUDIT_LINE_MAX		(96 * 1024)
#define AUDIT_SIG_MAX		256	/* DER ECDSA signature bytes */

/* Actions the trail writes itself. */
#define AUDIT_ACTION_CHECKPOINT	"audit.checkpoint"
#define AUDIT_ACTION_CKPT_FAIL	"audit.checkpoint_failed"
#define AUDIT_ACTION_START	"audit.start"
#define AUDIT_ACTION_STOP	"audit.stop"
#define AUDIT_ACTION_RECOVERY	"audit.recovery"
#define AUDIT_ACTION_RETENTION	"audit.retention"
#define AUDIT_ACTION_CAPACITY	"audit.capacity"
#define AUDIT_ACTION_FORWARD	"audit.forward"
#define AUDIT_ACTION_KEY_CHANGE	"audit.key_change"

/* A parsed line. The record's strings point into BUF (decoded, NUL
 * terminated); release with audit_line_done(). */
struct audit_line {
	struct audit_record	 rec;
	char			 prev[AUDIT_HASH_HEX + 1];
	char			 hash[AUDIT_HASH_HEX + 1];
	char			 key[AUDIT_HASH_HEX + 1];	/* checkpoints only, else "" */
	unsigned char		 sig[AUDIT_SIG_MAX];
	size_t			 siglen;
	size_t			 body_len;	/* bytes covered by the hash */
	size_t			 signed_len;	/* bytes covered by the signature */
	char			*buf;
};

/* Returns 0 when R may be written: ACTION non-empty and OUTCOME one of
 * the four outcomes; else -BW_E_INVALID. */
int audit_record_validate(const struct audit_record *r);

/* Appends to B the encoded middle of a line for R, from " actor=" to
 * the end of " controls=...", with a leading space. The trail composes
 * the rest (seq, time, prev, hash). Returns 0, -BW_E_INVALID, -ENOMEM. */
int audit_record_format_fields(const struct audit_record *r,
    struct bw_buf *b);

/* Appends VALUE (may be NULL = "") percent-encoded and, beyond
 * AUDIT_FIELD_MAX bytes, cut and marked. */
int audit_value_encode(struct bw_buf *b, const char *value);

/* Formats TS as RFC 3339 UTC with nanoseconds into BUF (31 bytes). */
void audit_time_format(const struct timespec *ts, char buf[AUDIT_TIME_LEN + 1]);

/* Parses exactly the form audit_time_format() writes. Returns 0 or
 * -BW_E_INVALID. */
int audit_time_parse(const char *s, size_t len, struct timespec *ret);

/* Parses one line (LEN bytes, without its '\n') strictly: keys, order,
 * canonical encoding, numbers, hex. Does not check the hash; see
 * audit_line_hash_ok(). On success fills *RET (release with
 * audit_line_done()). Returns 0, -BW_E_INVALID (with *RET_ERR when not
 * NULL) or -ENOMEM. */
int audit_line_parse(const char *line, size_t len, struct audit_line *ret,
    char **ret_err);
void audit_line_done(struct audit_line *l);

/* Returns 1 when SHA-256 of the first L->body_len bytes of LINE equals
 * L->hash, else 0. */
int audit_line_hash_ok(const char *line, const struct audit_line *l);

/* Reads the " hash=<64 hex>" that ends LINE even when the rest does not
 * parse, for the verifier's damage classification. Returns 0 and writes
 * 65 bytes to HEX, or -BW_E_INVALID. */
int audit_line_stated_hash(const char *line, size_t len,
    char hex[AUDIT_HASH_HEX + 1]);

/* Reads the "v=1 seq=N " prefix of LINE. Returns 0 or -BW_E_INVALID. */
int audit_line_peek_seq(const char *line, size_t len, uint64_t *ret_seq);

/* SHA-256 of P into OUT. Returns 0 or -BW_E_CRYPTO. */
int audit_sha256(const void *p, size_t n, unsigned char out[AUDIT_HASH_LEN]);
/* SHA-384 of P into OUT (48 bytes): the digest checkpoints sign. */
int audit_sha384(const void *p, size_t n, unsigned char out[48]);

/* The genesis prev_hash of seq 1: 64 '0'. */
extern const char audit_zero_hash[AUDIT_HASH_HEX + 1];

#endif
