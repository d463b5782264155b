/* Evidence bundles. The tar is written and read here (ustar, regular
 * files only, names under 100 bytes): the writer needs nothing outside
 * the process and produces byte-for-byte predictable archives, and the
 * verifier must parse a hostile archive in memory with strict bounds
 * rather than let an extractor write attacker-chosen paths to disk.
 * The manifest goes last so the writer makes one pass with one file in
 * memory at a time; the verifier hashes every entry as it streams and
 * judges them against the manifest at the end. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "audit/record.h"
#include "audit/segment.h"
#include "audit/signer.h"
#include "audit/verify.h"
#include "lib/b64.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "compliance/evidence.h"
#include "compliance/oscal.h"
#include "compliance/oscal-plan.h"
#include "compliance/ssp.h"

#define TAR_BLOCK	512
#define TAR_RECORD	(20 * TAR_BLOCK)
#define TAR_NAME_MAX	99
#define EV_MANIFEST_MAX	((size_t)16 << 20)

#define EV_AR_NAME	"assessment-results.json"
#define EV_POAM_NAME	"poam.json"
#define EV_SSP_NAME	COMP_SSP_JSON_NAME
#define EV_CA_NAME	"pki/ca.crt"
#define EV_AUDIT_DIR	"audit/"
#define EV_AUDIT_KEY	"audit/" AUDIT_KEY_FILE
#define EV_TPM_DIR	"tpm/"
#define EV_AK_NAME	"tpm/ak.pub.pem"
#define EV_STALE_NAMED	10	/* stale items a refusal names */
/* The quote's parts follow manifest.sig: they are made over the
 * manifest's digest, so the manifest cannot list them. */
#define EV_QATTEST_NAME	"tpm/quote.attest"
#define EV_QSIG_NAME	"tpm/quote.sig"
#define EV_QPCRS_NAME	"tpm/quote-pcrs.json"
#define EV_QUOTE_NONCE	"sha256(manifest.json)"
#define EV_PCR_COUNT	24	/* PCRs of a TPM 2.0 PC client bank */

static const char *const problem_names[] = {
	[EVIDENCE_MALFORMED] = "MALFORMED",
	[EVIDENCE_BAD_SIGNATURE] = "BAD_SIGNATURE",
	[EVIDENCE_DIGEST] = "DIGEST",
	[EVIDENCE_SIZE] = "SIZE",
	[EVIDENCE_MISSING] = "MISSING",
	[EVIDENCE_EXTRA] = "EXTRA",
	[EVIDENCE_AUDIT] = "AUDIT",
	[EVIDENCE_QUOTE] = "QUOTE",
};

const char *
evidence_problem_name(enum evidence_problem_kind k)
{
	if ((size_t)k >= ELEMENTSOF(problem_names))
		return "UNKNOWN";
	return problem_names[k];
}

static int
ev_sha256_hex(const void *p, size_t n, char out[AUDIT_HASH_HEX + 1])
{
	unsigned char h[AUDIT_HASH_LEN];
	int r;

	if ((r = audit_sha256(p, n, h)) < 0)
		return r;
	hex_encode(h, sizeof(h), out);
	return 0;
}

/* ---- ustar writer ---- */

struct tar_out {
	int		 fd;
	uint64_t	 off;
	time_t		 mtime;
};

static void
tar_octal(char *field, size_t width, uint64_t v)
{
	/* width - 1 octal digits, zero-padded, and a NUL; callers keep V
	 * in range (sizes are bounded far below 8 GiB). */
	field[width - 1] = '\0';
	for (size_t i = width - 1; i-- > 0; v >>= 3)
		field[i] = (char)('0' + (v & 7));
}

static int
tar_header(const char *name, uint64_t size, time_t mtime,
    unsigned char h[TAR_BLOCK])
{
	unsigned sum = 0;

	if (strlen(name) > TAR_NAME_MAX)
		return -ENAMETOOLONG;
	memset(h, 0, TAR_BLOCK);
	memcpy(h, name, strlen(name));
	tar_octal((char *)h + 100, 8, 0644);
	tar_octal((char *)h + 108, 8, 0);
	tar_octal((char *)h + 116, 8, 0);
	tar_octal((char *)h + 124, 12, size);
	tar_octal((char *)h + 136, 12, (uint64_t)(mtime < 0 ? 0 : mtime));
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);	/* with its NUL */
	memcpy(h + 263, "00", 2);
	memcpy(h + 265, "root", 4);
	memcpy(h + 297, "root", 4);
	for (size_t i = 0; i < TAR_BLOCK; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
	return 0;
}

static int
tar_put(struct tar_out *t, const char *name, const void *data, size_t len)
{
	static const unsigned char zero[TAR_BLOCK];
	unsigned char	h[TAR_BLOCK];
	size_t		pad = (TAR_BLOCK - len % TAR_BLOCK) % TAR_BLOCK;
	int		r;

	if ((r = tar_header(name, len, t->mtime, h)) < 0)
		return r;
	if ((r = write_all(t->fd, h, sizeof(h))) < 0 ||
	    (len && (r = write_all(t->fd, data, len)) < 0) ||
	    (pad && (r = write_all(t->fd, zero, pad)) < 0))
		return r;
	t->off += TAR_BLOCK + len + pad;
	return 0;
}

/* Two zero blocks, then zeros to a whole 10 KiB record as tar(1) does. */
static int
tar_finish(struct tar_out *t)
{
	static const unsigned char zero[TAR_BLOCK];
	uint64_t end = t->off + 2 * TAR_BLOCK;
	int r;

	end = (end + TAR_RECORD - 1) / TAR_RECORD * TAR_RECORD;
	while (t->off < end) {
		if ((r = write_all(t->fd, zero, TAR_BLOCK)) < 0)
			return r;
		t->off += TAR_BLOCK;
	}
	return 0;
}

/* ---- export ---- */

struct ev_file {
	char	*name;
	char	*kind;
	uint64_t size;
	char	 sha256[AUDIT_HASH_HEX + 1];
};

struct ev_seg {
	char	*name;
	uint64_t size;
	time_t	 first, last;	/* record times; 0 when unknown */
};

struct ev_export {
	const struct evidence_opts	*o;
	struct tar_out			 tar;
	json_t				*files, *absent;
	uint64_t			 done, total;
};

static int
ev_add(struct ev_export *x, const char *name, const char *kind,
    const void *data, size_t len)
{
	char	hex[AUDIT_HASH_HEX + 1];
	int	r;

	if ((r = ev_sha256_hex(data, len, hex)) < 0)
		return r;
	if ((r = tar_put(&x->tar, name, data, len)) < 0)
		return r;
	if (json_array_append_new(x->files, json_pack("{s:s, s:s, s:I, s:s}",
	    "name", name, "kind", kind, "size", (json_int_t)len, "sha256", hex)) < 0)
		return -ENOMEM;
	x->done += len;
	if (x->o->progress)
		x->o->progress(x->o->progress_ud, x->done, x->total, name);
	return 0;
}

static int
ev_absent(struct ev_export *x, const char *name, const char *reason)
{
	if (json_array_append_new(x->absent, json_pack("{s:s, s:s}", "name",
	    name, "reason", reason)) < 0)
		return -ENOMEM;
	return 0;
}

/* Reads PATH (bounded), or -errno. */
static int
ev_read_path(const char *path, size_t max, char **ret, size_t *ret_len)
{
	return read_file_at(AT_FDCWD, path, max, ret, ret_len);
}

/* Time of the record line at P (LEN bytes, no LF); 0 if it does not
 * parse. */
static time_t
ev_line_time(const char *p, size_t len)
{
	struct audit_line	l;
	time_t			t;

	if (audit_line_parse(p, len, &l, NULL) < 0)
		return 0;
	t = l.rec.time.tv_sec;
	audit_line_done(&l);
	return t;
}

/* Reads the times of the first and last complete records of segment
 * NAME without reading all of it. */
static int
ev_seg_times(int dfd, struct ev_seg *s)
{
	_cleanup_close_ int	 fd = -1;
	_cleanup_free_ char	*buf = NULL;
	struct stat		 st;
	size_t			 want = 2 * AUDIT_LINE_MAX + 256, n;
	ssize_t			 got;
	const char		*nl, *p;

	fd = openat(dfd, s->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	s->size = (uint64_t)st.st_size;
	if (!(buf = malloc(want)))
		return -ENOMEM;
	/* Head: header line, then the first record. */
	if ((got = pread(fd, buf, want, 0)) < 0)
		return -errno;
	n = (size_t)got;
	if ((nl = memchr(buf, '\n', n))) {
		p = nl + 1;
		if ((nl = memchr(p, '\n', n - (size_t)(p - buf))))
			s->first = ev_line_time(p, (size_t)(nl - p));
	}
	/* Tail: the last complete line before any padding. */
	{
		uint64_t data_end;
		off_t	 from;
		char	*end, *start;
		int	 r;

		if ((r = audit_segment_data_end(fd, s->size, &data_end)) < 0)
			return r;
		from = data_end > want ? (off_t)(data_end - want) : 0;
		if ((got = pread(fd, buf, (size_t)(data_end - (uint64_t)from),
		    from)) < 0)
			return -errno;
		n = (size_t)got;
		while (n && buf[n - 1] != '\n')
			n--;		/* a record being written */
		if (n < 2)
			return 0;
		end = buf + n - 1;
		start = memrchr(buf, '\n', (size_t)(end - buf));
		start = start ? start + 1 : buf;
		if (from == 0 && start == buf)
			return 0;	/* only the header */
		s->last = ev_line_time(start, (size_t)(end - start));
	}
	return 0;
}

/* Chooses the segments overlapping the period: the contiguous run from
 * the first to the last one whose records fall in it. */
static int
ev_pick_segments(const struct evidence_opts *o, int dfd, struct ev_seg **ret,
    size_t *ret_n, char **ret_err)
{
	char		**names = NULL;
	struct ev_seg	*segs = NULL;
	size_t		  n = 0, lo = SIZE_MAX, hi = 0, k = 0;
	time_t		  since = o->since, until = o->until ? o->until : (time_t)INT64_MAX;
	int		  r;

	if ((r = audit_segment_list(dfd, &names, &n)) < 0)
		return errf(r, ret_err, "%s: cannot list segments: %s", o->audit_dir,
		    bw_strerror(r));
	if (n && !(segs = calloc(n, sizeof(*segs)))) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		time_t first, last;

		segs[i].name = names[i];
		if ((r = ev_seg_times(dfd, &segs[i])) < 0) {
			r = errf(r, ret_err, "%s/%s: %s", o->audit_dir, names[i],
			    bw_strerror(r));
			goto out;
		}
		first = segs[i].first ? segs[i].first : segs[i].last;
		last = segs[i].last ? segs[i].last : segs[i].first;
		if (!first)
			continue;	/* no record: included only inside the run */
		if (last >= since && first <= until) {
			if (lo == SIZE_MAX)
				lo = i;
			hi = i;
		}
	}
	if (lo != SIZE_MAX) {
		for (size_t i = lo; i <= hi; i++) {
			segs[k] = segs[i];
			segs[k++].name = TAKE_PTR(names[i]);
		}
	}
	*ret = TAKE_PTR(segs);
	*ret_n = k;
	r = 0;
out:
	audit_segment_list_free(names, n);
	free(segs);
	return r;
}

static int
ev_add_audit(struct ev_export *x, int dfd, const struct ev_seg *segs,
    size_t n, json_t *manifest, char **ret_err)
{
	const struct evidence_opts	*o = x->o;
	char				 first_prev[AUDIT_HASH_HEX + 1] = "";
	char				 head[AUDIT_HASH_HEX + 1] = "";
	uint64_t			 first_seq = 0, last_seq = 0;
	int				 r;

	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char	*data = NULL, *name = NULL;
		size_t			 len, hl;
		uint64_t		 fs;
		char			 prev[AUDIT_HASH_HEX + 1];

		if ((r = read_file_at(dfd, segs[i].name, AUDIT_SEGMENT_READ_MAX, &data,
		    &len)) < 0)
			return errf(r, ret_err, "%s/%s: %s", o->audit_dir, segs[i].name,
			    bw_strerror(r));
		/* The live segment may end inside a record being appended. */
		while (len && data[len - 1] != '\n')
			len--;
		if (audit_segment_header_parse(data, len, &fs, prev, &hl) == 0) {
			if (i == 0) {
				first_seq = fs;
				memcpy(first_prev, prev, sizeof(prev));
			}
			if (len > hl) {
				const char	*end = data + len - 1;
				const char	*start = memrchr(data + hl - 1, '\n',
				    (size_t)(end - (data + hl - 1)));
				struct audit_line l;

				start = start ? start + 1 : data + hl;
				if (audit_line_parse(start, (size_t)(end - start), &l,
				    NULL) == 0) {
					last_seq = l.rec.seq;
					memcpy(head, l.hash, sizeof(head));
					audit_line_done(&l);
				}
			} else if (i == 0 || !*head) {
				last_seq = fs - 1;
				memcpy(head, prev, sizeof(head));
			}
		}
		if (asprintf(&name, EV_AUDIT_DIR "%s", segs[i].name) < 0)
			return -ENOMEM;
		if ((r = ev_add(x, name, "audit-segment", data, len)) < 0)
			return errf(r, ret_err, "writing %s: %s", name, bw_strerror(r));
	}
	if (n && json_object_set_new(manifest, "audit", json_pack("{s:I, s:I, s:s, "
	    "s:I, s:s}", "segments", (json_int_t)n, "first-seq",
	    (json_int_t)first_seq, "first-prev", first_prev, "last-seq",
	    (json_int_t)last_seq, "head-hash", head)) < 0)
		return -ENOMEM;
	return 0;
}

static int
ev_plan_size(const char *path, uint64_t *total)
{
	struct stat st;

	if (path && stat(path, &st) == 0)
		*total += (uint64_t)st.st_size;
	return 0;
}

/* The assessment results and POA&M as the bundle stores them, into
 * *RET_AR and *RET_POAM (NULL: nothing failed); both owned by the
 * caller. */
/* Marks AR's findings and observations fresh or stale (see
 * evidence_opts.max_age_s), records the cadence and the stale count in
 * MANIFEST, and refuses stale ones when asked. */
static int
ev_freshness(const struct evidence_opts *o, json_t *ar, json_t *manifest,
    char **ret_err)
{
	_cleanup_json_ json_t	*stale = NULL;
	_cleanup_(bw_buf_done) struct bw_buf names = { 0 };
	time_t			 now = o->now ? o->now : time(NULL);
	json_t			*v;
	size_t			 i, n;
	int			 r;

	if ((r = comp_oscal_mark_stale(ar, now, o->max_age_s, &stale)) < 0)
		return r;
	n = json_array_size(stale);
	if (json_object_set_new(manifest, "freshness", json_pack("{s:I, s:I}",
	    "cadence-seconds", (json_int_t)o->max_age_s, "stale",
	    (json_int_t)n)) < 0)
		return -ENOMEM;
	if (!n || !o->refuse_stale)
		return 0;
	json_array_foreach(stale, i, v) {
		if (i == EV_STALE_NAMED) {
			if (bw_buf_appendf(&names, "; and %zu more", n - i) < 0)
				return -ENOMEM;
			break;
		}
		if (bw_buf_appendf(&names, "%s%s", i ? "; " : "",
		    json_string_value(v)) < 0)
			return -ENOMEM;
	}
	return errf(-BW_E_CONFLICT, ret_err, "%zu findings and observations "
	    "are older than the evidence cadence of %ld s (run a scan, or "
	    "export without refusing stale evidence): %s", n, o->max_age_s,
	    names.p);
}

static int
ev_oscal_texts(struct ev_export *x, json_t *manifest, char **ret_ar,
    char **ret_poam, char **ret_err)
{
	const struct evidence_opts	*o = x->o;
	_cleanup_json_ json_t		*ar = NULL, *poam = NULL;
	_cleanup_free_ char		*ar_s = NULL, *poam_s = NULL;
	int				 r;

	if (o->assessment_results) {
		/* A copy: the freshness marks must not change the caller's. */
		ar = o->max_age_s > 0 ?
		    json_deep_copy(o->assessment_results) :
		    json_incref((json_t *)o->assessment_results);
		if (!ar)
			return -ENOMEM;
		poam = o->poam ? json_incref((json_t *)o->poam) : NULL;
	} else {
		struct comp_oscal_opts oo = { .system_name = o->system_name,
			.import_ssp = EV_SSP_NAME };

		if ((r = comp_oscal_assessment_results(o->scan, o->cat, o->base, &oo,
		    &ar, ret_err)) < 0)
			return r;
		/* -BW_E_NOTFOUND (nothing failed) comes with a message too. */
		_cleanup_free_ char *perr = NULL;

		r = comp_oscal_poam(o->scan, o->cat, o->base, &oo, &poam, &perr);
		if (r < 0 && r != -BW_E_NOTFOUND) {
			if (ret_err)
				*ret_err = TAKE_PTR(perr);
			return r;
		}
	}
	if (o->max_age_s > 0 && (r = ev_freshness(o, ar, manifest,
	    ret_err)) < 0)
		return r;
	if (!(ar_s = json_dumps(ar, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) ||
	    (poam && !(poam_s = json_dumps(poam, JSON_INDENT(1) |
	    JSON_PRESERVE_ORDER))))
		return -ENOMEM;
	*ret_ar = TAKE_PTR(ar_s);
	*ret_poam = TAKE_PTR(poam_s);
	return 0;
}

/* The assessment plan the assessment results import, at the cadence
 * the results are judged fresh against, as the bundle stores it, into
 * *RET (caller owns). */
static int
ev_plan_text(const struct evidence_opts *o, char **ret)
{
	_cleanup_json_ json_t	*ap = NULL;
	struct comp_ap_opts	 ao = { .system_name = o->system_name,
		.import_ssp = EV_SSP_NAME, .cadence_s = o->max_age_s };
	int			 r;

	if ((r = comp_ap_build(o->base, &ao, &ap)) < 0)
		return r;
	if (!(*ret = json_dumps(ap, JSON_INDENT(1) | JSON_PRESERVE_ORDER)))
		return -ENOMEM;
	return 0;
}

/* What ev_write_all() takes from the audit trail; released by
 * ev_trail_done(). */
struct ev_trail {
	int		 dfd;
	struct ev_seg	*segs;
	size_t		 nsegs;
	char		*key_pem;
	size_t		 key_len;
};

static void
ev_trail_done(struct ev_trail *t)
{
	for (size_t i = 0; i < t->nsegs; i++)
		free(t->segs[i].name);
	free(t->segs);
	free(t->key_pem);
	if (t->dfd >= 0)
		close(t->dfd);
}

/* Opens the audit trail, picks its segments of the period and reads its
 * checkpoint key, adding their sizes to the progress total. */
static int
ev_trail_plan(struct ev_export *x, struct ev_trail *t, char **ret_err)
{
	const struct evidence_opts	*o = x->o;
	int				 r;

	if ((t->dfd = open(o->audit_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errf(-errno, ret_err, "%s: %s", o->audit_dir,
		    strerror(errno));
	if ((r = ev_pick_segments(o, t->dfd, &t->segs, &t->nsegs, ret_err)) < 0)
		return r;
	for (size_t i = 0; i < t->nsegs; i++)
		x->total += t->segs[i].size;
	/* The trail's own copy of the checkpoint key, for reference;
	 * verifiers anchor to their trust anchor, not to this. */
	r = read_file_at(t->dfd, AUDIT_KEY_FILE, 64 << 10, &t->key_pem,
	    &t->key_len);
	if (r == -ENOENT)
		r = audit_pubkey_pem(o->signer->pubkey, &t->key_pem, &t->key_len);
	if (r < 0)
		return errf(r, ret_err, "%s: checkpoint key: %s", o->audit_dir,
		    bw_strerror(r));
	x->total += t->key_len;
	return 0;
}

/* Adds the file at PATH as NAME of KIND, or NAME's absence for WHY when
 * PATH is NULL. */
static int
ev_add_file(struct ev_export *x, const char *path, const char *name,
    const char *kind, const char *why, char **ret_err)
{
	_cleanup_free_ char	*buf = NULL;
	size_t			 len;
	int			 r;

	if (!path)
		return ev_absent(x, name, why);
	if ((r = ev_read_path(path, EVIDENCE_FILE_MAX, &buf, &len)) < 0)
		return errf(r, ret_err, "%s: %s", path, bw_strerror(r));
	return ev_add(x, name, kind, buf, len);
}

/* Adds the audit segments and checkpoint key of T, or the trail's
 * absence. */
static int
ev_add_trail(struct ev_export *x, const struct ev_trail *t,
    json_t *manifest, char **ret_err)
{
	int r;

	if (!x->o->audit_dir)
		return ev_absent(x, EV_AUDIT_DIR, "no audit trail supplied");
	if ((r = ev_add_audit(x, t->dfd, t->segs, t->nsegs, manifest,
	    ret_err)) < 0)
		return r;
	if (!t->nsegs && (r = ev_absent(x, EV_AUDIT_DIR, "no audit record in "
	    "the period")) < 0)
		return r;
	if ((r = ev_add(x, EV_AUDIT_KEY, "audit-key", t->key_pem,
	    t->key_len)) < 0)
		return errf(r, ret_err, "writing %s: %s", EV_AUDIT_KEY,
		    bw_strerror(r));
	return 0;
}

void
evidence_quote_done(struct evidence_quote *q)
{
	if (!q)
		return;
	free(q->attest);
	free(q->sig);
	json_decref(q->pcrs);
	memset(q, 0, sizeof(*q));
}

/* "0,2,4,7,13": the PCRs GOLDEN names, ascending; -BW_E_INVALID when it
 * names none or anything but PCR numbers with hex values. */
static int
ev_pcr_list(const json_t *golden, char *buf, size_t len)
{
	const char	*key;
	json_t		*v;
	size_t		 off = 0, n = 0;

	if (!json_is_object(golden))
		return -BW_E_INVALID;
	json_object_foreach((json_t *)golden, key, v)
		if (strspn(key, "0123456789") != strlen(key) || strlen(key) > 2 ||
		    !json_is_string(v))
			return -BW_E_INVALID;
	buf[0] = '\0';
	for (int i = 0; i < EV_PCR_COUNT; i++) {
		char k[4];

		snprintf(k, sizeof(k), "%d", i);
		if (!json_object_get(golden, k))
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%d", n++ ? "," : "",
		    i);
		if (off >= len)
			return -BW_E_INVALID;
	}
	return n && n == json_object_size(golden) ? 0 : -BW_E_INVALID;
}

/* Adds the attestation key and records in the manifest the PCRs the
 * quote covers and their golden values; or the quote's absence. The
 * quote itself comes after the signed manifest (ev_add_quote()). */
static int
ev_add_tpm(struct ev_export *x, json_t *manifest, char **ret_err)
{
	const struct evidence_tpm_ops	*t = x->o->tpm;
	_cleanup_free_ char		*ak = NULL, *err = NULL;
	_cleanup_json_ json_t		*golden = NULL;
	const char			*source = NULL;
	char				 sel[80];
	int				 r;

	if (!t)
		return ev_absent(x, EV_TPM_DIR, "no TPM to quote the bundle");
	if ((r = t->describe(t->ctx, &ak, &golden, &source, &err)) < 0)
		return errf(r, ret_err, "the TPM's attestation key and golden PCR "
		    "values: %s", err ? err : bw_strerror(r));
	if (strlen(ak) > EVIDENCE_TPM_MAX)
		return errf(-BW_E_INVALID, ret_err, "%s: larger than %d bytes",
		    EV_AK_NAME, EVIDENCE_TPM_MAX);
	if (ev_pcr_list(golden, sel, sizeof(sel)) < 0)
		return errf(-BW_E_INVALID, ret_err, "the golden PCR values are not "
		    "an object of PCR numbers and hex values");
	if ((r = ev_add(x, EV_AK_NAME, "tpm-ak", ak, strlen(ak))) < 0)
		return r;
	if (json_object_set_new(manifest, "tpm", json_pack("{s:s, s:s, s:s, "
	    "s:O, s:s, s:{s:s, s:s, s:s, s:s}}", "ak", EV_AK_NAME, "pcr-bank",
	    "sha256", "pcrs", sel, "golden", golden, "golden-source",
	    source ? source : "?", "quote", "attest", EV_QATTEST_NAME,
	    "signature", EV_QSIG_NAME, "pcr-values", EV_QPCRS_NAME, "nonce",
	    EV_QUOTE_NONCE)) < 0)
		return -ENOMEM;
	return 0;
}

/* Quotes the TPM over SHA-256 of the signed manifest TEXT and adds the
 * quote's parts after it. */
static int
ev_add_quote(struct ev_export *x, const char *text, size_t tlen,
    char **ret_err)
{
	const struct evidence_tpm_ops	*t = x->o->tpm;
	_cleanup_free_ char		*pcrs = NULL, *err = NULL;
	_cleanup_json_ json_t		*doc = NULL;
	struct evidence_quote		 q = { 0 };
	unsigned char			 nonce[AUDIT_HASH_LEN];
	int				 r;

	if ((r = audit_sha256(text, tlen, nonce)) < 0)
		return r;
	if ((r = t->quote(t->ctx, nonce, sizeof(nonce), &q, &err)) < 0)
		return errf(r, ret_err, "quoting the TPM over the manifest: %s",
		    err ? err : bw_strerror(r));
	doc = json_pack("{s:s, s:O}", "bank", "sha256", "values", q.pcrs);
	if (!doc || !(pcrs = json_dumps(doc, JSON_INDENT(1) |
	    JSON_PRESERVE_ORDER))) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = tar_put(&x->tar, EV_QATTEST_NAME, q.attest, q.attest_len)) < 0 ||
	    (r = tar_put(&x->tar, EV_QSIG_NAME, q.sig, q.sig_len)) < 0 ||
	    (r = tar_put(&x->tar, EV_QPCRS_NAME, pcrs, strlen(pcrs))) < 0)
		r = errf(r, ret_err, "writing the quote: %s", bw_strerror(r));
out:
	evidence_quote_done(&q);
	return r;
}

static int
ev_write_all(struct ev_export *x, json_t *manifest, char **ret_err)
{
	const struct evidence_opts	*o = x->o;
	_cleanup_free_ char		*ar_s = NULL, *poam_s = NULL;
	_cleanup_free_ char		*ap_s = NULL;
	struct ev_trail			 t = { .dfd = -1 };
	int				 r;

	/* Assessment results and POA&M, serialised first so the progress
	 * total is exact. */
	if ((r = ev_oscal_texts(x, manifest, &ar_s, &poam_s, ret_err)) < 0)
		return r;
	x->total += strlen(ar_s) + (poam_s ? strlen(poam_s) : 0);
	for (size_t i = 0; i < o->n_extra; i++)
		x->total += o->extra[i].len;
	if ((r = ev_plan_text(o, &ap_s)) < 0)
		return errf(r, ret_err, "assessment plan: %s", bw_strerror(r));
	x->total += strlen(ap_s);
	ev_plan_size(o->cd_path, &x->total);
	if (o->audit_dir && (r = ev_trail_plan(x, &t, ret_err)) < 0)
		goto out;
	ev_plan_size(o->ssp_path, &x->total);
	ev_plan_size(o->ca_path, &x->total);

	if ((r = ev_add(x, EV_AR_NAME, "assessment-results", ar_s,
	    strlen(ar_s))) < 0)
		goto out;
	if (poam_s)
		r = ev_add(x, EV_POAM_NAME, "poam", poam_s, strlen(poam_s));
	else
		r = ev_absent(x, EV_POAM_NAME, "no check failed: nothing to remediate");
	if (r < 0 ||
	    (r = ev_add(x, COMP_AP_JSON_NAME, "assessment-plan", ap_s,
	    strlen(ap_s))) < 0 ||
	    (r = ev_add_file(x, o->ssp_path, EV_SSP_NAME, "ssp",
	    "no SSP supplied", ret_err)) < 0 ||
	    (r = ev_add_file(x, o->cd_path, COMP_CD_JSON_NAME,
	    "component-definition", "no component definition supplied",
	    ret_err)) < 0 ||
	    (r = ev_add_trail(x, &t, manifest, ret_err)) < 0 ||
	    (r = ev_add_file(x, o->ca_path, EV_CA_NAME, "ca-chain",
	    "no certificate chain supplied", ret_err)) < 0 ||
	    (r = ev_add_tpm(x, manifest, ret_err)) < 0)
		goto out;
	for (size_t i = 0; i < o->n_extra; i++)
		if ((r = ev_add(x, o->extra[i].name, o->extra[i].kind,
		    o->extra[i].data, o->extra[i].len)) < 0) {
			r = errf(r, ret_err, "writing %s: %s", o->extra[i].name,
			    bw_strerror(r));
			goto out;
		}
	r = 0;
out:
	ev_trail_done(&t);
	return r;
}

static int
ev_sign_and_finish(struct ev_export *x, json_t *manifest, char **ret_err)
{
	_cleanup_free_ char		*text = NULL, *msg = NULL;
	_cleanup_free_ unsigned char	*sig = NULL;
	size_t				 tlen, siglen = 0, clen = strlen(EVIDENCE_SIG_CONTEXT);
	int				 r;

	if (!(text = json_dumps(manifest, JSON_INDENT(1) | JSON_PRESERVE_ORDER)))
		return -ENOMEM;
	tlen = strlen(text);
	if (!(msg = malloc(clen + tlen)))
		return -ENOMEM;
	memcpy(msg, EVIDENCE_SIG_CONTEXT, clen);
	memcpy(msg + clen, text, tlen);
	if ((r = audit_checkpoint_sign(x->o->signer, msg, clen + tlen, &sig,
	    &siglen)) < 0)
		return errf(r, ret_err, "signing the manifest: %s", bw_strerror(r));
	if ((r = tar_put(&x->tar, EVIDENCE_MANIFEST, text, tlen)) < 0 ||
	    (r = tar_put(&x->tar, EVIDENCE_SIGNATURE, sig, siglen)) < 0)
		return errf(r, ret_err, "writing the bundle: %s",
		    bw_strerror(r));
	if (x->o->tpm && (r = ev_add_quote(x, text, tlen, ret_err)) < 0)
		return r;
	if ((r = tar_finish(&x->tar)) < 0)
		return errf(r, ret_err, "writing the bundle: %s",
		    bw_strerror(r));
	return 0;
}

int
evidence_export(const struct evidence_opts *o, const char *out_tar,
    char **ret_err)
{
	_cleanup_json_ json_t	*manifest = NULL;
	_cleanup_free_ char	*tmp = NULL, *dcopy = NULL;
	_cleanup_close_ int	 fd = -1;
	struct ev_export	 x = { .o = o };
	char			 created[32], since[32], until[32], kid[AUDIT_HASH_HEX + 1];
	time_t			 now = o->now ? o->now : time(NULL);
	int			 r;

	if (!o->signer || !o->signer->pubkey)
		return errf(-BW_E_INVALID, ret_err, "no signing key");
	if (!o->assessment_results && (!o->scan || !o->cat))
		return errf(-BW_E_INVALID, ret_err, "neither assessment results nor "
		    "a scan with its catalog");
	if (o->until && o->since > o->until)
		return errf(-BW_E_INVALID, ret_err, "the period ends before it starts");
	if (o->tpm && (!o->tpm->describe || !o->tpm->quote))
		return errf(-BW_E_INVALID, ret_err, "a TPM without its functions");
	if ((r = audit_key_id(o->signer->pubkey, kid)) < 0)
		return errf(r, ret_err, "cannot compute the key id");
	bw_time_rfc3339_at(created, sizeof(created), now);
	bw_time_rfc3339_at(since, sizeof(since), o->since);
	bw_time_rfc3339_at(until, sizeof(until), o->until);
	if (!(manifest = json_pack("{s:s, s:i, s:s, s:s, s:{s:s?, s:s?}, "
	    "s:{s:s, s:s, s:s, s:s}, s:[], s:[]}", "format", "bulwark-evidence",
	    "version", EVIDENCE_FORMAT_VERSION, "created", created, "system",
	    o->system_name ? o->system_name : "Bulwark appliance", "period",
	    "since", o->since ? since : NULL, "until", o->until ? until : NULL,
	    "signature", "file", EVIDENCE_SIGNATURE, "algorithm",
	    "ecdsa-p384-sha384", "context", EVIDENCE_SIG_CONTEXT, "key-id", kid,
	    "files", "absent")))
		return -ENOMEM;
	if (o->package && json_object_set_new(manifest, "package",
	    json_string(o->package)) < 0)
		return -ENOMEM;
	x.files = json_object_get(manifest, "files");
	x.absent = json_object_get(manifest, "absent");
	x.tar.mtime = now;

	if (asprintf(&tmp, "%s.tmp-XXXXXX", out_tar) < 0) {
		tmp = NULL;
		return -ENOMEM;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		return errf(-errno, ret_err, "%s: %s", tmp, strerror(errno));
	x.tar.fd = fd;
	if ((r = ev_write_all(&x, manifest, ret_err)) < 0 ||
	    (r = ev_sign_and_finish(&x, manifest, ret_err)) < 0)
		goto fail;
	if (fsync(fd) < 0) {
		r = errf(-errno, ret_err, "fsync %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (rename(tmp, out_tar) < 0) {
		r = errf(-errno, ret_err, "rename to %s: %s", out_tar, strerror(errno));
		goto fail;
	}
	if ((dcopy = strdup(out_tar))) {
		_cleanup_close_ int dirfd = open(dirname(dcopy),
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dirfd >= 0)
			(void)fsync(dirfd);
	}
	return 0;
fail:
	(void)unlink(tmp);
	return r;
}

/* ---- verification ---- */

struct ev_entry {
	char	*name;
	uint64_t size;
	char	 sha256[AUDIT_HASH_HEX + 1];
	bool	 listed;
};

struct ev_verify {
	struct evidence_report	*rep;
	struct ev_entry		*ents;
	size_t			 n, cap;
	char			*manifest;	/* its bytes */
	size_t			 manifest_len;
	unsigned char		*sig;
	size_t			 siglen;
	char			*tpm[4];	/* ak, attest, signature, PCR values */
	size_t			 tpm_len[4];
	struct audit_verifier	*av;
	int			 av_stopped;	/* the walk found damage */
	char			 first_prev[AUDIT_HASH_HEX + 1];
	uint64_t		 first_seq;
	char			 last_seg[TAR_NAME_MAX + 2];
	int			 oom;
};

/* The files of ev_verify.tpm, in its order. */
static const char *const ev_tpm_names[] = {
	EV_AK_NAME, EV_QATTEST_NAME, EV_QSIG_NAME, EV_QPCRS_NAME,
};

static void ev_problem(struct ev_verify *v, enum evidence_problem_kind k,
    const char *file, const char *fmt, ...) _printf_(4, 5);

static void
ev_problem(struct ev_verify *v, enum evidence_problem_kind k, const char *file,
    const char *fmt, ...)
{
	struct evidence_report	*rep = v->rep;
	struct evidence_problem	*p, *np;
	va_list			 ap;

	rep->ok = 0;
	if (rep->n_problems >= EVIDENCE_PROBLEMS_MAX)
		return;
	np = realloc(rep->problems, (rep->n_problems + 1) * sizeof(*np));
	if (!np) {
		v->oom = 1;
		return;
	}
	rep->problems = np;
	p = &np[rep->n_problems];
	memset(p, 0, sizeof(*p));
	p->kind = k;
	p->file = file ? strdup(file) : NULL;
	va_start(ap, fmt);
	if (vasprintf(&p->message, fmt, ap) < 0)
		p->message = NULL;
	va_end(ap);
	if ((file && !p->file) || !p->message) {
		free(p->file);
		free(p->message);
		v->oom = 1;
		return;
	}
	rep->n_problems++;
}

static bool
ev_name_ok(const char *s)
{
	if (!*s || *s == '/' || strstr(s, "//") || strstr(s, "..") ||
	    s[strlen(s) - 1] == '/')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-/", *s))
			return false;
	return true;
}

static int
ev_octal(const unsigned char *f, size_t w, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < w && f[i] == ' ')
		i++;
	if (i == w || f[i] < '0' || f[i] > '7')
		return -BW_E_INVALID;
	for (; i < w && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v > (UINT64_MAX >> 3))
			return -BW_E_INVALID;
		v = (v << 3) | (uint64_t)(f[i] - '0');
	}
	for (; i < w; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return -BW_E_INVALID;
	*ret = v;
	return 0;
}

/* Parses one header. Returns 1 for an entry, 0 for a zero block,
 * -BW_E_INVALID (with a problem recorded) for anything else. */
static int
ev_parse_header(struct ev_verify *v, const unsigned char *h, uint64_t off,
    char name[TAR_NAME_MAX + 2], uint64_t *ret_size)
{
	uint64_t	sum, size;
	unsigned	calc = 0;
	size_t		i;

	for (i = 0; i < TAR_BLOCK && !h[i]; i++)
		;
	if (i == TAR_BLOCK)
		return 0;
	for (i = 0; i < TAR_BLOCK; i++)
		calc += (i >= 148 && i < 156) ? ' ' : h[i];
	if (ev_octal(h + 148, 8, &sum) < 0 || sum != calc) {
		ev_problem(v, EVIDENCE_MALFORMED, NULL, "tar header at offset %" PRIu64
		    ": checksum mismatch", off);
		return -BW_E_INVALID;
	}
	if (memcmp(h + 257, "ustar", 5) != 0) {
		ev_problem(v, EVIDENCE_MALFORMED, NULL, "tar header at offset %" PRIu64
		    ": not a ustar header", off);
		return -BW_E_INVALID;
	}
	if (!memchr(h, '\0', 100) || h[345] != '\0') {
		ev_problem(v, EVIDENCE_MALFORMED, NULL, "tar header at offset %" PRIu64
		    ": name longer than %d bytes", off, TAR_NAME_MAX);
		return -BW_E_INVALID;
	}
	memcpy(name, h, 100);
	name[100] = '\0';
	if (h[156] != '0' && h[156] != '\0') {
		ev_problem(v, EVIDENCE_MALFORMED, name, "tar entry is not a regular "
		    "file (type '%c')", isprint(h[156]) ? h[156] : '?');
		return -BW_E_INVALID;
	}
	if (!ev_name_ok(name)) {
		ev_problem(v, EVIDENCE_MALFORMED, NULL, "tar entry at offset %" PRIu64
		    " has an unsafe name", off);
		return -BW_E_INVALID;
	}
	if (ev_octal(h + 124, 12, &size) < 0) {
		ev_problem(v, EVIDENCE_MALFORMED, name, "bad size field");
		return -BW_E_INVALID;
	}
	*ret_size = size;
	return 1;
}

static int
ev_keep(char **dst, size_t *dlen, const char *data, size_t len)
{
	free(*dst);
	if (!(*dst = malloc(len + 1)))
		return -ENOMEM;
	memcpy(*dst, data, len);
	(*dst)[len] = '\0';
	*dlen = len;
	return 0;
}

/* One entry's bytes: hash, keep what is needed later, feed segments to
 * the chain walk. */
static int
ev_entry(struct ev_verify *v, const char *name, const char *data, size_t len)
{
	struct ev_entry	*e;
	uint64_t	 seq;
	int		 r;

	if (v->n == v->cap) {
		size_t ncap = v->cap ? v->cap * 2 : 32;
		struct ev_entry *ne = realloc(v->ents, ncap * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		v->ents = ne;
		v->cap = ncap;
	}
	e = &v->ents[v->n];
	memset(e, 0, sizeof(*e));
	if (!(e->name = strdup(name)))
		return -ENOMEM;
	v->n++;
	e->size = len;
	if ((r = ev_sha256_hex(data, len, e->sha256)) < 0)
		return r;
	v->rep->files++;
	v->rep->bytes += len;

	if (strcmp(name, EVIDENCE_MANIFEST) == 0)
		return ev_keep(&v->manifest, &v->manifest_len, data, len);
	if (strcmp(name, EVIDENCE_SIGNATURE) == 0)
		return ev_keep((char **)&v->sig, &v->siglen, data, len);
	for (size_t i = 0; i < ELEMENTSOF(ev_tpm_names); i++)
		if (strcmp(name, ev_tpm_names[i]) == 0) {
			if (len > EVIDENCE_TPM_MAX) {
				ev_problem(v, EVIDENCE_QUOTE, name, "larger than %d "
				    "bytes", EVIDENCE_TPM_MAX);
				return 0;
			}
			return ev_keep(&v->tpm[i], &v->tpm_len[i], data, len);
		}
	if (strncmp(name, EV_AUDIT_DIR, strlen(EV_AUDIT_DIR)) == 0 &&
	    audit_segment_name_parse(name + strlen(EV_AUDIT_DIR), &seq) == 0) {
		const char	*seg = name + strlen(EV_AUDIT_DIR);
		char		 prev[AUDIT_HASH_HEX + 1];
		uint64_t	 fs;
		size_t		 hl;

		if (v->last_seg[0] && strcmp(seg, v->last_seg) <= 0)
			ev_problem(v, EVIDENCE_MALFORMED, name, "audit segments are "
			    "not in chain order in the bundle");
		snprintf(v->last_seg, sizeof(v->last_seg), "%s", seg);
		if (!v->rep->audit_segments &&
		    audit_segment_header_parse(data, len, &fs, prev, &hl) == 0) {
			v->first_seq = fs;
			memcpy(v->first_prev, prev, sizeof(prev));
		}
		v->rep->audit_segments++;
		if (v->av_stopped)
			return 0;
		if ((r = audit_verifier_segment(v->av, seg, data, len)) < 0)
			return r;
		if (r > 0)
			v->av_stopped = 1;
	}
	return 0;
}

/* Reads up to N bytes, fewer only at the end of the file. */
static ssize_t
ev_read_full(int fd, void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t got = read(fd, (char *)buf + done, n - done);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			break;
		done += (size_t)got;
	}
	return (ssize_t)done;
}

/* Streams the tar. Returns 0 (problems recorded) or -ENOMEM / -errno. */
static int
ev_read_tar(struct ev_verify *v, int fd)
{
	unsigned char	 h[TAR_BLOCK];
	uint64_t	 off = 0;
	bool		 ended = false;
	int		 r;

	for (;;) {
		char		 name[TAR_NAME_MAX + 2];
		uint64_t	 size, padded;
		ssize_t		 got;
		_cleanup_free_ char *data = NULL;
		size_t		 max;

		got = ev_read_full(fd, h, sizeof(h));
		if (got < 0)
			return (int)got;
		if (got == 0)
			break;
		if ((size_t)got < sizeof(h)) {
			ev_problem(v, EVIDENCE_MALFORMED, NULL, "the bundle ends inside "
			    "a tar block at offset %" PRIu64, off);
			return 0;
		}
		r = ev_parse_header(v, h, off, name, &size);
		if (r < 0)
			return 0;
		if (r == 0) {
			ended = true;
			off += TAR_BLOCK;
			continue;
		}
		if (ended) {
			ev_problem(v, EVIDENCE_MALFORMED, name, "data after the end of "
			    "the archive (offset %" PRIu64 ")", off);
			return 0;
		}
		for (size_t i = 0; i < v->n; i++)
			if (strcmp(v->ents[i].name, name) == 0) {
				ev_problem(v, EVIDENCE_MALFORMED, name, "appears twice in "
				    "the bundle");
				return 0;
			}
		if (v->n >= EVIDENCE_FILES_MAX) {
			ev_problem(v, EVIDENCE_MALFORMED, name, "more than %d files",
			    EVIDENCE_FILES_MAX);
			return 0;
		}
		max = strncmp(name, EV_AUDIT_DIR, strlen(EV_AUDIT_DIR)) == 0 ?
		    AUDIT_SEGMENT_READ_MAX : EVIDENCE_FILE_MAX;
		if (size > max) {
			ev_problem(v, EVIDENCE_MALFORMED, name, "larger than %zu bytes",
			    max);
			return 0;
		}
		padded = (size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
		if (!(data = malloc(padded ? padded : 1)))
			return -ENOMEM;
		got = ev_read_full(fd, data, padded);
		if (got < 0)
			return (int)got;
		if ((uint64_t)got < padded) {
			ev_problem(v, EVIDENCE_MALFORMED, name, "the bundle ends inside "
			    "this file");
			return 0;
		}
		off += TAR_BLOCK + padded;
		if ((r = ev_entry(v, name, data, size)) < 0)
			return r;
	}
	if (!ended)
		ev_problem(v, EVIDENCE_MALFORMED, NULL, "the archive has no end "
		    "marker: it was cut");
	return 0;
}

static struct ev_entry *
ev_find(struct ev_verify *v, const char *name)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->ents[i].name, name) == 0)
			return &v->ents[i];
	return NULL;
}

static int
ev_strdup_json(char **dst, json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	if (!s)
		return 0;
	return (*dst = strdup(s)) ? 0 : -ENOMEM;
}

/* Whether NAME is one of the quote's parts, which follow the manifest
 * and are not listed in it. */
static bool
ev_quote_part(const char *name)
{
	for (size_t i = 1; i < ELEMENTSOF(ev_tpm_names); i++)
		if (strcmp(name, ev_tpm_names[i]) == 0)
			return true;
	return false;
}

/* Checks the manifest's signature and every file against it. */
static int
ev_check_manifest(struct ev_verify *v, EVP_PKEY *trust, json_t **ret_m)
{
	struct evidence_report	*rep = v->rep;
	_cleanup_free_ char	*err = NULL, *msg = NULL;
	_cleanup_json_ json_t	*m = NULL;
	json_t			*files, *f, *absent, *sig;
	char			 kid[AUDIT_HASH_HEX + 1];
	size_t			 i, clen = strlen(EVIDENCE_SIG_CONTEXT);
	const char		*mkid;
	int			 r;

	if (!v->manifest) {
		ev_problem(v, EVIDENCE_MISSING, EVIDENCE_MANIFEST, "the bundle has no "
		    "manifest: nothing in it can be trusted");
		return 0;
	}
	if (!v->sig)
		ev_problem(v, EVIDENCE_MISSING, EVIDENCE_SIGNATURE, "the manifest is "
		    "not signed");
	else {
		if (!(msg = malloc(clen + v->manifest_len)))
			return -ENOMEM;
		memcpy(msg, EVIDENCE_SIG_CONTEXT, clen);
		memcpy(msg + clen, v->manifest, v->manifest_len);
		if (audit_checkpoint_sig_ok(trust, msg, clen + v->manifest_len, v->sig,
		    v->siglen) != 1)
			ev_problem(v, EVIDENCE_BAD_SIGNATURE, EVIDENCE_MANIFEST, "the "
			    "manifest's signature does not verify with the trust "
			    "anchor: the manifest was altered or signed by another key");
	}
	if ((r = json_parse_bounded(v->manifest, v->manifest_len, 8, &m, &err)) < 0) {
		if (r == -ENOMEM)
			return r;
		ev_problem(v, EVIDENCE_MALFORMED, EVIDENCE_MANIFEST, "not valid JSON: %s",
		    err ? err : "?");
		return 0;
	}
	if (json_integer_value(json_object_get(m, "version")) != EVIDENCE_FORMAT_VERSION ||
	    !json_is_array(files = json_object_get(m, "files"))) {
		ev_problem(v, EVIDENCE_MALFORMED, EVIDENCE_MANIFEST, "not a version %d "
		    "evidence manifest", EVIDENCE_FORMAT_VERSION);
		return 0;
	}
	sig = json_object_get(m, "signature");
	mkid = json_string_value(json_object_get(sig, "key-id"));
	if (audit_key_id(trust, kid) == 0 && mkid && strcmp(mkid, kid) != 0)
		ev_problem(v, EVIDENCE_BAD_SIGNATURE, EVIDENCE_MANIFEST, "the manifest "
		    "names signing key %.16s..., the trust anchor is %.16s...", mkid, kid);
	if ((r = ev_strdup_json(&rep->created, m, "created")) < 0 ||
	    (r = ev_strdup_json(&rep->system, m, "system")) < 0 ||
	    (r = ev_strdup_json(&rep->since, json_object_get(m, "period"), "since")) < 0 ||
	    (r = ev_strdup_json(&rep->until, json_object_get(m, "period"), "until")) < 0 ||
	    (r = ev_strdup_json(&rep->key_id, sig, "key-id")) < 0 ||
	    (r = ev_strdup_json(&rep->package, m, "package")) < 0)
		return r;

	json_array_foreach(files, i, f) {
		const char	*name = json_string_value(json_object_get(f, "name"));
		const char	*hex = json_string_value(json_object_get(f, "sha256"));
		json_t		*js = json_object_get(f, "size");
		struct ev_entry	*e;

		if (!name || !hex || !json_is_integer(js)) {
			ev_problem(v, EVIDENCE_MALFORMED, EVIDENCE_MANIFEST, "files[%zu] "
			    "lacks name, size or sha256", i);
			continue;
		}
		if (!(e = ev_find(v, name))) {
			ev_problem(v, EVIDENCE_MISSING, name, "listed in the manifest, "
			    "absent from the bundle");
			continue;
		}
		if (e->listed) {
			ev_problem(v, EVIDENCE_MALFORMED, EVIDENCE_MANIFEST, "%s listed "
			    "twice", name);
			continue;
		}
		e->listed = true;
		if ((uint64_t)json_integer_value(js) != e->size)
			ev_problem(v, EVIDENCE_SIZE, name, "size %" PRIu64 " bytes, the "
			    "manifest says %" JSON_INTEGER_FORMAT, e->size,
			    json_integer_value(js));
		else if (strcmp(hex, e->sha256) != 0)
			ev_problem(v, EVIDENCE_DIGEST, name, "SHA-256 %.16s..., the "
			    "manifest says %.16s...: the file was altered", e->sha256, hex);
	}
	for (i = 0; i < v->n; i++) {
		const char *name = v->ents[i].name;

		if (!v->ents[i].listed && strcmp(name, EVIDENCE_MANIFEST) != 0 &&
		    strcmp(name, EVIDENCE_SIGNATURE) != 0 &&
		    !(json_object_get(m, "tpm") && ev_quote_part(name)))
			ev_problem(v, EVIDENCE_EXTRA, name, "in the bundle but not in the "
			    "manifest");
	}
	absent = json_object_get(m, "absent");
	if (json_is_array(absent) && json_array_size(absent) <= 64) {
		if (!(rep->absent = calloc(json_array_size(absent) + 1, sizeof(char *))))
			return -ENOMEM;
		json_array_foreach(absent, i, f) {
			if (asprintf(&rep->absent[rep->n_absent], "%s: %s",
			    json_string_value(json_object_get(f, "name")) ?: "?",
			    json_string_value(json_object_get(f, "reason")) ?: "?") < 0)
				return -ENOMEM;
			rep->n_absent++;
		}
	}
	*ret_m = TAKE_PTR(m);
	return 0;
}

/* The chain walk's verdict, anchored by the signed manifest. */
static int
ev_check_audit(struct ev_verify *v, json_t *m)
{
	struct evidence_report		*rep = v->rep;
	struct audit_verify_report	 ar = { 0 };
	json_t				*a = m ? json_object_get(m, "audit") : NULL;
	const char			*fprev, *head;
	uint64_t			 fseq, lseq;
	int				 r;

	if (!rep->audit_segments) {
		if (a)
			ev_problem(v, EVIDENCE_MISSING, EV_AUDIT_DIR, "the manifest lists "
			    "%" JSON_INTEGER_FORMAT " audit segments, the bundle has none",
			    json_integer_value(json_object_get(a, "segments")));
		return 0;
	}
	if ((r = audit_verifier_finish(v->av, &ar)) < 0)
		return r;
	rep->audit_first_seq = ar.first_seq;
	rep->audit_last_seq = ar.last_seq;
	rep->audit_checkpoints = ar.checkpoints;
	/* A bundle holds a window of the trail: its first segment is
	 * anchored by the signed manifest, not by a retention record, so
	 * the walk's "earlier segments were removed" is judged here. */
	if (ar.damage == AUDIT_MISSING && !v->av_stopped && !ar.segment)
		ar.damage = AUDIT_OK;
	if (ar.damage != AUDIT_OK) {
		_cleanup_free_ char *file = NULL;

		if (ar.segment && asprintf(&file, EV_AUDIT_DIR "%s", ar.segment) < 0)
			file = NULL;
		ev_problem(v, EVIDENCE_AUDIT, file, "%s", ar.message ? ar.message :
		    audit_damage_name(ar.damage));
		if (rep->n_problems && rep->problems[rep->n_problems - 1].kind ==
		    EVIDENCE_AUDIT) {
			rep->problems[rep->n_problems - 1].seq = ar.bad_seq;
			rep->problems[rep->n_problems - 1].damage = ar.damage;
		}
		audit_verify_report_done(&ar);
		return 0;
	}
	if (!a) {
		ev_problem(v, EVIDENCE_MALFORMED, EVIDENCE_MANIFEST, "the bundle holds "
		    "audit segments but the manifest does not describe them");
		audit_verify_report_done(&ar);
		return 0;
	}
	fseq = (uint64_t)json_integer_value(json_object_get(a, "first-seq"));
	lseq = (uint64_t)json_integer_value(json_object_get(a, "last-seq"));
	fprev = json_string_value(json_object_get(a, "first-prev"));
	head = json_string_value(json_object_get(a, "head-hash"));
	if (fseq != v->first_seq || !fprev || strcmp(fprev, v->first_prev) != 0)
		ev_problem(v, EVIDENCE_AUDIT, NULL, "the first audit segment does not "
		    "start where the signed manifest says (seq %" PRIu64 ")", fseq);
	else if (lseq != ar.last_seq || !head || strcmp(head, ar.head_hash) != 0)
		ev_problem(v, EVIDENCE_AUDIT, NULL, "the audit records end at seq %"
		    PRIu64 ", the signed manifest says seq %" PRIu64 ": records were "
		    "removed or added at the end", ar.last_seq, lseq);
	if (json_integer_value(json_object_get(a, "segments")) !=
	    (json_int_t)rep->audit_segments)
		ev_problem(v, EVIDENCE_AUDIT, NULL, "the bundle holds %zu audit "
		    "segments, the manifest says %" JSON_INTEGER_FORMAT,
		    rep->audit_segments, json_integer_value(json_object_get(a,
		    "segments")));
	audit_verify_report_done(&ar);
	return 0;
}

/* The SHA-256 the signed manifest M gives for file NAME, or NULL. */
static const char *
ev_listed_sha256(json_t *m, const char *name)
{
	return json_str_at(json_array_find(json_object_get(m, "files"), "name",
	    name), "sha256", NULL);
}

/* The attestation key must be the one the signed manifest lists: a
 * quote signed by any other key proves nothing about this appliance. */
static void
ev_check_ak(struct ev_verify *v, json_t *m)
{
	struct ev_entry	*e = ev_find(v, EV_AK_NAME);
	const char	*want = ev_listed_sha256(m, EV_AK_NAME);

	if (!want)
		ev_problem(v, EVIDENCE_QUOTE, EV_AK_NAME, "the signed manifest does "
		    "not list the attestation key: the quote cannot be attributed");
	else if (e && strcmp(e->sha256, want) != 0)
		ev_problem(v, EVIDENCE_QUOTE, EV_AK_NAME, "not the attestation key "
		    "the signed manifest names (SHA-256 %.16s..., signed %.16s...): "
		    "another TPM's key", e->sha256, want);
}

/* Runs QUOTE_FN on the quote's parts, over SHA-256 of this manifest. */
static int
ev_run_quote(struct ev_verify *v, json_t *t, evidence_quote_fn quote_fn)
{
	_cleanup_json_ json_t	*pj = NULL;
	_cleanup_free_ char	*err = NULL;
	unsigned char		 nonce[AUDIT_HASH_LEN];
	struct evidence_quote	 q = { 0 };
	int			 r;

	if (json_parse_bounded(v->tpm[3], v->tpm_len[3], 4, &pj, NULL) < 0 ||
	    !json_is_object(q.pcrs = json_object_get(pj, "values")) ||
	    !json_is_string(json_object_get(pj, "bank")) ||
	    strcmp(json_string_value(json_object_get(pj, "bank")), "sha256")) {
		ev_problem(v, EVIDENCE_QUOTE, EV_QPCRS_NAME, "not a JSON object of "
		    "SHA-256 PCR values");
		return 0;
	}
	if ((r = audit_sha256(v->manifest, v->manifest_len, nonce)) < 0)
		return r;
	q.attest = (unsigned char *)v->tpm[1];
	q.attest_len = v->tpm_len[1];
	q.sig = (unsigned char *)v->tpm[2];
	q.sig_len = v->tpm_len[2];
	r = quote_fn(v->tpm[0], &q, nonce, sizeof(nonce),
	    json_object_get(t, "golden"), &err);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		ev_problem(v, EVIDENCE_QUOTE, EV_QATTEST_NAME, "the TPM quote does "
		    "not verify against this bundle's attestation key, nonce "
		    "(SHA-256 of manifest.json) and golden PCR values: %s",
		    err ? err : bw_strerror(r));
	else
		v->rep->quote = 1;
	return 0;
}

/* The TPM quote: present when the signed manifest says the bundle is
 * quoted (and required by a verifier that checks quotes), signed by the
 * attestation key the manifest lists, over SHA-256 of this manifest,
 * showing the golden PCR values the manifest records. */
static int
ev_check_quote(struct ev_verify *v, json_t *m, evidence_quote_fn quote_fn)
{
	json_t	*t = m ? json_object_get(m, "tpm") : NULL;
	char	 missing[128] = "";

	if (!m)
		return 0;
	if (!json_is_object(t)) {
		if (quote_fn)
			ev_problem(v, EVIDENCE_QUOTE, EV_QATTEST_NAME, "the TPM quote "
			    "is missing: the signed manifest records no quote, so "
			    "nothing ties the bundle to the appliance's TPM");
		return 0;
	}
	if (json_is_string(json_object_get(t, "pcrs")) &&
	    !(v->rep->quote_pcrs = strdup(json_string_value(json_object_get(t,
	    "pcrs")))))
		return -ENOMEM;
	for (size_t i = 1; i < ELEMENTSOF(ev_tpm_names); i++)
		if (!v->tpm[i])
			snprintf(missing + strlen(missing), sizeof(missing) -
			    strlen(missing), "%s%s", *missing ? ", " : "",
			    ev_tpm_names[i]);
	if (*missing) {
		ev_problem(v, EVIDENCE_QUOTE, EV_QATTEST_NAME, "the TPM quote is "
		    "missing (%s not in the bundle), yet the signed manifest says "
		    "the bundle is quoted", missing);
		return 0;
	}
	v->rep->quote = 0;
	if (!quote_fn)
		return 0;
	ev_check_ak(v, m);
	if (!v->tpm[0]) {
		ev_problem(v, EVIDENCE_QUOTE, EV_AK_NAME, "the attestation key is "
		    "missing: the quote cannot be checked");
		return 0;
	}
	return ev_run_quote(v, t, quote_fn);
}

int
evidence_verify_ex(const char *tar, EVP_PKEY *trust, evidence_quote_fn quote_fn,
    struct evidence_report *ret)
{
	return evidence_verify_keys(tar, &trust, trust ? 1 : 0, quote_fn, ret);
}

int
evidence_verify_keys(const char *tar, EVP_PKEY *const *keys, size_t nkeys,
    evidence_quote_fn quote_fn, struct evidence_report *ret)
{
	_cleanup_close_ int	 fd = -1;
	_cleanup_json_ json_t	*m = NULL;
	struct evidence_report	 rep = { .ok = 1, .quote = -1 };
	struct ev_verify	 v = { .rep = &rep };
	EVP_PKEY		*trust = nkeys ? keys[0] : NULL;
	int			 r;

	if (!trust)
		return -EINVAL;
	if ((fd = open(tar, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if ((r = audit_verifier_new(trust, AUDIT_KEY_TRUSTED, &v.av)) < 0)
		goto out;
	/* Checkpoint keys the appliance used before KEYS[0] (key changes,
	 * docs/audit-format.md section 4): trusted for checkpoints only. */
	for (size_t i = 1; i < nkeys; i++)
		if ((r = audit_verifier_add_key(v.av, keys[i], AUDIT_KEY_TRUSTED)) < 0)
			goto out;
	if ((r = ev_read_tar(&v, fd)) < 0 ||
	    (r = ev_check_manifest(&v, trust, &m)) < 0 ||
	    (r = ev_check_audit(&v, m)) < 0 ||
	    (r = ev_check_quote(&v, m, quote_fn)) < 0)
		goto out;
	if (v.oom) {
		r = -ENOMEM;
		goto out;
	}
	*ret = rep;
	memset(&rep, 0, sizeof(rep));
	r = 0;
out:
	evidence_report_done(&rep);
	for (size_t i = 0; i < v.n; i++)
		free(v.ents[i].name);
	free(v.ents);
	free(v.manifest);
	free(v.sig);
	for (size_t i = 0; i < ELEMENTSOF(v.tpm); i++)
		free(v.tpm[i]);
	audit_verifier_free(v.av);
	return r;
}

int
evidence_verify(const char *tar, EVP_PKEY *trust, struct evidence_report *ret)
{
	return evidence_verify_ex(tar, trust, NULL, ret);
}

void
evidence_report_done(struct evidence_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_problems; i++) {
		free(r->problems[i].file);
		free(r->problems[i].message);
	}
	free(r->problems);
	for (size_t i = 0; i < r->n_absent; i++)
		free(r->absent[i]);
	free(r->absent);
	free(r->created);
	free(r->system);
	free(r->since);
	free(r->until);
	free(r->key_id);
	free(r->package);
	free(r->quote_pcrs);
	memset(r, 0, sizeof(*r));
}
