/* Signed, content-addressed image store; see image.h. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <search.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "hardening/crypto.h"
#include "image/image.h"
#include "lib/b64.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "lib/ossl-cleanup.h"
#include "lib/runtime-exec.h"

#define TAR_BIN		"/usr/bin/tar"
#define GZIP_BIN	"/usr/bin/gzip"
#define FIND_BIN	"/usr/bin/find"
#define RM_BIN		"/usr/bin/rm"
/* pax and GNU long-name headers are small in practice. */
#define TAR_META_MAX	(64 * 1024)
#define TAR_NAME_MAX	4096
#define META_MAX	4096
#define TRUST_KEYS_MAX	256

static const struct image_limits default_limits = {
	.max_blob = 16ULL << 30,
	.max_unpacked = 16ULL << 30,
	.max_entries = 1000000,
};

struct image_store {
	char			*root;
	char			*trust;
	struct image_limits	 lim;
	unsigned		 seq;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(FILE *, fclose)
DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct image_tar_check *, image_tar_check_free)

/* ---------------------------------------------------------------- */
/* Tar validation                                                   */

struct image_tar_check {
	struct image_limits	 lim;
	unsigned char		 hdr[512];
	size_t			 hdr_len;
	uint64_t		 skip;		/* data + padding still to skip */
	char			 cap_type;	/* 'x', 'L', 'K' being captured */
	char			*cap;
	size_t			 cap_len, cap_want;
	char			*long_name, *long_link;
	char			*pax_path, *pax_link;
	bool			 pax_size_set;
	uint64_t		 pax_size;
	uint64_t		 entries, total;
	int			 zero_blocks;
	bool			 done;
	int			 error;		/* sticky */
	void			*symlinks;	/* tsearch tree of names */
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

int
image_tar_check_new(const struct image_limits *limits,
    struct image_tar_check **ret)
{
	struct image_tar_check *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->lim = limits ? *limits : default_limits;
	*ret = c;
	return 0;
}

void
image_tar_check_free(struct image_tar_check *c)
{
	if (!c)
		return;
	tdestroy(c->symlinks, free);
	free(c->cap);
	free(c->long_name);
	free(c->long_link);
	free(c->pax_path);
	free(c->pax_link);
	free(c);
}

static int
tar_num(const unsigned char *f, size_t n, uint64_t *ret)
{
	uint64_t	v = 0;
	size_t		i = 0;

	if (f[0] & 0x80) {
		/* Base-256: big-endian, negative values refused. */
		if (f[0] & 0x40)
			return -BW_E_INVALID;
		v = f[0] & 0x3f;
		for (i = 1; i < n; i++) {
			if (v >> 56)
				return -BW_E_INVALID;
			v = v << 8 | f[i];
		}
		*ret = v;
		return 0;
	}
	while (i < n && f[i] == ' ')
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return -BW_E_INVALID;
		v = v * 8 + (f[i] - '0');
	}
	if (i < n && f[i] != ' ' && f[i] != '\0')
		return -BW_E_INVALID;
	*ret = v;
	return 0;
}

/* Normalises a member name: leading "./" and empty or "." components
 * go; absolute names and ".." are refused. *RET may be "" (the
 * archive's root directory). */
static int
tar_norm(const char *in, char **ret, char **ret_err)
{
	_cleanup_free_ char	*out = NULL;
	size_t			 n = strlen(in), o = 0;
	const char		*p = in;

	if (n == 0 || n > TAR_NAME_MAX)
		return errf(-BW_E_INVALID, ret_err,
		    "tar: empty or overlong member name");
	if (in[0] == '/')
		return errf(-BW_E_INVALID, ret_err,
		    "tar: absolute member name '%.200s'", in);
	out = malloc(n + 1);
	if (!out)
		return -ENOMEM;
	while (*p) {
		const char	*e = strchr(p, '/');
		size_t		 len = e ? (size_t)(e - p) : strlen(p);

		if (len == 2 && p[0] == '.' && p[1] == '.')
			return errf(-BW_E_INVALID, ret_err,
			    "tar: member name with '..': '%.200s'", in);
		if (len > 0 && !(len == 1 && p[0] == '.')) {
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, len);
			o += len;
		}
		p += len;
		if (*p == '/')
			p++;
	}
	out[o] = '\0';
	*ret = TAKE_PTR(out);
	return 0;
}

/* Refuses NAME when it or (with SELF false) only a proper prefix of it
 * lies below a symlink member seen earlier: tar would follow it. */
static int
tar_below_symlink(struct image_tar_check *c, const char *name, bool self,
    char **ret_err)
{
	_cleanup_free_ char	*buf = strdup(name);
	char			*p;

	if (!buf)
		return -ENOMEM;
	for (p = buf; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (tfind(buf, &c->symlinks, cmp_str))
			return errf(-BW_E_INVALID, ret_err,
			    "tar: '%.200s' lies below the symlink '%.200s'",
			    name, buf);
		*p = '/';
	}
	if (self && tfind(buf, &c->symlinks, cmp_str))
		return errf(-BW_E_INVALID, ret_err,
		    "tar: '%.200s' lies below a symlink", name);
	return 0;
}

static int
tar_pax(struct image_tar_check *c, char **ret_err)
{
	size_t pos = 0;

	while (pos < c->cap_len) {
		size_t	 len = 0, i = pos, klen;
		char	*rec, *eq, *val;

		while (i < c->cap_len && c->cap[i] >= '0' && c->cap[i] <= '9' &&
		    len < TAR_META_MAX)
			len = len * 10 + (size_t)(c->cap[i++] - '0');
		if (i >= c->cap_len || c->cap[i] != ' ' || len == 0 ||
		    len > c->cap_len - pos || c->cap[pos + len - 1] != '\n')
			return errf(-BW_E_INVALID, ret_err,
			    "tar: malformed pax header");
		rec = c->cap + i + 1;
		c->cap[pos + len - 1] = '\0';
		eq = strchr(rec, '=');
		if (!eq || (size_t)(eq - c->cap) >= pos + len)
			return errf(-BW_E_INVALID, ret_err,
			    "tar: malformed pax record");
		klen = (size_t)(eq - rec);
		val = eq + 1;
		if (strlen(val) != (size_t)(c->cap + pos + len - 1 - val))
			return errf(-BW_E_INVALID, ret_err,
			    "tar: NUL in a pax value");
		if (klen == 4 && !strncmp(rec, "path", 4)) {
			free(c->pax_path);
			if (!(c->pax_path = strdup(val)))
				return -ENOMEM;
		} else if (klen == 8 && !strncmp(rec, "linkpath", 8)) {
			free(c->pax_link);
			if (!(c->pax_link = strdup(val)))
				return -ENOMEM;
		} else if (klen == 4 && !strncmp(rec, "size", 4)) {
			char *end;

			errno = 0;
			c->pax_size = strtoull(val, &end, 10);
			if (errno || *end || !*val)
				return errf(-BW_E_INVALID, ret_err,
				    "tar: bad pax size");
			c->pax_size_set = true;
		}
		pos += len;
	}
	return 0;
}

static int
tar_captured(struct image_tar_check *c, char **ret_err)
{
	char	**slot;
	int	  r = 0;

	c->cap[c->cap_len] = '\0';
	if (c->cap_type == 'x')
		r = tar_pax(c, ret_err);
	else {
		slot = c->cap_type == 'L' ? &c->long_name : &c->long_link;
		free(*slot);
		*slot = strdup(c->cap);	/* stops at the NUL terminator */
		if (!*slot)
			r = -ENOMEM;
	}
	free(c->cap);
	c->cap = NULL;
	c->cap_type = 0;
	return r;
}

static void
tar_clear_pending(struct image_tar_check *c)
{
	free(c->long_name);
	free(c->long_link);
	free(c->pax_path);
	free(c->pax_link);
	c->long_name = c->long_link = c->pax_path = c->pax_link = NULL;
	c->pax_size_set = false;
}

static int
tar_header(struct image_tar_check *c, char **ret_err)
{
	_cleanup_free_ char	*name = NULL, *link = NULL;
	unsigned char		*h = c->hdr;
	char			 raw[256 + 1 + 100 + 1], rawlink[101];
	uint64_t		 sum = 0, want, size;
	char			 type = (char)h[156];
	size_t			 i;
	int			 r;

	for (i = 0; i < 512 && !h[i]; i++)
		;
	if (i == 512) {
		if (++c->zero_blocks == 2)
			c->done = true;
		return 0;
	}
	c->zero_blocks = 0;
	for (i = 0; i < 512; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	if (tar_num(h + 148, 8, &want) < 0 || want != sum)
		return errf(-BW_E_INVALID, ret_err,
		    "tar: header checksum mismatch at member %" PRIu64,
		    c->entries + 1);
	if (tar_num(h + 124, 12, &size) < 0)
		return errf(-BW_E_INVALID, ret_err, "tar: bad member size");

	if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
		if (size > TAR_META_MAX)
			return errf(-BW_E_INVALID, ret_err,
			    "tar: extended header over %d bytes", TAR_META_MAX);
		c->skip = (size + 511) & ~(uint64_t)511;
		if (type == 'g')
			return 0;	/* global defaults: nothing we use */
		c->cap = malloc(size + 1);
		if (!c->cap)
			return -ENOMEM;
		c->cap_type = type;
		c->cap_len = 0;
		c->cap_want = size;
		if (size == 0)
			return tar_captured(c, ret_err);
		return 0;
	}

	if (c->pax_path || c->long_name)
		snprintf(raw, sizeof(raw), "%s", "");
	else if (!memcmp(h + 257, "ustar\0", 6) && h[345])
		snprintf(raw, sizeof(raw), "%.155s/%.100s",
		    (const char *)h + 345, (const char *)h + 0);
	else
		snprintf(raw, sizeof(raw), "%.100s", (const char *)h);
	snprintf(rawlink, sizeof(rawlink), "%.100s", (const char *)h + 157);
	r = tar_norm(c->pax_path ? c->pax_path :
	    c->long_name ? c->long_name : raw, &name, ret_err);
	if (r < 0)
		return r;
	if (c->pax_size_set)
		size = c->pax_size;

	switch (type) {
	case '0': case '\0': case '7':
	case '5':
		break;
	case '1':
		r = tar_norm(c->pax_link ? c->pax_link :
		    c->long_link ? c->long_link : rawlink, &link, ret_err);
		if (r < 0)
			return r;
		if ((r = tar_below_symlink(c, link, true, ret_err)) < 0)
			return r;
		break;
	case '2':
		/* Symlink targets are resolved inside the container's root
		 * at run time; only extraction through them is a danger. */
		break;
	case '3': case '4':
		return errf(-BW_E_INVALID, ret_err,
		    "tar: device node '%.200s' refused", name);
	case '6':
		return errf(-BW_E_INVALID, ret_err,
		    "tar: FIFO '%.200s' refused", name);
	default:
		return errf(-BW_E_INVALID, ret_err,
		    "tar: member type '%c' of '%.200s' not supported",
		    type >= 32 && type < 127 ? type : '?', name);
	}
	if (!*name && type != '5')
		return errf(-BW_E_INVALID, ret_err,
		    "tar: member without a name");
	if ((r = tar_below_symlink(c, name, false, ret_err)) < 0)
		return r;
	if (type == '2' && *name) {
		char *dup = strdup(name);

		if (!dup)
			return -ENOMEM;
		if (!tsearch(dup, &c->symlinks, cmp_str)) {
			free(dup);
			return -ENOMEM;
		}
		/* tsearch keeps the existing key for a repeated name. */
		if (*(char **)tfind(dup, &c->symlinks, cmp_str) != dup)
			free(dup);
	}
	if (++c->entries > c->lim.max_entries)
		return errf(-BW_E_TOOLARGE, ret_err,
		    "tar: more than %" PRIu64 " members", c->lim.max_entries);
	if (size > c->lim.max_unpacked - c->total)
		return errf(-BW_E_TOOLARGE, ret_err,
		    "tar: unpacked size over %" PRIu64 " bytes",
		    c->lim.max_unpacked);
	c->total += size;
	/* Links and directories carry no data in the archive. */
	if (type == '1' || type == '2' || type == '5')
		size = 0;
	c->skip = (size + 511) & ~(uint64_t)511;
	tar_clear_pending(c);
	return 0;
}

int
image_tar_check_feed(struct image_tar_check *c, const void *buf, size_t len,
    char **ret_err)
{
	const unsigned char	*p = buf;
	int			 r;

	if (c->error)
		return c->error;
	while (len > 0 && !c->done) {
		if (c->skip > 0) {
			size_t take = len < c->skip ? len : (size_t)c->skip;

			if (c->cap && c->cap_len < c->cap_want) {
				size_t n = c->cap_want - c->cap_len;

				if (n > take)
					n = take;
				memcpy(c->cap + c->cap_len, p, n);
				c->cap_len += n;
			}
			c->skip -= take;
			p += take;
			len -= take;
			if (c->skip == 0 && c->cap &&
			    (r = tar_captured(c, ret_err)) < 0)
				return c->error = r;
			continue;
		}
		{
			size_t take = 512 - c->hdr_len;

			if (take > len)
				take = len;
			memcpy(c->hdr + c->hdr_len, p, take);
			c->hdr_len += take;
			p += take;
			len -= take;
		}
		if (c->hdr_len == 512) {
			c->hdr_len = 0;
			if ((r = tar_header(c, ret_err)) < 0)
				return c->error = r;
		}
	}
	return 0;
}

int
image_tar_check_end(struct image_tar_check *c, char **ret_err)
{
	if (c->error)
		return c->error;
	/* GNU tar tolerates a missing second zero block; so do we, but
	 * not a member cut short. */
	if (c->skip > 0 || c->hdr_len > 0 || (!c->done && c->zero_blocks == 0))
		return errf(-BW_E_INVALID, ret_err, "tar: truncated archive");
	if (c->entries == 0)
		return errf(-BW_E_INVALID, ret_err, "tar: empty archive");
	return 0;
}

/* ---------------------------------------------------------------- */
/* Signatures                                                       */

static int
hash_fd(int fd, const EVP_MD *md, unsigned char *out, unsigned *out_len)
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char	buf[65536];
	ssize_t	n;

	if (!ctx || !EVP_DigestInit_ex(ctx, md, NULL))
		return -BW_E_CRYPTO;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!EVP_DigestUpdate(ctx, buf, (size_t)n))
			return -BW_E_CRYPTO;
	}
	if (!EVP_DigestFinal_ex(ctx, out, out_len))
		return -BW_E_CRYPTO;
	return 0;
}

static bool
pkey_is_p384(EVP_PKEY *k)
{
	char	group[64];
	size_t	len;

	if (!EVP_PKEY_is_a(k, "EC"))
		return false;
	if (!EVP_PKEY_get_group_name(k, group, sizeof(group), &len))
		return false;
	return !strcmp(group, "secp384r1");
}

/* Decodes a signature file: DER as is, otherwise base64 of DER. */
static int
sig_decode(const char *buf, size_t len, unsigned char **ret,
    size_t *ret_len)
{
	_cleanup_free_ unsigned char	*out = NULL;
	_cleanup_free_ char		*b64 = NULL;
	size_t				 n = 0, pad = 0;
	int				 dec;

	if (len > 0 && (unsigned char)buf[0] == 0x30) {
		out = malloc(len);
		if (!out)
			return -ENOMEM;
		memcpy(out, buf, len);
		*ret = TAKE_PTR(out);
		*ret_len = len;
		return 0;
	}
	b64 = malloc(len + 1);
	if (!b64)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		char ch = buf[i];

		if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
			continue;
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' ||
		    ch == '='))
			return -BW_E_INVALID;
		b64[n++] = ch;
	}
	if (n == 0 || n % 4)
		return -BW_E_INVALID;
	if (b64[n - 1] == '=')
		pad++;
	if (b64[n - 2] == '=')
		pad++;
	out = malloc(n / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	dec = EVP_DecodeBlock(out, (unsigned char *)b64, (int)n);
	if (dec < 0 || (size_t)dec < pad)
		return -BW_E_INVALID;
	*ret_len = (size_t)dec - pad;
	*ret = TAKE_PTR(out);
	return 0;
}

/* Tries every trusted key on the SHA-384 digest D. */
static int
verify_digest(const char *trust_dir, const unsigned char *d, size_t dlen,
    const unsigned char *sig, size_t siglen, char **ret_signer,
    char **ret_err)
{
	_cleanup_(closedirp) DIR	*dir = NULL;
	struct dirent			*de;
	unsigned			 seen = 0, keys = 0;

	dir = opendir(trust_dir);
	if (!dir)
		return errf(-BW_E_UNAVAILABLE, ret_err,
		    "trust directory %s: %s", trust_dir, strerror(errno));
	while ((de = readdir(dir))) {
		_cleanup_(EVP_PKEY_freep) EVP_PKEY		*k = NULL;
		_cleanup_(fclosep) FILE				*f = NULL;
		_cleanup_close_ int				 fd = -1;
		size_t	nlen = strlen(de->d_name);
		int	r;

		if (nlen < 5 || nlen - 4 > IMAGE_SIGNER_MAX ||
		    strcmp(de->d_name + nlen - 4, ".pem"))
			continue;
		if (++seen > TRUST_KEYS_MAX)
			break;
		fd = openat(dirfd(dir), de->d_name,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || !(f = fdopen(fd, "r")))
			continue;
		fd = -1;	/* now owned by f */
		k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
		/* Only P-384 keys count as publishers (approved, and one
		 * algorithm keeps the rule simple to audit). */
		if (!k || !pkey_is_p384(k))
			continue;
		keys++;
		r = crypto_verify_digest(k, "SHA384", CRYPTO_SIG_PKCS1, d, dlen,
		    sig, siglen, NULL);
		if (r < 0 && r != -BW_E_DENIED)
			return r == -ENOMEM ? r : -BW_E_CRYPTO;
		if (r == 0) {
			char *name = strndup(de->d_name, nlen - 4);

			if (!name)
				return -ENOMEM;
			*ret_signer = name;
			return 0;
		}
	}
	if (keys == 0)
		return errf(-BW_E_DENIED, ret_err,
		    "no trusted P-384 publisher key in %s", trust_dir);
	return errf(-BW_E_DENIED, ret_err,
	    "signature does not verify under any of %u trusted keys", keys);
}

static int
read_sig(const char *file, unsigned char **ret, size_t *ret_len,
    char **ret_err)
{
	_cleanup_free_ char	*path = NULL, *buf = NULL;
	_cleanup_close_ int	 fd = -1;
	size_t			 len;
	int			 r;

	if (asprintf(&path, "%s.sig", file) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	/* a FIFO or device in place of the signature would block the
	 * import (and its worker) forever: regular files only */
	if ((fd = open_regular_at(AT_FDCWD, path)) < 0)
		r = fd;
	else
		r = read_bounded(fd, IMAGE_SIG_MAX, &buf, &len);
	if (r == -ENOENT)
		return errf(-BW_E_DENIED, ret_err,
		    "image %s is unsigned (no %s)", file, path);
	if (r == -BW_E_INVALID)
		return errf(-BW_E_DENIED, ret_err, "%s: not a regular file",
		    path);
	if (r < 0)
		return errf(r == -EFBIG ? -BW_E_DENIED : r, ret_err,
		    "%s: %s", path, bw_strerror(r));
	r = sig_decode(buf, len, ret, ret_len);
	if (r < 0)
		return errf(r == -ENOMEM ? r : -BW_E_DENIED, ret_err,
		    "%s: neither DER nor base64", path);
	return 0;
}

int
image_verify_file(const char *trust_dir, const char *file,
    char **ret_signer, char **ret_err)
{
	_cleanup_free_ unsigned char	*sig = NULL;
	_cleanup_close_ int		 fd = -1;
	unsigned char			 d[EVP_MAX_MD_SIZE];
	unsigned			 dlen;
	size_t				 siglen;
	int				 r;

	if ((r = read_sig(file, &sig, &siglen, ret_err)) < 0)
		return r;
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errf(-errno, ret_err, "%s: %s", file, strerror(errno));
	if ((r = hash_fd(fd, EVP_sha384(), d, &dlen)) < 0)
		return errf(r, ret_err, "%s: %s", file, bw_strerror(r));
	return verify_digest(trust_dir, d, dlen, sig, siglen, ret_signer,
	    ret_err);
}

int
image_sign(const char *keyfile, const char *file, char **ret_err)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY		*k = NULL;
	_cleanup_(fclosep) FILE				*f = NULL;
	_cleanup_free_ unsigned char			*sig = NULL;
	_cleanup_free_ char				*path = NULL;
	_cleanup_close_ int				 fd = -1;
	unsigned char					 d[EVP_MAX_MD_SIZE];
	unsigned					 dlen;
	size_t						 siglen = 0;
	int						 r;

	f = fopen(keyfile, "re");
	if (!f)
		return errf(-errno, ret_err, "%s: %s", keyfile,
		    strerror(errno));
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	if (!k || !pkey_is_p384(k))
		return errf(-BW_E_INVALID, ret_err,
		    "%s: not an EC P-384 private key", keyfile);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errf(-errno, ret_err, "%s: %s", file, strerror(errno));
	if ((r = hash_fd(fd, EVP_sha384(), d, &dlen)) < 0)
		return errf(r, ret_err, "%s: %s", file, bw_strerror(r));
	r = crypto_sign_digest(k, "SHA384", CRYPTO_SIG_PKCS1, d, dlen, &sig,
	    &siglen, NULL);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return errf(-BW_E_CRYPTO, ret_err, "signing %s failed", file);
	if (asprintf(&path, "%s.sig", file) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	r = write_file_atomic_at(AT_FDCWD, path, sig, siglen, 0644);
	if (r < 0)
		return errf(r, ret_err, "%s: %s", path, bw_strerror(r));
	return 0;
}

/* ---------------------------------------------------------------- */
/* The store                                                        */

static const char *
kind_name(enum image_kind k)
{
	return k == IMAGE_ROOTFS ? "rootfs" : "disk";
}

static const char *
format_name(enum image_format f)
{
	switch (f) {
	case IMAGE_FMT_TAR:
		return "tar";
	case IMAGE_FMT_QCOW2:
		return "qcow2";
	default:
		return "raw";
	}
}

/* Accepts "sha256:" + 64 lowercase hex; *RET_HEX points into D. */
static int
digest_check(const char *d, const char **ret_hex, char **ret_err)
{
	if (!d || strncmp(d, "sha256:", 7) || strlen(d) != 71)
		return errf(-BW_E_INVALID, ret_err,
		    "digest: must be sha256:<64 hex digits>");
	for (int i = 7; i < 71; i++)
		if (!((d[i] >= '0' && d[i] <= '9') ||
		    (d[i] >= 'a' && d[i] <= 'f')))
			return errf(-BW_E_INVALID, ret_err,
			    "digest: must be sha256:<64 lowercase hex digits>");
	*ret_hex = d + 7;
	return 0;
}

int
image_store_open(const char *root, const char *trust_dir,
    const struct image_limits *limits, struct image_store **ret,
    char **ret_err)
{
	static const char *const sub[] = { "blobs/sha256", "rootfs", "meta",
	    "tmp" };
	struct image_store	*s;
	char			 p[4096];
	int			 r;

	if (!root || !trust_dir || root[0] != '/' || trust_dir[0] != '/')
		return errf(-BW_E_INVALID, ret_err,
		    "image store: root and trust directory must be absolute");
	for (size_t i = 0; i < ELEMENTSOF(sub); i++) {
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", root, sub[i]) >=
		    sizeof(p))
			return -ENAMETOOLONG;
		if ((r = mkdir_p(p, 0700)) < 0)
			return errf(r, ret_err, "%s: %s", p, bw_strerror(r));
	}
	if (chmod(root, 0700) < 0)
		return errf(-errno, ret_err, "%s: %s", root, strerror(errno));
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->root = strdup(root);
	s->trust = strdup(trust_dir);
	s->lim = limits ? *limits : default_limits;
	if (!s->root || !s->trust) {
		image_store_free(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

void
image_store_free(struct image_store *s)
{
	if (!s)
		return;
	free(s->root);
	free(s->trust);
	free(s);
}

void
image_info_done(struct image_info *info)
{
	if (!info)
		return;
	free(info->path);
	info->path = NULL;
}

static int
rm_tree(const char *path)
{
	const char *const argv[] = { RM_BIN, "-rf", "--one-file-system", "--",
	    path, NULL };

	return runtime_run(argv, NULL, NULL, NULL);
}

struct tar_sink {
	struct image_tar_check	*c;
	char			*err;
};

static int
tar_sink_feed(const void *buf, size_t len, void *data)
{
	struct tar_sink *t = data;

	if (t->err)
		return -BW_E_INVALID;
	return image_tar_check_feed(t->c, buf, len, &t->err);
}

static int
check_tar(struct image_store *s, const char *path, int fd, char **ret_err)
{
	_cleanup_(image_tar_check_freep) struct image_tar_check *c = NULL;
	struct tar_sink		 t = { NULL, NULL };
	unsigned char		 buf[65536];
	ssize_t			 n;
	int			 r;

	if ((r = image_tar_check_new(&s->lim, &c)) < 0)
		return r;
	t.c = c;
	n = pread(fd, buf, 2, 0);
	if (n == 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
		const char *const argv[] = { GZIP_BIN, "-dc", "--", path, NULL };
		struct runtime_exec_opts o = {
			.stdout_fd = -1, .timeout_ms = 30 * 60 * 1000,
			.sink = tar_sink_feed, .sink_data = &t,
		};
		int status;

		r = runtime_exec(argv, &o, &status, NULL, NULL);
		if (t.err) {
			if (ret_err)
				*ret_err = t.err;
			else
				free(t.err);
			return r < 0 ? r : -BW_E_INVALID;
		}
		if (r < 0)
			return errf(r, ret_err, "gunzip: %s", bw_strerror(r));
		/* gzip stops on the sink's refusal; otherwise it must have
		 * decompressed the whole stream cleanly. */
		if (!c->done && (!WIFEXITED(status) || WEXITSTATUS(status)))
			return errf(-BW_E_INVALID, ret_err,
			    "image is not a valid gzip stream");
	} else {
		off_t off = 0;

		while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
			off += n;
			if ((r = image_tar_check_feed(c, buf, (size_t)n,
			    ret_err)) < 0)
				return r;
		}
		if (n < 0)
			return -errno;
	}
	return image_tar_check_end(c, ret_err);
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* A qcow2 header may name a backing file or an external data file:
 * host paths QEMU would open for the guest. Both are refused. */
static int
check_disk(int fd, enum image_format *ret_fmt, char **ret_err)
{
	unsigned char	h[104];
	ssize_t		n;
	uint32_t	version;

	n = pread(fd, h, sizeof(h), 0);
	if (n < 0)
		return -errno;
	if (n < 4 || memcmp(h, "QFI\xfb", 4)) {
		*ret_fmt = IMAGE_FMT_RAW;
		return 0;
	}
	if (n < 72)
		return errf(-BW_E_INVALID, ret_err, "qcow2: short header");
	version = be32(h + 4);
	if (version != 2 && version != 3)
		return errf(-BW_E_INVALID, ret_err,
		    "qcow2: unsupported version %u", version);
	if (be32(h + 8) || be32(h + 12))
		return errf(-BW_E_INVALID, ret_err,
		    "qcow2: images with a backing file are refused");
	if (version == 3) {
		if (n < 104)
			return errf(-BW_E_INVALID, ret_err,
			    "qcow2: short v3 header");
		/* incompatible_features bit 2: external data file */
		if (h[79] & 0x04)
			return errf(-BW_E_INVALID, ret_err,
			    "qcow2: external data files are refused");
	}
	*ret_fmt = IMAGE_FMT_QCOW2;
	return 0;
}

static int
meta_path(struct image_store *s, const char *hex, char **ret)
{
	return asprintf(ret, "%s/meta/%s.json", s->root, hex) < 0 ? -ENOMEM :
	    0;
}

static int
write_meta(struct image_store *s, const char *hex, const struct image_info *i)
{
	_cleanup_json_ json_t	*o = NULL;
	_cleanup_free_ char	*text = NULL, *path = NULL;

	o = json_pack("{s:s, s:s, s:s, s:I, s:s}", "digest", i->digest,
	    "kind", kind_name(i->kind), "format", format_name(i->format),
	    "size", (json_int_t)i->size, "signer", i->signer);
	if (!o || !(text = json_dumps(o, JSON_COMPACT)))
		return -ENOMEM;
	if (meta_path(s, hex, &path) < 0)
		return -ENOMEM;
	return write_file_atomic_at(AT_FDCWD, path, text, strlen(text), 0644);
}

int
image_get(struct image_store *s, const char *digest, struct image_info *ret,
    char **ret_err)
{
	_cleanup_free_ char	*path = NULL, *text = NULL, *data = NULL;
	_cleanup_json_ json_t	*o = NULL;
	const char		*hex, *d, *kind, *fmt, *signer;
	json_int_t		 size;
	struct image_info	 info;
	size_t			 len;
	int			 r;

	if ((r = digest_check(digest, &hex, ret_err)) < 0)
		return r;
	if (meta_path(s, hex, &path) < 0)
		return -ENOMEM;
	r = read_file_at(AT_FDCWD, path, META_MAX, &text, &len);
	if (r == -ENOENT)
		return errf(-BW_E_NOTFOUND, ret_err, "image %s not found",
		    digest);
	if (r < 0)
		return errf(r, ret_err, "%s: %s", path, bw_strerror(r));
	if ((r = json_parse_bounded(text, len, 4, &o, ret_err)) < 0)
		return r;
	if (json_unpack(o, "{s:s, s:s, s:s, s:I, s:s}", "digest", &d, "kind",
	    &kind, "format", &fmt, "size", &size, "signer", &signer) < 0 ||
	    strcmp(d, digest) || strlen(signer) > IMAGE_SIGNER_MAX || size < 0)
		return errf(-BW_E_CORRUPT, ret_err, "%s: bad metadata", path);
	memset(&info, 0, sizeof(info));
	snprintf(info.digest, sizeof(info.digest), "%s", d);
	snprintf(info.signer, sizeof(info.signer), "%s", signer);
	info.size = (uint64_t)size;
	info.kind = !strcmp(kind, "rootfs") ? IMAGE_ROOTFS : IMAGE_DISK;
	info.format = !strcmp(fmt, "tar") ? IMAGE_FMT_TAR :
	    !strcmp(fmt, "qcow2") ? IMAGE_FMT_QCOW2 : IMAGE_FMT_RAW;
	if (asprintf(&data, info.kind == IMAGE_ROOTFS ? "%s/rootfs/%s" :
	    "%s/blobs/sha256/%s", s->root, hex) < 0) {
		data = NULL;
		return -ENOMEM;
	}
	if (access(data, F_OK) < 0)
		return errf(-BW_E_CORRUPT, ret_err, "%s: missing", data);
	info.path = TAKE_PTR(data);
	*ret = info;
	return 0;
}

static int
unpack_rootfs(struct image_store *s, const char *blob, const char *hex,
    char **ret_err)
{
	_cleanup_free_ char	*tmp = NULL, *dst = NULL;
	int			 r;

	if (asprintf(&tmp, "%s/rootfs/.unpack-%s", s->root, hex) < 0) {
		tmp = NULL;
		return -ENOMEM;
	}
	if (asprintf(&dst, "%s/rootfs/%s", s->root, hex) < 0) {
		dst = NULL;
		return -ENOMEM;
	}
	(void)rm_tree(tmp);
	if (mkdir(tmp, 0755) < 0)
		return errf(-errno, ret_err, "%s: %s", tmp, strerror(errno));
	{
		/* Owners are kept (files of an image's users), xattrs,
		 * ACLs and SELinux labels are not: none is trusted. */
		const char *const tar[] = { TAR_BIN, "-x", "-f", blob, "-C",
		    tmp, "--no-acls", "--no-xattrs", "--no-selinux",
		    "--no-overwrite-dir", "--delay-directory-restore",
		    "--no-unquote", NULL };
		/* Set-id bits mean nothing under no_new_privileges; they
		 * go so the tree is harmless wherever it is mounted. */
		const char *const strip[] = { FIND_BIN, tmp, "-xdev", "-type",
		    "f", "-perm", "/6000", "-exec", "chmod", "ug-s", "{}", "+",
		    NULL };
		/* Run by root, tar restores the archive's modes; run by an
		 * unprivileged bulwarkd (its systemd unit, UMask=0077) it
		 * would apply the umask and leave the tree unreadable to a
		 * container's users. Umask 0 keeps the modes either way
		 * (an unprivileged tar cannot keep owners or set-id bits). */
		struct runtime_exec_opts o = { .stdout_fd = -1,
		    .timeout_ms = 30 * 60 * 1000, .set_umask = true,
		    .umask = 0 };

		if ((r = runtime_run(tar, &o, NULL, ret_err)) < 0 ||
		    (r = runtime_run(strip, &o, NULL, ret_err)) < 0) {
			(void)rm_tree(tmp);
			return r;
		}
	}
	if (chmod(tmp, 0755) < 0 || rename(tmp, dst) < 0) {
		r = -errno;
		(void)rm_tree(tmp);
		return errf(r, ret_err, "%s: %s", dst, bw_strerror(r));
	}
	return 0;
}

/* Opens FILE into *RET_IN after checking that it is a regular file
 * within the store's size limit. */
static int
import_open(struct image_store *s, const char *file, int *ret_in,
    char **ret_err)
{
	_cleanup_close_ int	in = -1;
	struct stat		st;

	in = open_regular_at(AT_FDCWD, file);
	if (in == -BW_E_INVALID)
		return errf(-BW_E_INVALID, ret_err, "%s: not a regular file",
		    file);
	if (in < 0)
		return errf(in, ret_err, "%s: %s", file, bw_strerror(in));
	if (fstat(in, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size > s->lim.max_blob)
		return errf(-BW_E_TOOLARGE, ret_err,
		    "%s: over %" PRIu64 " bytes", file, s->lim.max_blob);
	*ret_in = TAKE_FD(in);
	return 0;
}

/* The digests of an imported copy and its size. */
struct import_sum {
	unsigned char	d384[48];	/* what the signature covers */
	unsigned	l384;
	char		hex[65];	/* SHA-256, the image's name */
	uint64_t	copied;
};

/* Copies IN (FILE) to OUT (TMP) up to the store's limit, hashing it on
 * the way, and syncs the copy. */
static int
import_copy(struct image_store *s, const char *file, int in, const char *tmp,
    int out, struct import_sum *sum, char **ret_err)
{
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX	*h256 = NULL, *h384 = NULL;
	unsigned char				 d256[32];
	unsigned				 l256;
	char					 buf[65536];
	ssize_t					 n;
	int					 r;

	h256 = EVP_MD_CTX_new();
	h384 = EVP_MD_CTX_new();
	if (!h256 || !h384 || !EVP_DigestInit_ex(h256, EVP_sha256(), NULL) ||
	    !EVP_DigestInit_ex(h384, EVP_sha384(), NULL))
		return -BW_E_CRYPTO;
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errf(-errno, ret_err, "%s: %s", file,
			    strerror(errno));
		}
		sum->copied += (uint64_t)n;
		if (sum->copied > s->lim.max_blob)
			return errf(-BW_E_TOOLARGE, ret_err, "%s: grew past %"
			    PRIu64 " bytes", file, s->lim.max_blob);
		if (!EVP_DigestUpdate(h256, buf, (size_t)n) ||
		    !EVP_DigestUpdate(h384, buf, (size_t)n))
			return -BW_E_CRYPTO;
		if ((r = write_all(out, buf, (size_t)n)) < 0)
			return errf(r, ret_err, "%s: %s", tmp, bw_strerror(r));
	}
	if (!EVP_DigestFinal_ex(h256, d256, &l256) ||
	    !EVP_DigestFinal_ex(h384, sum->d384, &sum->l384))
		return -BW_E_CRYPTO;
	if (fsync(out) < 0)
		return -errno;
	hex_encode(d256, sizeof(d256), sum->hex);
	return 0;
}

/* Unpacks an accepted root file system stored as BLOB and records the
 * image's metadata; *RET as image_get(). */
static int
import_finish(struct image_store *s, enum image_kind kind, const char *blob,
    const struct import_sum *sum, const char *signer, enum image_format fmt,
    struct image_info *ret, char **ret_err)
{
	struct image_info	info;
	int			r;

	if (kind == IMAGE_ROOTFS &&
	    (r = unpack_rootfs(s, blob, sum->hex, ret_err)) < 0) {
		(void)unlink(blob);
		return r;
	}
	memset(&info, 0, sizeof(info));
	snprintf(info.digest, sizeof(info.digest), "sha256:%s", sum->hex);
	snprintf(info.signer, sizeof(info.signer), "%s", signer);
	info.kind = kind;
	info.format = fmt;
	info.size = sum->copied;
	if ((r = write_meta(s, sum->hex, &info)) < 0)
		return errf(r, ret_err, "image metadata: %s", bw_strerror(r));
	return image_get(s, info.digest, ret, ret_err);
}

int
image_import(struct image_store *s, enum image_kind kind, const char *file,
    const char *expected, struct image_info *ret, char **ret_err)
{
	_cleanup_free_ unsigned char		*sig = NULL;
	_cleanup_free_ char			*tmp = NULL, *blob = NULL;
	_cleanup_free_ char			*signer = NULL;
	_cleanup_close_ int			 in = -1, out = -1;
	struct import_sum			 sum = { 0 };
	char					 digest[IMAGE_DIGEST_MAX + 1];
	enum image_format			 fmt = IMAGE_FMT_TAR;
	const char				*ehex;
	size_t					 siglen;
	int					 r;

	if (kind != IMAGE_ROOTFS && kind != IMAGE_DISK)
		return errf(-BW_E_INVALID, ret_err, "image kind unknown");
	if (expected && (r = digest_check(expected, &ehex, ret_err)) < 0)
		return r;
	/* Signature first: an unsigned file is not even copied. */
	if ((r = read_sig(file, &sig, &siglen, ret_err)) < 0)
		return r;
	if ((r = import_open(s, file, &in, ret_err)) < 0)
		return r;
	if (asprintf(&tmp, "%s/tmp/import-%d-%u", s->root, (int)getpid(),
	    s->seq++) < 0) {
		tmp = NULL;
		return -ENOMEM;
	}
	/* We verify and keep our own copy, so the file cannot change
	 * between the check and its use. */
	(void)unlink(tmp);
	out = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (out < 0)
		return errf(-errno, ret_err, "%s: %s", tmp, strerror(errno));
	if ((r = import_copy(s, file, in, tmp, out, &sum, ret_err)) < 0)
		goto fail;
	r = verify_digest(s->trust, sum.d384, sum.l384, sig, siglen, &signer,
	    ret_err);
	if (r < 0)
		goto fail;
	if (expected && strcmp(ehex, sum.hex)) {
		r = errf(-BW_E_DENIED, ret_err,
		    "digest mismatch: expected %s, file is sha256:%s",
		    expected, sum.hex);
		goto fail;
	}
	snprintf(digest, sizeof(digest), "sha256:%s", sum.hex);
	if (image_get(s, digest, ret, NULL) == 0) {
		(void)unlink(tmp);
		return 0;
	}
	if (kind == IMAGE_ROOTFS)
		r = check_tar(s, tmp, out, ret_err);
	else
		r = check_disk(out, &fmt, ret_err);
	if (r < 0)
		goto fail;
	if (asprintf(&blob, "%s/blobs/sha256/%s", s->root, sum.hex) < 0) {
		blob = NULL;
		r = -ENOMEM;
		goto fail;
	}
	if (fchmod(out, 0444) < 0 || rename(tmp, blob) < 0) {
		r = errf(-errno, ret_err, "%s: %s", blob, strerror(errno));
		goto fail;
	}
	return import_finish(s, kind, blob, &sum, signer, fmt, ret, ret_err);
fail:
	(void)unlink(tmp);
	return r;
}

int
image_remove(struct image_store *s, const char *digest, char **ret_err)
{
	_cleanup_free_ char	*meta = NULL, *blob = NULL, *rootfs = NULL;
	const char		*hex;
	int			 r;

	if ((r = digest_check(digest, &hex, ret_err)) < 0)
		return r;
	if (meta_path(s, hex, &meta) < 0 ||
	    asprintf(&blob, "%s/blobs/sha256/%s", s->root, hex) < 0 ||
	    asprintf(&rootfs, "%s/rootfs/%s", s->root, hex) < 0)
		return -ENOMEM;
	if (access(meta, F_OK) < 0)
		return errf(-BW_E_NOTFOUND, ret_err, "image %s not found",
		    digest);
	/* Metadata first: a half-removed image is simply absent. */
	if (unlink(meta) < 0)
		return errf(-errno, ret_err, "%s: %s", meta, strerror(errno));
	if (unlink(blob) < 0 && errno != ENOENT)
		return errf(-errno, ret_err, "%s: %s", blob, strerror(errno));
	if (access(rootfs, F_OK) == 0 && (r = rm_tree(rootfs)) < 0)
		return errf(r, ret_err, "%s: could not remove", rootfs);
	return 0;
}
