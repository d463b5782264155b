#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "controlplane/store-wal.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/macro.h"

#define WAL_MAGIC		"BWSWAL01"
#define WAL_VERSION		1
#define WAL_HDR_FIXED		40	/* magic .. checkpoint txnid */
#define WAL_META_OFF		4096
#define WAL_REC_MAGIC		0x57525742u	/* "BWRW" little-endian */
/* A record holds one transaction; the store bounds a batch to 32 MiB of
 * keys and values, and the per-entry overhead is small, so anything
 * past this is damage, not data. */
#define WAL_REC_MAX		((size_t)96 << 20)
/* Zeros written ahead of the last record: appends then overwrite
 * written blocks, so their fdatasync() flushes data only (no inode
 * size update). */
#define WAL_PREALLOC		((off_t)16 << 20)
#define WAL_PREALLOC_STEP	((off_t)4 << 20)

struct store_wal {
	int		 fd;
	int		 dfd;		/* not owned */
	int		 valid;
	uint64_t	 gen;
	uint64_t	 txnid;
	size_t		 psize;
	unsigned char	*meta;		/* 2 * psize */
	off_t		 off;		/* where the next record goes */
	uint64_t	 seq;		/* of the last record written */
	off_t		 alloc;		/* bytes known written (zeros or data) */
	bool		 positioned;	/* replay or checkpoint ran */
};

static void
le32_put(unsigned char *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void
le64_put(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint32_t
le32_get(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t
le64_get(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static int
wal_digest(const void *a, size_t alen, const void *b, size_t blen,
    unsigned char out[32])
{
	EVP_MD_CTX	*ctx = EVP_MD_CTX_new();
	unsigned int	 n = 0;
	int		 ok;

	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(ctx, a, alen) &&
	    (blen == 0 || EVP_DigestUpdate(ctx, b, blen)) &&
	    EVP_DigestFinal_ex(ctx, out, &n) && n == 32;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -BW_E_CRYPTO;
}

static bool
psize_ok(size_t ps)
{
	return ps >= 512 && ps <= STORE_WAL_PSIZE_MAX && (ps & (ps - 1)) == 0;
}

/* Reads and checks the header slot at OFF; when EXPECT_PSIZE is not 0
 * the slot must name that page size. On success fills the out values
 * and returns 0 with *ret_meta allocated. */
static int
slot_read(int fd, off_t off, size_t expect_psize, uint64_t *ret_gen,
    uint64_t *ret_txnid, size_t *ret_psize, unsigned char **ret_meta)
{
	unsigned char	 fixed[WAL_HDR_FIXED + 32], d[32];
	_cleanup_free_ unsigned char *meta = NULL;
	size_t		 ps;
	int		 r;

	if ((r = pread_all(fd, fixed, sizeof(fixed), off)) < 0)
		return r;
	if (memcmp(fixed, WAL_MAGIC, 8) != 0 ||
	    le32_get(fixed + 8) != WAL_VERSION)
		return -BW_E_CORRUPT;
	ps = le32_get(fixed + 12);
	if (!psize_ok(ps) || (expect_psize && ps != expect_psize))
		return -BW_E_CORRUPT;
	if (!(meta = malloc(2 * ps)))
		return -ENOMEM;
	if ((r = pread_all(fd, meta, 2 * ps, off + WAL_META_OFF)) < 0)
		return r;
	if ((r = wal_digest(fixed, WAL_HDR_FIXED, meta, 2 * ps, d)) < 0)
		return r;
	if (memcmp(d, fixed + WAL_HDR_FIXED, 32) != 0)
		return -BW_E_CORRUPT;
	*ret_gen = le64_get(fixed + 16);
	*ret_txnid = le64_get(fixed + 24);
	*ret_psize = ps;
	*ret_meta = TAKE_PTR(meta);
	return 0;
}

/* Writes zeros from the file's end up to at least UPTO. */
static int
wal_extend(struct store_wal *w, off_t upto)
{
	static const char zeros[64 * 1024];
	off_t	 end = w->alloc;
	int	 r;

	upto = (upto + WAL_PREALLOC_STEP - 1) / WAL_PREALLOC_STEP *
	    WAL_PREALLOC_STEP;
	while (end < upto) {
		size_t n = (size_t)(upto - end) < sizeof(zeros) ?
		    (size_t)(upto - end) : sizeof(zeros);

		if ((r = pwrite_all(w->fd, zeros, n, end)) < 0)
			return r;
		end += (off_t)n;
	}
	w->alloc = end;
	return 0;
}

/* True when the first LEN bytes from OFF are zero (or past the end). */
static int
region_zero(int fd, off_t off, size_t len)
{
	unsigned char	 buf[4096];
	ssize_t		 n;
	size_t		 i;

	while (len > 0) {
		n = pread(fd, buf, len < sizeof(buf) ? len : sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 1;
		for (i = 0; i < (size_t)n; i++)
			if (buf[i])
				return 0;
		off += n;
		len -= (size_t)n;
	}
	return 1;
}

int
store_wal_open(int dfd, struct store_wal **ret, char **ret_err)
{
	static const size_t sizes[] = { 4096, 8192, 16384, 32768, 65536,
	    512, 1024, 2048 };
	struct store_wal *w;
	struct stat	 sb;
	uint64_t	 gen[2] = { 0, 0 }, txn[2] = { 0, 0 };
	size_t		 ps[2] = { 0, 0 }, i;
	unsigned char	*meta[2] = { NULL, NULL };
	int		 ok[2] = { 0, 0 }, r, best;

	if (!(w = calloc(1, sizeof(*w))))
		return errf(-ENOMEM, ret_err, "%s: out of memory", STORE_WAL_FILE);
	w->dfd = dfd;
	w->fd = openat(dfd, STORE_WAL_FILE, O_RDWR | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (w->fd < 0) {
		r = errf(-errno, ret_err, "%s: %s", STORE_WAL_FILE,
		    strerror(errno));
		goto fail;
	}
	if (fstat(w->fd, &sb) < 0) {
		r = errf(-errno, ret_err, "%s: %s", STORE_WAL_FILE,
		    strerror(errno));
		goto fail;
	}
	w->alloc = sb.st_size;
	if (sb.st_size > 0) {
		ok[0] = slot_read(w->fd, 0, 0, &gen[0], &txn[0], &ps[0],
		    &meta[0]) == 0;
		for (i = 0; i < (sizeof(sizes) / sizeof(sizes[0])) && !ok[1]; i++) {
			if (ok[0] && sizes[i] != ps[0])
				continue;
			ok[1] = slot_read(w->fd, (off_t)STORE_WAL_SLOT(sizes[i]),
			    sizes[i], &gen[1], &txn[1], &ps[1], &meta[1]) == 0;
		}
	}
	/* Each slot holds the generations of its parity; a slot torn by a
	 * crash while a checkpoint rewrote it leaves the other, older one,
	 * whose records are still in place. */
	if (ok[0] && gen[0] % 2 != 0)
		ok[0] = 0;
	if (ok[1] && gen[1] % 2 != 1)
		ok[1] = 0;
	best = ok[0] && ok[1] ? (gen[1] > gen[0]) : ok[1] ? 1 : ok[0] ? 0 : -1;
	if (best >= 0) {
		w->valid = 1;
		w->gen = gen[best];
		w->txnid = txn[best];
		w->psize = ps[best];
		w->meta = TAKE_PTR(meta[best]);
	} else if (sb.st_size > 0) {
		/* No header: a new log whose first checkpoint never
		 * completed holds no record (nothing is appended before
		 * it); anything else is damage we must not guess about. */
		for (i = 0; i < (sizeof(sizes) / sizeof(sizes[0])); i++) {
			r = region_zero(w->fd, (off_t)STORE_WAL_DATA(sizes[i]), 8);
			if (r < 0) {
				r = errf(r, ret_err, "%s: %s", STORE_WAL_FILE,
				    bw_strerror(r));
				goto fail;
			}
			if (r == 0)
				break;
		}
		if (i < (sizeof(sizes) / sizeof(sizes[0]))) {
			r = errf(-BW_E_CORRUPT, ret_err, "%s: no valid "
			    "checkpoint header, but records follow: the log "
			    "is damaged", STORE_WAL_FILE);
			goto fail;
		}
	}
	free(meta[0]);
	free(meta[1]);
	meta[0] = meta[1] = NULL;
	if (sb.st_size == 0) {
		/* Make the new file's name and its zeros durable once. */
		if ((r = wal_extend(w, WAL_PREALLOC)) < 0 ||
		    (fdatasync(w->fd) < 0 && (r = -errno)) ||
		    (fsync(dfd) < 0 && (r = -errno))) {
			r = errf(r, ret_err, "%s: cannot preallocate: %s",
			    STORE_WAL_FILE, bw_strerror(r));
			goto fail;
		}
	}
	*ret = w;
	return 0;
fail:
	free(meta[0]);
	free(meta[1]);
	store_wal_close(w);
	return r;
}

void
store_wal_last_checkpoint(const struct store_wal *w,
    struct store_wal_checkpoint *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (!w || !w->valid)
		return;
	ret->valid = 1;
	ret->gen = w->gen;
	ret->txnid = w->txnid;
	ret->psize = w->psize;
	ret->meta = w->meta;
}

static size_t
rec_size(size_t len)
{
	return (STORE_WAL_REC_HDR + len + 7) & ~(size_t)7;
}

int
store_wal_replay(struct store_wal *w,
    int (*fn)(void *arg, const unsigned char *payload, size_t len),
    void *arg, char **ret_err)
{
	unsigned char	 hdr[STORE_WAL_REC_HDR], d[32];
	unsigned char	*payload = NULL;
	off_t		 off;
	uint64_t	 seq = 0;
	size_t		 len;
	int		 r, n = 0;

	if (!w->valid)
		return errf(-BW_E_INVALID, ret_err, "%s: no checkpoint to "
		    "replay from", STORE_WAL_FILE);
	off = (off_t)STORE_WAL_DATA(w->psize);
	for (;;) {
		if (pread_all(w->fd, hdr, sizeof(hdr), off) < 0)
			break;
		len = le32_get(hdr + 4);
		if (le32_get(hdr) != WAL_REC_MAGIC ||
		    le64_get(hdr + 8) != w->gen ||
		    le64_get(hdr + 16) != seq + 1 || len > WAL_REC_MAX)
			break;
		free(payload);
		if (!(payload = malloc(len ? len : 1))) {
			r = errf(-ENOMEM, ret_err, "%s: out of memory",
			    STORE_WAL_FILE);
			goto out;
		}
		if (pread_all(w->fd, payload, len, off + STORE_WAL_REC_HDR) < 0)
			break;
		if ((r = wal_digest(hdr, 24, payload, len, d)) < 0) {
			r = errf(r, ret_err, "%s: cannot hash", STORE_WAL_FILE);
			goto out;
		}
		if (memcmp(d, hdr + 24, 32) != 0)
			break;	/* torn: never acknowledged */
		if ((r = fn(arg, payload, len)) < 0) {
			r = errf(r, ret_err, "%s: record %ju of generation %ju "
			    "cannot be applied: %s", STORE_WAL_FILE,
			    (uintmax_t)(seq + 1), (uintmax_t)w->gen,
			    bw_strerror(r));
			goto out;
		}
		seq++;
		n++;
		off += (off_t)rec_size(len);
	}
	w->off = off;
	w->seq = seq;
	w->positioned = true;
	r = n;
out:
	free(payload);
	return r;
}

int
store_wal_append(struct store_wal *w, const void *payload, size_t len)
{
	unsigned char	 hdr[STORE_WAL_REC_HDR];
	size_t		 total = rec_size(len);
	int		 r;

	if (!w->positioned)
		return -BW_E_INVALID;
	if (len > WAL_REC_MAX)
		return -BW_E_TOOLARGE;
	if (w->off + (off_t)total > w->alloc &&
	    (r = wal_extend(w, w->off + (off_t)total + WAL_PREALLOC)) < 0)
		return r;
	le32_put(hdr, WAL_REC_MAGIC);
	le32_put(hdr + 4, (uint32_t)len);
	le64_put(hdr + 8, w->gen);
	le64_put(hdr + 16, w->seq + 1);
	if ((r = wal_digest(hdr, 24, payload, len, hdr + 24)) < 0)
		return r;
	/* The padding after the payload is never read (the next record
	 * starts at the aligned offset): it is not written. */
	if ((r = pwrite_all(w->fd, hdr, sizeof(hdr), w->off)) < 0 ||
	    (r = pwrite_all(w->fd, payload, len,
	    w->off + STORE_WAL_REC_HDR)) < 0)
		return r;
	if (fdatasync(w->fd) < 0)
		return -errno;
	w->off += (off_t)total;
	w->seq++;
	return 0;
}

int
store_wal_checkpoint(struct store_wal *w, uint64_t txnid, const void *meta,
    size_t psize)
{
	_cleanup_free_ unsigned char *slot = NULL;
	unsigned char	*m = NULL;
	uint64_t	 gen = w->gen + 1;
	size_t		 ssz = STORE_WAL_SLOT(psize);
	int		 r;

	if (!psize_ok(psize) || (w->valid && psize != w->psize))
		return -BW_E_INVALID;
	if (!(slot = calloc(1, ssz)) || !(m = malloc(2 * psize)))
		return -ENOMEM;
	memcpy(slot, WAL_MAGIC, 8);
	le32_put(slot + 8, WAL_VERSION);
	le32_put(slot + 12, (uint32_t)psize);
	le64_put(slot + 16, gen);
	le64_put(slot + 24, txnid);
	memcpy(slot + WAL_META_OFF, meta, 2 * psize);
	if ((r = wal_digest(slot, WAL_HDR_FIXED, slot + WAL_META_OFF,
	    2 * psize, slot + WAL_HDR_FIXED)) < 0)
		goto fail;
	if ((off_t)STORE_WAL_DATA(psize) > w->alloc &&
	    (r = wal_extend(w, (off_t)STORE_WAL_DATA(psize) + WAL_PREALLOC)) < 0)
		goto fail;
	if ((r = pwrite_all(w->fd, slot, ssz, (off_t)((gen % 2) * ssz))) < 0)
		goto fail;
	if (fdatasync(w->fd) < 0) {
		r = -errno;
		goto fail;
	}
	memcpy(m, meta, 2 * psize);
	free(w->meta);
	w->meta = m;
	w->valid = 1;
	w->gen = gen;
	w->txnid = txnid;
	w->psize = psize;
	w->off = (off_t)STORE_WAL_DATA(psize);
	w->seq = 0;
	w->positioned = true;
	return 0;
fail:
	free(m);
	return r;
}

size_t
store_wal_used(const struct store_wal *w)
{
	if (!w || !w->positioned)
		return 0;
	return (size_t)(w->off - (off_t)STORE_WAL_DATA(w->psize));
}

void
store_wal_close(struct store_wal *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	free(w->meta);
	free(w);
}

int
store_wal_remove(int dfd)
{
	if (unlinkat(dfd, STORE_WAL_FILE, 0) < 0 && errno != ENOENT)
		return -errno;
	if (fsync(dfd) < 0)
		return -errno;
	return 0;
}
