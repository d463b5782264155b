/* bulwarkd's TPM bootstrap: see identity.h and docs/identity.md.
 *
 * Secrets on disk (DATA_DIR):
 *   identity/root.sealed  BWS1 blob: 32-byte root secret sealed by the
 *                         TPM to a PolicyPCR over the seal PCRs
 *   pki/ca.key.sealed     "BWK1" | IV(12) | tag(16) | AES-256-GCM of the
 *                         CA key's PKCS#8 PEM, key = HMAC-SHA256(root,
 *                         "bulwark ca.key v1")
 * The checkpoint signing key never leaves the TPM (persistent handle
 * TPM_SIGNER_HANDLE_DEFAULT); its public half is exported for verifiers. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "audit/segment.h"
#include "audit/signer.h"
#include "audit/trail.h"
#include "compliance/check.h"
#include "controlplane/api.h"
#include "controlplane/authz.h"
#include "compliance/evidence.h"
#include "controlplane/enrol.h"
#include "daemon/identity.h"
#include "hardening/crypto.h"
#include "hardening/crypto-policy.h"
#include "hardening/pki.h"
#include "identity/attest.h"
#include "identity/swtpm.h"
#include "identity/tpm-pkey.h"
#include "identity/tpm.h"
#include "lib/b64.h"
#include "lib/err.h"
#include "lib/clock.h"
#include "lib/fileio.h"
#include "lib/hist.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/macro.h"
#include "lib/ossl-cleanup.h"

#define ROOT_LEN		32
#define KEK_LEN			32
#define CA_WRAP_MAGIC		"BWK1"
#define CA_WRAP_IV		12
#define CA_WRAP_TAG		16
#define CA_WRAP_AAD		"bulwark ca.key v1"
#define CA_WRAP_MAX		(16 * 1024)
#define NONCES_CAPACITY		4096
#define NONCE_TTL_S		120

static const char default_config[] =
"{\n"
"  \"attestation\": {\n"
"    \"interval_seconds\": 60,\n"
"    \"stale_after_seconds\": 180,\n"
"    \"node_certificate_seconds\": 86400,\n"
"    \"bootstrap_max_seconds\": 3600,\n"
"    \"quote_pcrs\": \"0,2,4,7,13\"\n"
"  },\n"
"  \"seal_pcrs\": \"0,2,4,7,13\"\n"
"}\n";

enum { TPM_OP_QUOTE, TPM_OP_SIGN, TPM_OP_VERIFY };

struct identity {
	char			 data_dir[4096];
	char			 config_path[4096];
	struct identity_settings set;
	unsigned char		 config_sha[ATTEST_PCR_DIGEST_LEN];
	int			 measured;	/* 1 now, 0 earlier this boot, <0 conflict */
	char			 tcti[256];
	int			 software;	/* swtpm (private or given) */
	int			 private_swtpm;
	struct swtpm		*swtpm;
	struct tpm		*tpm;
	pthread_mutex_t		 mu;		/* the TPM context is not thread-safe */
	struct tpm_signer	*signer;
	struct audit_signer	 asigner;
	char			 signer_key_id[AUDIT_HASH_HEX + 1];
	unsigned char		*root;		/* ROOT_LEN, mlocked */
	struct pki_key_custody	 custody;
	struct pki_server_key_custody tls_custody;
	unsigned char		*tls_pending;	/* a created key's blob until kept */
	size_t			 tls_pending_len;
	EVP_PKEY		*ca_key;
	/* enrolment verifier */
	struct attest_nonces	*nonces;
	char			*ca_pem;
	char			 pkidir[4200];
	struct pki_revoked	*revoked;
	char			 quote_pcrs_text[64];
	/* bulwark_tpm_operation_duration_seconds{op}: quote, sign, verify */
	struct hist		 tpm_ns[3];
	struct tpm_da_status	 da;		/* last read, under mu */
	time_t			 da_at;		/* when; 0 never */
	struct evidence_tpm_ops	 evidence;
};

/* How long a read of the TPM's lockout state is reused. */
#define IDENTITY_DA_CACHE_S	5

static int
path_in(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

/* ---- configuration ---- */

static int
settings_uint(json_t *o, const char *key, unsigned min, unsigned max,
    unsigned *val, char **ret_err)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min ||
	    json_integer_value(v) > (json_int_t)max)
		return errf(-BW_E_INVALID, ret_err, "attestation.%s: must be an "
		    "integer %u..%u", key, min, max);
	*val = (unsigned)json_integer_value(v);
	return 0;
}

static int
settings_mask(json_t *v, const char *what, uint32_t *mask, char **ret_err)
{
	_cleanup_free_ char *err = NULL;

	if (!v)
		return 0;
	if (!json_is_string(v) ||
	    attest_pcr_mask_parse(json_string_value(v), mask, &err) < 0 ||
	    *mask == 0)
		return errf(-BW_E_INVALID, ret_err, "%s: must be a list of PCR "
		    "numbers such as \"0,2,4,7,13\"%s%s", what, err ? ": " : "",
		    err ? err : "");
	return 0;
}

/* The "store" object: {"map_size_mib", "history_revisions",
 * "history_mib", "high_water_percent"}, each optional. */
static int
settings_store(const char *path, json_t *o, struct identity_settings *set,
    char **ret_err)
{
	static const struct {
		const char	*key;
		json_int_t	 min, max;
	} keys[] = {
		{ "map_size_mib", 16, 1 << 20 },		/* up to 1 TiB */
		{ "history_revisions", 100, 100000000 },
		{ "history_mib", 1, 1 << 16 },
		{ "high_water_percent", 50, 99 },
	};
	json_int_t	 val[ELEMENTSOF(keys)] = { 0 };
	const char	*key;
	json_t		*v;
	size_t		 i;

	if (!o)
		return 0;
	if (!json_is_object(o))
		return errf(-BW_E_INVALID, ret_err, "store: must be an object");
	json_object_foreach(o, key, v) {
		for (i = 0; i < ELEMENTSOF(keys); i++)
			if (strcmp(key, keys[i].key) == 0)
				break;
		if (i == ELEMENTSOF(keys))
			return errf(-BW_E_INVALID, ret_err, "%s: unknown key "
			    "\"store.%.64s\"", path, key);
		if (!json_is_integer(v) || json_integer_value(v) < keys[i].min ||
		    json_integer_value(v) > keys[i].max)
			return errf(-BW_E_INVALID, ret_err, "store.%s: must be an "
			    "integer %lld..%lld", key, (long long)keys[i].min,
			    (long long)keys[i].max);
		val[i] = json_integer_value(v);
	}
	set->store_map_bytes = (uint64_t)val[0] << 20;
	set->store_history_revisions = (uint64_t)val[1];
	set->store_history_bytes = (uint64_t)val[2] << 20;
	set->store_high_water_pct = (unsigned)val[3];
	return 0;
}

/* "compliance": the evidence cadence, taken from the measured file at
 * start (a later edit of the file changes nothing until a restart). */
static int
settings_compliance(json_t *o, struct identity_settings *set, char **ret_err)
{
	const char	*key;
	json_t		*v;

	if (!o)
		return 0;
	if (!json_is_object(o))
		return errf(-BW_E_INVALID, ret_err, "compliance: must be an "
		    "object");
	json_object_foreach(o, key, v) {
		if (strcmp(key, "cadence_seconds") != 0)
			return errf(-BW_E_INVALID, ret_err, "unknown key "
			    "\"compliance.%.64s\"", key);
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > COMP_CADENCE_MAX_S)
			return errf(-BW_E_INVALID, ret_err, "compliance."
			    "cadence_seconds: must be an integer 1..%ld",
			    (long)COMP_CADENCE_MAX_S);
		set->compliance_cadence_s = (long)json_integer_value(v);
	}
	return 0;
}

/* Parses the configuration file TEXT into *SET. Unknown keys are errors:
 * a typo must not silently leave a default in force. */
static int
settings_parse(const char *path, const char *text, size_t len,
    struct identity_settings *set, char **ret_err)
{
	static const char *const top_keys[] = { "attestation", "seal_pcrs",
	    "store", "compliance" };
	static const char *const att_keys[] = { "interval_seconds",
	    "stale_after_seconds", "node_certificate_seconds",
	    "bootstrap_max_seconds", "quote_pcrs" };
	_cleanup_json_ json_t	*o = NULL;
	_cleanup_free_ char	*err = NULL;
	json_t			*att, *v;
	const char		*key;
	size_t			 i;
	int			 r;

	*set = (struct identity_settings){
		.attest_interval_s = 60, .attest_stale_s = 0,
		.node_cert_s = 86400, .bootstrap_max_s = 3600,
		.seal_pcrs = TPM_SEAL_PCRS_DEFAULT,
		.quote_pcrs = TPM_SEAL_PCRS_DEFAULT,
		.compliance_cadence_s = COMP_CADENCE_DEFAULT_S,
	};
	if ((r = json_parse_bounded(text, len, 8, &o, &err)) < 0 ||
	    !json_is_object(o))
		return errf(-BW_E_INVALID, ret_err, "%s: not a JSON object%s%s",
		    path, err ? ": " : "", err ? err : "");
	json_object_foreach(o, key, v) {
		for (i = 0; i < ELEMENTSOF(top_keys); i++)
			if (strcmp(key, top_keys[i]) == 0)
				break;
		if (i == ELEMENTSOF(top_keys))
			return errf(-BW_E_INVALID, ret_err, "%s: unknown key "
			    "\"%.64s\"", path, key);
	}
	if ((r = settings_mask(json_object_get(o, "seal_pcrs"), "seal_pcrs",
	    &set->seal_pcrs, ret_err)) < 0 ||
	    (r = settings_store(path, json_object_get(o, "store"), set,
	    ret_err)) < 0 ||
	    (r = settings_compliance(json_object_get(o, "compliance"), set,
	    ret_err)) < 0)
		return r;
	if (!(set->seal_pcrs & (1u << TPM_BULWARK_PCR)))
		return errf(-BW_E_INVALID, ret_err, "seal_pcrs: must include "
		    "the Bulwark PCR %d", TPM_BULWARK_PCR);
	if ((att = json_object_get(o, "attestation"))) {
		if (!json_is_object(att))
			return errf(-BW_E_INVALID, ret_err,
			    "attestation: must be an object");
		json_object_foreach(att, key, v) {
			for (i = 0; i < ELEMENTSOF(att_keys); i++)
				if (strcmp(key, att_keys[i]) == 0)
					break;
			if (i == ELEMENTSOF(att_keys))
				return errf(-BW_E_INVALID, ret_err, "%s: unknown "
				    "key \"attestation.%.64s\"", path, key);
		}
		if ((r = settings_uint(att, "interval_seconds", 1, 86400,
		    &set->attest_interval_s, ret_err)) < 0 ||
		    (r = settings_uint(att, "stale_after_seconds", 1, 864000,
		    &set->attest_stale_s, ret_err)) < 0 ||
		    (r = settings_uint(att, "node_certificate_seconds", 60,
		    30 * 86400, &set->node_cert_s, ret_err)) < 0 ||
		    (r = settings_uint(att, "bootstrap_max_seconds", 60, 86400,
		    &set->bootstrap_max_s, ret_err)) < 0 ||
		    (r = settings_mask(json_object_get(att, "quote_pcrs"),
		    "attestation.quote_pcrs", &set->quote_pcrs, ret_err)) < 0)
			return r;
	}
	if (set->attest_stale_s == 0)
		set->attest_stale_s = 3 * set->attest_interval_s;
	if (set->attest_stale_s <= set->attest_interval_s)
		return errf(-BW_E_INVALID, ret_err, "attestation."
		    "stale_after_seconds: must exceed interval_seconds");
	return 0;
}

/* Reads the configuration file, creating the default one when missing. */
static int
config_read(const char *path, char **ret_text, size_t *ret_len,
    char **ret_err)
{
	int r;

	r = read_file_at(AT_FDCWD, path, IDENTITY_CONFIG_MAX, ret_text, ret_len);
	if (r == -ENOENT) {
		if ((r = write_file_atomic_at(AT_FDCWD, path, default_config,
		    strlen(default_config), 0600)) < 0)
			return errf(r, ret_err, "cannot create %s: %s", path,
			    bw_strerror(r));
		log_info("created the default configuration %s", path);
		r = read_file_at(AT_FDCWD, path, IDENTITY_CONFIG_MAX, ret_text,
		    ret_len);
	}
	if (r < 0)
		return errf(r, ret_err, "configuration %s: %s", path,
		    r == -EFBIG ? "larger than 64 KiB" : bw_strerror(r));
	return 0;
}

/* ---- TPM selection ---- */

static int
tpm_select(struct identity *id, const struct identity_options *o,
    char **ret_err)
{
	char	dir[4200];
	int	r;

	/* tpm2-tss logs to stderr by default; our stderr is JSON lines. */
	setenv("TSS2_LOG", "all+NONE", 0);
	if (o->tcti) {
		snprintf(id->tcti, sizeof(id->tcti), "%s", o->tcti);
		id->software = strncmp(o->tcti, "swtpm", 5) == 0 ||
		    strncmp(o->tcti, "mssim", 5) == 0;
	} else if (access("/dev/tpmrm0", R_OK | W_OK) == 0) {
		snprintf(id->tcti, sizeof(id->tcti), "%s", IDENTITY_DEVICE_TCTI);
	} else if (o->allow_swtpm) {
		if ((r = path_in(dir, sizeof(dir), id->data_dir, "tpm")) < 0)
			return errf(r, ret_err, "data directory path too long");
		if ((r = swtpm_start(dir, &id->swtpm, ret_err)) < 0)
			return r;
		snprintf(id->tcti, sizeof(id->tcti), "%s",
		    swtpm_tcti(id->swtpm));
		id->software = 1;
		id->private_swtpm = 1;
		log_warn("NO HARDWARE TPM: using a private software TPM (swtpm, "
		    "state in %s, pid %d). A software TPM is for development "
		    "and tests only: its secrets are files readable by root "
		    "and it proves nothing about this machine's boot. The "
		    "compliance checks report this.", dir,
		    (int)swtpm_pid(id->swtpm));
	} else
		return errf(-BW_E_UNAVAILABLE, ret_err, "no TPM: /dev/tpmrm0 "
		    "is absent and --tpm was not given");
	if ((r = tpm_open(id->tcti, &id->tpm, ret_err)) < 0)
		return r;
	if (id->software && !id->private_swtpm)
		log_warn("the TPM at %s is a software TPM: for development and "
		    "tests only", id->tcti);
	return 0;
}

/* ---- root secret ---- */

static int
root_alloc(struct identity *id)
{
	if (!(id->root = OPENSSL_secure_zalloc(ROOT_LEN)) &&
	    !(id->root = calloc(1, ROOT_LEN)))
		return -ENOMEM;
	(void)mlock(id->root, ROOT_LEN);
	return 0;
}

static void
root_free(struct identity *id)
{
	if (!id->root)
		return;
	OPENSSL_cleanse(id->root, ROOT_LEN);
	munlock(id->root, ROOT_LEN);
	if (CRYPTO_secure_allocated(id->root))
		OPENSSL_secure_free(id->root);
	else
		free(id->root);
	id->root = NULL;
}

/* PCR values to seal to: the current ones, with the Bulwark PCR set to
 * the single measurement of CONFIG_SHA (what a fresh boot produces). */
static int
seal_policy(struct identity *id, uint32_t mask,
    const unsigned char config_sha[ATTEST_PCR_DIGEST_LEN],
    struct attest_pcrs *ret, char **ret_err)
{
	struct attest_pcrs	p;
	int			r;

	if ((r = tpm_pcr_read(id->tpm, mask, &p, ret_err)) < 0)
		return r;
	memset(p.digest[TPM_BULWARK_PCR], 0, ATTEST_PCR_DIGEST_LEN);
	if ((r = attest_pcr_predict_extend(&p, TPM_BULWARK_PCR, config_sha)) < 0)
		return errf(r, ret_err, "cannot predict PCR %d", TPM_BULWARK_PCR);
	*ret = p;
	return 0;
}

static int
root_unseal_or_create(struct identity *id, char **ret_err)
{
	_cleanup_free_ unsigned char	*blob = NULL;
	_cleanup_free_ char		*text = NULL, *err = NULL;
	unsigned char			*secret = NULL;
	struct attest_pcrs		 pol;
	char				 path[4200], dir[4200], mbuf[64];
	size_t				 len, slen;
	int				 r;

	if ((r = path_in(path, sizeof(path), id->data_dir,
	    IDENTITY_ROOT_SEALED)) < 0 ||
	    (r = path_in(dir, sizeof(dir), id->data_dir, "identity")) < 0)
		return errf(r, ret_err, "data directory path too long");
	if ((r = root_alloc(id)) < 0)
		return r;
	r = read_file_at(AT_FDCWD, path, ATTEST_BLOB_MAX, &text, &len);
	if (r == -ENOENT) {
		if (RAND_priv_bytes(id->root, ROOT_LEN) != 1)
			return errf(-BW_E_CRYPTO, ret_err, "no random bytes");
		if ((r = seal_policy(id, id->set.seal_pcrs, id->config_sha,
		    &pol, ret_err)) < 0 ||
		    (r = tpm_seal(id->tpm, &pol, id->root, ROOT_LEN, &blob,
		    &len, ret_err)) < 0)
			return r;
		if ((r = mkdir_p(dir, 0700)) < 0 ||
		    (r = write_file_atomic_at(AT_FDCWD, path, blob, len,
		    0600)) < 0)
			return errf(r, ret_err, "cannot write %s: %s", path,
			    bw_strerror(r));
		log_info("created the appliance root secret, sealed to PCRs %s",
		    attest_pcr_mask_format(id->set.seal_pcrs, mbuf,
		    sizeof(mbuf)));
		return 0;
	}
	if (r < 0)
		return errf(r, ret_err, "%s: %s", path, bw_strerror(r));
	r = tpm_unseal(id->tpm, (unsigned char *)text, len, &secret, &slen, &err);
	if (r < 0)
		return errf(r, ret_err, "refusing to start: the appliance root "
		    "secret (it wraps the CA key) does not unseal: %s%s. A planned configuration change needs "
		    "`bulwarkd --reseal --previous-config FILE` before the new "
		    "file is used (docs/identity.md)", err ? err : bw_strerror(r),
		    id->measured < 0 ? "; PCR 13 already held another "
		    "configuration's measurement this boot" : "");
	if (slen != ROOT_LEN) {
		tpm_secret_free(secret, slen);
		return errf(-BW_E_CORRUPT, ret_err, "%s: unsealed %zu bytes, "
		    "expected %d", path, slen, ROOT_LEN);
	}
	memcpy(id->root, secret, ROOT_LEN);
	tpm_secret_free(secret, slen);
	return 0;
}

static int
derive_kek(const struct identity *id, const char *label,
    unsigned char kek[KEK_LEN])
{
	size_t outlen = 0;

	if (crypto_hmac("SHA256", id->root, ROOT_LEN, label, strlen(label),
	    kek, KEK_LEN, &outlen, NULL) < 0 || outlen != KEK_LEN)
		return -BW_E_CRYPTO;
	return 0;
}

/* ---- CA key custody ---- */

static int
ca_store(void *ctx, EVP_PKEY *key, char **ret_err)
{
	struct identity			*id = ctx;
	_cleanup_(BIO_freep) BIO	*bio = NULL;
	_cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *c = NULL;
	_cleanup_free_ unsigned char	*out = NULL;
	unsigned char			 kek[KEK_LEN];
	char				*pem, path[4200];
	long				 plen;
	int				 n, fin, r;

	if ((r = path_in(path, sizeof(path), id->data_dir,
	    IDENTITY_CA_KEY_SEALED)) < 0)
		return errf(r, ret_err, "data directory path too long");
	if (!(bio = BIO_new(BIO_s_secmem())) ||
	    !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) ||
	    (plen = BIO_get_mem_data(bio, &pem)) <= 0 ||
	    plen > CA_WRAP_MAX)
		return crypto_errf(-BW_E_CRYPTO, ret_err, "encoding the CA key");
	if (!(out = malloc(4 + CA_WRAP_IV + CA_WRAP_TAG + (size_t)plen)))
		return -ENOMEM;
	memcpy(out, CA_WRAP_MAGIC, 4);
	if (RAND_bytes(out + 4, CA_WRAP_IV) != 1 ||
	    derive_kek(id, CA_WRAP_AAD, kek) < 0)
		return errf(-BW_E_CRYPTO, ret_err, "CA key wrapping");
	r = -BW_E_CRYPTO;
	if ((c = EVP_CIPHER_CTX_new()) &&
	    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, kek, out + 4) &&
	    EVP_EncryptUpdate(c, NULL, &n, (const unsigned char *)CA_WRAP_AAD,
	    (int)strlen(CA_WRAP_AAD)) &&
	    EVP_EncryptUpdate(c, out + 4 + CA_WRAP_IV + CA_WRAP_TAG, &n,
	    (const unsigned char *)pem, (int)plen) &&
	    EVP_EncryptFinal_ex(c, out + 4 + CA_WRAP_IV + CA_WRAP_TAG + n,
	    &fin) &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, CA_WRAP_TAG,
	    out + 4 + CA_WRAP_IV))
		r = 0;
	OPENSSL_cleanse(kek, sizeof(kek));
	if (r < 0)
		return crypto_errf(r, ret_err, "CA key wrapping");
	if ((r = write_file_atomic_at(AT_FDCWD, path, out,
	    4 + CA_WRAP_IV + CA_WRAP_TAG + (size_t)plen, 0600)) < 0)
		return errf(r, ret_err, "cannot write %s: %s", path,
		    bw_strerror(r));
	EVP_PKEY_free(id->ca_key);
	if (!EVP_PKEY_up_ref(key)) {
		id->ca_key = NULL;
		return -BW_E_CRYPTO;
	}
	id->ca_key = key;
	return 0;
}

static int
ca_load(void *ctx, EVP_PKEY **ret_key, char **ret_err)
{
	struct identity			*id = ctx;
	_cleanup_free_ char		*buf = NULL;
	_cleanup_(EVP_CIPHER_CTX_freep) EVP_CIPHER_CTX *c = NULL;
	_cleanup_(BIO_freep) BIO	*bio = NULL;
	unsigned char			 kek[KEK_LEN], *pem = NULL;
	char				 path[4200];
	size_t				 len, clen;
	EVP_PKEY			*key = NULL;
	int				 n = 0, fin = 0, r, ok;

	if ((r = path_in(path, sizeof(path), id->data_dir,
	    IDENTITY_CA_KEY_SEALED)) < 0)
		return errf(r, ret_err, "data directory path too long");
	r = read_file_at(AT_FDCWD, path, CA_WRAP_MAX + 64, &buf, &len);
	if (r == -ENOENT)
		return -ENOENT;
	if (r < 0)
		return errf(r, ret_err, "%s: %s", path, bw_strerror(r));
	if (len < 4 + CA_WRAP_IV + CA_WRAP_TAG + 1 ||
	    memcmp(buf, CA_WRAP_MAGIC, 4) != 0)
		return errf(-BW_E_CORRUPT, ret_err, "%s: not a wrapped key", path);
	clen = len - 4 - CA_WRAP_IV - CA_WRAP_TAG;
	if (!(pem = OPENSSL_secure_malloc(clen + 1)))
		return -ENOMEM;
	if (derive_kek(id, CA_WRAP_AAD, kek) < 0) {
		OPENSSL_secure_clear_free(pem, clen + 1);
		return -BW_E_CRYPTO;
	}
	ok = (c = EVP_CIPHER_CTX_new()) &&
	    EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, kek,
	    (unsigned char *)buf + 4) &&
	    EVP_DecryptUpdate(c, NULL, &n, (const unsigned char *)CA_WRAP_AAD,
	    (int)strlen(CA_WRAP_AAD)) &&
	    EVP_DecryptUpdate(c, pem, &n, (unsigned char *)buf + 4 +
	    CA_WRAP_IV + CA_WRAP_TAG, (int)clen) &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, CA_WRAP_TAG,
	    buf + 4 + CA_WRAP_IV) &&
	    EVP_DecryptFinal_ex(c, pem + n, &fin) > 0;
	OPENSSL_cleanse(kek, sizeof(kek));
	if (ok && (bio = BIO_new_mem_buf(pem, n + fin)))
		key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	OPENSSL_secure_clear_free(pem, clen + 1);
	if (!ok)
		return errf(-BW_E_CORRUPT, ret_err, "%s: does not decrypt with "
		    "the sealed root secret (altered, or from another "
		    "appliance)", path);
	if (!key)
		return crypto_errf(-BW_E_CORRUPT, ret_err, "%s: key", path);
	EVP_PKEY_free(id->ca_key);
	if (!EVP_PKEY_up_ref(key)) {
		EVP_PKEY_free(key);
		id->ca_key = NULL;
		return -BW_E_CRYPTO;
	}
	id->ca_key = key;
	*ret_key = key;
	return 0;
}

/* ---- server TLS key ---- */

/* What a TPM-held TLS key signs with. */
struct tls_signer {
	struct identity		*id;
	struct tpm_signer	*signer;
};

static int
tls_sign(void *ctx, const unsigned char *digest, size_t dlen,
    unsigned char **ret_sig, size_t *ret_siglen)
{
	struct tls_signer	*ts = ctx;
	int			 r;

	uint64_t		 t0;

	pthread_mutex_lock(&ts->id->mu);
	t0 = bw_mono_ns();
	r = tpm_sign_digest(ts->signer, digest, dlen, ret_sig, ret_siglen);
	hist_observe_since(&ts->id->tpm_ns[TPM_OP_SIGN], t0);
	pthread_mutex_unlock(&ts->id->mu);
	return r;
}

static void
tls_signer_free(void *ctx)
{
	struct tls_signer *ts = ctx;

	if (!ts)
		return;
	tpm_signer_free(ts->signer);
	free(ts);
}

/* The wrapped key BLOB as an EVP_PKEY whose signatures the TPM makes. */
static int
tls_key_of(struct identity *id, const unsigned char *blob, size_t len,
    EVP_PKEY **ret, char **ret_err)
{
	_cleanup_free_ char	*pem = NULL;
	struct tls_signer	*ts;
	int			 r;

	if (!(ts = calloc(1, sizeof(*ts))))
		return -ENOMEM;
	ts->id = id;
	pthread_mutex_lock(&id->mu);
	r = tpm_signer_open_blob(id->tpm, blob, len, &ts->signer, ret_err);
	pthread_mutex_unlock(&id->mu);
	if (r < 0 || (r = tpm_signer_public_pem(ts->signer, &pem,
	    ret_err)) < 0) {
		tls_signer_free(ts);
		return r;
	}
	return tpm_pkey_new(pem, tls_sign, ts, tls_signer_free, ret, ret_err);
}

/* Reads the blob DATA_DIR/NAME (its path into PATH) into *RET; -ENOENT
 * without a message when it does not exist. */
static int
blob_read(struct identity *id, const char *name, char path[4200],
    char **ret, size_t *ret_len, char **ret_err)
{
	int r;

	if ((r = path_in(path, 4200, id->data_dir, name)) < 0)
		return errf(r, ret_err, "data directory path too long");
	r = read_file_at(AT_FDCWD, path, ATTEST_BLOB_MAX, ret, ret_len);
	if (r < 0 && r != -ENOENT)
		return errf(r, ret_err, "%s: %s", path, bw_strerror(r));
	return r;
}

static int
tls_key_load(void *ctx, EVP_PKEY **ret_key, char **ret_err)
{
	struct identity		*id = ctx;
	_cleanup_free_ char	*blob = NULL, *err = NULL;
	char			 path[4200];
	size_t			 len;
	int			 r;

	if ((r = blob_read(id, IDENTITY_TLS_KEY_TPM, path, &blob, &len,
	    ret_err)) < 0)
		return r;
	if ((r = tls_key_of(id, (unsigned char *)blob, len, ret_key,
	    &err)) < 0)
		return errf(r, ret_err, "%s: %s", path, err ? err :
		    bw_strerror(r));
	return 0;
}

static int
tls_key_create(void *ctx, EVP_PKEY **ret_key, char **ret_err)
{
	struct identity			*id = ctx;
	_cleanup_free_ unsigned char	*blob = NULL;
	EVP_PKEY			*key = NULL;
	size_t				 len = 0;
	int				 r;

	pthread_mutex_lock(&id->mu);
	r = tpm_key_create(id->tpm, &blob, &len, ret_err);
	pthread_mutex_unlock(&id->mu);
	if (r < 0 || (r = tls_key_of(id, blob, len, &key, ret_err)) < 0)
		return r;
	/* Held until a certificate for it has passed its checks
	 * (tls_key_keep): the blob on disk stays the key server.crt
	 * certifies. */
	free(id->tls_pending);
	id->tls_pending = TAKE_PTR(blob);
	id->tls_pending_len = len;
	*ret_key = key;
	return 0;
}

static int
tls_key_keep(void *ctx, char **ret_err)
{
	struct identity	*id = ctx;
	char		 path[4200];
	int		 r;

	if (!id->tls_pending)
		return errf(-BW_E_INVALID, ret_err, "no new TLS key to keep");
	if ((r = path_in(path, sizeof(path), id->data_dir,
	    IDENTITY_TLS_KEY_TPM)) < 0)
		return errf(r, ret_err, "data directory path too long");
	if ((r = write_file_atomic_at(AT_FDCWD, path, id->tls_pending,
	    id->tls_pending_len, 0600)) < 0)
		return errf(r, ret_err, "cannot write %s: %s", path,
		    bw_strerror(r));
	free(id->tls_pending);
	id->tls_pending = NULL;
	return 0;
}

/* ---- checkpoint signer ---- */

static int
identity_sign(void *ctx, const unsigned char *digest, size_t dlen,
    unsigned char **ret_sig, size_t *ret_siglen)
{
	struct identity	*id = ctx;
	uint64_t	 t0;
	int		 r;

	pthread_mutex_lock(&id->mu);
	t0 = bw_mono_ns();
	r = tpm_sign_digest(id->signer, digest, dlen, ret_sig, ret_siglen);
	hist_observe_since(&id->tpm_ns[TPM_OP_SIGN], t0);
	pthread_mutex_unlock(&id->mu);
	return r;
}

static int
signer_setup(struct identity *id, char **ret_err)
{
	_cleanup_free_ char	*pem = NULL;
	char			 path[4200], pkidir[4200];
	int			 r;

	if ((r = tpm_signer_open(id->tpm, TPM_SIGNER_HANDLE_DEFAULT,
	    &id->signer, ret_err)) < 0 ||
	    (r = tpm_signer_public_pem(id->signer, &pem, ret_err)) < 0)
		return r;
	if ((r = path_in(path, sizeof(path), id->data_dir,
	    IDENTITY_CHECKPOINT_PUB)) < 0 ||
	    (r = path_in(pkidir, sizeof(pkidir), id->data_dir, "pki")) < 0)
		return errf(r, ret_err, "data directory path too long");
	{
		BIO *bio = BIO_new_mem_buf(pem, -1);

		id->asigner.pubkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL,
		    NULL) : NULL;
		BIO_free(bio);
	}
	if (!id->asigner.pubkey)
		return crypto_errf(-BW_E_CRYPTO, ret_err, "signer public key");
	id->asigner.sign = identity_sign;
	id->asigner.ctx = id;
	if (audit_key_id(id->asigner.pubkey, id->signer_key_id) < 0)
		return -BW_E_CRYPTO;
	if ((r = mkdir_p(pkidir, 0700)) < 0 ||
	    (r = write_file_atomic_at(AT_FDCWD, path, pem, strlen(pem),
	    0644)) < 0)
		return errf(r, ret_err, "cannot write %s: %s", path,
		    bw_strerror(r));
	return 0;
}

/* ---- dictionary-attack lockout ---- */

/* Keys an older bulwarkd made without noDA: every unclean stop of a TPM
 * that had used them counted toward dictionary-attack lockout. Both are
 * replaced by noDA keys: the AK here quotes evidence bundles, each of
 * which names the AK that quoted it (nodes have their own), and a new
 * checkpoint key is a key change the audit trail records
 * (audit.key_change) and keeps naming the old key for the checkpoints
 * it signed. */
static int
replace_legacy_keys(struct identity *id, char **ret_err)
{
	static const struct {
		uint32_t	 handle;
		const char	*name;
	} keys[] = {
		{ TPM_AK_HANDLE_DEFAULT, "AK" },
		{ TPM_SIGNER_HANDLE_DEFAULT, "checkpoint signing key" },
	};
	size_t	i;
	int	r;

	for (i = 0; i < ELEMENTSOF(keys); i++) {
		if ((r = tpm_key_da_protected(id->tpm, keys[i].handle,
		    ret_err)) <= 0) {
			if (r < 0)
				return r;
			continue;
		}
		if ((r = tpm_evict(id->tpm, keys[i].handle, ret_err)) < 0)
			return r;
		log_warn("TPM %s: replaced the %s at 0x%08x, made without noDA "
		    "by an older bulwarkd (unclean stops counted toward "
		    "dictionary-attack lockout)", id->tcti, keys[i].name,
		    keys[i].handle);
	}
	return 0;
}

static void
report_lockout(struct identity *id)
{
	_cleanup_free_ char	*err = NULL;
	struct tpm_da_status	 da;
	char			 what[256];

	if (tpm_da_status(id->tpm, &da, &err) < 0) {
		log_warn("TPM %s: %s", id->tcti, err);
		return;
	}
	tpm_da_status_describe(&da, what, sizeof(what));
	if (da.in_lockout)
		log_error("TPM %s: %s", id->tcti, what);
	else if (da.counter > 0)
		log_warn("TPM %s: %s; this appliance's keys carry noDA and are "
		    "not affected", id->tcti, what);
}

/* ---- open / close ---- */

static int
identity_init(const struct identity_options *o, struct identity **ret,
    char **ret_text, size_t *ret_len, char **ret_err)
{
	struct identity	*id;
	int		 r;

	if ((id = calloc(1, sizeof(*id))))
		for (size_t i = 0; i < ELEMENTSOF(id->tpm_ns); i++)
			hist_init(&id->tpm_ns[i], &hist_seconds);
	if (!id)
		return -ENOMEM;
	pthread_mutex_init(&id->mu, NULL);
	*ret = id;
	snprintf(id->data_dir, sizeof(id->data_dir), "%s", o->data_dir);
	if (o->config_path)
		snprintf(id->config_path, sizeof(id->config_path), "%s",
		    o->config_path);
	else if ((r = path_in(id->config_path, sizeof(id->config_path),
	    o->data_dir, IDENTITY_CONFIG_NAME)) < 0)
		return errf(r, ret_err, "data directory path too long");
	if ((r = config_read(id->config_path, ret_text, ret_len, ret_err)) < 0 ||
	    (r = settings_parse(id->config_path, *ret_text, *ret_len, &id->set,
	    ret_err)) < 0)
		return r;
	if (!EVP_Digest(*ret_text, *ret_len, id->config_sha, NULL,
	    EVP_sha256(), NULL))
		return -BW_E_CRYPTO;
	attest_pcr_mask_format(id->set.quote_pcrs, id->quote_pcrs_text,
	    sizeof(id->quote_pcrs_text));
	return 0;
}

int
identity_open(const struct identity_options *o, struct identity **ret,
    char **ret_err)
{
	struct identity		*id = NULL;
	_cleanup_free_ char	*text = NULL, *err = NULL;
	size_t			 len = 0;
	int			 r;

	if ((r = identity_init(o, &id, &text, &len, ret_err)) < 0)
		goto fail;
	if ((r = tpm_select(id, o, ret_err)) < 0)
		goto fail;
	r = tpm_pcr_measure_config(id->tpm, TPM_BULWARK_PCR, text, len, &err);
	if (r == -BW_E_CONFLICT) {
		log_error("%s", err);
		id->measured = -1;
	} else if (r < 0) {
		r = errf(r, ret_err, "measuring %s: %s", id->config_path,
		    err ? err : bw_strerror(r));
		goto fail;
	} else
		id->measured = r;
	if ((r = replace_legacy_keys(id, ret_err)) < 0)
		goto fail;
	if ((r = tpm_ak_ensure(id->tpm, TPM_AK_HANDLE_DEFAULT, NULL, NULL,
	    ret_err)) < 0)
		goto fail;
	if ((r = signer_setup(id, ret_err)) < 0)
		goto fail;
	report_lockout(id);
	if ((r = root_unseal_or_create(id, ret_err)) < 0)
		goto fail;
	id->custody = (struct pki_key_custody){ .load = ca_load,
	    .store = ca_store, .ctx = id };
	id->tls_custody = (struct pki_server_key_custody){
	    .create = tls_key_create, .keep = tls_key_keep,
	    .load = tls_key_load, .ctx = id };
	log_info("TPM identity ready: %s TPM at %s, configuration %s measured "
	    "into PCR %d, checkpoint key %.16s...", id->software ? "software" :
	    "hardware", id->tcti, id->config_path, TPM_BULWARK_PCR,
	    id->signer_key_id);
	*ret = id;
	return 0;
fail:
	identity_close(id);
	return r;
}

void
identity_close(struct identity *id)
{
	int status;

	if (!id)
		return;
	attest_nonces_free(id->nonces);
	free(id->tls_pending);
	free(id->ca_pem);
	EVP_PKEY_free(id->ca_key);
	EVP_PKEY_free(id->asigner.pubkey);
	tpm_signer_free(id->signer);
	tpm_close(id->tpm);
	root_free(id);
	if (id->swtpm) {
		status = swtpm_stop(id->swtpm);
		if (status < 0)
			log_warn("stopping the private swtpm: %s",
			    bw_strerror(status));
	}
	pthread_mutex_destroy(&id->mu);
	free(id);
}

const struct identity_settings *
identity_settings(const struct identity *id)
{
	return &id->set;
}

const struct audit_signer *
identity_audit_signer(struct identity *id)
{
	return &id->asigner;
}

const struct pki_key_custody *
identity_ca_custody(struct identity *id)
{
	return &id->custody;
}

const struct pki_server_key_custody *
identity_server_key_custody(struct identity *id)
{
	return &id->tls_custody;
}

EVP_PKEY *
identity_ca_key(struct identity *id)
{
	return id->ca_key;
}

json_t *
identity_tpm_json(const struct identity *id)
{
	char seal[64], quote[64], sha[65];

	attest_pcr_mask_format(id->set.seal_pcrs, seal, sizeof(seal));
	attest_pcr_mask_format(id->set.quote_pcrs, quote, sizeof(quote));
	hex_encode(id->config_sha, sizeof(id->config_sha), sha);
	return json_pack("{s:s, s:b, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:b}",
	    "kind", id->software ? "software" : "hardware",
	    "development_only", id->software,
	    "source", id->private_swtpm ? "private swtpm (all-in-one)" :
	    id->software ? "swtpm (--tpm)" : "TPM device",
	    "tcti", id->tcti, "bulwark_pcr", TPM_BULWARK_PCR,
	    "config_sha256", sha, "seal_pcrs", seal, "quote_pcrs", quote,
	    "checkpoint_key_id", id->signer_key_id,
	    "config_measured_this_boot", id->measured >= 0);
}

json_t *
identity_tpm_lockout_json(struct identity *id)
{
	struct tpm_da_status	 da;
	time_t			 now = time(NULL);
	int			 r = 0;

	/* /healthz asks on every request: the TPM is asked at most once per
	 * IDENTITY_DA_CACHE_S, so a flood of requests never queues on it. */
	pthread_mutex_lock(&id->mu);
	if (!id->da_at || now - id->da_at >= IDENTITY_DA_CACHE_S ||
	    now < id->da_at) {
		r = tpm_da_status(id->tpm, &id->da, NULL);
		id->da_at = r == 0 ? now : 0;
	}
	da = id->da;
	pthread_mutex_unlock(&id->mu);
	if (r < 0)
		return json_pack("{s:s}", "error", "the TPM did not report its "
		    "dictionary-attack state");
	return tpm_da_status_json(&da, (long long)now);
}

json_t *
identity_tpm_status_json(struct identity *id)
{
	json_t *o = identity_tpm_json(id);

	if (o)
		json_object_set_new(o, "lockout",
		    identity_tpm_lockout_json(id));
	return o;
}

void
identity_render_metrics(struct identity *id, struct bw_buf *b)
{
	static const char *const ops[] = { "quote", "sign", "verify" };
	char labels[32];

	hist_render_header(b, "bulwark_tpm_operation_duration_seconds",
	    "bulwarkd's TPM operations and the quote verifications of "
	    "attestation, by operation.");
	for (size_t i = 0; i < ELEMENTSOF(ops); i++) {
		snprintf(labels, sizeof(labels), "op=\"%s\"", ops[i]);
		hist_render(b, "bulwark_tpm_operation_duration_seconds",
		    labels, &id->tpm_ns[i]);
	}
}

static void
identity_handler(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *aid, const char *path, void *arg)
{
	struct identity		*id = arg;
	_cleanup_json_ json_t	*o = NULL;
	_cleanup_free_ char	*err = NULL;
	int			 r;

	if (strcmp(path, "/v1/identity") != 0) {
		api_audit(srv, aid, "api.request", NULL, NULL, NULL, "failure",
		    "no such path");
		api_reply_error(srv, req, 404, "not_found", "no such path");
		return;
	}
	/* Same rule as other appliance-wide reads (metrics). */
	if ((r = authz_check(aid, VERB_METRICS, NULL, NULL, &err)) < 0) {
		api_audit(srv, aid, "identity.read", NULL, NULL, NULL, "denied",
		    err);
		api_reply_err(srv, req, r, err);
		return;
	}
	if (!(o = json_pack("{s:o}", "tpm", identity_tpm_status_json(id)))) {
		api_reply_err(srv, req, -ENOMEM, NULL);
		return;
	}
	api_audit(srv, aid, "identity.read", NULL, NULL, NULL, "success", NULL);
	api_reply_json(srv, req, 200, o);
}

int
identity_register_api(struct identity *id, struct api_server *srv)
{
	return api_server_add_handler(srv, "/v1/identity", identity_handler, id);
}

/* ---- evidence bundle quote ---- */

/* The golden values: what the root secret is sealed to. */
static int
evidence_golden(struct identity *id, struct attest_pcrs *ret, char **ret_err)
{
	_cleanup_free_ char	*blob = NULL, *err = NULL;
	char			 path[4200];
	size_t			 len;
	int			 r;

	if ((r = blob_read(id, IDENTITY_ROOT_SEALED, path, &blob, &len,
	    ret_err)) < 0)
		return r == -ENOENT ? errf(r, ret_err, "%s: %s", path,
		    bw_strerror(r)) : r;
	if ((r = attest_sealed_policy((unsigned char *)blob, len, ret,
	    &err)) < 0)
		return errf(-BW_E_CORRUPT, ret_err, "%s: %s; refusing to "
		    "record golden PCR values from it", path, err);
	return 0;
}

static int
evidence_describe(void *ctx, char **ret_ak_pem, json_t **ret_golden,
    const char **ret_source, char **ret_err)
{
	struct identity			*id = ctx;
	_cleanup_free_ unsigned char	*pub = NULL;
	_cleanup_free_ char		*pem = NULL;
	struct attest_pcrs		 golden;
	size_t				 len = 0;
	int				 r;

	if ((r = evidence_golden(id, &golden, ret_err)) < 0)
		return r;
	pthread_mutex_lock(&id->mu);
	r = tpm_ak_ensure(id->tpm, TPM_AK_HANDLE_DEFAULT, &pub, &len, ret_err);
	pthread_mutex_unlock(&id->mu);
	if (r < 0 || (r = attest_pub_to_pem(pub, len, &pem, ret_err)) < 0)
		return r;
	if (!(*ret_golden = attest_pcrs_to_json(&golden)))
		return -ENOMEM;
	*ret_ak_pem = TAKE_PTR(pem);
	*ret_source = "the PCR values the appliance root secret is sealed to "
	    "(" IDENTITY_ROOT_SEALED ": at first start, or by bulwarkd --reseal)";
	return 0;
}

static int
evidence_quote(void *ctx, const unsigned char *nonce, size_t nlen,
    struct evidence_quote *ret, char **ret_err)
{
	struct identity			*id = ctx;
	_cleanup_free_ unsigned char	*blob = NULL;
	struct evidence_quote		 q = { 0 };
	struct attest_pcrs		 golden, pcrs;
	size_t				 len = 0;
	uint64_t			 t0;
	int				 r;

	if ((r = evidence_golden(id, &golden, ret_err)) < 0)
		return r;
	pthread_mutex_lock(&id->mu);
	t0 = bw_mono_ns();
	r = tpm_quote(id->tpm, TPM_AK_HANDLE_DEFAULT, golden.mask, nonce, nlen,
	    &blob, &len, ret_err);
	hist_observe_since(&id->tpm_ns[TPM_OP_QUOTE], t0);
	pthread_mutex_unlock(&id->mu);
	if (r < 0)
		return r;
	if ((r = attest_quote_split(blob, len, &q.attest, &q.attest_len, &q.sig,
	    &q.sig_len, &pcrs)) < 0)
		return errf(r, ret_err, "the TPM's quote: %s", bw_strerror(r));
	if (!(q.pcrs = attest_pcrs_to_json(&pcrs))) {
		evidence_quote_done(&q);
		return -ENOMEM;
	}
	*ret = q;
	return 0;
}

const struct evidence_tpm_ops *
identity_evidence_tpm(struct identity *id)
{
	id->evidence = (struct evidence_tpm_ops){ .describe = evidence_describe,
	    .quote = evidence_quote, .ctx = id };
	return &id->evidence;
}

/* ---- enrolment verifier ---- */

static int
op_ak_pem(void *ctx, const unsigned char *ak, size_t len, char **ret_pem,
    char **ret_err)
{
	int r;

	(void)ctx;
	if ((r = attest_ak_check(ak, len, ret_err)) < 0)
		return r;
	return attest_pub_to_pem(ak, len, ret_pem, ret_err);
}

static int
op_make_credential(void *ctx, const unsigned char *ek, size_t ek_len,
    const unsigned char *ak, size_t ak_len, const unsigned char *secret,
    size_t slen, unsigned char **ret_blob, size_t *ret_len, char **ret_err)
{
	(void)ctx;
	return attest_make_credential(ek, ek_len, ak, ak_len, secret, slen,
	    ret_blob, ret_len, ret_err);
}

static int
op_nonce_issue(void *ctx, const char *node, unsigned char ret[ENROL_NONCE_LEN])
{
	struct identity *id = ctx;

	return attest_nonce_issue(id->nonces, node, ret);
}

static int
op_nonce_consume(void *ctx, const char *node, const unsigned char *nonce,
    size_t len, char **ret_err)
{
	struct identity *id = ctx;

	return attest_nonce_consume(id->nonces, node, nonce, len, ret_err);
}

static int
op_quote_verify(void *ctx, const char *ak_pem, const unsigned char *quote,
    size_t qlen, const unsigned char *qdata, size_t qdlen,
    const json_t *golden, json_t **ret_pcrs, char **ret_err)
{
	struct identity		*id = ctx;
	struct attest_pcrs	 expect, got;
	char			 a[64], b[64];
	uint64_t		 t0 = bw_mono_ns();
	int			 r;

	if (golden && (r = attest_pcrs_from_json(golden, &expect, ret_err)) < 0)
		return r;
	r = attest_quote_verify(ak_pem, quote, qlen, qdata, qdlen,
	    golden ? &expect : NULL, &got, ret_err);
	/* enrol.c calls from the loop thread only */
	hist_observe_since(&id->tpm_ns[TPM_OP_VERIFY], t0);
	if (r < 0)
		return r;
	if (got.mask != id->set.quote_pcrs)
		return errf(-BW_E_DENIED, ret_err, "the quote covers PCRs %s, "
		    "not the required %s", attest_pcr_mask_format(got.mask, a,
		    sizeof(a)), attest_pcr_mask_format(id->set.quote_pcrs, b,
		    sizeof(b)));
	if (ret_pcrs && !(*ret_pcrs = attest_pcrs_to_json(&got)))
		return -ENOMEM;
	return 0;
}

static int
op_issue_cert(void *ctx, const char *node, const char *role,
    const char *pub_pem, unsigned secs, char **ret_cert, char **ret_key,
    char **ret_serial, char **ret_err)
{
	struct identity				*id = ctx;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*pub = NULL;

	if (pub_pem) {
		BIO *bio = BIO_new_mem_buf(pub_pem, -1);

		pub = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
		if (!pub)
			return crypto_errf(-BW_E_INVALID, ret_err,
			    "tls_pub: not a PEM public key");
		if (EVP_PKEY_get_base_id(pub) != EVP_PKEY_EC)
			return errf(-BW_E_INVALID, ret_err,
			    "tls_pub: must be an EC key");
	}
	return pki_issue_for_key(id->pkidir, id->ca_key, node,
	    PKI_SYSTEM_TENANT, role, pub, secs, ret_cert, ret_key, ret_serial,
	    ret_err);
}

static int
op_revoke(void *ctx, const char *serial, char **ret_err)
{
	struct identity *id = ctx;
	int r;

	if ((r = pki_revoke(id->pkidir, serial, ret_err)) < 0)
		return r;
	return pki_revoked_reload(id->revoked, id->pkidir, ret_err);
}

int
identity_enrol_ops(struct identity *id, const char *pkidir,
    struct pki_revoked *revoked, struct enrol_ops *ops, char **ret_err)
{
	char	path[4300];
	size_t	len;
	int	r;

	snprintf(id->pkidir, sizeof(id->pkidir), "%s", pkidir);
	id->revoked = revoked;
	if (!id->nonces &&
	    !(id->nonces = attest_nonces_new(NONCES_CAPACITY, NONCE_TTL_S)))
		return -ENOMEM;
	if ((r = path_in(path, sizeof(path), pkidir, "ca.crt")) < 0)
		return r;
	free(id->ca_pem);
	id->ca_pem = NULL;
	if ((r = read_file_at(AT_FDCWD, path, CRYPTO_PEM_MAX, &id->ca_pem,
	    &len)) < 0)
		return errf(r, ret_err, "%s: %s", path, bw_strerror(r));
	*ops = (struct enrol_ops){
		.ctx = id, .ak_pem = op_ak_pem,
		.make_credential = op_make_credential,
		.nonce_issue = op_nonce_issue, .nonce_consume = op_nonce_consume,
		.quote_verify = op_quote_verify, .issue_cert = op_issue_cert,
		.revoke = op_revoke, .ca_pem = id->ca_pem,
		.quote_pcrs = id->quote_pcrs_text,
	};
	return 0;
}

/* ---- planned re-seal ---- */

static int
trail_lock_free(const char *data_dir, char **ret_err)
{
	_cleanup_close_ int	fd = -1;
	char			path[4200];

	if (path_in(path, sizeof(path), data_dir, "audit/" AUDIT_LOCK_FILE) < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : errf(-errno, ret_err, "%s: %s",
		    path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errf(-EBUSY, ret_err, "bulwarkd is running on %s: stop "
		    "it before --reseal", data_dir);
	return 0;
}

/* The Bulwark PCR must hold the previous configuration's (OLD_SHA)
 * single measurement for the TPM to release the secret: recreate it on
 * a fresh boot (or a fresh private swtpm); any other value cannot be
 * undone before the next boot. *RET_NEXT receives what the PCR will
 * read after the next boot with the new configuration. */
static int
reseal_pcr_prepare(struct identity *id, const char *previous_config,
    const unsigned char *old_sha, struct attest_pcrs *ret_next,
    char **ret_err)
{
	static const unsigned char	 zero[ATTEST_PCR_DIGEST_LEN];
	struct attest_pcrs		 cur, once_old = { 0 }, once_new = { 0 };
	int				 r;

	if ((r = tpm_pcr_read(id->tpm, 1u << TPM_BULWARK_PCR, &cur,
	    ret_err)) < 0)
		return r;
	if ((r = attest_pcr_predict_extend(&once_old, TPM_BULWARK_PCR,
	    old_sha)) < 0 ||
	    (r = attest_pcr_predict_extend(&once_new, TPM_BULWARK_PCR,
	    id->config_sha)) < 0)
		return r;
	if (memcmp(cur.digest[TPM_BULWARK_PCR], zero, sizeof(zero)) == 0) {
		if ((r = tpm_pcr_extend(id->tpm, TPM_BULWARK_PCR, old_sha,
		    ret_err)) < 0)
			return r;
	} else if (memcmp(cur.digest[TPM_BULWARK_PCR],
	    once_old.digest[TPM_BULWARK_PCR], ATTEST_PCR_DIGEST_LEN) != 0) {
		return errf(-BW_E_CONFLICT, ret_err, "PCR %d holds a measurement "
		    "other than %s's this boot: reboot (or restart the TPM) "
		    "with the previous configuration in place, then run "
		    "--reseal before starting bulwarkd", TPM_BULWARK_PCR,
		    previous_config);
	}
	*ret_next = once_new;
	return 0;
}

/* Records the re-seal by ACTOR with OUTCOME and REASON in TRAIL. */
static int
reseal_audit(struct audit_trail *trail, const char *actor,
    const char *outcome, const char *reason)
{
	struct audit_record rec = {
		.actor = actor, .role = "system-admin",
		.tenant = PKI_SYSTEM_TENANT, .source = "local",
		.auth_method = "local-root", .action = "identity.reseal",
		.object_kind = "Appliance", .object_name = "bulwarkd.conf",
		.outcome = outcome, .reason = reason,
		.controls = "CM-3,CM-5,SC-12,SI-7,AU-2",
	};

	return audit_trail_append(trail, &rec, 1, NULL);
}

int
identity_reseal(const struct identity_options *o,
    const char *previous_config, const char *actor, const char *reason,
    char **ret_err)
{
	struct identity			*id = NULL;
	struct audit_trail		*trail = NULL;
	struct audit_trail_options	 ao = { 0 };
	_cleanup_free_ char		*text = NULL, *prev = NULL;
	_cleanup_free_ char		*blob = NULL, *msg = NULL;
	_cleanup_free_ unsigned char	*nblob = NULL;
	struct attest_pcrs		 once_new = { 0 }, pol;
	unsigned char			 old_sha[ATTEST_PCR_DIGEST_LEN];
	char				 path[4200], auditdir[4200], hold[65];
	char				 hnew[65], mbuf[64];
	size_t				 len, plen, blen, nlen;
	int				 r;

	if ((r = trail_lock_free(o->data_dir, ret_err)) < 0)
		return r;
	if ((r = identity_init(o, &id, &text, &len, ret_err)) < 0)
		goto out;
	if ((r = read_file_at(AT_FDCWD, previous_config, IDENTITY_CONFIG_MAX,
	    &prev, &plen)) < 0) {
		r = errf(r, ret_err, "--previous-config %s: %s", previous_config,
		    bw_strerror(r));
		goto out;
	}
	if (!EVP_Digest(prev, plen, old_sha, NULL, EVP_sha256(), NULL)) {
		r = -BW_E_CRYPTO;
		goto out;
	}
	if ((r = path_in(path, sizeof(path), o->data_dir,
	    IDENTITY_ROOT_SEALED)) < 0 ||
	    (r = path_in(auditdir, sizeof(auditdir), o->data_dir, "audit")) < 0)
		goto out;
	if ((r = read_file_at(AT_FDCWD, path, ATTEST_BLOB_MAX, &blob,
	    &blen)) < 0) {
		r = errf(r, ret_err, "%s: %s", path, bw_strerror(r));
		goto out;
	}
	if ((r = tpm_select(id, o, ret_err)) < 0 ||
	    (r = reseal_pcr_prepare(id, previous_config, old_sha, &once_new,
	    ret_err)) < 0)
		goto out;
	if ((r = signer_setup(id, ret_err)) < 0 ||
	    (r = seal_policy(id, id->set.seal_pcrs, id->config_sha, &pol,
	    ret_err)) < 0)
		goto out;
	if ((r = tpm_reseal(id->tpm, (unsigned char *)blob, blen, &pol, &nblob,
	    &nlen, ret_err)) < 0)
		goto out;
	hex_encode(old_sha, sizeof(old_sha), hold);
	hex_encode(id->config_sha, sizeof(id->config_sha), hnew);
	if (asprintf(&msg, "planned re-seal: configuration sha256 %s -> %s "
	    "(%s); sealed to PCRs %s; PCR %d will read %02x%02x%02x%02x... "
	    "after the next boot; reason: %s", hold, hnew, id->config_path,
	    attest_pcr_mask_format(id->set.seal_pcrs, mbuf, sizeof(mbuf)),
	    TPM_BULWARK_PCR, once_new.digest[TPM_BULWARK_PCR][0],
	    once_new.digest[TPM_BULWARK_PCR][1],
	    once_new.digest[TPM_BULWARK_PCR][2],
	    once_new.digest[TPM_BULWARK_PCR][3],
	    reason && *reason ? reason : "(none given)") < 0) {
		msg = NULL;
		r = -ENOMEM;
		goto out;
	}
	/* No audit record, no change: the record is durable before the new
	 * blob replaces the old one. */
	ao.dir = auditdir;
	ao.signer = &id->asigner;
	ao.forward_libaudit = 1;
	ao.forward_syslog = 1;
	if ((r = mkdir_p(auditdir, 0700)) < 0 ||
	    (r = audit_trail_open(&ao, &trail, ret_err)) < 0)
		goto out;
	if ((r = reseal_audit(trail, actor, "success", msg)) < 0) {
		r = errf(r, ret_err, "the re-seal could not be audited; "
		    "nothing changed");
		goto out;
	}
	if ((r = write_file_atomic_at(AT_FDCWD, path, nblob, nlen, 0600)) < 0) {
		(void)reseal_audit(trail, actor, "failure", bw_strerror(r));
		r = errf(r, ret_err, "cannot write %s: %s", path,
		    bw_strerror(r));
		goto out;
	}
	log_info("%s", msg);
	r = 0;
out:
	audit_trail_close(trail);
	identity_close(id);
	return r;
}
