/* libFuzzer target for everything that reads audit bytes a stranger may
 * have written: the line parser, the segment header parser, the
 * verifier's walk and damage classification, and the search filter.
 * Build and run with tests/fuzz/run.sh. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit/record.h"
#include "audit/search.h"
#include "audit/segment.h"
#include "audit/verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static EVP_PKEY *key;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	return key ? 0 : 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char			*p = (const char *)data;
	struct audit_verifier		*v = NULL;
	struct audit_verify_report	 rep;
	struct audit_search_filter	 flt = { .action = "workload.*",
	    .seq_from = 2, .outcome = "success" };
	uint64_t			 first;
	char				 prev[AUDIT_HASH_HEX + 1];
	size_t				 hl, pos = 0;

	/* The whole input as a segment, checked with and without a key. */
	for (int k = 0; k < 2; k++) {
		if (audit_verifier_new(k ? key : NULL, k ? AUDIT_KEY_TRUSTED :
		    AUDIT_KEY_NONE, &v) < 0)
			abort();
		audit_verifier_segment(v, "seg-00000000000000000001.log", p, size);
		audit_verifier_finish(v, &rep);
		if (rep.damage != AUDIT_OK && !rep.message)
			abort();
		audit_verify_report_done(&rep);
		audit_verifier_free(v);
	}

	audit_segment_header_parse(p, size, &first, prev, &hl);
	while (pos < size) {
		const char		*nl = memchr(p + pos, '\n', size - pos);
		size_t			 len = nl ? (size_t)(nl - p) - pos : size - pos;
		struct audit_line	 l;
		char			 h[AUDIT_HASH_HEX + 1];
		uint64_t		 s;

		audit_line_stated_hash(p + pos, len, h);
		audit_line_peek_seq(p + pos, len, &s);
		if (audit_line_parse(p + pos, len, &l, NULL) == 0) {
			if (l.body_len > len || l.signed_len > l.body_len)
				abort();
			audit_line_hash_ok(p + pos, &l);
			audit_search_match(&flt, &l.rec);
			audit_line_done(&l);
		}
		if (len >= AUDIT_TIME_LEN) {
			struct timespec ts;

			audit_time_parse(p + pos, AUDIT_TIME_LEN, &ts);
		}
		pos += len + 1;
	}
	return 0;
}
