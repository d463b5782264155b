/* Snapshots of the etcd cluster under a store: etcd's Maintenance
 * Snapshot streamed through the v3 gateway into a file, and the check of
 * the SHA-256 etcd appends to it (what `etcdctl snapshot restore`
 * checks too). docs/ha.md, "Snapshot and restore". */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "controlplane/store-etcd-internal.h"
#include "controlplane/store-etcd.h"
#include "lib/b64.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "lib/ossl-cleanup.h"

#define SNAP_HASH_LEN	32
/* One streamed message: a chunk of at most 32 KiB, base64 in JSON. */
#define SNAP_LINE_MAX	((size_t)1 << 20)
/* A transfer that moves less than this many bytes a second for
 * SNAP_STALL_S seconds is abandoned; a large snapshot may take long. */
#define SNAP_STALL_BPS	1024L
#define SNAP_STALL_S	30L

/* The state of one streamed answer: newline-delimited gateway messages,
 * {"result":{"remaining_bytes","blob"}} or {"error":{...}}. */
struct snap_stream {
	int	 fd;
	char	*line;
	size_t	 len;
	uint64_t written;
	int	 r;		/* first failure, with err */
	char	*err;
};

static int
snap_message(struct snap_stream *s, const char *text, size_t len)
{
	_cleanup_json_ json_t	*doc = NULL;
	_cleanup_free_ unsigned char *blob = NULL;
	const json_t		*res, *e;
	const char		*b64;
	size_t			 n = 0;
	int			 r;

	if (len == 0)
		return 0;
	if (!(doc = json_loadb(text, len, 0, NULL)))
		return errf(-BW_E_CORRUPT, &s->err, "etcd snapshot: a "
		    "streamed message is not JSON");
	if ((e = json_object_get(doc, "error"))) {
		const char *msg = json_string_value(json_object_get(e,
		    "message"));

		return errf(-BW_E_UNAVAILABLE, &s->err, "etcd snapshot: %s",
		    msg ? msg : "the stream ended with an error");
	}
	res = json_object_get(doc, "result");
	if (!json_is_object(res))
		return errf(-BW_E_CORRUPT, &s->err, "etcd snapshot: a "
		    "streamed message has no result");
	b64 = json_string_value(json_object_get(res, "blob"));
	if (!b64)
		return 0;	/* an empty chunk */
	if ((r = b64_decode(b64, SNAP_LINE_MAX, &blob, &n)) < 0)
		return errf(r, &s->err, "etcd snapshot: a chunk is not base64");
	if ((r = write_all(s->fd, blob, n)) < 0)
		return errf(r, &s->err, "etcd snapshot: writing: %s",
		    strerror(-r));
	s->written += n;
	return 0;
}

static size_t
snap_write(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct snap_stream *s = userdata;
	size_t	 n = size * nmemb, start = 0, i;
	char	*nl;

	if (s->r < 0)
		return 0;
	if (s->len + n > SNAP_LINE_MAX) {
		s->r = errf(-BW_E_TOOLARGE, &s->err, "etcd snapshot: a "
		    "streamed message is over %zu bytes", SNAP_LINE_MAX);
		return 0;
	}
	if (!(nl = realloc(s->line, s->len + n))) {
		s->r = errf(-ENOMEM, &s->err, "etcd snapshot: out of memory");
		return 0;
	}
	s->line = nl;
	memcpy(s->line + s->len, p, n);
	s->len += n;
	for (i = 0; i < s->len; i++) {
		if (s->line[i] != '\n')
			continue;
		if ((s->r = snap_message(s, s->line + start, i - start)) < 0)
			return 0;
		start = i + 1;
	}
	memmove(s->line, s->line + start, s->len - start);
	s->len -= start;
	return n;
}

/* Streams the snapshot from ENDPOINT into S->fd. *REACHED: a connection
 * was made (another member is not asked then: part of it was written). */
static int
snap_from(struct etcd_store *es, CURL *h, const char *endpoint,
    struct snap_stream *s, int *reached)
{
	char	 url[512];
	long	 http = 0;
	CURLcode cc;

	snprintf(url, sizeof(url), "https://%s/v3/maintenance/snapshot",
	    endpoint);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{}");
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)2);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, snap_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 0L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, SNAP_STALL_BPS);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, SNAP_STALL_S);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
	/* Reached once something was written (a refusing member, e.g.
	 * one without a leader, leaves the fd empty: try the next). */
	*reached = s->written > 0;
	if (s->r < 0)
		return s->r;
	if (cc != CURLE_OK)
		return errf(-BW_E_UNAVAILABLE, &s->err, "etcd %s: snapshot: %s",
		    endpoint, curl_easy_strerror(cc));
	if (http != 200)
		return errf(-BW_E_UNAVAILABLE, &s->err, "etcd %s: snapshot: "
		    "HTTP %ld: %.*s", endpoint, http, (int)(s->len < 200 ?
		    s->len : 200), s->line ? s->line : "");
	/* The last message may lack its newline. */
	return snap_message(s, s->line, s->len);
}

int
store_etcd_snapshot(struct store *st, int fd, struct store_snapshot_info *info,
    char **ret_err)
{
	struct etcd_store	*es = etcd_store_of(st);
	struct snap_stream	 s = { .fd = fd };
	CURL			*h;
	size_t			 i, first;
	int			 r = -BW_E_UNAVAILABLE, reached = 0;

	if (!es)
		return errf(-ENOTSUP, ret_err, "snapshots are of a store on "
		    "etcd; this store is not");
	if (!(h = etcd_handle_get(es)))
		return errf(-ENOMEM, ret_err, "etcd: cannot make a handle");
	first = __atomic_load_n(&es->cur, __ATOMIC_RELAXED);
	for (i = 0; i < es->n_endpoints && !reached; i++) {
		free(s.err);
		s.err = NULL;
		r = snap_from(es, h, es->endpoints[(first + i) %
		    es->n_endpoints], &s, &reached);
		if (r == 0)
			break;
	}
	/* Not back to the pool: its timeouts are the snapshot's. */
	curl_easy_cleanup(h);
	free(s.line);
	if (r < 0) {
		if (ret_err)
			*ret_err = s.err;
		else
			free(s.err);
		return r;
	}
	free(s.err);
	if (fsync(fd) < 0)
		return errf(-errno, ret_err, "etcd snapshot: fsync: %m");
	return store_snapshot_verify_fd(fd, info, ret_err);
}

/* SHA-256 of the first LEN bytes of FD into MD. */
static int
snap_hash(int fd, off_t len, unsigned char md[SNAP_HASH_LEN], char **ret_err)
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char	 buf[65536];
	off_t		 off = 0;
	unsigned	 mdlen = 0;
	ssize_t		 n;

	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		return errf(-ENOMEM, ret_err, "snapshot: cannot hash");
	while (off < len) {
		n = pread(fd, buf, len - off < (off_t)sizeof(buf) ?
		    (size_t)(len - off) : sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return errf(n < 0 ? -errno : -BW_E_CORRUPT, ret_err,
			    "snapshot: reading: %s", n < 0 ? strerror(errno) :
			    "the file shrank");
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
			return errf(-EIO, ret_err, "snapshot: cannot hash");
		off += n;
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != SNAP_HASH_LEN)
		return errf(-EIO, ret_err, "snapshot: cannot hash");
	return 0;
}

int
store_snapshot_verify_fd(int fd, struct store_snapshot_info *info,
    char **ret_err)
{
	unsigned char	 md[SNAP_HASH_LEN], want[SNAP_HASH_LEN];
	struct stat	 sb;
	int		 r;

	if (fstat(fd, &sb) < 0)
		return errf(-errno, ret_err, "snapshot: %m");
	/* etcd's database is whole pages; the digest follows it (the test
	 * `etcdctl snapshot restore` makes). */
	if (!S_ISREG(sb.st_mode) || sb.st_size <= SNAP_HASH_LEN ||
	    sb.st_size % 512 != SNAP_HASH_LEN)
		return errf(-BW_E_CORRUPT, ret_err, "snapshot is corrupt or "
		    "truncated: %lld bytes is not an etcd database with its "
		    "SHA-256 appended", (long long)sb.st_size);
	if ((r = pread_all(fd, want, sizeof(want), sb.st_size -
	    SNAP_HASH_LEN)) < 0)
		return errf(r, ret_err, "snapshot: reading its digest: %s",
		    bw_strerror(r));
	if ((r = snap_hash(fd, sb.st_size - SNAP_HASH_LEN, md, ret_err)) < 0)
		return r;
	if (memcmp(md, want, sizeof(md)) != 0)
		return errf(-BW_E_CORRUPT, ret_err, "snapshot is corrupt: the "
		    "SHA-256 of its %lld bytes of database does not match the "
		    "one etcd appended when it was taken",
		    (long long)(sb.st_size - SNAP_HASH_LEN));
	if (info) {
		info->bytes = (uint64_t)sb.st_size;
		hex_encode(md, sizeof(md), info->sha256);
	}
	return 0;
}

int
store_snapshot_verify(const char *path, struct store_snapshot_info *info,
    char **ret_err)
{
	_cleanup_close_ int	 fd = open_regular_at(AT_FDCWD, path);
	int			 r;

	if (fd < 0)
		return errf(fd, ret_err, "%s: %s", path, bw_strerror(fd));
	if ((r = store_snapshot_verify_fd(fd, info, ret_err)) < 0)
		return errf_wrap(r, ret_err, "%s", path);
	return 0;
}
