/* bulwark-verify: the standalone, offline verifier of audit trails and
 * evidence bundles. Needs nothing but the trail directory or the bundle
 * and, to anchor the signatures, the appliance's public key. */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "audit/signer.h"
#include "audit/verify.h"
#include "compliance/evidence.h"
#include "identity/attest.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "lib/opt-help.h"

#define EXIT_INTACT	0
#define EXIT_DAMAGED	1
#define EXIT_USAGE	2

static const struct opt_help options[] = {
	{ "key", 'k', "PUB.pem", "the appliance's checkpoint public key (PEM). "
	  "Without it, signatures are checked against DIR/checkpoint-key.pem, "
	  "which proves consistency but not origin. After a key change (an "
	  "audit.key_change record), pass every key: repeat --key, or give a "
	  "file holding several PEM keys; each checkpoint must verify with the "
	  "key it names. For a bundle, the first key is the trust anchor that "
	  "signed its manifest; the others are earlier checkpoint keys." },
	{ "bundle", 'b', NULL, "FILE.tar is an evidence bundle (implied when "
	  "the argument is a regular file)" },
	{ "golden", 'g', "FILE", "for a bundle, the PCR values the assessor "
	  "expects, as JSON {\"0\": \"<64 hex>\", ...} (or a saved "
	  "tpm/quote-pcrs.json): the quote must show these, and the "
	  "manifest's golden values (the appliance's own claim) must equal "
	  "them" },
	{ "ak-fingerprint", 'a', "SHA256", "for a bundle, the attestation "
	  "key it must be quoted with: SHA-256 of its DER public key, 64 hex "
	  "digits, as bulwark-verify prints it" },
	{ "quiet", 'q', NULL, "print nothing; only the exit status" },
	{ "help", 'h', NULL, "this text" },
};

static void
usage(FILE *f)
{
	fputs(
	    "Usage: bulwark-verify [--key PUB.pem] [--quiet] DIR\n"
	    "       bulwark-verify --key PUB.pem [--golden FILE]\n"
	    "           [--ak-fingerprint SHA256] [--quiet] [--bundle] FILE.tar\n"
	    "\n"
	    "Verifies the Bulwark audit trail in DIR offline: the SHA-256 chain\n"
	    "across every record and segment file, and the ECDSA P-384 signature\n"
	    "of every checkpoint. Names the first damaged record (seq) and the\n"
	    "kind of damage: MODIFIED, MISSING, INSERTED, REORDERED, TRUNCATED,\n"
	    "BAD_SIGNATURE or MALFORMED.\n"
	    "\n"
	    "Options:\n", f);
	opt_help_print(f, options, ELEMENTSOF(options));
	fputs("\n"
	    "An evidence bundle (bulwark evidence export) is verified completely:\n"
	    "the manifest's ECDSA P-384 signature against --key (required), the\n"
	    "size and SHA-256 of every file, no file missing or added, the audit\n"
	    "segments' chain and checkpoint signatures, and the TPM quote: it\n"
	    "must be present, signed by the attestation key the manifest lists,\n"
	    "made over SHA-256 of this bundle's manifest.json (not replayed\n"
	    "from another bundle) and show the golden PCR values the manifest\n"
	    "records (or those of --golden). The manifest's golden values and\n"
	    "attestation key are the appliance's own claims: an assessor who\n"
	    "does not trust the appliance passes --golden and --ak-fingerprint.\n"
	    "Every problem is printed with the file (and for audit\n"
	    "damage the seq and kind).\n"
	    "\n"
	    "Exit status:\n"
	    "  0  the trail (or bundle) is intact\n"
	    "  1  damage found (the first damaged seq and its kind are printed;\n"
	    "     for a bundle, every problem found)\n"
	    "  2  usage error, or DIR, FILE or the key could not be read\n", f);
}

/* What the assessor supplies beside the trust anchor (the quote
 * callback of evidence_verify_keys() has no context argument). */
static struct {
	const char		*golden_path;	/* --golden */
	struct attest_pcrs	 golden;
	char			 ak_pin[65];	/* --ak-fingerprint, lowercase */
	char			 ak_seen[65];	/* the bundle's AK fingerprint */
} assessor;

/* Loads --golden: {"7": "<hex>", ...}, or {"values": {...}} as in a
 * bundle's tpm/quote-pcrs.json. */
static int
golden_load(const char *path, char **ret_err)
{
	_cleanup_json_ json_t	*o = NULL;
	json_error_t		 je;
	json_t			*v;

	if (!(o = json_load_file(path, JSON_REJECT_DUPLICATES, &je)))
		return errf(-BW_E_INVALID, ret_err, "%s: line %d: %s", path,
		    je.line, je.text);
	v = json_is_object(json_object_get(o, "values")) ?
	    json_object_get(o, "values") : o;
	if (attest_pcrs_from_json(v, &assessor.golden, ret_err) < 0)
		return errf_wrap(-BW_E_INVALID, ret_err, "%s", path);
	if (!assessor.golden.mask)
		return errf(-BW_E_INVALID, ret_err, "%s: names no PCR", path);
	assessor.golden_path = path;
	return 0;
}

static int
ak_pin_parse(const char *arg)
{
	size_t n = 0;

	for (const char *p = arg; *p; p++) {
		if (*p == ':')
			continue;
		if (!strchr("0123456789abcdefABCDEF", *p) || n == 64)
			return -BW_E_INVALID;
		assessor.ak_pin[n++] = (char)(*p | 0x20);	/* lowercase */
	}
	assessor.ak_pin[n] = '\0';
	return n == 64 ? 0 : -BW_E_INVALID;
}

/* The manifest's golden values must be the assessor's (same selection,
 * same values). */
static int
golden_compare(const struct attest_pcrs *manifest, char **ret_err)
{
	char diff[128];

	if (manifest->mask != assessor.golden.mask)
		return errf(-BW_E_DENIED, ret_err, "the signed manifest's golden "
		    "PCR selection differs from that of --golden %s",
		    assessor.golden_path);
	if (attest_pcr_diff(manifest, &assessor.golden, diff, sizeof(diff)))
		return errf(-BW_E_DENIED, ret_err, "the signed manifest's golden "
		    "values of PCR %s differ from --golden %s (the appliance "
		    "recorded other values)", diff, assessor.golden_path);
	return 0;
}

static int
quote_verify(const char *ak_pem, const struct evidence_quote *q,
    const unsigned char *nonce, size_t nlen, const json_t *golden,
    char **ret_err)
{
	struct attest_pcrs	pcrs, expect;
	int			r;

	if ((r = attest_ak_fingerprint(ak_pem, assessor.ak_seen, ret_err)) < 0)
		return r;
	if (*assessor.ak_pin && strcmp(assessor.ak_pin, assessor.ak_seen))
		return errf(-BW_E_DENIED, ret_err, "the attestation key's "
		    "fingerprint %s is not the one pinned by --ak-fingerprint "
		    "(%s)", assessor.ak_seen, assessor.ak_pin);
	if ((r = attest_pcrs_from_json(q->pcrs, &pcrs, ret_err)) < 0)
		return r;
	if ((r = attest_pcrs_from_json(golden, &expect, ret_err)) < 0)
		return errf(r, ret_err, "the signed manifest's golden PCR values "
		    "are unreadable");
	if ((r = attest_quote_verify_parts(ak_pem, q->attest, q->attest_len,
	    q->sig, q->sig_len, &pcrs, nonce, nlen, assessor.golden_path ?
	    &assessor.golden : &expect, ret_err)) < 0)
		return r;
	return assessor.golden_path ? golden_compare(&expect, ret_err) : 0;
}

static int
verify_bundle(const char *path, EVP_PKEY *const *keys, size_t nkeys, int quiet)
{
	struct evidence_report	rep = { 0 };
	int			r;

	r = evidence_verify_keys(path, keys, nkeys, quote_verify, &rep);
	if (r < 0) {
		fprintf(stderr, "bulwark-verify: %s: %s\n", path,
		    bw_strerror(r));
		return EXIT_USAGE;
	}
	if (!quiet) {
		printf("%s: %s, %zu files, %" PRIu64 " bytes\n", path,
		    rep.package && !strcmp(rep.package, "conmon") ?
		    "continuous-monitoring (conmon) package, signed as an "
		    "evidence bundle" : "evidence bundle", rep.files, rep.bytes);
		if (rep.created)
			printf("created %s by %s, period %s .. %s, signing key %.16s...\n",
			    rep.created, rep.system ? rep.system : "?",
			    rep.since ? rep.since : "(start)",
			    rep.until ? rep.until : "(end)",
			    rep.key_id ? rep.key_id : "?");
		if (rep.audit_segments)
			printf("audit: seq %" PRIu64 "..%" PRIu64 " in %zu segments, %"
			    PRIu64 " checkpoints\n", rep.audit_first_seq,
			    rep.audit_last_seq, rep.audit_segments,
			    rep.audit_checkpoints);
		if (rep.quote == 1)
			printf("tpm: quote verified: signed by the attestation key "
			    "tpm/ak.pub.pem (SHA-256 %s%s) over "
			    "SHA-256(manifest.json); PCRs %s equal the golden "
			    "values %s%s\n", assessor.ak_seen, *assessor.ak_pin ?
			    ", as pinned" : ", not pinned: pass --ak-fingerprint",
			    rep.quote_pcrs ? rep.quote_pcrs : "?",
			    assessor.golden_path ? "of --golden " : "the appliance "
			    "recorded (pass --golden to check them against yours)",
			    assessor.golden_path ? assessor.golden_path : "");
		for (size_t i = 0; i < rep.n_absent; i++)
			printf("absent: %s\n", rep.absent[i]);
		for (size_t i = 0; i < rep.n_problems; i++) {
			const struct evidence_problem *p = &rep.problems[i];

			if (p->kind == EVIDENCE_AUDIT && p->damage != AUDIT_OK)
				printf("FAILED %s %s: seq %" PRIu64 " %s: %s\n",
				    evidence_problem_name(p->kind),
				    p->file ? p->file : "audit", p->seq,
				    audit_damage_name(p->damage), p->message);
			else
				printf("FAILED %s %s: %s\n", evidence_problem_name(p->kind),
				    p->file ? p->file : "(bundle)", p->message);
		}
		printf(rep.ok ? "OK: the bundle is intact and signed by the trusted "
		    "key\n" : "DAMAGED: %zu problem(s)\n", rep.n_problems);
	}
	r = rep.ok ? EXIT_INTACT : EXIT_DAMAGED;
	evidence_report_done(&rep);
	return r;
}

/* Loads the --key files PATHS into *RET_KEYS (at most AUDIT_KEYS_MAX,
 * free with audit_pubkeys_free()); prints why and returns < 0 when one
 * cannot be read. */
static int
keys_load(const char *const *paths, size_t npaths, EVP_PKEY ***ret_keys,
    size_t *ret_n)
{
	EVP_PKEY	**keys;
	size_t		  nkeys = 0;
	char		 *err = NULL;

	if (!(keys = calloc(AUDIT_KEYS_MAX, sizeof(*keys)))) {
		fprintf(stderr, "bulwark-verify: out of memory\n");
		return -ENOMEM;
	}
	for (size_t i = 0; i < npaths; i++) {
		EVP_PKEY	**got = NULL;
		size_t		  n = 0;

		if (audit_pubkeys_load(paths[i], &got, &n, &err) < 0 ||
		    nkeys + n > AUDIT_KEYS_MAX) {
			fprintf(stderr, "bulwark-verify: %s\n", err ? err :
			    "more than 16 keys");
			free(err);
			audit_pubkeys_free(got, n);
			audit_pubkeys_free(keys, nkeys);
			return -BW_E_INVALID;
		}
		memcpy(keys + nkeys, got, n * sizeof(*got));
		nkeys += n;
		free(got);	/* the keys now belong to KEYS */
	}
	*ret_keys = keys;
	*ret_n = nkeys;
	return 0;
}

int
main(int argc, char **argv)
{
	struct option			 opts[ELEMENTSOF(options) + 1];
	struct audit_verify_report	 rep = { 0 };
	const char			*keypaths[AUDIT_KEYS_MAX], *dir;
	EVP_PKEY			**keys = NULL;
	size_t				 npaths = 0, nkeys = 0;
	char				*err = NULL;
	struct stat			 st;
	int				 c, quiet = 0, bundle = 0, r;

	opt_help_longopts(options, ELEMENTSOF(options), opts);
	while ((c = getopt_long(argc, argv, "k:g:a:qbh", opts, NULL)) != -1) {
		switch (c) {
		case 'g':
			if (golden_load(optarg, &err) < 0) {
				fprintf(stderr, "bulwark-verify: --golden %s\n", err);
				free(err);
				return EXIT_USAGE;
			}
			break;
		case 'a':
			if (ak_pin_parse(optarg) < 0) {
				fprintf(stderr, "bulwark-verify: --ak-fingerprint: "
				    "not 64 hex digits (SHA-256): %s\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'k':
			if (npaths == AUDIT_KEYS_MAX) {
				fprintf(stderr, "bulwark-verify: at most %d --key\n",
				    AUDIT_KEYS_MAX);
				return EXIT_USAGE;
			}
			keypaths[npaths++] = optarg;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'b':
			bundle = 1;
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
	if (stat(dir, &st) == 0 && S_ISREG(st.st_mode))
		bundle = 1;
	if (bundle && !npaths) {
		fprintf(stderr, "bulwark-verify: a bundle is verified against a trust "
		    "anchor: pass --key PUB.pem (the appliance public key)\n");
		return EXIT_USAGE;
	}
	if (keys_load(keypaths, npaths, &keys, &nkeys) < 0)
		return EXIT_USAGE;
	if (bundle) {
		r = verify_bundle(dir, keys, nkeys, quiet);
		audit_pubkeys_free(keys, nkeys);
		return r;
	}
	r = audit_verify_dir_keys(dir, keys, nkeys, &rep);
	audit_pubkeys_free(keys, nkeys);
	if (r < 0) {
		fprintf(stderr, "bulwark-verify: %s: %s\n", dir,
		    bw_strerror(r));
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
