#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_MIN		256

/* The most LEN may reach: MAX, or half the address space (so LEN, the
 * NUL and the doubling below never overflow). */
static size_t
buf_limit(const struct bw_buf *b)
{
	return b->max && b->max < SIZE_MAX / 2 ? b->max : SIZE_MAX / 2;
}

/* Moves P to NCAP bytes. A secret buffer never leaves its old bytes to
 * the allocator unwiped, which realloc() would. */
static int
buf_resize(struct bw_buf *b, size_t ncap)
{
	char *np;

	if (!b->secret) {
		if (!(np = realloc(b->p, ncap)))
			return -ENOMEM;
	} else {
		if (!(np = malloc(ncap)))
			return -ENOMEM;
		if (b->p) {
			memcpy(np, b->p, b->len + 1);
			explicit_bzero(b->p, b->cap);
			free(b->p);
		}
	}
	b->p = np;
	b->cap = ncap;
	return 0;
}

int
bw_buf_reserve(struct bw_buf *b, size_t more)
{
	size_t	need, ncap;
	int	r;

	if (more > buf_limit(b) - b->len)
		return -EFBIG;
	need = b->len + more + 1;
	if (need > b->cap) {
		ncap = b->cap ? b->cap : BUF_MIN;
		while (ncap < need)
			ncap *= 2;
		if ((r = buf_resize(b, ncap)) < 0)
			return r;
	}
	b->p[b->len] = '\0';
	return 0;
}

void
bw_buf_advance(struct bw_buf *b, size_t n)
{
	b->len += n;
	b->p[b->len] = '\0';
}

int
bw_buf_append(struct bw_buf *b, const void *p, size_t n)
{
	int r;

	if ((r = bw_buf_reserve(b, n)) < 0)
		return r;
	if (n)
		memcpy(b->p + b->len, p, n);
	bw_buf_advance(b, n);
	return 0;
}

int
bw_buf_append_u64(struct bw_buf *b, uint64_t v)
{
	char	digits[20];
	size_t	n = 0;

	do {
		digits[sizeof(digits) - ++n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return bw_buf_append(b, digits + sizeof(digits) - n, n);
}

int
bw_buf_vappendf(struct bw_buf *b, const char *fmt, va_list ap)
{
	va_list	ap2;
	int	n, r;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -EINVAL;
	if ((r = bw_buf_reserve(b, (size_t)n)) < 0)
		return r;
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
bw_buf_appendf(struct bw_buf *b, const char *fmt, ...)
{
	va_list	ap;
	int	r;

	va_start(ap, fmt);
	r = bw_buf_vappendf(b, fmt, ap);
	va_end(ap);
	return r;
}

void
bw_buf_printf(struct bw_buf *b, const char *fmt, ...)
{
	va_list	ap;

	if (b->err)
		return;
	va_start(ap, fmt);
	b->err = bw_buf_vappendf(b, fmt, ap);
	va_end(ap);
}

long
bw_buf_room(struct bw_buf *b, size_t chunk)
{
	size_t	left = buf_limit(b) - b->len;
	int	r;

	if (left == 0)
		return -EFBIG;
	if (chunk > left)
		chunk = left;
	if (chunk > LONG_MAX)
		chunk = LONG_MAX;
	if ((r = bw_buf_reserve(b, chunk)) < 0)
		return r;
	/* What the doubling left is room too: fewer, larger reads. */
	left = b->cap - b->len - 1;
	if (left > buf_limit(b) - b->len)
		left = buf_limit(b) - b->len;
	return left > LONG_MAX ? LONG_MAX : (long)left;
}

void
bw_buf_consume(struct bw_buf *b, size_t n)
{
	if (n > b->len)
		n = b->len;
	if (n == 0)
		return;
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
	b->p[b->len] = '\0';
}

char *
bw_buf_take(struct bw_buf *b, size_t *ret_len)
{
	char *p;

	if (!b->p && bw_buf_reserve(b, 0) < 0)
		return NULL;
	if (ret_len)
		*ret_len = b->len;
	p = b->p;
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

void
bw_buf_done(struct bw_buf *b)
{
	if (b->p && b->secret)
		explicit_bzero(b->p, b->cap);
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->err = 0;
}
