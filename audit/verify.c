#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "audit/segment.h"
#include "audit/signer.h"
#include "audit/verify.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/macro.h"

struct audit_verifier {
	/* Trusted checkpoint keys (not owned): more than one after the
	 * appliance's key changed. */
	EVP_PKEY		*keys[AUDIT_KEYS_MAX];
	char			 key_ids[AUDIT_KEYS_MAX][AUDIT_HASH_HEX + 1];
	size_t			 nkeys;
	struct audit_verify_report rep;
	int			 started, stopped;
	uint64_t		 expected;
	char			 last_hash[AUDIT_HASH_HEX + 1];
	char			 first_prev[AUDIT_HASH_HEX + 1];
	int			 anchored;	/* pruned prefix accounted for */
	uint64_t		 pruned_through;
	char			 padded[256];	/* a segment that ended in padding */
	int			 mark_named;	/* rep.mark.segment is this segment's */
	uint64_t		 mark_max;	/* the mark stops here (0: at the end) */
};

struct span {
	size_t	off, len;
	int	complete;
};

static const char *const damage_names[] = {
	[AUDIT_OK] = "OK",
	[AUDIT_MODIFIED] = "MODIFIED",
	[AUDIT_MISSING] = "MISSING",
	[AUDIT_INSERTED] = "INSERTED",
	[AUDIT_REORDERED] = "REORDERED",
	[AUDIT_TRUNCATED] = "TRUNCATED",
	[AUDIT_BAD_SIGNATURE] = "BAD_SIGNATURE",
	[AUDIT_MALFORMED] = "MALFORMED",
};

const char *
audit_damage_name(enum audit_damage d)
{
	if ((size_t)d >= ELEMENTSOF(damage_names))
		return "UNKNOWN";
	return damage_names[d];
}

static int
damage(struct audit_verifier *v, enum audit_damage d, uint64_t seq,
    const char *segment, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int
damage(struct audit_verifier *v, enum audit_damage d, uint64_t seq,
    const char *segment, const char *fmt, ...)
{
	va_list ap;

	v->rep.damage = d;
	v->rep.bad_seq = seq;
	free(v->rep.segment);
	v->rep.segment = segment ? strdup(segment) : NULL;
	free(v->rep.message);
	va_start(ap, fmt);
	if (vasprintf(&v->rep.message, fmt, ap) < 0)
		v->rep.message = NULL;
	va_end(ap);
	v->stopped = 1;
	return 1;
}

int
audit_verifier_new(EVP_PKEY *key, enum audit_key_source src,
    struct audit_verifier **ret)
{
	struct audit_verifier	*v;
	int			 r;

	if (!(v = calloc(1, sizeof(*v))))
		return -ENOMEM;
	v->rep.key_source = AUDIT_KEY_NONE;
	if (key && (r = audit_verifier_add_key(v, key, src)) < 0) {
		free(v);
		return r;
	}
	*ret = v;
	return 0;
}

int
audit_verifier_add_key(struct audit_verifier *v, EVP_PKEY *key,
    enum audit_key_source src)
{
	if (v->nkeys == AUDIT_KEYS_MAX)
		return -BW_E_INVALID;
	if (audit_key_id(key, v->key_ids[v->nkeys]) < 0)
		return -BW_E_CRYPTO;
	v->keys[v->nkeys++] = key;
	v->rep.key_source = src;
	return 0;
}

/* The trusted key that id ID names, or NULL. */
static EVP_PKEY *
trusted_key(const struct audit_verifier *v, const char *id)
{
	for (size_t i = 0; i < v->nkeys; i++)
		if (memcmp(id, v->key_ids[i], AUDIT_HASH_HEX) == 0)
			return v->keys[i];
	return NULL;
}

void
audit_verifier_free(struct audit_verifier *v)
{
	if (!v)
		return;
	audit_verify_report_done(&v->rep);
	free(v);
}

void
audit_verify_report_done(struct audit_verify_report *r)
{
	if (!r)
		return;
	free(r->segment);
	free(r->message);
	r->segment = r->message = NULL;
}

/* 1 when the line parses, its hash holds, and it is record SEQ
 * chained to PREV. */
static int
line_chains(const char *p, size_t len, uint64_t seq, const char *prev)
{
	struct audit_line	l;
	int			ok;

	if (audit_line_parse(p, len, &l, NULL) < 0)
		return 0;
	ok = audit_line_hash_ok(p, &l) && l.rec.seq == seq &&
	    memcmp(l.prev, prev, AUDIT_HASH_HEX) == 0;
	audit_line_done(&l);
	return ok;
}

/* A line that is not a valid record: was it put there, or is it a
 * record whose bytes changed? The neighbours tell. */
static int
classify_bad_line(struct audit_verifier *v, const char *seg, const char *data,
    const struct span *sp, size_t nsp, size_t i, const char *why,
    int parsed)
{
	char		 stated[AUDIT_HASH_HEX + 1];
	const char	*p = data + sp[i].off;
	int		 have_stated;

	have_stated = audit_line_stated_hash(p, sp[i].len, stated) == 0;
	if (i + 1 < nsp && sp[i + 1].complete) {
		const char *q = data + sp[i + 1].off;

		if (line_chains(q, sp[i + 1].len, v->expected, v->last_hash))
			return damage(v, AUDIT_INSERTED, v->expected, seg,
			    "a line that is not part of the chain was inserted "
			    "before seq %" PRIu64 " (%s)", v->expected, why);
		if (have_stated && line_chains(q, sp[i + 1].len, v->expected + 1,
		    stated))
			return damage(v, AUDIT_MODIFIED, v->expected, seg,
			    "record seq %" PRIu64 " was altered: %s", v->expected,
			    why);
	}
	if (parsed)
		return damage(v, AUDIT_MODIFIED, v->expected, seg,
		    "record seq %" PRIu64 " was altered: %s", v->expected, why);
	return damage(v, AUDIT_MALFORMED, v->expected, seg,
	    "where seq %" PRIu64 " should be there is no valid record: %s",
	    v->expected, why);
}

static void
note_record(struct audit_verifier *v, const struct audit_line *l)
{
	const char *a = l->rec.action;

	v->rep.records++;
	v->rep.last_seq = l->rec.seq;
	memcpy(v->rep.head_hash, l->hash, sizeof(v->rep.head_hash));
	if (!v->mark_max || l->rec.seq <= v->mark_max) {
		v->rep.mark.seq = l->rec.seq;
		memcpy(v->rep.mark.hash, l->hash, sizeof(v->rep.mark.hash));
	}
	v->expected = l->rec.seq + 1;
	memcpy(v->last_hash, l->hash, sizeof(v->last_hash));
	/* The final checkpoint follows audit.stop. */
	if (strcmp(a, AUDIT_ACTION_CHECKPOINT) != 0)
		v->rep.ended_cleanly = strcmp(a, AUDIT_ACTION_STOP) == 0;
	if (strcmp(a, AUDIT_ACTION_RECOVERY) == 0)
		v->rep.recoveries++;
	if (strcmp(a, AUDIT_ACTION_RETENTION) == 0) {
		const char *h = strstr(l->rec.reason, "last_hash=");

		if (l->rec.object_revision > v->pruned_through)
			v->pruned_through = l->rec.object_revision;
		if (h && l->rec.object_revision + 1 == v->rep.first_seq &&
		    strncmp(h + 10, v->first_prev, AUDIT_HASH_HEX) == 0)
			v->anchored = 1;
	}
}

static int
check_line(struct audit_verifier *v, const char *seg, const char *data,
    const struct span *sp, size_t nsp, size_t i)
{
	_cleanup_free_ char	*err = NULL;
	struct audit_line	 l;
	const char		*p = data + sp[i].off;
	int			 r;

	if (!sp[i].complete)
		return damage(v, AUDIT_TRUNCATED, v->expected, seg,
		    "the segment ends inside a record (%zu bytes without an end "
		    "of line) where seq %" PRIu64 " should be", sp[i].len,
		    v->expected);
	if ((r = audit_line_parse(p, sp[i].len, &l, &err)) < 0) {
		if (r == -ENOMEM)
			return r;
		return classify_bad_line(v, seg, data, sp, nsp, i,
		    err ? err : "unparseable", 0);
	}
	if (!audit_line_hash_ok(p, &l)) {
		audit_line_done(&l);
		return classify_bad_line(v, seg, data, sp, nsp, i,
		    "its contents do not match its hash", 1);
	}

	if (l.rec.seq == v->expected) {
		if (memcmp(l.prev, v->last_hash, AUDIT_HASH_HEX) != 0) {
			audit_line_done(&l);
			return damage(v, AUDIT_INSERTED, v->expected, seg,
			    "record seq %" PRIu64 " does not chain to seq %" PRIu64
			    ": it was forged or inserted", v->expected,
			    v->expected - 1);
		}
	} else if (l.rec.seq > v->expected) {
		uint64_t found = l.rec.seq;

		audit_line_done(&l);
		for (size_t j = i + 1; j < nsp; j++) {
			uint64_t s;

			if (audit_line_peek_seq(data + sp[j].off, sp[j].len, &s) == 0 &&
			    s == v->expected)
				return damage(v, AUDIT_REORDERED, v->expected, seg,
				    "record seq %" PRIu64 " appears after seq %" PRIu64
				    ": records were reordered", v->expected, found);
		}
		if (found - v->expected == 1)
			return damage(v, AUDIT_MISSING, v->expected, seg,
			    "record seq %" PRIu64 " is missing (seq %" PRIu64
			    " follows seq %" PRIu64 ")", v->expected, found,
			    v->expected - 1);
		return damage(v, AUDIT_MISSING, v->expected, seg,
		    "records seq %" PRIu64 "..%" PRIu64 " are missing",
		    v->expected, found - 1);
	} else {
		uint64_t s = l.rec.seq;
		int dup = s + 1 == v->expected &&
		    memcmp(l.hash, v->last_hash, AUDIT_HASH_HEX) == 0;

		audit_line_done(&l);
		if (dup)
			return damage(v, AUDIT_INSERTED, s, seg,
			    "a copy of record seq %" PRIu64 " was inserted", s);
		return damage(v, AUDIT_INSERTED, s, seg,
		    "a second record claims seq %" PRIu64 " (expected seq %" PRIu64
		    "): one of them was inserted", s, v->expected);
	}

	if (strcmp(l.rec.action, AUDIT_ACTION_CHECKPOINT) == 0) {
		if (v->nkeys) {
			EVP_PKEY *k = trusted_key(v, l.key);

			if (!k) {
				r = damage(v, AUDIT_BAD_SIGNATURE, l.rec.seq, seg,
				    "checkpoint seq %" PRIu64 " names key %.16s..., not "
				    "%s %s key%s (%.16s...%s)", l.rec.seq, l.key,
				    v->nkeys > 1 ? "one of the" : "the",
				    v->rep.key_source == AUDIT_KEY_TRUSTED ?
				    "trusted" : "trail's", v->nkeys > 1 ? "s" : "",
				    v->key_ids[0], v->nkeys > 1 ? " and others" : "");
				audit_line_done(&l);
				return r;
			}
			if (!audit_checkpoint_sig_ok(k, p, l.signed_len, l.sig,
			    l.siglen)) {
				r = damage(v, AUDIT_BAD_SIGNATURE, l.rec.seq, seg,
				    "checkpoint seq %" PRIu64 ": the signature does not "
				    "verify", l.rec.seq);
				audit_line_done(&l);
				return r;
			}
			v->rep.unsigned_tail = 0;
		} else {
			v->rep.unsigned_tail++;
		}
		v->rep.checkpoints++;
	} else {
		v->rep.unsigned_tail++;
	}
	note_record(v, &l);
	audit_line_done(&l);
	return 0;
}

static int verifier_lines(struct audit_verifier *v, const char *name,
    const char *data, size_t len, size_t start, uint64_t base);

int
audit_verifier_segment(struct audit_verifier *v, const char *name,
    const char *data, size_t len)
{
	char		 prev[AUDIT_HASH_HEX + 1];
	uint64_t	 first, name_seq;
	size_t		 hl, end = len;

	if (v->stopped)
		return 1;
	v->rep.segments++;
	if (v->padded[0])
		return damage(v, AUDIT_MALFORMED, v->expected, v->padded,
		    "the segment ends in NUL padding but is not the last one");
	/* NUL padding (docs/audit-format.md, section 2): NUL bytes from
	 * the start of a line to the end of the last segment. */
	while (end > 0 && data[end - 1] == '\0')
		end--;
	if (audit_segment_header_parse(data, end, &first, prev, &hl) < 0) {
		if (end == 0 || (end < 128 && !memchr(data, '\n', end)))
			return damage(v, AUDIT_TRUNCATED, v->expected ? v->expected : 1,
			    name, "the segment ends inside its header (%zu bytes)", end);
		return damage(v, AUDIT_MALFORMED, v->expected ? v->expected : 1, name,
		    "the segment header is not valid");
	}
	if (audit_segment_name_parse(name, &name_seq) == 0 && name_seq != first)
		return damage(v, AUDIT_MALFORMED, first, name,
		    "the file name does not match first_seq=%" PRIu64
		    " in its header", first);
	if (!v->started) {
		v->started = 1;
		v->rep.first_seq = first;
		v->expected = first;
		memcpy(v->last_hash, prev, sizeof(prev));
		memcpy(v->first_prev, prev, sizeof(prev));
		if (first == 1 && memcmp(prev, audit_zero_hash, AUDIT_HASH_HEX) != 0)
			return damage(v, AUDIT_MODIFIED, 1, name,
			    "the first segment must start from the zero hash");
		v->anchored = first == 1;
	} else {
		if (first > v->expected)
			return damage(v, AUDIT_MISSING, v->expected, name,
			    "records seq %" PRIu64 "..%" PRIu64 " are missing: the "
			    "segment holding them was removed or cut", v->expected,
			    first - 1);
		if (first < v->expected)
			return damage(v, AUDIT_INSERTED, first, name,
			    "the segment starts at seq %" PRIu64 ", which the previous "
			    "segment already holds", first);
		if (memcmp(prev, v->last_hash, AUDIT_HASH_HEX) != 0)
			return damage(v, AUDIT_MODIFIED, first, name,
			    "the segment header's prev does not match the hash of "
			    "seq %" PRIu64, first - 1);
	}
	return verifier_lines(v, name, data, len, hl, 0);
}

/* Checks the record lines of segment NAME in DATA from START on (DATA is
 * the segment's bytes from offset BASE), after its header or after the
 * record a walk resumes from. */
static int
verifier_lines(struct audit_verifier *v, const char *name, const char *data,
    size_t len, size_t start, uint64_t base)
{
	_cleanup_free_ struct span *sp = NULL;
	size_t		 nsp = 0, cap = 0, pos, end = len;
	int		 r;

	while (end > start && data[end - 1] == '\0')
		end--;
	if (end < len && (end == start || data[end - 1] == '\n')) {
		snprintf(v->padded, sizeof(v->padded), "%s", name ? name : "?");
		len = end;
	}
	v->mark_named = 0;
	for (pos = start; pos < len;) {
		const char *nl = memchr(data + pos, '\n', len - pos);

		if (nsp == cap) {
			size_t		 ncap = cap ? cap * 2 : 256;
			struct span	*ns = realloc(sp, ncap * sizeof(*ns));

			if (!ns)
				return -ENOMEM;
			sp = ns;
			cap = ncap;
		}
		sp[nsp].off = pos;
		sp[nsp].len = nl ? (size_t)(nl - data) - pos : len - pos;
		sp[nsp].complete = nl != NULL;
		nsp++;
		pos = nl ? (size_t)(nl - data) + 1 : len;
	}
	for (size_t i = 0; i < nsp; i++) {
		/* NUL bytes with more after them: not padding. */
		if (sp[i].len > 0 && data[sp[i].off] == '\0')
			return damage(v, AUDIT_MALFORMED, v->expected, name,
			    "NUL bytes where seq %" PRIu64 " should start, followed "
			    "by other bytes: padding must run to the end of the "
			    "last segment", v->expected);
		if ((r = check_line(v, name, data, sp, nsp, i)) != 0)
			return r;
		if (v->rep.mark.seq != v->rep.last_seq)
			continue;	/* past mark_max */
		if (!v->mark_named) {
			snprintf(v->rep.mark.segment, sizeof(v->rep.mark.segment),
			    "%s", name ? name : "");
			v->mark_named = 1;
		}
		v->rep.mark.offset = base + sp[i].off + sp[i].len + 1;
	}
	return 0;
}

int
audit_verifier_finish(struct audit_verifier *v, struct audit_verify_report *ret)
{
	if (!v->stopped) {
		if (!v->started)
			damage(v, AUDIT_MISSING, 1, NULL, "the trail has no segments");
		else if (!v->anchored)
			damage(v, AUDIT_MISSING, v->pruned_through + 1, NULL,
			    "the trail starts at seq %" PRIu64 " but no audit.retention "
			    "record accounts for seq %" PRIu64 " with hash %.16s...: "
			    "earlier segments were removed", v->rep.first_seq,
			    v->rep.first_seq - 1, v->first_prev);
	}
	*ret = v->rep;
	memset(&v->rep, 0, sizeof(v->rep));
	return 0;
}

int
audit_verify_dir(const char *dir, EVP_PKEY *trusted_checkpoint_key,
    struct audit_verify_report *ret)
{
	return audit_verify_dir_keys(dir, &trusted_checkpoint_key,
	    trusted_checkpoint_key ? 1 : 0, ret);
}

/* A verifier trusting KEYS, or with none the keys of DIR's key file
 * (*RET_TRAIL_KEYS, freed by the caller with audit_pubkeys_free()). */
static int
verifier_for_dir(const char *dir, EVP_PKEY *const *keys, size_t nkeys,
    struct audit_verifier **ret, EVP_PKEY ***ret_trail_keys,
    size_t *ret_ntrail)
{
	_cleanup_free_ char	*path = NULL;
	struct audit_verifier	*v = NULL;
	int			 r;

	if ((r = audit_verifier_new(NULL, AUDIT_KEY_NONE, &v)) < 0)
		return r;
	*ret = v;
	for (size_t i = 0; i < nkeys; i++)
		if ((r = audit_verifier_add_key(v, keys[i], AUDIT_KEY_TRUSTED)) < 0)
			return r;
	if (nkeys > 0)
		return 0;
	if (asprintf(&path, "%s/%s", dir, AUDIT_KEY_FILE) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	/* Every key the trail has used, newest first. */
	if (access(path, F_OK) == 0 &&
	    audit_pubkeys_load(path, ret_trail_keys, ret_ntrail, NULL) == 0)
		for (size_t i = 0; i < *ret_ntrail; i++)
			if ((r = audit_verifier_add_key(v, (*ret_trail_keys)[i],
			    AUDIT_KEY_TRAIL)) < 0)
				return r;
	return 0;
}

/* Feeds the segments NAMES[FROM..N) read from DFD. */
static int
feed_segments(struct audit_verifier *v, int dfd, char **names, size_t from,
    size_t n)
{
	int r;

	for (size_t i = from; i < n; i++) {
		_cleanup_free_ char *data = NULL;
		size_t len = 0;

		if ((r = read_file_at(dfd, names[i], AUDIT_SEGMENT_READ_MAX, &data,
		    &len)) < 0) {
			if (r != -EFBIG)
				return r;
			return damage(v, AUDIT_MALFORMED, v->expected, names[i],
			    "segment larger than %zu bytes", AUDIT_SEGMENT_READ_MAX);
		}
		if ((r = audit_verifier_segment(v, names[i], data, len)) != 0)
			return r;
	}
	return 0;
}

/* Reads segment FROM->segment from just before the record FROM names to
 * its end into *RET (*RET_LEN bytes, starting at file offset
 * *RET_BASE). */
static int
read_from_mark(int dfd, const struct audit_verify_mark *from, char **ret,
    size_t *ret_len, uint64_t *ret_base)
{
	_cleanup_close_ int	 fd = -1;
	_cleanup_free_ char	*buf = NULL;
	struct stat		 st;
	uint64_t		 base;
	size_t			 len, got = 0;

	fd = openat(dfd, from->segment, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	/* A record line is at least its LF and one byte. */
	if (from->offset < 2 || (uint64_t)st.st_size < from->offset)
		return -BW_E_CORRUPT;
	/* The record's line, at most AUDIT_LINE_MAX bytes, and the LF of
	 * the line before it. */
	base = from->offset > AUDIT_LINE_MAX + 2 ?
	    from->offset - (AUDIT_LINE_MAX + 2) : 0;
	if ((uint64_t)st.st_size - base > AUDIT_SEGMENT_READ_MAX)
		return -EFBIG;
	len = (size_t)((uint64_t)st.st_size - base);
	if (!(buf = malloc(len + 1)))
		return -ENOMEM;
	while (got < len) {
		ssize_t k = pread(fd, buf + got, len - got, (off_t)(base + got));

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	if (base + got < from->offset)
		return -BW_E_CORRUPT;
	buf[got] = '\0';
	*ret = TAKE_PTR(buf);
	*ret_len = got;
	*ret_base = base;
	return 0;
}

/* Starts V after the record FROM names, once the segment still holds
 * that record, unchanged, where it was verified. Returns 0, 1 when it
 * does not (damage recorded), or a negative error. */
static int
resume_at(struct audit_verifier *v, int dfd, const struct audit_verify_mark *from)
{
	_cleanup_free_ char	*data = NULL;
	struct audit_line	 l;
	uint64_t		 base = 0;
	size_t			 len = 0, end, start;
	int			 ok, r;

	r = read_from_mark(dfd, from, &data, &len, &base);
	if (r == -BW_E_CORRUPT || r == -EFBIG)
		return damage(v, AUDIT_TRUNCATED, from->seq, from->segment,
		    "the segment no longer holds the verified record seq %"
		    PRIu64 " at offset %" PRIu64 ": it was cut or replaced",
		    from->seq, from->offset);
	if (r < 0)
		return r;
	end = (size_t)(from->offset - base);
	start = end - 1;
	while (start > 0 && data[start - 1] != '\n')
		start--;
	ok = data[end - 1] == '\n' && audit_line_parse(data + start,
	    end - 1 - start, &l, NULL) == 0;
	if (ok) {
		ok = audit_line_hash_ok(data + start, &l) &&
		    l.rec.seq == from->seq &&
		    memcmp(l.hash, from->hash, AUDIT_HASH_HEX) == 0;
		audit_line_done(&l);
	}
	if (!ok)
		return damage(v, AUDIT_MODIFIED, from->seq, from->segment,
		    "the record verified last (seq %" PRIu64 ", hash %.16s..., "
		    "offset %" PRIu64 ") is no longer there unchanged: the "
		    "segment was rewritten under the verified checkpoint",
		    from->seq, from->hash, from->offset);
	v->started = v->anchored = 1;
	v->expected = from->seq + 1;
	v->rep.first_seq = from->seq + 1;
	memcpy(v->last_hash, from->hash, sizeof(v->last_hash));
	v->rep.mark = *from;
	v->rep.resumed = 1;
	v->rep.segments++;
	return verifier_lines(v, from->segment, data, len, end, base);
}

/* Index of segment NAME in NAMES, or N. */
static size_t
segment_index(char **names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return n;
}

int
audit_verify_dir_keys(const char *dir, EVP_PKEY *const *keys, size_t nkeys,
    struct audit_verify_report *ret)
{
	return audit_verify_dir_from(dir, keys, nkeys, NULL, 0, ret);
}

int
audit_verify_dir_from(const char *dir, EVP_PKEY *const *keys, size_t nkeys,
    const struct audit_verify_mark *from, uint64_t mark_max,
    struct audit_verify_report *ret)
{
	_cleanup_close_ int	 dfd = -1;
	struct audit_verifier	*v = NULL;
	EVP_PKEY		**trail_keys = NULL;
	size_t			 ntrail = 0, at = 0;
	char			**names = NULL;
	size_t			 n = 0;
	int			 r;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if ((r = verifier_for_dir(dir, keys, nkeys, &v, &trail_keys,
	    &ntrail)) < 0)
		goto out;
	v->mark_max = mark_max;
	if ((r = audit_segment_list(dfd, &names, &n)) < 0)
		goto out;
	/* A mark whose segment is gone (pruned by retention, or removed):
	 * the whole walk, which accounts for pruned segments. */
	if (from && from->seq > 0 &&
	    (at = segment_index(names, n, from->segment)) < n) {
		if ((r = resume_at(v, dfd, from)) == 0)
			r = feed_segments(v, dfd, names, at + 1, n);
	} else
		r = feed_segments(v, dfd, names, 0, n);
	/* The writer made every record through MARK_MAX durable: a walk
	 * that ends before it lost records, however well the rest chains
	 * (a removed last segment, or one cut back to a record boundary). */
	if (r == 0 && v->started && !v->stopped && mark_max >= v->expected)
		damage(v, AUDIT_MISSING, v->expected, NULL, "the trail ends at seq %"
		    PRIu64 " but the writer made seq %" PRIu64 " durable: "
		    "records seq %" PRIu64 "..%" PRIu64 " were removed",
		    v->expected - 1, mark_max, v->expected, mark_max);
	if (r >= 0)
		r = audit_verifier_finish(v, ret);
out:
	audit_segment_list_free(names, n);
	audit_verifier_free(v);
	audit_pubkeys_free(trail_keys, ntrail);
	return r;
}
