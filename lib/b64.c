#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include "lib/b64.h"
#include "lib/err.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int
b64_encode(const void *buf, size_t len, char **ret)
{
	const unsigned char	*p = buf;
	char			*s, *o;
	size_t			 i;

	if (len > (((size_t)-1) / 4) * 3 - 3)
		return -ENOMEM;
	if (!(s = malloc((len + 2) / 3 * 4 + 1)))
		return -ENOMEM;
	o = s;
	for (i = 0; i + 2 < len; i += 3) {
		*o++ = b64_alphabet[p[i] >> 2];
		*o++ = b64_alphabet[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = b64_alphabet[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*o++ = b64_alphabet[p[i + 2] & 63];
	}
	if (i < len) {
		*o++ = b64_alphabet[p[i] >> 2];
		if (i + 1 < len) {
			*o++ = b64_alphabet[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
			*o++ = b64_alphabet[(p[i + 1] & 15) << 2];
		} else {
			*o++ = b64_alphabet[(p[i] & 3) << 4];
			*o++ = '=';
		}
		*o++ = '=';
	}
	*o = '\0';
	*ret = s;
	return 0;
}

static int
b64_value(char c)
{
	const char *p;

	if (c == '\0' || !(p = strchr(b64_alphabet, c)))
		return -BW_E_INVALID;
	return (int)(p - b64_alphabet);
}

int
b64_decode(const char *s, size_t max, unsigned char **ret, size_t *ret_len)
{
	unsigned char	*out;
	size_t		 len, pad = 0, n, i, o = 0;

	if (!s)
		return -BW_E_INVALID;
	len = strlen(s);
	if (len % 4 != 0)
		return -BW_E_INVALID;
	if (len >= 1 && s[len - 1] == '=')
		pad++;
	if (len >= 2 && s[len - 2] == '=')
		pad++;
	n = len / 4 * 3 - pad;
	if (n > max)
		return -BW_E_TOOLARGE;
	if (!(out = malloc(n ? n : 1)))
		return -ENOMEM;
	for (i = 0; i < len; i += 4) {
		int a = b64_value(s[i]), b = b64_value(s[i + 1]);
		int c = s[i + 2] == '=' && i + 4 == len ? 0 : b64_value(s[i + 2]);
		int d = s[i + 3] == '=' && i + 4 == len ? 0 : b64_value(s[i + 3]);
		unsigned v;

		if (a < 0 || b < 0 || c < 0 || d < 0 ||
		    (s[i + 2] == '=' && s[i + 3] != '=')) {
			free(out);
			return -BW_E_INVALID;
		}
		v = ((unsigned)a << 18) | ((unsigned)b << 12) |
		    ((unsigned)c << 6) | (unsigned)d;
		if (o < n)
			out[o++] = (unsigned char)(v >> 16);
		if (o < n)
			out[o++] = (unsigned char)(v >> 8);
		if (o < n)
			out[o++] = (unsigned char)v;
		/* Canonical form only: the bits under the padding are zero. */
		if (i + 4 == len && ((pad == 1 && (v & 0xff)) ||
		    (pad == 2 && (v & 0xffff)))) {
			free(out);
			return -BW_E_INVALID;
		}
	}
	*ret = out;
	*ret_len = n;
	return 0;
}

char *
hex_encode(const void *buf, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
	return out;
}

static int
hex_value(char c, bool lower_only)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (!lower_only && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -BW_E_INVALID;
}

int
hex_decode_span(const char *s, size_t slen, unsigned char *out, size_t len,
    bool lower_only)
{
	size_t i;

	if (!s || slen != 2 * len)
		return -BW_E_INVALID;
	for (i = 0; i < len; i++) {
		int hi = hex_value(s[2 * i], lower_only);
		int lo = hex_value(s[2 * i + 1], lower_only);

		if (hi < 0 || lo < 0)
			return -BW_E_INVALID;
		out[i] = (unsigned char)((hi << 4) | lo);
	}
	return 0;
}

int
hex_decode(const char *s, unsigned char *out, size_t len)
{
	return hex_decode_span(s, s ? strlen(s) : 0, out, len, false);
}
