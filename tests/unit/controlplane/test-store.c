/* The store conformance suite run against the LMDB backend. */
#include "config.h"

#include <stddef.h>

#include "controlplane/store.h"
#include "tests/unit/controlplane/test-store-conformance.h"

static int
lmdb_factory_open(void *ctx, const char *dir, struct store **ret)
{
	/* A small map keeps the tests' files small; still room for the
	 * largest test (a 1 MiB value and 25,000 log entries). */
	struct store_options opts = { .map_size = 64u << 20 };

	return store_open_lmdb(dir, &opts, ret, NULL);
}

int
main(void)
{
	static const struct store_test_factory lmdb = {
		.name = "store-conformance-lmdb",
		.open = lmdb_factory_open,
	};

	return store_conformance_run(&lmdb);
}
