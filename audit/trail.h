/* The audit trail writer: durable, group-committed, hash-chained
 * segment files with signed checkpoints (NIST AU-2..AU-12).
 *
 * One process writes a trail directory at a time (an flock on DIR/.lock).
 * Every record is written and fsynced before audit_trail_append()
 * returns; a record that cannot be made durable is refused so the caller
 * can refuse the action it describes (AU-5, fail closed). */
#ifndef BW_AUDIT_TRAIL_H
#define BW_AUDIT_TRAIL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "audit/record.h"
#include "audit/signer.h"

struct audit_trail;

struct audit_trail_options {
	const char	*dir;			/* created 0700 when missing */
	size_t		 segment_max_bytes;	/* rotate past this; 0 = 16 MiB */
	unsigned	 segment_max_seconds;	/* rotate when older; 0 = 86400 */
	unsigned	 checkpoint_every;	/* records; 0 = 10000 */
	unsigned	 checkpoint_interval_ms; /* 0 = 1000 */
	const struct audit_signer *signer;	/* NULL: no checkpoints (tests only) */
	int		 forward_libaudit;
	int		 forward_syslog;
	/* Retention (AU-11): whole segments, oldest first, never the one
	 * being written. Each pruned segment leaves an audit.retention
	 * record naming its last seq and hash, so verification still
	 * anchors the first remaining segment. 0 = keep. */
	unsigned	 retain_segments;	/* keep at most this many */
	unsigned	 retain_days;		/* prune segments last written earlier */
	unsigned	 capacity_warn_pct;	/* AU-5(1) threshold; 0 = 75 */
	/* Keep the live segment zero-filled 64 KiB to 1 MiB ahead of its
	 * last record (docs/audit-format.md, section 6): each commit's
	 * fdatasync then flushes data only, about twice as fast on ext4
	 * under concurrent writers. The live segment then ends in NUL
	 * bytes until rotation, close or recovery cuts them, so tools that
	 * read it as text must skip them (grep -a). 0 = off. */
	int		 preallocate;
	/* Extensions closer together than this double the step (0 = 100
	 * ms); a pause of ten times it, at least a second, resets it. Tests
	 * raise it so the adaptation they check does not depend on how
	 * fast a busy machine's fdatasync is. */
	unsigned	 pad_fast_ms;
	/* Run the trail's two commit threads (the ticker and the sync
	 * thread) at SCHED_FIFO priority 1 when the process may: under
	 * load a batch's fdatasync then starts as soon as the one before
	 * returns, instead of after the callers it just woke have had the
	 * CPUs. audit_status.realtime says whether it took. 0 = off. */
	int		 realtime;
};

#define AUDIT_DEFAULT_SEGMENT_MAX_BYTES		((size_t)16 << 20)
#define AUDIT_DEFAULT_SEGMENT_MAX_SECONDS	86400u
#define AUDIT_DEFAULT_CHECKPOINT_EVERY		10000u
#define AUDIT_DEFAULT_CHECKPOINT_INTERVAL_MS	1000u
#define AUDIT_DEFAULT_CAPACITY_WARN_PCT		75u

/* Opens (creating if needed) the trail in O->dir. Recovers from a crash
 * first: a torn tail of the last segment is cut off (the bytes are kept
 * in DIR/torn-*.bin) and an audit.recovery record says what was found.
 * Always starts a new segment, writes audit.start and a signed
 * checkpoint. Returns 0, or a negative error with *RET_ERR (-EBUSY when
 * another process holds the trail, -BW_E_CORRUPT when the last segment
 * is damaged other than by a torn write, -BW_E_AUDIT when the first
 * records cannot be made durable). */
int audit_trail_open(const struct audit_trail_options *o,
    struct audit_trail **ret, char **ret_err);

/* Appends N records durably (written and fsynced) before returning,
 * and fills each record's seq and time. Thread-safe: concurrent callers
 * are group-committed (one write+fsync for everything queued). Returns 0
 * and *RET_LAST_SEQ (may be NULL); -BW_E_INVALID when a record lacks an
 * action or has an unknown outcome (nothing written); or -BW_E_AUDIT if
 * they could not be made durable, in which case NONE of them is part of
 * the chain and the trail is left consistent (partial bytes removed)
 * so a later append can succeed once space is freed. */
int audit_trail_append(struct audit_trail *t, struct audit_record *recs,
    size_t n, uint64_t *ret_last_seq);

struct audit_status {
	int		healthy;	/* the last commit succeeded */
	int		last_errno;	/* errno of the most recent failure, 0 if none */
	double		fs_used_pct;	/* of the trail's filesystem */
	int		capacity_warning; /* fs_used_pct >= capacity_warn_pct */
	uint64_t	last_seq;
	char		head_hash[65];
	int		libaudit_ok;	/* forwarding to libaudit works */
	int		syslog_ok;	/* forwarding to syslog has a socket */
	uint64_t	failed_commits;
	uint64_t	forward_dropped;
	uint64_t	checkpoints;	/* written by this process */
	uint64_t	checkpoint_failures;
	int		realtime;	/* commit threads at SCHED_FIFO (options.realtime) */
	unsigned	retain_segments; /* the retention options; 0 = keep */
	unsigned	retain_days;
};

void audit_trail_status(struct audit_trail *t, struct audit_status *ret);

/* The trail's disk use for /metrics, read now: the bytes of its segment
 * files and the free (for an unprivileged writer) and total bytes of
 * their filesystem. Lists the directory, so call it from a scrape, not
 * a hot path. Returns 0 or -errno. */
struct audit_disk {
	uint64_t	trail_bytes;
	uint64_t	fs_avail_bytes;
	uint64_t	fs_size_bytes;
};
int audit_trail_disk(struct audit_trail *t, struct audit_disk *ret);

/* The histogram of the trail's fdatasync() durations (seconds), for
 * /metrics; valid until audit_trail_close(). */
struct hist;
const struct hist *audit_trail_fsync_hist(const struct audit_trail *t);

/* Writes audit.stop and a final signed checkpoint, then frees T.
 * Callers must have returned from audit_trail_append(). Accepts NULL. */
void audit_trail_close(struct audit_trail *t);

#endif
