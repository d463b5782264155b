#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/segment.h"
#include "lib/b64.h"
#include "lib/err.h"
#include "lib/macro.h"

#define HDR_MAGIC	"bulwark-audit-segment v=1 first_seq="

void
audit_segment_name(uint64_t first_seq, char buf[AUDIT_SEG_NAME_LEN + 1])
{
	snprintf(buf, AUDIT_SEG_NAME_LEN + 1, "seg-%020" PRIu64 ".log",
	    first_seq);
}

int
audit_segment_name_parse(const char *name, uint64_t *ret_first_seq)
{
	uint64_t v = 0;

	if (strlen(name) != AUDIT_SEG_NAME_LEN || strncmp(name, "seg-", 4) != 0 ||
	    strcmp(name + 24, ".log") != 0)
		return -BW_E_INVALID;
	for (int i = 4; i < 24; i++) {
		unsigned d;

		if (name[i] < '0' || name[i] > '9')
			return -BW_E_INVALID;
		d = (unsigned)(name[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -BW_E_INVALID;
		v = v * 10 + d;
	}
	if (v == 0)
		return -BW_E_INVALID;
	*ret_first_seq = v;
	return 0;
}

int
audit_segment_header_format(struct bw_buf *b, uint64_t first_seq,
    const char *prev_hex)
{
	return bw_buf_appendf(b, HDR_MAGIC "%" PRIu64 " prev=%s\n",
	    first_seq, prev_hex);
}

int
audit_segment_header_parse(const char *buf, size_t len,
    uint64_t *ret_first_seq, char ret_prev[AUDIT_HASH_HEX + 1],
    size_t *ret_len)
{
	const size_t	 ml = sizeof(HDR_MAGIC) - 1;
	const char	*nl;
	size_t		 pos, start;
	uint64_t	 v = 0;
	unsigned char	 h[AUDIT_HASH_LEN];

	if (!(nl = memchr(buf, '\n', len < 128 ? len : 128)))
		return -BW_E_INVALID;
	len = (size_t)(nl - buf);
	if (len < ml || memcmp(buf, HDR_MAGIC, ml) != 0)
		return -BW_E_INVALID;
	start = pos = ml;
	while (pos < len && buf[pos] >= '0' && buf[pos] <= '9') {
		unsigned d = (unsigned)(buf[pos] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -BW_E_INVALID;
		v = v * 10 + d;
		pos++;
	}
	if (pos == start || pos - start > 20 || (buf[start] == '0') || v == 0)
		return -BW_E_INVALID;
	if (len - pos != 6 + AUDIT_HASH_HEX || memcmp(buf + pos, " prev=", 6) != 0 ||
	    hex_decode_span(buf + pos + 6, AUDIT_HASH_HEX, h, sizeof(h), true) < 0)
		return -BW_E_INVALID;
	*ret_first_seq = v;
	memcpy(ret_prev, buf + pos + 6, AUDIT_HASH_HEX);
	ret_prev[AUDIT_HASH_HEX] = '\0';
	*ret_len = len + 1;
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
audit_segment_list_free(char **names, size_t n)
{
	if (!names)
		return;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int
audit_segment_list(int dirfd, char ***ret_names, size_t *ret_n)
{
	DIR		*d;
	struct dirent	*de;
	char		**names = NULL;
	size_t		 n = 0, cap = 0;
	int		 fd, r = 0;

	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if (!(d = fdopendir(fd))) {
		r = -errno;
		close(fd);
		return r;
	}
	for (;;) {
		uint64_t seq;

		errno = 0;
		if (!(de = readdir(d))) {
			if (errno)
				r = -errno;
			break;
		}
		if (audit_segment_name_parse(de->d_name, &seq) < 0)
			continue;
		if (n == cap) {
			size_t	 ncap = cap ? cap * 2 : 16;
			char	**nn = realloc(names, ncap * sizeof(*names));

			if (!nn) {
				r = -ENOMEM;
				break;
			}
			names = nn;
			cap = ncap;
		}
		if (!(names[n] = strdup(de->d_name))) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (r < 0) {
		audit_segment_list_free(names, n);
		return r;
	}
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	*ret_names = names;
	*ret_n = n;
	return 0;
}

int
audit_segment_data_end(int fd, uint64_t size, uint64_t *ret_end)
{
	char		buf[16384];
	uint64_t	end = size;

	while (end > 0) {
		size_t	n = end < sizeof(buf) ? (size_t)end : sizeof(buf), keep;
		ssize_t	got = pread(fd, buf, n, (off_t)(end - n));

		if (got < 0)
			return -errno;
		if ((size_t)got != n) {
			/* Cut meanwhile (rotation, close): look again from
			 * the new end. */
			end = end - n + (uint64_t)got;
			continue;
		}
		for (keep = n; keep > 0 && buf[keep - 1] == '\0'; keep--)
			;
		if (keep > 0) {
			*ret_end = end - n + keep;
			return 0;
		}
		end -= n;
	}
	*ret_end = 0;
	return 0;
}
