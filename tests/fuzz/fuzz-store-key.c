/* libFuzzer target for store keys: the store's own key check and the
 * resource model's key splitter, which reads keys back from the store
 * and from watch events. The first two input bytes pick the sizes of the
 * tenant and name buffers (heap allocations of exactly that size, so ASan
 * sees any overflow); the rest, up to a NUL, is the key. Invariants:
 * nothing crashes; store_key_check accepts exactly the 1..STORE_KEY_MAX
 * byte keys without control bytes; a key that res_key_parse splits is
 * rebuilt byte for byte by res_key from the parts. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "controlplane/resource.h"
#include "controlplane/store.h"
#include "lib/err.h"
#include "tests/fuzz/fuzz.h"

static int
has_ctrl(const char *key)
{
	size_t i;

	for (i = 0; key[i]; i++)
		if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
			return 1;
	return 0;
}

static int
key_ok(const char *key)
{
	size_t n = strlen(key);

	return n >= 1 && n <= STORE_KEY_MAX && !has_ctrl(key);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct res_kind	*k = NULL;
	char			*key, *tenant, *name, *back;
	size_t			 tlen, nlen, klen;
	int			 r;

	if (size < 2)
		return 0;
	tlen = 1 + data[0] % 96;
	nlen = 1 + data[1] % 96;
	key = fuzz_cstr(data + 2, size - 2);
	klen = strlen(key);

	r = store_key_check(key);
	FUZZ_CHECK(r == 0 || r == -BW_E_INVALID || r == -BW_E_TOOLARGE);
	FUZZ_CHECK((r == 0) == key_ok(key));
	/* The code names the reason: too long, or a bad byte. */
	if (klen == 0 || (klen <= STORE_KEY_MAX && !key_ok(key)))
		FUZZ_CHECK(r == -BW_E_INVALID);
	else if (klen > STORE_KEY_MAX && !has_ctrl(key))
		FUZZ_CHECK(r == -BW_E_TOOLARGE);

	if (!(tenant = malloc(tlen)) || !(name = malloc(nlen)) ||
	    !(back = malloc(klen + 1)))
		abort();
	r = res_key_parse(key, &k, tenant, tlen, name, nlen);
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL && k == NULL);
	} else {
		FUZZ_CHECK(r == 0 && k != NULL);
		FUZZ_CHECK(strlen(tenant) < tlen && strlen(name) < nlen);
		if (k->scope == RES_CLUSTER)
			FUZZ_CHECK(strcmp(tenant, RES_SYSTEM_TENANT) == 0);
		FUZZ_CHECK(res_key(k, tenant, name, back, klen + 1) == 0);
		FUZZ_CHECK(strcmp(back, key) == 0);
	}
	free(back);
	free(name);
	free(tenant);
	free(key);
	return 0;
}
