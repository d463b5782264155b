/* Evidence bundles: one ustar file holding the assessment results, the
 * POA&M, the SSP, the audit segments of a period, the appliance's
 * certificate chain and the TPM attestation key, with a manifest of
 * SHA-256 digests signed by the appliance key; then the TPM's quote over
 * the manifest's SHA-256 (when the exporter has a TPM).
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

/* A file the caller adds to the bundle as is (conmon package parts). */
struct evidence_file {
	const char	*name;		/* bundle path, under 100 bytes */
	const char	*kind;		/* the manifest's "kind" */
	const void	*data;
	size_t		 len;
};

/* A TPM quote in its standard parts (tpm2_quote(1) writes the same). */
struct evidence_quote {
	unsigned char	*attest;	/* marshalled TPMS_ATTEST: the signed message */
	size_t		 attest_len;
	unsigned char	*sig;		/* marshalled TPMT_SIGNATURE */
	size_t		 sig_len;
	json_t		*pcrs;		/* {"0": "<hex>", ...}: the SHA-256 values quoted */
};

/* Frees what Q holds (not Q). */
void evidence_quote_done(struct evidence_quote *q);

/* The appliance's TPM, which quotes every bundle (docs/ssp/
 * evidence-bundle.md, "TPM quote"). Both functions are called once per
 * export, with the TPM serialised by the implementation. */
struct evidence_tpm_ops {
	/* Sets *ret_ak_pem (the attestation key's public key, PEM) and
	 * *ret_golden ({"0": "<hex>", ...}: the PCR selection the quote
	 * covers and the golden value of each), both owned by the caller,
	 * and *ret_source (static: where the golden values are recorded). */
	int	(*describe)(void *ctx, char **ret_ak_pem, json_t **ret_golden,
		    const char **ret_source, char **ret_err);
	/* Quotes the PCRs of the golden selection with the AK over NONCE
	 * into *ret (release with evidence_quote_done()). */
	int	(*quote)(void *ctx, const unsigned char *nonce, size_t nlen,
		    struct evidence_quote *ret, char **ret_err);
	void	*ctx;
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
	const char	*cd_path;		/* its component definition; NULL: absent */
	const char	*audit_dir;		/* trail directory; NULL: no audit */
	const char	*ca_path;		/* appliance CA chain (PEM); NULL: absent */
	/* The TPM that quotes the bundle over SHA-256(manifest.json); NULL:
	 * no quote, recorded as absent. */
	const struct evidence_tpm_ops *tpm;
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
	EVIDENCE_QUOTE,		/* the TPM quote is missing or does not verify */
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
	char			*quote_pcrs;	/* the golden selection ("0,2,4,7,13") */
};

/* Verifies the TPM quote Q of a bundle: returns 0 when it is a
 * TPM-generated quote signed by AK_PEM, over NONCE (the SHA-256 of the
 * bundle's manifest.json), whose PCR values match its signed digest and
 * equal GOLDEN ({"0": "<hex>", ...}, same selection); else a negative
 * error with *ret_err naming the check that failed. bulwark-verify
 * passes a wrapper of attest_quote_verify_parts(). */
typedef int (*evidence_quote_fn)(const char *ak_pem,
    const struct evidence_quote *q, const unsigned char *nonce, size_t nlen,
    const json_t *golden, char **ret_err);

/* Verifies the bundle at TAR offline against TRUST_ANCHOR (the appliance
 * public key): the manifest signature, every file's size and digest, no
 * missing or extra file, and the audit segments' chain and checkpoint
 * signatures, anchored at the first segment by the signed manifest.
 * With QUOTE_FN the bundle must carry a quote that QUOTE_FN accepts;
 * QUOTE_FN NULL: a quote is reported present but unchecked. Fills
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
