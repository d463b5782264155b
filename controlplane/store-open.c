/* Picks a store backend from a spec (controlplane/store-etcd.h). Its own
 * module so a program that opens LMDB by path links no etcd client. */
#include "config.h"

#include <string.h>

#include "controlplane/store-etcd.h"

int
store_open_spec(const char *spec, const struct store_options *opts,
    struct store **ret, char **ret_err)
{
	if (!strncmp(spec, "etcd://", 7))
		return store_open_etcd(spec, ret, ret_err);
	if (!strncmp(spec, "lmdb:", 5))
		spec += 5;
	return store_open_lmdb(spec, opts, ret, ret_err);
}
