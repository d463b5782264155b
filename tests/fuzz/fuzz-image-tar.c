/* libFuzzer target for the tar checker that guards image imports: the
 * archive comes from removable media or an operator's upload. The first
 * input byte seeds the chunk sizes; the rest is the tar stream. It is
 * checked twice, fed whole and fed in uneven chunks. Invariants: nothing
 * crashes or leaks; the verdict does not depend on how the stream is
 * split; a failure is -BW_E_INVALID or -BW_E_TOOLARGE with a message;
 * an error is sticky (feeding more returns it again). */
#include "config.h"

#include <string.h>

#include "image/image.h"
#include "lib/err.h"
#include "tests/fuzz/fuzz.h"

static const struct image_limits limits = {
	.max_blob = 1 << 30,
	.max_unpacked = 1 << 20,
	.max_entries = 32,
};

/* Feeds BUF in chunks (CHUNK_SEED 0: in one piece) and returns the
 * verdict of feed + end. */
static int
check(const uint8_t *buf, size_t len, unsigned chunk_seed)
{
	struct image_tar_check	*c = NULL;
	char			*err = NULL;
	size_t			 pos = 0;
	unsigned		 x = chunk_seed * 2654435761u + 1;
	int			 r = 0, from_feed = 0;

	FUZZ_CHECK(image_tar_check_new(&limits, &c) == 0);
	while (pos < len) {
		size_t n = len - pos;

		if (chunk_seed) {
			x = x * 1103515245u + 12345u;
			/* 1..1024 bytes: crosses header, data and padding
			 * boundaries at every offset. */
			if (n > 1 + (x >> 16) % 1024)
				n = 1 + (x >> 16) % 1024;
		}
		r = image_tar_check_feed(c, buf + pos, n, &err);
		pos += n;
		if (r < 0) {
			from_feed = 1;
			break;
		}
	}
	if (r == 0)
		r = image_tar_check_end(c, &err);
	if (r < 0) {
		FUZZ_CHECK(r == -BW_E_INVALID || r == -BW_E_TOOLARGE);
		FUZZ_CHECK(err != NULL && err[0] != '\0');
		/* A stream error is sticky. */
		if (from_feed) {
			FUZZ_CHECK(image_tar_check_feed(c, buf, len, NULL) == r);
			FUZZ_CHECK(image_tar_check_end(c, NULL) == r);
		}
	} else {
		FUZZ_CHECK(err == NULL);
	}
	free(err);
	image_tar_check_free(c);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int whole, split;

	if (size < 1)
		return 0;
	whole = check(data + 1, size - 1, 0);
	split = check(data + 1, size - 1, data[0] | 1);
	if (whole != split)
		fprintf(stderr, "fed whole: %d, fed in chunks: %d\n", whole, split);
	FUZZ_CHECK(whole == split);
	return 0;
}
