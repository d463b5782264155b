/* The node's image store: container root filesystems and VM disks,
 * content-addressed by SHA-256 and accepted only when signed by a
 * trusted publisher (there is no registry in an air gap: images come
 * on local media).
 *
 * Signatures: FILE.sig next to FILE holds an ECDSA P-384 signature
 * over SHA-384 of FILE's bytes, as a DER ECDSA-Sig-Value or that DER
 * in base64 (whitespace ignored). It is what
 * `openssl dgst -sha384 -sign key.pem -out FILE.sig FILE` writes, so a
 * publisher may use either that or image_sign(). Trusted publishers
 * are the P-384 public keys (PEM SubjectPublicKeyInfo, *.pem) in the
 * trust directory; the file name without .pem names the signer.
 *
 * Layout under the store root (0700):
 *   blobs/sha256/HEX     the imported file, 0444
 *   rootfs/HEX/          a container image unpacked (read-only use)
 *   meta/HEX.json        {"digest","kind","format","size","signer"}
 *   tmp/                 imports in progress
 */
#ifndef BW_IMAGE_H
#define BW_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define IMAGE_DIGEST_MAX	71	/* "sha256:" + 64 hex */
#define IMAGE_SIGNER_MAX	64
#define IMAGE_SIG_MAX		4096

enum image_kind {
	IMAGE_ROOTFS = 1,	/* tar (optionally gzip) of a root filesystem */
	IMAGE_DISK,		/* raw or qcow2 VM disk */
};

enum image_format {
	IMAGE_FMT_TAR = 1,
	IMAGE_FMT_RAW,
	IMAGE_FMT_QCOW2,
};

struct image_limits {
	uint64_t	max_blob;	/* bytes of the imported file */
	uint64_t	max_unpacked;	/* sum of member sizes in a tar */
	uint64_t	max_entries;	/* members in a tar */
};

struct image_info {
	char			 digest[IMAGE_DIGEST_MAX + 1];
	char			 signer[IMAGE_SIGNER_MAX + 1];
	enum image_kind		 kind;
	enum image_format	 format;
	uint64_t		 size;
	/* Unpacked rootfs directory or disk blob (allocated). */
	char			*path;
};

struct image_store;

/* Opens (creating if needed) the store at ROOT trusting the keys in
 * TRUST_DIR. LIMITS may be NULL for the defaults (16 GiB blob, 16 GiB
 * unpacked, 1,000,000 members). *RET frees with image_store_free(). */
int image_store_open(const char *root, const char *trust_dir,
    const struct image_limits *limits, struct image_store **ret,
    char **ret_err);
void image_store_free(struct image_store *s);

/* Imports FILE as KIND: copies it into the store while hashing, checks
 * FILE.sig against the trusted keys, checks the digest against
 * EXPECTED ("sha256:HEX", or NULL to accept any), then validates the
 * content (tar members; qcow2 header without backing or external data
 * file) and unpacks a rootfs. An unsigned, untrusted, mismatched or
 * unsafe image is refused with -BW_E_DENIED (signature, digest) or
 * -BW_E_INVALID (content) and a message for the caller's audit record;
 * nothing of it stays in the store. Importing a present image again
 * verifies it and returns the stored one. On success *RET (release
 * with image_info_done()) describes the image. */
int image_import(struct image_store *s, enum image_kind kind,
    const char *file, const char *expected, struct image_info *ret,
    char **ret_err);

/* Looks DIGEST up. Returns 0, -BW_E_NOTFOUND or another error. */
int image_get(struct image_store *s, const char *digest,
    struct image_info *ret, char **ret_err);

/* Removes DIGEST's blob, rootfs and metadata. The caller makes sure no
 * instance uses it. */
int image_remove(struct image_store *s, const char *digest, char **ret_err);

void image_info_done(struct image_info *info);

/* Publisher tool: signs FILE with the P-384 private key in KEYFILE
 * (PEM) and writes FILE.sig (DER). */
int image_sign(const char *keyfile, const char *file, char **ret_err);

/* Checks that FILE.sig verifies FILE under a key of TRUST_DIR; on
 * success *RET_SIGNER (caller frees) names the key. -BW_E_DENIED with a
 * message when unsigned or no key verifies. */
int image_verify_file(const char *trust_dir, const char *file,
    char **ret_signer, char **ret_err);

/* Validation of a tar stream fed in pieces, for imports and fuzzing:
 * ustar, GNU and pax members; refuses absolute names, "..", device
 * nodes and FIFOs, members below a symlink of the same archive,
 * checksum errors and anything past LIMITS. */
struct image_tar_check;
int image_tar_check_new(const struct image_limits *limits,
    struct image_tar_check **ret);
int image_tar_check_feed(struct image_tar_check *c, const void *buf,
    size_t len, char **ret_err);
/* Call at the end of the stream: fails on a truncated archive. */
int image_tar_check_end(struct image_tar_check *c, char **ret_err);
void image_tar_check_free(struct image_tar_check *c);

#endif
