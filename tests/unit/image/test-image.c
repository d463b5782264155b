/* Image store: signatures, digests, tar and qcow2 validation, with
 * real OpenSSL keys, real tar and gzip. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "image/image.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/macro.h"

struct fx {
	char			 dir[256];
	char			 trust[300], store[300], keys[300];
	struct image_store	*s;
};

static const char *
at(struct fx *f, const char *name)
{
	static char	buf[4][512];
	static int	slot;
	char		*p = buf[slot++ % 4];

	snprintf(p, 512, "%s/%s", f->dir, name);
	return p;
}

static void
write_text(const char *path, const void *buf, size_t len)
{
	assert_int_equal(write_file_atomic_at(AT_FDCWD, path, buf, len, 0644),
	    0);
}

static void
gen_key(const char *priv, const char *pub)
{
	EVP_PKEY	*k = EVP_EC_gen("P-384");
	FILE		*f;

	assert_non_null(k);
	f = fopen(priv, "we");
	assert_non_null(f);
	assert_true(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL));
	fclose(f);
	f = fopen(pub, "we");
	assert_non_null(f);
	assert_true(PEM_write_PUBKEY(f, k));
	fclose(f);
	EVP_PKEY_free(k);
}

static int
sh(const char *fmt, ...)
{
	char	cmd[2048];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int
setup(void **state)
{
	struct fx	*f = calloc(1, sizeof(*f));
	const char	*base = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/bw-img-", base && *base ? base :
	    "/tmp");
	/* mkdtemp() wants six trailing X characters. */
	memset(f->dir + strlen(f->dir), 'X', 6);
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->trust, sizeof(f->trust), "%s/trust", f->dir);
	snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
	snprintf(f->keys, sizeof(f->keys), "%s/keys", f->dir);
	if (mkdir(f->trust, 0700) < 0 || mkdir(f->keys, 0700) < 0)
		return -1;
	gen_key(at(f, "keys/pub1.key"), at(f, "trust/publisher.pem"));
	gen_key(at(f, "keys/rogue.key"), at(f, "keys/rogue.pem"));
	if (image_store_open(f->store, f->trust, NULL, &f->s, NULL) < 0)
		return -1;
	/* A small root filesystem. */
	if (sh("set -e; cd %s; mkdir -p root/bin root/etc; "
	    "echo hello > root/etc/motd; cp /bin/true root/bin/true; "
	    "chmod 4755 root/bin/true; "
	    "tar -C root -cf rootfs.tar . ; tar -C root -czf rootfs.tgz .",
	    f->dir))
		return -1;
	*state = f;
	return 0;
}

static int
rm_one(const char *p, const struct stat *st, int fl, struct FTW *ftw)
{
	(void)st;
	(void)fl;
	(void)ftw;
	return remove(p);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	image_store_free(f->s);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void
test_signed_rootfs_imports(void **state)
{
	struct fx		*f = *state;
	struct image_info	 i, j;
	char			*err = NULL, path[700];
	struct stat		 st;

	assert_int_equal(image_sign(at(f, "keys/pub1.key"), at(f,
	    "rootfs.tar"), &err), 0);
	assert_int_equal(image_import(f->s, IMAGE_ROOTFS, at(f, "rootfs.tar"),
	    NULL, &i, &err), 0);
	assert_string_equal(i.signer, "publisher");
	assert_int_equal(i.kind, IMAGE_ROOTFS);
	assert_int_equal(strncmp(i.digest, "sha256:", 7), 0);
	snprintf(path, sizeof(path), "%s/etc/motd", i.path);
	assert_int_equal(access(path, R_OK), 0);
	/* Set-id bits are stripped on unpacking. */
	snprintf(path, sizeof(path), "%s/bin/true", i.path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 06000, 0);
	/* Again, and by digest: the same image. */
	assert_int_equal(image_import(f->s, IMAGE_ROOTFS, at(f, "rootfs.tar"),
	    i.digest, &j, &err), 0);
	assert_string_equal(i.digest, j.digest);
	image_info_done(&j);
	assert_int_equal(image_get(f->s, i.digest, &j, &err), 0);
	assert_string_equal(j.path, i.path);
	image_info_done(&j);
	assert_int_equal(image_remove(f->s, i.digest, &err), 0);
	assert_int_equal(image_get(f->s, i.digest, &j, NULL), -BW_E_NOTFOUND);
	assert_int_equal(access(i.path, F_OK), -1);
	image_info_done(&i);
}

static void
test_gzip_and_base64(void **state)
{
	struct fx		*f = *state;
	struct image_info	 i;
	char			*err = NULL;

	assert_int_equal(image_sign(at(f, "keys/pub1.key"), at(f,
	    "rootfs.tgz"), &err), 0);
	assert_int_equal(sh("cd %s && base64 rootfs.tgz.sig > s && "
	    "mv s rootfs.tgz.sig", f->dir), 0);
	assert_int_equal(image_import(f->s, IMAGE_ROOTFS, at(f, "rootfs.tgz"),
	    NULL, &i, &err), 0);
	image_info_done(&i);
	/* openssl's own tool makes the same signatures. */
	assert_int_equal(sh("cd %s && openssl dgst -sha384 -sign keys/pub1.key "
	    "-out rootfs.tar.sig rootfs.tar", f->dir), 0);
	assert_int_equal(image_import(f->s, IMAGE_ROOTFS, at(f, "rootfs.tar"),
	    NULL, &i, &err), 0);
	image_info_done(&i);
}

static int
count_entries(const char *dir)
{
	char	cmd[600];
	FILE	*p;
	int	n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A %s | wc -l", dir);
	p = popen(cmd, "r");
	if (!p || fscanf(p, "%d", &n) != 1)
		n = -1;
	if (p)
		pclose(p);
	return n;
}

static void
test_refusals(void **state)
{
	struct fx		*f = *state;
	struct image_info	 i;
	char			*err = NULL;
	char			 bad[80];

	/* Unsigned. */
	assert_int_equal(image_import(f->s, IMAGE_ROOTFS, at(f, "rootfs.tar"),
	    NULL, &i, &err), -BW_E_DENIED);
	assert_non_null(strstr(err, "unsigned"));
	free(err);
	err = NULL;
	/* Signed by a key we do not trust. */
	assert_int_equal(image_sign(at(f, "keys/rogue.key"), at(f,
	    "rootfs.tar"), &err), 0);
	assert_int_equal(image_import(f->s, IMAGE_ROOTFS, at(f, "rootfs.tar"),
	    NULL, &i, &err), -BW_E_DENIED);
	assert_non_null(strstr(err, "does not verify"));
	free(err);
	err = NULL;
	/* Changed after signing. */
	assert_int_equal(image_sign(at(f, "keys/pub1.key"), at(f,
	    "rootfs.tar"), &err), 0);
	assert_int_equal(sh("cd %s && printf x >> rootfs.tar", f->dir), 0);
	assert_int_equal(image_import(f->s, IMAGE_ROOTFS, at(f, "rootfs.tar"),
	    NULL, &i, &err), -BW_E_DENIED);
	free(err);
	err = NULL;
	/* Validly signed, but not the digest the caller asked for. */
	assert_int_equal(image_sign(at(f, "keys/pub1.key"), at(f,
	    "rootfs.tar"), &err), 0);
	snprintf(bad, sizeof(bad), "sha256:%064d", 0);
	assert_int_equal(image_import(f->s, IMAGE_ROOTFS, at(f, "rootfs.tar"),
	    bad, &i, &err), -BW_E_DENIED);
	assert_non_null(strstr(err, "digest mismatch"));
	free(err);
	err = NULL;
	/* A garbage signature file. */
	write_text(at(f, "rootfs.tar.sig"), "!!!", 3);
	assert_int_equal(image_import(f->s, IMAGE_ROOTFS, at(f, "rootfs.tar"),
	    NULL, &i, &err), -BW_E_DENIED);
	free(err);
	/* Nothing of the refused imports stayed behind. */
	assert_int_equal(count_entries(at(f, "store/blobs/sha256")), 0);
	assert_int_equal(count_entries(at(f, "store/meta")), 0);
	assert_int_equal(count_entries(at(f, "store/tmp")), 0);
}

/* --- hand-made tar members --- */

static void
tar_hdr(unsigned char *h, const char *name, char type, size_t size,
    const char *link)
{
	unsigned sum = 0;

	memset(h, 0, 512);
	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011zo", size);
	snprintf((char *)h + 136, 12, "%011o", 0);
	h[156] = (unsigned char)type;
	if (link)
		snprintf((char *)h + 157, 100, "%s", link);
	memcpy(h + 257, "ustar\0" "00", 8);
	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
}

struct member {
	const char	*name;
	char		 type;
	size_t		 size;
	const char	*link;
};

static int
check_members(const struct member *m, size_t n, bool terminate,
    char **ret_err)
{
	struct image_tar_check	*c;
	unsigned char		 blk[512];
	int			 r = 0;

	assert_int_equal(image_tar_check_new(NULL, &c), 0);
	for (size_t i = 0; i < n && r == 0; i++) {
		tar_hdr(blk, m[i].name, m[i].type, m[i].size, m[i].link);
		r = image_tar_check_feed(c, blk, 512, ret_err);
		memset(blk, 'A', 512);
		for (size_t k = 0; r == 0 && k < (m[i].size + 511) / 512; k++)
			r = image_tar_check_feed(c, blk, 512, ret_err);
	}
	memset(blk, 0, 512);
	if (r == 0 && terminate)
		r = image_tar_check_feed(c, blk, 512, ret_err);
	if (r == 0 && terminate)
		r = image_tar_check_feed(c, blk, 512, ret_err);
	if (r == 0)
		r = image_tar_check_end(c, ret_err);
	image_tar_check_free(c);
	return r;
}

static void
expect_refused(const struct member *m, size_t n, const char *why)
{
	char *err = NULL;

	assert_int_equal(check_members(m, n, true, &err), -BW_E_INVALID);
	assert_non_null(err);
	if (!strstr(err, why))
		fail_msg("expected '%s' in '%s'", why, err);
	free(err);
}

static void
test_tar_rules(void **state)
{
	const struct member ok[] = {
		{ "./", '5', 0, NULL }, { "./bin/", '5', 0, NULL },
		{ "./bin/sh", '0', 1000, NULL }, { "bin/ls", '2', 0, "/bin/sh" },
		{ "bin/ln", '1', 0, "bin/sh" },
	};
	const struct member abs[] = { { "/etc/passwd", '0', 5, NULL } };
	const struct member dots[] = { { "a/../../etc", '0', 5, NULL } };
	const struct member dev[] = { { "dev/sda", '4', 0, NULL } };
	const struct member fifo[] = { { "p", '6', 0, NULL } };
	const struct member esc[] = {
		{ "etc", '2', 0, "/etc" }, { "etc/shadow", '0', 5, NULL },
	};
	const struct member hl[] = {
		{ "l", '2', 0, "/" }, { "x", '1', 0, "l/etc/shadow" },
	};
	const struct member hldots[] = { { "x", '1', 0, "../x" } };
	char *err = NULL;

	(void)state;
	assert_int_equal(check_members(ok, ELEMENTSOF(ok), true, &err), 0);
	expect_refused(abs, 1, "absolute");
	expect_refused(dots, 1, "..");
	expect_refused(dev, 1, "device node");
	expect_refused(fifo, 1, "FIFO");
	expect_refused(esc, 2, "below the symlink");
	expect_refused(hl, 2, "below the symlink");
	expect_refused(hldots, 1, "..");
	/* Cut short inside a member. */
	{
		struct image_tar_check	*c;
		unsigned char		 blk[512];

		assert_int_equal(image_tar_check_new(NULL, &c), 0);
		tar_hdr(blk, "f", '0', 2000, NULL);
		assert_int_equal(image_tar_check_feed(c, blk, 512, &err), 0);
		assert_int_equal(image_tar_check_end(c, &err), -BW_E_INVALID);
		assert_non_null(strstr(err, "truncated"));
		free(err);
		err = NULL;
		image_tar_check_free(c);
	}
	/* A flipped byte breaks the header checksum. */
	{
		struct image_tar_check	*c;
		unsigned char		 blk[512];

		assert_int_equal(image_tar_check_new(NULL, &c), 0);
		tar_hdr(blk, "f", '0', 0, NULL);
		blk[0] ^= 1;
		assert_int_equal(image_tar_check_feed(c, blk, 512, &err),
		    -BW_E_INVALID);
		assert_non_null(strstr(err, "checksum"));
		free(err);
		image_tar_check_free(c);
	}
}

static void
test_tar_limits(void **state)
{
	const struct image_limits	 lim = { 1 << 20, 4096, 3 };
	const struct member		 m[] = {
		{ "a", '0', 3000, NULL }, { "b", '0', 3000, NULL },
	};
	struct image_tar_check		*c;
	unsigned char			 blk[512];
	char				*err = NULL;
	int				 r = 0;

	(void)state;
	assert_int_equal(image_tar_check_new(&lim, &c), 0);
	for (size_t i = 0; i < 2 && r == 0; i++) {
		tar_hdr(blk, m[i].name, m[i].type, m[i].size, NULL);
		r = image_tar_check_feed(c, blk, 512, &err);
		memset(blk, 0x55, 512);
		for (int k = 0; r == 0 && k < 6; k++)
			r = image_tar_check_feed(c, blk, 512, &err);
	}
	assert_int_equal(r, -BW_E_TOOLARGE);
	free(err);
	image_tar_check_free(c);
}

static void
test_unsafe_tar_not_imported(void **state)
{
	struct fx		*f = *state;
	struct image_info	 i;
	char			*err = NULL;

	/* GNU tar itself writes the escaping symlink archive. */
	assert_int_equal(sh("set -e; cd %s; mkdir -p ev; ln -s /tmp ev/t; "
	    "tar -C ev -cf evil.tar t; mkdir -p ev2/t; echo x > ev2/t/f; "
	    "tar -C ev2 -rf evil.tar t/f", f->dir), 0);
	assert_int_equal(image_sign(at(f, "keys/pub1.key"), at(f, "evil.tar"),
	    &err), 0);
	assert_int_equal(image_import(f->s, IMAGE_ROOTFS, at(f, "evil.tar"),
	    NULL, &i, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "symlink"));
	free(err);
	assert_int_equal(count_entries(at(f, "store/rootfs")), 0);
	assert_int_equal(count_entries(at(f, "store/blobs/sha256")), 0);
}

static void
test_disks(void **state)
{
	struct fx		*f = *state;
	struct image_info	 i;
	unsigned char		 q[512];
	char			*err = NULL;

	/* Raw. */
	memset(q, 0, sizeof(q));
	write_text(at(f, "disk.raw"), q, sizeof(q));
	assert_int_equal(image_sign(at(f, "keys/pub1.key"), at(f, "disk.raw"),
	    &err), 0);
	assert_int_equal(image_import(f->s, IMAGE_DISK, at(f, "disk.raw"),
	    NULL, &i, &err), 0);
	assert_int_equal(i.format, IMAGE_FMT_RAW);
	image_info_done(&i);
	/* qcow2 made by qemu-img, then one with a backing file. */
	if (sh("qemu-img create -q -f qcow2 %s 16M", at(f, "d.qcow2")) == 0) {
		assert_int_equal(image_sign(at(f, "keys/pub1.key"), at(f,
		    "d.qcow2"), &err), 0);
		assert_int_equal(image_import(f->s, IMAGE_DISK, at(f,
		    "d.qcow2"), NULL, &i, &err), 0);
		assert_int_equal(i.format, IMAGE_FMT_QCOW2);
		image_info_done(&i);
		assert_int_equal(sh("qemu-img create -q -f qcow2 -b %s -F raw "
		    "%s", "/etc/hostname", at(f, "b.qcow2")), 0);
	} else {
		/* Hand-made v2 header naming a backing file. */
		memset(q, 0, sizeof(q));
		memcpy(q, "QFI\xfb\0\0\0\2\0\0\0\0\0\0\0\x68", 16);
		write_text(at(f, "b.qcow2"), q, sizeof(q));
	}
	assert_int_equal(image_sign(at(f, "keys/pub1.key"), at(f, "b.qcow2"),
	    &err), 0);
	assert_int_equal(image_import(f->s, IMAGE_DISK, at(f, "b.qcow2"),
	    NULL, &i, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "backing"));
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_signed_rootfs_imports,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip_and_base64, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test(test_tar_rules),
		cmocka_unit_test(test_tar_limits),
		cmocka_unit_test_setup_teardown(test_unsafe_tar_not_imported,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_disks, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
