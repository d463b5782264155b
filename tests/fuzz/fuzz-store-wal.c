/* libFuzzer target for the store's write-ahead log reader: the input is
 * written as a store.wal file, which store_wal_open() reads (two header
 * slots, digests, meta copies) and store_wal_replay() walks (record
 * framing, generations, sequence numbers, digests); every replayed
 * payload goes through store_lmdb_record_parse(), the entry parser the
 * LMDB backend applies at recovery. Invariants: nothing crashes or
 * reads out of bounds; a replayed payload is never larger than the
 * file; every entry the parser passes on lies inside its payload and
 * has a non-empty key; a delete never carries a value. The first input
 * byte, when odd, additionally feeds the rest of the input to the entry
 * parser directly (payloads the digest would otherwise guard). */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controlplane/store-lmdb.h"
#include "controlplane/store-wal.h"
#include "tests/fuzz/fuzz.h"

static char	 dir[64];
static int	 dfd = -1;

struct span {
	const unsigned char	*p;
	size_t			 len;
	size_t			 entries;
};

static int
check_entry(void *arg, int db, char op, const void *key, size_t klen,
    const void *value, size_t vlen)
{
	struct span *s = arg;
	const unsigned char *k = key, *v = value;

	FUZZ_CHECK(db >= 0 && db <= 2);
	FUZZ_CHECK(op == 'P' || op == 'D');
	FUZZ_CHECK(klen > 0);
	FUZZ_CHECK(k >= s->p && k + klen <= s->p + s->len);
	FUZZ_CHECK(v >= s->p && v + vlen <= s->p + s->len);
	FUZZ_CHECK(op == 'P' || vlen == 0);
	s->entries++;
	return 0;
}

static size_t file_size;

static int
replayed(void *arg, const unsigned char *payload, size_t len)
{
	struct span s = { .p = payload, .len = len };

	(void)arg;
	FUZZ_CHECK(len <= file_size);
	(void)store_lmdb_record_parse(payload, len, check_entry, &s);
	return 0;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/fuzz-wal-XXXXXX",
	    tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(dir) ||
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_wal *w = NULL;
	char		*err = NULL;
	int		 fd;

	/* An empty file is a new log, which preallocates: not a parser. */
	if (size == 0)
		return 0;
	if (data[0] & 1)
		(void)store_lmdb_record_parse(data + 1, size - 1, check_entry,
		    &(struct span){ .p = data + 1, .len = size - 1 });
	fd = openat(dfd, STORE_WAL_FILE, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	if (write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	file_size = size;
	if (store_wal_open(dfd, &w, &err) == 0) {
		struct store_wal_checkpoint ck;

		store_wal_last_checkpoint(w, &ck);
		if (ck.valid) {
			FUZZ_CHECK(ck.psize >= 512 && ck.psize <= STORE_WAL_PSIZE_MAX);
			FUZZ_CHECK(ck.meta != NULL);
			(void)store_wal_replay(w, replayed, NULL, &err);
		}
		store_wal_close(w);
	}
	free(err);
	return 0;
}
