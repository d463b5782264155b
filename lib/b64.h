/* Base64 (RFC 4648, with padding) and lowercase hex for binary values
 * that travel in JSON: TPM blobs, nonces, digests. Decoders are bounded
 * and strict (no whitespace, no trailing garbage). */
#ifndef BW_B64_H
#define BW_B64_H

#include <stdbool.h>
#include <stddef.h>

/* Encodes LEN bytes of BUF into a new NUL-terminated string in *RET
 * (caller frees). Returns 0 or -ENOMEM. */
int b64_encode(const void *buf, size_t len, char **ret);

/* Decodes the NUL-terminated base64 text S into *RET (caller frees) and
 * *RET_LEN. Refuses input that would decode to more than MAX bytes
 * (-BW_E_TOOLARGE) or is not canonical base64 (-BW_E_INVALID). */
int b64_decode(const char *s, size_t max, unsigned char **ret, size_t *ret_len);

/* Writes 2 * LEN hex digits and a NUL into OUT. Returns OUT. */
char *hex_encode(const void *buf, size_t len, char *out);

/* Decodes exactly LEN bytes from the 2 * LEN hex digits of S into OUT.
 * Returns 0 or -BW_E_INVALID. */
int hex_decode(const char *s, unsigned char *out, size_t len);

/* The same for the SLEN bytes at S (not NUL-terminated); with
 * LOWER_ONLY, only the digits 0-9a-f are accepted (formats whose hex is
 * canonical, such as the audit trail's). */
int hex_decode_span(const char *s, size_t slen, unsigned char *out, size_t len,
    bool lower_only);

#endif
