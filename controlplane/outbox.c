/* Entry format, version 1 (all integers big-endian):
 *
 *   u8 version (1) | u64 seq_floor | u64 object_revision |
 *   12 x ( u32 length | bytes )     length 0xffffffff: the field is NULL
 *
 * in the order actor, role, tenant, source, auth_method, action,
 * object_kind, object_tenant, object_name, outcome, reason, controls. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/outbox.h"
#include "lib/err.h"
#include "lib/macro.h"

#define OUTBOX_VERSION	1
#define OUTBOX_NFIELDS	12
#define OUTBOX_NULL	0xffffffffu
#define OUTBOX_HDR	(1 + 8 + 8)

/* The string fields of R in entry order. */
static void
rec_fields(struct audit_record *r, const char **f[OUTBOX_NFIELDS])
{
	f[0] = &r->actor;
	f[1] = &r->role;
	f[2] = &r->tenant;
	f[3] = &r->source;
	f[4] = &r->auth_method;
	f[5] = &r->action;
	f[6] = &r->object_kind;
	f[7] = &r->object_tenant;
	f[8] = &r->object_name;
	f[9] = &r->outcome;
	f[10] = &r->reason;
	f[11] = &r->controls;
}

static void
put_be(unsigned char *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
}

static uint64_t
get_be(const unsigned char *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

int
outbox_encode(const struct audit_record *rec, uint64_t seq_floor, void **ret,
    size_t *ret_len)
{
	struct audit_record	 copy = *rec;
	const char		**f[OUTBOX_NFIELDS];
	unsigned char		*buf, *p;
	size_t			 len = OUTBOX_HDR, i;

	if (audit_record_validate(rec) < 0)
		return -BW_E_INVALID;
	rec_fields(&copy, f);
	for (i = 0; i < OUTBOX_NFIELDS; i++) {
		size_t n = *f[i] ? strlen(*f[i]) : 0;

		/* audit_record_format_fields() cuts longer values anyway */
		if (n >= OUTBOX_NULL)
			return -BW_E_INVALID;
		len += 4 + n;
	}
	if (!(buf = malloc(len)))
		return -ENOMEM;
	p = buf;
	*p++ = OUTBOX_VERSION;
	put_be(p, seq_floor, 8);
	p += 8;
	put_be(p, rec->object_revision, 8);
	p += 8;
	for (i = 0; i < OUTBOX_NFIELDS; i++) {
		size_t n = *f[i] ? strlen(*f[i]) : 0;

		put_be(p, *f[i] ? n : OUTBOX_NULL, 4);
		p += 4;
		if (n)
			memcpy(p, *f[i], n);
		p += n;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

int
outbox_decode(uint64_t id, const void *data, size_t len, struct outbox_rec **ret)
{
	const unsigned char	*p = data, *end = p + len;
	const char		**f[OUTBOX_NFIELDS];
	struct outbox_rec	*o;
	char			*s;
	size_t			 i;

	if (len < OUTBOX_HDR || p[0] != OUTBOX_VERSION)
		return -BW_E_CORRUPT;
	/* every string fits in LEN bytes, plus its NUL */
	if (!(o = calloc(1, sizeof(*o) + len + OUTBOX_NFIELDS)))
		return -ENOMEM;
	o->id = id;
	o->seq_floor = get_be(p + 1, 8);
	o->rec.object_revision = get_be(p + 9, 8);
	p += OUTBOX_HDR;
	s = o->strings;
	rec_fields(&o->rec, f);
	for (i = 0; i < OUTBOX_NFIELDS; i++) {
		uint64_t n;

		if (end - p < 4)
			goto corrupt;
		n = get_be(p, 4);
		p += 4;
		if (n == OUTBOX_NULL) {
			*f[i] = NULL;
			continue;
		}
		if (n > (uint64_t)(end - p) || memchr(p, '\0', n))
			goto corrupt;
		memcpy(s, p, n);
		s[n] = '\0';
		*f[i] = s;
		s += n + 1;
		p += n;
	}
	if (p != end || audit_record_validate(&o->rec) < 0)
		goto corrupt;
	*ret = o;
	return 0;
corrupt:
	free(o);
	return -BW_E_CORRUPT;
}

int
outbox_line_matches(const struct audit_record *rec, const char *line, size_t len)
{
	struct bw_buf		 b = { 0 };
	const char		*start, *end = line + len;
	int			 r;

	if ((r = audit_record_format_fields(rec, &b)) < 0)
		return r;
	/* The fields run from " actor=" to the end of " controls=...";
	 * what follows is " hash=" (records) or checkpoint fields. */
	start = memmem(line, len, " actor=", 7);
	r = start && (size_t)(end - start) >= b.len &&
	    memcmp(start, b.p, b.len) == 0 &&
	    (start + b.len == end || start[b.len] == ' ');
	bw_buf_done(&b);
	return r;
}
