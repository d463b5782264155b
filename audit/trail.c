#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "audit/forward.h"
#include "audit/segment.h"
#include "audit/trail.h"
#include "lib/b64.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/hist.h"
#include "lib/json.h"
#include "lib/macro.h"

#define TRAIL_ACTOR	"bulwark-audit"
#define CAPACITY_CHECK_MS 200
#define GATHER_US	200
#define COMPOSE_AT	75
/* The live segment is kept zero-filled ahead of its last record, so a
 * commit overwrites blocks that already exist and its fdatasync flushes
 * data only, not a new file size and block map as well (on ext4, half
 * the cost of an appending fdatasync of a batch). A new segment gets
 * TRAIL_PREALLOC of padding. Each extension still costs the fdatasync
 * that carries it those two extra writes: at 64 KiB a step, a trail
 * taking tens of MB/s spent a tenth of its disk time on them. So while
 * extensions come less than PAD_FAST_MS apart the step doubles, up to
 * PAD_STEP_MAX, and after a quiet PAD_SLOW_MS it is back to
 * TRAIL_PREALLOC. Padding never exceeds PAD_STEP_MAX
 * (docs/audit-format.md, section 2). */
#define TRAIL_PREALLOC	((size_t)64 << 10)
#define PAD_STEP_MAX	((uint64_t)1 << 20)
#define PAD_FAST_MS	100
#define PAD_SLOW_MS	1000

static const char zeros[TRAIL_PREALLOC];

struct pending {
	char	*fields;
	size_t	 len;
};

struct waiter {
	struct audit_record	*recs;
	size_t			 n;
	struct bw_buf		 fields;
	size_t			*offs;		/* n + 1 offsets into fields */
	int			 result;
	atomic_int		 done;		/* set last, by the leader */
	uint64_t		 last_seq;
	struct timespec		 time;		/* of its lines, when streamed */
	uint64_t		 gen;		/* the batch it joined */
	struct waiter		*next;
};

struct batch {
	struct waiter	*waiters;
	struct pending	*internal;
	size_t		 ninternal;
	int		 force_ckpt;
	char		*prune[64];	/* segment names to unlink once durable */
	size_t		 nprune;
};

struct audit_trail {
	struct audit_trail_options o;
	char		*dir;
	int		 dirfd, lockfd;
	char		 key_id[AUDIT_HASH_HEX + 1];

	pthread_mutex_t	 mu;
	pthread_cond_t	 tick_cv, idle_cv;
	pthread_t	 ticker;
	int		 ticker_started;
	/* The queue has a lock of its own, held only for a few stores, so
	 * writers queue and go to sleep without touching MU, which the
	 * leader holds while it wakes the previous batch. Lock order: MU,
	 * then QMU. Under QMU: the queue, open_gen, closing, handoff and
	 * flushing (1 while one thread holds the leader role: a writer,
	 * the ticker, or open/close). */
	pthread_mutex_t	 qmu;
	struct waiter	*qhead, **qtail;
	int		 flushing, closing;
	/* Batches are numbered; waiters of batch G sleep on wake[G % 4],
	 * which the leader bumps and wakes once when G is done (or when the
	 * queue is left without a leader). At most three batches have
	 * waiters at a time (one being acknowledged, one being synced while
	 * streaming, one filling), so four words keep one batch's wake-up
	 * from rousing another batch's waiters. */
	uint64_t	 open_gen;		/* the batch new waiters join */
	atomic_uint	 wake[4];
	/* Set when a batch is done: the leader wakes one of its waiters,
	 * which wakes the others, so the leader goes on to the next
	 * fdatasync instead of spending its time on the wake-ups. */
	atomic_int	 relay[4];
	/* The leader passed the role to the ticker thread, which keeps
	 * committing while writers keep coming. Also under MU (the ticker
	 * reads it there before it sleeps on TICK_CV). */
	int		 handoff;
	size_t		 qlen;		/* writers queued */
	size_t		 qwant;		/* the ticker waits for this many */
	atomic_uint	 gather_word;	/* bumped when qlen reaches qwant */

	/* The sync thread: while it runs one fdatasync, the ticker
	 * composes and writes the next batch (stream()). Under SMU. */
	pthread_mutex_t	 smu;
	pthread_cond_t	 sync_cv, synced_cv;
	pthread_t	 syncer;
	int		 syncer_started;
	int		 sync_req, sync_busy, sync_quit, sync_result;
	uint64_t	 sync_began_ns;	/* of the fdatasync in flight */
	uint64_t	 sync_avg_ns;	/* moving average of their lengths */
	struct hist	 fsync_ns;	/* every commit's fdatasync */
	size_t		 last_batch;	/* writers in the last commit */
	struct pending	*internal;
	size_t		 ninternal, capinternal;
	int		 force_ckpt;
	char		*prune[64];	/* planned by retention, under MU */
	size_t		 nprune;

	/* Published under MU after each commit. */
	struct audit_status st;

	/* Owned by the leader (flushing == 1), or by open/close. */
	int		 segfd;
	uint64_t	 seg_first_seq;
	uint64_t	 seg_size;	/* header and records */
	uint64_t	 seg_alloc;	/* file size: seg_size + NUL padding */
	uint64_t	 pad_step;	/* the next extension (pad_extend()) */
	uint64_t	 pad_last_ms;	/* when the padding was last extended */
	uint64_t	 seg_opened_ms;
	uint64_t	 last_seq;
	char		 last_hash[AUDIT_HASH_HEX + 1];
	uint64_t	 since_ckpt;
	uint64_t	 last_ckpt_ms;
	uint64_t	 last_cap_ms;
	int		 cap_warned;
	int		 tail_dirty;
	struct bw_buf wbuf;
	size_t		*line_offs;
	size_t		 cap_line_offs;

	struct audit_forward *fwd;
};

static void
futex_wait(atomic_uint *word, unsigned seen)
{
	/* Returns at once when *WORD is no longer SEEN; every caller
	 * re-checks its condition, so EINTR and spurious wake-ups are
	 * harmless. */
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

/* Wakes waiters of batch GEN: all of them, or with RELAY one, which
 * wakes the rest (waiter_relay()). A waiter reads the word before it
 * checks whether it is done, and the word moves after every waiter of
 * GEN is marked done, so no waiter sleeps through its batch's end. */
static void
wake_batch(struct audit_trail *t, uint64_t gen, int relay)
{
	atomic_uint *word = &t->wake[gen & 3];

	if (relay)
		atomic_store(&t->relay[gen & 3], 1);
	atomic_fetch_add(word, 1);
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, relay ? 1 : INT_MAX, NULL,
	    NULL, 0);
}

static void
waiter_relay(struct audit_trail *t, uint64_t gen)
{
	if (atomic_exchange(&t->relay[gen & 3], 0))
		syscall(SYS_futex, &t->wake[gen & 3], FUTEX_WAKE_PRIVATE, INT_MAX,
		    NULL, NULL, 0);
}

/* Queues a record the trail writes about itself; it goes out with the
 * next commit, before the callers' records. Called with MU held or
 * before other threads exist. */
static int
internal_add(struct audit_trail *t, const char *action, const char *outcome,
    const char *okind, const char *oname, uint64_t orev, const char *reason,
    const char *controls)
{
	struct bw_buf		b = { 0 };
	struct audit_record	rec = {
		.actor = TRAIL_ACTOR, .action = action, .outcome = outcome,
		.object_kind = okind, .object_name = oname,
		.object_revision = orev, .reason = reason, .controls = controls,
	};
	int r;

	if ((r = audit_record_format_fields(&rec, &b)) < 0)
		return r;
	if (t->ninternal == t->capinternal) {
		size_t		 ncap = t->capinternal ? t->capinternal * 2 : 8;
		struct pending	*np = realloc(t->internal, ncap * sizeof(*np));

		if (!np) {
			bw_buf_done(&b);
			return -ENOMEM;
		}
		t->internal = np;
		t->capinternal = ncap;
	}
	t->internal[t->ninternal++] = (struct pending){ b.p, b.len };
	return 0;
}

/* Under load the two commit threads share the CPUs with every caller
 * they wake; at the default policy a batch's fdatasync would wait behind
 * those callers for a CPU. At SCHED_FIFO 1 they run as soon as they are
 * runnable; both only ever run briefly between sleeps on the disk or on
 * the queue, and the kernel's real-time throttling still bounds them.
 * Needs CAP_SYS_NICE (or RLIMIT_RTPRIO); without it the threads keep the
 * default policy and audit_status.realtime says so. Without either the
 * call is not even made: a service manager that restricts real-time
 * scheduling (RestrictRealtime=, SystemCallFilter=~@resources) may kill
 * the process for asking. */
static bool
realtime_allowed(void)
{
	struct __user_cap_header_struct	h = {
		.version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct	d[2] = { { 0 } };
	struct rlimit			rl;

	if (getrlimit(RLIMIT_RTPRIO, &rl) == 0 && rl.rlim_cur >= 1)
		return true;
	return syscall(SYS_capget, &h, d) == 0 &&
	    (d[0].effective & (1u << CAP_SYS_NICE));
}

static void
set_realtime(struct audit_trail *t)
{
	struct sched_param sp = { .sched_priority = 1 };

	if (!realtime_allowed() ||
	    pthread_setschedparam(t->syncer, SCHED_FIFO, &sp) != 0)
		return;
	if (pthread_setschedparam(t->ticker, SCHED_FIFO, &sp) != 0) {
		sp.sched_priority = 0;
		(void)pthread_setschedparam(t->syncer, SCHED_OTHER, &sp);
		return;
	}
	pthread_mutex_lock(&t->mu);
	t->st.realtime = 1;
	pthread_mutex_unlock(&t->mu);
}

static void
pending_free(struct pending *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i].fields);
	free(p);
}

/* Moves the trail's queued records into B, after B's own. Called with
 * MU held. */
static int
batch_take_internal(struct audit_trail *t, struct batch *b)
{
	struct pending *np;

	if (t->nprune && !b->nprune) {
		memcpy(b->prune, t->prune, sizeof(b->prune));
		b->nprune = t->nprune;
		t->nprune = 0;
	}
	if (!t->ninternal)
		return 0;
	if (!(np = realloc(b->internal, (b->ninternal + t->ninternal) *
	    sizeof(*np))))
		return -ENOMEM;
	memcpy(np + b->ninternal, t->internal, t->ninternal * sizeof(*np));
	b->internal = np;
	b->ninternal += t->ninternal;
	t->ninternal = 0;
	return 0;
}

/* Appends one complete line to the write buffer and advances *SEQ and
 * PREV (in/out, hex). KEY_ID non-NULL makes it a signed checkpoint. */
static int
compose_line(struct audit_trail *t, struct bw_buf *b, uint64_t seq,
    const char *timestr, const char *fields, size_t flen,
    char prev[AUDIT_HASH_HEX + 1], const char *key_id)
{
	size_t		 start = b->len;
	unsigned char	 h[AUDIT_HASH_LEN];
	int		 r;

	if ((r = bw_buf_append(b, "v=1 seq=", 8)) < 0 ||
	    (r = bw_buf_append_u64(b, seq)) < 0 ||
	    (r = bw_buf_append(b, " time=", 6)) < 0 ||
	    (r = bw_buf_append(b, timestr, AUDIT_TIME_LEN)) < 0 ||
	    (r = bw_buf_append(b, fields, flen)) < 0 ||
	    (r = bw_buf_append(b, " prev=", 6)) < 0 ||
	    (r = bw_buf_append(b, prev, AUDIT_HASH_HEX)) < 0)
		return r;
	if (key_id) {
		_cleanup_free_ unsigned char *sig = NULL;
		_cleanup_free_ char *sighex = NULL;
		size_t siglen = 0;

		if ((r = bw_buf_append(b, " key=", 5)) < 0 ||
		    (r = bw_buf_append(b, key_id, AUDIT_HASH_HEX)) < 0)
			return r;
		if ((r = audit_checkpoint_sign(t->o.signer, b->p + start,
		    b->len - start, &sig, &siglen)) < 0)
			return r;
		if (siglen == 0 || siglen > AUDIT_SIG_MAX)
			return -BW_E_CRYPTO;
		if (!(sighex = malloc(2 * siglen + 1)))
			return -ENOMEM;
		hex_encode(sig, siglen, sighex);
		if ((r = bw_buf_append(b, " sig=", 5)) < 0 ||
		    (r = bw_buf_append(b, sighex, 2 * siglen)) < 0)
			return r;
	}
	if ((r = audit_sha256(b->p + start, b->len - start, h)) < 0)
		return r;
	hex_encode(h, sizeof(h), prev);
	if ((r = bw_buf_append(b, " hash=", 6)) < 0 ||
	    (r = bw_buf_append(b, prev, AUDIT_HASH_HEX)) < 0)
		return r;
	return bw_buf_append(b, "\n", 1);
}

static int
line_offs_push(struct audit_trail *t, size_t *n, size_t off)
{
	if (*n == t->cap_line_offs) {
		size_t	 ncap = t->cap_line_offs * 2;
		size_t	*np = realloc(t->line_offs, ncap * sizeof(*np));

		if (!np)
			return -ENOMEM;
		t->line_offs = np;
		t->cap_line_offs = ncap;
	}
	t->line_offs[(*n)++] = off;
	return 0;
}

/* Cuts the live segment's padding so it ends with its last record, as
 * every segment but the live one must. */
static int
trim_padding(struct audit_trail *t)
{
	if (t->segfd < 0 || t->seg_alloc == t->seg_size)
		return 0;
	if (ftruncate(t->segfd, (off_t)t->seg_size) < 0 || fdatasync(t->segfd) < 0)
		return -errno;
	t->seg_alloc = t->seg_size;
	return 0;
}

/* Extends the padding of the live segment, whose lines now run to END
 * past its allocation, and sets *ALLOC to the new file size (a multiple
 * of TRAIL_PREALLOC past END). The step adapts to the rate (see
 * TRAIL_PREALLOC). A step the filesystem has no room for is retried at
 * the least that covers END, so a nearly full disk refuses only the
 * commits that cannot fit. On failure the caller cuts the file back. */
static int
pad_extend(struct audit_trail *t, uint64_t end, uint64_t *alloc)
{
	uint64_t	now = bw_mono_ms(), base = end - end % TRAIL_PREALLOC;
	uint64_t	fast = t->o.pad_fast_ms ? t->o.pad_fast_ms : PAD_FAST_MS;
	uint64_t	slow = fast * 10 > PAD_SLOW_MS ? fast * 10 : PAD_SLOW_MS;
	uint64_t	to, at;
	int		r = 0;

	if (t->pad_step < TRAIL_PREALLOC || now - t->pad_last_ms >= slow)
		t->pad_step = TRAIL_PREALLOC;
	else if (now - t->pad_last_ms < fast && t->pad_step < PAD_STEP_MAX)
		t->pad_step *= 2;
	t->pad_last_ms = now;
	to = base + t->pad_step;
	for (at = end; at < to && r == 0; at += TRAIL_PREALLOC - at % TRAIL_PREALLOC)
		r = pwrite_all(t->segfd, zeros, TRAIL_PREALLOC - at % TRAIL_PREALLOC,
		    (off_t)at);
	if (r == -ENOSPC && t->pad_step > TRAIL_PREALLOC) {
		t->pad_step = TRAIL_PREALLOC;
		to = base + TRAIL_PREALLOC;
		if (ftruncate(t->segfd, (off_t)end) < 0)
			return -errno;
		r = pwrite_all(t->segfd, zeros, to - end, (off_t)end);
	}
	if (r == 0)
		*alloc = to;
	return r;
}

/* Starts a new segment for seq LAST_SEQ + 1: header and padding
 * written, file and directory fsynced, or nothing left behind. */
static int
rotate(struct audit_trail *t)
{
	char			 name[AUDIT_SEG_NAME_LEN + 1];
	struct bw_buf		 hdr = { 0 };
	size_t			 pad = t->o.preallocate ? sizeof(zeros) : 0;
	int			 fd, r;

	if ((r = trim_padding(t)) < 0)
		return r;
	audit_segment_name(t->last_seq + 1, name);
	if ((r = audit_segment_header_format(&hdr, t->last_seq + 1,
	    t->last_hash)) < 0)
		return r;
	fd = openat(t->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		bw_buf_done(&hdr);
		return r;
	}
	if ((r = pwrite_all(fd, hdr.p, hdr.len, 0)) < 0 ||
	    (r = pwrite_all(fd, zeros, pad, (off_t)hdr.len)) < 0 ||
	    (fdatasync(fd) < 0 && (r = -errno)) ||
	    (fsync(t->dirfd) < 0 && (r = -errno))) {
		close(fd);
		unlinkat(t->dirfd, name, 0);
		fsync(t->dirfd);
		bw_buf_done(&hdr);
		return r < 0 ? r : -EIO;
	}
	if (t->segfd >= 0)
		close(t->segfd);
	t->segfd = fd;
	t->seg_first_seq = t->last_seq + 1;
	t->seg_size = hdr.len;
	t->seg_alloc = hdr.len + pad;
	t->seg_opened_ms = bw_mono_ms();
	bw_buf_done(&hdr);
	return 0;
}

/* Picks the oldest segments the retention settings let go, and queues
 * one audit.retention record for each, naming its last seq and hash
 * (read from the next segment's header). The files are unlinked only
 * after those records are durable. Called with MU held. */
static int
retention_plan(struct audit_trail *t)
{
	char	**names = NULL;
	size_t	  n = 0, drop = 0;
	time_t	  now = time(NULL);
	int	  r;

	if ((!t->o.retain_segments && !t->o.retain_days) || t->nprune)
		return 0;
	if ((r = audit_segment_list(t->dirfd, &names, &n)) < 0)
		return r;
	/* Never the last segment (being written). */
	while (drop + 1 < n) {
		struct stat st;
		int old = 0, many = 0;

		if (t->o.retain_segments && n - drop > t->o.retain_segments)
			many = 1;
		if (t->o.retain_days &&
		    fstatat(t->dirfd, names[drop], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_mtime + (time_t)t->o.retain_days * 86400 < now)
			old = 1;
		if (!many && !old)
			break;
		drop++;
	}
	for (size_t i = 0; i < drop; i++) {
		char		 hdr[160], prev[AUDIT_HASH_HEX + 1], reason[200];
		uint64_t	 first;
		size_t		 hl;
		ssize_t		 got;
		int		 fd;

		fd = openat(t->dirfd, names[i + 1], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			break;
		got = pread(fd, hdr, sizeof(hdr), 0);
		close(fd);
		if (got <= 0 || audit_segment_header_parse(hdr, (size_t)got, &first,
		    prev, &hl) < 0 || first < 2)
			break;
		snprintf(reason, sizeof(reason),
		    "segment pruned by retention policy; last_hash=%s", prev);
		if ((r = internal_add(t, AUDIT_ACTION_RETENTION, "success",
		    "audit-segment", names[i], first - 1, reason, "AU-11")) < 0)
			break;
		if (t->nprune == ELEMENTSOF(t->prune))
			break;
		if (!(t->prune[t->nprune] = strdup(names[i])))
			break;
		t->nprune++;
	}
	audit_segment_list_free(names, n);
	return 0;
}

static void
capacity_check(struct audit_trail *t, int force)
{
	struct statvfs	sv;
	uint64_t	now = bw_mono_ms();
	double		pct;
	char		reason[160];
	unsigned	warn = t->o.capacity_warn_pct;

	if (!force && now - t->last_cap_ms < CAPACITY_CHECK_MS && t->last_cap_ms)
		return;
	t->last_cap_ms = now;
	if (fstatvfs(t->segfd, &sv) < 0 || sv.f_blocks == 0)
		return;
	{
		double used = (double)(sv.f_blocks - sv.f_bfree);
		double avail = (double)sv.f_bavail;

		pct = used + avail > 0 ? 100.0 * used / (used + avail) : 100.0;
	}
	pthread_mutex_lock(&t->mu);
	t->st.fs_used_pct = pct;
	t->st.capacity_warning = pct >= warn;
	if (pct >= warn && !t->cap_warned) {
		snprintf(reason, sizeof(reason),
		    "audit storage %.1f%% used, at or above the %u%% warning "
		    "threshold", pct, warn);
		if (internal_add(t, AUDIT_ACTION_CAPACITY, "failure",
		    "audit-trail", NULL, 0, reason, "AU-5,AU-5(1)") == 0)
			t->cap_warned = 1;
	} else if (pct < warn) {
		t->cap_warned = 0;
	}
	pthread_mutex_unlock(&t->mu);
}

/* What one commit carries from step to step: the batch's time, the
 * chain head and sequence as lines are composed, and the checkpoint's
 * outcome. */
struct commit_state {
	struct timespec	 now;
	char		 timestr[AUDIT_TIME_LEN + 1];
	char		 prev[AUDIT_HASH_HEX + 1];
	uint64_t	 seq, nrec, now_ms;
	size_t		 nlines;
	int		 ckpt, ckpt_failed;
};

/* Readies the segment for the batch B: cuts back a tail a failed commit
 * left, rotates (and plans retention) when the segment is full or old,
 * and takes the records those queued into B. */
static int
commit_prepare(struct audit_trail *t, struct batch *b, uint64_t now_ms)
{
	int	 r;

	if (t->tail_dirty) {
		if (ftruncate(t->segfd, (off_t)t->seg_size) < 0 ||
		    fdatasync(t->segfd) < 0)
			return -errno;
		t->seg_alloc = t->seg_size;
		t->tail_dirty = 0;
	}
	/* Rotate only a segment that holds records, so its name (the first
	 * seq) stays unique. */
	if (t->last_seq + 1 != t->seg_first_seq &&
	    (t->seg_size >= t->o.segment_max_bytes ||
	    now_ms - t->seg_opened_ms >= (uint64_t)t->o.segment_max_seconds * 1000)) {
		if ((r = rotate(t)) < 0)
			return r;
		pthread_mutex_lock(&t->mu);
		r = retention_plan(t);
		pthread_mutex_unlock(&t->mu);
		if (r < 0)
			return r;
	}
	/* Records queued by rotation and retention go out in this batch. */
	pthread_mutex_lock(&t->mu);
	r = batch_take_internal(t, b);
	pthread_mutex_unlock(&t->mu);
	return r;
}

/* Composes the lines of B's records into t->wbuf, internal ones first,
 * chaining them from the current head. */
static int
commit_compose(struct audit_trail *t, struct batch *b, struct commit_state *c)
{
	int	 r;

	t->wbuf.len = 0;
	memcpy(c->prev, t->last_hash, sizeof(c->prev));
	for (size_t i = 0; i < b->ninternal; i++) {
		if ((r = line_offs_push(t, &c->nlines, t->wbuf.len)) < 0 ||
		    (r = compose_line(t, &t->wbuf, ++c->seq, c->timestr,
		    b->internal[i].fields, b->internal[i].len, c->prev,
		    NULL)) < 0)
			return r;
	}
	for (struct waiter *w = b->waiters; w; w = w->next) {
		for (size_t i = 0; i < w->n; i++) {
			if ((r = line_offs_push(t, &c->nlines, t->wbuf.len)) < 0 ||
			    (r = compose_line(t, &t->wbuf, ++c->seq, c->timestr,
			    w->fields.p + w->offs[i], w->offs[i + 1] - w->offs[i],
			    c->prev, NULL)) < 0)
				return r;
		}
	}
	c->nrec = c->seq - t->last_seq;
	return 0;
}

/* Appends a signed checkpoint line when one is due (or B forces one).
 * The signer failing (a TPM that went away) does not fail the commit:
 * the records are still written, and the failure is a record of its
 * own in the checkpoint's place, never silent. */
static int
commit_checkpoint(struct audit_trail *t, struct batch *b,
    struct commit_state *c)
{
	struct bw_buf		f = { 0 };
	struct audit_record	cr = {
		.actor = TRAIL_ACTOR, .action = AUDIT_ACTION_CHECKPOINT,
		.object_kind = "audit-trail", .outcome = "success",
		.controls = "AU-9,AU-9(3),AU-10",
	};
	struct audit_record	fr;
	struct bw_buf		ff = { 0 };
	char	reason[96], save[AUDIT_HASH_HEX + 1];
	size_t	mark = t->wbuf.len;
	int	r;

	if (!t->o.signer || !(b->force_ckpt || (t->since_ckpt + c->nrec > 0 &&
	    (t->since_ckpt + c->nrec >= t->o.checkpoint_every ||
	    c->now_ms - t->last_ckpt_ms >= t->o.checkpoint_interval_ms))))
		return 0;
	snprintf(reason, sizeof(reason),
	    "signed chain head; %" PRIu64 " records since the previous checkpoint",
	    t->since_ckpt + c->nrec);
	cr.reason = reason;
	if ((r = audit_record_format_fields(&cr, &f)) < 0)
		return r;
	if ((r = line_offs_push(t, &c->nlines, t->wbuf.len)) < 0) {
		bw_buf_done(&f);
		return r;
	}
	memcpy(save, c->prev, sizeof(save));
	r = compose_line(t, &t->wbuf, c->seq + 1, c->timestr, f.p, f.len,
	    c->prev, t->key_id);
	bw_buf_done(&f);
	if (r == -ENOMEM || r == -EFBIG)
		return r;
	if (r == 0) {
		c->ckpt = 1;
		c->seq++;
		return 0;
	}
	t->wbuf.len = mark;
	memcpy(c->prev, save, sizeof(save));
	fr = cr;
	fr.action = AUDIT_ACTION_CKPT_FAIL;
	fr.outcome = "error";
	fr.reason = "checkpoint signing failed";
	if ((r = audit_record_format_fields(&fr, &ff)) < 0)
		return r;
	r = compose_line(t, &t->wbuf, c->seq + 1, c->timestr, ff.p, ff.len,
	    c->prev, NULL);
	bw_buf_done(&ff);
	if (r < 0)
		return r;
	c->ckpt_failed = 1;
	c->seq++;
	return 0;
}

/* Writes t->wbuf at the segment's end as one write + fdatasync. On
 * failure nothing of it stays in the file (or the next commit cuts it
 * back first). */
static int
commit_write(struct audit_trail *t)
{
	uint64_t end = t->seg_size + t->wbuf.len;
	uint64_t alloc = t->seg_alloc;
	uint64_t used, t0;
	int	 r;

	r = pwrite_all(t->segfd, t->wbuf.p, t->wbuf.len, (off_t)t->seg_size);
	/* Past the padding: extend it in the same fdatasync. */
	if (r == 0 && end > alloc && t->o.preallocate)
		r = pad_extend(t, end, &alloc);
	t0 = bw_mono_ns();
	if (r == 0 && fdatasync(t->segfd) < 0)
		r = -errno;
	if (r == 0)
		hist_observe_since(&t->fsync_ns, t0);
	if (r < 0) {
		/* Put the padding back over what may have reached the
		 * file, so the next commit starts from the last
		 * durable record and the blocks stay reserved (a full
		 * disk fails only the commits that need more). If even
		 * that fails, the next commit cuts the file back
		 * before writing anything. */
		used = (end < t->seg_alloc ? end : t->seg_alloc) - t->seg_size;
		if (ftruncate(t->segfd, (off_t)t->seg_alloc) < 0 ||
		    pwrite_all(t->segfd, zeros, used, (off_t)t->seg_size) < 0 ||
		    fdatasync(t->segfd) < 0)
			t->tail_dirty = 1;
		return r;
	}
	t->seg_alloc = alloc > end ? alloc : end;
	return 0;
}

/* Once the batch is durable: moves the head, hands each waiter its
 * records' seq and time, forwards the lines, and unlinks the segments
 * retention pruned (their audit.retention records are now durable). */
static void
commit_publish(struct audit_trail *t, struct batch *b,
    const struct commit_state *c)
{
	uint64_t seq;

	t->seg_size += t->wbuf.len;
	seq = t->last_seq;
	t->last_seq += c->nrec + (uint64_t)(c->ckpt || c->ckpt_failed);
	memcpy(t->last_hash, c->prev, sizeof(c->prev));
	if (c->ckpt) {
		t->since_ckpt = 0;
		t->last_ckpt_ms = c->now_ms;
	} else {
		t->since_ckpt += c->nrec + (uint64_t)c->ckpt_failed;
		if (c->ckpt_failed)
			t->last_ckpt_ms = c->now_ms;
	}
	seq += b->ninternal;
	for (struct waiter *w = b->waiters; w; w = w->next) {
		for (size_t i = 0; i < w->n; i++) {
			w->recs[i].seq = ++seq;
			w->recs[i].time = c->now;
		}
		w->last_seq = seq;
	}
	if (t->fwd) {
		for (size_t i = 0; i < c->nlines; i++) {
			size_t		 end = i + 1 < c->nlines ?
			    t->line_offs[i + 1] : t->wbuf.len;
			size_t		 ll = end - t->line_offs[i] - 1;
			const char	*l = t->wbuf.p + t->line_offs[i];

			audit_forward_push(t->fwd, l, ll,
			    memmem(l, ll, " outcome=success ", 17) != NULL);
		}
	}
	if (b->nprune) {
		for (size_t i = 0; i < b->nprune; i++)
			unlinkat(t->dirfd, b->prune[i], 0);
		fsync(t->dirfd);
	}
	pthread_mutex_lock(&t->mu);
	t->st.checkpoints += (uint64_t)c->ckpt;
	t->st.checkpoint_failures += (uint64_t)c->ckpt_failed;
	pthread_mutex_unlock(&t->mu);
}

/* Writes everything in B as one write + fdatasync. Runs without MU,
 * as the only leader. On failure nothing of B stays in the file. */
static int
commit(struct audit_trail *t, struct batch *b)
{
	struct commit_state c = { .seq = t->last_seq, .now_ms = bw_mono_ms() };
	int	 r;

	clock_gettime(CLOCK_REALTIME, &c.now);
	audit_time_format(&c.now, c.timestr);
	if ((r = commit_prepare(t, b, c.now_ms)) < 0 ||
	    (r = commit_compose(t, b, &c)) < 0 ||
	    (r = commit_checkpoint(t, b, &c)) < 0)
		return r;
	if (t->wbuf.len == 0)
		return 0;
	if ((r = commit_write(t)) < 0)
		return r;
	/* Durable: publish. */
	commit_publish(t, b, &c);
	capacity_check(t, 0);
	return 0;
}

/* Takes the leader role when nobody holds it. Called with QMU held.
 * Returns 1 when the caller now leads. */
static int
leader_claim_locked(struct audit_trail *t)
{
	if (t->flushing)
		return 0;
	t->flushing = 1;
	return 1;
}

/* Takes everything queued and commits it. Called by the holder of the
 * leader role, with MU held; drops it around the write. RELAY is set
 * when the ticker thread calls: it wakes one waiter of the batch, which
 * wakes the others, so the ticker goes on to the next commit. */
static int
leader_flush(struct audit_trail *t, int relay)
{
	struct batch	 b = { 0 };
	struct waiter	*next;
	uint64_t	 gen;
	int		 r;

	pthread_mutex_lock(&t->qmu);
	gen = t->open_gen++;
	b.waiters = t->qhead;
	t->last_batch = t->qlen;
	t->qlen = 0;
	t->qhead = NULL;
	t->qtail = &t->qhead;
	pthread_mutex_unlock(&t->qmu);
	b.internal = t->internal;
	b.ninternal = t->ninternal;
	t->internal = NULL;
	t->ninternal = t->capinternal = 0;
	memcpy(b.prune, t->prune, sizeof(b.prune));
	b.nprune = t->nprune;
	t->nprune = 0;
	b.force_ckpt = t->force_ckpt;
	t->force_ckpt = 0;
	pthread_mutex_unlock(&t->mu);

	r = commit(t, &b);
	if (r < 0)
		capacity_check(t, 1);	/* a full disk is the usual cause */

	pthread_mutex_lock(&t->mu);
	if (r < 0) {
		/* The trail's own records are retried with the next commit. */
		size_t		 n = b.ninternal + t->ninternal;
		struct pending	*np = n ? malloc(n * sizeof(*np)) : NULL;

		if (np) {
			if (b.ninternal)
				memcpy(np, b.internal, b.ninternal * sizeof(*np));
			if (t->ninternal)
				memcpy(np + b.ninternal, t->internal,
				    t->ninternal * sizeof(*np));
			free(t->internal);
			free(b.internal);
			t->internal = np;
			t->ninternal = t->capinternal = n;
		} else {
			pending_free(b.internal, b.ninternal);
		}
		t->force_ckpt |= b.force_ckpt;
		if (!t->nprune) {
			memcpy(t->prune, b.prune, sizeof(b.prune));
			t->nprune = b.nprune;
			b.nprune = 0;
		}
		t->st.healthy = 0;
		t->st.last_errno = r > -BW_E_BASE ? -r : EIO;
		t->st.failed_commits++;
		r = -BW_E_AUDIT;
	} else {
		pending_free(b.internal, b.ninternal);
		t->st.healthy = 1;
		t->st.last_seq = t->last_seq;
		memcpy(t->st.head_hash, t->last_hash, sizeof(t->st.head_hash));
	}
	for (size_t i = 0; i < b.nprune; i++)
		free(b.prune[i]);
	/* W lives on its caller's stack: once DONE is set, W may be gone. */
	for (struct waiter *w = b.waiters; w; w = next) {
		next = w->next;
		w->result = r;
		atomic_store(&w->done, 1);
	}
	if (b.waiters)
		wake_batch(t, gen, relay);
	return r;
}

/* Gives up the leader role after a commit. Called with MU held. When
 * writers queued meanwhile, the ticker thread takes the role over, so
 * the queue never waits for a sleeping writer to wake up and lead; the
 * ticker itself (TICKER set) keeps it and gets 1: commit again. */
static int
leader_release(struct audit_trail *t, int ticker)
{
	uint64_t gen;

	pthread_mutex_lock(&t->qmu);
	if (t->qhead) {
		if (ticker) {
			pthread_mutex_unlock(&t->qmu);
			return 1;
		}
		if (t->ticker_started && !t->closing) {
			t->handoff = 1;
			pthread_mutex_unlock(&t->qmu);
			pthread_cond_signal(&t->tick_cv);
			return 0;
		}
		/* No ticker (closing): a queued writer leads. */
		t->flushing = 0;
		gen = t->open_gen;
		pthread_mutex_unlock(&t->qmu);
		wake_batch(t, gen, 0);
		return 0;
	}
	t->flushing = 0;
	pthread_mutex_unlock(&t->qmu);
	pthread_cond_broadcast(&t->idle_cv);
	return 0;
}

static int
flush_due(struct audit_trail *t)
{
	if (t->ninternal || t->force_ckpt)
		return 1;
	return t->o.signer && t->since_ckpt > 0 &&
	    bw_mono_ms() - t->last_ckpt_ms >= t->o.checkpoint_interval_ms;
}

/* Under load, the writers of the batch just committed are about to
 * queue again. Without a pause the next commit would take only those
 * that queued during the last fdatasync, and writers would alternate
 * between two half batches, each waiting for two commits. So the
 * ticker waits, at most GATHER_US, until as many writers are queued as
 * the last commit and the queue held together (a commit is delayed by
 * GATHER_US at most, and only after one that held several writers).
 * Called with MU held by the ticker, as leader, between two commits;
 * MU is dropped while it waits. */
static void
gather(struct audit_trail *t)
{
	uint64_t	dl_ns = bw_mono_ns() + GATHER_US * 1000u, now_ns;
	pthread_mutex_lock(&t->qmu);
	t->qwant = t->qlen + t->last_batch;
	pthread_mutex_unlock(&t->qmu);
	pthread_mutex_unlock(&t->mu);
	for (;;) {
		struct timespec	rel;
		unsigned	seen;
		int		enough;

		pthread_mutex_lock(&t->qmu);
		enough = t->qlen >= t->qwant || t->closing;
		seen = atomic_load(&t->gather_word);
		pthread_mutex_unlock(&t->qmu);
		now_ns = bw_mono_ns();
		if (enough || now_ns >= dl_ns)
			break;
		rel.tv_sec = 0;
		rel.tv_nsec = (long)(dl_ns - now_ns);
		syscall(SYS_futex, &t->gather_word, FUTEX_WAIT_PRIVATE, seen, &rel,
		    NULL, 0);
	}
	pthread_mutex_lock(&t->qmu);
	t->qwant = 0;
	pthread_mutex_unlock(&t->qmu);
	pthread_mutex_lock(&t->mu);
}

/* The sync thread runs one fdatasync of the live segment per request,
 * so the ticker composes and writes the next batch meanwhile. */
static void *
syncer_main(void *arg)
{
	struct audit_trail	*t = arg;
	uint64_t		 began, took;
	int			 r;

	pthread_mutex_lock(&t->smu);
	for (;;) {
		while (!t->sync_req && !t->sync_quit)
			pthread_cond_wait(&t->sync_cv, &t->smu);
		if (!t->sync_req)
			break;
		t->sync_req = 0;
		began = t->sync_began_ns;
		pthread_mutex_unlock(&t->smu);
		r = fdatasync(t->segfd) < 0 ? -errno : 0;
		took = bw_mono_ns() - began;
		hist_observe(&t->fsync_ns, took);
		pthread_mutex_lock(&t->smu);
		t->sync_avg_ns = (t->sync_avg_ns * 7 + took) / 8;
		t->sync_result = r;
		t->sync_busy = 0;
		pthread_cond_signal(&t->synced_cv);
		/* The ticker may be composing (sync_wait_composing()). */
		atomic_fetch_add(&t->gather_word, 1);
		syscall(SYS_futex, &t->gather_word, FUTEX_WAKE_PRIVATE, 1, NULL,
		    NULL, 0);
	}
	pthread_mutex_unlock(&t->smu);
	return NULL;
}

/* Everything written to the segment before this call is covered by the
 * fdatasync it starts. */
static void
sync_start(struct audit_trail *t)
{
	pthread_mutex_lock(&t->smu);
	t->sync_req = 1;
	t->sync_busy = 1;
	t->sync_began_ns = bw_mono_ns();
	pthread_cond_signal(&t->sync_cv);
	pthread_mutex_unlock(&t->smu);
}

static int
sync_wait(struct audit_trail *t)
{
	int r;

	pthread_mutex_lock(&t->smu);
	while (t->sync_busy)
		pthread_cond_wait(&t->synced_cv, &t->smu);
	r = t->sync_result;
	pthread_mutex_unlock(&t->smu);
	return r;
}

/* A batch of callers' records while streaming: composed and written,
 * then synced by the sync thread. */
struct sbatch {
	struct bw_buf		 buf;
	size_t			 written;	/* bytes of BUF in the file */
	struct waiter		*head, **tail;
	size_t			 nwaiters;
	uint64_t		 gen;
	uint64_t		 nrec;
	uint64_t		 last_seq;
	uint64_t		 alloc;		/* segment file size after it */
	char			 last_hash[AUDIT_HASH_HEX + 1];
};

/* The chain head as composed and written, ahead of the durable one
 * (t->last_seq, t->last_hash, t->seg_size, t->seg_alloc). */
struct shead {
	uint64_t	seq;
	char		prev[AUDIT_HASH_HEX + 1];
	uint64_t	wend, walloc;
};

static void
sbatch_reset(struct sbatch *sb)
{
	sb->buf.len = 0;
	sb->written = 0;
	sb->head = NULL;
	sb->tail = &sb->head;
	sb->nwaiters = 0;
	sb->nrec = 0;
}

/* Whether the ticker may go on streaming callers' records: anything the
 * trail writes itself (checkpoints, rotation, retention, recovery after
 * a failure) goes through commit(). Called with MU held. */
static int
stream_ok(struct audit_trail *t, const struct shead *h)
{
	uint64_t now_ms = bw_mono_ms(), pending = h->seq - t->last_seq;

	if (!t->syncer_started || t->tail_dirty || t->ninternal ||
	    t->force_ckpt || t->nprune)
		return 0;
	if (h->wend >= t->o.segment_max_bytes || now_ms - t->seg_opened_ms >=
	    (uint64_t)t->o.segment_max_seconds * 1000)
		return 0;
	if (t->o.signer && (t->since_ckpt + pending >= t->o.checkpoint_every ||
	    now_ms - t->last_ckpt_ms >= t->o.checkpoint_interval_ms))
		return 0;
	return 1;
}

static int stream_add(struct audit_trail *t, struct sbatch *sb,
    struct shead *h, int close);

/* Waits for the fdatasync in flight like sync_wait(). Once, a little
 * before the fdatasync is expected to end (COMPOSE_AT percent of the
 * recent average), it composes the lines of the writers queued
 * meanwhile into SB (stream_add()), so that when the sync returns only
 * the last few are left to compose before the next one can start. One
 * timed wake-up per fdatasync: waking whenever a few writers had queued
 * cost more CPU in switches than the composing saved, and on two cores
 * the CPU, not the disk, bounds a full trail. A failure to compose is
 * left in *R. */
static int
sync_wait_composing(struct audit_trail *t, struct sbatch *sb,
    struct shead *h, int *r)
{
	int composed = 0;

	for (;;) {
		struct timespec	rel;
		uint64_t	due, now;
		unsigned	seen = atomic_load(&t->gather_word);
		int		busy;

		pthread_mutex_lock(&t->smu);
		busy = t->sync_busy;
		due = t->sync_began_ns + t->sync_avg_ns * COMPOSE_AT / 100;
		pthread_mutex_unlock(&t->smu);
		if (!busy || *r < 0)
			break;
		now = bw_mono_ns();
		if (!composed && now >= due) {
			*r = stream_add(t, sb, h, 0);
			composed = 1;
			continue;
		}
		if (composed) {
			futex_wait(&t->gather_word, seen);
			continue;
		}
		rel.tv_sec = (time_t)((due - now) / 1000000000u);
		rel.tv_nsec = (long)((due - now) % 1000000000u);
		syscall(SYS_futex, &t->gather_word, FUTEX_WAIT_PRIVATE, seen, &rel,
		    NULL, 0);
	}
	return sync_wait(t);
}

/* Takes the queued writers into SB, composes their lines on the head H
 * and writes them after it. CLOSE ends SB's membership: writers queued
 * later join the next batch. Without padding, lines composed before
 * CLOSE are written only then: an appending write changes the file's
 * size, which the fdatasync in progress would then wait to journal as
 * well. */
static int
stream_add(struct audit_trail *t, struct sbatch *sb, struct shead *h, int close)
{
	struct waiter	*list;
	struct timespec	 now;
	char		 timestr[AUDIT_TIME_LEN + 1];
	size_t		 cnt, len;
	uint64_t	 end;
	int		 r;

	pthread_mutex_lock(&t->qmu);
	list = t->qhead;
	cnt = t->qlen;
	t->qhead = NULL;
	t->qtail = &t->qhead;
	t->qlen = 0;
	sb->gen = t->open_gen;
	if (close)
		t->open_gen++;
	pthread_mutex_unlock(&t->qmu);
	if (list) {
		*sb->tail = list;
		sb->nwaiters += cnt;
		clock_gettime(CLOCK_REALTIME, &now);
		audit_time_format(&now, timestr);
		for (struct waiter *w = list; w; w = w->next) {
			for (size_t i = 0; i < w->n; i++) {
				if ((r = compose_line(t, &sb->buf, ++h->seq, timestr,
				    w->fields.p + w->offs[i],
				    w->offs[i + 1] - w->offs[i], h->prev, NULL)) < 0)
					return r;
				sb->nrec++;
			}
			w->last_seq = h->seq;
			w->time = now;
			sb->tail = &w->next;
		}
		sb->last_seq = h->seq;
		memcpy(sb->last_hash, h->prev, sizeof(sb->last_hash));
	}
	if ((!close && !t->o.preallocate) || sb->written == sb->buf.len)
		return 0;
	len = sb->buf.len - sb->written;
	end = h->wend + len;
	if ((r = pwrite_all(t->segfd, sb->buf.p + sb->written, len,
	    (off_t)h->wend)) < 0)
		return r;
	sb->written = sb->buf.len;
	if (end > h->walloc && t->o.preallocate &&
	    (r = pad_extend(t, end, &h->walloc)) < 0)
		return r;
	h->wend = end;
	if (h->walloc < end)
		h->walloc = end;
	sb->alloc = h->walloc;
	return 0;
}

/* SB is durable: publish it and wake its writers. */
static void
stream_publish(struct audit_trail *t, struct sbatch *sb)
{
	struct waiter *next;

	t->seg_size += sb->buf.len;
	if (sb->alloc > t->seg_alloc)
		t->seg_alloc = sb->alloc;
	t->last_seq = sb->last_seq;
	memcpy(t->last_hash, sb->last_hash, sizeof(t->last_hash));
	t->since_ckpt += sb->nrec;
	if (t->fwd) {
		for (size_t pos = 0; pos < sb->buf.len;) {
			const char	*l = sb->buf.p + pos;
			const char	*nl = memchr(l, '\n', sb->buf.len - pos);
			size_t		 ll = (size_t)(nl - l);

			audit_forward_push(t->fwd, l, ll,
			    memmem(l, ll, " outcome=success ", 17) != NULL);
			pos += ll + 1;
		}
	}
	pthread_mutex_lock(&t->mu);
	t->st.healthy = 1;
	t->st.last_seq = t->last_seq;
	memcpy(t->st.head_hash, t->last_hash, sizeof(t->st.head_hash));
	pthread_mutex_unlock(&t->mu);
	/* Seq and time reach the caller only with success. */
	for (struct waiter *w = sb->head; w; w = next) {
		next = w->next;
		for (size_t i = 0; i < w->n; i++) {
			w->recs[i].seq = w->last_seq - w->n + 1 + i;
			w->recs[i].time = w->time;
		}
		w->result = 0;
		atomic_store(&w->done, 1);
	}
	wake_batch(t, sb->gen, 0);
	capacity_check(t, 0);
}

/* SB's records did not become durable (or were chained on records that
 * did not): fail its writers. */
static void
stream_fail(struct audit_trail *t, struct sbatch *sb, int r)
{
	struct waiter *next;

	pthread_mutex_lock(&t->mu);
	t->st.healthy = 0;
	t->st.last_errno = r > -BW_E_BASE ? -r : EIO;
	t->st.failed_commits++;
	pthread_mutex_unlock(&t->mu);
	for (struct waiter *w = sb->head; w; w = next) {
		next = w->next;
		w->result = -BW_E_AUDIT;
		atomic_store(&w->done, 1);
	}
	if (sb->head)
		wake_batch(t, sb->gen, 0);
}

/* Commits callers' records in a pipeline: while the sync thread runs
 * the fdatasync of one batch, the ticker composes and writes the next
 * from the writers that queue meanwhile, and starts its fdatasync as
 * soon as the first returns. A writer is still acknowledged only after
 * an fdatasync that started after its record was written returned, and
 * the batches before it are durable. A failure fails the batch being
 * synced and the one chained on it, and cuts both from the file as
 * commit() does. Called by the ticker as leader, with MU held; returns
 * with MU held and nothing in flight, and the number of records it
 * committed or failed (0: commit() must run). */
static uint64_t
stream(struct audit_trail *t)
{
	struct sbatch	 sb[2];
	struct sbatch	*cur = NULL, *nxt = &sb[0];
	struct shead	 h;
	uint64_t	 done = 0;
	int		 r = 0;

	memset(sb, 0, sizeof(sb));
	sbatch_reset(&sb[0]);
	sbatch_reset(&sb[1]);
	h.seq = t->last_seq;
	memcpy(h.prev, t->last_hash, sizeof(h.prev));
	h.wend = t->seg_size;
	h.walloc = t->seg_alloc;
	for (;;) {
		int go = stream_ok(t, &h), rs = 0;

		pthread_mutex_unlock(&t->mu);
		/* Writers that queued since the last sync started. */
		if (go)
			r = stream_add(t, nxt, &h, 0);
		if (cur) {
			rs = go ? sync_wait_composing(t, nxt, &h, &r) :
			    sync_wait(t);
			if (rs < 0 && r == 0)
				r = rs;		/* NXT is chained on CUR */
		}
		/* And those that queued while it ran. */
		if (go && r == 0)
			r = stream_add(t, nxt, &h, 1);
		if (r == 0 && nxt->head)
			sync_start(t);
		if (cur && rs == 0) {
			stream_publish(t, cur);
			done += cur->nrec;
		}
		if (r < 0) {
			uint64_t used = (h.wend < t->seg_alloc ? h.wend :
			    t->seg_alloc) - t->seg_size;

			/* As commit(): the padding back over what may have
			 * reached the file, or the next commit cuts it; then
			 * the refused writers learn it. */
			if (ftruncate(t->segfd, (off_t)t->seg_alloc) < 0 ||
			    pwrite_all(t->segfd, zeros, used, (off_t)t->seg_size) < 0 ||
			    fdatasync(t->segfd) < 0)
				t->tail_dirty = 1;
			if (cur && rs < 0) {
				stream_fail(t, cur, rs);
				done += cur->nrec;
			}
			stream_fail(t, nxt, r);
			done += nxt->nrec;
			capacity_check(t, 1);
			pthread_mutex_lock(&t->mu);
			break;
		}
		cur = nxt->head ? nxt : NULL;
		if (cur)
			t->last_batch = cur->nwaiters;
		nxt = cur == &sb[0] ? &sb[1] : &sb[0];
		sbatch_reset(nxt);
		pthread_mutex_lock(&t->mu);
		if (!cur)
			break;
	}
	bw_buf_done(&sb[0].buf);
	bw_buf_done(&sb[1].buf);
	return done;
}

static void *
ticker_main(void *arg)
{
	struct audit_trail *t = arg;
	unsigned period = t->o.checkpoint_interval_ms < 1000 ?
	    t->o.checkpoint_interval_ms : 1000;

	pthread_mutex_lock(&t->mu);
	for (;;) {
		struct timespec	dl;
		int		lead;

		/* A handed-off queue is served even when closing: its
		 * writers queued before close and wait for an answer. */
		pthread_mutex_lock(&t->qmu);
		if (t->handoff) {
			t->handoff = 0;
			lead = 1;
		} else if (t->closing) {
			pthread_mutex_unlock(&t->qmu);
			break;
		} else {
			lead = 0;
		}
		pthread_mutex_unlock(&t->qmu);
		if (!lead) {
			dl = bw_mono_deadline((uint64_t)period * 1000000u);
			pthread_cond_timedwait(&t->tick_cv, &t->mu, &dl);
			pthread_mutex_lock(&t->qmu);
			if (t->handoff || t->closing || !flush_due(t))
				lead = 0;
			else
				lead = leader_claim_locked(t);
			pthread_mutex_unlock(&t->qmu);
			if (!lead)
				continue;
		}
		/* Lead until the queue is empty: writers that queued during
		 * a commit sleep and count on it. */
		do {
			if (stream(t) > 0)
				continue;
			if (t->last_batch > 1)
				gather(t);
			leader_flush(t, 1);
		} while (leader_release(t, 1));
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

int
audit_trail_append(struct audit_trail *t, struct audit_record *recs, size_t n,
    uint64_t *ret_last_seq)
{
	struct waiter	w = { .recs = recs, .n = n };
	size_t		offs1[2];
	int		r, lead, wake_gather = 0;

	if (n == 0) {
		if (ret_last_seq) {
			pthread_mutex_lock(&t->mu);
			*ret_last_seq = t->st.last_seq;
			pthread_mutex_unlock(&t->mu);
		}
		return 0;
	}
	/* One allocation for the fields of a few usual records, not a few
	 * reallocations as they grow. */
	if (n <= 64 && bw_buf_reserve(&w.fields, 640 * n) < 0)
		return -BW_E_AUDIT;
	/* The usual call appends one record: no allocation for offsets. */
	if (n == 1)
		w.offs = offs1;
	else if (!(w.offs = malloc((n + 1) * sizeof(*w.offs))))
		return -BW_E_AUDIT;
	for (size_t i = 0; i < n; i++) {
		w.offs[i] = w.fields.len;
		if ((r = audit_record_format_fields(&recs[i], &w.fields)) < 0) {
			w.result = r == -BW_E_INVALID ? r : -BW_E_AUDIT;
			goto out;
		}
	}
	w.offs[n] = w.fields.len;

	pthread_mutex_lock(&t->qmu);
	if (t->closing) {
		pthread_mutex_unlock(&t->qmu);
		w.result = -BW_E_AUDIT;
		goto out;
	}
	w.gen = t->open_gen;
	*t->qtail = &w;
	t->qtail = &w.next;
	if (++t->qlen == t->qwant) {
		atomic_fetch_add(&t->gather_word, 1);
		wake_gather = 1;
	}
	lead = leader_claim_locked(t);
	pthread_mutex_unlock(&t->qmu);
	if (wake_gather)
		syscall(SYS_futex, &t->gather_word, FUTEX_WAKE_PRIVATE, 1, NULL,
		    NULL, 0);
	for (;;) {
		atomic_uint	*word = &t->wake[w.gen & 3];
		unsigned	 seen = atomic_load(word);

		if (atomic_load(&w.done))
			break;
		if (lead) {
			/* W is queued, so this commit takes it. */
			pthread_mutex_lock(&t->mu);
			leader_flush(t, 0);
			leader_release(t, 0);
			pthread_mutex_unlock(&t->mu);
			lead = 0;
			continue;
		}
		futex_wait(word, seen);
		if (atomic_load(&w.done)) {
			waiter_relay(t, w.gen);
			break;
		}
		/* Woken without a result: the queue may be left without a
		 * leader (leader_release() while closing). */
		pthread_mutex_lock(&t->qmu);
		lead = leader_claim_locked(t);
		pthread_mutex_unlock(&t->qmu);
	}
out:
	if (w.offs != offs1)
		free(w.offs);
	bw_buf_done(&w.fields);
	if (w.result == 0 && ret_last_seq)
		*ret_last_seq = w.last_seq;
	return w.result;
}

void
audit_trail_status(struct audit_trail *t, struct audit_status *ret)
{
	pthread_mutex_lock(&t->mu);
	*ret = t->st;
	pthread_mutex_unlock(&t->mu);
	ret->libaudit_ok = audit_forward_libaudit_ok(t->fwd);
	ret->syslog_ok = audit_forward_syslog_ok(t->fwd);
	ret->forward_dropped = audit_forward_dropped(t->fwd);
	ret->retain_segments = t->o.retain_segments;
	ret->retain_days = t->o.retain_days;
}

int
audit_trail_disk(struct audit_trail *t, struct audit_disk *ret)
{
	struct audit_disk	 d = { 0 };
	struct statvfs		 sv;
	struct stat		 st;
	char			**names = NULL;
	size_t			 n = 0, i;
	int			 r;

	if (fstatvfs(t->dirfd, &sv) < 0)
		return -errno;
	d.fs_avail_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
	d.fs_size_bytes = (uint64_t)sv.f_blocks * sv.f_frsize;
	if ((r = audit_segment_list(t->dirfd, &names, &n)) < 0)
		return r;
	/* a segment pruned meanwhile is simply not counted */
	for (i = 0; i < n; i++)
		if (fstatat(t->dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
			d.trail_bytes += (uint64_t)st.st_size;
	audit_segment_list_free(names, n);
	*ret = d;
	return 0;
}

const struct hist *
audit_trail_fsync_hist(const struct audit_trail *t)
{
	return &t->fsync_ns;
}

/* Saves bytes cut from a segment so an investigator can still see
 * them; the recovery record names the file. */
static int
save_torn(struct audit_trail *t, const char *segname, uint64_t off,
    const char *p, size_t n, char *ret_name, size_t namesz)
{
	char base[AUDIT_SEG_NAME_LEN + 1];

	snprintf(base, sizeof(base), "%.*s", AUDIT_SEG_NAME_LEN - 4, segname);
	snprintf(ret_name, namesz, "torn-%s-%" PRIu64 ".bin", base, off);
	return write_file_atomic_at(t->dirfd, ret_name, p, n, 0600);
}

static int
line_valid(const char *p, size_t len, uint64_t *ret_seq, char hash[65],
    char prev[65], int *ret_is_stop)
{
	struct audit_line l;

	if (audit_line_parse(p, len, &l, NULL) < 0)
		return 0;
	if (!audit_line_hash_ok(p, &l)) {
		audit_line_done(&l);
		return 0;
	}
	*ret_seq = l.rec.seq;
	memcpy(hash, l.hash, 65);
	memcpy(prev, l.prev, 65);
	/* 1 audit.stop, 0 other, -1 checkpoint (which follows the stop). */
	*ret_is_stop = strcmp(l.rec.action, AUDIT_ACTION_STOP) == 0 ? 1 :
	    strcmp(l.rec.action, AUDIT_ACTION_CHECKPOINT) == 0 ? -1 : 0;
	audit_line_done(&l);
	return 1;
}

/* The last segment as recovery reads it. DATA and FD are borrowed from
 * recover_last(). */
struct recover_seg {
	char		 name[AUDIT_SEG_NAME_LEN + 1];
	char		 prev[AUDIT_HASH_HEX + 1];
	char		 torn[96];
	const char	*data;
	uint64_t	 first, name_seq, last_seq;
	size_t		 len, flen, hl, good_end;
	int		 fd, clean;
};

/* Removes a segment whose header never completed (a rotation cut short:
 * nothing in it was ever acknowledged), saving its bytes, and records
 * that in the chain. */
static int
recover_drop_incomplete(struct audit_trail *t, struct recover_seg *sg,
    char **ret_err)
{
	char	 note[600];
	int	 r;

	if (sg->len > 0 && memchr(sg->data, '\n', sg->len) && sg->len >= 8)
		return errf(-BW_E_CORRUPT, ret_err,
		    "%s/%s: segment header is damaged; run bulwark-verify",
		    t->dir, sg->name);
	if (sg->len > 0 && (r = save_torn(t, sg->name, 0, sg->data, sg->len,
	    sg->torn, sizeof(sg->torn))) < 0)
		return errf(r, ret_err, "%s: cannot save torn bytes: %s",
		    t->dir, bw_strerror(r));
	if (unlinkat(t->dirfd, sg->name, 0) < 0 || fsync(t->dirfd) < 0)
		return errf(-errno, ret_err, "%s/%s: %m", t->dir, sg->name);
	snprintf(note, sizeof(note),
	    "removed incomplete segment %s (%zu bytes, header never "
	    "completed%s%s)", sg->name, sg->flen, sg->len ? "; saved as " : "",
	    sg->torn);
	internal_add(t, AUDIT_ACTION_RECOVERY, "failure",
	    "audit-segment", sg->name, 0, note, "AU-5,AU-9");
	return 0;
}

/* Follows the chain from the header to the first line that is not the
 * next valid record: sets last_seq, prev (the head), good_end and clean
 * (the run ended with audit.stop). */
static void
recover_scan(struct recover_seg *sg)
{
	const char	*data = sg->data;
	size_t		 pos;

	sg->last_seq = sg->first - 1;
	pos = sg->good_end = sg->hl;
	while (pos < sg->len) {
		const char	*nl = memchr(data + pos, '\n', sg->len - pos);
		uint64_t	 s;
		char		 h[65], p[65];
		int		 stop;

		if (!nl)
			break;
		if (!line_valid(data + pos, (size_t)(nl - data - pos), &s, h, p,
		    &stop) || s != sg->last_seq + 1 ||
		    memcmp(p, sg->prev, 64) != 0)
			break;
		sg->last_seq = s;
		memcpy(sg->prev, h, sizeof(sg->prev));
		if (stop >= 0)
			sg->clean = stop;
		pos = sg->good_end = (size_t)(nl - data) + 1;
	}
}

/* Cuts the bytes after the last valid record, saving them and recording
 * the cut, when they are a torn write. A valid record after a broken
 * one is damage, and cutting it would destroy evidence. */
static int
recover_cut_torn(struct audit_trail *t, struct recover_seg *sg,
    char **ret_err)
{
	const char	*data = sg->data;
	unsigned char	 sh[AUDIT_HASH_LEN];
	char		 shx[AUDIT_HASH_HEX + 1], note[600];
	size_t		 lines = 0, len = sg->len, good_end = sg->good_end;
	int		 r;

	for (size_t q = good_end; q < len;) {
		const char	*nl = memchr(data + q, '\n', len - q);
		uint64_t	 s;
		char		 h[65], p[65];
		int		 stop;

		if (!nl)
			break;
		lines++;
		if (line_valid(data + q, (size_t)(nl - data - q), &s, h,
		    p, &stop) && s > sg->last_seq + 1)
			return errf(-BW_E_CORRUPT, ret_err,
			    "%s/%s: the record after seq %" PRIu64 " is "
			    "damaged but later records are intact: this is "
			    "not a torn write; run bulwark-verify", t->dir,
			    sg->name, sg->last_seq);
		q = (size_t)(nl - data) + 1;
	}
	if ((r = save_torn(t, sg->name, good_end, data + good_end,
	    len - good_end, sg->torn, sizeof(sg->torn))) < 0)
		return errf(r, ret_err, "%s: cannot save torn bytes: %s",
		    t->dir, bw_strerror(r));
	if (ftruncate(sg->fd, (off_t)good_end) < 0 || fdatasync(sg->fd) < 0)
		return errf(-errno, ret_err,
		    "%s/%s: cannot truncate torn tail: %m", t->dir, sg->name);
	sg->flen = good_end;
	audit_sha256(data + good_end, len - good_end, sh);
	hex_encode(sh, sizeof(sh), shx);
	snprintf(note, sizeof(note),
	    "torn tail cut from %s: %zu bytes at offset %zu (%zu "
	    "complete lines, sha256 %s) saved as %s; last durable "
	    "seq %" PRIu64 "; the cut records were never acknowledged",
	    sg->name, len - good_end, good_end, lines, shx, sg->torn,
	    sg->last_seq);
	internal_add(t, AUDIT_ACTION_RECOVERY, "failure",
	    "audit-segment", sg->name, sg->last_seq, note, "AU-5,AU-9");
	sg->clean = 0;
	return 0;
}

/* Finds the chain head in a segment whose header is intact, cuts a torn
 * tail and the writer's padding, and records an unclean end. */
static int
recover_head(struct audit_trail *t, struct recover_seg *sg, char **ret_err)
{
	char	 note[600];
	int	 r;

	if (sg->first != sg->name_seq)
		return errf(-BW_E_CORRUPT, ret_err,
		    "%s/%s: header says first_seq=%" PRIu64, t->dir, sg->name,
		    sg->first);
	recover_scan(sg);
	if (sg->good_end < sg->len && (r = recover_cut_torn(t, sg,
	    ret_err)) < 0)
		return r;
	if (sg->good_end < sg->flen && (ftruncate(sg->fd,
	    (off_t)sg->good_end) < 0 || fdatasync(sg->fd) < 0))
		return errf(-errno, ret_err, "%s/%s: cannot cut the padding: %m",
		    t->dir, sg->name);
	if (!sg->clean) {
		snprintf(note, sizeof(note),
		    "previous run ended without audit.stop (crash or power "
		    "loss); last durable seq %" PRIu64 " in %s; records just "
		    "before it may describe actions that were not completed",
		    sg->last_seq, sg->name);
		internal_add(t, AUDIT_ACTION_RECOVERY, "failure",
		    "audit-segment", sg->name, sg->last_seq, note, "AU-5,AU-9");
	}
	t->last_seq = sg->last_seq;
	memcpy(t->last_hash, sg->prev, sizeof(sg->prev));
	return 0;
}

/* Recovers from the last of the *N segments NAMES. Returns 1 when that
 * segment was an incomplete rotation, now removed and dropped from
 * NAMES (the head is in the one before), 0 when the head is found. */
static int
recover_last(struct audit_trail *t, char **names, size_t *n, char **ret_err)
{
	_cleanup_close_ int	 fd = -1;
	_cleanup_free_ char	*data = NULL;
	struct recover_seg	 sg = { .torn = "" };
	int			 r;

	/* A copy: messages are formatted after the list is freed. */
	snprintf(sg.name, sizeof(sg.name), "%s", names[*n - 1]);
	fd = openat(t->dirfd, sg.name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || (r = read_bounded(fd, AUDIT_SEGMENT_READ_MAX, &data,
	    &sg.len)) < 0) {
		r = fd < 0 ? -errno : r;
		return errf(r, ret_err, "%s/%s: %s", t->dir, sg.name,
		    bw_strerror(r));
	}
	sg.data = data;
	sg.fd = fd;
	audit_segment_name_parse(sg.name, &sg.name_seq);
	/* The writer's NUL padding (docs/audit-format.md, section 2) is no
	 * record and no torn write: everything below looks at the bytes
	 * before it, and it is cut with the torn tail. */
	sg.flen = sg.len;
	while (sg.len > 0 && data[sg.len - 1] == '\0')
		sg.len--;
	if (audit_segment_header_parse(data, sg.len, &sg.first, sg.prev,
	    &sg.hl) < 0) {
		if ((r = recover_drop_incomplete(t, &sg, ret_err)) < 0)
			return r;
		free(names[--*n]);
		if (*n == 0 && sg.name_seq != 1)
			return errf(-BW_E_CORRUPT, ret_err,
			    "%s: no complete segment holds the chain head", t->dir);
		return 1;
	}
	if ((r = recover_head(t, &sg, ret_err)) < 0)
		return r;
	if (sg.good_end == sg.hl) {
		/* No record made it into this segment: keep writing it
		 * rather than start another with the same first seq. */
		t->segfd = TAKE_FD(fd);
		t->seg_first_seq = sg.first;
		t->seg_size = t->seg_alloc = sg.hl;
		t->seg_opened_ms = bw_mono_ms();
	}
	return 0;
}

/* Finds the chain head in the last segment and cuts a torn tail. */
static int
recover(struct audit_trail *t, char **ret_err)
{
	char		**names = NULL;
	size_t		  n = 0;
	int		  r;

	t->last_seq = 0;
	memcpy(t->last_hash, audit_zero_hash, sizeof(t->last_hash));
	if ((r = audit_segment_list(t->dirfd, &names, &n)) < 0)
		return errf(r, ret_err, "%s: cannot list segments: %s", t->dir,
		    bw_strerror(r));
	while (n > 0 && (r = recover_last(t, names, &n, ret_err)) > 0)
		;
	audit_segment_list_free(names, n);
	return r < 0 ? r : 0;
}

/* Writes DIR/checkpoint-key.pem: the signer's public key, followed by
 * the keys the trail used before it, so the file keeps naming every key
 * whose checkpoints the trail holds. A key the file did not hold yet is
 * a key change, recorded in the chain (audit.key_change) for an auditor
 * to see why the checkpoints' key ids change there. Called at open,
 * before the first commit. */
static int
write_pubkey(struct audit_trail *t, char **ret_err)
{
	_cleanup_free_ char	*pem = NULL, *old = NULL;
	EVP_PKEY		**olds = NULL;
	size_t			 len, oldlen, nold = 0, kept = 1;
	size_t			 current_at = SIZE_MAX;	/* the signer's key among OLDS */
	struct bw_buf		 out = { 0 };
	char			 id[AUDIT_HASH_HEX + 1], reason[300];
	int			 r;

	if ((r = audit_pubkey_pem(t->o.signer->pubkey, &pem, &len)) < 0)
		return errf(r, ret_err, "cannot encode the checkpoint public key");
	if (read_file_at(t->dirfd, AUDIT_KEY_FILE, 64 * 1024, &old, &oldlen) == 0) {
		if (oldlen >= len && memcmp(old, pem, len) == 0)
			return 0;	/* the current key, first: nothing changed */
		if (audit_pubkeys_parse(old, oldlen, AUDIT_KEY_FILE, &olds, &nold,
		    NULL) < 0)
			nold = 0;	/* unreadable: the convenience copy is remade */
	}
	if ((r = bw_buf_append(&out, pem, len)) < 0)
		goto out;
	for (size_t i = 0; i < nold; i++) {
		_cleanup_free_ char *p = NULL;
		size_t pl;

		if (EVP_PKEY_eq(olds[i], t->o.signer->pubkey) == 1) {
			current_at = i;
			continue;
		}
		if (kept == AUDIT_KEYS_MAX)
			continue;	/* the oldest fall off the convenience copy */
		if ((r = audit_pubkey_pem(olds[i], &p, &pl)) < 0 ||
		    (r = bw_buf_append(&out, p, pl)) < 0)
			goto out;
		kept++;
	}
	if ((r = write_file_atomic_at(t->dirfd, AUDIT_KEY_FILE, out.p, out.len,
	    0644)) < 0) {
		r = errf(r, ret_err, "%s/%s: %s", t->dir, AUDIT_KEY_FILE,
		    bw_strerror(r));
		goto out;
	}
	/* CURRENT_AT 0: the same key, only its PEM text differed. */
	if (nold > 0 && current_at != 0 && audit_key_id(olds[0], id) == 0) {
		snprintf(reason, sizeof(reason), "checkpoint key changed from %s to "
		    "%s%s", id, t->key_id, current_at != SIZE_MAX ?
		    " (a key this trail used before)" : "");
		r = internal_add(t, AUDIT_ACTION_KEY_CHANGE, "success", "audit-trail",
		    NULL, 0, reason, "AU-9,AU-10,SC-12");
	}
out:
	bw_buf_done(&out);
	audit_pubkeys_free(olds, nold);
	return r;
}

static void
trail_free(struct audit_trail *t)
{
	if (!t)
		return;
	audit_forward_stop(t->fwd);
	if (t->syncer_started) {
		pthread_mutex_lock(&t->smu);
		t->sync_quit = 1;
		pthread_cond_signal(&t->sync_cv);
		pthread_mutex_unlock(&t->smu);
		pthread_join(t->syncer, NULL);
	}
	if (t->segfd >= 0)
		close(t->segfd);
	if (t->lockfd >= 0)
		close(t->lockfd);
	if (t->dirfd >= 0)
		close(t->dirfd);
	pending_free(t->internal, t->ninternal);
	for (size_t i = 0; i < t->nprune; i++)
		free(t->prune[i]);
	bw_buf_done(&t->wbuf);
	free(t->line_offs);
	pthread_mutex_destroy(&t->mu);
	pthread_mutex_destroy(&t->qmu);
	pthread_mutex_destroy(&t->smu);
	pthread_cond_destroy(&t->sync_cv);
	pthread_cond_destroy(&t->synced_cv);
	pthread_cond_destroy(&t->tick_cv);
	pthread_cond_destroy(&t->idle_cv);
	free(t->dir);
	free(t);
}

/* Allocates a trail with the options O, their defaults filled in, into
 * *RET (free with trail_free()). */
static int
trail_alloc(const struct audit_trail_options *o, struct audit_trail **ret)
{
	struct audit_trail	*t;

	if (!(t = calloc(1, sizeof(*t))))
		return -ENOMEM;
	hist_init(&t->fsync_ns, &hist_seconds);
	t->o = *o;
	t->dirfd = t->lockfd = t->segfd = -1;
	pthread_mutex_init(&t->mu, NULL);
	pthread_mutex_init(&t->qmu, NULL);
	pthread_mutex_init(&t->smu, NULL);
	pthread_cond_init(&t->sync_cv, NULL);
	pthread_cond_init(&t->synced_cv, NULL);
	bw_cond_init_mono(&t->tick_cv);
	pthread_cond_init(&t->idle_cv, NULL);
	t->qtail = &t->qhead;
	t->st.healthy = 1;
	if (!t->o.segment_max_bytes)
		t->o.segment_max_bytes = AUDIT_DEFAULT_SEGMENT_MAX_BYTES;
	if (!t->o.segment_max_seconds)
		t->o.segment_max_seconds = AUDIT_DEFAULT_SEGMENT_MAX_SECONDS;
	if (!t->o.checkpoint_every)
		t->o.checkpoint_every = AUDIT_DEFAULT_CHECKPOINT_EVERY;
	if (!t->o.checkpoint_interval_ms)
		t->o.checkpoint_interval_ms = AUDIT_DEFAULT_CHECKPOINT_INTERVAL_MS;
	if (!t->o.capacity_warn_pct || t->o.capacity_warn_pct > 100)
		t->o.capacity_warn_pct = AUDIT_DEFAULT_CAPACITY_WARN_PCT;
	t->cap_line_offs = 256;
	if (!(t->dir = strdup(o->dir)) ||
	    !(t->line_offs = malloc(t->cap_line_offs * sizeof(*t->line_offs)))) {
		trail_free(t);
		return -ENOMEM;
	}
	*ret = t;
	return 0;
}

/* Creates the trail's directory and takes its lock: one writer per
 * trail. */
static int
trail_lock(struct audit_trail *t, char **ret_err)
{
	int	 r;

	if ((r = mkdir_p(t->dir, 0700)) < 0)
		return errf(r, ret_err, "%s: %s", t->dir, bw_strerror(r));
	if ((t->dirfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errf(-errno, ret_err, "%s: %m", t->dir);
	t->lockfd = openat(t->dirfd, AUDIT_LOCK_FILE,
	    O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (t->lockfd < 0)
		return errf(-errno, ret_err, "%s/%s: %m", t->dir, AUDIT_LOCK_FILE);
	if (flock(t->lockfd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		return errf(r, ret_err,
		    "%s: another process is writing this audit trail", t->dir);
	}
	return 0;
}

/* Starts forwarding, plans retention, and writes the records of the
 * open (recovery notes, audit.start and a checkpoint) durably before
 * any other thread runs. */
static int
trail_write_first(struct audit_trail *t, char **ret_err)
{
	_cleanup_free_ char	*note = NULL;
	char			 reason[256];
	int			 r;

	if (t->o.forward_libaudit || t->o.forward_syslog) {
		if ((r = audit_forward_start(t->o.forward_libaudit,
		    t->o.forward_syslog, &t->fwd, &note)) < 0)
			return errf(r, ret_err, "cannot start audit forwarding");
		/* Said once, in the trail itself. */
		if (note)
			internal_add(t, AUDIT_ACTION_FORWARD, "failure", "audit-trail",
			    NULL, 0, note, "AU-6(4),AU-12");
	}
	if ((r = retention_plan(t)) < 0)
		return errf(r, ret_err, "%s: retention: %s", t->dir, bw_strerror(r));
	snprintf(reason, sizeof(reason),
	    "audit trail opened; segment_max_bytes=%zu checkpoint_every=%u "
	    "checkpoint_interval_ms=%u key=%s", t->o.segment_max_bytes,
	    t->o.checkpoint_every, t->o.checkpoint_interval_ms,
	    t->o.signer ? t->key_id : "none");
	if ((r = internal_add(t, AUDIT_ACTION_START, "success", "audit-trail",
	    NULL, 0, reason, "AU-2,AU-12")) < 0)
		return r;
	t->force_ckpt = 1;
	pthread_mutex_lock(&t->mu);
	t->flushing = 1;	/* no other thread yet */
	r = leader_flush(t, 0);
	leader_release(t, 0);
	pthread_mutex_unlock(&t->mu);
	if (r < 0)
		return errf(-BW_E_AUDIT, ret_err,
		    "%s: cannot write the first records: %s", t->dir,
		    strerror(t->st.last_errno));
	return 0;
}

int
audit_trail_open(const struct audit_trail_options *o, struct audit_trail **ret,
    char **ret_err)
{
	struct audit_trail	*t;
	int			 r;

	if (!o || !o->dir || !o->dir[0])
		return errf(-BW_E_INVALID, ret_err, "audit trail: no directory");
	if ((r = trail_alloc(o, &t)) < 0)
		return r;
	if ((r = trail_lock(t, ret_err)) < 0)
		goto fail;
	if (t->o.signer) {
		if ((r = audit_key_id(t->o.signer->pubkey, t->key_id)) < 0) {
			r = errf(r, ret_err, "cannot compute the checkpoint key id");
			goto fail;
		}
		if ((r = write_pubkey(t, ret_err)) < 0)
			goto fail;
	}
	if ((r = recover(t, ret_err)) < 0)
		goto fail;
	if (t->segfd < 0 && (r = rotate(t)) < 0) {
		r = errf(-BW_E_AUDIT, ret_err, "%s: cannot start a segment: %s",
		    t->dir, bw_strerror(r));
		goto fail;
	}
	if ((r = trail_write_first(t, ret_err)) < 0)
		goto fail;
	capacity_check(t, 1);
	if ((r = pthread_create(&t->syncer, NULL, syncer_main, t)) != 0) {
		r = errf(-r, ret_err, "cannot start the sync thread");
		goto fail;
	}
	t->syncer_started = 1;
	if ((r = pthread_create(&t->ticker, NULL, ticker_main, t)) != 0) {
		r = errf(-r, ret_err, "cannot start the checkpoint thread");
		goto fail;
	}
	t->ticker_started = 1;
	if (o->realtime)
		set_realtime(t);
	*ret = t;
	return 0;
fail:
	trail_free(t);
	return r;
}

void
audit_trail_close(struct audit_trail *t)
{
	int busy;

	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	pthread_mutex_lock(&t->qmu);
	t->closing = 1;
	pthread_mutex_unlock(&t->qmu);
	pthread_cond_signal(&t->tick_cv);
	pthread_mutex_unlock(&t->mu);
	if (t->ticker_started)
		pthread_join(t->ticker, NULL);
	pthread_mutex_lock(&t->mu);
	/* Writers still queued are served by one of them (leader_release()
	 * wakes them); the role ends free with the queue empty. */
	for (;;) {
		pthread_mutex_lock(&t->qmu);
		busy = t->flushing || t->qhead;
		if (!busy)
			t->flushing = 1;	/* for the last records */
		pthread_mutex_unlock(&t->qmu);
		if (!busy)
			break;
		pthread_cond_wait(&t->idle_cv, &t->mu);
	}
	if (internal_add(t, AUDIT_ACTION_STOP, "success", "audit-trail", NULL, 0,
	    "audit trail closed", "AU-2,AU-12") == 0) {
		t->force_ckpt = 1;
		leader_flush(t, 0);
	}
	/* A failure leaves the padding, which recovery cuts. */
	(void)trim_padding(t);
	pthread_mutex_unlock(&t->mu);
	trail_free(t);
}
