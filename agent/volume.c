/* Tenant volumes on a node: see volume.h and docs/storage.md. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fscrypt.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "agent/runtime.h"
#include "agent/volume.h"
#include "identity/attest.h"
#include "identity/tpm.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "lib/runtime-exec.h"

#define KEK_LEN		32
/* "BWV1" was a volume key wrapped under the node's key directly */
#define WRAP_MAGIC	"BWV2"
#define TENANT_MAGIC	"BWT1"
#define WRAP_IV		12
#define WRAP_TAG	16
#define WRAP_HDR	(4 + WRAP_IV + WRAP_TAG)
#define WRAP_LEN	(WRAP_HDR + VOLUME_KEY_LEN)
#define TENANT_WRAP_LEN	(WRAP_HDR + KEK_LEN)
#define MKFS		"/usr/sbin/mkfs.ext4"
/* how long a detach waits for the file system to go, and how often it
 * looks: each detach in turn, so a pass that removes K instances whose
 * volumes are held waits up to K times this (docs/storage.md) */
#define VOLUME_RELEASE_WAIT_MS	2000
#define VOLUME_RELEASE_POLL_MS	50

struct volume_kek {
	unsigned char	k[KEK_LEN];
};

void
volume_kek_free(struct volume_kek *k)
{
	if (!k)
		return;
	OPENSSL_cleanse(k, sizeof(*k));
	munlock(k, sizeof(*k));
	free(k);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct volume_kek *, volume_kek_free);

static int
kek_alloc(struct volume_kek **ret)
{
	struct volume_kek *k = calloc(1, sizeof(*k));

	if (!k)
		return -ENOMEM;
	/* best effort: the node may lack RLIMIT_MEMLOCK for it */
	(void)mlock(k, sizeof(*k));
	*ret = k;
	return 0;
}

int
volume_kek_ephemeral(struct volume_kek **ret)
{
	struct volume_kek	*k;
	int			 r;

	if ((r = kek_alloc(&k)) < 0)
		return r;
	if (RAND_priv_bytes(k->k, KEK_LEN) != 1) {
		volume_kek_free(k);
		return -BW_E_CRYPTO;
	}
	*ret = k;
	return 0;
}

static int
kek_create(struct tpm *tpm, const char *path, struct volume_kek *k,
    char **ret_err)
{
	_cleanup_free_ unsigned char	*blob = NULL;
	struct attest_pcrs		 pol;
	size_t				 len;
	int				 r;

	if (RAND_priv_bytes(k->k, KEK_LEN) != 1)
		return errf(-BW_E_CRYPTO, ret_err, "no random bytes");
	if ((r = tpm_pcr_read(tpm, VOLUME_KEK_PCRS, &pol, ret_err)) < 0 ||
	    (r = tpm_seal(tpm, &pol, k->k, KEK_LEN, &blob, &len,
	    ret_err)) < 0)
		return r;
	if ((r = write_file_atomic_at(AT_FDCWD, path, blob, len, 0600)) < 0)
		return errf(r, ret_err, "%s: %s", path, bw_strerror(r));
	return 0;
}

int
volume_kek_open(struct tpm *tpm, const char *state_dir,
    struct volume_kek **ret, char **ret_err)
{
	_cleanup_free_ char	*dir = NULL, *path = NULL, *text = NULL;
	unsigned char		*secret = NULL;
	struct volume_kek	*k = NULL;
	size_t			 len, slen;
	int			 r;

	if (asprintf(&dir, "%s/volumes", state_dir) < 0 ||
	    asprintf(&path, "%s/kek.sealed", dir) < 0)
		return -ENOMEM;
	if ((r = mkdir_p(dir, 0700)) < 0)
		return errf(r, ret_err, "%s: %s", dir, bw_strerror(r));
	if ((r = kek_alloc(&k)) < 0)
		return r;
	r = read_file_at(AT_FDCWD, path, ATTEST_BLOB_MAX, &text, &len);
	if (r == -ENOENT)
		r = kek_create(tpm, path, k, ret_err);
	else if (r < 0)
		r = errf(r, ret_err, "%s: %s", path, bw_strerror(r));
	else if ((r = tpm_unseal(tpm, (unsigned char *)text, len, &secret,
	    &slen, ret_err)) < 0)
		errf_wrap(r, ret_err, "the node's volume key does not unseal");
	else if (slen != KEK_LEN)
		r = errf(-BW_E_CORRUPT, ret_err, "%s: unsealed %zu bytes, "
		    "expected %d", path, slen, KEK_LEN);
	else
		memcpy(k->k, secret, KEK_LEN);
	if (secret)
		tpm_secret_free(secret, slen);
	if (r < 0) {
		volume_kek_free(k);
		return r;
	}
	*ret = k;
	return 0;
}

/* ---- keys wrapped under keys: a tenant's under the node's, a
 * volume's under its tenant's ---- */

/* AES-256-GCM of KEY (LEN bytes) under WK, bound to AAD, into OUT
 * (WRAP_HDR + LEN bytes, MAGIC first). */
static int
key_wrap(const unsigned char *wk, const char *magic, const char *aad,
    const unsigned char *key, int len, unsigned char *out)
{
	EVP_CIPHER_CTX	*c = EVP_CIPHER_CTX_new();
	unsigned char	*iv = out + 4, *tag = iv + WRAP_IV, *ct = tag + WRAP_TAG;
	int		 n, ok;

	memcpy(out, magic, 4);
	ok = c && RAND_bytes(iv, WRAP_IV) == 1 &&
	    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, wk, iv) &&
	    EVP_EncryptUpdate(c, NULL, &n, (const unsigned char *)aad,
	    (int)strlen(aad)) &&
	    EVP_EncryptUpdate(c, ct, &n, key, len) &&
	    n == len && EVP_EncryptFinal_ex(c, ct + n, &n) &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, WRAP_TAG, tag);
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -BW_E_CRYPTO;
}

/* The reverse of key_wrap(): IN (INLEN bytes) into KEY (LEN bytes),
 * wiped when it does not unwrap. */
static int
key_unwrap(const unsigned char *wk, const char *magic, const char *aad,
    const unsigned char *in, size_t inlen, unsigned char *key, int len)
{
	EVP_CIPHER_CTX	*c;
	unsigned char	 tag[WRAP_TAG];
	const unsigned char *iv = in + 4, *ct = iv + WRAP_IV + WRAP_TAG;
	int		 n, ok;

	if (inlen != (size_t)(WRAP_HDR + len) || memcmp(in, magic, 4) != 0)
		return -BW_E_CORRUPT;
	memcpy(tag, iv + WRAP_IV, WRAP_TAG);
	if (!(c = EVP_CIPHER_CTX_new()))
		return -ENOMEM;
	ok = EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, wk, iv) &&
	    EVP_DecryptUpdate(c, NULL, &n, (const unsigned char *)aad,
	    (int)strlen(aad)) &&
	    EVP_DecryptUpdate(c, key, &n, ct, len) &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, WRAP_TAG, tag) &&
	    EVP_DecryptFinal_ex(c, key + n, &n);
	EVP_CIPHER_CTX_free(c);
	if (!ok)
		OPENSSL_cleanse(key, (size_t)len);
	return ok ? 0 : -BW_E_CRYPTO;
}

/* The additional data a volume's wrapped key is bound to: its tenant,
 * name and uid, so that no other volume's record (of this tenant or
 * another) takes it. */
static int
volume_aad(const struct volume_ref *v, char **ret)
{
	if (asprintf(ret, "volume:%s/%s/%s", v->tenant, v->name, v->uid) < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int
check_tenant(const char *tenant, char **ret_err)
{
	size_t l = tenant ? strlen(tenant) : 0;

	if (l == 0 || l > 63 || tenant[0] == '-' ||
	    strspn(tenant, "abcdefghijklmnopqrstuvwxyz0123456789-") != l)
		return errf(-BW_E_INVALID, ret_err, "tenant: must be 1..63 of "
		    "[a-z0-9-]");
	return 0;
}

/* STATE_DIR/volumes/tenants[/TENANT.key] into *RET. */
static int
tpath(const char *state_dir, const char *tenant, char **ret)
{
	if ((tenant ? asprintf(ret, "%s/volumes/tenants/%s.key", state_dir,
	    tenant) : asprintf(ret, "%s/volumes/tenants", state_dir)) < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* TENANT's key on this node into *RET (free with volume_kek_free()):
 * unwrapped from STATE_DIR/volumes/tenants/TENANT.key under the node's
 * KEK, or, when there is none and CREATE, a new random one wrapped
 * there. -ENOENT when there is none and not CREATE. */
static int
tenant_key(const char *state_dir, const struct volume_kek *kek,
    const char *tenant, bool create, struct volume_kek **ret,
    char **ret_err)
{
	_cleanup_free_ char	*dir = NULL, *path = NULL, *text = NULL;
	_cleanup_free_ char	*aad = NULL;
	unsigned char		 wrapped[TENANT_WRAP_LEN];
	struct volume_kek	*tk = NULL;
	size_t			 len;
	int			 r;

	if ((r = check_tenant(tenant, ret_err)) < 0)
		return r;
	if (tpath(state_dir, NULL, &dir) < 0 ||
	    tpath(state_dir, tenant, &path) < 0 ||
	    asprintf(&aad, "tenant:%s", tenant) < 0)
		return -ENOMEM;
	if ((r = kek_alloc(&tk)) < 0)
		return r;
	r = read_file_at(AT_FDCWD, path, TENANT_WRAP_LEN + 1, &text, &len);
	if (r == 0) {
		if ((r = key_unwrap(kek->k, TENANT_MAGIC, aad,
		    (unsigned char *)text, len, tk->k, KEK_LEN)) < 0)
			r = errf(r, ret_err, "%s: does not unwrap under this "
			    "node's volume key", path);
	} else if (r != -ENOENT || !create) {
		r = r == -ENOENT ? r : errf(r, ret_err, "%s: %s", path,
		    bw_strerror(r));
	} else if (RAND_priv_bytes(tk->k, KEK_LEN) != 1) {
		r = errf(-BW_E_CRYPTO, ret_err, "no random bytes");
	} else if ((r = mkdir_p(dir, 0700)) < 0 ||
	    (r = key_wrap(kek->k, TENANT_MAGIC, aad, tk->k, KEK_LEN,
	    wrapped)) < 0 ||
	    (r = write_file_atomic_at(AT_FDCWD, path, wrapped,
	    sizeof(wrapped), 0600)) < 0) {
		r = errf(r, ret_err, "%s: %s", path, bw_strerror(r));
	}
	if (r < 0) {
		volume_kek_free(tk);
		return r;
	}
	*ret = tk;
	return 0;
}

/* ---- paths ---- */

int
volume_check_uid(const char *uid, char **ret_err)
{
	if (!uid || !*uid || strlen(uid) > 64 ||
	    strspn(uid, "0123456789abcdef-") != strlen(uid))
		return errf(-BW_E_INVALID, ret_err, "volume uid: must be 1..64 "
		    "of [0-9a-f-]");
	return 0;
}

/* STATE_DIR/volumes/UID[/FILE] into *RET. */
static int
vpath(const char *state_dir, const char *uid, const char *file, char **ret)
{
	if ((file ? asprintf(ret, "%s/volumes/%s/%s", state_dir, uid, file) :
	    asprintf(ret, "%s/volumes/%s", state_dir, uid)) < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Whether loop device N is bound: its loop/ attributes exist only then.
 * 1, 0 (ENOENT), or a negative error (not "unbound": fail closed). */
static int
loop_is_bound(int n)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/block/loop%d/loop", n);
	if (access(path, F_OK) == 0)
		return 1;
	return errno == ENOENT ? 0 : -errno;
}

/* 0 when loop device N's backing file is not named backing.img, when it
 * has none (empty: being torn down, its file already let go) or it was
 * unbound meanwhile (no attribute), else 1: only such a device may be a
 * volume's, so another tool's devices (being torn down, or missing from
 * /dev) are never opened. The name, unlike the path, is the same from
 * every root; a device whose name cannot be read (an error opening or
 * reading the attribute) is asked all the same. A name
 * "backing.img (deleted)" is an unlinked file: never the one stat()
 * finds. */
static int
loop_named_backing(int n)
{
	char	path[80], buf[PATH_MAX + 16];
	char	*base;
	ssize_t	len;
	int	fd;

	snprintf(path, sizeof(path), "/sys/block/loop%d/loop/backing_file",
	    n);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : 1;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return len < 0;
	buf[len] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	base = strrchr(buf, '/');
	return strcmp(base ? base + 1 : buf, "backing.img") == 0;
}

/* Whether loop device N is bound to the file ST describes (its device
 * and inode, as LOOP_GET_STATUS64 reports them): 1, 0, or a negative
 * error (fail closed: a device it cannot ask may be ours). */
static int
loop_holds(int n, const struct stat *st)
{
	struct loop_info64	 info;
	char			 path[64];
	int			 fd, r;

	if ((r = loop_is_bound(n)) <= 0)
		return r;
	if (loop_named_backing(n) == 0)
		return 0;
	snprintf(path, sizeof(path), "/dev/loop%d", n);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		/* ENXIO while it is torn down (cleared automatically as its
		 * file system goes), ENOENT when unbound and removed since
		 * the look at sysfs: not ours once it is unbound */
		r = -errno;
		return (r == -ENXIO || r == -ENOENT) &&
		    loop_is_bound(n) == 0 ? 0 : r;
	}
	memset(&info, 0, sizeof(info));
	if (ioctl(fd, LOOP_GET_STATUS64, &info) < 0)
		r = errno == ENXIO ? 0 : -errno;	/* ENXIO: unbound */
	else
		r = (dev_t)info.lo_device == st->st_dev &&
		    (ino_t)info.lo_inode == st->st_ino;
	close(fd);
	return r;
}

/* Whether a loop device is still bound to the file IMG, its number
 * into *RET_N: 1, 0 when none is (or there is no IMG), or a negative
 * error. The host's mount gone, the file system lives on while another
 * mount of it does (a container's mount namespace not torn down yet,
 * any namespace that copied the mount), and its loop device, cleared
 * automatically, with it. Asked of every bound device rather than of a
 * number kept at attach: a kept number is lost with the agent's
 * restart and names another volume's device once the kernel reuses it;
 * and by inode rather than by sysfs' loop/backing_file, a path as the
 * reader's root sees it, which another route to the state directory or
 * a rename changes (its name only narrows the devices asked). */
static int
loop_bound(const char *img, int *ret_n)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	int		 n, r = 0;

	if (stat(img, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!(d = opendir("/sys/block")))
		return -errno;
	for (;;) {
		errno = 0;
		if (!(de = readdir(d))) {
			/* an error must not read as "no more devices" */
			r = errno ? -errno : 0;
			break;
		}
		if (sscanf(de->d_name, "loop%d", &n) != 1 || n < 0)
			continue;
		if ((r = loop_holds(n, &st)) != 0)
			break;
	}
	closedir(d);
	if (r == 1)
		*ret_n = n;
	return r;
}

/* 0 when no loop device holds the backing file in DIR any more, or
 * -EBUSY with *RET_ERR saying which does, after waiting up to WAIT_MS
 * for it to go (polled: the last mount of a stopped container goes as
 * its namespace is torn down, a moment after its processes). An error
 * asking the devices (one torn down as it is asked) is asked again
 * until then too; only the last answer counts. */
static int
await_release(const char *dir, int wait_ms, char **ret_err)
{
	_cleanup_free_ char	*img = NULL;
	int64_t			 until = bw_mono_ms() + wait_ms;
	int			 n = -1, r;

	if (asprintf(&img, "%s/backing.img", dir) < 0)
		return -ENOMEM;
	while ((r = loop_bound(img, &n)) != 0 && bw_mono_ms() < until)
		(void)usleep(VOLUME_RELEASE_POLL_MS * 1000);
	if (r < 0)
		return errf(r, ret_err, "waiting for the file system to be "
		    "released: cannot ask the loop devices: %s",
		    bw_strerror(r));
	if (r == 1)
		return errf(-EBUSY, ret_err, "waiting for the file system to "
		    "be released: unmounted here, still alive on /dev/loop%d "
		    "(a mount of it in another mount namespace)", n);
	return 0;
}

int
volume_released(const char *state_dir, const char *uid, char **ret_err)
{
	_cleanup_free_ char	*dir = NULL;
	int			 r;

	if ((r = volume_check_uid(uid, ret_err)) < 0)
		return r;
	if (vpath(state_dir, uid, NULL, &dir) < 0)
		return -ENOMEM;
	if (volume_attached(state_dir, uid))
		return errf(-EBUSY, ret_err, "attached");
	return await_release(dir, 0, ret_err);
}

bool
volume_attached(const char *state_dir, const char *uid)
{
	_cleanup_free_ char	*dir = NULL, *mnt = NULL;
	struct stat		 a, b;

	if (vpath(state_dir, uid, NULL, &dir) < 0 ||
	    vpath(state_dir, uid, "mnt", &mnt) < 0)
		return false;
	return stat(dir, &a) == 0 && stat(mnt, &b) == 0 && a.st_dev != b.st_dev;
}

/* ---- creation ---- */

/* The backing file (sparse, SIZE bytes) with its file system, the
 * wrapped key and volume.json, in DIR. A half-made volume (no
 * volume.json) is made again from scratch. */
static int
volume_make(const char *dir, const struct volume_kek *tk,
    const struct volume_ref *v, char **ret_err)
{
	_cleanup_free_ char	*img = NULL, *err = NULL, *meta = NULL;
	_cleanup_free_ char	*aad = NULL;
	_cleanup_json_ json_t	*owner = NULL;
	_cleanup_close_ int	 fd = -1, dfd = -1;
	unsigned char		 key[VOLUME_KEY_LEN], wrapped[WRAP_LEN];
	int			 r;

	if (asprintf(&img, "%s/backing.img", dir) < 0)
		return -ENOMEM;
	if ((r = mkdir_p(dir, 0700)) < 0 ||
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errf(r < 0 ? r : -errno, ret_err, "%s: %s", dir,
		    strerror(r < 0 ? -r : errno));
	fd = openat(dfd, "backing.img", O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)v->size_bytes) < 0)
		return errf(-errno, ret_err, "%s: %s", img, strerror(errno));
	{
		const char *const argv[] = { MKFS, "-q", "-F", "-O", "encrypt",
		    "-b", "4096",
		    "-m", "0", "-E", "nodiscard", img, NULL };

		if ((r = runtime_run(argv, NULL, NULL, &err)) < 0)
			return errf(r, ret_err, "making the file system: %s",
			    err ? err : bw_strerror(r));
	}
	if (RAND_priv_bytes(key, sizeof(key)) != 1)
		return errf(-BW_E_CRYPTO, ret_err, "no random bytes");
	if ((r = volume_aad(v, &aad)) == 0)
		r = key_wrap(tk->k, WRAP_MAGIC, aad, key, VOLUME_KEY_LEN,
		    wrapped);
	OPENSSL_cleanse(key, sizeof(key));
	if (r < 0 || (r = write_file_atomic_at(dfd, "key.wrapped", wrapped,
	    sizeof(wrapped), 0600)) < 0)
		return errf(r, ret_err, "writing the volume's wrapped key: %s",
		    bw_strerror(r));
	if (!(owner = json_pack("{s:s, s:s}", "tenant", v->tenant, "name",
	    v->name)) || !(meta = json_dumps(owner, JSON_COMPACT |
	    JSON_SORT_KEYS)))
		return -ENOMEM;
	if ((r = write_file_atomic_at(dfd, "volume.json", meta, strlen(meta),
	    0600)) < 0)
		return errf(r, ret_err, "volume.json: %s", bw_strerror(r));
	return 0;
}

/* The entries of DIR of type TYPE named like a uid (DT_DIR) or a uid
 * and ".img" (DT_REG), NULL-terminated into *RET; none when DIR does
 * not exist. */
static int
list_names(const char *dir, unsigned char type, char ***ret)
{
	char			**out = NULL, **grown;
	struct dirent		*de;
	DIR			*d;
	size_t			 n = 0, l;

	if (!(out = calloc(1, sizeof(*out))))
		return -ENOMEM;
	if (!(d = opendir(dir))) {
		*ret = out;
		return errno == ENOENT ? 0 : -errno;
	}
	while ((de = readdir(d))) {
		l = strspn(de->d_name, "0123456789abcdef-");
		if (de->d_type != type || l == 0 || l > 64 ||
		    strcmp(de->d_name + l, type == DT_DIR ? "" : ".img") != 0)
			continue;
		if (!(grown = realloc(out, (n + 2) * sizeof(*out))) ||
		    !(grown[n] = strdup(de->d_name))) {
			if (grown)
				out = grown;
			closedir(d);
			runtime_list_free(out);
			return -ENOMEM;
		}
		out = grown;
		out[++n] = NULL;
	}
	closedir(d);
	*ret = out;
	return 0;
}

/* ---- snapshots ---- */

/* Copies SRC to a new DST (a reflink where the file system can), keeping
 * holes: only the data extents are copied. */
static int
copy_file(const char *src, const char *dst, char **ret_err)
{
	_cleanup_free_ char	*tmp = NULL;
	_cleanup_close_ int	 in = -1, out = -1;
	struct stat		 st;
	off_t			 data, hole, off;
	ssize_t			 n;
	int			 r = 0;

	if (asprintf(&tmp, "%s.tmp", dst) < 0)
		return -ENOMEM;
	in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (in < 0 || out < 0 || fstat(in, &st) < 0 ||
	    ftruncate(out, st.st_size) < 0) {
		r = errf(-errno, ret_err, "copying %s: %s", src,
		    strerror(errno));
		goto out;
	}
	if (ioctl(out, FICLONE, in) < 0) {
		for (off = 0; off < st.st_size; off = hole) {
			if ((data = lseek(in, off, SEEK_DATA)) < 0)
				break;		/* ENXIO: only a hole is left */
			if ((hole = lseek(in, data, SEEK_HOLE)) < 0) {
				r = -errno;
				break;
			}
			for (off = data; off < hole; off += n) {
				loff_t a = off, b = off;

				n = copy_file_range(in, &a, out, &b,
				    (size_t)(hole - off), 0);
				if (n <= 0) {
					r = n < 0 ? -errno : -EIO;
					break;
				}
			}
			if (r < 0)
				break;
		}
		if (r < 0) {
			r = errf(r, ret_err, "copying %s: %s", src,
			    strerror(-r));
			goto out;
		}
	}
	if (fsync(out) < 0 || rename(tmp, dst) < 0)
		r = errf(-errno, ret_err, "%s: %s", dst, strerror(errno));
out:
	if (r < 0)
		(void)unlink(tmp);
	return r;
}

static int
snap_path(const char *state_dir, const char *uid, const char *suid,
    char **ret)
{
	if (asprintf(ret, "%s/volumes/%s/snapshots/%s.img", state_dir, uid,
	    suid) < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return 0;
}

bool
volume_snapshot_exists(const char *state_dir, const char *uid,
    const char *suid)
{
	_cleanup_free_ char *p = NULL;

	return volume_check_uid(uid, NULL) == 0 &&
	    volume_check_uid(suid, NULL) == 0 &&
	    snap_path(state_dir, uid, suid, &p) == 0 && access(p, F_OK) == 0;
}

int
volume_snapshot_take(const char *state_dir, const char *uid,
    const char *suid, long long *ret_bytes, char **ret_err)
{
	_cleanup_free_ char	*dir = NULL, *img = NULL, *snap = NULL;
	_cleanup_free_ char	*mnt = NULL, *vdir = NULL;
	_cleanup_close_ int	 mfd = -1;
	struct stat		 st;
	int			 r;

	if ((r = volume_check_uid(uid, ret_err)) < 0 ||
	    (r = volume_check_uid(suid, ret_err)) < 0)
		return r;
	if (vpath(state_dir, uid, NULL, &vdir) < 0 ||
	    vpath(state_dir, uid, "snapshots", &dir) < 0 ||
	    vpath(state_dir, uid, "backing.img", &img) < 0 ||
	    vpath(state_dir, uid, "mnt", &mnt) < 0 ||
	    snap_path(state_dir, uid, suid, &snap) < 0)
		return -ENOMEM;
	if (stat(snap, &st) == 0)
		goto done;
	if (stat(img, &st) < 0)
		return errf(-BW_E_NOTFOUND, ret_err, "the volume holds no data "
		    "on this node yet");
	if ((r = mkdir_p(dir, 0700)) < 0)
		return errf(r, ret_err, "%s: %s", dir, bw_strerror(r));
	/* consistent: no write reaches the file system while it is copied;
	 * one alive after its detach cannot be frozen from here */
	if (!volume_attached(state_dir, uid) &&
	    (r = await_release(vdir, 0, ret_err)) < 0)
		return r;
	if (volume_attached(state_dir, uid)) {
		mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (mfd < 0 || ioctl(mfd, FIFREEZE, 0) < 0)
			return errf(-errno, ret_err, "freezing the volume: %s",
			    strerror(errno));
	}
	r = copy_file(img, snap, ret_err);
	if (mfd >= 0)
		(void)ioctl(mfd, FITHAW, 0);
	if (r < 0 || stat(snap, &st) < 0)
		return r < 0 ? r : -errno;
done:
	*ret_bytes = (long long)st.st_size;
	return 0;
}

int
volume_snapshot_delete(const char *state_dir, const char *uid,
    const char *suid)
{
	_cleanup_free_ char *p = NULL;

	if (volume_check_uid(uid, NULL) < 0 || volume_check_uid(suid, NULL) < 0)
		return -BW_E_INVALID;
	if (snap_path(state_dir, uid, suid, &p) < 0)
		return -ENOMEM;
	return unlink(p) < 0 && errno != ENOENT ? -errno : 0;
}

/* Replaces the backing file of the volume in DIR (not attached) with a
 * copy of snapshot SUID, once: "restored" names the last one. */
static int
restore(const char *state_dir, const char *uid, const char *dir,
    const char *suid, char **ret_err)
{
	_cleanup_free_ char	*img = NULL, *snap = NULL, *last = NULL;
	size_t			 len;
	int			 dfd, r;

	if ((r = volume_check_uid(suid, ret_err)) < 0)
		return r;
	if (asprintf(&img, "%s/backing.img", dir) < 0 ||
	    snap_path(state_dir, uid, suid, &snap) < 0)
		return -ENOMEM;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (read_file_at(dfd, "restored", 128, &last, &len) == 0 &&
	    strcmp(last, suid) == 0) {
		close(dfd);
		return 0;
	}
	if (access(snap, F_OK) < 0)
		r = errf(-BW_E_NOTFOUND, ret_err, "snapshot %s is not on this "
		    "node", suid);
	else if ((r = copy_file(snap, img, ret_err)) == 0)
		r = write_file_atomic_at(dfd, "restored", suid, strlen(suid),
		    0600);
	close(dfd);
	return r < 0 ? r : 1;
}

int
volume_snapshot_list(const char *state_dir, const char *uid, char ***ret)
{
	_cleanup_free_ char	*dir = NULL;
	char			**out, *dot;
	int			 r;

	if (volume_check_uid(uid, NULL) < 0)
		return -BW_E_INVALID;
	if (vpath(state_dir, uid, "snapshots", &dir) < 0)
		return -ENOMEM;
	if ((r = list_names(dir, DT_REG, &out)) < 0)
		return r;
	for (size_t i = 0; out[i]; i++)
		if ((dot = strstr(out[i], ".img")) && !dot[4])
			*dot = '\0';
	*ret = out;
	return 0;
}

/* ---- attaching ---- */

/* A free loop device backed by IMG into *RET_FD (open) and RET_DEV
 * (/dev/loopN): direct I/O on the backing file (no second copy of every
 * block in the page cache, so writes reach the backing file without
 * waiting on the host's write-back; the kernel falls back to buffered
 * I/O where the backing file system cannot), 512-byte blocks (any
 * volume's file system fits), cleared when its last user (the mount)
 * goes. */
static int
loop_attach(const char *img, int *ret_fd, char ret_dev[32], char **ret_err)
{
	_cleanup_close_ int	 ctl = -1, bfd = -1;
	struct loop_config	 cfg;
	int			 n, fd, tries;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	bfd = open(img, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (ctl < 0 || bfd < 0)
		return errf(-errno, ret_err, "loop device for %s: %s", img,
		    strerror(errno));
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (__u32)bfd;
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO;
	/* another process may take the free device first: try the next */
	for (tries = 0; tries < 8; tries++) {
		if ((n = ioctl(ctl, LOOP_CTL_GET_FREE)) < 0)
			break;
		snprintf(ret_dev, 32, "/dev/loop%d", n);
		if ((fd = open(ret_dev, O_RDWR | O_CLOEXEC)) < 0)
			break;
		if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
			*ret_fd = fd;
			return 0;
		}
		n = errno;
		close(fd);
		if (n != EBUSY) {
			errno = n;
			break;
		}
	}
	return errf(-errno, ret_err, "loop device for %s: %s", img,
	    strerror(errno));
}

static int
mount_backing(const char *dir, char **ret_err)
{
	_cleanup_free_ char	*img = NULL, *mnt = NULL;
	_cleanup_close_ int	 lfd = -1;
	char			 dev[32];
	int			 r;

	if (asprintf(&img, "%s/backing.img", dir) < 0 ||
	    asprintf(&mnt, "%s/mnt", dir) < 0)
		return -ENOMEM;
	if (mkdir(mnt, 0700) < 0 && errno != EEXIST)
		return errf(-errno, ret_err, "%s: %s", mnt, strerror(errno));
	if ((r = loop_attach(img, &lfd, dev, ret_err)) < 0)
		return r;
	/* the loop device clears itself once the mount has it (or not) and
	 * lfd closes */
	if (mount(dev, mnt, "ext4", MS_NOSUID | MS_NODEV | MS_NOATIME,
	    NULL) < 0)
		return errf(-errno, ret_err, "mounting the volume: %s",
		    strerror(errno));
	return 0;
}

/* Puts KEY into the kernel for the file system at MNTFD; its identifier
 * into ID. */
static int
key_add(int mntfd, const unsigned char *key, unsigned char *id)
{
	struct {
		struct fscrypt_add_key_arg	a;
		unsigned char			raw[VOLUME_KEY_LEN];
	} arg;
	int r = 0;

	memset(&arg, 0, sizeof(arg));
	arg.a.key_spec.type = FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER;
	arg.a.raw_size = VOLUME_KEY_LEN;
	memcpy(arg.raw, key, VOLUME_KEY_LEN);
	if (ioctl(mntfd, FS_IOC_ADD_ENCRYPTION_KEY, &arg) < 0)
		r = -errno;
	else
		memcpy(id, arg.a.key_spec.u.identifier,
		    FSCRYPT_KEY_IDENTIFIER_SIZE);
	OPENSSL_cleanse(&arg, sizeof(arg));
	return r;
}

/* The data directory under MNTFD, made with the volume's policy on
 * first use (an empty directory takes one; an existing one keeps it). */
static int
data_dir(int mntfd, const unsigned char *id, char **ret_err)
{
	struct fscrypt_policy_v2	 p = {
		.version = FSCRYPT_POLICY_V2,
		.contents_encryption_mode = FSCRYPT_MODE_AES_256_XTS,
		.filenames_encryption_mode = FSCRYPT_MODE_AES_256_CTS,
		.flags = FSCRYPT_POLICY_FLAGS_PAD_32,
	};
	_cleanup_close_ int		 fd = -1;

	memcpy(p.master_key_identifier, id, FSCRYPT_KEY_IDENTIFIER_SIZE);
	if (mkdirat(mntfd, "data", 0700) < 0 && errno != EEXIST)
		return errf(-errno, ret_err, "data directory: %s",
		    strerror(errno));
	fd = openat(mntfd, "data", O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW);
	if (fd < 0 || ioctl(fd, FS_IOC_SET_ENCRYPTION_POLICY, &p) < 0)
		return errf(-errno, ret_err, "data directory policy: %s",
		    strerror(errno));
	return 0;
}

/* Unwraps the volume's key under its tenant's TK, puts it into the
 * kernel and makes sure of the data directory's policy. */
static int
unlock(const char *dir, const struct volume_kek *tk,
    const struct volume_ref *v, char **ret_err)
{
	_cleanup_free_ char	*mnt = NULL, *wpath = NULL, *wrapped = NULL;
	_cleanup_free_ char	*aad = NULL;
	_cleanup_close_ int	 mfd = -1;
	unsigned char		 key[VOLUME_KEY_LEN];
	unsigned char		 id[FSCRYPT_KEY_IDENTIFIER_SIZE] = { 0 };
	size_t			 len;
	int			 r;

	if (asprintf(&mnt, "%s/mnt", dir) < 0 ||
	    asprintf(&wpath, "%s/key.wrapped", dir) < 0 ||
	    volume_aad(v, &aad) < 0)
		return -ENOMEM;
	if ((r = read_file_at(AT_FDCWD, wpath, WRAP_LEN + 1, &wrapped,
	    &len)) < 0)
		return errf(r, ret_err, "%s: %s", wpath, bw_strerror(r));
	if ((r = key_unwrap(tk->k, WRAP_MAGIC, aad, (unsigned char *)wrapped,
	    len, key, VOLUME_KEY_LEN)) < 0)
		return errf(r, ret_err, "%s: does not unwrap under tenant %s's "
		    "key", wpath, v->tenant);
	mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0)
		r = -errno;
	else
		r = key_add(mfd, key, id);
	OPENSSL_cleanse(key, sizeof(key));
	if (r < 0)
		return errf(r, ret_err, "adding the volume key: %s",
		    strerror(-r));
	return data_dir(mfd, id, ret_err);
}

int
volume_attach(const char *state_dir, const struct volume_kek *kek,
    const struct volume_ref *v, char **ret_data, char **ret_err)
{
	_cleanup_free_ char	*dir = NULL, *meta = NULL, *data = NULL;
	_cleanup_(volume_kek_freep) struct volume_kek *tk = NULL;
	struct stat		 st;
	int			 r, restored = 0;
	bool			 made;

	if ((r = volume_check_uid(v->uid, ret_err)) < 0 ||
	    (r = check_tenant(v->tenant, ret_err)) < 0)
		return r;
	if (!kek)
		return errf(-BW_E_UNAVAILABLE, ret_err, "this node has no "
		    "volume key (no TPM)");
	if (v->size_bytes <= 0)
		return errf(-BW_E_INVALID, ret_err, "volume size: must be "
		    "positive");
	if (vpath(state_dir, v->uid, NULL, &dir) < 0 ||
	    vpath(state_dir, v->uid, "volume.json", &meta) < 0 ||
	    vpath(state_dir, v->uid, "mnt/data", &data) < 0)
		return -ENOMEM;
	made = stat(meta, &st) == 0;
	/* a volume made already needs its tenant's key: made anew, it would
	 * not unwrap the volume's (the tenant was crypto-erased) */
	r = tenant_key(state_dir, kek, v->tenant, !made, &tk, ret_err);
	if (r == -ENOENT)
		r = errf(-BW_E_CORRUPT, ret_err, "tenant %s has no key on "
		    "this node (crypto-erased)", v->tenant);
	if (r < 0)
		return errf_wrap(r, ret_err, "volume %s/%s", v->tenant, v->name);
	/* Before anything writes the backing file (volume_make() of a
	 * half-made volume truncates it and makes the file system in
	 * place): an earlier attach's file system, still alive, would run
	 * beside a second one over the same file. A restore writes a new
	 * file (renamed over backing.img), which the old file system would
	 * not touch; but it would live on, on the unlinked old file, where
	 * no later check (by inode) sees it: not a deletion's either. */
	if (!volume_attached(state_dir, v->uid) &&
	    (r = await_release(dir, 0, ret_err)) < 0)
		return errf_wrap(r, ret_err, "volume %s/%s", v->tenant, v->name);
	if (!made && (r = volume_make(dir, tk, v, ret_err)) < 0)
		return errf_wrap(r, ret_err, "volume %s/%s", v->tenant, v->name);
	if (v->restore_uid && !volume_attached(state_dir, v->uid) &&
	    (restored = restore(state_dir, v->uid, dir, v->restore_uid,
	    ret_err)) < 0)
		return errf_wrap(restored, ret_err, "volume %s/%s: restoring "
		    "snapshot", v->tenant, v->name);
	if (!volume_attached(state_dir, v->uid) &&
	    (r = mount_backing(dir, ret_err)) < 0)
		return errf_wrap(r, ret_err, "volume %s/%s", v->tenant, v->name);
	/* adding a key the kernel holds already only counts a user more */
	if ((r = unlock(dir, tk, v, ret_err)) < 0) {
		volume_detach(state_dir, v->uid, NULL);
		return errf_wrap(r, ret_err, "volume %s/%s", v->tenant, v->name);
	}
	*ret_data = TAKE_PTR(data);
	return restored;
}

int
volume_disk(const char *data, long long size_bytes, char **ret_path,
    char **ret_err)
{
	_cleanup_free_ char	*path = NULL;
	_cleanup_close_ int	 fd = -1;
	struct stat		 st;
	/* ext4's own blocks (inode tables, journal) take about 5 % */
	long long		 want = (size_bytes - VOLUME_DISK_RESERVE) / 20 * 19;

	if (want < (1LL << 20))
		return errf(-BW_E_INVALID, ret_err, "volume too small for a "
		    "disk");
	want &= ~((1LL << 20) - 1);	/* whole MiB */
	if (asprintf(&path, "%s/" VOLUME_DISK_NAME, data) < 0)
		return -ENOMEM;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fstat(fd, &st) < 0 || (st.st_size == 0 &&
	    ftruncate(fd, (off_t)want) < 0))
		return errf(-errno, ret_err, "%s: %s", path, strerror(errno));
	*ret_path = TAKE_PTR(path);
	return 0;
}

int
volume_detach(const char *state_dir, const char *uid, char **ret_err)
{
	_cleanup_free_ char	*dir = NULL, *mnt = NULL, *data = NULL;
	struct fscrypt_get_policy_ex_arg pol;
	struct fscrypt_remove_key_arg rk;
	_cleanup_close_ int	 mfd = -1, dfd = -1;

	if (volume_check_uid(uid, ret_err) < 0)
		return 0;
	if (vpath(state_dir, uid, NULL, &dir) < 0 ||
	    vpath(state_dir, uid, "mnt", &mnt) < 0 ||
	    vpath(state_dir, uid, "mnt/data", &data) < 0)
		return -ENOMEM;
	/* unmounted by an earlier pass: its file system may live on yet */
	if (!volume_attached(state_dir, uid))
		return await_release(dir, VOLUME_RELEASE_WAIT_MS, ret_err);
	memset(&pol, 0, sizeof(pol));
	memset(&rk, 0, sizeof(rk));
	pol.policy_size = sizeof(pol.policy);
	mfd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dfd = open(data, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	/* The key leaves the kernel first (every user's claim on it): the
	 * unmount would drop it too, but not while something holds a file
	 * open. */
	if (mfd >= 0 && dfd >= 0 &&
	    ioctl(dfd, FS_IOC_GET_ENCRYPTION_POLICY_EX, &pol) == 0 &&
	    pol.policy.version == FSCRYPT_POLICY_V2) {
		rk.key_spec.type = FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER;
		memcpy(rk.key_spec.u.identifier,
		    pol.policy.v2.master_key_identifier,
		    FSCRYPT_KEY_IDENTIFIER_SIZE);
		(void)ioctl(mfd, FS_IOC_REMOVE_ENCRYPTION_KEY_ALL_USERS, &rk);
	}
	close(TAKE_FD(dfd));
	close(TAKE_FD(mfd));
	if (umount2(mnt, UMOUNT_NOFOLLOW) < 0)
		return errf(-errno, ret_err, "unmounting %s: %s", mnt,
		    strerror(errno));
	/* Detached only once the file system is gone: a copy of the mount
	 * in another namespace keeps it, with its journal, writing to the
	 * backing file. What may come next must wait: a second file system
	 * over the same file (the next attach), a snapshot (a copy of a
	 * file system that cannot be frozen from here), a deletion (the
	 * file discarded under a live file system), and a restore (it
	 * renames a new file over backing.img: the old file system would
	 * live on unseen, on the unlinked old one). */
	return await_release(dir, VOLUME_RELEASE_WAIT_MS, ret_err);
}

/* Overwrites PATH's bytes with zeros and syncs them before it goes. */
static void
wipe_file(const char *path)
{
	unsigned char	zero[WRAP_LEN] = { 0 };
	int		fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd >= 0) {
		(void)pwrite_all(fd, zero, sizeof(zero), 0);
		(void)fsync(fd);
		close(fd);
	}
	(void)unlink(path);
}

int
volume_tenant_erase_unused(const char *state_dir, const char *tenant)
{
	_cleanup_free_ char	*path = NULL;
	char			**uids = NULL, t[64], n[64];
	size_t			  i;
	int			  r;

	if (check_tenant(tenant, NULL) < 0)
		return -BW_E_INVALID;
	if ((r = volume_list(state_dir, &uids)) < 0)
		return r;
	for (i = 0; uids[i]; i++)
		if (volume_owner(state_dir, uids[i], t, n) == 0 &&
		    strcmp(t, tenant) == 0)
			break;
	r = uids[i] != NULL;
	runtime_list_free(uids);
	if (r)
		return 0;
	if (tpath(state_dir, tenant, &path) < 0)
		return -ENOMEM;
	if (access(path, F_OK) < 0)
		return 0;
	wipe_file(path);
	return 1;
}

int
volume_delete(const char *state_dir, const char *uid, char **ret_err)
{
	_cleanup_free_ char	*dir = NULL, *wkey = NULL, *img = NULL;
	_cleanup_free_ char	*meta = NULL, *mnt = NULL;
	struct stat		 st;
	char			 tenant[64] = "", name[64];
	int			 r, fd;

	if ((r = volume_check_uid(uid, ret_err)) < 0)
		return r;
	if ((r = volume_detach(state_dir, uid, ret_err)) < 0)
		return r;
	if (vpath(state_dir, uid, NULL, &dir) < 0 ||
	    vpath(state_dir, uid, "key.wrapped", &wkey) < 0 ||
	    vpath(state_dir, uid, "backing.img", &img) < 0 ||
	    vpath(state_dir, uid, "volume.json", &meta) < 0 ||
	    vpath(state_dir, uid, "mnt", &mnt) < 0)
		return -ENOMEM;
	if (stat(dir, &st) < 0)
		return 0;
	(void)volume_owner(state_dir, uid, tenant, name);
	/* crypto-erase: without the wrapped key nothing decrypts it */
	wipe_file(wkey);
	fd = open(img, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		if (fstat(fd, &st) == 0)
			(void)fallocate(fd, FALLOC_FL_PUNCH_HOLE |
			    FALLOC_FL_KEEP_SIZE, 0, st.st_size);
		close(fd);
	}
	(void)unlink(img);
	(void)unlink(meta);
	(void)rmdir(mnt);
	{
		_cleanup_free_ char *restored = NULL, *sdir = NULL;
		char **snaps = NULL;

		if (vpath(state_dir, uid, "restored", &restored) == 0)
			(void)unlink(restored);
		if (volume_snapshot_list(state_dir, uid, &snaps) == 0) {
			for (size_t i = 0; snaps[i]; i++)
				volume_snapshot_delete(state_dir, uid, snaps[i]);
			runtime_list_free(snaps);
		}
		if (vpath(state_dir, uid, "snapshots", &sdir) == 0)
			(void)rmdir(sdir);
	}
	if (rmdir(dir) < 0)
		return errf(-errno, ret_err, "%s: %s", dir, strerror(errno));
	/* the tenant's last volume here: its key goes too */
	if (tenant[0])
		(void)volume_tenant_erase_unused(state_dir, tenant);
	return 0;
}

int
volume_tenants_gc(const char *state_dir)
{
	_cleanup_free_ char	*dir = NULL;
	struct dirent		*de;
	DIR			*d;
	char			 tenant[64];
	size_t			 l;
	int			 n = 0;

	if (tpath(state_dir, NULL, &dir) < 0)
		return -ENOMEM;
	if (!(d = opendir(dir)))
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		l = strlen(de->d_name);
		if (de->d_type != DT_REG || l < 5 || l - 4 >= sizeof(tenant) ||
		    strcmp(de->d_name + l - 4, ".key") != 0)
			continue;
		memcpy(tenant, de->d_name, l - 4);
		tenant[l - 4] = '\0';
		if (volume_tenant_erase_unused(state_dir, tenant) > 0)
			n++;
	}
	closedir(d);
	return n;
}

int
volume_list(const char *state_dir, char ***ret)
{
	_cleanup_free_ char *dir = NULL;

	if (asprintf(&dir, "%s/volumes", state_dir) < 0)
		return -ENOMEM;
	return list_names(dir, DT_DIR, ret);
}

int
volume_owner(const char *state_dir, const char *uid, char *tenant,
    char *name)
{
	_cleanup_free_ char	*meta = NULL, *text = NULL;
	_cleanup_json_ json_t	*doc = NULL;
	const char		*t, *n;
	size_t			 len;
	int			 r;

	if (vpath(state_dir, uid, "volume.json", &meta) < 0)
		return -ENOMEM;
	if ((r = read_file_at(AT_FDCWD, meta, 4096, &text, &len)) < 0)
		return r;
	doc = json_loadb(text, len, 0, NULL);
	t = json_str_at(doc, "tenant", NULL);
	n = json_str_at(doc, "name", NULL);
	if (!t || !n || strlen(t) > 63 || strlen(n) > 63)
		return -BW_E_CORRUPT;
	strcpy(tenant, t);
	strcpy(name, n);
	return 0;
}
