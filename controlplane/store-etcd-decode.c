/* What the etcd store reads back from etcd's JSON answers and does not
 * need a connection for: base64 fields and change-log entries (split
 * from store-etcd.c so the fuzz target tests/fuzz/fuzz-store-changes.c
 * links them without curl). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "controlplane/store-etcd-internal.h"
#include "lib/b64.h"
#include "lib/err.h"

int
etcd_unb64(const json_t *o, const char *name, size_t max, unsigned char **ret,
    size_t *ret_len)
{
	const char *s = json_string_value(json_object_get(o, name));
	unsigned char *p;
	int	 r;

	if (!s || !s[0]) {
		*ret = calloc(1, 1);
		*ret_len = 0;
		return *ret ? 0 : -ENOMEM;
	}
	if ((r = b64_decode(s, max, ret, ret_len)) < 0)
		return r;
	/* NUL-terminated, so keys and numbers read as strings. */
	if (!(p = realloc(*ret, *ret_len + 1))) {
		free(*ret);
		*ret = NULL;
		return -ENOMEM;
	}
	p[*ret_len] = 0;
	*ret = p;
	return 0;
}

int
etcd_event_decode(const char *store_prefix, const json_t *kv,
    const char *prefix, struct store_event *ev, int *ret_match)
{
	unsigned char *v = NULL, *k = NULL;
	size_t	 vlen = 0, klen = 0, plen = strlen(store_prefix) + 2, kl;
	int	 r;

	memset(ev, 0, sizeof(*ev));
	*ret_match = 0;
	if ((r = etcd_unb64(kv, "key", plen + 16, &k, &klen)) < 0 ||
	    (r = etcd_unb64(kv, "value", STORE_VALUE_MAX + STORE_KEY_MAX + 2,
	    &v, &vlen)) < 0)
		goto out;
	r = -BW_E_CORRUPT;
	if (klen != plen + 16 || vlen < 2 || (v[0] != 'P' && v[0] != 'D') ||
	    (kl = strnlen((char *)v + 1, vlen - 1)) == vlen - 1)
		goto out;
	r = 0;
	ev->rev = strtoull((char *)k + plen, NULL, 16);
	if (strncmp((char *)v + 1, prefix, strlen(prefix)) != 0)
		goto out;
	*ret_match = 1;
	ev->type = v[0] == 'P' ? STORE_OP_PUT : STORE_OP_DELETE;
	r = -BW_E_CORRUPT;
	if (ev->type == STORE_OP_DELETE && vlen - kl - 2 > STORE_LABEL_MAX)
		goto out;
	r = -ENOMEM;
	if (!(ev->key = strdup((char *)v + 1)))
		goto out;
	if (ev->type == STORE_OP_PUT) {
		ev->value_len = vlen - kl - 2;
		if (!(ev->value = malloc(ev->value_len + 1)))
			goto out;
		memcpy(ev->value, v + kl + 2, ev->value_len);
		((char *)ev->value)[ev->value_len] = 0;
	} else
		memcpy(ev->label, v + kl + 2, vlen - kl - 2);
	r = 0;
out:
	if (r < 0) {
		free(ev->key);
		ev->key = NULL;
	}
	free(k);
	free(v);
	return r;
}
