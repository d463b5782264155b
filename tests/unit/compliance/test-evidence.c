/* Evidence bundles end to end: a real audit trail (audit_trail_open and
 * append in a temp dir), a real scan of the fixture world, the generated
 * SSP and a real appliance PKI are exported, verified, then damaged in
 * many ways, each of which must be reported naming the file or the
 * audit record. The TPM quote is checked with a stand-in TPM here; when
 * BW_EVIDENCE_OUT names a directory, bundles quoted by software TPMs
 * (good, and damaged in the ways write_quoted() lists), an unquoted one,
 * the trust anchor and another key are left there for
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
#include "identity/attest.h"
#include "identity/swtpm.h"
#include "identity/tpm.h"
#include "lib/err.h"
#include "lib/json.h"
#include "tests/unit/compliance/fixture.h"

static struct comp_catalog	*cat;
static struct comp_baseline	*moderate;
static char			*tmp;
static struct audit_signer	*key, *other;
static char			 ssp[1024], trail[1024], ca[1024], bundle[1024];
static char			 cdef[1024];
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
	snprintf(cdef, sizeof(cdef), "%s/docs/ssp/bulwark-component-definition.json",
	    top);

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

static const char ak_pem[] = "-----BEGIN PUBLIC KEY-----\nAK\n-----END PUBLIC KEY-----\n";
static const unsigned char attest[] = { 0xff, 0x54, 0x43, 0x47, 0x80, 0x18, 1, 2, 3 };
static const unsigned char qsig[] = { 0x00, 0x18, 0x00, 0x0b, 4, 5 };

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
	o->cd_path = cdef;
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
	/* results, plan, poam, ssp, component definition, segments, audit
	 * key, ca, manifest, sig */
	assert_int_equal(rep.files, 9 + rep.audit_segments);
	/* Without a TPM the quote is absent, and the manifest says so. */
	assert_int_equal(rep.n_absent, 1);
	assert_non_null(strstr(rep.absent[0], "tpm/: no TPM"));
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
	assert_int_equal(rep.n_absent, 2);
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
		"pki/ca.crt", "audit/checkpoint-key.pem", "assessment-plan.json",
		"bulwark-component-definition.json",
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

/* ---- the TPM quote, with a stand-in TPM ---- */

static int		 quote_fn_calls;
static unsigned char	 quoted_nonce[64];
static size_t		 quoted_nlen;

static json_t *
fake_pcrs(void)
{
	return json_pack("{s:s, s:s}", "0", "00000000000000000000000000000000"
	    "00000000000000000000000000000000", "7", "77777777777777777777777777"
	    "777777777777777777777777777777777777");
}

static int
fake_describe(void *ctx, char **ret_ak_pem, json_t **ret_golden,
    const char **ret_source, char **ret_err)
{
	(void)ctx;
	(void)ret_err;
	*ret_ak_pem = strdup(ak_pem);
	*ret_golden = fake_pcrs();
	*ret_source = "the test";
	return 0;
}

static unsigned char *
dup_bytes(const unsigned char *p, size_t n)
{
	unsigned char *d = malloc(n);

	assert_non_null(d);
	return memcpy(d, p, n);
}

static int
fake_quote(void *ctx, const unsigned char *n, size_t nlen,
    struct evidence_quote *ret, char **ret_err)
{
	(void)ctx;
	if (nlen > sizeof(quoted_nonce))
		return errf(-EINVAL, ret_err, "nonce of %zu bytes", nlen);
	memcpy(quoted_nonce, n, nlen);
	quoted_nlen = nlen;
	ret->attest = dup_bytes(attest, sizeof(attest));
	ret->attest_len = sizeof(attest);
	ret->sig = dup_bytes(qsig, sizeof(qsig));
	ret->sig_len = sizeof(qsig);
	ret->pcrs = fake_pcrs();
	return 0;
}

static int
fake_quote_fails(void *ctx, const unsigned char *n, size_t nlen,
    struct evidence_quote *ret, char **ret_err)
{
	(void)ctx; (void)n; (void)nlen; (void)ret;
	return errf(-BW_E_UNAVAILABLE, ret_err, "the TPM is in lockout");
}

static const struct evidence_tpm_ops fake_tpm = {
	.describe = fake_describe, .quote = fake_quote,
};

/* The verifier hands over what the exporter's TPM produced, the golden
 * values the manifest recorded, and as nonce what the exporter quoted. */
static int
quote_ok(const char *ak, const struct evidence_quote *q,
    const unsigned char *n, size_t nlen, const json_t *golden, char **ret_err)
{
	_cleanup_json_ json_t *want = fake_pcrs();

	(void)ret_err;
	quote_fn_calls++;
	assert_string_equal(ak, ak_pem);
	assert_int_equal(q->attest_len, sizeof(attest));
	assert_memory_equal(q->attest, attest, sizeof(attest));
	assert_int_equal(q->sig_len, sizeof(qsig));
	assert_memory_equal(q->sig, qsig, sizeof(qsig));
	assert_true(json_equal(q->pcrs, want));
	assert_true(json_equal((json_t *)golden, want));
	assert_int_equal(nlen, quoted_nlen);
	assert_memory_equal(n, quoted_nonce, nlen);
	return 0;
}

static int
quote_bad(const char *ak, const struct evidence_quote *q,
    const unsigned char *n, size_t nlen, const json_t *golden, char **ret_err)
{
	(void)ak; (void)q; (void)n; (void)nlen; (void)golden;
	*ret_err = strdup("quote: PCR 7 differ from the expected values");
	return -BW_E_DENIED;
}

/* SHA-256 of the manifest.json member of the bundle at PATH. */
static void
manifest_sha256(const char *path, unsigned char out[AUDIT_HASH_LEN])
{
	struct tent		 ents[256];
	const struct tent	*m;
	size_t			 len, n;
	char			*buf = slurp(path, &len);

	n = tar_list(buf, len, ents, 256);
	assert_non_null(m = tar_find(ents, n, EVIDENCE_MANIFEST));
	assert_int_equal(audit_sha256(buf + m->data_off, m->len, out), 0);
	free(buf);
}

static void
test_tpm(void **state)
{
	struct evidence_opts	o;
	struct evidence_report	rep;
	struct evidence_tpm_ops	failing = fake_tpm;
	unsigned char		digest[AUDIT_HASH_LEN];
	char			path[1100], edit[1100], *err = NULL;

	(void)state;
	opts_default(&o, bad_scan);
	o.tpm = &fake_tpm;
	snprintf(path, sizeof(path), "%s/tpm.tar", tmp);
	snprintf(edit, sizeof(edit), "%s/tpm-edit.tar", tmp);
	export_ok(&o, path);
	/* The quote is made over SHA-256 of the manifest as written. */
	manifest_sha256(path, digest);
	assert_int_equal(quoted_nlen, sizeof(digest));
	assert_memory_equal(quoted_nonce, digest, sizeof(digest));

	memset(&rep, 0, sizeof(rep));
	assert_int_equal(evidence_verify_ex(path, key->pubkey, quote_ok, &rep), 0);
	if (!rep.ok)
		dump(&rep);
	assert_int_equal(rep.ok, 1);
	assert_int_equal(rep.quote, 1);
	assert_int_equal(quote_fn_calls, 1);
	assert_string_equal(rep.quote_pcrs, "0,7");
	assert_int_equal(rep.n_absent, 0);
	evidence_report_done(&rep);

	assert_int_equal(evidence_verify_ex(path, key->pubkey, quote_bad, &rep), 0);
	assert_int_equal(rep.ok, 0);
	assert_non_null(has_problem(&rep, EVIDENCE_QUOTE, "tpm/quote.attest"));
	assert_int_equal(rep.n_problems, 1);
	evidence_report_done(&rep);

	/* Without a quote verifier the quote is reported unchecked. */
	verify(path, key->pubkey, &rep);
	assert_int_equal(rep.ok, 1);
	assert_int_equal(rep.quote, 0);
	evidence_report_done(&rep);

	/* The quote removed: missing, whoever verifies. */
	tar_rewrite(path, edit, "tpm/quote.attest", NULL);
	verify(edit, key->pubkey, &rep);
	assert_int_equal(rep.ok, 0);
	assert_non_null(has_problem(&rep, EVIDENCE_QUOTE, "tpm/quote.attest"));
	assert_non_null(strstr(has_problem(&rep, EVIDENCE_QUOTE,
	    "tpm/quote.attest")->message, "missing"));
	evidence_report_done(&rep);

	/* A bundle without a quote fails a verifier that checks quotes. */
	memset(&rep, 0, sizeof(rep));
	assert_int_equal(evidence_verify_ex(bundle, key->pubkey, quote_ok, &rep), 0);
	assert_int_equal(rep.ok, 0);
	assert_int_equal(rep.quote, -1);
	assert_non_null(strstr(has_problem(&rep, EVIDENCE_QUOTE,
	    "tpm/quote.attest")->message, "missing"));
	assert_int_equal(quote_fn_calls, 1);
	evidence_report_done(&rep);

	/* No quote, no bundle. */
	failing.quote = fake_quote_fails;
	o.tpm = &failing;
	progress_done = 0;
	snprintf(path, sizeof(path), "%s/tpm-failed.tar", tmp);
	assert_int_equal(evidence_export(&o, path, &err), -BW_E_UNAVAILABLE);
	assert_non_null(strstr(err, "lockout"));
	free(err);
	assert_int_equal(access(path, F_OK), -1);
}

/* ---- the TPM quote, with software TPMs (for evidence-verify.sh) ---- */

/* Quotes with QUOTER's AK while the manifest names AK_OF's; GOLDEN_OFF
 * records a wrong golden value for PCR 7. */
struct sw_tpm {
	struct tpm	*ak_of, *quoter;
	int		 golden_off;
};

static int
sw_ak_pem(struct tpm *t, char **ret_pem, char **ret_err)
{
	unsigned char	*pub = NULL;
	size_t		 len = 0;
	int		 r;

	if ((r = tpm_ak_ensure(t, TPM_AK_HANDLE_DEFAULT, &pub, &len,
	    ret_err)) >= 0)
		r = attest_pub_to_pem(pub, len, ret_pem, ret_err);
	free(pub);
	return r;
}

static int
sw_describe(void *ctx, char **ret_ak_pem, json_t **ret_golden,
    const char **ret_source, char **ret_err)
{
	struct sw_tpm		*s = ctx;
	struct attest_pcrs	 p;
	int			 r;

	if ((r = sw_ak_pem(s->ak_of, ret_ak_pem, ret_err)) < 0 ||
	    (r = tpm_pcr_read(s->ak_of, TPM_SEAL_PCRS_DEFAULT, &p, ret_err)) < 0)
		return r;
	if (s->golden_off)
		p.digest[7][0] ^= 1;
	*ret_golden = attest_pcrs_to_json(&p);
	*ret_source = "PCR values read from the software TPM by the test";
	return 0;
}

static int
sw_quote(void *ctx, const unsigned char *n, size_t nlen,
    struct evidence_quote *ret, char **ret_err)
{
	struct sw_tpm		*s = ctx;
	unsigned char		*blob = NULL;
	struct attest_pcrs	 pcrs;
	size_t			 len = 0;
	int			 r;

	if ((r = tpm_quote(s->quoter, TPM_AK_HANDLE_DEFAULT,
	    TPM_SEAL_PCRS_DEFAULT, n, nlen, &blob, &len, ret_err)) < 0)
		return r;
	r = attest_quote_split(blob, len, &ret->attest, &ret->attest_len,
	    &ret->sig, &ret->sig_len, &pcrs);
	free(blob);
	if (r == 0 && !(ret->pcrs = attest_pcrs_to_json(&pcrs)))
		r = -ENOMEM;
	return r;
}

static void
sw_start(const char *dir, struct swtpm **ret_sw, struct tpm **ret_tpm)
{
	char *err = NULL;

	if (swtpm_start(dir, ret_sw, &err) < 0 ||
	    tpm_open(swtpm_tcti(*ret_sw), ret_tpm, &err) < 0)
		fail_msg("swtpm %s: %s", dir, err ? err : "?");
}

/* OUT/NAME: a bundle quoted as S says. */
static void
sw_export(const char *out, const char *name, struct sw_tpm *s, time_t now)
{
	struct evidence_tpm_ops	ops = { .describe = sw_describe,
	    .quote = sw_quote, .ctx = s };
	struct evidence_opts	o;
	char			path[1100];

	opts_default(&o, bad_scan);
	o.tpm = &ops;
	o.now = now;
	snprintf(path, sizeof(path), "%s/%s", out, name);
	export_ok(&o, path);
}

/* Bundles for evidence-verify.sh, quoted by software TPM A: a good one,
 * a second one (to replay its quote), one quoted by TPM B though the
 * manifest names A's AK, one whose golden PCR 7 differs; and B's AK. */
static void
write_quoted(const char *out)
{
	struct swtpm	*swa = NULL, *swb = NULL;
	struct tpm	*a = NULL, *b = NULL;
	struct sw_tpm	 s = { 0 };
	char		 dir[1100], *pem = NULL, *err = NULL;

	snprintf(dir, sizeof(dir), "%s/tpm-a", tmp);
	sw_start(dir, &swa, &a);
	snprintf(dir, sizeof(dir), "%s/tpm-b", tmp);
	sw_start(dir, &swb, &b);
	if (sw_ak_pem(b, &pem, &err) < 0)
		fail_msg("AK of TPM B: %s", err);
	snprintf(dir, sizeof(dir), "%s/ak-other.pem", out);
	spit(dir, pem, strlen(pem));
	free(pem);
	s = (struct sw_tpm){ .ak_of = a, .quoter = a };
	sw_export(out, "bundle.tar", &s, 0);
	sw_export(out, "bundle2.tar", &s, time(NULL) - 60);
	s.golden_off = 1;
	sw_export(out, "golden-off.tar", &s, 0);
	s = (struct sw_tpm){ .ak_of = a, .quoter = b };
	sw_export(out, "other-tpm.tar", &s, 0);
	tpm_close(a);
	tpm_close(b);
	assert_true(swtpm_stop(swa) >= 0);
	assert_true(swtpm_stop(swb) >= 0);
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
	write_quoted(out);
	opts_default(&o, bad_scan);
	snprintf(path, sizeof(path), "%s/unquoted.tar", out);
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
