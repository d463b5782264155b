#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
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

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>

#include "hardening/crypto-policy.h"
#include "hardening/pki.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "tests/unit/hardening/tmpdir.h"

static const char *const pair_names[] = { "ca", "server", "admin", "auditor" };

static const char *
in(const char *dir, const char *name)
{
	static char	buf[4][PATH_MAX];
	static int	slot;
	char		*p = buf[slot++ % 4];

	if ((size_t)snprintf(p, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
		fail_msg("path too long");
	return p;
}

static int
setup_dir(void **state)
{
	char *d = tmpdir_make();

	if (!d)
		return -1;
	*state = d;
	return 0;
}

static int
teardown_dir(void **state)
{
	tmpdir_remove(*state);
	return 0;
}

static X509 *
load_cert(const char *path)
{
	STACK_OF(X509)	*certs = NULL;
	char		*err = NULL;
	X509		*x;

	assert_int_equal(crypto_load_certs(path, &certs, &err), 0);
	x = sk_X509_shift(certs);
	sk_X509_pop_free(certs, X509_free);
	return x;
}

static X509 *
parse_cert(const char *pem)
{
	STACK_OF(X509)	*certs = NULL;
	char		*err = NULL;
	X509		*x;

	assert_int_equal(crypto_parse_certs(pem, strlen(pem), "pem", &certs,
	    &err), 0);
	x = sk_X509_shift(certs);
	sk_X509_pop_free(certs, X509_free);
	return x;
}

static int
verify(X509 *ca, X509 *cert, int purpose)
{
	X509_STORE	*store = X509_STORE_new();
	X509_STORE_CTX	*ctx = X509_STORE_CTX_new();
	int		 ok;

	assert_non_null(store);
	assert_non_null(ctx);
	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	X509_STORE_set_flags(store, X509_V_FLAG_X509_STRICT);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, cert, NULL), 1);
	assert_int_equal(X509_STORE_CTX_set_purpose(ctx, purpose), 1);
	ok = X509_verify_cert(ctx) == 1 ? 0 : X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

static void
subject_entry(X509 *x, int nid, char *buf, size_t size)
{
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), nid,
	    buf, (int)size) > 0);
}

static void
test_policy_status_is_honest(void **state)
{
	struct crypto_status	st;
	int			r;

	(void)state;
	r = crypto_policy_init(&st);
	assert_int_equal(r, 0);
	assert_non_null(strstr(st.openssl_version, "OpenSSL 3"));
	/* The record must agree with OpenSSL itself. */
	assert_int_equal(st.fips_provider_available,
	    OSSL_PROVIDER_available(NULL, "fips") == 1);
	assert_int_equal(st.fips_mode,
	    EVP_default_properties_is_fips_enabled(NULL) == 1);
	if (!st.fips_provider_available) {
		assert_false(st.fips_mode);
		assert_string_equal(crypto_policy_mode(&st),
		    "approved-algorithms-only");
		assert_null(strstr(st.providers, "fips"));
	} else
		assert_string_equal(crypto_policy_mode(&st), "fips-provider");
	assert_non_null(strstr(st.providers, st.fips_mode ? "fips" :
	    "default"));
	print_message("# openssl=\"%s\" fips_provider=%d fips_mode=%d "
	    "providers=%s\n", st.openssl_version, st.fips_provider_available,
	    st.fips_mode, st.providers);
	/* Idempotent. */
	assert_int_equal(crypto_policy_init(NULL), r);
}

static void
test_init_creates_files_with_modes(void **state)
{
	const char		*dir = *state;
	const char *const	 names[] = { "bulwark.example", NULL };
	const char *const	 ips[] = { "10.1.2.3", "fd00::7", NULL };
	struct pki_init_options	 o = { .server_names = names,
	    .server_ips = ips };
	char			*err = NULL;
	char			 pkidir[PATH_MAX];
	struct stat		 st;
	size_t			 i;

	/* Also creates missing parents. */
	snprintf(pkidir, sizeof(pkidir), "%s/etc/pki", dir);
	assert_int_equal(pki_init_dir(pkidir, &o, &err), 0);
	assert_null(err);
	assert_int_equal(stat(pkidir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	for (i = 0; i < ELEMENTSOF(pair_names); i++) {
		char n[64];

		snprintf(n, sizeof(n), "%s.key", pair_names[i]);
		assert_int_equal(lstat(in(pkidir, n), &st), 0);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0600);
		snprintf(n, sizeof(n), "%s.crt", pair_names[i]);
		assert_int_equal(lstat(in(pkidir, n), &st), 0);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0644);
	}
	/* No temporary files left behind. */
	assert_int_equal(access(in(pkidir, "revoked"), F_OK), -1);
}

struct snapshot {
	ino_t	ino[8];
	char	*text[8];
};

static void
snapshot_take(const char *dir, struct snapshot *s)
{
	size_t i;

	for (i = 0; i < 8; i++) {
		char		n[64];
		struct stat	st;
		size_t		len;

		snprintf(n, sizeof(n), "%s.%s", pair_names[i / 2],
		    i % 2 ? "key" : "crt");
		assert_int_equal(stat(in(dir, n), &st), 0);
		s->ino[i] = st.st_ino;
		assert_int_equal(read_file_at(AT_FDCWD, in(dir, n), 65536,
		    &s->text[i], &len), 0);
	}
}

static void
snapshot_free(struct snapshot *s)
{
	size_t i;

	for (i = 0; i < 8; i++)
		free(s->text[i]);
}

static void
test_init_is_idempotent(void **state)
{
	const char	*dir = *state;
	struct snapshot	 a, b, c;
	char		*err = NULL;
	X509		*ca, *server;
	size_t		 i;

	assert_int_equal(pki_init_dir(dir, NULL, &err), 0);
	snapshot_take(dir, &a);
	assert_int_equal(pki_init_dir(dir, NULL, &err), 0);
	assert_null(err);
	snapshot_take(dir, &b);
	for (i = 0; i < 8; i++) {
		assert_int_equal(a.ino[i], b.ino[i]);
		assert_string_equal(a.text[i], b.text[i]);
	}

	/* A lost pair is reissued alone. A key without its certificate
	 * (an interrupted run) is replaced. */
	assert_int_equal(unlink(in(dir, "admin.crt")), 0);
	assert_int_equal(unlink(in(dir, "admin.key")), 0);
	assert_int_equal(unlink(in(dir, "server.crt")), 0);
	assert_int_equal(pki_init_dir(dir, NULL, &err), 0);
	snapshot_take(dir, &c);
	for (i = 0; i < 8; i++) {
		const char *base = pair_names[i / 2];

		if (strcmp(base, "admin") == 0 || strcmp(base, "server") == 0)
			assert_string_not_equal(a.text[i], c.text[i]);
		else
			assert_string_equal(a.text[i], c.text[i]);
	}
	ca = load_cert(in(dir, "ca.crt"));
	server = load_cert(in(dir, "server.crt"));
	assert_int_equal(verify(ca, server, X509_PURPOSE_SSL_SERVER), 0);
	X509_free(ca);
	X509_free(server);
	snapshot_free(&a);
	snapshot_free(&b);
	snapshot_free(&c);
}

static void
expect_init_error(const char *dir, const char *needle)
{
	char *err = NULL;

	assert_true(pki_init_dir(dir, NULL, &err) < 0);
	assert_non_null(err);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
	free(err);
}

static void
copy_file(const char *from, const char *to, mode_t mode)
{
	char	*text = NULL;
	size_t	 len;

	assert_int_equal(read_file_at(AT_FDCWD, from, 65536, &text, &len), 0);
	assert_int_equal(write_file_atomic_at(AT_FDCWD, to, text, len, mode),
	    0);
	free(text);
}

static void *
init_thread(void *dir)
{
	char	*err = NULL;
	int	 r = pki_init_dir(dir, NULL, &err);

	free(err);
	return (void *)(intptr_t)r;
}

/* Concurrent first runs (a daemon and an installer, say) serialise on
 * the directory lock: one creates, the others validate, and every
 * leaf chains to the one CA that ended up on disk. */
static void
test_init_concurrent(void **state)
{
	const char	*dir = *state;
	pthread_t	 th[4];
	void		*rv;
	X509		*ca, *leaf;
	size_t		 i;

	for (i = 0; i < ELEMENTSOF(th); i++)
		assert_int_equal(pthread_create(&th[i], NULL, init_thread,
		    (void *)dir), 0);
	for (i = 0; i < ELEMENTSOF(th); i++) {
		assert_int_equal(pthread_join(th[i], &rv), 0);
		assert_int_equal((intptr_t)rv, 0);
	}
	ca = load_cert(in(dir, "ca.crt"));
	for (i = 1; i < ELEMENTSOF(pair_names); i++) {
		char n[64];

		snprintf(n, sizeof(n), "%s.crt", pair_names[i]);
		leaf = load_cert(in(dir, n));
		assert_int_equal(verify(ca, leaf, i == 1 ?
		    X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT), 0);
		X509_free(leaf);
	}
	X509_free(ca);
}

static void
test_init_refuses_damaged_files(void **state)
{
	const char	*dir = *state;
	char		*err = NULL, *other;

	assert_int_equal(pki_init_dir(dir, NULL, &err), 0);

	/* A certificate whose key is gone cannot be repaired. */
	assert_int_equal(rename(in(dir, "auditor.key"), in(dir, "k.bak")), 0);
	expect_init_error(dir, "auditor.crt: present without auditor.key");
	assert_int_equal(rename(in(dir, "k.bak"), in(dir, "auditor.key")), 0);

	/* A readable private key is refused, not silently used. */
	assert_int_equal(chmod(in(dir, "server.key"), 0644), 0);
	expect_init_error(dir, "server.key: mode 0644");
	assert_int_equal(chmod(in(dir, "server.key"), 0600), 0);

	/* A symlink in place of a key is refused. */
	assert_int_equal(rename(in(dir, "admin.key"), in(dir, "k.bak")), 0);
	assert_int_equal(symlink("k.bak", in(dir, "admin.key")), 0);
	expect_init_error(dir, "admin.key: not a regular file");
	assert_int_equal(unlink(in(dir, "admin.key")), 0);
	assert_int_equal(rename(in(dir, "k.bak"), in(dir, "admin.key")), 0);

	/* Swapped keys do not match. */
	assert_int_equal(rename(in(dir, "admin.key"), in(dir, "k.bak")), 0);
	copy_file(in(dir, "auditor.key"), in(dir, "admin.key"), 0600);
	expect_init_error(dir, "admin.key: does not match admin.crt");
	assert_int_equal(rename(in(dir, "k.bak"), in(dir, "admin.key")), 0);

	/* Garbage instead of a certificate. */
	assert_int_equal(rename(in(dir, "ca.crt"), in(dir, "c.bak")), 0);
	assert_int_equal(write_file_atomic_at(AT_FDCWD, in(dir, "ca.crt"),
	    "hello\n", 6, 0644), 0);
	expect_init_error(dir, "ca.crt: no PEM certificate found");
	assert_int_equal(rename(in(dir, "c.bak"), in(dir, "ca.crt")), 0);

	/* A leaf from another CA is named, with the way out. */
	assert_non_null(other = tmpdir_make());
	assert_int_equal(pki_init_dir(other, NULL, &err), 0);
	copy_file(in(other, "admin.crt"), in(dir, "admin.crt"), 0644);
	copy_file(in(other, "admin.key"), in(dir, "admin.key"), 0600);
	expect_init_error(dir, "admin.crt: unable to get local issuer "
	    "certificate; remove admin.crt and admin.key to reissue");
	tmpdir_remove(other);

	/* Bad options are refused before anything is written. */
	{
		const char *const	bad[] = { "a,IP:1.2.3.4", NULL };
		struct pki_init_options	o = { .server_names = bad };
		char			*e = NULL;

		assert_int_equal(pki_init_dir(in(dir, "new"), &o, &e),
		    -BW_E_INVALID);
		assert_non_null(strstr(e, "server name \"a,IP:1.2.3.4\""));
		free(e);
		assert_int_equal(access(in(dir, "new"), F_OK), -1);
	}
	/* Addresses typed wrong are not taken as names, and an IPv4
	 * address in IPv6 form is not taken as an address. */
	{
		const char *const	badn[] = { "10.0.0.256", "010.0.0.1",
		    "1.2.3", "7", NULL };
		const char *const	badip[] = { "::ffff:10.0.0.1", NULL };
		struct pki_init_options	o = { 0 };
		const char *const	*p;
		char			*e = NULL;

		for (p = badn; *p; p++) {
			const char *one[] = { *p, NULL };

			o.server_names = one;
			assert_int_equal(pki_init_dir(in(dir, "new"), &o, &e),
			    -BW_E_INVALID);
			assert_non_null(strstr(e, "not an IPv4 address"));
			free(e);
			e = NULL;
		}
		o.server_names = NULL;
		o.server_ips = badip;
		assert_int_equal(pki_init_dir(in(dir, "new"), &o, &e),
		    -BW_E_INVALID);
		assert_non_null(strstr(e, "give the IPv4 form"));
		free(e);
		assert_int_equal(access(in(dir, "new"), F_OK), -1);
	}
}

static bool
has_ext(X509 *x, int nid, int *crit)
{
	int idx = X509_get_ext_by_NID(x, nid, -1);

	if (idx < 0)
		return false;
	*crit = X509_EXTENSION_get_critical(X509_get_ext(x, idx));
	return true;
}

static void
check_common(X509 *x, X509 *ca)
{
	EVP_PKEY		*pk = X509_get0_pubkey(x);
	char			 group[32];
	const ASN1_INTEGER	*serial = X509_get0_serialNumber(x);
	const ASN1_OCTET_STRING	*ski, *akid;
	int			 crit;

	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA384);
	assert_non_null(pk);
	assert_true(EVP_PKEY_is_a(pk, "EC"));
	assert_int_equal(EVP_PKEY_get_utf8_string_param(pk, "group", group,
	    sizeof(group), NULL), 1);
	assert_string_equal(group, "secp384r1");
	/* A 16-octet positive serial with the top bits fixed. */
	assert_int_equal(ASN1_STRING_length(serial), 16);
	assert_int_equal(ASN1_STRING_type(serial), V_ASN1_INTEGER);
	assert_true(has_ext(x, NID_basic_constraints, &crit) && crit);
	assert_true(has_ext(x, NID_key_usage, &crit) && crit);
	assert_non_null(ski = X509_get0_subject_key_id(x));
	assert_non_null(akid = X509_get0_authority_key_id(x));
	assert_int_equal(ASN1_STRING_cmp(akid, X509_get0_subject_key_id(ca)),
	    0);
}

static void
test_certificate_profiles(void **state)
{
	const char		*dir = *state;
	const char *const	 names[] = { "api.bulwark.example", NULL };
	const char *const	 ips[] = { "192.0.2.10", NULL };
	struct pki_init_options	 o = { .server_names = names,
	    .server_ips = ips };
	char			*err = NULL, buf[128];
	X509			*ca, *server, *admin, *auditor;
	time_t			 now = time(NULL);
	int			 days, secs;

	assert_int_equal(pki_init_dir(dir, &o, &err), 0);
	ca = load_cert(in(dir, "ca.crt"));
	server = load_cert(in(dir, "server.crt"));
	admin = load_cert(in(dir, "admin.crt"));
	auditor = load_cert(in(dir, "auditor.crt"));
	check_common(ca, ca);
	check_common(server, ca);
	check_common(admin, ca);
	check_common(auditor, ca);

	/* CA: signs certificates, not leaves; about ten years. */
	assert_int_equal(X509_check_ca(ca), 1);
	assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
	assert_false(X509_get_key_usage(ca) & KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_pathlen(ca), 0);
	assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL,
	    X509_get0_notAfter(ca)), 1);
	assert_true(days >= PKI_CA_DAYS - 1 && days <= PKI_CA_DAYS);

	/* Server: serverAuth only, the SANs asked for, one year. */
	assert_int_equal(X509_check_ca(server), 0);
	assert_int_equal(X509_get_extended_key_usage(server), XKU_SSL_SERVER);
	assert_int_equal(X509_get_key_usage(server), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_check_host(server, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(server, "api.bulwark.example", 0, 0,
	    NULL), 1);
	assert_int_equal(X509_check_host(server, "evil.example", 0, 0, NULL),
	    0);
	assert_int_equal(X509_check_ip_asc(server, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(server, "::1", 0), 1);
	assert_int_equal(X509_check_ip_asc(server, "192.0.2.10", 0), 1);
	assert_int_equal(X509_check_ip_asc(server, "192.0.2.11", 0), 0);
	assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL,
	    X509_get0_notAfter(server)), 1);
	assert_true(days >= PKI_SERVER_DAYS - 1 && days <= PKI_SERVER_DAYS);
	/* Backdated a little for clock skew, never into the future. */
	assert_true(X509_cmp_time(X509_get0_notBefore(server), &now) < 0);
	assert_int_equal(verify(ca, server, X509_PURPOSE_SSL_SERVER), 0);
	assert_int_equal(verify(ca, server, X509_PURPOSE_SSL_CLIENT),
	    X509_V_ERR_INVALID_PURPOSE);

	/* Admin and auditor: clientAuth, the right subject. */
	assert_int_equal(X509_get_extended_key_usage(admin), XKU_SSL_CLIENT);
	subject_entry(admin, NID_commonName, buf, sizeof(buf));
	assert_string_equal(buf, "admin");
	subject_entry(admin, NID_organizationName, buf, sizeof(buf));
	assert_string_equal(buf, "system");
	subject_entry(admin, NID_organizationalUnitName, buf, sizeof(buf));
	assert_string_equal(buf, "system-admin");
	subject_entry(auditor, NID_commonName, buf, sizeof(buf));
	assert_string_equal(buf, "auditor");
	subject_entry(auditor, NID_organizationalUnitName, buf, sizeof(buf));
	assert_string_equal(buf, "security-auditor");
	assert_int_equal(verify(ca, admin, X509_PURPOSE_SSL_CLIENT), 0);
	assert_int_equal(verify(ca, admin, X509_PURPOSE_SSL_SERVER),
	    X509_V_ERR_INVALID_PURPOSE);
	assert_int_equal(verify(ca, auditor, X509_PURPOSE_SSL_CLIENT), 0);
	/* Serials differ. */
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(admin),
	    X509_get0_serialNumber(auditor)), 0);
	X509_free(ca);
	X509_free(server);
	X509_free(admin);
	X509_free(auditor);
}

static void
test_issue_client(void **state)
{
	const char		*dir = *state;
	char			*err = NULL, *cert_pem = NULL, *key_pem = NULL;
	char			*serial = NULL, buf[128];
	X509			*ca, *cert;
	EVP_PKEY		*key = NULL;
	struct pki_identity	 id;
	time_t			 now = time(NULL);

	assert_int_equal(pki_init_dir(dir, NULL, &err), 0);
	assert_int_equal(pki_issue_client(dir, "alice", "acme", "tenant-admin",
	    30, NULL, &cert_pem, &key_pem, &serial, &err), 0);
	assert_null(err);
	ca = load_cert(in(dir, "ca.crt"));
	cert = parse_cert(cert_pem);
	check_common(cert, ca);
	assert_int_equal(verify(ca, cert, X509_PURPOSE_SSL_CLIENT), 0);
	subject_entry(cert, NID_commonName, buf, sizeof(buf));
	assert_string_equal(buf, "alice");
	subject_entry(cert, NID_organizationName, buf, sizeof(buf));
	assert_string_equal(buf, "acme");
	subject_entry(cert, NID_organizationalUnitName, buf, sizeof(buf));
	assert_string_equal(buf, "tenant-admin");
	assert_int_equal(crypto_parse_key(key_pem, strlen(key_pem), "key",
	    &key, &err), 0);
	assert_int_equal(X509_check_private_key(cert, key), 1);
	assert_non_null(strstr(key_pem, "BEGIN PRIVATE KEY"));

	assert_int_equal(pki_peer_identity(cert, &id), 0);
	assert_string_equal(id.principal, "alice");
	assert_string_equal(id.tenant, "acme");
	assert_string_equal(id.role, "tenant-admin");
	assert_string_equal(id.serial_hex, serial);
	assert_int_equal(strlen(serial), 32);
	assert_true(id.not_after > now + 29 * 86400 &&
	    id.not_after <= now + 30 * 86400 + 5);

	/* Nothing was written to the PKI directory. */
	assert_int_equal(access(in(dir, "alice.crt"), F_OK), -1);
	EVP_PKEY_free(key);
	X509_free(cert);
	X509_free(ca);
	free(cert_pem);
	crypto_secret_free(key_pem);
	free(serial);
}

static void
test_issue_rejects_bad_input(void **state)
{
	static const struct {
		const char	*name, *tenant, *role;
		unsigned	 days;
		const char	*msg;
	} cases[] = {
		{ "", "acme", "tenant-user", 30, "name: must not be empty" },
		{ "Alice", "acme", "tenant-user", 30,
		  "name: character 'A' at position 1 not allowed" },
		{ "-bob", "acme", "tenant-user", 30,
		  "name: must not start with '-'" },
		{ "bob-", "acme", "tenant-user", 30,
		  "name: must not end with '-'" },
		{ "a.b", "acme", "tenant-user", 30,
		  "name: character '.' at position 2 not allowed" },
		{ "b\xc3\xa9", "acme", "tenant-user", 30,
		  "name: byte 0xc3 at position 2 not allowed" },
		{ "a,O=system", "acme", "tenant-user", 30,
		  "name: character ',' at position 2 not allowed" },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaa", "acme", "tenant-user", 30,
		  "name: longer than 63 characters" },
		{ "bob", "ac_me", "tenant-user", 30,
		  "tenant: character '_' at position 3 not allowed" },
		{ "bob", "acme", "root", 30, "role: \"root\" is not one of "
		  "system-admin, security-auditor, tenant-admin, tenant-user" },
		{ "bob", "acme", "system-admin", 30,
		  "role: system-admin belongs to tenant \"system\", not "
		  "\"acme\"" },
		{ "bob", "system", "tenant-user", 30,
		  "role: tenant-user cannot belong to tenant \"system\"" },
		{ "bob", "acme", "tenant-user", 0, "days: must be 1..3650, "
		  "not 0" },
		{ "bob", "acme", "tenant-user", 3651, "days: must be 1..3650, "
		  "not 3651" },
	};
	const char	*dir = *state;
	char		*err = NULL, *cert = NULL;
	size_t		 i;

	assert_int_equal(pki_init_dir(dir, NULL, &err), 0);
	for (i = 0; i < ELEMENTSOF(cases); i++) {
		assert_int_equal(pki_issue_client(dir, cases[i].name,
		    cases[i].tenant, cases[i].role, cases[i].days, NULL, &cert,
		    NULL, NULL, &err), -BW_E_INVALID);
		assert_null(cert);
		assert_non_null(err);
		if (strncmp(err, cases[i].msg, strlen(cases[i].msg)) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err,
			    cases[i].msg);
		free(err);
		err = NULL;
	}
	/* No CA: a precise error, nothing created. */
	assert_true(pki_issue_client(in(dir, "nope"), "bob", "acme",
	    "tenant-user", 1, NULL, &cert, NULL, NULL, &err) < 0);
	assert_non_null(strstr(err, "nope: No such file or directory"));
	free(err);
	/* A second, independent validity ceiling: the CA's own expiry. */
	{
		struct pki_init_options o = { .ca_days = 10 };
		char *d2 = tmpdir_make();

		err = NULL;
		assert_int_equal(pki_init_dir(d2, &o, &err), 0);
		assert_int_equal(pki_issue_client(d2, "bob", "acme",
		    "tenant-user", 30, NULL, &cert, NULL, NULL, &err),
		    -BW_E_INVALID);
		assert_string_equal(err, "days: 30 would outlive the CA "
		    "certificate");
		free(err);
		tmpdir_remove(d2);
	}
}

/* Self-signs a certificate with whatever subject fields are given, to
 * feed pki_peer_identity() subjects our CA would never issue. */
static X509 *
make_cert(const char *const *fields)
{
	X509		*x = X509_new();
	X509_NAME	*n = X509_get_subject_name(x);
	EVP_PKEY	*k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ASN1_INTEGER	*s = X509_get_serialNumber(x);

	assert_non_null(k);
	for (; fields && fields[0]; fields += 2)
		assert_int_equal(X509_NAME_add_entry_by_txt(n, fields[0],
		    MBSTRING_UTF8, (const unsigned char *)fields[1], -1, -1,
		    0), 1);
	assert_int_equal(ASN1_INTEGER_set(s, 0x1234), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	EVP_PKEY_free(k);
	return x;
}

static void
test_peer_identity_requires_all_fields(void **state)
{
	const char *const ok[] = { "O", "acme", "OU", "tenant-user", "CN",
	    "bob", NULL };
	const char *const no_ou[] = { "O", "acme", "CN", "bob", NULL };
	const char *const no_cn[] = { "O", "acme", "OU", "tenant-user", NULL };
	const char *const no_o[] = { "OU", "tenant-user", "CN", "bob", NULL };
	const char *const two_cn[] = { "O", "acme", "OU", "tenant-user", "CN",
	    "bob", "CN", "admin", NULL };
	const char *const bad_role[] = { "O", "acme", "OU", "server", "CN",
	    "bob", NULL };
	const char *const sys_role[] = { "O", "acme", "OU", "system-admin",
	    "CN", "bob", NULL };
	const char *const upper[] = { "O", "acme", "OU", "tenant-user", "CN",
	    "Bob", NULL };
	const char *const *bad[] = { no_ou, no_cn, no_o, two_cn, bad_role,
	    sys_role, upper };
	struct pki_identity	 id;
	X509			*x;
	size_t			 i;

	(void)state;
	x = make_cert(ok);
	assert_int_equal(pki_peer_identity(x, &id), 0);
	assert_string_equal(id.principal, "bob");
	assert_string_equal(id.serial_hex, "1234");
	X509_free(x);
	for (i = 0; i < ELEMENTSOF(bad); i++) {
		memset(&id, 0x5a, sizeof(id));
		x = make_cert(bad[i]);
		if (pki_peer_identity(x, &id) != -BW_E_UNAUTH)
			fail_msg("case %zu accepted", i);
		/* Output untouched on failure. */
		assert_int_equal((unsigned char)id.principal[0], 0x5a);
		X509_free(x);
	}
	assert_int_equal(pki_peer_identity(NULL, &id), -BW_E_UNAUTH);
}

static void
test_revocation(void **state)
{
	const char		*dir = *state;
	struct pki_revoked	*set = NULL;
	char			*err = NULL, norm[PKI_SERIAL_HEX_MAX + 1];

	assert_int_equal(pki_init_dir(dir, NULL, &err), 0);
	/* No file yet: empty, nothing revoked. */
	assert_int_equal(pki_revoked_load(dir, &set, &err), 0);
	assert_int_equal(pki_revoked_count(set), 0);
	assert_false(pki_is_revoked(set, "abcd"));

	assert_int_equal(pki_revoke(dir, "00ABCD", &err), 0);
	assert_int_equal(pki_revoke(dir, "7f00112233445566778899aabbccddee",
	    &err), 0);
	assert_int_equal(pki_revoke(dir, "abcd", &err), 0);	/* again */
	/* The running set changes only on reload. */
	assert_false(pki_is_revoked(set, "abcd"));
	assert_int_equal(pki_revoked_reload(set, dir, &err), 0);
	assert_int_equal(pki_revoked_count(set), 2);
	assert_true(pki_is_revoked(set, "abcd"));
	assert_true(pki_is_revoked(set, "ABCD"));
	assert_true(pki_is_revoked(set, "0000abcd"));
	assert_true(pki_is_revoked(set, "7F00112233445566778899AABBCCDDEE"));
	assert_false(pki_is_revoked(set, "abce"));
	assert_false(pki_is_revoked(set, "abc"));
	/* Malformed input fails closed. */
	assert_true(pki_is_revoked(set, "xyz"));
	assert_true(pki_is_revoked(set, ""));
	assert_true(pki_is_revoked(set, NULL));

	assert_int_equal(pki_serial_normalize("000", norm, &err), 0);
	assert_string_equal(norm, "0");
	assert_int_equal(pki_revoke(dir, "12g4", &err), -BW_E_INVALID);
	assert_string_equal(err, "serial: character at position 3 is not a "
	    "hex digit");
	free(err);
	err = NULL;
	assert_int_equal(pki_revoke(dir,
	    "11112222333344445555666677778888999900001", &err),
	    -BW_E_INVALID);
	assert_string_equal(err, "serial: longer than 40 hex digits");
	free(err);
	err = NULL;

	/* The file is one serial per line, world-readable, and a damaged
	 * line is refused with its number; reload keeps the old set. */
	{
		char		*text = NULL;
		size_t		 len;
		struct stat	 st;

		assert_int_equal(read_file_at(AT_FDCWD, in(dir, "revoked"),
		    4096, &text, &len), 0);
		assert_string_equal(text,
		    "abcd\n7f00112233445566778899aabbccddee\n");
		free(text);
		assert_int_equal(stat(in(dir, "revoked"), &st), 0);
		assert_int_equal(st.st_mode & 07777, 0644);
	}
	assert_int_equal(write_file_atomic_at(AT_FDCWD, in(dir, "revoked"),
	    "# revoked\nabcd\n\n  beef  \nnot-hex\n",
	    strlen("# revoked\nabcd\n\n  beef  \nnot-hex\n"), 0644), 0);
	assert_int_equal(pki_revoked_reload(set, dir, &err), -BW_E_CORRUPT);
	assert_string_equal(err, "revoked:5: not a hex serial of at most 40 "
	    "digits");
	free(err);
	err = NULL;
	assert_int_equal(pki_revoked_count(set), 2);
	assert_int_equal(pki_revoke(dir, "1", &err), -BW_E_CORRUPT);
	free(err);
	err = NULL;
	assert_int_equal(write_file_atomic_at(AT_FDCWD, in(dir, "revoked"),
	    "# revoked\nabcd\n\n  beef  \n",
	    strlen("# revoked\nabcd\n\n  beef  \n"), 0644), 0);
	assert_int_equal(pki_revoked_reload(set, dir, &err), 0);
	assert_int_equal(pki_revoked_count(set), 2);
	assert_true(pki_is_revoked(set, "beef"));
	assert_false(pki_is_revoked(set, "7f00112233445566778899aabbccddee"));
	pki_revoked_free(set);
	pki_revoked_free(NULL);
}

/* The renewed server certificate: a new key and serial, the same names,
 * the lifetime asked for, in place of the old pair, which pki_init_dir()
 * then accepts; refused inputs leave the old pair alone. */
static void
test_renew_server(void **state)
{
	const char		*dir = *state;
	const char *const	 names[] = { "api.bulwark.example", NULL };
	struct pki_init_options	 o = { .server_names = names,
	    .server_secs = 60 };
	struct pki_init_options	 short_ca = { .ca_days = 1 };
	struct pki_cert_times	 before, after, ca, t;
	char			*err = NULL, other[PATH_MAX];
	EVP_PKEY		*ca_key = NULL, *old_key = NULL, *new_key = NULL;
	EVP_PKEY		*stranger = NULL;
	X509			*cacert, *server;
	struct stat		 st;

	o.server_secs = 5;
	assert_int_equal(pki_init_dir(dir, &o, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "must be 10.."));
	free(err);
	err = NULL;
	o.server_secs = 60;
	assert_int_equal(pki_init_dir(dir, &o, &err), 0);
	assert_int_equal(pki_cert_times(dir, "server.crt", &before, &err), 0);
	assert_int_equal(before.not_after - before.issued, 60);
	assert_true(llabs((long long)(before.issued - time(NULL))) <= 5);
	assert_int_equal(pki_cert_times(dir, "ca.crt", &ca, &err), 0);
	assert_true(ca.not_after - ca.issued >= (time_t)PKI_CA_DAYS * 86400 - 1);
	assert_int_equal(crypto_load_key(in(dir, "ca.key"), &ca_key, &err), 0);
	assert_int_equal(crypto_load_key(in(dir, "server.key"), &old_key,
	    &err), 0);

	assert_int_equal(pki_renew_server(dir, ca_key, &o, 120, &t, &err), 0);
	assert_null(err);
	assert_int_equal(pki_cert_times(dir, "server.crt", &after, &err), 0);
	assert_string_equal(after.serial_hex, t.serial_hex);
	assert_string_not_equal(after.serial_hex, before.serial_hex);
	assert_int_equal(after.not_after - after.issued, 120);
	cacert = load_cert(in(dir, "ca.crt"));
	server = load_cert(in(dir, "server.crt"));
	check_common(server, cacert);
	assert_int_equal(verify(cacert, server, X509_PURPOSE_SSL_SERVER), 0);
	assert_int_equal(X509_check_host(server, "api.bulwark.example", 0, 0,
	    NULL), 1);
	assert_int_equal(X509_check_ip_asc(server, "::1", 0), 1);
	assert_int_equal(crypto_load_key(in(dir, "server.key"), &new_key,
	    &err), 0);
	assert_int_equal(X509_check_private_key(server, new_key), 1);
	assert_int_not_equal(EVP_PKEY_eq(old_key, new_key), 1);
	assert_int_equal(stat(in(dir, "server.key"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(pki_init_dir(dir, &o, &err), 0);

	/* Refused: the pair on disk stays the renewed one. */
	assert_int_equal(pki_renew_server(dir, ca_key, &o, 9, NULL, &err),
	    -BW_E_INVALID);
	free(err);
	err = NULL;
	assert_int_equal(pki_renew_server(dir, NULL, &o, 60, NULL, &err),
	    -BW_E_INVALID);
	free(err);
	err = NULL;
	stranger = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	assert_non_null(stranger);
	assert_int_equal(pki_renew_server(dir, stranger, &o, 60, NULL, &err),
	    -BW_E_CORRUPT);
	assert_non_null(strstr(err, "does not match ca.crt"));
	free(err);
	err = NULL;
	assert_int_equal(pki_cert_times(dir, "server.crt", &t, &err), 0);
	assert_string_equal(t.serial_hex, after.serial_hex);

	/* A CA that ends before the renewed certificate would: refused. */
	snprintf(other, sizeof(other), "%s/short", dir);
	assert_int_equal(pki_init_dir(other, &short_ca, &err), 0);
	EVP_PKEY_free(ca_key);
	ca_key = NULL;
	assert_int_equal(crypto_load_key(in(other, "ca.key"), &ca_key, &err),
	    0);
	assert_int_equal(pki_renew_server(other, ca_key, NULL, 2 * 86400,
	    NULL, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "outlive the CA"));
	free(err);
	assert_int_equal(access(in(other, "server.crt"), F_OK), 0);

	EVP_PKEY_free(stranger);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(old_key);
	EVP_PKEY_free(new_key);
	X509_free(cacert);
	X509_free(server);
}

/* A custodian of the server key for the tests: a key in memory. */
struct held {
	EVP_PKEY	*key, *pending;
	int		 creates;
};

static int
held_create(void *ctx, EVP_PKEY **ret_key, char **ret_err)
{
	struct held *h = ctx;

	EVP_PKEY_free(h->pending);
	h->pending = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	h->creates++;
	if (!h->pending || !EVP_PKEY_up_ref(h->pending))
		return -BW_E_CRYPTO;
	*ret_key = h->pending;
	return 0;
}

static int
held_keep(void *ctx, char **ret_err)
{
	struct held *h = ctx;

	assert_non_null(h->pending);
	EVP_PKEY_free(h->key);
	h->key = h->pending;
	h->pending = NULL;
	return 0;
}

static int
held_load(void *ctx, EVP_PKEY **ret_key, char **ret_err)
{
	struct held *h = ctx;

	if (!h->key)
		return -ENOENT;
	if (!EVP_PKEY_up_ref(h->key))
		return -BW_E_CRYPTO;
	*ret_key = h->key;
	return 0;
}

static void
expect_certifies(const char *dir, EVP_PKEY *key)
{
	X509 *ca = load_cert(in(dir, "ca.crt"));
	X509 *server = load_cert(in(dir, "server.crt"));

	assert_int_equal(X509_check_private_key(server, key), 1);
	assert_int_equal(verify(ca, server, X509_PURPOSE_SSL_SERVER), 0);
	X509_free(ca);
	X509_free(server);
}

/* With a custodian of the server key, server.key is never written: a
 * clear one of an earlier run is removed and server.crt reissued for the
 * held key, which later runs keep; a renewal makes a new key there; a
 * server.crt for another key (an interrupted renewal) is reissued. */
static void
test_server_custody(void **state)
{
	const char			*dir = *state;
	struct held			 h = { 0 };
	struct pki_server_key_custody	 cus = { .create = held_create,
	    .keep = held_keep, .load = held_load, .ctx = &h };
	struct pki_init_options		 o = { .server_custody = &cus };
	struct pki_init_options		 short_o = { .server_custody = &cus,
	    .ca_days = 1 };
	struct pki_cert_times		 t1, t2, t3;
	EVP_PKEY			*ca_key = NULL, *k = NULL, *kept;
	char				*err = NULL, other[4096];

	assert_int_equal(pki_init_dir(dir, NULL, &err), 0);
	assert_int_equal(access(in(dir, "server.key"), F_OK), 0);
	assert_int_equal(pki_init_dir(dir, &o, &err), 0);
	assert_int_equal(h.creates, 1);
	assert_int_equal(access(in(dir, "server.key"), F_OK), -1);
	expect_certifies(dir, h.key);
	assert_int_equal(pki_cert_times(dir, "server.crt", &t1, &err), 0);

	assert_int_equal(pki_init_dir(dir, &o, &err), 0);
	assert_int_equal(h.creates, 1);
	assert_int_equal(pki_cert_times(dir, "server.crt", &t2, &err), 0);
	assert_string_equal(t1.serial_hex, t2.serial_hex);

	assert_int_equal(crypto_load_key(in(dir, "ca.key"), &ca_key, &err), 0);
	assert_int_equal(pki_renew_server(dir, ca_key, &o, 120, &t3, &err), 0);
	assert_int_equal(h.creates, 2);
	assert_string_not_equal(t3.serial_hex, t1.serial_hex);
	assert_int_equal(access(in(dir, "server.key"), F_OK), -1);
	expect_certifies(dir, h.key);

	assert_int_equal(held_create(&h, &k, &err), 0);
	assert_int_equal(held_keep(&h, &err), 0);
	EVP_PKEY_free(k);
	assert_int_equal(pki_init_dir(dir, &o, &err), 0);
	assert_int_equal(h.creates, 3);
	expect_certifies(dir, h.key);
	assert_null(err);

	/* A renewal refused (it would outlive the CA) keeps the current
	 * key: the certificate on disk still certifies what the custodian
	 * serves with. */
	snprintf(other, sizeof(other), "%s/short", dir);
	assert_int_equal(pki_init_dir(other, &short_o, &err), 0);
	EVP_PKEY_free(ca_key);
	ca_key = NULL;
	assert_int_equal(crypto_load_key(in(other, "ca.key"), &ca_key, &err),
	    0);
	kept = h.key;
	assert_int_equal(pki_renew_server(other, ca_key, &short_o, 2 * 86400,
	    NULL, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "outlive the CA"));
	free(err);
	err = NULL;
	assert_ptr_equal(h.key, kept);
	expect_certifies(other, h.key);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(h.key);
	EVP_PKEY_free(h.pending);
}

/* The serial of DIR/server.crt into SERIAL. */
static void
server_serial(const char *dir, char *serial)
{
	struct pki_cert_times	 t;
	char			*err = NULL;

	assert_int_equal(pki_cert_times(dir, "server.crt", &t, &err), 0);
	strcpy(serial, t.serial_hex);
}

/* A changed set of server names or addresses reissues server.crt at
 * the next pki_init_dir() (its key too, unless a custodian holds it);
 * the same set in another order does not. */
static void
test_server_names_changed(void **state)
{
	const char			*dir = *state;
	const char *const		 names[] = { "api.bulwark.example",
	    "b.example", NULL };
	const char *const		 swapped[] = { "b.example",
	    "api.bulwark.example", NULL };
	const char *const		 ips[] = { "10.231.0.1", "fd00::7",
	    NULL };
	struct held			 h = { 0 };
	struct pki_server_key_custody	 cus = { .create = held_create,
	    .keep = held_keep, .load = held_load, .ctx = &h };
	struct pki_init_options		 o = { .server_names = names };
	char				*err = NULL, s3[PKI_SERIAL_HEX_MAX + 1];
	char				 s1[PKI_SERIAL_HEX_MAX + 1];
	char				 s2[PKI_SERIAL_HEX_MAX + 1];
	char				*k1 = NULL, *k2 = NULL;
	X509				*server;
	size_t				 len;

	assert_int_equal(pki_init_dir(dir, &o, &err), 0);
	server_serial(dir, s1);
	assert_int_equal(read_file_at(AT_FDCWD, in(dir, "server.key"), 65536,
	    &k1, &len), 0);
	o.server_names = swapped;
	assert_int_equal(pki_init_dir(dir, &o, &err), 0);
	server_serial(dir, s2);
	assert_string_equal(s1, s2);

	/* Addresses added: a new pair carrying them. */
	o.server_ips = ips;
	assert_int_equal(pki_init_dir(dir, &o, &err), 0);
	assert_null(err);
	server_serial(dir, s2);
	assert_string_not_equal(s1, s2);
	assert_int_equal(read_file_at(AT_FDCWD, in(dir, "server.key"), 65536,
	    &k2, &len), 0);
	assert_string_not_equal(k1, k2);
	server = load_cert(in(dir, "server.crt"));
	assert_int_equal(X509_check_ip_asc(server, "10.231.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(server, "fd00::7", 0), 1);
	assert_int_equal(X509_check_ip_asc(server, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_host(server, "b.example", 0, 0, NULL), 1);
	X509_free(server);

	/* The same addresses spelled and ordered otherwise: no reissue
	 * (the comparison is of the parsed names, not of the text). */
	{
		const char *const respelled[] = { "fd00:0::7", "10.231.0.1",
		    NULL };

		o.server_ips = respelled;
		assert_int_equal(pki_init_dir(dir, &o, &err), 0);
		server_serial(dir, s3);
		assert_string_equal(s2, s3);
		o.server_ips = ips;
	}

	/* A name removed: reissued without it. */
	o.server_names = NULL;
	strcpy(s1, s2);
	assert_int_equal(pki_init_dir(dir, &o, &err), 0);
	server_serial(dir, s2);
	assert_string_not_equal(s1, s2);
	server = load_cert(in(dir, "server.crt"));
	assert_int_equal(X509_check_host(server, "b.example", 0, 0, NULL), 0);
	assert_int_equal(X509_check_ip_asc(server, "10.231.0.1", 0), 1);
	X509_free(server);

	/* With a custodian: the held key is kept, the certificate
	 * reissued for it with the new names. */
	o.server_custody = &cus;
	assert_int_equal(pki_init_dir(dir, &o, &err), 0);
	assert_int_equal(h.creates, 1);
	server_serial(dir, s3);
	o.server_ips = NULL;
	assert_int_equal(pki_init_dir(dir, &o, &err), 0);
	assert_null(err);
	assert_int_equal(h.creates, 1);
	server_serial(dir, s2);
	assert_string_not_equal(s3, s2);
	expect_certifies(dir, h.key);
	server = load_cert(in(dir, "server.crt"));
	assert_int_equal(X509_check_ip_asc(server, "10.231.0.1", 0), 0);
	assert_int_equal(X509_check_ip_asc(server, "::1", 0), 1);
	X509_free(server);
	free(k1);
	free(k2);
	EVP_PKEY_free(h.key);
	EVP_PKEY_free(h.pending);
}

static int
held_store(void *ctx, EVP_PKEY *key, char **ret_err)
{
	struct held *h = ctx;

	(void)ret_err;
	if (!EVP_PKEY_up_ref(key))
		return -BW_E_CRYPTO;
	EVP_PKEY_free(h->key);
	h->key = key;
	return 0;
}

/* A clear ca.key of an earlier version is handed to the custodian and
 * its blocks are overwritten before it is removed: a second link to
 * the same file (which keeps the blocks) reads zeros afterwards. */
static void
test_ca_custody_wipes_clear_key(void **state)
{
	const char		*dir = *state;
	struct held		 h = { 0 };
	struct pki_key_custody	 cus = { .load = held_load,
	    .store = held_store, .ctx = &h };
	struct pki_init_options	 o = { .ca_custody = &cus };
	char			*err = NULL, buf[8192];
	ssize_t			 n, i;
	int			 fd;

	assert_int_equal(pki_init_dir(dir, NULL, &err), 0);
	assert_int_equal(link(in(dir, "ca.key"), in(dir, "ca.key.link")), 0);
	assert_int_equal(pki_init_dir(dir, &o, &err), 0);
	assert_null(err);
	assert_non_null(h.key);
	assert_int_equal(access(in(dir, "ca.key"), F_OK), -1);
	fd = open(in(dir, "ca.key.link"), O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_true(n > 100);
	for (i = 0; i < n; i++)
		assert_int_equal(buf[i], 0);
	EVP_PKEY_free(h.key);
}

/* A temporary file a crash left mid-write (it may hold a clear key) is
 * wiped and removed when the directory is next opened; a file that only
 * looks similar stays. */
static void
test_stale_temp_wiped(void **state)
{
	const char	*dir = *state;
	char		*err = NULL, buf[64];
	int		 fd;
	ssize_t		 n;

	assert_int_equal(pki_init_dir(dir, NULL, &err), 0);
	fd = open(in(dir, "admin.key.tmp.0123456789abcdef"), O_WRONLY |
	    O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "-----BEGIN PRIVATE KEY-----", 27), 27);
	close(fd);
	assert_int_equal(link(in(dir, "admin.key.tmp.0123456789abcdef"),
	    in(dir, "kept-link")), 0);
	fd = open(in(dir, "notes.tmp.xyz"), O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);

	assert_int_equal(pki_init_dir(dir, NULL, &err), 0);
	assert_null(err);
	assert_int_equal(access(in(dir, "admin.key.tmp.0123456789abcdef"),
	    F_OK), -1);
	assert_int_equal(access(in(dir, "notes.tmp.xyz"), F_OK), 0);
	fd = open(in(dir, "kept-link"), O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, 27);
	for (ssize_t i = 0; i < n; i++)
		assert_int_equal(buf[i], 0);
	unlink(in(dir, "kept-link"));
	unlink(in(dir, "notes.tmp.xyz"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_status_is_honest),
		cmocka_unit_test_setup_teardown(
		    test_init_creates_files_with_modes, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_init_is_idempotent,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_init_concurrent,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(
		    test_init_refuses_damaged_files, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_certificate_profiles,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_issue_client, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_issue_rejects_bad_input,
		    setup_dir, teardown_dir),
		cmocka_unit_test(test_peer_identity_requires_all_fields),
		cmocka_unit_test_setup_teardown(test_revocation, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_server_custody, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_server_names_changed,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_renew_server, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_ca_custody_wipes_clear_key,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_stale_temp_wiped,
		    setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
