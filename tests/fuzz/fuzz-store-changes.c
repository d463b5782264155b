/* libFuzzer target for the store's change-log decoders, what every
 * watch and controller pass reads (store_changes()): the LMDB backend's
 * log entry (store_lmdb_event_decode(): a revision key and a value of
 * type, key length, key, then a put's value or a delete's label) and the
 * etcd backend's (etcd_event_decode(): a range answer's kv with base64
 * "key" and "value", the value 'P' or 'D', the key, a NUL, then a put's
 * value or a delete's label). The first input byte picks the decoder
 * (even: LMDB, odd: etcd) and, for both, its next byte the length of
 * the entry's key; the rest is the entry's value. Invariants: nothing
 * crashes, reads out of bounds or leaks (an error leaves the event
 * owning nothing); a decoded event has a key starting with the prefix
 * asked for; a put's value is NUL-terminated and no longer than the
 * input, and it has no label; a delete has no value and a label of at
 * most STORE_LABEL_MAX bytes. */
#include "config.h"

#include <jansson.h>

#include "controlplane/store-etcd-internal.h"
#include "controlplane/store-lmdb.h"
#include "controlplane/store.h"
#include "lib/b64.h"
#include "tests/fuzz/fuzz.h"

#define STORE_PREFIX	"/bw/"		/* an etcd store's key prefix */
#define WANT		"/r/"		/* what the watch asks for */

/* Checks EV, decoded from an input of SIZE bytes, and frees what it
 * owns. */
static void
check_event(struct store_event *ev, size_t size)
{
	FUZZ_CHECK(ev->key != NULL);
	FUZZ_CHECK(strncmp(ev->key, WANT, strlen(WANT)) == 0);
	FUZZ_CHECK(memchr(ev->label, '\0', sizeof(ev->label)) != NULL);
	if (ev->type == STORE_OP_PUT) {
		FUZZ_CHECK(ev->value != NULL);
		FUZZ_CHECK(ev->value_len <= size);
		FUZZ_CHECK(((const char *)ev->value)[ev->value_len] == '\0');
		FUZZ_CHECK(ev->label[0] == '\0');
	} else {
		FUZZ_CHECK(ev->type == STORE_OP_DELETE);
		FUZZ_CHECK(ev->value == NULL && ev->value_len == 0);
		FUZZ_CHECK(strlen(ev->label) <= STORE_LABEL_MAX);
	}
	free(ev->key);
	free(ev->value);
}

static void
fuzz_lmdb(const uint8_t *key, size_t klen, const uint8_t *value, size_t vlen,
    size_t size)
{
	struct store_event	ev;
	int			r;

	memset(&ev, 0, sizeof(ev));
	r = store_lmdb_event_decode(key, klen, value, vlen, WANT, &ev);
	if (r == 1)
		check_event(&ev, size);
	else
		FUZZ_CHECK(ev.key == NULL && ev.value == NULL);
}

static void
fuzz_etcd(const uint8_t *key, size_t klen, const uint8_t *value, size_t vlen,
    size_t size)
{
	struct store_event	 ev;
	char			*k64 = NULL, *v64 = NULL;
	json_t			*kv;
	int			 match = 0, r;

	if (b64_encode(key, klen, &k64) < 0 || b64_encode(value, vlen, &v64) < 0)
		abort();
	if (!(kv = json_pack("{s:s, s:s}", "key", k64, "value", v64)))
		abort();
	r = etcd_event_decode(STORE_PREFIX, kv, WANT, &ev, &match);
	if (r == 0 && match)
		check_event(&ev, size);
	else
		FUZZ_CHECK(ev.key == NULL && ev.value == NULL);
	json_decref(kv);
	free(k64);
	free(v64);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t klen;

	if (size < 2)
		return 0;
	klen = data[1];
	if (klen > size - 2)
		klen = size - 2;
	if (data[0] & 1)
		fuzz_etcd(data + 2, klen, data + 2 + klen, size - 2 - klen,
		    size);
	else
		fuzz_lmdb(data + 2, klen, data + 2 + klen, size - 2 - klen,
		    size);
	return 0;
}
