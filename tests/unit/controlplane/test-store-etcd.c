/* The store conformance suite run against the etcd backend: every test's
 * store is a fresh key prefix (named after its temporary directory, so
 * a reopen finds it again) on the cluster tests/integration/store-etcd.sh
 * starts and names in BW_ETCD_ENDPOINTS, BW_ETCD_CA, BW_ETCD_CERT and
 * BW_ETCD_KEY. Without them it skips. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/store-etcd.h"
#include "tests/unit/controlplane/test-store-conformance.h"

struct etcd_env {
	const char *endpoints, *ca, *cert, *key;
};

static int
etcd_factory_open(void *ctx, const char *dir, struct store **ret)
{
	const struct etcd_env *e = ctx;
	const char *base = strrchr(dir, '/');
	char	 spec[4096];
	char	*err = NULL;
	int	 r;

	snprintf(spec, sizeof(spec), "etcd://%s/bw-test/%s?ca=%s&cert=%s&key=%s",
	    e->endpoints, base ? base + 1 : dir, e->ca, e->cert, e->key);
	r = store_open_spec(spec, NULL, ret, &err);
	if (r < 0)
		fprintf(stderr, "# %s\n", err ? err : "store_open_spec failed");
	free(err);
	return r;
}

int
main(void)
{
	struct etcd_env e = {
		.endpoints = getenv("BW_ETCD_ENDPOINTS"),
		.ca = getenv("BW_ETCD_CA"),
		.cert = getenv("BW_ETCD_CERT"),
		.key = getenv("BW_ETCD_KEY"),
	};
	struct store_test_factory etcd = {
		.name = "store-conformance-etcd",
		.open = etcd_factory_open,
		.ctx = &e,
	};

	if (!e.endpoints || !e.ca || !e.cert || !e.key) {
		printf("1..0 # SKIP no etcd cluster (run "
		    "tests/integration/store-etcd.sh)\n");
		return 0;
	}
	return store_conformance_run(&etcd);
}
