/* The store conformance suite run against the LMDB backend: in WAL mode
 * with small checkpoint thresholds, so the suite crosses many
 * checkpoints, or (built with STORE_TEST_SYNC) in sync mode. */
#include "config.h"

#include <stddef.h>

#include "controlplane/store.h"
#include "tests/unit/controlplane/test-store-conformance.h"

static int
lmdb_factory_open(void *ctx, const char *dir, struct store **ret)
{
	/* A small map keeps the tests' files small; still room for the
	 * largest test (a 1 MiB value and 25,000 log entries). */
#ifdef STORE_TEST_SYNC
	struct store_options opts = { .map_size = 64u << 20,
	    .durability = STORE_DURABILITY_SYNC };
#else
	struct store_options opts = { .map_size = 64u << 20,
	    .checkpoint_bytes = 64 << 10, .checkpoint_pages = 256 };
#endif

	return store_open_lmdb(dir, &opts, ret, NULL);
}

int
main(void)
{
	static const struct store_test_factory lmdb = {
#ifdef STORE_TEST_SYNC
		.name = "store-conformance-lmdb-sync",
#else
		.name = "store-conformance-lmdb-wal",
#endif
		.open = lmdb_factory_open,
	};

	return store_conformance_run(&lmdb);
}
