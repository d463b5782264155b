/* bulwark-harden: checks and applies the host baseline (hardening/
 * baseline.h) on a root directory, and runs the compliance checks that
 * read the baseline against that root. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "lib/opt-help.h"
#include "compliance/check.h"
#include "hardening/baseline.h"

#define EXIT_SATISFIED	0
#define EXIT_DIFFERS	1
#define EXIT_USAGE	2
#define EXIT_FAILED	3

static const struct opt_help options[] = {
	{ "root", 'r', "DIR", "the root directory of the system to check or "
	  "change (default /)" },
	{ "output", 'o', "FORMAT", "text (default) or json" },
	{ "dry-run", 'n', NULL, "apply: print what would change, change "
	  "nothing" },
	{ "help", 'h', NULL, "this text" },
	{ "version", 'V', NULL, "print the version" },
};

struct harden_opts {
	const char	*cmd;
	const char	*root;
	bool		 json;
	bool		 dry_run;
};

static void
usage(FILE *f)
{
	fputs(
	    "Usage: bulwark-harden check [--root DIR] [--output json]\n"
	    "       bulwark-harden apply [--root DIR] [--dry-run]\n"
	    "       bulwark-harden scan [--root DIR] [--output json]\n"
	    "       bulwark-harden record-sysctl [--root DIR]\n"
	    "\n"
	    "The host baseline (sysctl values, file modes, login.defs, PAM,\n"
	    "faillock.conf, audit rules, logon banner, mount options) on the\n"
	    "system under DIR:\n"
	    "  check  lists each baseline item, satisfied or the difference\n"
	    "  apply  changes every item that differs (atomically, keeping the\n"
	    "         original as FILE.bulwark-orig) and prints each change\n"
	    "  scan   runs the compliance checks that read the baseline on DIR\n"
	    "  record-sysctl  writes the live value of each baseline sysctl\n"
	    "         to DIR/" HB_SYSCTL_RECORD " (as root at boot: the\n"
	    "         scan cannot read the ones the kernel shows only to\n"
	    "         CAP_SYS_ADMIN)\n"
	    "\n"
	    "Options:\n", f);
	opt_help_print(f, options, ELEMENTSOF(options));
	fputs("\n"
	    "Exit status: 0 every item (or check) satisfied, or apply made\n"
	    "every change; 1 an item differs (check, scan); 2 usage;\n"
	    "3 an item could not be checked or applied.\n", f);
}

/* Parses ARGV into *O. Returns 0, 1 when --help or --version ended
 * parsing, or -EINVAL after printing the error. */
static int
parse_args(int argc, char **argv, struct harden_opts *o)
{
	struct option longopts[ELEMENTSOF(options) + 1];
	int c;

	opt_help_longopts(options, ELEMENTSOF(options), longopts);
	o->root = "/";
	while ((c = getopt_long(argc, argv, "r:o:nhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o->root = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
				fprintf(stderr, "bulwark-harden: --output: "
				    "text or json, not %s\n", optarg);
				return -EINVAL;
			}
			o->json = !strcmp(optarg, "json");
			break;
		case 'n':
			o->dry_run = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("bulwark-harden %s\n", PACKAGE_VERSION);
			return 1;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return -EINVAL;
	}
	o->cmd = argv[optind];
	return 0;
}

static int
print_json(json_t *v)
{
	_cleanup_free_ char *s = json_dumps(v, JSON_INDENT(2));

	if (!s)
		return -ENOMEM;
	puts(s);
	return 0;
}

static int
cmd_check(int rootfd, const struct harden_opts *o)
{
	_cleanup_json_ json_t *arr = json_array();
	const struct hb_item *items;
	size_t n, i, differ = 0;
	int r, failed = 0;

	if (!arr)
		return -ENOMEM;
	items = hb_items(&n);
	for (i = 0; i < n; i++) {
		_cleanup_free_ char *found = NULL, *want = NULL;

		if (!(want = hb_item_want(&items[i])))
			return -ENOMEM;
		r = hb_item_check(rootfd, &items[i], &found);
		if (r < 0) {
			fprintf(stderr, "bulwark-harden: %s: %s\n", items[i].id,
			    bw_strerror(r));
			failed++;
			continue;
		}
		differ += r == 0;
		if (o->json) {
			if (json_array_append_new(arr, json_pack("{s:s, s:s, "
			    "s:s, s:s, s:b, s:s, s:s}", "id", items[i].id,
			    "check", items[i].check, "controls",
			    items[i].controls, "want", want, "satisfied", r,
			    "found", found, "path", items[i].path ?
			    items[i].path : "")) < 0)
				return -ENOMEM;
		} else if (r)
			printf("ok       %s\n", items[i].id);
		else
			printf("DIFFERS  %s: found %s; want %s\n", items[i].id,
			    found, want);
	}
	if (o->json && (r = print_json(arr)) < 0)
		return r;
	if (!o->json)
		printf("%zu items: %zu satisfied, %zu differ%s\n", n,
		    n - differ - (size_t)failed, differ, failed ?
		    ", some unreadable" : "");
	return failed ? EXIT_FAILED : differ ? EXIT_DIFFERS : EXIT_SATISFIED;
}

static void
report_change(const struct hb_item *item, const char *what, const char *err,
    void *arg)
{
	const struct harden_opts *o = arg;

	if (err)
		fprintf(stderr, "bulwark-harden: %s: %s%s%s\n", item->id,
		    what ? what : "", what ? ": " : "", err);
	else
		printf("%s%s: %s\n", o->dry_run ? "would change " : "changed ",
		    item->id, what);
}

static int
cmd_apply(int rootfd, const struct harden_opts *o)
{
	int r = hb_apply(rootfd, o->dry_run, report_change, (void *)o);

	if (r < 0)
		return EXIT_FAILED;
	printf("%d item%s %s\n", r, r == 1 ? "" : "s", o->dry_run ?
	    "would change" : "changed");
	return EXIT_SATISFIED;
}

/* Whether check ID reads an item of the baseline before index I. */
static bool
check_seen(const struct hb_item *items, size_t i, const char *id)
{
	while (i-- > 0)
		if (!strcmp(items[i].check, id))
			return true;
	return false;
}

static int
scan_one(struct comp_ctx *ctx, const struct comp_check *chk, json_t *arr,
    const struct harden_opts *o)
{
	_cleanup_(comp_result_freep) struct comp_result *res = NULL;
	json_t *obs = NULL;
	size_t k;
	int r;

	if ((r = comp_check_run(chk, ctx, &res)) < 0)
		return r;
	if (!o->json)
		printf("%-15s %s\n", comp_verdict_str(res->verdict), chk->id);
	if (o->json && (!(obs = json_array()) || json_array_append_new(arr,
	    json_pack("{s:s, s:s, s:o}", "check", chk->id, "verdict",
	    comp_verdict_str(res->verdict), "observations", obs)) < 0))
		return -ENOMEM;
	for (k = 0; k < res->n_obs; k++) {
		const struct comp_obs *ob = &res->obs[k];

		if (o->json && json_array_append_new(obs, json_pack("{s:s, "
		    "s:s, s:s, s:b}", "subject", ob->subject, "required",
		    ob->required, "found", ob->found, "ok", ob->ok)) < 0)
			return -ENOMEM;
		if (!o->json && !ob->ok)
			printf("    %s: found %s; required %s\n", ob->subject,
			    ob->found, ob->required);
	}
	if (res->verdict == COMP_ERROR && !o->json)
		printf("    error: %s\n", res->error ? res->error : "?");
	return res->verdict == COMP_SATISFIED ? 0 : 1;
}

static int
cmd_scan(const struct harden_opts *o)
{
	_cleanup_json_ json_t *arr = json_array();
	const struct hb_item *items;
	struct comp_ctx ctx;
	size_t n, i, bad = 0, total = 0;
	int r;

	if (!arr)
		return -ENOMEM;
	if ((r = comp_ctx_open(&ctx, o->root, NULL, NULL, 0)) < 0) {
		fprintf(stderr, "bulwark-harden: %s: %s\n", o->root,
		    bw_strerror(r));
		return EXIT_FAILED;
	}
	items = hb_items(&n);
	for (i = 0; i < n && r >= 0; i++) {
		const struct comp_check *chk = comp_check_find(items[i].check);

		if (!chk || (items[i].flags & HB_CHECK_WIDER) ||
		    check_seen(items, i, items[i].check))
			continue;
		if ((r = scan_one(&ctx, chk, arr, o)) > 0)
			bad++;
		total++;
	}
	comp_ctx_done(&ctx);
	if (r < 0)
		return r;
	if (o->json && (r = print_json(arr)) < 0)
		return r;
	if (!o->json)
		printf("%zu checks read the baseline: %zu satisfied, %zu not\n",
		    total, total - bad, bad);
	return bad ? EXIT_DIFFERS : EXIT_SATISFIED;
}

/* record-sysctl: the live values, for a scan that may not read them. */
static int
cmd_record_sysctl(int rootfd)
{
	size_t n = 0;
	int r;

	if ((r = hb_record_sysctls(rootfd, time(NULL), &n)) < 0)
		return r;
	printf("%zu sysctl values recorded in /%s\n", n, HB_SYSCTL_RECORD);
	return EXIT_SATISFIED;
}

int
main(int argc, char **argv)
{
	struct harden_opts o = { 0 };
	int rootfd, r;

	if ((r = parse_args(argc, argv, &o)) != 0)
		return r > 0 ? EXIT_SATISFIED : EXIT_USAGE;
	if (!strcmp(o.cmd, "scan"))
		r = cmd_scan(&o);
	else if (strcmp(o.cmd, "check") && strcmp(o.cmd, "apply") &&
	    strcmp(o.cmd, "record-sysctl")) {
		fprintf(stderr, "bulwark-harden: unknown command %s\n", o.cmd);
		return EXIT_USAGE;
	} else if ((rootfd = open(o.root, O_PATH | O_DIRECTORY |
	    O_CLOEXEC)) < 0) {
		fprintf(stderr, "bulwark-harden: %s: %s\n", o.root,
		    strerror(errno));
		return EXIT_FAILED;
	} else {
		r = !strcmp(o.cmd, "check") ? cmd_check(rootfd, &o) :
		    !strcmp(o.cmd, "apply") ? cmd_apply(rootfd, &o) :
		    cmd_record_sysctl(rootfd);
		close(rootfd);
	}
	if (r < 0) {
		fprintf(stderr, "bulwark-harden: %s\n", bw_strerror(r));
		return EXIT_FAILED;
	}
	return r;
}
