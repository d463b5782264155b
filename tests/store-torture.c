/* Crash torture for the store, driven by tests/integration/store-crash.sh.
 *
 *   store-torture write DIR ACKS RUN
 *	Commits random batches (puts, deletes, preconditions, atomic and
 *	independent batches, before_commit refusals, compactions) until
 *	killed. After store_batch() returns 0 it appends one line per
 *	applied op to ACKS with a single write(2):
 *	    REV TYPE KEY SEQ	(TYPE P or D; SEQ names the value)
 *	On start it first cuts a torn last line and appends, as TYPE p/d,
 *	the ops a previous run committed but was killed before
 *	acknowledging, read back from the change log: so ACKS lists every
 *	committed op, and REVs 1, 2, ... with no gap.
 *
 *   store-torture check DIR ACKS
 *	Reopens the store and verifies: revision and change log contiguous
 *	from the horizon; every line of ACKS present with the same key,
 *	type and value at its revision; ACKS itself gapless; the current
 *	contents equal the replay of ACKS plus the log after it. Prints
 *	"ok REV LINES HORIZON" and exits 0, or names the first violation and
 *	exits 1. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "controlplane/store.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/macro.h"

#define NKEYS		256
#define VALUE_CAP	8192
#define MAP_SIZE	((size_t)256 << 20)
#define WRITER_SECONDS	120	/* the script kills it long before */
#define COMPACT_EVERY	40	/* batches */
#define COMPACT_KEEP	500	/* revisions kept behind the last ack */
#define ACKS_MAX	((size_t)64 << 20)

static uint64_t rng_state;

static uint64_t
rng(void)
{
	/* xorshift64*: reproducible from the seed, good enough here. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static void
key_name(char *buf, size_t len, unsigned k)
{
	snprintf(buf, len, "/torture/k%03u", k);
}

static int
key_index(const char *key, unsigned *ret)
{
	unsigned k;
	char	 tail;

	if (sscanf(key, "/torture/k%3u%c", &k, &tail) != 1 || k >= NKEYS)
		return -1;
	*ret = k;
	return 0;
}

/* The value a put with sequence number SEQ writes to key K: names both,
 * then SEQ-derived padding, sometimes past LMDB's overflow-page size. */
static size_t
make_value(char *buf, unsigned k, uint64_t seq)
{
	uint64_t h = seq * 0x9E3779B97F4A7C15ULL;
	size_t	 n, pad, i;

	n = (size_t)snprintf(buf, VALUE_CAP, "seq=%" PRIu64 " key=/torture/k%03u;",
	    seq, k);
	pad = (h >> 60) == 0 ? 3000 + (h >> 20) % 3000 : (h >> 20) % 200;
	for (i = 0; i < pad; i++)
		buf[n + i] = (char)('a' + (h + i) % 26);
	return n + pad;
}

/* Checks that VALUE is the value of key K for some sequence number and
 * returns it in *ret_seq. */
static int
parse_value(const void *value, size_t len, unsigned k, uint64_t *ret_seq)
{
	char	 buf[VALUE_CAP];
	uint64_t seq;
	unsigned kk;

	if (len >= VALUE_CAP || sscanf(value, "seq=%" SCNu64 " key=/torture/k%3u;",
	    &seq, &kk) != 2 || kk != k)
		return -1;
	if (make_value(buf, k, seq) != len || memcmp(buf, value, len) != 0)
		return -1;
	*ret_seq = seq;
	return 0;
}

struct line {
	uint64_t	 rev;
	char		 type;	/* P, D, or p, d when recovered */
	unsigned	 k;
	uint64_t	 seq;
};

/* Parses ACKS (complete lines only) into *ret. Returns 0 or -1. */
static int
acks_load(const char *path, struct line **ret, size_t *ret_n)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct line *a = NULL;
	char	 key[64], *p, *nl;
	size_t	 len, n = 0, cap = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_CREAT, 0600);
	if (fd < 0 || read_bounded(fd, ACKS_MAX, &buf, &len) < 0) {
		fprintf(stderr, "store-torture: cannot read %s\n", path);
		return -1;
	}
	for (p = buf; (nl = memchr(p, '\n', len - (size_t)(p - buf))); p = nl + 1) {
		*nl = 0;
		if (n == cap) {
			struct line *t;

			cap = cap ? cap * 2 : 1024;
			if (!(t = realloc(a, cap * sizeof(*a)))) {
				free(a);
				return -1;
			}
			a = t;
		}
		if (sscanf(p, "%" SCNu64 " %c %63s %" SCNu64, &a[n].rev,
		    &a[n].type, key, &a[n].seq) != 4 ||
		    !strchr("PDpd", a[n].type) || key_index(key, &a[n].k) < 0) {
			fprintf(stderr, "store-torture: bad line %zu: %s\n",
			    n + 1, p);
			free(a);
			return -1;
		}
		n++;
	}
	*ret = a;
	*ret_n = n;
	return 0;
}

static int
acks_append(int fd, const char *buf, size_t len)
{
	int	 r;

	if (len && (r = write_all(fd, buf, len)) < 0) {
		fprintf(stderr, "store-torture: ack write: %s\n", strerror(-r));
		return -1;
	}
	return 0;
}

/* Cuts a torn last line, then appends what the store committed after
 * the last acknowledged revision. */
static int
writer_recover(struct store *st, const char *path, int fd)
{
	_cleanup_free_ char *buf = NULL;
	struct store_event *ev = NULL;
	size_t	 len, n = 0, i, blen;
	uint64_t since = 0, seq;
	char	 line[128];
	unsigned k;
	int	 r;

	if (read_file_at(AT_FDCWD, path, ACKS_MAX, &buf, &len) < 0)
		return -1;
	while (len > 0 && buf[len - 1] != '\n')
		len--;
	if (ftruncate(fd, (off_t)len) < 0)
		return -1;
	if (len > 0) {
		buf[len - 1] = 0;
		blen = len - 1;
		while (blen > 0 && buf[blen - 1] != '\n')
			blen--;
		if (sscanf(buf + blen, "%" SCNu64, &since) != 1)
			return -1;
	}
	for (;;) {
		r = store_changes(st, "", since, 1000, &ev, &n);
		if (r < 0) {
			fprintf(stderr, "store-torture: changes since %" PRIu64
			    ": %s\n", since, bw_strerror(r));
			return -1;
		}
		if (n == 0)
			return 0;
		for (i = 0; i < n; i++) {
			seq = 0;
			if (key_index(ev[i].key, &k) < 0 ||
			    (ev[i].type == STORE_OP_PUT &&
			    parse_value(ev[i].value, ev[i].value_len, k, &seq) < 0)) {
				fprintf(stderr, "store-torture: unexpected "
				    "event at %" PRIu64 "\n", ev[i].rev);
				store_events_free(ev, n);
				return -1;
			}
			len = (size_t)snprintf(line, sizeof(line),
			    "%" PRIu64 " %c %s %" PRIu64 "\n", ev[i].rev,
			    ev[i].type == STORE_OP_PUT ? 'p' : 'd', ev[i].key,
			    seq);
			if (acks_append(fd, line, len) < 0) {
				store_events_free(ev, n);
				return -1;
			}
			since = ev[i].rev;
		}
		store_events_free(ev, n);
	}
}

static int
refuse_sometimes(void *ctx, const struct store_op *ops, size_t n)
{
	/* Stands in for the audit writer failing: nothing may commit. */
	return *(int *)ctx ? -BW_E_AUDIT : 0;
}

static int
writer(const char *dir, const char *acks, uint64_t run)
{
	struct store_options opts = { .map_size = MAP_SIZE };
	struct store *st = NULL;
	struct store_kv **kvs = NULL;
	struct store_op ops[16];
	static char values[16][VALUE_CAP];
	char	 keys[16][32], out[16 * 64];
	uint64_t mod[NKEYS] = { 0 }, seq = run << 32, last_ack = 0, seqs[16];
	size_t	 n, i, olen;
	unsigned k;
	time_t	 end = time(NULL) + WRITER_SECONDS;
	char	*err = NULL;
	int	 fd = -1, rc = 1, r, refuse, batches = 0;

	rng_state = ((run * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)getpid() ^
	    (uint64_t)time(NULL)) | 1;
	if ((r = store_open_lmdb(dir, &opts, &st, &err)) < 0) {
		fprintf(stderr, "store-torture: %s\n", err ? err : bw_strerror(r));
		free(err);
		return 1;
	}
	fd = open(acks, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || writer_recover(st, acks, fd) < 0)
		goto out;
	if (store_list(st, "/torture/", &kvs, &n, NULL) < 0)
		goto out;
	for (i = 0; i < n; i++)
		if (key_index(kvs[i]->key, &k) == 0)
			mod[k] = kvs[i]->mod_rev;
	store_kv_array_free(kvs, n);
	last_ack = store_revision(st);

	while (time(NULL) < end) {
		n = 1 + rng() % 16;
		for (i = 0; i < n; i++) {
			k = (unsigned)(rng() % NKEYS);
			key_name(keys[i], sizeof(keys[i]), k);
			memset(&ops[i], 0, sizeof(ops[i]));
			ops[i].key = keys[i];
			ops[i].type = rng() % 5 == 0 ? STORE_OP_DELETE :
			    STORE_OP_PUT;
			switch (rng() % 4) {
			case 0:
				ops[i].expect_rev = mod[k] ? mod[k] :
				    STORE_REV_ANY;
				break;
			case 1:
				if (ops[i].type == STORE_OP_PUT)
					ops[i].expect_rev = STORE_REV_ABSENT;
				break;
			default:
				break;
			}
			seqs[i] = ++seq;
			if (ops[i].type == STORE_OP_PUT) {
				ops[i].value = values[i];
				ops[i].value_len = make_value(values[i], k,
				    seqs[i]);
			}
		}
		refuse = rng() % 20 == 0;
		r = store_batch(st, ops, n, rng() % 4 == 0 ? STORE_BATCH_ATOMIC :
		    0, refuse_sometimes, &refuse);
		if (r == -BW_E_CONFLICT || (refuse && r == -BW_E_AUDIT))
			continue;
		if (r < 0 || refuse) {
			fprintf(stderr, "store-torture: batch: %s\n",
			    r < 0 ? bw_strerror(r) : "refusal ignored");
			goto out;
		}
		olen = 0;
		for (i = 0; i < n; i++) {
			if (ops[i].result < 0)
				continue;
			if (ops[i].rev != last_ack + 1) {
				fprintf(stderr, "store-torture: revision %"
				    PRIu64 " after %" PRIu64 "\n", ops[i].rev,
				    last_ack);
				goto out;
			}
			last_ack = ops[i].rev;
			key_index(ops[i].key, &k);
			mod[k] = ops[i].type == STORE_OP_PUT ? ops[i].rev : 0;
			olen += (size_t)snprintf(out + olen, sizeof(out) - olen,
			    "%" PRIu64 " %c %s %" PRIu64 "\n", ops[i].rev,
			    ops[i].type == STORE_OP_PUT ? 'P' : 'D',
			    ops[i].key, seqs[i]);
		}
		/* Acknowledged: only now may anyone learn of the write. */
		if (acks_append(fd, out, olen) < 0)
			goto out;
		if (++batches % COMPACT_EVERY == 0 && last_ack > COMPACT_KEEP &&
		    (r = store_compact(st, last_ack - COMPACT_KEEP)) < 0) {
			fprintf(stderr, "store-torture: compact: %s\n",
			    bw_strerror(r));
			goto out;
		}
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	store_close(st);
	return rc;
}

struct state {
	bool		 present;
	uint64_t	 mod_rev;
	uint64_t	 seq;		/* of the value, for lines */
	const struct store_event *ev;	/* of the value, for log events */
};

static int
check(const char *dir, const char *acks)
{
	struct store_options opts = { .map_size = MAP_SIZE };
	struct store *st = NULL;
	struct store_event *log = NULL, *ev;
	struct store_kv **kvs = NULL;
	struct line *lines = NULL;
	struct state want[NKEYS];
	char	 buf[VALUE_CAP];
	size_t	 nlog = 0, nl = 0, nkv = 0, i, n, cap = 0;
	uint64_t rev, horizon, seq, last;
	unsigned k;
	char	*err = NULL;
	int	 r, rc = 1;

	if ((r = store_open_lmdb(dir, &opts, &st, &err)) < 0) {
		fprintf(stderr, "check: open: %s\n", err ? err : bw_strerror(r));
		free(err);
		return 1;
	}
	rev = store_revision(st);
	horizon = store_compacted_revision(st);

	/* The whole log after the horizon, which must be gapless. */
	for (;;) {
		struct store_event *page = NULL;
		uint64_t since = nlog ? log[nlog - 1].rev : horizon;

		if ((r = store_changes(st, "", since, 5000, &page, &n)) < 0) {
			fprintf(stderr, "check: changes: %s\n", bw_strerror(r));
			goto out;
		}
		if (n == 0)
			break;
		if (nlog + n > cap) {
			struct store_event *t;

			cap = (nlog + n) * 2;
			if (!(t = realloc(log, cap * sizeof(*log)))) {
				store_events_free(page, n);
				goto out;
			}
			log = t;
		}
		memcpy(log + nlog, page, n * sizeof(*page));
		nlog += n;
		free(page);	/* the keys and values now belong to LOG */
	}
	for (i = 0; i < nlog; i++)
		if (log[i].rev != horizon + 1 + i) {
			fprintf(stderr, "check: log gap: %" PRIu64 " at %zu "
			    "after horizon %" PRIu64 "\n", log[i].rev, i, horizon);
			goto out;
		}
	if (horizon + nlog != rev) {
		fprintf(stderr, "check: revision %" PRIu64 " but log ends at %"
		    PRIu64 "\n", rev, horizon + nlog);
		goto out;
	}

	if (acks_load(acks, &lines, &nl) < 0)
		goto out;
	memset(want, 0, sizeof(want));
	for (i = 0; i < nl; i++) {
		const struct line *l = &lines[i];
		bool put = l->type == 'P' || l->type == 'p';

		if (l->rev != i + 1) {
			fprintf(stderr, "check: line %zu has revision %" PRIu64
			    ", want %zu (lost or reordered write)\n", i + 1,
			    l->rev, i + 1);
			goto out;
		}
		if (l->rev > rev) {
			fprintf(stderr, "check: acknowledged revision %" PRIu64
			    " %c key %03u missing: store is at %" PRIu64 "\n",
			    l->rev, l->type, l->k, rev);
			goto out;
		}
		if (l->rev > horizon) {
			ev = &log[l->rev - horizon - 1];
			key_name(buf, sizeof(buf), l->k);
			if (strcmp(ev->key, buf) != 0 ||
			    (ev->type == STORE_OP_PUT) != put ||
			    (put && (parse_value(ev->value, ev->value_len, l->k,
			    &seq) < 0 || seq != l->seq))) {
				fprintf(stderr, "check: revision %" PRIu64
				    " is %s %s, acknowledged as %c %s seq %"
				    PRIu64 "\n", l->rev, ev->type ==
				    STORE_OP_PUT ? "put" : "delete", ev->key,
				    l->type, buf, l->seq);
				goto out;
			}
		}
		want[l->k].present = put;
		want[l->k].mod_rev = put ? l->rev : 0;
		want[l->k].seq = l->seq;
		want[l->k].ev = NULL;
	}
	/* Committed after the last line: the unacknowledged tail. */
	last = nl ? lines[nl - 1].rev : 0;
	for (i = 0; i < nlog; i++) {
		ev = &log[i];
		if (ev->rev <= last)
			continue;
		if (key_index(ev->key, &k) < 0) {
			fprintf(stderr, "check: foreign key %s\n", ev->key);
			goto out;
		}
		want[k].present = ev->type == STORE_OP_PUT;
		want[k].mod_rev = want[k].present ? ev->rev : 0;
		want[k].ev = ev;
	}

	/* The contents must be exactly that replay. */
	if ((r = store_list(st, "", &kvs, &nkv, NULL)) < 0) {
		fprintf(stderr, "check: list: %s\n", bw_strerror(r));
		goto out;
	}
	for (i = 0; i < nkv; i++) {
		if (key_index(kvs[i]->key, &k) < 0 || !want[k].present ||
		    want[k].mod_rev != kvs[i]->mod_rev ||
		    kvs[i]->create_rev > kvs[i]->mod_rev) {
			fprintf(stderr, "check: unexpected %s at %" PRIu64 "\n",
			    kvs[i]->key, kvs[i]->mod_rev);
			goto out;
		}
		if (want[k].ev ? (want[k].ev->value_len != kvs[i]->value_len ||
		    memcmp(want[k].ev->value, kvs[i]->value,
		    kvs[i]->value_len) != 0) :
		    (parse_value(kvs[i]->value, kvs[i]->value_len, k, &seq) < 0 ||
		    seq != want[k].seq)) {
			fprintf(stderr, "check: wrong value at %s\n",
			    kvs[i]->key);
			goto out;
		}
		want[k].present = false;
	}
	for (k = 0; k < NKEYS; k++)
		if (want[k].present) {
			fprintf(stderr, "check: key %03u (revision %" PRIu64
			    ") lost\n", k, want[k].mod_rev);
			goto out;
		}
	printf("ok %" PRIu64 " %zu %" PRIu64 "\n", rev, nl, horizon);
	rc = 0;
out:
	store_kv_array_free(kvs, nkv);
	store_events_free(log, nlog);
	free(lines);
	store_close(st);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "write") == 0)
		return writer(argv[2], argv[3], strtoull(argv[4], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "check") == 0)
		return check(argv[2], argv[3]);
	fprintf(stderr, "usage: store-torture write DIR ACKS RUN\n"
	    "       store-torture check DIR ACKS\n");
	return 2;
}
