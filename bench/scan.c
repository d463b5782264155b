/* Times a full FedRAMP Moderate scan of this machine and, in the same
 * run, OpenSCAP on the SCAP Security Guide content for Debian
 * (XCCDF evaluation of a profile, and a plain OVAL evaluation), then
 * prints wall time, checks evaluated, time per check and the ratios.
 *
 * Then the scan against the size of the audit trail (-T DIR, or
 * `make bench-scan`): trails of 10,000 and 1,000,000 records, written
 * with the audit library, each scanned once whole and then -n times as
 * bulwarkd scans, after 1,000 more records each time: the audit facts
 * verified from the previous scan's mark, and the checks. The ratio of
 * the medians is the goal (at most 1.2).
 *
 * usage: bench/scan [-n RUNS] [-d DATADIR] [-c SSG_DIR] [-p PROFILE] [-O]
 *                   [-T TRAIL_DIR [-S]]
 * (-O skips the OVAL evaluation, which takes minutes: it walks the file
 * system for several definitions; -S skips OpenSCAP and the plain scan
 * timing, leaving the trail part.)
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "audit/signer.h"
#include "audit/trail.h"
#include "compliance/audit-facts.h"
#include "compliance/catalog.h"
#include "compliance/check.h"
#include "compliance/oscal.h"

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Runs ARGV with stdout to OUT (or /dev/null), waits, returns the exit
 * status or -1; *ret_wall gets the wall time. */
static int
run(char *const argv[], const char *out, double *ret_wall)
{
	double t0 = bw_mono_s();
	int st = 0;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(out ? out : "/dev/null",
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (fd < 0 || nul < 0 || dup2(fd, 1) < 0 || dup2(nul, 2) < 0)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	*ret_wall = bw_mono_s() - t0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Counts occurrences of NEEDLE in the file PATH. */
static long
count_in(const char *path, const char *needle)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len;
	long n = 0;
	const char *p;

	if (fd < 0 || read_bounded(fd, 512u << 20, &buf, &len) < 0)
		return -1;
	for (p = buf; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* What one benchmark run is asked for and what it measures. */
struct bench {
	const char		*data, *ssg, *profile;
	int			 runs;
	bool			 skip_oval;
	const char		*trail_dir;	/* -T: the trail part, under it */
	bool			 trail_only;	/* -S */
	char			 tmpd[32];
	struct comp_catalog	*cat;
	struct comp_baseline	*mod;
	double			*walls, load_s;
	size_t			 checks, sat, unsat, na;
	/* OpenSCAP: exit status, wall time and counts of its runs */
	int			 xr, orr;
	double			 oscap_x, oscap_o;
	long			 rules, defs, r_pass, r_fail, r_na;
};

/* Returns 0, or 2 after printing the usage. */
static int
parse_args(struct bench *b, int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "n:d:c:p:OT:S")) != -1) {
		switch (c) {
		case 'n':
			b->runs = atoi(optarg);
			break;
		case 'd':
			b->data = optarg;
			break;
		case 'c':
			b->ssg = optarg;
			break;
		case 'p':
			b->profile = optarg;
			break;
		case 'O':
			b->skip_oval = true;
			break;
		case 'T':
			b->trail_dir = optarg;
			break;
		case 'S':
			b->trail_only = true;
			break;
		default:
			fprintf(stderr, "usage: %s [-n RUNS] [-d DATADIR] "
			    "[-c SSG_DIR] [-p PROFILE] [-O] [-T TRAIL_DIR "
			    "[-S]]\n", argv[0]);
			return 2;
		}
	}
	if (b->runs < 1 || b->runs > 10000)
		b->runs = 20;
	if (!b->data)
		b->data = "compliance/data";
	return 0;
}

static int
load(struct bench *b)
{
	char	*err = NULL, path[512];
	double	 t0 = bw_mono_s();

	snprintf(path, sizeof(path), "%s/%s", b->data, COMP_CATALOG_FILE);
	if (comp_catalog_load(path, &b->cat, &err) < 0) {
		fprintf(stderr, "catalog: %s\n", err);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", b->data, COMP_BASELINE_MODERATE);
	if (comp_baseline_load(path, b->cat, &b->mod, &err) < 0) {
		fprintf(stderr, "baseline: %s\n", err);
		return -1;
	}
	b->load_s = bw_mono_s() - t0;
	return 0;
}

/* Counts the first scan's verdicts and times building and writing its
 * OSCAL documents. */
static int
first_scan(struct bench *b, const struct comp_scan *scan)
{
	json_t	*ar = NULL, *poam = NULL;
	char	*err = NULL;
	double	 t1 = bw_mono_s();
	int	 dfd = open(b->tmpd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	for (size_t j = 0; j < scan->n; j++) {
		b->sat += scan->results[j]->verdict == COMP_SATISFIED;
		b->unsat += scan->results[j]->verdict == COMP_NOT_SATISFIED;
		b->na += scan->results[j]->verdict == COMP_NOT_APPLICABLE;
	}
	if (dfd < 0 || comp_oscal_assessment_results(scan, b->cat,
	    b->mod, NULL, &ar, &err) < 0 ||
	    comp_oscal_write(ar, dfd, "ar.json", 0600) < 0)
		return -1;
	if (comp_oscal_poam(scan, b->cat, b->mod, NULL, &poam, &err) == 0)
		(void)comp_oscal_write(poam, dfd, "poam.json", 0600);
	printf("# OSCAL assessment-results + POA&M built and "
	    "written in %.1f ms\n", (bw_mono_s() - t1) * 1e3);
	json_decref(ar);
	json_decref(poam);
	close(dfd);
	return 0;
}

/* Scans / b->runs times; b->walls gets the sorted wall times. */
static int
scan_runs(struct bench *b)
{
	b->walls = calloc((size_t)b->runs, sizeof(*b->walls));
	if (!b->walls)
		return -1;
	for (size_t i = 0; i < (size_t)b->runs; i++) {
		struct comp_scan *scan = NULL;
		struct comp_ctx ctx;
		double t0 = bw_mono_s();

		if (comp_ctx_open(&ctx, "/", NULL, NULL, 0) < 0 ||
		    comp_scan_run(&ctx, b->mod, &scan) < 0)
			return -1;
		comp_ctx_done(&ctx);
		b->walls[i] = bw_mono_s() - t0;
		b->checks = scan->n;
		if (i == 0 && first_scan(b, scan) < 0)
			return -1;
		comp_scan_free(scan);
	}
	qsort(b->walls, (size_t)b->runs, sizeof(*b->walls), cmp_d);
	return 0;
}

/* OpenSCAP, same machine, same run. */
static void
run_oscap(struct bench *b)
{
	char ds[600], oval[600], res[600], out[600];
	char *xargv[] = { "oscap", "xccdf", "eval", "--profile",
		(char *)b->profile, "--results", res, ds, NULL };
	char *oargv[] = { "oscap", "oval", "eval", oval, NULL };

	snprintf(ds, sizeof(ds), "%s/ssg-debian11-ds.xml", b->ssg);
	snprintf(oval, sizeof(oval), "%s/ssg-debian11-oval.xml", b->ssg);
	snprintf(res, sizeof(res), "%s/oscap-results.xml", b->tmpd);
	snprintf(out, sizeof(out), "%s/oval.out", b->tmpd);
	if (access(ds, R_OK) == 0) {
		b->xr = run(xargv, NULL, &b->oscap_x);
		b->rules = count_in(res, "<rule-result ");
		b->r_pass = count_in(res, "<result>pass</result>");
		b->r_fail = count_in(res, "<result>fail</result>");
		/* notselected rules were not evaluated */
		b->r_na = count_in(res, "<result>notapplicable</result>");
		if (b->rules >= 0)
			b->rules = b->r_pass + b->r_fail + b->r_na +
			    count_in(res, "<result>error</result>") +
			    count_in(res, "<result>unknown</result>") +
			    count_in(res, "<result>notchecked</result>");
	}
	if (!b->skip_oval && access(oval, R_OK) == 0) {
		b->orr = run(oargv, out, &b->oscap_o);
		b->defs = count_in(out, "Definition oval:");
	}
	unlink(res);
	unlink(out);
}

static void
remove_tmp(const struct bench *b)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/ar.json", b->tmpd);
	unlink(path);
	snprintf(path, sizeof(path), "%s/poam.json", b->tmpd);
	unlink(path);
	rmdir(b->tmpd);
}

/* How OpenSCAP compared, per its kind of evaluation, with the median
 * scan MED and PER seconds a check. */
static void
report_oscap(const struct bench *b, double med, double per)
{
	if (b->rules > 0) {
		double rper = b->oscap_x / (double)b->rules;

		printf("oscap xccdf eval (%s, ssg-debian11-ds.xml): exit "
		    "%d, %.2f s wall, %ld rules evaluated (%ld pass, %ld "
		    "fail, %ld not applicable), %.1f us per rule\n",
		    b->profile, b->xr, b->oscap_x, b->rules, b->r_pass,
		    b->r_fail, b->r_na, rper * 1e6);
		if (b->r_na == b->rules)
			printf("note: every XCCDF rule was not applicable "
			    "(SSG ships Debian 11 content; its platform "
			    "check fails on this host), so the OVAL "
			    "evaluation below is the like-for-like "
			    "comparison\n");
		printf("ratio: whole scan %.0fx faster; per check %.0fx "
		    "faster\n", b->oscap_x / med, rper / per);
	} else
		printf("oscap xccdf eval: not run (%s)\n", b->xr < 0 ?
		    "oscap or ssg-debian missing" : "no results");
	if (b->defs > 0) {
		double dper = b->oscap_o / (double)b->defs;

		printf("oscap oval eval (ssg-debian11-oval.xml): exit %d, "
		    "%.2f s wall, %ld definitions, %.1f us per "
		    "definition\n", b->orr, b->oscap_o, b->defs, dper * 1e6);
		printf("ratio: whole scan %.0fx faster; per check %.0fx "
		    "faster\n", b->oscap_o / med, dper / per);
	} else
		printf("oscap oval eval: not run\n");
}

static void
report(const struct bench *b)
{
	double med = b->walls[b->runs / 2], per = med / (double)b->checks;
	size_t ctl = 0;
	const struct comp_check *all;
	size_t nall, k, m;

	all = comp_checks(&nall);
	for (k = 0; k < comp_baseline_count(b->mod); k++)
		for (m = 0; m < nall; m++)
			if (comp_check_covers(&all[m],
			    comp_baseline_at(b->mod, k)->id)) {
				ctl++;
				break;
			}
	printf("catalog + Moderate baseline load: %.1f ms\n",
	    b->load_s * 1e3);
	printf("bulwark Moderate scan of /: %zu checks, %zu controls "
	    "of %zu automated (%zu satisfied, %zu not satisfied, %zu "
	    "n/a on this host)\n", b->checks, ctl, comp_baseline_count(b->mod),
	    b->sat, b->unsat, b->na);
	printf("bulwark scan wall time over %d runs: median %.2f ms, "
	    "min %.2f ms, max %.2f ms; %.1f us per check\n", b->runs,
	    med * 1e3, b->walls[0] * 1e3, b->walls[b->runs - 1] * 1e3,
	    per * 1e6);
	report_oscap(b, med, per);
	printf("goals: scan < 1 s: %s; >= 20x faster per check than "
	    "oscap xccdf: %s; than oscap oval: %s\n",
	    med < 1.0 ? "met" : "NOT met",
	    b->rules > 0 ? ((b->oscap_x / (double)b->rules) / per >= 20 ?
	    "met" : "NOT met") : "not measured",
	    b->defs > 0 ? ((b->oscap_o / (double)b->defs) / per >= 20 ?
	    "met" : "NOT met") : "not measured");
}


/* ---- the scan against the size of the audit trail ---- */

#define TRAIL_BATCH	1000u	/* records per append: one write + fsync */
#define TRAIL_GROWTH	1000u	/* records added before each timed scan */

/* Appends N records to T in batches, as a busy appliance's commit
 * pipeline does (one append of a whole batch). */
static int
trail_fill(struct audit_trail *t, uint64_t n)
{
	static struct audit_record	recs[TRAIL_BATCH];
	static char			names[TRAIL_BATCH][32];

	for (uint64_t done = 0; done < n;) {
		size_t k = n - done < TRAIL_BATCH ? (size_t)(n - done) :
		    TRAIL_BATCH;

		for (size_t i = 0; i < k; i++) {
			snprintf(names[i], sizeof(names[i]), "web-%" PRIu64,
			    done + i);
			recs[i] = (struct audit_record){ .actor = "alice",
			    .role = "tenant-admin", .tenant = "acme",
			    .source = "192.0.2.7:443", .auth_method = "mtls",
			    .action = "workload.create", .object_kind =
			    "Workload", .object_tenant = "acme", .object_name =
			    names[i], .object_revision = done + i + 1, .outcome =
			    "success", .reason = "bench", .controls = "AU-2,AC-3" };
		}
		if (audit_trail_append(t, recs, k, NULL) < 0)
			return -1;
		done += k;
	}
	return 0;
}

/* One scan as bulwarkd runs it: the audit facts from MARK (advanced),
 * then the checks with those facts. Returns the wall time, or -1. */
static double
trail_scan(struct bench *b, const char *dir, struct audit_verify_mark *mark,
    uint64_t *ret_verified, double *ret_facts)
{
	struct comp_audit_facts	 af;
	struct comp_facts	 f;
	struct comp_scan	*scan = NULL;
	struct comp_ctx		 ctx;
	double			 t0 = bw_mono_s();

	comp_facts_init(&f);
	if (comp_audit_facts(dir, NULL, 0, mark->seq ? mark : NULL, 0,
	    time(NULL), &f, &af) < 0 || !af.intact)
		return -1;
	*ret_facts = bw_mono_s() - t0;
	if (comp_ctx_open(&ctx, "/", &f, NULL, time(NULL)) < 0 ||
	    comp_scan_run(&ctx, b->mod, &scan) < 0)
		return -1;
	comp_ctx_done(&ctx);
	comp_scan_free(scan);
	*mark = af.mark;
	*ret_verified = af.records;
	return bw_mono_s() - t0;
}

/* The audit facts alone from MARK (not advanced). */
static double
trail_facts_only(const char *dir, const struct audit_verify_mark *mark)
{
	struct comp_audit_facts	 af;
	struct comp_facts	 f;
	double			 t0 = bw_mono_s();

	comp_facts_init(&f);
	if (comp_audit_facts(dir, NULL, 0, mark, 0, time(NULL), &f, &af) < 0 ||
	    !af.intact)
		return -1;
	return bw_mono_s() - t0;
}

/* One trail size: its directory, where the last scan stopped, and the
 * times measured. */
struct trail_run {
	uint64_t		 n;
	char			 dir[512];
	struct audit_trail_options o;
	struct audit_verify_mark mark;
	uint64_t		 verified;	/* by the last scan */
	double			 fill, whole, facts_whole;
	double			*w, *fw;	/* per round: scan, its audit facts */
};

/* Writes the trail of TR->n records and scans it whole once, as the
 * first scan after bulwarkd starts on a trail without a mark. */
static int
trail_make(struct bench *b, const struct audit_signer *signer,
    struct trail_run *tr)
{
	struct audit_trail	*t = NULL;
	double			 t0;

	snprintf(tr->dir, sizeof(tr->dir), "%s/trail-%" PRIu64, b->trail_dir,
	    tr->n);
	tr->o = (struct audit_trail_options){ .dir = tr->dir,
	    .signer = signer };
	if (!(tr->w = calloc((size_t)b->runs, sizeof(double))) ||
	    !(tr->fw = calloc((size_t)b->runs, sizeof(double))))
		return -1;
	t0 = bw_mono_s();
	if (audit_trail_open(&tr->o, &t, NULL) < 0 || trail_fill(t, tr->n) < 0)
		return -1;
	audit_trail_close(t);
	tr->fill = bw_mono_s() - t0;
	tr->whole = trail_scan(b, tr->dir, &tr->mark, &tr->verified,
	    &tr->facts_whole);
	return tr->whole < 0 ? -1 : 0;
}

/* Round I: TRAIL_GROWTH more records, then a scan from the mark. */
static int
trail_round(struct bench *b, struct trail_run *tr, int i)
{
	struct audit_trail *t = NULL;

	if (audit_trail_open(&tr->o, &t, NULL) < 0 ||
	    trail_fill(t, TRAIL_GROWTH) < 0)
		return -1;
	audit_trail_close(t);
	tr->w[i] = trail_scan(b, tr->dir, &tr->mark, &tr->verified, &tr->fw[i]);
	return tr->w[i] < 0 ? -1 : 0;
}

/* Prints TR's times; returns its median scan. */
static double
trail_report(const struct bench *b, struct trail_run *tr)
{
	double idle = trail_facts_only(tr->dir, &tr->mark);
	int m = b->runs / 2;

	qsort(tr->w, (size_t)b->runs, sizeof(double), cmp_d);
	qsort(tr->fw, (size_t)b->runs, sizeof(double), cmp_d);
	printf("trail of %" PRIu64 " records: written in %.2f s; first scan "
	    "(whole trail) %.1f ms, of which audit facts %.1f ms\n"
	    "  scan after %u more records, median of %d: %.2f ms (min %.2f, "
	    "max %.2f), of which audit facts %.2f ms (min %.2f, max %.2f; "
	    "%" PRIu64 " records verified); audit facts from the mark with "
	    "nothing new %.2f ms\n", tr->n, tr->fill, tr->whole * 1e3,
	    tr->facts_whole * 1e3, TRAIL_GROWTH, b->runs, tr->w[m] * 1e3,
	    tr->w[0] * 1e3, tr->w[b->runs - 1] * 1e3, tr->fw[m] * 1e3,
	    tr->fw[0] * 1e3, tr->fw[b->runs - 1] * 1e3, tr->verified,
	    idle * 1e3);
	return tr->w[m];
}

static void
trail_remove(struct trail_run *tr)
{
	char cmd[600];

	if (tr->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tr->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tr->dir);
	}
	free(tr->w);
	free(tr->fw);
}

/* Both sizes, their rounds interleaved (small then large, large then
 * small, ...) so that both meet the same moments of a shared machine. */
static int
trail_bench(struct bench *b)
{
	struct audit_signer	*signer = NULL;
	struct trail_run	 tr[2] = { { .n = 10000 }, { .n = 1000000 } };
	char			 key[512];
	double			 med[2];
	int			 r = -1;

	snprintf(key, sizeof(key), "%s/checkpoint.pem", b->trail_dir);
	if (mkdir(b->trail_dir, 0700) < 0 && errno != EEXIST)
		return -1;
	if (audit_signer_software_load_or_create(key, &signer, NULL) < 0)
		return -1;
	if (trail_make(b, signer, &tr[0]) < 0 || trail_make(b, signer, &tr[1]) < 0)
		goto out;
	for (int i = 0; i < b->runs; i++)
		if (trail_round(b, &tr[i % 2], i) < 0 ||
		    trail_round(b, &tr[1 - i % 2], i) < 0)
			goto out;
	med[0] = trail_report(b, &tr[0]);
	med[1] = trail_report(b, &tr[1]);
	/* trail_report() sorted them */
	printf("audit facts alone, 1,000,000 / 10,000: %.2f ms / %.2f ms = "
	    "ratio %.2f (the whole walk: %.0fx)\n", tr[1].fw[b->runs / 2] * 1e3,
	    tr[0].fw[b->runs / 2] * 1e3, tr[1].fw[b->runs / 2] /
	    tr[0].fw[b->runs / 2], tr[1].facts_whole / tr[0].facts_whole);
	printf("scan with a trail of 1,000,000 records / of 10,000: %.2f ms / "
	    "%.2f ms = ratio %.2f (goal <= 1.2: %s)\n", med[1] * 1e3,
	    med[0] * 1e3, med[1] / med[0], med[1] / med[0] <= 1.2 ? "met" :
	    "NOT met");
	r = 0;
out:
	trail_remove(&tr[0]);
	trail_remove(&tr[1]);
	audit_signer_free(signer);
	unlink(key);
	return r;
}

int
main(int argc, char **argv)
{
	struct bench b = {
		.data = getenv("BULWARK_COMPLIANCE_DATA"),
		.ssg = "/usr/share/xml/scap/ssg/content",
		.profile = "xccdf_org.ssgproject.content_profile_standard",
		.runs = 20, .tmpd = "/tmp/bw-bench-scan-XXXXXX",
		.xr = -1, .orr = -1, .rules = -1, .defs = -1,
	};
	int r;

	if ((r = parse_args(&b, argc, argv)) != 0)
		return r;
	if (!mkdtemp(b.tmpd))
		return 1;
	if (load(&b) < 0)
		return 1;
	if (!b.trail_only) {
		if (scan_runs(&b) < 0)
			return 1;
		run_oscap(&b);
	}
	remove_tmp(&b);
	if (!b.trail_only)
		report(&b);
	if (b.trail_dir && trail_bench(&b) < 0) {
		fprintf(stderr, "trail benchmark failed\n");
		return 1;
	}
	free(b.walls);
	comp_baseline_free(b.mod);
	comp_catalog_free(b.cat);
	return 0;
}
