/* Test helper for the integration tests and the fuzz seeds:
 *   audit-gen write DIR KEY N [SEGMENT_BYTES]   a closed trail of N records
 *   audit-gen crash DIR KEY N                   N records, then exit unclosed
 *   audit-gen forge DIR ATTACKER_KEY SEQ        rewrite from SEQ on and
 *                                               re-sign with another key */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit-test.h"

int
main(int argc, char **argv)
{
	struct audit_signer *s;

	if (argc < 5) {
		fprintf(stderr, "usage: audit-gen write|crash|forge DIR KEY N|SEQ [SEGMENT_BYTES]\n");
		return 2;
	}
	s = t_signer(".", argv[3]);
	if (strcmp(argv[1], "write") == 0) {
		t_make_trail(argv[2], s, (unsigned)atoi(argv[4]),
		    argc > 5 ? (size_t)atol(argv[5]) : 0, 10);
	} else if (strcmp(argv[1], "crash") == 0) {
		struct audit_trail_options o = { .dir = argv[2], .signer = s };
		struct audit_trail *t = NULL;

		if (audit_trail_open(&o, &t, NULL) < 0 ||
		    t_append_n(t, (unsigned)atoi(argv[4]), "alice") < 0)
			return 1;
		_exit(0);
	} else if (strcmp(argv[1], "forge") == 0) {
		t_forge(argv[2], strtoull(argv[4], NULL, 10), s, 0);
	} else {
		return 2;
	}
	audit_signer_free(s);
	return 0;
}
