/* An encrypted volume (agent/volume.c) against the node's plain file
 * system, measured in the same run on the same file system:
 *   1. sequential writes: 64 MiB in 1 MiB writes, then fsync;
 *   2. random 4 KiB writes: 8192 writes at random 4 KiB offsets of a
 *      64 MiB file written before, then fsync;
 * each the best of N runs, in MiB/s, and the volume's ratio to plain;
 *   3. attach: the first (backing file, mkfs, key, mount, policy) and a
 *      re-attach (mount, key) of a detached volume, best of N.
 * The volume's node key is an ephemeral one (no TPM): the TPM is used
 * only at the agent's start, not on these paths.
 * Needs root (loop mounts). Usage: bench/volumes [-n RUNS] [DIR]
 * A whole instance start with a volume against one without
 * (attach-to-Running) is bench/volumes-running.sh; `make bench-volumes`
 * runs both. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "agent/volume.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/macro.h"

#define FILE_MIB	64
#define RANDOM_WRITES	8192
#define VOLUME_BYTES	(256LL << 20)

/* The best of N runs: the largest throughput, the shortest time. */
static double
best(const double *v, int n, int largest)
{
	double b = v[0];

	for (int i = 1; i < n; i++)
		if (largest ? v[i] > b : v[i] < b)
			b = v[i];
	return b;
}

/* Writes DIR/bench.dat and returns the MiB/s of the writes and the
 * fsync: sequential, or RANDOM_WRITES random 4 KiB writes into a file
 * written sequentially first (not timed). Negative on an error. */
static double
write_test(const char *dir, int random)
{
	static char	 buf[1 << 20];
	char		 path[4200];
	double		 t0, mib;
	int		 fd, i;

	snprintf(path, sizeof(path), "%s/bench.dat", dir);
	memset(buf, 0x5a, sizeof(buf));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1.0;
	t0 = bw_mono_s();
	for (i = 0; i < FILE_MIB; i++)
		if (write_all(fd, buf, sizeof(buf)) < 0)
			goto fail;
	if (fsync(fd) < 0)
		goto fail;
	mib = FILE_MIB;
	if (random) {
		t0 = bw_mono_s();
		for (i = 0; i < RANDOM_WRITES; i++) {
			off_t off = (off_t)(rand() % (FILE_MIB * 256)) * 4096;

			if (pwrite_all(fd, buf, 4096, off) < 0)
				goto fail;
		}
		if (fsync(fd) < 0)
			goto fail;
		mib = RANDOM_WRITES * 4096.0 / (1 << 20);
	}
	mib /= bw_mono_s() - t0;
	close(fd);
	unlink(path);
	return mib;
fail:
	close(fd);
	return -1.0;
}

int
main(int argc, char **argv)
{
	const char		*base = "/var/tmp";
	char			 state[4096], plain[4200], uid[40];
	char			*data = NULL, *err = NULL;
	struct volume_kek	*kek = NULL;
	struct volume_ref	 v = { .tenant = "bench", .name = "bench",
	    .size_bytes = VOLUME_BYTES };
	double			 t[4][64], first[64], again[64], t0;
	int			 runs = 5, c, i, k, rc = 1;

	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c != 'n' || (runs = atoi(optarg)) < 1 || runs > 64) {
			fprintf(stderr, "usage: bench/volumes [-n RUNS 1..64] "
			    "[DIR]\n");
			return 2;
		}
	}
	if (optind < argc)
		base = argv[optind];
	snprintf(state, sizeof(state), "%s/bw-bench-volumes.%d", base,
	    (int)getpid());
	snprintf(plain, sizeof(plain), "%s/plain", state);
	if (mkdir_p(plain, 0700) < 0 || volume_kek_ephemeral(&kek) < 0) {
		fprintf(stderr, "bench/volumes: %s: %s\n", state,
		    strerror(errno));
		return 1;
	}
	srand(1);
	for (i = 0; i < runs; i++) {
		snprintf(uid, sizeof(uid), "0000000%d", i);
		v.uid = uid;
		t0 = bw_mono_s();
		if (volume_attach(state, kek, &v, &data, &err) < 0)
			goto fail;
		first[i] = (bw_mono_s() - t0) * 1e3;
		if (volume_detach(state, uid, &err) < 0)
			goto fail;
		free(data);
		t0 = bw_mono_s();
		if (volume_attach(state, kek, &v, &data, &err) < 0)
			goto fail;
		again[i] = (bw_mono_s() - t0) * 1e3;
		for (k = 0; k < 2; k++) {
			t[k][i] = write_test(data, k);
			t[k + 2][i] = write_test(plain, k);
			if (t[k][i] < 0 || t[k + 2][i] < 0) {
				fprintf(stderr, "bench/volumes: write test: "
				    "%s\n", strerror(errno));
				goto out;
			}
		}
		free(data);
		data = NULL;
		if (volume_delete(state, uid, &err) < 0)
			goto fail;
	}
	printf("file system of %s, best of %d runs\n", base, runs);
	printf("sequential write (%d MiB, 1 MiB writes + fsync): volume "
	    "%.0f MiB/s, plain %.0f MiB/s, ratio %.2f\n", FILE_MIB,
	    best(t[0], runs, 1), best(t[2], runs, 1),
	    best(t[0], runs, 1) / best(t[2], runs, 1));
	printf("random 4 KiB writes (%d + fsync): volume %.1f MiB/s, plain "
	    "%.1f MiB/s, ratio %.2f\n", RANDOM_WRITES, best(t[1], runs, 1),
	    best(t[3], runs, 1), best(t[1], runs, 1) / best(t[3], runs, 1));
	printf("attach, first (make %lld MiB, mkfs, key, mount): %.1f ms; "
	    "re-attach (mount, key): %.1f ms\n", VOLUME_BYTES >> 20,
	    best(first, runs, 0), best(again, runs, 0));
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "bench/volumes: %s\n", err ? err : "failed");
out:
	free(data);
	free(err);
	if (v.uid)
		(void)volume_delete(state, v.uid, NULL);
	(void)rmdir(plain);
	snprintf(plain, sizeof(plain), "%s/volumes/tenants", state);
	(void)rmdir(plain);
	snprintf(plain, sizeof(plain), "%s/volumes", state);
	(void)rmdir(plain);
	(void)rmdir(state);
	volume_kek_free(kek);
	return rc;
}
