/* store_snapshot_verify(): the check of the SHA-256 etcd appends to a
 * snapshot, without a cluster (the round trip through etcd is
 * tests/integration/ha-snapshot.sh). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/sha.h>

#include "controlplane/store-etcd.h"
#include "lib/b64.h"
#include "lib/err.h"
#include "lib/fileio.h"

#define DB_LEN	(3 * 4096)

static char path[64];

/* Writes a snapshot of DB_LEN bytes of "database" and its digest into
 * a new file PATH; with CORRUPT one database byte is changed after the
 * digest was made. */
static void
make_snapshot(unsigned char *db, size_t len, int corrupt)
{
	unsigned char	 md[SHA256_DIGEST_LENGTH];
	int		 fd;

	for (size_t i = 0; i < len; i++)
		db[i] = (unsigned char)(i * 7 + 3);
	SHA256(db, len, md);
	if (corrupt)
		db[len / 2] ^= 1;
	snprintf(path, sizeof(path), "/tmp/bw-snap-XXXXXX");
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write_all(fd, db, len), 0);
	assert_int_equal(write_all(fd, md, sizeof(md)), 0);
	close(fd);
}

static void
test_whole(void **state)
{
	static unsigned char		 db[DB_LEN];
	unsigned char			 md[SHA256_DIGEST_LENGTH];
	char				 hex[65], *err = NULL;
	struct store_snapshot_info	 info;

	make_snapshot(db, sizeof(db), 0);
	assert_int_equal(store_snapshot_verify(path, &info, &err), 0);
	assert_null(err);
	assert_int_equal(info.bytes, DB_LEN + 32);
	SHA256(db, sizeof(db), md);
	assert_string_equal(info.sha256, hex_encode(md, sizeof(md), hex));
	unlink(path);
}

static void
test_corrupt(void **state)
{
	static unsigned char	 db[DB_LEN];
	char			*err = NULL;

	make_snapshot(db, sizeof(db), 1);
	assert_int_equal(store_snapshot_verify(path, NULL, &err), -BW_E_CORRUPT);
	assert_non_null(strstr(err, "does not match"));
	assert_non_null(strstr(err, path));
	free(err);
	err = NULL;
	/* truncated: no longer whole pages and a digest */
	assert_int_equal(truncate(path, DB_LEN), 0);
	assert_int_equal(store_snapshot_verify(path, NULL, &err), -BW_E_CORRUPT);
	assert_non_null(strstr(err, "corrupt or truncated"));
	free(err);
	unlink(path);
	err = NULL;
	assert_true(store_snapshot_verify(path, NULL, &err) < 0);
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_corrupt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
