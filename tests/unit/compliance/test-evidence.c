/* Evidence bundles end to end: a real audit trail (audit_trail_open and
 * append in a temp dir), a real scan of the fixture world, the generated
 * SSP and a real appliance PKI are exported, verified, then damaged in
 * many ways, each of which must be reported naming the file or the
 * audit record. When BW_EVIDENCE_OUT names a directory, a good bundle,
 * its trust anchor and another key are left there for
 * tests/integration/evidence-verify.sh. */
#include "tests/unit/audit/audit-test.h"

#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "audit/signer.h"
#include "compliance/catalog.h"
#include "compliance/check.h"
#include "compliance/evidence.h"
#include "hardening/pki.h"
#include "lib/err.h"
#include "tests/unit/compliance/fixture.h"

static struct comp_catalog	*cat;
static struct comp_baseline	*moderate;
static char			*tmp;
static struct audit_signer	*key, *other;
static char			 ssp[1024], trail[1024], ca[1024], bundle[1024];
static time_t			 t_second;	/* first record time of session 2 */

static struct comp_scan *
scan_world(struct world *w)
{
	struct comp_scan	*scan = NULL;
	struct comp_ctx		 ctx;

	assert_int_equal(comp_ctx_open(&ctx, w->root, &w->facts, &w->policy,
	    w->now), 0);
	assert_int_equal(comp_scan_run(&ctx, moderate, &scan), 0);
	comp_ctx_done(&ctx);
	return scan;
}

static struct comp_scan	*good_scan, *bad_scan;

static int
setup(void **state)
{
	const char			*top = getenv("top_srcdir");
	struct pki_init_options		 po = { 0 };
	struct world			 w;
	char				*p, *err = NULL;
	int				 r;

	(void)state;
	if (!top)
		top = "..";
	assert_true(asprintf(&p, "%s/compliance/data/%s", top, COMP_CATALOG_FILE) > 0);
	r = comp_catalog_load(p, &cat, &err);
	free(p);
	assert_int_equal(r, 0);
	assert_true(asprintf(&p, "%s/compliance/data/%s", top,
	    COMP_BASELINE_MODERATE) > 0);
	r = comp_baseline_load(p, cat, &moderate, &err);
	free(p);
	assert_int_equal(r, 0);
	snprintf(ssp, sizeof(ssp), "%s/docs/ssp/bulwark-ssp.json", top);

	tmp = t_mkdtemp();
	key = t_signer(tmp, "audit-checkpoint.key");
	other = t_signer(tmp, "other.key");
	snprintf(trail, sizeof(trail), "%s/audit", tmp);
	snprintf(ca, sizeof(ca), "%s/pki", tmp);
	if (pki_init_dir(ca, &po, &err) < 0) {
		fprintf(stderr, "pki: %s\n", err);
		return -1;
	}
	snprintf(ca, sizeof(ca), "%s/pki/ca.crt", tmp);
	snprintf(bundle, sizeof(bundle), "%s/bundle.tar", tmp);

	/* Two sessions of the trail, the second starting two seconds later
	 * (so a period can select only its segments); small segments so
	 * there are several. */
	t_make_trail(trail, key, 120, 8192, 50);
	sleep(2);
	t_second = time(NULL);
	t_make_trail(trail, key, 120, 8192, 50);

	world_build(&w);
	good_scan = scan_world(&w);
	world_put(&w, "etc/issue", "Debian GNU/Linux \\n \\l\n", 0644);
	bad_scan = scan_world(&w);
	world_destroy(&w);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	comp_scan_free(good_scan);
	comp_scan_free(bad_scan);
	audit_signer_free(key);
	audit_signer_free(other);
	comp_baseline_free(moderate);
	comp_catalog_free(cat);
	t_rm_rf(tmp);
	return 0;
}

static const unsigned char ak_pem[] = "-----BEGIN PUBLIC KEY-----\nAK\n-----END PUBLIC KEY-----\n";
static const unsigned char quote[] = { 0xff, 0x54, 0x43, 0x47, 0x80, 0x18, 1, 2, 3 };
static const unsigned char nonce[] = "0123456789abcdef0123456789abcdef";

static uint64_t progress_done, progress_total;
static unsigned progress_calls;

static void
progress(void *ud, uint64_t done, uint64_t total, const char *file)
{
	(void)ud;
	assert_non_null(file);
	assert_true(done >= progress_done);
	progress_done = done;
	progress_total = total;
	progress_calls++;
}

static void
opts_default(struct evidence_opts *o, const struct comp_scan *scan)
{
	memset(o, 0, sizeof(*o));
	o->system_name = "Bulwark appliance test";
	o->scan = scan;
	o->cat = cat;
	o->base = moderate;
	o->ssp_path = ssp;
	o->audit_dir = trail;
	o->ca_path = ca;
	o->signer = key;
	o->progress = progress;
	progress_done = 0;
}

static void
export_ok(const struct evidence_opts *o, const char *out)
{
	char	*err = NULL;
	int	 r;

	progress_done = 0;
	r = evidence_export(o, out, &err);

	if (r < 0)
		fail_msg("export: %s", err ? err : bw_strerror(r));
}

static void
verify(const char *path, EVP_PKEY *k, struct evidence_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	assert_int_equal(evidence_verify(path, k, rep), 0);
}

/* True when REP has a problem of KIND naming FILE (NULL: any file). */
static const struct evidence_problem *
has_problem(const struct evidence_report *rep, enum evidence_problem_kind kind,
    const char *file)
{
	for (size_t i = 0; i < rep->n_problems; i++) {
		const struct evidence_problem *p = &rep->problems[i];

		if (p->kind == kind && (!file || (p->file && strcmp(p->file, file) == 0)))
			return p;
	}
	return NULL;
}

static void
dump(const struct evidence_report *rep)
{
	for (size_t i = 0; i < rep->n_problems; i++)
		fprintf(stderr, "  %s %s seq=%" PRIu64 ": %s\n",
		    evidence_problem_name(rep->problems[i].kind),
		    rep->problems[i].file ? rep->problems[i].file : "-",
		    rep->problems[i].seq, rep->problems[i].message);
}

/* ---- a small tar walker and writer for damaging bundles ---- */

struct tent {
	char	 name[101];
	size_t	 hdr_off, data_off, len;
};

static __attribute__((noinline)) char *
slurp(const char *path, size_t *len)
{
	char *buf = NULL;

	assert_int_equal(read_file_at(AT_FDCWD, path, 1 << 28, &buf, len), 0);
	return buf;
}

static void
spit(const char *path, const char *buf, size_t len)
{
	assert_int_equal(write_file_atomic_at(AT_FDCWD, path, buf, len, 0600), 0);
}

static size_t
tar_list(const char *buf, size_t len, struct tent *ents, size_t max)
{
	size_t n = 0, off = 0;

	while (off + 512 <= len && buf[off] && n < max) {
		struct tent *e = &ents[n++];

		memcpy(e->name, buf + off, 100);
		e->name[100] = '\0';
		e->len = strtoull(buf + off + 124, NULL, 8);
		e->hdr_off = off;
		e->data_off = off + 512;
		off += 512 + (e->len + 511) / 512 * 512;
	}
	return n;
}

static const struct tent *
tar_find(const struct tent *ents, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ents[i].name, name) == 0)
			return &ents[i];
	return NULL;
}

static void
tar_hdr(char *h, const char *name, size_t len)
{
	unsigned sum = 0;

	memset(h, 0, 512);
	strcpy(h, name);
	snprintf(h + 100, 8, "%07o", 0644);
	snprintf(h + 108, 8, "%07o", 0);
	snprintf(h + 116, 8, "%07o", 0);
	snprintf(h + 124, 12, "%011o", (unsigned)len & 07777777777u);
	snprintf(h + 136, 12, "%011o", 0);
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (int i = 0; i < 512; i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
}

/* Rewrites SRC to DST without entry DROP (may be NULL) and with an extra
 * entry ADD (may be NULL). */
static void
tar_rewrite(const char *src, const char *dst, const char *drop, const char *add)
{
	struct tent	 ents[256];
	size_t		 len, n, o = 0;
	char		*in = slurp(src, &len);
	char		*out = calloc(1, len + 8192);

	assert_non_null(out);
	n = tar_list(in, len, ents, 256);
	for (size_t i = 0; i < n; i++) {
		size_t span = 512 + (ents[i].len + 511) / 512 * 512;

		if (drop && strcmp(ents[i].name, drop) == 0)
			continue;
		memcpy(out + o, in + ents[i].hdr_off, span);
		o += span;
	}
	if (add) {
		tar_hdr(out + o, add, strlen(add));
		memcpy(out + o + 512, add, strlen(add));
		o += 1024;
	}
	spit(dst, out, o + 1024);
	free(in);
	free(out);
}

/* ---- tests ---- */

static void
test_roundtrip(void **state)
{
	struct evidence_opts	o;
	struct evidence_report	rep;

	(void)state;
	opts_default(&o, bad_scan);
	progress_calls = 0;
	progress_done = 0;
	export_ok(&o, bundle);
	assert_true(progress_calls >= 5);
	assert_int_equal(progress_done, progress_total);

	verify(bundle, key->pubkey, &rep);
	if (!rep.ok)
		dump(&rep);
	assert_int_equal(rep.ok, 1);
	assert_int_equal(rep.n_problems, 0);
	assert_true(rep.audit_segments >= 4);
	assert_int_equal(rep.audit_first_seq, 1);
	assert_true(rep.audit_last_seq >= 240);
	assert_true(rep.audit_checkpoints >= 4);
	assert_string_equal(rep.system, "Bulwark appliance test");
	/* results, poam, ssp, segments, audit key, ca, manifest, sig */
	assert_int_equal(rep.files, 7 + rep.audit_segments);
	/* The three TPM inputs are absent, and the manifest says so. */
	assert_int_equal(rep.n_absent, 3);
	assert_int_equal(rep.quote, -1);
	evidence_report_done(&rep);
}

static void
test_no_failures_no_poam(void **state)
{
	struct evidence_opts	o;
	struct evidence_report	rep;
	char			path[1100];

	(void)state;
	opts_default(&o, good_scan);
	snprintf(path, sizeof(path), "%s/good.tar", tmp);
	export_ok(&o, path);
	verify(path, key->pubkey, &rep);
	assert_int_equal(rep.ok, 1);
	assert_int_equal(rep.n_absent, 4);
	assert_non_null(strstr(rep.absent[0], "poam.json"));
	evidence_report_done(&rep);
}

/* Flips one byte inside file NAME of the bundle (at OFFSET from its
 * start, or in its middle when OFFSET is SIZE_MAX) and verifies. */
static void
damage_file(const char *name, size_t offset, struct evidence_report *rep)
{
	struct tent		 ents[256];
	const struct tent	*e;
	char			 path[1100];
	size_t			 len, n;
	char			*buf = slurp(bundle, &len);

	n = tar_list(buf, len, ents, 256);
	e = tar_find(ents, n, name);
	assert_non_null(e);
	if (offset == SIZE_MAX)
		offset = e->len / 2;
	assert_true(offset < e->len);
	buf[e->data_off + offset] ^= 0x01;
	snprintf(path, sizeof(path), "%s/damaged.tar", tmp);
	spit(path, buf, len);
	free(buf);
	verify(path, key->pubkey, rep);
	assert_int_equal(rep->ok, 0);
}

static void
test_tamper_files(void **state)
{
	static const char *const names[] = {
		"assessment-results.json", "poam.json", "bulwark-ssp.json",
		"pki/ca.crt", "audit/checkpoint-key.pem",
	};
	struct evidence_report rep;

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		damage_file(names[i], SIZE_MAX, &rep);
		if (!has_problem(&rep, EVIDENCE_DIGEST, names[i])) {
			dump(&rep);
			fail_msg("altering %s was not reported", names[i]);
		}
		evidence_report_done(&rep);
	}
}

static void
test_tamper_manifest(void **state)
{
	struct tent	 ents[256];
	size_t		 len, n;
	char		*buf = slurp(bundle, &len);
	const struct tent *e;
	char		*p;
	struct evidence_report rep;
	char		 path[1100];

	(void)state;
	/* Change the digest the manifest lists for the SSP: the signature
	 * must catch it even though the manifest still parses. */
	n = tar_list(buf, len, ents, 256);
	e = tar_find(ents, n, "manifest.json");
	assert_non_null(e);
	p = strstr(buf + e->data_off, "\"sha256\": \"");
	assert_non_null(p);
	p[11] = p[11] == 'a' ? 'b' : 'a';
	snprintf(path, sizeof(path), "%s/manifest.tar", tmp);
	spit(path, buf, len);
	free(buf);
	verify(path, key->pubkey, &rep);
	assert_int_equal(rep.ok, 0);
	assert_non_null(has_problem(&rep, EVIDENCE_BAD_SIGNATURE, "manifest.json"));
	evidence_report_done(&rep);

	/* And the signature itself. */
	damage_file("manifest.sig", 10, &rep);
	assert_non_null(has_problem(&rep, EVIDENCE_BAD_SIGNATURE, "manifest.json"));
	evidence_report_done(&rep);
}

/* Alters the actor of one record in the middle of the second segment:
 * the verifier must name the file and that record's seq. */
static void
test_tamper_audit_record(void **state)
{
	struct tent		 ents[256];
	const struct tent	*seg = NULL;
	size_t			 len, n, segs = 0;
	char			*buf = slurp(bundle, &len);
	char			*line, *actor, path[1100];
	uint64_t		 seq;
	const struct evidence_problem *p;
	struct evidence_report	 rep;

	(void)state;
	n = tar_list(buf, len, ents, 256);
	for (size_t i = 0; i < n; i++)
		if (strncmp(ents[i].name, "audit/seg-", 10) == 0 && ++segs == 2)
			seg = &ents[i];
	assert_non_null(seg);
	line = memchr(buf + seg->data_off + seg->len / 2, '\n', seg->len / 2);
	assert_non_null(line);
	line++;
	seq = strtoull(strstr(line, " seq=") + 5, NULL, 10);
	actor = strstr(line, " actor=");
	assert_non_null(actor);
	actor[7] = actor[7] == 'a' ? 'm' : 'a';
	snprintf(path, sizeof(path), "%s/record.tar", tmp);
	spit(path, buf, len);
	verify(path, key->pubkey, &rep);
	assert_int_equal(rep.ok, 0);
	assert_non_null(has_problem(&rep, EVIDENCE_DIGEST, seg->name));
	p = has_problem(&rep, EVIDENCE_AUDIT, seg->name);
	if (!p) {
		dump(&rep);
		fail_msg("audit damage not reported");
	}
	assert_int_equal(p->seq, seq);
	assert_int_equal(p->damage, AUDIT_MODIFIED);
	evidence_report_done(&rep);
	free(buf);
}

static void
test_other_key(void **state)
{
	struct evidence_opts	o;
	struct evidence_report	rep;
	char			path[1100];

	(void)state;
	/* The bundle verified against the wrong trust anchor. */
	verify(bundle, other->pubkey, &rep);
	assert_int_equal(rep.ok, 0);
	assert_non_null(has_problem(&rep, EVIDENCE_BAD_SIGNATURE, "manifest.json"));
	evidence_report_done(&rep);

	/* A bundle signed by another key, verified against ours. */
	opts_default(&o, bad_scan);
	o.signer = other;
	snprintf(path, sizeof(path), "%s/other.tar", tmp);
	export_ok(&o, path);
	verify(path, key->pubkey, &rep);
	assert_int_equal(rep.ok, 0);
	assert_non_null(has_problem(&rep, EVIDENCE_BAD_SIGNATURE, "manifest.json"));
	evidence_report_done(&rep);
}

/* A trail whose checkpoint key changed (OTHER, then KEY): the bundle,
 * signed by KEY, verifies when OTHER is trusted for the checkpoints too,
 * not with KEY alone; the first key given is the manifest's anchor. */
static void
test_key_change(void **state)
{
	struct evidence_opts	 o;
	struct evidence_report	 rep;
	EVP_PKEY		*both[2] = { key->pubkey, other->pubkey };
	EVP_PKEY		*swapped[2] = { other->pubkey, key->pubkey };
	char			 dir[1100], path[1100];
	const struct evidence_problem *p;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/audit-kc", tmp);
	t_make_trail(dir, other, 40, 8192, 50);
	t_make_trail(dir, key, 40, 8192, 50);
	opts_default(&o, bad_scan);
	o.audit_dir = dir;
	snprintf(path, sizeof(path), "%s/kc.tar", tmp);
	export_ok(&o, path);

	verify(path, key->pubkey, &rep);
	assert_int_equal(rep.ok, 0);
	assert_non_null(p = has_problem(&rep, EVIDENCE_AUDIT, NULL));
	assert_int_equal(p->damage, AUDIT_BAD_SIGNATURE);
	evidence_report_done(&rep);

	memset(&rep, 0, sizeof(rep));
	assert_int_equal(evidence_verify_keys(path, both, 2, NULL, &rep), 0);
	if (!rep.ok)
		dump(&rep);
	assert_int_equal(rep.ok, 1);
	assert_true(rep.audit_checkpoints >= 2);
	evidence_report_done(&rep);

	memset(&rep, 0, sizeof(rep));
	assert_int_equal(evidence_verify_keys(path, swapped, 2, NULL, &rep), 0);
	assert_int_equal(rep.ok, 0);
	assert_non_null(has_problem(&rep, EVIDENCE_BAD_SIGNATURE, "manifest.json"));
	evidence_report_done(&rep);
}

static void
test_missing_extra(void **state)
{
	struct tent		 ents[256];
	size_t			 len, n, segs = 0;
	char			*buf = slurp(bundle, &len);
	char			 path[1100], mid[sizeof(ents[0].name)] = "";
	struct evidence_report	 rep;

	(void)state;
	n = tar_list(buf, len, ents, 256);
	for (size_t i = 0; i < n; i++)
		if (strncmp(ents[i].name, "audit/seg-", 10) == 0 && ++segs == 2)
			memcpy(mid, ents[i].name, sizeof(mid));
	free(buf);
	snprintf(path, sizeof(path), "%s/edit.tar", tmp);

	tar_rewrite(bundle, path, NULL, NULL);	/* unchanged: still good */
	verify(path, key->pubkey, &rep);
	assert_int_equal(rep.ok, 1);
	evidence_report_done(&rep);

	tar_rewrite(bundle, path, "pki/ca.crt", NULL);
	verify(path, key->pubkey, &rep);
	assert_int_equal(rep.ok, 0);
	assert_non_null(has_problem(&rep, EVIDENCE_MISSING, "pki/ca.crt"));
	evidence_report_done(&rep);

	tar_rewrite(bundle, path, NULL, "notes.txt");
	verify(path, key->pubkey, &rep);
	assert_int_equal(rep.ok, 0);
	assert_non_null(has_problem(&rep, EVIDENCE_EXTRA, "notes.txt"));
	evidence_report_done(&rep);

	tar_rewrite(bundle, path, mid, NULL);
	verify(path, key->pubkey, &rep);
	assert_int_equal(rep.ok, 0);
	assert_non_null(has_problem(&rep, EVIDENCE_MISSING, mid));
	assert_non_null(has_problem(&rep, EVIDENCE_AUDIT, NULL));
	assert_int_equal(has_problem(&rep, EVIDENCE_AUDIT, NULL)->damage, AUDIT_MISSING);
	evidence_report_done(&rep);

	tar_rewrite(bundle, path, "manifest.sig", NULL);
	verify(path, key->pubkey, &rep);
	assert_int_equal(rep.ok, 0);
	assert_non_null(has_problem(&rep, EVIDENCE_MISSING, "manifest.sig"));
	evidence_report_done(&rep);
}

static void
test_truncated(void **state)
{
	size_t			len;
	char			*buf = slurp(bundle, &len);
	char			path[1100];
	struct evidence_report	rep;

	(void)state;
	snprintf(path, sizeof(path), "%s/cut.tar", tmp);
	spit(path, buf, len / 2 + 100);
	free(buf);
	verify(path, key->pubkey, &rep);
	assert_int_equal(rep.ok, 0);
	assert_non_null(has_problem(&rep, EVIDENCE_MALFORMED, NULL));
	evidence_report_done(&rep);
}

/* Exports O into TMP/NAME and verifies the bundle into *REP, which must
 * be intact. */
static void
export_intact(const struct evidence_opts *o, const char *name,
    struct evidence_report *rep)
{
	char path[1100];

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	export_ok(o, path);
	verify(path, key->pubkey, rep);
	if (!rep->ok)
		dump(rep);
	assert_int_equal(rep->ok, 1);
}

static void
test_period(void **state)
{
	struct evidence_opts	o;
	struct evidence_report	rep;

	(void)state;
	/* Only the second session: a window that does not start at seq 1,
	 * anchored by the signed manifest. */
	opts_default(&o, bad_scan);
	o.since = t_second;
	export_intact(&o, "period.tar", &rep);
	assert_true(rep.audit_first_seq > 1);
	assert_true(rep.audit_segments >= 1);
	evidence_report_done(&rep);

	/* Only the first session. */
	o.since = 0;
	o.until = t_second - 2;
	export_intact(&o, "period.tar", &rep);
	assert_int_equal(rep.audit_first_seq, 1);
	assert_true(rep.audit_last_seq < 200);
	evidence_report_done(&rep);

	/* Nothing in the period: no segment, and the manifest says so. */
	o.since = time(NULL) + 86400;
	o.until = 0;
	export_intact(&o, "period.tar", &rep);
	assert_int_equal(rep.audit_segments, 0);
	assert_non_null(strstr(rep.absent[0], "audit/"));
	evidence_report_done(&rep);
}

/* A live segment written with preallocation ends in NUL padding, up to
 * 1 MiB of it (docs/audit-format.md, section 2): export takes it with
 * its records, and the bundle verifies. */
static void
test_period_padded(void **state)
{
	static const char	pad[1 << 20];
	struct evidence_opts	o;
	struct evidence_report	rep;
	char			**names, seg[1100];
	size_t			n;
	struct stat		st;
	uint64_t		last;
	FILE			*fp;

	(void)state;
	opts_default(&o, bad_scan);
	o.since = t_second;
	export_intact(&o, "padded.tar", &rep);
	last = rep.audit_last_seq;
	evidence_report_done(&rep);

	t_seg_names(trail, &names, &n);
	snprintf(seg, sizeof(seg), "%s/%s", trail, names[n - 1]);
	audit_segment_list_free(names, n);
	assert_int_equal(stat(seg, &st), 0);
	assert_non_null(fp = fopen(seg, "a"));
	assert_int_equal(fwrite(pad, 1, sizeof(pad), fp), sizeof(pad));
	assert_int_equal(fclose(fp), 0);

	export_intact(&o, "padded.tar", &rep);
	assert_int_equal(rep.audit_last_seq, last);
	evidence_report_done(&rep);
	assert_int_equal(truncate(seg, st.st_size), 0);
}

static int quote_fn_calls;

static int
quote_ok(const char *ak, const unsigned char *q, size_t qlen,
    const unsigned char *n, size_t nlen, char **ret_err)
{
	(void)ret_err;
	quote_fn_calls++;
	assert_memory_equal(ak, ak_pem, sizeof(ak_pem) - 1);
	assert_int_equal(qlen, sizeof(quote));
	assert_memory_equal(q, quote, qlen);
	assert_int_equal(nlen, sizeof(nonce) - 1);
	assert_memory_equal(n, nonce, nlen);
	return 0;
}

static int
quote_bad(const char *ak, const unsigned char *q, size_t qlen,
    const unsigned char *n, size_t nlen, char **ret_err)
{
	(void)ak; (void)q; (void)qlen; (void)n; (void)nlen;
	*ret_err = strdup("PCR 7 differs");
	return -BW_E_DENIED;
}

static void
test_tpm(void **state)
{
	struct evidence_opts	o;
	struct evidence_report	rep;
	char			path[1100], *err = NULL;

	(void)state;
	opts_default(&o, bad_scan);
	o.tpm_ak_pem = (struct evidence_blob){ ak_pem, sizeof(ak_pem) - 1 };
	o.tpm_quote = (struct evidence_blob){ quote, sizeof(quote) };
	snprintf(path, sizeof(path), "%s/tpm.tar", tmp);
	/* A quote without its nonce is refused. */
	assert_int_equal(evidence_export(&o, path, &err), -BW_E_INVALID);
	free(err);
	o.tpm_nonce = (struct evidence_blob){ nonce, sizeof(nonce) - 1 };
	export_ok(&o, path);

	memset(&rep, 0, sizeof(rep));
	assert_int_equal(evidence_verify_ex(path, key->pubkey, quote_ok, &rep), 0);
	assert_int_equal(rep.ok, 1);
	assert_int_equal(rep.quote, 1);
	assert_int_equal(quote_fn_calls, 1);
	assert_int_equal(rep.n_absent, 0);
	evidence_report_done(&rep);

	assert_int_equal(evidence_verify_ex(path, key->pubkey, quote_bad, &rep), 0);
	assert_int_equal(rep.ok, 0);
	assert_non_null(has_problem(&rep, EVIDENCE_QUOTE, "tpm/quote.bin"));
	evidence_report_done(&rep);

	/* Without a quote verifier the quote is reported unchecked. */
	verify(path, key->pubkey, &rep);
	assert_int_equal(rep.ok, 1);
	assert_int_equal(rep.quote, 0);
	evidence_report_done(&rep);
}

static void
test_bad_options(void **state)
{
	struct evidence_opts	o;
	char			path[1100], *err = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/none.tar", tmp);
	opts_default(&o, bad_scan);
	o.signer = NULL;
	assert_int_equal(evidence_export(&o, path, &err), -BW_E_INVALID);
	free(err);
	err = NULL;
	opts_default(&o, bad_scan);
	o.since = 100;
	o.until = 50;
	assert_int_equal(evidence_export(&o, path, &err), -BW_E_INVALID);
	free(err);
	err = NULL;
	opts_default(&o, bad_scan);
	o.audit_dir = "/nonexistent/bulwark-audit";
	assert_true(evidence_export(&o, path, &err) < 0);
	assert_non_null(strstr(err, "/nonexistent/bulwark-audit"));
	free(err);
	/* Nothing is left behind under the final name. */
	assert_int_equal(access(path, F_OK), -1);
}

/* Leaves a bundle and keys for the integration test (in TMP when
 * BW_EVIDENCE_OUT is not set). */
static void
test_write_out(void **state)
{
	const char		*out = getenv("BW_EVIDENCE_OUT");
	struct evidence_opts	 o;
	char			 path[1100], *pem;
	size_t			 len;

	(void)state;
	if (!out || !*out)
		out = tmp;	/* still exercised, then removed with TMP */
	opts_default(&o, bad_scan);
	snprintf(path, sizeof(path), "%s/bundle.tar", out);
	export_ok(&o, path);
	assert_int_equal(audit_pubkey_pem(key->pubkey, &pem, &len), 0);
	snprintf(path, sizeof(path), "%s/trust.pem", out);
	spit(path, pem, len);
	free(pem);
	assert_int_equal(audit_pubkey_pem(other->pubkey, &pem, &len), 0);
	snprintf(path, sizeof(path), "%s/other.pem", out);
	spit(path, pem, len);
	free(pem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_no_failures_no_poam),
		cmocka_unit_test(test_tamper_files),
		cmocka_unit_test(test_tamper_manifest),
		cmocka_unit_test(test_tamper_audit_record),
		cmocka_unit_test(test_other_key),
		cmocka_unit_test(test_missing_extra),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_period),
		cmocka_unit_test(test_period_padded),
		cmocka_unit_test(test_key_change),
		cmocka_unit_test(test_tpm),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_write_out),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
