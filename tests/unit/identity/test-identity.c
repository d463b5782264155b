/* daemon/identity.c against a real swtpm: the sealed root secret and
 * the wrapped CA key, the configuration measured into PCR 13 (a changed
 * file in the same boot refuses to unseal, naming PCR 13), TPM-signed
 * audit checkpoints (a trail signed by a software key is rejected with
 * the appliance's key), and the pure helpers (base64, qualifying data). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
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
#include <openssl/x509.h>

#include "audit/signer.h"
#include "audit/trail.h"
#include "audit/verify.h"
#include "controlplane/enrol.h"
#include "daemon/identity.h"
#include "hardening/pki.h"
#include "identity/attest.h"
#include "identity/swtpm.h"
#include "identity/tpm.h"
#include "lib/b64.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "tests/unit/hardening/tmpdir.h"

struct fixture {
	char		*dir;
	struct swtpm	*sw;
};

static int
setup(void **state)
{
	struct fixture	*f = calloc(1, sizeof(*f));
	char		 tpmdir[4200];
	char		*err = NULL;

	setenv("TSS2_LOG", "all+NONE", 1);
	if (!f || !(f->dir = tmpdir_make()))
		return -1;
	snprintf(tpmdir, sizeof(tpmdir), "%s/swtpm", f->dir);
	if (swtpm_start(tpmdir, &f->sw, &err) < 0) {
		fprintf(stderr, "swtpm: %s\n", err ? err : "?");
		free(err);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	swtpm_stop(f->sw);
	tmpdir_remove(f->dir);	/* frees the path too */
	free(f);
	return 0;
}

static void
path(char *buf, size_t len, const struct fixture *f, const char *name)
{
	snprintf(buf, len, "%s/%s", f->dir, name);
}

static struct identity_options
opts(const struct fixture *f)
{
	return (struct identity_options){ .data_dir = f->dir,
	    .tcti = swtpm_tcti(f->sw) };
}

/* The root secret is created and sealed on first open, unsealed on the
 * next; the CA key given to the custodian comes back equal, and a
 * tampered wrapped key is refused. */
/* Checks the wrapped key file NAME holds no PEM private key, then flips
 * its last byte. */
static void
damage_wrapped(const struct fixture *f, const char *name)
{
	char	p[4300], *buf = NULL;
	size_t	len;

	path(p, sizeof(p), f, name);
	assert_int_equal(read_file_at(AT_FDCWD, p, 65536, &buf, &len), 0);
	assert_null(memmem(buf, len, "PRIVATE KEY", 11));
	buf[len - 1] ^= 1;
	assert_int_equal(write_file_atomic_at(AT_FDCWD, p, buf, len, 0600), 0);
	free(buf);
}

static void
test_custody_roundtrip(void **state)
{
	struct fixture			*f = *state;
	struct identity_options		 o = opts(f);
	struct identity			*id = NULL;
	const struct pki_key_custody	*c;
	EVP_PKEY			*key, *back = NULL;
	char				*err = NULL;
	json_t				*j;

	assert_int_equal(identity_open(&o, &id, &err), 0);
	j = identity_tpm_json(id);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "kind")),
	    "software");
	assert_true(json_is_true(json_object_get(j, "development_only")));
	json_decref(j);
	c = identity_ca_custody(id);
	assert_int_equal(c->load(c->ctx, &back, &err), -ENOENT);
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	assert_non_null(key);
	assert_int_equal(c->store(c->ctx, key, &err), 0);
	identity_close(id);
	id = NULL;

	/* Same boot (same swtpm), same configuration: unseals. */
	assert_int_equal(identity_open(&o, &id, &err), 0);
	c = identity_ca_custody(id);
	assert_int_equal(c->load(c->ctx, &back, &err), 0);
	assert_int_equal(EVP_PKEY_eq(key, back), 1);
	EVP_PKEY_free(back);
	back = NULL;

	/* Nothing readable in the wrapped file; one flipped byte refuses. */
	damage_wrapped(f, IDENTITY_CA_KEY_SEALED);
	assert_int_equal(c->load(c->ctx, &back, &err), -BW_E_CORRUPT);
	assert_non_null(strstr(err, "does not decrypt"));
	free(err);
	EVP_PKEY_free(key);
	identity_close(id);
}

/* The server's TLS key: created in the TPM, stored only as its wrapped
 * blob once kept, signs (as libssl asks) in the TPM, and comes back after a
 * restart; a damaged blob is refused. */
static void
test_server_key_custody(void **state)
{
	static const char			 msg[] = "handshake";
	unsigned char				 sig[256], *der = NULL;
	unsigned char				*der2 = NULL;
	size_t					 siglen = sizeof(sig);
	char					*err = NULL, p[4300];
	int					 n, n2;
	EVP_PKEY				*key = NULL;
	EVP_MD_CTX				*m;
	struct fixture				*f = *state;
	struct identity_options			 o = opts(f);
	struct identity				*id = NULL;
	const struct pki_server_key_custody	*c;

	path(p, sizeof(p), f, "pki");
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(identity_open(&o, &id, &err), 0);
	c = identity_server_key_custody(id);
	assert_int_equal(c->load(c->ctx, &key, &err), -ENOENT);
	assert_int_equal(c->create(c->ctx, &key, &err), 0);
	m = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestSignInit(m, NULL, EVP_sha384(), NULL, key), 1);
	assert_int_equal(EVP_DigestSign(m, sig, &siglen,
	    (const unsigned char *)msg, strlen(msg)), 1);
	EVP_MD_CTX_free(m);
	m = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(m, NULL, EVP_sha384(), NULL, key), 1);
	assert_int_equal(EVP_DigestVerify(m, sig, siglen,
	    (const unsigned char *)msg, strlen(msg)), 1);
	EVP_MD_CTX_free(m);
	assert_true((n = i2d_PUBKEY(key, &der)) > 0);
	EVP_PKEY_free(key);
	key = NULL;
	/* A created key is only pending: the current one stays until the
	 * certificate for the new one passed its checks (keep). */
	assert_int_equal(c->load(c->ctx, &key, &err), -ENOENT);
	assert_int_equal(c->keep(c->ctx, &err), 0);
	assert_int_equal(c->keep(c->ctx, &err), -BW_E_INVALID);
	free(err);
	err = NULL;
	identity_close(id);

	assert_int_equal(identity_open(&o, &id, &err), 0);
	c = identity_server_key_custody(id);
	assert_int_equal(c->load(c->ctx, &key, &err), 0);
	assert_true((n2 = i2d_PUBKEY(key, &der2)) > 0);
	assert_memory_equal(der, der2, n);
	assert_int_equal(n, n2);
	EVP_PKEY_free(key);
	key = NULL;

	damage_wrapped(f, IDENTITY_TLS_KEY_TPM);
	assert_true(c->load(c->ctx, &key, &err) < 0);
	assert_null(key);
	assert_non_null(strstr(err, IDENTITY_TLS_KEY_TPM));
	free(err);
	OPENSSL_free(der);
	OPENSSL_free(der2);
	identity_close(id);
}

/* A configuration changed within the same boot: PCR 13 no longer holds
 * the single measurement of the sealed configuration; the daemon must
 * refuse, naming PCR 13. */
static void
test_config_change_refuses(void **state)
{
	struct fixture		*f = *state;
	struct identity_options	 o = opts(f);
	struct identity		*id = NULL;
	char			*err = NULL, p[4300];
	static const char	 changed[] =
	    "{\"attestation\": {\"interval_seconds\": 5}}\n";

	assert_int_equal(identity_open(&o, &id, &err), 0);
	identity_close(id);
	id = NULL;
	path(p, sizeof(p), f, IDENTITY_CONFIG_NAME);
	assert_int_equal(write_file_atomic_at(AT_FDCWD, p, changed,
	    strlen(changed), 0600), 0);
	assert_int_equal(identity_open(&o, &id, &err), -BW_E_DENIED);
	assert_null(id);
	assert_non_null(strstr(err, "PCR 13 changed since it was sealed"));
	assert_non_null(strstr(err, "--reseal"));
	free(err);
}

static void
test_config_errors(void **state)
{
	struct fixture		*f = *state;
	struct identity_options	 o = opts(f);
	struct identity		*id = NULL;
	char			*err = NULL, p[4300];
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "{\"atestation\": {}}", "unknown key \"atestation\"" },
		{ "{\"attestation\": {\"interval_seconds\": 0}}",
		  "interval_seconds: must be an integer 1..86400" },
		{ "{\"seal_pcrs\": \"0,2,4,7\"}", "must include the Bulwark PCR 13" },
		{ "{\"attestation\": {\"interval_seconds\": 60, "
		  "\"stale_after_seconds\": 30}}", "must exceed interval_seconds" },
		{ "[1]", "not a JSON object" },
		{ "{\"store\": {\"map_size_mib\": 1}}",
		  "store.map_size_mib: must be an integer 16..1048576" },
		{ "{\"store\": {\"high_water_percent\": 100}}",
		  "store.high_water_percent: must be an integer 50..99" },
		{ "{\"store\": {\"history\": 5}}", "unknown key \"store.history\"" },
		{ "{\"store\": 5}", "store: must be an object" },
	};
	size_t i;

	path(p, sizeof(p), f, IDENTITY_CONFIG_NAME);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(write_file_atomic_at(AT_FDCWD, p,
		    cases[i].text, strlen(cases[i].text), 0600), 0);
		assert_int_equal(identity_open(&o, &id, &err), -BW_E_INVALID);
		if (!strstr(err, cases[i].msg))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err,
			    cases[i].msg);
		free(err);
		err = NULL;
	}
}

static void
append_some(struct audit_trail *t)
{
	struct audit_record rec = { .actor = "admin", .role = "system-admin",
	    .tenant = "system", .source = "test", .auth_method = "mtls",
	    .action = "tenant.create", .outcome = "success",
	    .controls = "AU-2" };
	int i;

	for (i = 0; i < 5; i++)
		assert_int_equal(audit_trail_append(t, &rec, 1, NULL), 0);
}

static enum audit_damage
verify_with(const char *dir, EVP_PKEY *key)
{
	struct audit_verify_report	rep = { 0 };
	enum audit_damage		d;

	assert_int_equal(audit_verify_dir(dir, key, &rep), 0);
	d = rep.damage;
	audit_verify_report_done(&rep);
	return d;
}

/* Checkpoints signed by the TPM verify with the exported public key;
 * a trail whose checkpoints a software key signed is rejected with the
 * appliance's key, and the TPM trail with the software key. */
static void
test_tpm_checkpoints(void **state)
{
	struct fixture			*f = *state;
	struct identity_options		 o = opts(f);
	struct identity			*id = NULL;
	struct audit_signer		*soft = NULL;
	struct audit_trail		*t = NULL;
	struct audit_trail_options	 ao = { 0 };
	EVP_PKEY			*pub = NULL;
	char				*err = NULL, tdir[4300], sdir[4300];
	char				 skey[4300], pubpath[4300];

	assert_int_equal(identity_open(&o, &id, &err), 0);
	path(tdir, sizeof(tdir), f, "audit-tpm");
	path(sdir, sizeof(sdir), f, "audit-soft");
	path(skey, sizeof(skey), f, "soft.key");
	path(pubpath, sizeof(pubpath), f, IDENTITY_CHECKPOINT_PUB);
	assert_int_equal(audit_signer_software_load_or_create(skey, &soft,
	    &err), 0);
	assert_int_equal(audit_pubkey_load(pubpath, &pub, &err), 0);
	assert_int_equal(EVP_PKEY_eq(pub, identity_audit_signer(id)->pubkey), 1);

	ao.dir = tdir;
	ao.signer = identity_audit_signer(id);
	assert_int_equal(audit_trail_open(&ao, &t, &err), 0);
	append_some(t);
	audit_trail_close(t);
	ao.dir = sdir;
	ao.signer = soft;
	assert_int_equal(audit_trail_open(&ao, &t, &err), 0);
	append_some(t);
	audit_trail_close(t);

	assert_int_equal(verify_with(tdir, pub), AUDIT_OK);
	assert_int_equal(verify_with(sdir, pub), AUDIT_BAD_SIGNATURE);
	assert_int_equal(verify_with(tdir, soft->pubkey), AUDIT_BAD_SIGNATURE);
	EVP_PKEY_free(pub);
	audit_signer_free(soft);
	identity_close(id);
}

static void
test_b64(void **state)
{
	static const char *const bad[] = { "A", "AB=C", "ABC$", "AB==AB==",
	    "AB=", "QR==" };
	unsigned char	 buf[256], *out = NULL;
	char		*s = NULL, hex[9];
	size_t		 i, n, len;

	(void)state;
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	for (n = 0; n < 10; n++) {
		assert_int_equal(b64_encode(buf, n, &s), 0);
		assert_int_equal(b64_decode(s, 64, &out, &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(out, buf, n);
		free(s);
		free(out);
	}
	assert_int_equal(b64_encode("hello", 5, &s), 0);
	assert_string_equal(s, "aGVsbG8=");
	assert_int_equal(b64_decode(s, 4, &out, &len), -BW_E_TOOLARGE);
	free(s);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(b64_decode(bad[i], 64, &out, &len),
		    -BW_E_INVALID);
	assert_string_equal(hex_encode("\x01\xab\xff\x00", 4, hex), "01abff00");
	assert_int_equal(hex_decode("01ABff00", buf, 4), 0);
	assert_memory_equal(buf, "\x01\xab\xff\x00", 4);
	assert_int_equal(hex_decode("01abff0", buf, 4), -BW_E_INVALID);
	assert_int_equal(hex_decode("01abfg00", buf, 4), -BW_E_INVALID);
}

/* The enrolment quote binds the TLS key: another key, another value. */
static void
test_qualifying_data(void **state)
{
	unsigned char n[32] = { 1 }, a[32], b[32], c[32];

	(void)state;
	assert_int_equal(attest_qualifying_data(n, sizeof(n), "key-a", a), 0);
	assert_int_equal(attest_qualifying_data(n, sizeof(n), "key-a", b), 0);
	assert_memory_equal(a, b, 32);
	assert_int_equal(attest_qualifying_data(n, sizeof(n), "key-b", c), 0);
	assert_memory_not_equal(a, c, 32);
	n[0] = 2;
	assert_int_equal(attest_qualifying_data(n, sizeof(n), "key-a", c), 0);
	assert_memory_not_equal(a, c, 32);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_custody_roundtrip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_server_key_custody, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_config_change_refuses,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tpm_checkpoints, setup,
		    teardown),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_qualifying_data),
	};

	if (access(SWTPM_BINARY, X_OK) < 0) {
		printf("1..0 # SKIP %s not installed\n", SWTPM_BINARY);
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
