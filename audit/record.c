#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit/record.h"
#include "hardening/crypto.h"
#include "lib/b64.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"

const char audit_zero_hash[AUDIT_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* Fetched once: implicit fetches on every digest cost more than the
 * digest of a short line. */
static EVP_MD		*md_sha256, *md_sha384;
static pthread_once_t	 md_once = PTHREAD_ONCE_INIT;

/* One SHA-256 context per thread, kept: EVP_Digest() allocates and
 * frees a context and its provider state for every line. Freed when the
 * thread exits. */
static pthread_key_t	 sha_key;

static void
sha_ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void
md_init(void)
{
	/* Through the crypto policy: fips=yes when the FIPS provider is
	 * active. A refusal leaves the pointer NULL, which every hash
	 * below reports as -BW_E_CRYPTO. */
	(void)crypto_md_fetch("SHA256", &md_sha256, NULL);
	(void)crypto_md_fetch("SHA384", &md_sha384, NULL);
	if (pthread_key_create(&sha_key, sha_ctx_free) != 0) {
		EVP_MD_free(md_sha256);
		md_sha256 = NULL;
	}
}

int
audit_sha256(const void *p, size_t n, unsigned char out[AUDIT_HASH_LEN])
{
	EVP_MD_CTX *ctx;

	pthread_once(&md_once, md_init);
	if (!md_sha256)
		return -BW_E_CRYPTO;
	if (!(ctx = pthread_getspecific(sha_key))) {
		if (!(ctx = EVP_MD_CTX_new()))
			return -BW_E_CRYPTO;
		if (pthread_setspecific(sha_key, ctx) != 0) {
			EVP_MD_CTX_free(ctx);
			return -BW_E_CRYPTO;
		}
	}
	if (!EVP_DigestInit_ex2(ctx, md_sha256, NULL) ||
	    !EVP_DigestUpdate(ctx, p, n) ||
	    !EVP_DigestFinal_ex(ctx, out, NULL))
		return -BW_E_CRYPTO;
	return 0;
}

int
audit_sha384(const void *p, size_t n, unsigned char out[48])
{
	pthread_once(&md_once, md_init);
	if (!md_sha384 || !EVP_Digest(p, n, out, NULL, md_sha384, NULL))
		return -BW_E_CRYPTO;
	return 0;
}

/* Bytes written as themselves; every other byte is %XX. */
static int
is_plain(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != '%' && c != '=';
}

static int
encode_bytes(struct bw_buf *b, const unsigned char *s, size_t n)
{
	static const char digits[] = "0123456789ABCDEF";
	char	*o;
	int	 r;

	if ((r = bw_buf_reserve(b, 3 * n)) < 0)
		return r;
	o = b->p + b->len;
	for (size_t i = 0; i < n; i++) {
		if (is_plain(s[i])) {
			*o++ = (char)s[i];
		} else {
			*o++ = '%';
			*o++ = digits[s[i] >> 4];
			*o++ = digits[s[i] & 15];
		}
	}
	b->len = (size_t)(o - b->p);
	b->p[b->len] = '\0';
	return 0;
}

int
audit_value_encode(struct bw_buf *b, const char *value)
{
	size_t	 n = value ? strlen(value) : 0;
	char	 mark[40];
	int	 r;

	if (n <= AUDIT_FIELD_MAX)
		return encode_bytes(b, (const unsigned char *)value, n);
	if ((r = encode_bytes(b, (const unsigned char *)value,
	    AUDIT_FIELD_MAX)) < 0)
		return r;
	snprintf(mark, sizeof(mark), "...[+%zu]", n - AUDIT_FIELD_MAX);
	return encode_bytes(b, (const unsigned char *)mark, strlen(mark));
}

static const char *const outcomes[] = {
	"success", "denied", "failure", "error",
};

static int
outcome_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < ELEMENTSOF(outcomes); i++)
		if (strlen(outcomes[i]) == n && memcmp(outcomes[i], s, n) == 0)
			return 1;
	return 0;
}

int
audit_record_validate(const struct audit_record *r)
{
	if (!r->action || !r->action[0])
		return -BW_E_INVALID;
	if (!r->outcome || !outcome_ok(r->outcome, strlen(r->outcome)))
		return -BW_E_INVALID;
	return 0;
}

int
audit_record_format_fields(const struct audit_record *rec, struct bw_buf *b)
{
	const struct {
		const char *key, *value;
	} f1[] = {
		{ " actor=", rec->actor },
		{ " role=", rec->role },
		{ " tenant=", rec->tenant },
		{ " source=", rec->source },
		{ " auth=", rec->auth_method },
		{ " action=", rec->action },
		{ " okind=", rec->object_kind },
		{ " otenant=", rec->object_tenant },
		{ " oname=", rec->object_name },
	}, f2[] = {
		{ " outcome=", rec->outcome },
		{ " reason=", rec->reason },
		{ " controls=", rec->controls },
	};
	int r;

	if ((r = audit_record_validate(rec)) < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(f1); i++) {
		if ((r = bw_buf_append(b, f1[i].key, strlen(f1[i].key))) < 0 ||
		    (r = audit_value_encode(b, f1[i].value)) < 0)
			return r;
	}
	if ((r = bw_buf_append(b, " orev=", 6)) < 0 ||
	    (r = bw_buf_append_u64(b, rec->object_revision)) < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(f2); i++) {
		if ((r = bw_buf_append(b, f2[i].key, strlen(f2[i].key))) < 0 ||
		    (r = audit_value_encode(b, f2[i].value)) < 0)
			return r;
	}
	return 0;
}

void
audit_time_format(const struct timespec *ts, char buf[AUDIT_TIME_LEN + 1])
{
	struct tm	tm;
	time_t		t = ts->tv_sec;

	char		tmp[96];
	int		year;

	gmtime_r(&t, &tm);
	year = tm.tm_year + 1900;
	if (year < 0 || year > 9999)
		year = 9999;
	snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ",
	    year, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    labs((long)ts->tv_nsec) % 1000000000L);
	memcpy(buf, tmp, AUDIT_TIME_LEN);
	buf[AUDIT_TIME_LEN] = '\0';
}

static int
digits_at(const char *s, size_t n, long *ret)
{
	long v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -BW_E_INVALID;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return 0;
}

int
audit_time_parse(const char *s, size_t len, struct timespec *ret)
{
	long		y, mo, d, h, mi, se, ns;
	struct tm	tm = { 0 };
	time_t		t;
	char		back[AUDIT_TIME_LEN + 1];
	struct timespec	ts;

	if (len != AUDIT_TIME_LEN || s[4] != '-' || s[7] != '-' ||
	    s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' ||
	    s[29] != 'Z')
		return -BW_E_INVALID;
	if (digits_at(s, 4, &y) < 0 || digits_at(s + 5, 2, &mo) < 0 ||
	    digits_at(s + 8, 2, &d) < 0 || digits_at(s + 11, 2, &h) < 0 ||
	    digits_at(s + 14, 2, &mi) < 0 || digits_at(s + 17, 2, &se) < 0 ||
	    digits_at(s + 20, 9, &ns) < 0)
		return -BW_E_INVALID;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || se > 59)
		return -BW_E_INVALID;
	tm.tm_year = (int)y - 1900;
	tm.tm_mon = (int)mo - 1;
	tm.tm_mday = (int)d;
	tm.tm_hour = (int)h;
	tm.tm_min = (int)mi;
	tm.tm_sec = (int)se;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -BW_E_INVALID;
	ts.tv_sec = t;
	ts.tv_nsec = ns;
	/* Only one spelling per instant: 02-30 must not become 03-02. */
	audit_time_format(&ts, back);
	if (memcmp(back, s, AUDIT_TIME_LEN) != 0)
		return -BW_E_INVALID;
	*ret = ts;
	return 0;
}

static int
parse_u64(const char *s, size_t n, int allow_zero, uint64_t *ret)
{
	uint64_t v = 0;

	if (n == 0 || n > 20 || (s[0] == '0' && n > 1))
		return -BW_E_INVALID;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -BW_E_INVALID;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -BW_E_INVALID;
		v = v * 10 + d;
	}
	if (v == 0 && !allow_zero)
		return -BW_E_INVALID;
	*ret = v;
	return 0;
}

static int
hexval_upper(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -BW_E_INVALID;
}

/* Decodes the value [S, S+N) in place to a NUL-terminated string,
 * refusing any spelling audit_value_encode() would not produce. */
static int
decode_inplace(char *s, size_t n)
{
	size_t i = 0, o = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;
			unsigned char v;

			if (i + 3 > n)
				return -BW_E_INVALID;
			hi = hexval_upper(s[i + 1]);
			lo = hexval_upper(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -BW_E_INVALID;
			v = (unsigned char)(hi << 4 | lo);
			if (is_plain(v))
				return -BW_E_INVALID;
			s[o++] = (char)v;
			i += 3;
		} else {
			if (!is_plain(c))
				return -BW_E_INVALID;
			s[o++] = (char)c;
			i++;
		}
	}
	s[o] = '\0';
	return 0;
}

static int
is_lowhex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

enum {
	F_V, F_SEQ, F_TIME, F_ACTOR, F_ROLE, F_TENANT, F_SOURCE, F_AUTH,
	F_ACTION, F_OKIND, F_OTENANT, F_ONAME, F_OREV, F_OUTCOME, F_REASON,
	F_CONTROLS, F_PREV, F_KEY, F_SIG, F_HASH, F_MAX
};

static const char *const field_names[F_MAX] = {
	"v", "seq", "time", "actor", "role", "tenant", "source", "auth",
	"action", "okind", "otenant", "oname", "orev", "outcome", "reason",
	"controls", "prev", "key", "sig", "hash",
};

int
audit_line_parse(const char *line, size_t len, struct audit_line *ret,
    char **ret_err)
{
	_cleanup_free_ char	*buf = NULL;
	struct audit_line	 l = { 0 };
	char			*val[F_MAX] = { 0 };
	size_t			 vlen[F_MAX] = { 0 }, off[F_MAX] = { 0 };
	size_t			 pos = 0;
	int			 f = 0, checkpoint = 0;

	if (len == 0)
		return errf(-BW_E_INVALID, ret_err, "empty line");
	if (len > AUDIT_LINE_MAX)
		return errf(-BW_E_INVALID, ret_err, "line longer than %d bytes",
		    AUDIT_LINE_MAX);
	if (!(buf = malloc(len + 1)))
		return -ENOMEM;
	memcpy(buf, line, len);
	buf[len] = '\0';

	while (f < F_MAX) {
		const char	*name = field_names[f];
		size_t		 nl = strlen(name), end;

		if (f == F_KEY && !checkpoint) {
			f = F_HASH;
			continue;
		}
		if (pos + nl + 1 > len || memcmp(buf + pos, name, nl) != 0 ||
		    buf[pos + nl] != '=')
			return errf(-BW_E_INVALID, ret_err,
			    "byte %zu: expected field \"%s=\"", pos, name);
		off[f] = pos;
		pos += nl + 1;
		end = pos;
		while (end < len && buf[end] != ' ')
			end++;
		val[f] = buf + pos;
		vlen[f] = end - pos;
		if (f == F_HASH) {
			if (end != len)
				return errf(-BW_E_INVALID, ret_err,
				    "byte %zu: bytes after the hash", end);
		} else {
			if (end == len)
				return errf(-BW_E_INVALID, ret_err,
				    "line ends after field \"%s\"", name);
			buf[end] = '\0';
			end++;
		}
		pos = end;
		if (f == F_ACTION)
			checkpoint = vlen[f] == strlen(AUDIT_ACTION_CHECKPOINT) &&
			    memcmp(val[f], AUDIT_ACTION_CHECKPOINT, vlen[f]) == 0;
		if (f == F_PREV && pos + 4 <= len && memcmp(buf + pos, "key=", 4) == 0 &&
		    !checkpoint)
			return errf(-BW_E_INVALID, ret_err,
			    "signature fields on a record that is not a checkpoint");
		f++;
	}

	if (vlen[F_V] != 1 || val[F_V][0] != '1')
		return errf(-BW_E_INVALID, ret_err, "unsupported version \"%s\"",
		    val[F_V]);
	if (parse_u64(val[F_SEQ], vlen[F_SEQ], 0, &l.rec.seq) < 0)
		return errf(-BW_E_INVALID, ret_err, "bad seq");
	if (audit_time_parse(val[F_TIME], vlen[F_TIME], &l.rec.time) < 0)
		return errf(-BW_E_INVALID, ret_err, "bad time");
	if (parse_u64(val[F_OREV], vlen[F_OREV], 1, &l.rec.object_revision) < 0)
		return errf(-BW_E_INVALID, ret_err, "bad orev");
	for (int i = F_ACTOR; i <= F_CONTROLS; i++) {
		if (i == F_OREV)
			continue;
		if (decode_inplace(val[i], vlen[i]) < 0)
			return errf(-BW_E_INVALID, ret_err,
			    "field \"%s\": not canonically encoded",
			    field_names[i]);
	}
	if (!val[F_ACTION][0])
		return errf(-BW_E_INVALID, ret_err, "empty action");
	if (!outcome_ok(val[F_OUTCOME], strlen(val[F_OUTCOME])))
		return errf(-BW_E_INVALID, ret_err, "bad outcome");
	if (vlen[F_PREV] != AUDIT_HASH_HEX || !is_lowhex(val[F_PREV], AUDIT_HASH_HEX) ||
	    vlen[F_HASH] != AUDIT_HASH_HEX || !is_lowhex(val[F_HASH], AUDIT_HASH_HEX))
		return errf(-BW_E_INVALID, ret_err, "bad prev or hash");
	memcpy(l.prev, val[F_PREV], AUDIT_HASH_HEX);
	memcpy(l.hash, val[F_HASH], AUDIT_HASH_HEX);
	l.body_len = off[F_HASH] - 1;
	l.signed_len = l.body_len;
	if (checkpoint) {
		if (vlen[F_KEY] != AUDIT_HASH_HEX || !is_lowhex(val[F_KEY], AUDIT_HASH_HEX))
			return errf(-BW_E_INVALID, ret_err, "bad checkpoint key id");
		memcpy(l.key, val[F_KEY], AUDIT_HASH_HEX);
		if (vlen[F_SIG] == 0 || vlen[F_SIG] > 2 * AUDIT_SIG_MAX ||
		    vlen[F_SIG] % 2 ||
		    hex_decode_span(val[F_SIG], vlen[F_SIG], l.sig, vlen[F_SIG] / 2, true) < 0)
			return errf(-BW_E_INVALID, ret_err, "bad checkpoint signature");
		l.siglen = vlen[F_SIG] / 2;
		l.signed_len = off[F_SIG] - 1;
	}

	l.rec.actor = val[F_ACTOR];
	l.rec.role = val[F_ROLE];
	l.rec.tenant = val[F_TENANT];
	l.rec.source = val[F_SOURCE];
	l.rec.auth_method = val[F_AUTH];
	l.rec.action = val[F_ACTION];
	l.rec.object_kind = val[F_OKIND];
	l.rec.object_tenant = val[F_OTENANT];
	l.rec.object_name = val[F_ONAME];
	l.rec.outcome = val[F_OUTCOME];
	l.rec.reason = val[F_REASON];
	l.rec.controls = val[F_CONTROLS];
	l.buf = TAKE_PTR(buf);
	*ret = l;
	return 0;
}

void
audit_line_done(struct audit_line *l)
{
	if (!l)
		return;
	free(l->buf);
	l->buf = NULL;
}

int
audit_line_hash_ok(const char *line, const struct audit_line *l)
{
	unsigned char	h[AUDIT_HASH_LEN];
	char		hex[AUDIT_HASH_HEX + 1];

	if (audit_sha256(line, l->body_len, h) < 0)
		return 0;
	hex_encode(h, sizeof(h), hex);
	return memcmp(hex, l->hash, AUDIT_HASH_HEX) == 0;
}

int
audit_line_stated_hash(const char *line, size_t len,
    char hex[AUDIT_HASH_HEX + 1])
{
	const size_t tail = sizeof(" hash=") - 1 + AUDIT_HASH_HEX;

	if (len < tail || memcmp(line + len - tail, " hash=", 6) != 0 ||
	    !is_lowhex(line + len - AUDIT_HASH_HEX, AUDIT_HASH_HEX))
		return -BW_E_INVALID;
	memcpy(hex, line + len - AUDIT_HASH_HEX, AUDIT_HASH_HEX);
	hex[AUDIT_HASH_HEX] = '\0';
	return 0;
}

int
audit_line_peek_seq(const char *line, size_t len, uint64_t *ret_seq)
{
	size_t end;

	if (len < 10 || memcmp(line, "v=1 seq=", 8) != 0)
		return -BW_E_INVALID;
	for (end = 8; end < len && end < 8 + 21 && line[end] != ' '; end++)
		;
	if (end >= len || line[end] != ' ')
		return -BW_E_INVALID;
	if (parse_u64(line + 8, end - 8, 0, ret_seq) < 0)
		return -BW_E_INVALID;
	return 0;
}
