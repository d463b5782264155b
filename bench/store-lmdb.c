/* Durable write throughput of the LMDB store: one put per commit (the
 * baseline) against group commits of 16 and 64 independent ops through
 * store_batch(), plus point reads. Ratios are against the baseline
 * measured in the same run, on the same file system.
 *
 *   bench/store-lmdb [DIR] [COMMITS]
 *
 * DIR (default: a new directory under $TMPDIR or /tmp, removed after)
 * decides the file system, hence the fsync cost. */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "controlplane/store.h"
#include "lib/clock.h"
#include "lib/err.h"

#define VALUE_LEN	256	/* a small JSON object */

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

/* Commits COMMITS batches of PER ops each; returns ops per second. */
static double
run_batches(struct store *st, const char *tag, size_t commits, size_t per,
    const char *value)
{
	struct store_op ops[64];
	char	 keys[64][48];
	double	 t0, dt;
	size_t	 c, i;
	int	 r;

	t0 = bw_mono_s();
	for (c = 0; c < commits; c++) {
		for (i = 0; i < per; i++) {
			snprintf(keys[i], sizeof(keys[i]), "/bench/%s/%06zu",
			    tag, (c * per + i) % 4096);
			ops[i] = (struct store_op){ .type = STORE_OP_PUT,
			    .key = keys[i], .value = value,
			    .value_len = VALUE_LEN };
		}
		if (per == 1)
			r = store_put(st, keys[0], value, VALUE_LEN,
			    STORE_REV_ANY, NULL);
		else
			r = store_batch(st, ops, per, 0, NULL, NULL);
		if (r < 0) {
			fprintf(stderr, "store-lmdb: %s: %s\n", tag,
			    bw_strerror(r));
			exit(1);
		}
	}
	dt = bw_mono_s() - t0;
	return (double)(commits * per) / dt;
}

int
main(int argc, char **argv)
{
	char	 dir[PATH_MAX], value[VALUE_LEN + 1], key[48];
	const char *tmp = getenv("TMPDIR");
	struct store_options opts = { .map_size = (size_t)256 << 20 };
	struct store *st = NULL;
	struct store_kv *kv;
	size_t	 commits = 400, i, reads = 200000;
	double	 single, b16, b64, t0, rd;
	char	*err = NULL;
	int	 own = argc < 2, r;

	if (argc > 3) {
		fprintf(stderr, "usage: store-lmdb [DIR] [COMMITS]\n");
		return 2;
	}
	if (argc == 3 && (commits = strtoul(argv[2], NULL, 10)) == 0)
		commits = 400;
	if (own) {
		snprintf(dir, sizeof(dir), "%s/bw-bench-store-......",
		    tmp && tmp[0] ? tmp : "/tmp");
		/* mkdtemp() replaces the last six characters. */
		memset(dir + strlen(dir) - 6, 'X', 6);
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			return 1;
		}
	} else
		snprintf(dir, sizeof(dir), "%s", argv[1]);
	if ((r = store_open_lmdb(dir, &opts, &st, &err)) < 0) {
		fprintf(stderr, "store-lmdb: %s\n", err ? err : bw_strerror(r));
		return 1;
	}
	memset(value, 'v', VALUE_LEN);
	value[0] = '{';
	value[VALUE_LEN - 1] = '}';
	value[VALUE_LEN] = 0;

	/* Warm the file (first-touch allocation is not what we measure). */
	run_batches(st, "warm", 64, 64, value);
	single = run_batches(st, "single", commits, 1, value);
	b16 = run_batches(st, "b16", commits, 16, value);
	b64 = run_batches(st, "b64", commits / 2 ? commits / 2 : 1, 64, value);

	t0 = bw_mono_s();
	for (i = 0; i < reads; i++) {
		snprintf(key, sizeof(key), "/bench/b16/%06zu", i % 4096);
		if ((r = store_get(st, key, &kv)) < 0) {
			fprintf(stderr, "store-lmdb: get: %s\n", bw_strerror(r));
			return 1;
		}
		store_kv_free(kv);
	}
	rd = (double)reads / (bw_mono_s() - t0);

	printf("store-lmdb: %zu-byte values, durable commits, dir %s\n",
	    (size_t)VALUE_LEN, dir);
	printf("  single put/commit : %9.0f ops/s  %9.0f commits/s  %6.3f ms/commit  ratio 1.00 (baseline)\n",
	    single, single, 1000.0 / single);
	printf("  batch of 16       : %9.0f ops/s  %9.0f commits/s  %6.3f ms/commit  ratio %.2f\n",
	    b16, b16 / 16, 16000.0 / b16, b16 / single);
	printf("  batch of 64       : %9.0f ops/s  %9.0f commits/s  %6.3f ms/commit  ratio %.2f\n",
	    b64, b64 / 64, 64000.0 / b64, b64 / single);
	printf("  get (point read)  : %9.0f ops/s  ratio %.2f vs single put\n",
	    rd, rd / single);
	printf("  revision after run: %ju\n", (uintmax_t)store_revision(st));
	store_close(st);
	if (own)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
