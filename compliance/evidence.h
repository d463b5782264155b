/* Evidence bundles: one ustar file holding the assessment results, the
 * POA&M, the SSP, the audit segments of a period, the appliance's
 * certificate chain and (when given) a TPM attestation key and quote,
 * with a manifest of SHA-256 digests signed by the appliance key.
 * Verification needs only the bundle and the trust anchor (the public
 * half of the appliance key, which also signs audit checkpoints).
 * The format is described in docs/ssp/evidence-bundle.md. */
#ifndef BW_COMPLIANCE_EVIDENCE_H
#define BW_COMPLIANCE_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "audit/signer.h"
#include "audit/verify.h"
#include "compliance/catalog.h"
#include "compliance/check.h"

#define EVIDENCE_FORMAT_VERSION	1
#define EVIDENCE_MANIFEST	"manifest.json"
#define EVIDENCE_SIGNATURE	"manifest.sig"
/* The signature is ECDSA P-384 over SHA-384 of this prefix followed by
 * the manifest's bytes, so it can never be taken for a checkpoint's. */
#define EVIDENCE_SIG_CONTEXT	"bulwark-evidence-manifest v1\n"
/* Bounds the verifier applies to untrusted bundles. Audit segments may
 * be up to AUDIT_SEGMENT_READ_MAX; every other file up to this. */
#define EVIDENCE_FILE_MAX	((size_t)64 << 20)
#define EVIDENCE_FILES_MAX	100000
#define EVIDENCE_PROBLEMS_MAX	1000
#define EVIDENCE_TPM_MAX	8192

/* Optional byte input; absent when DATA is NULL. */
struct evidence_blob {
	const void	*data;
	size_t		 len;
};

/* A file the caller adds to the bundle as is (conmon package parts). */
struct evidence_file {
	const char	*name;		/* bundle path, under 100 bytes */
	const char	*kind;		/* the manifest's "kind" */
	const void	*data;
	size_t		 len;
};

/* Called after each file is written: bytes of file data written so far,
 * the total planned, and the file just written. */
typedef void (*evidence_progress_fn)(void *ud, uint64_t done, uint64_t total,
    const char *file);

struct evidence_opts {
	const char	*system_name;		/* "Bulwark appliance host1" */
	time_t		 since, until;		/* period; 0 = unbounded */
	time_t		 now;			/* 0 = time(NULL); tar mtimes */
	/* Assessment results: the documents, or a scan to build them from
	 * (with CAT and BASE). A POA&M is built only when a check failed. */
	const json_t	*assessment_results;
	const json_t	*poam;
	const struct comp_scan		*scan;
	const struct comp_catalog	*cat;
	const struct comp_baseline	*base;
	const char	*ssp_path;		/* the SSP JSON file; NULL: absent */
	const char	*audit_dir;		/* trail directory; NULL: no audit */
	const char	*ca_path;		/* appliance CA chain (PEM); NULL: absent */
	struct evidence_blob tpm_ak_pem;	/* AK public key, PEM */
	struct evidence_blob tpm_quote;		/* as tpm_quote() gives it */
	struct evidence_blob tpm_nonce;		/* the quote's qualifying data */
	const struct audit_signer *signer;	/* the appliance key; required */
	evidence_progress_fn progress;
	void		*progress_ud;
	/* Freshness: with MAX_AGE_S > 0, every observation and finding of
	 * the assessment results is marked fresh or stale against NOW
	 * (comp_oscal_mark_stale()) and the manifest records the cadence
	 * and the stale count; REFUSE_STALE makes any stale one an error
	 * (-BW_E_CONFLICT naming them). */
	long		 max_age_s;
	bool		 refuse_stale;
	/* What the bundle is: NULL for an evidence bundle, "conmon" for a
	 * monthly continuous-monitoring package (the manifest's
	 * "package"); EXTRA files follow the standard ones. */
	const char	*package;
	const struct evidence_file *extra;
	size_t		 n_extra;
};

/* Writes the bundle to OUT_TAR (mode 0600, through a temporary file in
 * the same directory renamed into place, so a partial bundle never
 * appears under the final name). Audit segments are the whole segments
 * whose records overlap [since, until], contiguous in chain order; the
 * live segment is cut at its last complete record. Returns 0, or a
 * negative error with *ret_err (-BW_E_INVALID for bad options). */
int evidence_export(const struct evidence_opts *o, const char *out_tar,
    char **ret_err);

enum evidence_problem_kind {
	EVIDENCE_MALFORMED,	/* the tar or the manifest cannot be read */
	EVIDENCE_BAD_SIGNATURE,	/* the manifest is not signed by the trust anchor */
	EVIDENCE_DIGEST,	/* a file's SHA-256 differs from the manifest's */
	EVIDENCE_SIZE,		/* a file's size differs from the manifest's */
	EVIDENCE_MISSING,	/* listed in the manifest, absent from the bundle */
	EVIDENCE_EXTRA,		/* in the bundle, not in the manifest */
	EVIDENCE_AUDIT,		/* audit chain damage (seq and damage set) */
	EVIDENCE_QUOTE,		/* the TPM quote does not verify */
};

struct evidence_problem {
	enum evidence_problem_kind	 kind;
	char				*file;		/* bundle file name, or NULL */
	uint64_t			 seq;		/* EVIDENCE_AUDIT: first bad seq */
	enum audit_damage		 damage;	/* EVIDENCE_AUDIT */
	char				*message;
};

struct evidence_report {
	int			 ok;		/* 1: no problem at all */
	struct evidence_problem	*problems;
	size_t			 n_problems;
	size_t			 files;		/* entries read from the tar */
	uint64_t		 bytes;		/* their data bytes */
	char			*created, *system, *since, *until;
	char			*key_id;	/* the manifest's signing key id */
	char			*package;	/* "conmon", or NULL for a bundle */
	size_t			 audit_segments;
	uint64_t		 audit_first_seq, audit_last_seq, audit_checkpoints;
	char			**absent;	/* "name: reason" */
	size_t			 n_absent;
	int			 quote;		/* -1 none, 0 present unchecked, 1 verified */
};

/* Verifies a TPM quote: returns 0 when QUOTE is a valid quote by AK_PEM
 * over NONCE, else a negative error with *ret_err. bulwark-verify passes
 * a wrapper of attest_quote_verify(). */
typedef int (*evidence_quote_fn)(const char *ak_pem, const unsigned char *quote,
    size_t qlen, const unsigned char *nonce, size_t nlen, char **ret_err);

/* Verifies the bundle at TAR offline against TRUST_ANCHOR (the appliance
 * public key): the manifest signature, every file's size and digest, no
 * missing or extra file, and the audit segments' chain and checkpoint
 * signatures, anchored at the first segment by the signed manifest.
 * QUOTE_FN may be NULL (the quote is then reported unchecked). Fills
 * *ret (release with evidence_report_done()) and returns 0 whenever the
 * bundle could be examined, whatever was found (see ret->ok); a negative
 * error only when TAR cannot be opened or memory runs out. */
int evidence_verify_ex(const char *tar, EVP_PKEY *trust_anchor,
    evidence_quote_fn quote_fn, struct evidence_report *ret);
int evidence_verify(const char *tar, EVP_PKEY *trust_anchor,
    struct evidence_report *ret);
/* The same when the appliance's checkpoint key changed within the
 * bundle's period: KEYS[0] is the trust anchor (it signed the manifest),
 * and every key of KEYS is trusted for the audit checkpoints. */
int evidence_verify_keys(const char *tar, EVP_PKEY *const *keys, size_t nkeys,
    evidence_quote_fn quote_fn, struct evidence_report *ret);
void evidence_report_done(struct evidence_report *r);

/* Upper-case name of K ("DIGEST", ...). */
const char *evidence_problem_name(enum evidence_problem_kind k);

#endif
