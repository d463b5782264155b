/* The writer: chain, group commit under concurrency, rotation,
 * checkpoints, retention, crash recovery, locking, fail-closed on a full
 * filesystem (a real 256 KiB tmpfs), capacity warning and forwarding. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "audit-test.h"
#include "audit/forward.h"
#include "audit/search.h"
#include "lib/err.h"

struct fx {
	char			*root, trail[512];
	struct audit_signer	*signer;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	t_root_trail(&f->root, f->trail, &f->signer);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char mnt[400];

	/* a failed assertion must not leave the tmpfs mounted */
	snprintf(mnt, sizeof(mnt), "%s/mnt", f->root);
	umount2(mnt, MNT_DETACH);
	audit_signer_free(f->signer);
	t_rm_rf(f->root);
	free(f);
	return 0;
}

static struct audit_trail *
open_or_die(struct audit_trail_options *o)
{
	struct audit_trail *t = NULL;
	char *err = NULL;
	int r = audit_trail_open(o, &t, &err);

	if (r < 0)
		fprintf(stderr, "# open: %s\n", err ? err : "?");
	assert_int_equal(r, 0);
	return t;
}

struct count {
	unsigned n;
	uint64_t last;
	char reason[1024];
};

static int
count_cb(const struct audit_record *rec, const char *line, size_t len, void *u)
{
	struct count *c = u;

	c->n++;
	c->last = rec->seq;
	snprintf(c->reason, sizeof(c->reason), "%s", rec->reason);
	return 0;
}

static unsigned
count_action(const char *dir, const char *action, struct count *out)
{
	struct audit_search_filter flt = { .action = action };
	struct count c = { 0 };

	assert_int_equal(audit_search_dir(dir, &flt, count_cb, &c, NULL), 0);
	if (out)
		*out = c;
	return c.n;
}

static void
expect_ok(const char *dir, EVP_PKEY *key)
{
	struct audit_verify_report rep = t_verify(dir, key);

	assert_int_equal(rep.damage, AUDIT_OK);
	audit_verify_report_done(&rep);
}

static void
test_chain_and_seq(void **state)
{
	struct fx *f = *state;
	struct audit_trail_options o = { .dir = f->trail, .signer = f->signer };
	struct audit_trail *t = open_or_die(&o);
	struct audit_record recs[3] = {
		{ .action = "auth.login", .outcome = "success", .actor = "alice" },
		{ .action = "auth.failure", .outcome = "denied", .actor = "eve" },
		{ .action = "workload.delete", .outcome = "error", .actor = "bob" },
	};
	struct audit_status st;
	uint64_t last = 0, prev_last;

	audit_trail_status(t, &st);
	assert_true(st.healthy);
	prev_last = st.last_seq;	/* audit.start + checkpoint */
	assert_int_equal(prev_last, 2);
	assert_int_equal(audit_trail_append(t, recs, 3, &last), 0);
	assert_int_equal(last, prev_last + 3);
	assert_int_equal(recs[0].seq, prev_last + 1);
	assert_int_equal(recs[2].seq, last);
	assert_true(recs[0].time.tv_sec > 1700000000);
	audit_trail_status(t, &st);
	assert_int_equal(st.last_seq, last);
	assert_int_equal(strlen(st.head_hash), 64);
	/* invalid records are refused, nothing is written */
	recs[0].outcome = "maybe";
	assert_int_equal(audit_trail_append(t, recs, 1, &last), -BW_E_INVALID);
	audit_trail_status(t, &st);
	assert_int_equal(st.last_seq, prev_last + 3);
	audit_trail_close(t);
	expect_ok(f->trail, f->signer->pubkey);
	assert_int_equal(count_action(f->trail, AUDIT_ACTION_START, NULL), 1);
	assert_int_equal(count_action(f->trail, AUDIT_ACTION_STOP, NULL), 1);
	assert_int_equal(count_action(f->trail, "auth.*", NULL), 2);
}

struct thr {
	struct audit_trail	*t;
	int			 id, n, batch;
	uint64_t		*seqs;
};

static void *
writer(void *arg)
{
	struct thr *a = arg;

	for (int i = 0; i < a->n; i++) {
		struct audit_record r[10];
		char actor[32];

		snprintf(actor, sizeof(actor), "thread-%d", a->id);
		for (int j = 0; j < a->batch; j++)
			r[j] = (struct audit_record){ .actor = actor,
			    .action = "api.request", .outcome = "success" };
		if (audit_trail_append(a->t, r, (size_t)a->batch, NULL) < 0)
			abort();
		for (int j = 0; j < a->batch; j++)
			a->seqs[i * a->batch + j] = r[j].seq;
	}
	return NULL;
}

static int
u64cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
test_concurrent_group_commit(void **state)
{
	struct fx *f = *state;
	struct audit_trail_options o = { .dir = f->trail, .signer = f->signer,
	    .checkpoint_every = 100, .segment_max_bytes = 64 * 1024 };
	struct audit_trail *t = open_or_die(&o);
	enum { NT = 9, PER = 100 };
	struct thr a[NT];
	pthread_t th[NT];
	uint64_t *all = calloc(NT * PER * 10, sizeof(uint64_t));
	size_t total = 0;

	for (int i = 0; i < NT; i++) {
		a[i] = (struct thr){ t, i, PER, i == 0 ? 10 : 1,
		    calloc(PER * 10, sizeof(uint64_t)) };
		assert_int_equal(pthread_create(&th[i], NULL, writer, &a[i]), 0);
	}
	for (int i = 0; i < NT; i++) {
		pthread_join(th[i], NULL);
		memcpy(all + total, a[i].seqs, (size_t)(a[i].n * a[i].batch) *
		    sizeof(uint64_t));
		total += (size_t)(a[i].n * a[i].batch);
		/* a caller's batch is contiguous */
		if (a[i].batch == 10)
			for (int k = 0; k < PER; k++)
				assert_int_equal(a[i].seqs[k * 10 + 9],
				    a[i].seqs[k * 10] + 9);
		free(a[i].seqs);
	}
	qsort(all, total, sizeof(*all), u64cmp);
	for (size_t i = 1; i < total; i++)
		assert_true(all[i] > all[i - 1]);	/* unique */
	free(all);
	audit_trail_close(t);
	expect_ok(f->trail, f->signer->pubkey);
	assert_int_equal(count_action(f->trail, "api.request", NULL), 1800);
}

static size_t
nsegs(const char *dir)
{
	char **names;
	size_t n;

	t_seg_names(dir, &names, &n);
	audit_segment_list_free(names, n);
	return n;
}

static void
test_rotation_size_and_time(void **state)
{
	struct fx *f = *state;
	struct audit_trail_options o = { .dir = f->trail, .signer = f->signer,
	    .segment_max_bytes = 4096, .segment_max_seconds = 1 };
	struct audit_trail *t = open_or_die(&o);
	size_t n1, n2;

	assert_int_equal(t_append_n(t, 40, "alice"), 0);
	n1 = nsegs(f->trail);
	assert_true(n1 >= 3);
	usleep(1100 * 1000);
	assert_int_equal(t_append_n(t, 1, "alice"), 0);
	n2 = nsegs(f->trail);
	assert_int_equal(n2, n1 + 1);
	audit_trail_close(t);
	/* reopening always starts a new segment */
	t = open_or_die(&o);
	audit_trail_close(t);
	assert_int_equal(nsegs(f->trail), n2 + 1);
	expect_ok(f->trail, f->signer->pubkey);
}

static void
test_checkpoints(void **state)
{
	struct fx *f = *state;
	struct audit_trail_options o = { .dir = f->trail, .signer = f->signer,
	    .checkpoint_every = 10, .checkpoint_interval_ms = 100 };
	struct audit_trail *t = open_or_die(&o);
	struct audit_status st;
	struct audit_verify_report rep;

	audit_trail_status(t, &st);
	assert_int_equal(st.checkpoints, 1);		/* on open */
	assert_int_equal(t_append_n(t, 25, "alice"), 0);
	audit_trail_status(t, &st);
	assert_true(st.checkpoints >= 3);		/* every 10 */
	assert_int_equal(t_append_n(t, 1, "alice"), 0);
	usleep(400 * 1000);				/* by time, while idle */
	{
		uint64_t before = st.checkpoints;

		audit_trail_status(t, &st);
		assert_true(st.checkpoints > before);
	}
	rep = t_verify(f->trail, f->signer->pubkey);
	assert_int_equal(rep.damage, AUDIT_OK);
	assert_int_equal(rep.unsigned_tail, 0);	/* the idle tail got signed */
	assert_false(rep.ended_cleanly);
	audit_verify_report_done(&rep);
	audit_trail_close(t);
}

static void
test_retention(void **state)
{
	struct fx *f = *state;
	struct audit_trail_options o = { .dir = f->trail, .signer = f->signer,
	    .segment_max_bytes = 4096, .retain_segments = 3 };
	struct audit_trail *t = open_or_die(&o);
	struct audit_verify_report rep;

	assert_int_equal(t_append_n(t, 100, "alice"), 0);
	assert_true(nsegs(f->trail) <= 3);
	audit_trail_close(t);
	rep = t_verify(f->trail, f->signer->pubkey);
	assert_int_equal(rep.damage, AUDIT_OK);
	assert_true(rep.first_seq > 1);			/* pruned and anchored */
	audit_verify_report_done(&rep);
	assert_true(count_action(f->trail, AUDIT_ACTION_RETENTION, NULL) >= 1);
}

/* A child writes N records and dies without closing: a crash. */
static void
crash_child(struct fx *f, unsigned n)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct audit_trail_options o = { .dir = f->trail, .signer = f->signer,
		    .preallocate = 1 };
		struct audit_trail *t = NULL;

		if (audit_trail_open(&o, &t, NULL) < 0 || t_append_n(t, n, "alice") < 0)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
last_seg_path(const char *dir, char *path, size_t sz)
{
	char **names;
	size_t n;

	t_seg_names(dir, &names, &n);
	snprintf(path, sz, "%s/%s", dir, names[n - 1]);
	audit_segment_list_free(names, n);
}

static void
test_recovery_torn_tail(void **state)
{
	struct fx *f = *state;
	struct audit_trail_options o = { .dir = f->trail, .signer = f->signer };
	struct audit_trail *t;
	struct audit_verify_report rep;
	struct count c;
	char path[700];
	FILE *fp;
	struct stat st0, st1;

	crash_child(f, 5);
	last_seg_path(f->trail, path, sizeof(path));
	assert_int_equal(stat(path, &st0), 0);
	/* The crashed writer left its NUL padding after the last record:
	 * a torn write lands there, over the padding. */
	{
		char	*buf = malloc((size_t)st0.st_size);
		char	*nl;

		assert_non_null(fp = fopen(path, "r+"));
		assert_int_equal(fread(buf, 1, (size_t)st0.st_size, fp),
		    (size_t)st0.st_size);
		assert_non_null(nl = memrchr(buf, '\n', (size_t)st0.st_size));
		assert_true(nl + 1 < buf + st0.st_size);	/* padded */
		st0.st_size = nl + 1 - buf;
		free(buf);
		assert_int_equal(fseek(fp, st0.st_size, SEEK_SET), 0);
	}
	fputs("v=1 seq=9 time=2024-05-01T12:00:00.0000", fp);	/* torn */
	fclose(fp);
	rep = t_verify(f->trail, f->signer->pubkey);
	assert_int_equal(rep.damage, AUDIT_TRUNCATED);
	audit_verify_report_done(&rep);

	t = open_or_die(&o);
	assert_int_equal(stat(path, &st1), 0);
	assert_int_equal(st1.st_size, st0.st_size);	/* cut back */
	assert_int_equal(t_append_n(t, 2, "alice"), 0);
	audit_trail_close(t);

	rep = t_verify(f->trail, f->signer->pubkey);
	assert_int_equal(rep.damage, AUDIT_OK);
	assert_int_equal(rep.recoveries, 2);	/* torn tail + unclean end */
	audit_verify_report_done(&rep);
	assert_int_equal(count_action(f->trail, AUDIT_ACTION_RECOVERY, &c), 2);
	{
		struct audit_search_filter flt = { .action = AUDIT_ACTION_RECOVERY };
		struct count first = { 0 };

		(void)flt;
		assert_int_equal(count_action(f->trail, AUDIT_ACTION_RECOVERY, &first), 2);
	}
	/* the torn bytes were kept for investigators */
	{
		char cmd[800];

		snprintf(cmd, sizeof(cmd), "grep -q 'seq=9 time=2024' %s/torn-*.bin",
		    f->trail);
		assert_int_equal(system(cmd), 0);
	}
}

static void
test_recovery_unclean_only(void **state)
{
	struct fx *f = *state;
	struct audit_trail_options o = { .dir = f->trail, .signer = f->signer };
	struct audit_trail *t;
	struct count c;

	char path[700], cmd[800];
	struct stat st0, st1;

	crash_child(f, 3);
	/* the crashed writer's segment ends in its padding, which the
	 * verifier accepts and recovery cuts without calling it torn */
	last_seg_path(f->trail, path, sizeof(path));
	assert_int_equal(stat(path, &st0), 0);
	expect_ok(f->trail, f->signer->pubkey);
	t = open_or_die(&o);
	audit_trail_close(t);
	assert_int_equal(count_action(f->trail, AUDIT_ACTION_RECOVERY, &c), 1);
	assert_non_null(strstr(c.reason, "without audit.stop"));
	assert_int_equal(stat(path, &st1), 0);
	assert_true(st1.st_size < st0.st_size);
	snprintf(cmd, sizeof(cmd), "ls %s/torn-* >/dev/null 2>&1", f->trail);
	assert_int_not_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "tail -c 1 %s | od -An -c | grep -q '\\n'", path);
	assert_int_equal(system(cmd), 0);	/* ends with its last record */
	expect_ok(f->trail, f->signer->pubkey);
	/* a clean close leaves nothing to recover; without preallocation
	 * the live segment ends with its last record */
	t = open_or_die(&o);
	last_seg_path(f->trail, path, sizeof(path));
	snprintf(cmd, sizeof(cmd), "tail -c 1 %s | od -An -c | grep -q '\\n'", path);
	assert_int_equal(system(cmd), 0);
	audit_trail_close(t);
	assert_int_equal(count_action(f->trail, AUDIT_ACTION_RECOVERY, NULL), 1);
}

static void
test_recovery_refuses_damage(void **state)
{
	struct fx *f = *state;
	struct audit_trail_options o = { .dir = f->trail, .signer = f->signer };
	struct audit_trail *t = NULL;
	struct t_seg s;
	char **names, *err = NULL;
	size_t n;

	crash_child(f, 6);
	t_seg_names(f->trail, &names, &n);
	t_seg_load(f->trail, n - 1, &s);
	audit_segment_list_free(names, n);
	strstr(s.lines[3], "actor=")[6] = 'X';	/* not the last line */
	t_seg_store(&s);
	assert_int_equal(audit_trail_open(&o, &t, &err), -BW_E_CORRUPT);
	assert_non_null(strstr(err, "not a torn write"));
	free(err);
}

static void
test_lock(void **state)
{
	struct fx *f = *state;
	struct audit_trail_options o = { .dir = f->trail, .signer = f->signer };
	struct audit_trail *t = open_or_die(&o), *t2 = NULL;
	char *err = NULL;

	assert_int_equal(audit_trail_open(&o, &t2, &err), -EBUSY);
	assert_non_null(err);
	free(err);
	audit_trail_close(t);
}

static int
fill(const char *path)
{
	char buf[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t w;

	memset(buf, 'F', sizeof(buf));
	if (fd < 0)
		return -1;
	while ((w = write(fd, buf, sizeof(buf))) > 0)
		;
	/* fill the last partial page too */
	while (write(fd, buf, 1) == 1)
		;
	close(fd);
	return 0;
}

static void
test_fail_closed_enospc(void **state)
{
	struct fx *f = *state;
	char mnt[400], filler[420];
	struct audit_trail_options o = { .signer = f->signer, .forward_libaudit = 0,
	    .preallocate = 1 };
	struct audit_trail *t;
	struct audit_status st;
	struct audit_record recs[50];
	struct stat s0, s1;
	char segpath[800];
	uint64_t last = 0;
	int r = 0, nfit;

	snprintf(mnt, sizeof(mnt), "%s/mnt", f->root);
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=256k") < 0) {
		fprintf(stderr, "# cannot mount tmpfs: %s\n", strerror(errno));
		skip();
	}
	snprintf(f->trail, sizeof(f->trail), "%s/trail", mnt);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	o.dir = f->trail;
	t = open_or_die(&o);
	assert_int_equal(t_append_n(t, 10, "alice"), 0);
	audit_trail_status(t, &st);
	assert_true(st.healthy);
	assert_false(st.capacity_warning);

	assert_int_equal(fill(filler), 0);
	last_seg_path(f->trail, segpath, sizeof(segpath));
	/* Records still fit in the segment's zero-filled padding: those
	 * blocks exist, so these are durable. Past it, every batch is
	 * refused. */
	for (int i = 0; i < 50; i++)
		recs[i] = (struct audit_record){ .actor = "fits",
		    .action = "workload.create", .outcome = "success",
		    .reason = "written into preallocated blocks" };
	for (nfit = 0; nfit < 40; nfit++) {
		assert_int_equal(stat(segpath, &s0), 0);
		if ((r = audit_trail_append(t, recs, 50, &last)) < 0)
			break;
	}
	assert_int_equal(r, -BW_E_AUDIT);
	audit_trail_status(t, &st);
	assert_false(st.healthy);
	assert_int_equal(st.last_errno, ENOSPC);
	assert_true(st.failed_commits >= 1);
	assert_int_equal(stat(segpath, &s1), 0);
	/* partial bytes zeroed back into padding, none added */
	assert_int_equal(s1.st_size, s0.st_size);
	expect_ok(f->trail, f->signer->pubkey);
	for (int i = 0; i < 50; i++)
		recs[i].actor = "lost";
	assert_int_equal(audit_trail_append(t, recs, 50, &last), -BW_E_AUDIT);

	/* space freed: the trail heals, with a capacity record */
	assert_int_equal(unlink(filler), 0);
	recs[0].actor = "later";
	assert_int_equal(audit_trail_append(t, recs, 1, &last), 0);
	audit_trail_status(t, &st);
	assert_true(st.healthy);
	audit_trail_close(t);
	expect_ok(f->trail, f->signer->pubkey);
	{
		struct audit_search_filter flt = { .actor = "lost" };
		struct count c = { 0 };

		assert_int_equal(audit_search_dir(f->trail, &flt, count_cb, &c, NULL), 0);
		assert_int_equal(c.n, 0);	/* none of the refused records */
		flt.actor = "fits";
		c.n = 0;
		assert_int_equal(audit_search_dir(f->trail, &flt, count_cb, &c, NULL), 0);
		assert_int_equal(c.n, 50 * nfit);	/* only the acknowledged */
	}
	assert_true(count_action(f->trail, AUDIT_ACTION_CAPACITY, NULL) >= 1);
	assert_int_equal(umount2(mnt, MNT_DETACH), 0);
}

/* Bytes of NUL padding at the end of the last segment of DIR. */
static uint64_t
live_padding(const char *dir)
{
	char		path[800];
	struct stat	st;
	uint64_t	end;
	int		fd;

	last_seg_path(dir, path, sizeof(path));
	assert_true((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(audit_segment_data_end(fd, (uint64_t)st.st_size, &end), 0);
	close(fd);
	return (uint64_t)st.st_size - end;
}

/* Preallocation: while extensions come fast the padding step doubles,
 * never past 1 MiB (docs/audit-format.md, section 2); on a filesystem
 * without room for a big step, the least step that fits is taken, so
 * commits are refused only when they cannot fit at all. */
static void
test_padding_adapts(void **state)
{
	struct fx *f = *state;
	/* Every extension counts as fast, however slow a busy machine's
	 * fdatasync: the step must still stop at 1 MiB. */
	struct audit_trail_options o = { .signer = f->signer, .preallocate = 1,
	    .pad_fast_ms = 600000 };
	static char reason[8000];
	struct audit_record recs[12];
	struct audit_trail *t;
	char mnt[400];
	uint64_t pad, maxpad = 0, last = 0;
	int r = 0;

	memset(reason, 'r', sizeof(reason) - 1);
	for (int i = 0; i < 12; i++)
		recs[i] = (struct audit_record){ .actor = "pad",
		    .action = "workload.create", .outcome = "success",
		    .reason = reason };
	o.dir = f->trail;
	t = open_or_die(&o);
	for (int k = 0; k < 40; k++) {
		assert_int_equal(audit_trail_append(t, recs, 12, &last), 0);
		pad = live_padding(f->trail);
		assert_true(pad <= (1u << 20));
		if (pad > maxpad)
			maxpad = pad;
	}
	assert_true(maxpad > (512u << 10));
	audit_trail_close(t);
	expect_ok(f->trail, f->signer->pubkey);
	assert_int_equal(live_padding(f->trail), 0);	/* close cuts it */

	snprintf(mnt, sizeof(mnt), "%s/mnt", f->root);
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=1536k") < 0) {
		fprintf(stderr, "# cannot mount tmpfs: %s\n", strerror(errno));
		skip();
	}
	snprintf(f->trail, sizeof(f->trail), "%s/trail", mnt);
	o.dir = f->trail;
	t = open_or_die(&o);
	for (int k = 0; k < 200 && r == 0; k++)
		r = audit_trail_append(t, recs, 12, &last);
	assert_int_equal(r, -BW_E_AUDIT);
	/* Without the fallback, the first 1 MiB step that did not fit
	 * stopped it at about 1 MiB of records; with it, it fills the
	 * 1.5 MiB filesystem up to a last 64 KiB step. */
	{
		char path[800];
		struct stat st;

		last_seg_path(f->trail, path, sizeof(path));
		assert_int_equal(stat(path, &st), 0);
		assert_true((uint64_t)st.st_size - live_padding(f->trail) >
		    (1280u << 10));
	}
	audit_trail_close(t);
	expect_ok(f->trail, f->signer->pubkey);
	assert_int_equal(umount2(mnt, MNT_DETACH), 0);
}

static void
test_capacity_warning(void **state)
{
	struct fx *f = *state;
	char mnt[400], filler[420];
	struct audit_trail_options o = { .signer = f->signer };
	struct audit_trail *t;
	struct audit_status st;
	char buf[4096];
	int fd;

	snprintf(mnt, sizeof(mnt), "%s/mnt", f->root);
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") < 0)
		skip();
	snprintf(f->trail, sizeof(f->trail), "%s/trail", mnt);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	o.dir = f->trail;
	t = open_or_die(&o);
	/* 800 KiB of 1 MiB: over 75 %, with room left to write */
	fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	memset(buf, 'F', sizeof(buf));
	for (int i = 0; i < 200; i++)
		assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);
	usleep(250 * 1000);	/* past the statvfs rate limit */
	assert_int_equal(t_append_n(t, 1, "alice"), 0);
	audit_trail_status(t, &st);
	assert_true(st.capacity_warning);
	assert_true(st.fs_used_pct >= 75.0);
	assert_true(st.healthy);
	assert_int_equal(t_append_n(t, 1, "alice"), 0);	/* carries the warning */
	audit_trail_close(t);
	assert_int_equal(count_action(f->trail, AUDIT_ACTION_CAPACITY, NULL), 1);
	expect_ok(f->trail, f->signer->pubkey);
	assert_int_equal(umount2(mnt, MNT_DETACH), 0);
}

static void
test_forward_libaudit(void **state)
{
	struct fx *f = *state;
	struct audit_trail_options o = { .dir = f->trail, .signer = f->signer,
	    .forward_libaudit = 1, .forward_syslog = 1 };
	struct audit_trail *t;
	struct audit_status st;
	int probe = audit_forward_probe();
	struct stat sb;
	int has_syslog = stat("/dev/log", &sb) == 0 && S_ISSOCK(sb.st_mode);
	struct count c;

	t = open_or_die(&o);
	assert_int_equal(t_append_n(t, 20, "alice"), 0);
	usleep(100 * 1000);
	audit_trail_status(t, &st);
	assert_int_equal(st.libaudit_ok, probe == 0);
	assert_int_equal(st.syslog_ok, has_syslog);
	assert_int_equal(st.forward_dropped, 0);
	audit_trail_close(t);
	/* what is unavailable is said once, in the trail */
	assert_int_equal(count_action(f->trail, AUDIT_ACTION_FORWARD, &c),
	    probe == 0 && has_syslog ? 0 : 1);
	if (probe != 0)
		assert_non_null(strstr(c.reason, "libaudit unavailable"));
	if (!has_syslog)
		assert_non_null(strstr(c.reason, "syslog unavailable"));
}

/* Syslog forwarding for real: in a private mount namespace (a tmpfs on
 * /dev there only), a datagram socket listens at /dev/log. Runs in a
 * child, which reports by exit code which check failed. */
static int
syslog_child(const char *root, struct audit_signer *signer)
{
	struct audit_trail_options o = { .signer = signer, .forward_syslog = 1 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct audit_trail *t = NULL;
	struct audit_status st;
	char dir[600], msg[2048], *err = NULL;
	unsigned got = 0, ours = 0, pri_ok = 0;
	ssize_t n;
	int fd;

	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return 10;
	if (mount("tmpfs", "/dev", "tmpfs", 0, "size=64k,mode=0755") < 0)
		return 11;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", "/dev/log");
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 12;
	snprintf(dir, sizeof(dir), "%s/syslog-on", root);
	o.dir = dir;
	if (audit_trail_open(&o, &t, &err) < 0)
		return 13;
	audit_trail_status(t, &st);
	if (!st.syslog_ok)
		return 14;
	if (t_append_n(t, 5, "syslog-peer") < 0)
		return 15;
	audit_trail_close(t);		/* sends what is queued */
	while ((n = recv(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT)) > 0) {
		msg[n] = '\0';
		got++;
		if (strstr(msg, "bulwark-audit[") && strstr(msg, " actor=syslog-peer ")) {
			ours++;
			/* authpriv.info: 10 * 8 + 6 */
			pri_ok += strncmp(msg, "<86>", 4) == 0;
		}
	}
	if (ours != 5 || pri_ok != 5)
		return 16;
	if (count_action(dir, AUDIT_ACTION_FORWARD, NULL) != 0)
		return 17;		/* nothing said unavailable */

	/* No socket: said once, in the trail, and in health. */
	close(fd);
	if (unlink("/dev/log") < 0)
		return 18;
	snprintf(dir, sizeof(dir), "%s/syslog-off", root);
	if (audit_trail_open(&o, &t, &err) < 0)
		return 19;
	audit_trail_status(t, &st);
	if (st.syslog_ok)
		return 20;
	if (t_append_n(t, 3, "syslog-peer") < 0)
		return 21;
	audit_trail_close(t);
	{
		struct count c;

		if (count_action(dir, AUDIT_ACTION_FORWARD, &c) != 1 ||
		    !strstr(c.reason, "syslog unavailable"))
			return 22;
	}
	return got >= 5 ? 0 : 23;
}

static void
test_forward_syslog(void **state)
{
	struct fx *f = *state;
	pid_t pid;
	int status;

	if (geteuid() != 0) {
		fprintf(stderr, "# needs root for a private mount namespace\n");
		skip();
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(syslog_child(f->root, f->signer));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("syslog child failed check %d", WEXITSTATUS(status));
}

/* Many writers against one trail with the default checkpoint settings,
 * so the ticker streams batches (one composed and written while the
 * previous one is in fdatasync). Every acknowledged record is in the
 * trail once, with the seq it was given, and the chain verifies. With
 * FULL set the filesystem runs out of space meanwhile: refused records
 * must be absent, acknowledged ones present. */
enum { SW_NT = 24, SW_PER = 150 };

struct sw_thr {
	struct audit_trail	*t;
	int			 id;
	uint64_t		 seq[SW_PER];
	int			 res[SW_PER];
};

struct sw_seen {
	struct sw_thr	*a;
	unsigned	 found, wrong;
};

static void *
sw_writer(void *arg)
{
	struct sw_thr *a = arg;

	/* Writer 0 appends three records per call, which stay contiguous. */
	for (int i = 0; i < SW_PER;) {
		size_t n = a->id == 0 && i + 3 <= SW_PER ? 3 : 1;
		char actor[3][32];
		struct audit_record r[3];
		uint64_t last = 0;
		int res;

		for (size_t k = 0; k < n; k++) {
			snprintf(actor[k], sizeof(actor[k]), "sw-%d-%d", a->id,
			    i + (int)k);
			r[k] = (struct audit_record){ .actor = actor[k],
			    .action = "api.request", .outcome = "success",
			    .reason = "streamed" };
		}
		res = audit_trail_append(a->t, r, n, &last);
		for (size_t k = 0; k < n; k++) {
			a->res[i] = res;
			a->seq[i++] = r[k].seq;
			/* seq is given with success only, and matches */
			if (res == 0 ? r[k].seq != last - n + 1 + k : r[k].seq != 0)
				a->res[i - 1] = -1000;
		}
	}
	return NULL;
}

static int
sw_cb(const struct audit_record *rec, const char *line, size_t len, void *u)
{
	struct sw_seen *s = u;
	int id, i;

	(void)line;
	(void)len;
	if (!rec->actor || sscanf(rec->actor, "sw-%d-%d", &id, &i) != 2 ||
	    id < 0 || id >= SW_NT || i < 0 || i >= SW_PER)
		return 0;
	s->found++;
	if (s->a[id].res[i] != 0 || s->a[id].seq[i] != rec->seq)
		s->wrong++;
	return 0;
}

static void
sw_run(struct audit_trail *t, struct sw_thr *a, unsigned *ret_ok,
    unsigned *ret_failed)
{
	pthread_t th[SW_NT];

	*ret_ok = *ret_failed = 0;
	for (int i = 0; i < SW_NT; i++) {
		a[i].t = t;
		a[i].id = i;
		assert_int_equal(pthread_create(&th[i], NULL, sw_writer, &a[i]), 0);
	}
	for (int i = 0; i < SW_NT; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		for (int k = 0; k < SW_PER; k++) {
			if (a[i].res[k] == 0)
				(*ret_ok)++;
			else if (a[i].res[k] == -BW_E_AUDIT)
				(*ret_failed)++;
			else
				fail_msg("append returned %d", a[i].res[k]);
		}
	}
}

static void
sw_check(const char *dir, struct sw_thr *a, unsigned ok)
{
	struct audit_search_filter flt = { .action = "api.request" };
	struct sw_seen s = { .a = a };

	assert_int_equal(audit_search_dir(dir, &flt, sw_cb, &s, NULL), 0);
	assert_int_equal(s.wrong, 0);
	assert_int_equal(s.found, ok);
}

/* Whether this process may run a thread at SCHED_FIFO, found by trying
 * on a thread of its own. */
static void *
rt_probe(void *arg)
{
	struct sched_param sp = { .sched_priority = 1 };

	*(int *)arg = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
	return NULL;
}

static int
may_realtime(void)
{
	pthread_t th;
	int ok = 0;

	assert_int_equal(pthread_create(&th, NULL, rt_probe, &ok), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	return ok;
}

static void
test_stream_many_writers(void **state)
{
	struct fx *f = *state;

	/* Plain, preallocated, and as bulwarkd opens it (preallocated,
	 * real-time commit threads). */
	for (int mode = 0; mode < 3; mode++) {
		struct audit_trail_options o = { .signer = f->signer,
		    .preallocate = mode > 0, .realtime = mode == 2 };
		struct sw_thr *a = calloc(SW_NT, sizeof(*a));
		struct audit_trail *t;
		struct audit_status st;
		unsigned ok, failed;
		char dir[600];

		snprintf(dir, sizeof(dir), "%s/stream-%d", f->root, mode);
		o.dir = dir;
		t = open_or_die(&o);
		audit_trail_status(t, &st);
		assert_int_equal(st.realtime, mode == 2 && may_realtime());
		sw_run(t, a, &ok, &failed);
		assert_int_equal(failed, 0);
		assert_int_equal(ok, SW_NT * SW_PER);
		audit_trail_close(t);
		expect_ok(dir, f->signer->pubkey);
		sw_check(dir, a, ok);
		free(a);
	}
}

static void
test_stream_enospc(void **state)
{
	struct fx *f = *state;
	struct audit_trail_options o = { .signer = f->signer };
	struct sw_thr *a = calloc(SW_NT, sizeof(*a));
	struct audit_trail *t;
	struct audit_status st;
	struct stat fs;
	char mnt[400], filler[420];
	unsigned ok, failed;

	snprintf(mnt, sizeof(mnt), "%s/mnt", f->root);
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=512k") < 0) {
		fprintf(stderr, "# cannot mount tmpfs: %s\n", strerror(errno));
		free(a);
		skip();
	}
	snprintf(f->trail, sizeof(f->trail), "%s/trail", mnt);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	o.dir = f->trail;
	t = open_or_die(&o);
	/* Room for a few hundred of the 3600 records. */
	assert_int_equal(fill(filler), 0);
	assert_int_equal(stat(filler, &fs), 0);
	assert_int_equal(truncate(filler, fs.st_size - 96 * 1024), 0);
	sw_run(t, a, &ok, &failed);
	assert_true(ok > 0);
	assert_true(failed > 0);
	assert_int_equal(ok + failed, SW_NT * SW_PER);
	audit_trail_status(t, &st);
	assert_int_equal(st.last_errno, ENOSPC);
	/* Not verified while open: the ticker may be half-way through a
	 * checkpoint that is about to fail and be cut. Search skips such
	 * a partial line. */
	sw_check(f->trail, a, ok);

	/* space freed: appends succeed again */
	assert_int_equal(unlink(filler), 0);
	assert_int_equal(t_append_n(t, 5, "later"), 0);
	audit_trail_close(t);
	expect_ok(f->trail, f->signer->pubkey);
	sw_check(f->trail, a, ok);
	free(a);
	assert_int_equal(umount2(mnt, MNT_DETACH), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_chain_and_seq),
		T(test_concurrent_group_commit),
		T(test_rotation_size_and_time),
		T(test_checkpoints),
		T(test_retention),
		T(test_recovery_torn_tail),
		T(test_recovery_unclean_only),
		T(test_recovery_refuses_damage),
		T(test_lock),
		T(test_fail_closed_enospc),
		T(test_padding_adapts),
		T(test_capacity_warning),
		T(test_forward_libaudit),
		T(test_forward_syslog),
		T(test_stream_many_writers),
		T(test_stream_enospc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
