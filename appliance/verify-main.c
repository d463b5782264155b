/* bulwark-verify: the standalone, offline verifier of audit trails.
 * Needs nothing but the trail directory and, to anchor the checkpoint
 * signatures, the appliance's public checkpoint key. */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit/signer.h"
#include "audit/verify.h"
#include "lib/macro.h"

#define EXIT_INTACT	0
#define EXIT_DAMAGED	1
#define EXIT_USAGE	2

static void
usage(FILE *f)
{
	fprintf(f,
	    "Usage: bulwark-verify [--key PUB.pem] [--quiet] DIR\n"
	    "\n"
	    "Verifies the Bulwark audit trail in DIR offline: the SHA-256 chain\n"
	    "across every record and segment file, and the ECDSA P-384 signature\n"
	    "of every checkpoint. Names the first damaged record (seq) and the\n"
	    "kind of damage: MODIFIED, MISSING, INSERTED, REORDERED, TRUNCATED,\n"
	    "BAD_SIGNATURE or MALFORMED.\n"
	    "\n"
	    "  --key PUB.pem  the appliance's checkpoint public key (PEM). Without\n"
	    "                 it, signatures are checked against DIR/checkpoint-key.pem,\n"
	    "                 which proves consistency but not origin.\n"
	    "  --quiet        print nothing; only the exit status\n"
	    "  --help         this text\n"
	    "\n"
	    "Exit status:\n"
	    "  0  the trail is intact\n"
	    "  1  damage found (the first damaged seq and its kind are printed)\n"
	    "  2  usage error, or DIR or the key could not be read\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct audit_verify_report	 rep = { 0 };
	const char			*keypath = NULL, *dir;
	EVP_PKEY			*key = NULL;
	char				*err = NULL;
	int				 c, quiet = 0, r;

	while ((c = getopt_long(argc, argv, "k:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			keypath = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return EXIT_INTACT;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	dir = argv[optind];
	if (keypath && audit_pubkey_load(keypath, &key, &err) < 0) {
		fprintf(stderr, "bulwark-verify: %s\n", err ? err : keypath);
		free(err);
		return EXIT_USAGE;
	}
	r = audit_verify_dir(dir, key, &rep);
	EVP_PKEY_free(key);
	if (r < 0) {
		fprintf(stderr, "bulwark-verify: %s: %s\n", dir, strerror(-r));
		return EXIT_USAGE;
	}
	if (rep.damage != AUDIT_OK) {
		if (!quiet)
			printf("DAMAGED: %s at seq %" PRIu64 "%s%s: %s\n"
			    "verified before the damage: %" PRIu64 " records in %" PRIu64
			    " segments, %" PRIu64 " checkpoints\n",
			    audit_damage_name(rep.damage), rep.bad_seq,
			    rep.segment ? " in " : "", rep.segment ? rep.segment : "",
			    rep.message ? rep.message : "", rep.records, rep.segments,
			    rep.checkpoints);
		audit_verify_report_done(&rep);
		return EXIT_DAMAGED;
	}
	if (!quiet) {
		static const char *const src[] = {
			[AUDIT_KEY_NONE] = "NOT checked (no key)",
			[AUDIT_KEY_TRAIL] = "checked against the key stored in the "
			    "trail (consistent, but not anchored: pass --key)",
			[AUDIT_KEY_TRUSTED] = "verified with the trusted key",
		};

		printf("OK: %" PRIu64 " records (seq %" PRIu64 "..%" PRIu64 ") in %"
		    PRIu64 " segments; head %s\n", rep.records, rep.first_seq,
		    rep.last_seq, rep.segments, rep.head_hash);
		printf("checkpoints: %" PRIu64 ", signatures %s\n", rep.checkpoints,
		    src[rep.key_source]);
		if (rep.unsigned_tail)
			printf("note: %" PRIu64 " records after the last checkpoint are "
			    "chained but not yet covered by a signature\n",
			    rep.unsigned_tail);
		if (rep.recoveries)
			printf("note: %" PRIu64 " audit.recovery records (crash "
			    "recovery); search action=audit.recovery for details\n",
			    rep.recoveries);
		if (!rep.ended_cleanly)
			printf("note: the trail does not end with audit.stop (its "
			    "writer is running, or stopped uncleanly)\n");
	}
	audit_verify_report_done(&rep);
	return EXIT_INTACT;
}
