/* LMDB-specific behaviour of the store: the single-opener lock, the
 * on-disk layout documented in store-lmdb.c, refusal of inconsistent
 * files, a full map, descriptors and modes. The backend-neutral
 * behaviour is in test-store-conformance.c. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "controlplane/store-lmdb.h"
#include "controlplane/store.h"
#include "lib/err.h"

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static int
dir_setup(void **state)
{
	char	*dir = malloc(PATH_MAX);
	const char *tmp = getenv("TMPDIR");

	if (!dir)
		return -1;
	snprintf(dir, PATH_MAX, "%s/bw-store-lmdb-......",
	    tmp && tmp[0] ? tmp : "/tmp");
	/* mkdtemp() replaces the last six characters of the template. */
	memset(dir + strlen(dir) - 6, 'X', 6);
	if (!mkdtemp(dir)) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int
dir_teardown(void **state)
{
	nftw(*state, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(*state);
	return 0;
}

static struct store *
open_ok(const char *dir, size_t map_size)
{
	struct store_options opts = { .map_size = map_size };
	struct store *st = NULL;
	char	*err = NULL;
	int	 r;

	r = store_open_lmdb(dir, &opts, &st, &err);
	if (r < 0)
		print_error("store_open_lmdb: %s\n", err ? err : "?");
	assert_int_equal(r, 0);
	assert_null(err);
	return st;
}

/* Opens DIR's environment directly, as the layout comment describes. */
static MDB_env *
raw_open(const char *dir, MDB_txn **txn, MDB_dbi *meta, MDB_dbi *kv,
    MDB_dbi *log)
{
	MDB_env	*env = NULL;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 3), 0);
	assert_int_equal(mdb_env_set_mapsize(env, 64u << 20), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, txn), 0);
	assert_int_equal(mdb_dbi_open(*txn, "meta", 0, meta), 0);
	assert_int_equal(mdb_dbi_open(*txn, "kv", 0, kv), 0);
	assert_int_equal(mdb_dbi_open(*txn, "log", 0, log), 0);
	return env;
}

static void
test_single_opener(void **state)
{
	const char *dir = *state;
	struct store *a = open_ok(dir, 0), *b = NULL;
	char	*err = NULL;

	assert_string_equal(store_backend_name(a), "lmdb");
	/* WAL mode (the default): LMDB commits unsynced, the log is
	 * synced instead (test_wal_*); never the map-based relaxations. */
	assert_true(store_lmdb_env_flags(a) >= 0);
	assert_int_equal(store_lmdb_env_flags(a) & (MDB_NOSYNC |
	    MDB_NOMETASYNC | MDB_MAPASYNC | MDB_WRITEMAP | MDB_RDONLY),
	    MDB_NOSYNC);
	assert_true(store_lmdb_env_flags(a) & MDB_NOTLS);
	assert_int_equal(store_open_lmdb(dir, NULL, &b, &err), -EBUSY);
	assert_null(b);
	assert_non_null(strstr(err, "in use"));
	free(err);
	store_close(a);
	b = open_ok(dir, 0);
	store_close(b);
	{
		/* Sync mode: LMDB's own durable commits, no relaxation. */
		struct store_options so = { .durability = STORE_DURABILITY_SYNC };

		assert_int_equal(store_open_lmdb(dir, &so, &b, NULL), 0);
		assert_int_equal(store_lmdb_env_flags(b) & (MDB_NOSYNC |
		    MDB_NOMETASYNC | MDB_MAPASYNC | MDB_WRITEMAP | MDB_RDONLY), 0);
		store_close(b);
	}
}

/* ---- WAL mode: crash recovery ---- */

#define WAL_N	300

static bool
path_exists(const char *dir, const char *name)
{
	char	 path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static void
read_all(const char *path, unsigned char **ret, size_t *ret_len)
{
	struct stat sb;
	unsigned char *buf;
	int	 fd;

	assert_true((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	assert_non_null(buf = malloc((size_t)sb.st_size + 1));
	assert_int_equal(pread(fd, buf, (size_t)sb.st_size, 0), sb.st_size);
	close(fd);
	*ret = buf;
	*ret_len = (size_t)sb.st_size;
}

/* In a child: opens DIR in WAL mode with OPTS, copies data.mdb as the
 * open's checkpoint left it to DIR/../ckpt when CKPT is set, makes
 * WAL_N acknowledged writes (puts, every tenth a delete of an earlier
 * key) and exits without closing: what kill -9 leaves. */
static void
crash_child(const char *dir, const struct store_options *opts,
    const char *ckpt)
{
	struct store *st = NULL;
	char	 key[32], val[64], path[PATH_MAX];
	pid_t	 pid;
	int	 status, i;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (store_open_lmdb(dir, opts, &st, NULL) < 0)
			_exit(2);
		if (ckpt) {
			unsigned char *b;
			size_t	 n;
			int	 fd;

			snprintf(path, sizeof(path), "%s/data.mdb", dir);
			read_all(path, &b, &n);
			fd = open(ckpt, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			    0600);
			if (fd < 0 || write(fd, b, n) != (ssize_t)n)
				_exit(3);
			close(fd);
			free(b);
		}
		for (i = 1; i <= WAL_N; i++) {
			if (i % 10 == 0) {
				snprintf(key, sizeof(key), "/k/%04d", i - 5);
				if (store_delete(st, key, STORE_REV_ANY, NULL) < 0)
					_exit(4);
				continue;
			}
			snprintf(key, sizeof(key), "/k/%04d", i);
			snprintf(val, sizeof(val), "value of %d, long enough "
			    "to span entries", i);
			if (store_put(st, key, val, strlen(val), STORE_REV_ANY,
			    NULL) < 0)
				_exit(5);
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Every acknowledged write of crash_child is there, nothing else. */
static void
check_after_crash(struct store *st, int n_expected)
{
	struct store_kv **items = NULL, *kv = NULL;
	char	 key[32], val[64];
	size_t	 n = 0, i;
	int	 k, want = 0;

	assert_int_equal(store_revision(st), (uint64_t)n_expected);
	assert_int_equal(store_list(st, "/k/", &items, &n, NULL), 0);
	for (k = 1; k <= n_expected; k++)
		if (k % 10 != 0 && (k + 5) % 10 != 0)
			want++;
	/* puts whose key a later delete removed: k with k + 5 = 10m, but
	 * only when that delete is within the first n_expected writes */
	for (k = 1; k <= n_expected; k++)
		if ((k + 5) % 10 == 0 && k + 5 > n_expected)
			want++;
	assert_int_equal(n, (size_t)want);
	store_kv_array_free(items, n);
	for (i = 1; i <= (size_t)n_expected; i++) {
		if (i % 10 == 0)
			continue;
		snprintf(key, sizeof(key), "/k/%04zu", i);
		if ((i + 5) % 10 == 0 && i + 5 <= (size_t)n_expected) {
			assert_int_equal(store_get(st, key, &kv), -BW_E_NOTFOUND);
			continue;
		}
		assert_int_equal(store_get(st, key, &kv), 0);
		snprintf(val, sizeof(val), "value of %zu, long enough to span "
		    "entries", i);
		assert_int_equal(kv->value_len, strlen(val));
		assert_memory_equal(kv->value, val, strlen(val));
		store_kv_free(kv);
	}
}

static void
test_wal_kill9(void **state)
{
	const char *dir = *state;
	/* Small thresholds: several checkpoints and generations. */
	struct store_options o = { .map_size = 64u << 20,
	    .checkpoint_bytes = 16 << 10, .checkpoint_pages = 64 };
	struct store *st;

	crash_child(dir, &o, NULL);
	assert_true(path_exists(dir, "store.wal"));
	assert_int_equal(store_open_lmdb(dir, &o, &st, NULL), 0);
	check_after_crash(st, WAL_N);
	assert_int_equal(store_put(st, "/after", "x", 1, STORE_REV_ANY, NULL), 0);
	store_close(st);
	/* A clean close leaves no log behind. */
	assert_false(path_exists(dir, "store.wal"));
	st = open_ok(dir, 64u << 20);
	assert_int_equal(store_revision(st), WAL_N + 1);
	store_close(st);
}

/* Power loss: nothing LMDB wrote after the checkpoint reached the disk
 * (GARBLE = 0), or it reached it as garbage (GARBLE = 1: torn pages and
 * metas). Either way the checkpoint's pages are intact, and the log
 * restores every acknowledged write. */
static void
power_loss(const char *dir, int garble)
{
	/* No checkpoint after the one the open takes. */
	struct store_options o = { .map_size = 64u << 20,
	    .checkpoint_bytes = 64 << 20, .checkpoint_pages = 1 << 20,
	    .checkpoint_ms = 3600000 };
	unsigned char *ck, *cur;
	size_t	 cklen, curlen, off, ps = 4096, changed = 0;
	char	 ckpt[PATH_MAX], data[PATH_MAX];
	struct store *st;
	int	 fd;

	snprintf(ckpt, sizeof(ckpt), "%s.ckpt", dir);
	snprintf(data, sizeof(data), "%s/data.mdb", dir);
	crash_child(dir, &o, ckpt);
	read_all(ckpt, &ck, &cklen);
	read_all(data, &cur, &curlen);
	assert_true((fd = open(data, O_WRONLY | O_CLOEXEC)) >= 0);
	for (off = 0; off < curlen; off += ps) {
		size_t n = curlen - off < ps ? curlen - off : ps;
		bool same = off + n <= cklen && memcmp(ck + off, cur + off, n) == 0;

		if (same)
			continue;
		changed++;
		if (garble) {
			size_t j;

			for (j = 0; j < n; j++)
				cur[off + j] = (unsigned char)(off * 31 + j * 7 + 1);
		} else if (off + n <= cklen)
			memcpy(cur + off, ck + off, n);
		else
			memset(cur + off, 0, n);
		assert_int_equal(pwrite(fd, cur + off, n, (off_t)off), (ssize_t)n);
	}
	close(fd);
	unlink(ckpt);
	/* the metas and the transactions' pages changed */
	assert_true(changed > 2);
	free(ck);
	free(cur);
	assert_int_equal(store_open_lmdb(dir, &o, &st, NULL), 0);
	check_after_crash(st, WAL_N);
	store_close(st);
}

static void
test_wal_power_loss_lost(void **state)
{
	power_loss(*state, 0);
}

static void
test_wal_power_loss_garbage(void **state)
{
	power_loss(*state, 1);
}

/* Recovery replays on the checkpoint's snapshot pinned: none of its
 * pages (all of data.mdb as the checkpoint left it but the two metas;
 * a new store's first snapshot frees nothing) is written over by the
 * replay, so a second crash before the opening checkpoint is durable
 * could still return to it. */
static void
test_wal_replay_pinned(void **state)
{
	const char *dir = *state;
	struct store_options o = { .map_size = 64u << 20,
	    .checkpoint_bytes = 64 << 20, .checkpoint_pages = 1 << 20,
	    .checkpoint_ms = 3600000 };
	unsigned char *ck, *cur;
	size_t	 cklen, curlen, ps = 4096;
	char	 ckpt[PATH_MAX], data[PATH_MAX];
	struct store *st;

	snprintf(ckpt, sizeof(ckpt), "%s.ckpt", dir);
	snprintf(data, sizeof(data), "%s/data.mdb", dir);
	crash_child(dir, &o, ckpt);
	read_all(ckpt, &ck, &cklen);
	unlink(ckpt);
	assert_true(cklen > 2 * ps);
	assert_int_equal(store_open_lmdb(dir, &o, &st, NULL), 0);
	check_after_crash(st, WAL_N);
	read_all(data, &cur, &curlen);
	assert_true(curlen >= cklen);
	assert_memory_equal(cur + 2 * ps, ck + 2 * ps, cklen - 2 * ps);
	store_close(st);
	free(ck);
	free(cur);
}

/* A torn last record (a write that was never acknowledged) is ignored;
 * so is a record of an older generation. */
static void
test_wal_torn_tail(void **state)
{
	const char *dir = *state;
	struct store_options o = { .map_size = 64u << 20,
	    .checkpoint_bytes = 64 << 20, .checkpoint_pages = 1 << 20,
	    .checkpoint_ms = 3600000 };
	unsigned char *w, *z;
	size_t	 len, off, last = 0;
	char	 path[PATH_MAX];
	struct store *st;
	int	 fd;

	crash_child(dir, &o, NULL);
	snprintf(path, sizeof(path), "%s/store.wal", dir);
	read_all(path, &w, &len);
	/* find the last record: records start 8-aligned after two header
	 * slots of 4096 + 2 * 4096 bytes, magic "BWRW" */
	for (off = 2 * (4096 + 2 * 4096); off + 8 <= len; off += 8)
		if (memcmp(w + off, "BWRW", 4) == 0)
			last = off;
	assert_true(last > 0);
	/* flip a payload byte of the last record */
	assert_true((fd = open(path, O_WRONLY | O_CLOEXEC)) >= 0);
	w[last + 60] ^= 0x55;
	assert_int_equal(pwrite(fd, w + last + 60, 1, (off_t)(last + 60)), 1);
	close(fd);
	free(w);
	assert_int_equal(store_open_lmdb(dir, &o, &st, NULL), 0);
	check_after_crash(st, WAL_N - 1);
	store_close(st);
	/* A damaged log with no valid header but records is refused. */
	crash_child(dir, &o, NULL);
	assert_true((fd = open(path, O_WRONLY | O_CLOEXEC)) >= 0);
	assert_non_null(z = calloc(1, 2 * (4096 + 2 * 4096)));
	assert_int_equal(pwrite(fd, z, 2 * (4096 + 2 * 4096), 0),
	    2 * (4096 + 2 * 4096));
	close(fd);
	free(z);
	{
		char *err = NULL;

		st = NULL;
		assert_int_equal(store_open_lmdb(dir, &o, &st, &err),
		    -BW_E_CORRUPT);
		assert_null(st);
		assert_non_null(strstr(err, "store.wal"));
		free(err);
	}
}

/* A log left by a crash is recovered by an open in sync mode too, which
 * then drops it. */
static void
test_wal_to_sync(void **state)
{
	const char *dir = *state;
	struct store_options o = { .map_size = 64u << 20 };
	struct store_options so = { .map_size = 64u << 20,
	    .durability = STORE_DURABILITY_SYNC };
	struct store *st;

	crash_child(dir, &o, NULL);
	assert_true(path_exists(dir, "store.wal"));
	assert_int_equal(store_open_lmdb(dir, &so, &st, NULL), 0);
	assert_false(path_exists(dir, "store.wal"));
	check_after_crash(st, WAL_N);
	store_close(st);
}

/* Labels every deleted value "node-1" (store_set_delete_label()). */
static void
label_node1(const char *key, const void *value, size_t len, char *buf,
    size_t size)
{
	snprintf(buf, size, "node-1");
}

static void
test_layout(void **state)
{
	const char *dir = *state;
	struct store *st = open_ok(dir, 0);
	/* a delete: type, key length, key, the deleted value's label */
	const unsigned char log2[] = { 'D', 0, 2, '/', 'k',
	    'n', 'o', 'd', 'e', '-', '1' };
	MDB_env	*env;
	MDB_txn	*txn;
	MDB_dbi	 meta, kv, log;
	MDB_val	 k, v;
	unsigned char rk[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
	char	 path[PATH_MAX];
	struct stat sb;

	store_set_delete_label(st, label_node1);
	assert_int_equal(store_put(st, "/k", "hello", 5, STORE_REV_ANY, NULL),
	    0);
	assert_int_equal(store_delete(st, "/k", STORE_REV_ANY, NULL), 0);
	assert_int_equal(store_put(st, "/k", "again", 5, STORE_REV_ANY, NULL),
	    0);
	assert_int_equal(store_compact(st, 1), 0);
	store_close(st);

	/* Files and modes. */
	assert_int_equal(stat(dir, &sb), 0);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/store.lock", dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	env = raw_open(dir, &txn, &meta, &kv, &log);
	k.mv_data = "format";
	k.mv_size = 6;
	assert_int_equal(mdb_get(txn, meta, &k, &v), 0);
	assert_int_equal(v.mv_size, 4);
	assert_memory_equal(v.mv_data, "\0\0\0\2", 4);
	k.mv_data = "revision";
	k.mv_size = 8;
	assert_int_equal(mdb_get(txn, meta, &k, &v), 0);
	assert_memory_equal(v.mv_data, "\0\0\0\0\0\0\0\3", 8);
	k.mv_data = "compacted";
	k.mv_size = 9;
	assert_int_equal(mdb_get(txn, meta, &k, &v), 0);
	assert_memory_equal(v.mv_data, "\0\0\0\0\0\0\0\1", 8);
	/* kv: create_rev 3, mod_rev 3, value. */
	k.mv_data = "/k";
	k.mv_size = 2;
	assert_int_equal(mdb_get(txn, kv, &k, &v), 0);
	assert_int_equal(v.mv_size, 16 + 5);
	assert_memory_equal(v.mv_data,
	    "\0\0\0\0\0\0\0\3\0\0\0\0\0\0\0\3again", 21);
	/* log: revision 1 compacted away, 2 a delete, 3 a put. */
	k.mv_data = rk;
	k.mv_size = 8;
	rk[7] = 1;
	assert_int_equal(mdb_get(txn, log, &k, &v), MDB_NOTFOUND);
	rk[7] = 2;
	assert_int_equal(mdb_get(txn, log, &k, &v), 0);
	assert_int_equal(v.mv_size, sizeof(log2));
	assert_memory_equal(v.mv_data, log2, sizeof(log2));
	rk[7] = 3;
	assert_int_equal(mdb_get(txn, log, &k, &v), 0);
	assert_int_equal(v.mv_size, 3 + 2 + 5);
	assert_memory_equal(v.mv_data, "P\0\2/kagain", 10);
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

/* Rewrites meta record NAME of the store in DIR to VAL (LEN bytes). */
static void
raw_meta_put(const char *dir, const char *name, const void *val, size_t len)
{
	MDB_env	*env;
	MDB_txn	*txn;
	MDB_dbi	 meta, kv, log;
	MDB_val	 k = { strlen(name), (void *)name }, v = { len, (void *)val };

	env = raw_open(dir, &txn, &meta, &kv, &log);
	assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void
expect_corrupt(const char *dir, const char *what)
{
	struct store *st = NULL;
	char	*err = NULL;

	assert_int_equal(store_open_lmdb(dir, NULL, &st, &err),
	    -BW_E_CORRUPT);
	assert_null(st);
	assert_non_null(err);
	if (!strstr(err, what))
		fail_msg("error \"%s\" lacks \"%s\"", err, what);
	free(err);
}

static void
test_refuses_inconsistent(void **state)
{
	const char *dir = *state;
	struct store *st = open_ok(dir, 0);
	const unsigned char rev9[8] = { 0, 0, 0, 0, 0, 0, 0, 9 };
	const unsigned char rev3[8] = { 0, 0, 0, 0, 0, 0, 0, 3 };
	const unsigned char rev1[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
	const unsigned char rev2[8] = { 0, 0, 0, 0, 0, 0, 0, 2 };

	assert_int_equal(store_put(st, "/a", "1", 1, STORE_REV_ANY, NULL), 0);
	assert_int_equal(store_put(st, "/b", "2", 1, STORE_REV_ANY, NULL), 0);
	assert_int_equal(store_put(st, "/c", "3", 1, STORE_REV_ANY, NULL), 0);
	store_close(st);

	/* A revision counter ahead of the log (a lost log entry). */
	raw_meta_put(dir, "revision", rev9, 8);
	expect_corrupt(dir, "disagree");
	raw_meta_put(dir, "revision", rev3, 8);
	/* A horizon that claims entries it did not drop. */
	raw_meta_put(dir, "compacted", rev1, 8);
	expect_corrupt(dir, "disagree");
	raw_meta_put(dir, "compacted", "\0\0\0\0\0\0\0\0", 8);
	/* A revision counter behind the log. */
	raw_meta_put(dir, "revision", rev2, 8);
	expect_corrupt(dir, "disagree");
	raw_meta_put(dir, "revision", rev3, 8);
	/* A malformed record, and a format from the future. */
	raw_meta_put(dir, "revision", "\0\3", 2);
	expect_corrupt(dir, "revision");
	raw_meta_put(dir, "revision", rev3, 8);
	raw_meta_put(dir, "format", "\0\0\0\3", 4);
	expect_corrupt(dir, "format 3");
	raw_meta_put(dir, "format", "\0\0\0\0", 4);
	expect_corrupt(dir, "format 0");
	raw_meta_put(dir, "format", "\0\0\0\2", 4);
	st = open_ok(dir, 0);
	assert_int_equal(store_revision(st), 3);
	store_close(st);
}

/* Rewrites change-log entry REV of the store in DIR to a delete of KEY
 * with the label bytes LABEL (LEN of them), as the layout has it. */
static void
raw_log_delete(const char *dir, uint64_t rev, const char *key,
    const char *label, size_t len)
{
	MDB_env	*env;
	MDB_txn	*txn;
	MDB_dbi	 meta, kv, log;
	unsigned char rk[8], v[256];
	size_t	 kl = strlen(key);
	MDB_val	 k = { sizeof(rk), rk }, val = { 3 + kl + len, v };
	int	 i;

	assert_true(3 + kl + len <= sizeof(v));
	for (i = 0; i < 8; i++)
		rk[i] = (unsigned char)(rev >> (56 - 8 * i));
	v[0] = 'D';
	v[1] = (unsigned char)(kl >> 8);
	v[2] = (unsigned char)kl;
	memcpy(v + 3, key, kl);
	memcpy(v + 3 + kl, label, len);
	env = raw_open(dir, &txn, &meta, &kv, &log);
	assert_int_equal(mdb_put(txn, log, &k, &val, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

/* The change of revision 2 of the store in DIR, a delete, into LABEL;
 * returns store_changes()'s result. */
static int
delete_label_of(const char *dir, char label[STORE_LABEL_MAX + 1])
{
	struct store *st = open_ok(dir, 0);
	struct store_event *ev = NULL;
	size_t	 n = 0;
	int	 r;

	r = store_changes(st, "", 1, 10, &ev, &n);
	if (r == 0) {
		assert_int_equal(n, 1);
		assert_int_equal(ev[0].type, STORE_OP_DELETE);
		memcpy(label, ev[0].label, STORE_LABEL_MAX + 1);
	}
	store_events_free(ev, n);
	store_close(st);
	return r;
}

/* A delete's label as the decoder reads the bytes: none (as format 1
 * wrote it) is "", STORE_LABEL_MAX bytes are the label, one more is
 * damage. */
static void
test_delete_label_bytes(void **state)
{
	const char *dir = *state;
	struct store *st = open_ok(dir, 0);
	char	 bytes[STORE_LABEL_MAX + 1], label[STORE_LABEL_MAX + 1];

	assert_int_equal(store_put(st, "/k", "v", 1, STORE_REV_ANY, NULL), 0);
	assert_int_equal(store_delete(st, "/k", STORE_REV_ANY, NULL), 0);
	store_close(st);
	memset(bytes, 'x', sizeof(bytes));

	raw_log_delete(dir, 2, "/k", "", 0);
	assert_int_equal(delete_label_of(dir, label), 0);
	assert_string_equal(label, "");
	raw_log_delete(dir, 2, "/k", "node-1", 6);
	assert_int_equal(delete_label_of(dir, label), 0);
	assert_string_equal(label, "node-1");
	raw_log_delete(dir, 2, "/k", bytes, STORE_LABEL_MAX);
	assert_int_equal(delete_label_of(dir, label), 0);
	assert_int_equal(strlen(label), STORE_LABEL_MAX);
	raw_log_delete(dir, 2, "/k", bytes, STORE_LABEL_MAX + 1);
	assert_int_equal(delete_label_of(dir, label), -BW_E_CORRUPT);
}

/* The "format" record of the store in DIR. */
static uint32_t
raw_format(const char *dir)
{
	MDB_env	*env;
	MDB_txn	*txn;
	MDB_dbi	 meta, kv, log;
	MDB_val	 k = { 6, "format" }, v;
	const unsigned char *p;
	uint32_t format;

	env = raw_open(dir, &txn, &meta, &kv, &log);
	assert_int_equal(mdb_get(txn, meta, &k, &v), 0);
	assert_int_equal(v.mv_size, 4);
	p = v.mv_data;
	format = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return format;
}

/* Makes the store in DIR format 1 (a build before the delete labels):
 * a put and an unlabelled delete of "/a", then the format record. */
static void
make_format1(const char *dir)
{
	struct store *st = open_ok(dir, 0);

	assert_int_equal(store_put(st, "/a", "1", 1, STORE_REV_ANY, NULL), 0);
	assert_int_equal(store_delete(st, "/a", STORE_REV_ANY, NULL), 0);
	store_close(st);
	raw_meta_put(dir, "format", "\0\0\0\1", 4);
}

/* Opens DIR with OPTS, makes a put and a delete of KEY, labelled
 * "node-1" when LABEL is set, and closes it. */
static void
put_delete(const char *dir, const struct store_options *opts,
    const char *key, bool label)
{
	struct store *st = NULL;
	char	*err = NULL;

	assert_int_equal(store_open_lmdb(dir, opts, &st, &err), 0);
	assert_null(err);
	if (label)
		store_set_delete_label(st, label_node1);
	assert_int_equal(store_put(st, key, "x", 1, STORE_REV_ANY, NULL), 0);
	assert_int_equal(store_delete(st, key, STORE_REV_ANY, NULL), 0);
	store_close(st);
}

/* A store of format 1 opens and keeps its unlabelled deletes readable;
 * it stays format 1 (readable by the older build: a failed trial boot
 * falls back to one) until the first delete with a label, which marks
 * it format 2 in either durability mode. (The format is read only once
 * the store is closed: a second environment in this process would break
 * LMDB's locks.) */
static void
test_format_upgrade(void **state)
{
	const char *dir = *state;
	struct store_options wal = { .durability = STORE_DURABILITY_WAL },
		 sync = { .durability = STORE_DURABILITY_SYNC };
	struct store *st;
	struct store_event *ev = NULL;
	size_t	 n = 0;

	make_format1(dir);
	st = open_ok(dir, 0);
	assert_int_equal(store_changes(st, "", 0, 10, &ev, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ev[1].type, STORE_OP_DELETE);
	assert_string_equal(ev[1].label, "");
	store_events_free(ev, n);
	store_close(st);
	assert_int_equal(raw_format(dir), 1);

	put_delete(dir, &wal, "/b", false);
	assert_int_equal(raw_format(dir), 1);
	put_delete(dir, &wal, "/c", true);
	assert_int_equal(raw_format(dir), 2);

	raw_meta_put(dir, "format", "\0\0\0\1", 4);
	put_delete(dir, &sync, "/d", false);
	assert_int_equal(raw_format(dir), 1);
	put_delete(dir, &sync, "/e", true);
	assert_int_equal(raw_format(dir), 2);
}

/* The marking is logged with its delete: a power cut that loses every
 * page LMDB wrote after the open's checkpoint (data.mdb put back as the
 * checkpoint left it) leaves both to recovery, which replays both. */
static void
test_format_mark_recovered(void **state)
{
	const char *dir = *state;
	struct store_options o = { .durability = STORE_DURABILITY_WAL,
	    .checkpoint_bytes = 64 << 20, .checkpoint_pages = 1 << 20,
	    .checkpoint_ms = 3600000 };
	struct store *st = NULL;
	struct store_event *ev = NULL;
	struct store_kv *kv = NULL;
	unsigned char *ck;
	char	 data[PATH_MAX];
	size_t	 cklen = 0, n = 0;
	pid_t	 pid;
	int	 status, fd;

	make_format1(dir);
	snprintf(data, sizeof(data), "%s/data.mdb", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (store_open_lmdb(dir, &o, &st, NULL) < 0)
			_exit(2);
		/* what the open's checkpoint synced */
		read_all(data, &ck, &cklen);
		fd = open(data, O_WRONLY | O_CLOEXEC);
		store_set_delete_label(st, label_node1);
		if (fd < 0 || store_put(st, "/m", "x", 1, STORE_REV_ANY,
		    NULL) < 0 || store_delete(st, "/m", STORE_REV_ANY,
		    NULL) < 0)
			_exit(3);
		/* the power cut: none of LMDB's writes since reached the disk */
		if (pwrite(fd, ck, cklen, 0) != (ssize_t)cklen ||
		    ftruncate(fd, (off_t)cklen) < 0)
			_exit(4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(path_exists(dir, "store.wal"));

	assert_int_equal(store_open_lmdb(dir, &o, &st, NULL), 0);
	assert_int_equal(store_revision(st), 4);
	assert_int_equal(store_get(st, "/m", &kv), -BW_E_NOTFOUND);
	assert_int_equal(store_changes(st, "", 3, 10, &ev, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].type, STORE_OP_DELETE);
	assert_string_equal(ev[0].label, "node-1");
	store_events_free(ev, n);
	store_close(st);
	assert_int_equal(raw_format(dir), 2);
}

static void
test_map_full(void **state)
{
	const char *dir = *state;
	struct store *st = open_ok(dir, 1u << 20);
	static char big[64 << 10];
	struct store_kv **a = NULL;
	struct store_event *ev = NULL;
	uint64_t rev = 0;
	size_t	 n = 0;
	char	 key[32];
	int	 i, r = 0;

	memset(big, 'x', sizeof(big));
	/* Each put stores the value twice (data and log). */
	for (i = 0; i < 64; i++) {
		snprintf(key, sizeof(key), "/f/%02d", i);
		r = store_put(st, key, big, sizeof(big), STORE_REV_ANY, &rev);
		if (r < 0)
			break;
	}
	assert_int_equal(r, -ENOSPC);
	assert_true(i > 0);
	/* The failed write left nothing; reads and the log still work. */
	assert_int_equal(store_revision(st), (uint64_t)i);
	assert_int_equal(store_list(st, "/f/", &a, &n, &rev), 0);
	assert_int_equal(n, (size_t)i);
	assert_int_equal(rev, (uint64_t)i);
	store_kv_array_free(a, n);
	assert_int_equal(store_changes(st, "", 0, 1000, &ev, &n), 0);
	assert_int_equal(n, (size_t)i);
	store_events_free(ev, n);
	store_close(st);
	/* Reopened with a bigger map, writing goes on. */
	st = open_ok(dir, 8u << 20);
	assert_int_equal(store_revision(st), (uint64_t)i);
	assert_int_equal(store_put(st, "/f/more", big, sizeof(big),
	    STORE_REV_ANY, &rev), 0);
	assert_int_equal(rev, (uint64_t)i + 1);
	store_close(st);
}

/* Marks in SEEN (indexed by fd, FD_MAX entries) the descriptors open
 * now; returns how many were not already marked. When CHECK is set, a
 * newly seen descriptor without FD_CLOEXEC fails the test. */
#define FD_MAX 4096
static int
scan_fds(unsigned char *seen, int check)
{
	struct dirent *de;
	DIR	*d;
	int	 fd, flags, fresh = 0;

	assert_non_null(d = opendir("/proc/self/fd"));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		if (fd < 0 || fd >= FD_MAX || fd == dirfd(d) || seen[fd])
			continue;
		seen[fd] = 1;
		fresh++;
		if (!check || (flags = fcntl(fd, F_GETFD)) < 0)
			continue;
		if (!(flags & FD_CLOEXEC))
			fail_msg("fd %d lacks FD_CLOEXEC", fd);
	}
	closedir(d);
	return fresh;
}

static void
test_fds_cloexec(void **state)
{
	const char *dir = *state;
	static unsigned char seen[FD_MAX];
	struct store_kv *kv = NULL;
	struct store *st;

	/* Only the store's own descriptors are ours to judge. */
	scan_fds(seen, 0);
	st = open_ok(dir, 0);
	assert_int_equal(store_put(st, "/x", "1", 1, STORE_REV_ANY, NULL), 0);
	assert_int_equal(store_get(st, "/x", &kv), 0);
	store_kv_free(kv);
	/* store.lock, lock.mdb, data.mdb (LMDB opens it twice). */
	assert_true(scan_fds(seen, 1) >= 3);
	store_close(st);
}

static void
test_open_errors(void **state)
{
	const char *dir = *state;
	struct store_options tiny = { .map_size = 4096 };
	struct store *st = NULL;
	char	 path[PATH_MAX];
	char	*err = NULL;
	int	 fd;

	assert_int_equal(store_open_lmdb(dir, &tiny, &st, &err),
	    -BW_E_INVALID);
	assert_non_null(strstr(err, "map_size"));
	free(err);
	err = NULL;
	assert_int_equal(store_open_lmdb(NULL, NULL, &st, &err),
	    -BW_E_INVALID);
	free(err);
	err = NULL;
	/* A regular file where the directory should be. */
	snprintf(path, sizeof(path), "%s/file", dir);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0);
	close(fd);
	assert_true(store_open_lmdb(path, NULL, &st, &err) < 0);
	assert_null(st);
	assert_non_null(err);
	free(err);
	/* A new nested directory is created private. */
	snprintf(path, sizeof(path), "%s/a/b", dir);
	st = open_ok(path, 0);
	store_close(st);
	{
		struct stat sb;

		assert_int_equal(stat(path, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0700);
	}
}

/* Runs store_maintain() until the log is within its retention. */
static void
maintain_all(struct store *st)
{
	int r, rounds = 0;

	while ((r = store_maintain(st)) > 0)
		assert_true(++rounds < 1000);
	assert_int_equal(r, 0);
}

static off_t
data_size(const char *dir)
{
	char		 path[PATH_MAX];
	struct stat	 sb;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

/* Rewriting one 64 KiB value 1,000 times (125 MiB of versions) with the
 * housekeeping the commit pipeline runs leaves the file small: the log
 * is compacted to its retention and LMDB reuses the freed pages (no
 * reader pins them for long). */
static void
test_retention(void **state)
{
	const char *dir = *state;
	struct store_options o = { .map_size = 256u << 20,
	    .history_revisions = 100, .history_bytes = 2u << 20 };
	struct store_capacity c;
	struct store_event *ev = NULL;
	struct store	*st = NULL;
	static char	 big[64 << 10];
	uint64_t	 rev = 0;
	size_t		 n = 0;
	int		 i;

	assert_int_equal(store_open_lmdb(dir, &o, &st, NULL), 0);
	for (i = 0; i < 1000; i++) {
		memset(big, 'a' + i % 26, sizeof(big));
		assert_int_equal(store_put(st, "/r/big", big, sizeof(big),
		    STORE_REV_ANY, &rev), 0);
		maintain_all(st);
	}
	assert_int_equal(store_capacity(st, &c), 0);
	print_message("1000 rewrites: file %jd bytes, used %ju, log %ju, "
	    "compacted %ju of %ju\n", (intmax_t)data_size(dir),
	    (uintmax_t)c.used_bytes, (uintmax_t)c.log_bytes,
	    (uintmax_t)c.compacted, (uintmax_t)c.revision);
	assert_true(data_size(dir) < (off_t)(16u << 20));
	assert_true(c.log_bytes <= (2u << 20) + (2u << 20) / 8 + 65536);
	assert_true(c.compacted > 800);
	assert_true(c.compactions > 0);
	assert_true(c.writable);
	assert_int_equal(store_changes(st, "", 0, 10, &ev, &n), -BW_E_COMPACTED);
	assert_int_equal(store_changes(st, "", c.compacted, 1000, &ev, &n), 0);
	assert_int_equal(n, (size_t)(c.revision - c.compacted));
	store_events_free(ev, n);
	store_close(st);
}

/* A log far past its retention (a store from before automatic
 * compaction) is compacted in bounded transactions: the first call
 * stops at STORE_COMPACT_CHUNK entries and says more remains. */
static void
test_retention_chunks(void **state)
{
	const char *dir = *state;
	struct store_options o = { .map_size = 64u << 20,
	    .history_revisions = 100 };
	struct store_op	 ops[1000];
	struct store	*st = NULL;
	char		 keys[1000][16];
	int		 i, j;

	assert_int_equal(store_open_lmdb(dir, &o, &st, NULL), 0);
	for (j = 0; j < 6; j++) {
		for (i = 0; i < 1000; i++) {
			snprintf(keys[i], sizeof(keys[i]), "/r/k/%d", i);
			ops[i] = (struct store_op){ .type = STORE_OP_PUT,
			    .key = keys[i], .value = "v", .value_len = 1 };
		}
		assert_int_equal(store_batch(st, ops, 1000, 0, NULL, NULL), 0);
	}
	assert_int_equal(store_compacted_revision(st), 0);
	assert_int_equal(store_maintain(st), 1);
	assert_int_equal(store_compacted_revision(st), STORE_COMPACT_CHUNK);
	assert_int_equal(store_maintain(st), 0);
	assert_int_equal(store_compacted_revision(st), 6000 - 100);
	/* within the retention (and its eighth of slack): nothing to do */
	assert_int_equal(store_maintain(st), 0);
	assert_int_equal(store_compacted_revision(st), 6000 - 100);
	store_close(st);
}

/* Past the high-water mark puts get -BW_E_NOSPACE before the map is
 * full (never -ENOSPC); deletes still work and free the space. */
static void
test_high_water(void **state)
{
	const char *dir = *state;
	struct store_options o = { .map_size = 8u << 20, .high_water_pct = 70 };
	struct store_capacity c;
	struct store	*st = NULL;
	static char	 big[64 << 10];
	char		 key[32];
	int		 i, r = 0, j;

	assert_int_equal(store_open_lmdb(dir, &o, &st, NULL), 0);
	memset(big, 'x', sizeof(big));
	for (i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "/r/f/%03d", i);
		if ((r = store_put(st, key, big, sizeof(big), STORE_REV_ANY,
		    NULL)) < 0)
			break;
		maintain_all(st);
	}
	assert_int_equal(r, -BW_E_NOSPACE);
	assert_int_equal(store_capacity(st, &c), 0);
	assert_false(c.writable);
	assert_true(c.used_pct >= 70);
	assert_int_equal(c.refused, 1);
	for (j = 0; j < i / 2; j++) {
		snprintf(key, sizeof(key), "/r/f/%03d", j);
		assert_int_equal(store_delete(st, key, STORE_REV_ANY, NULL), 0);
		maintain_all(st);
	}
	assert_int_equal(store_capacity(st, &c), 0);
	assert_true(c.writable);
	assert_int_equal(store_put(st, "/r/f/again", big, sizeof(big),
	    STORE_REV_ANY, NULL), 0);
	store_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_single_opener, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_delete_label_bytes,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_format_upgrade, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_format_mark_recovered,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_layout, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_refuses_inconsistent,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_map_full, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_fds_cloexec, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_wal_kill9, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_wal_power_loss_lost,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_wal_power_loss_garbage,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_wal_replay_pinned,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_wal_torn_tail, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_wal_to_sync, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_retention, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_retention_chunks, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_high_water, dir_setup,
		    dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
