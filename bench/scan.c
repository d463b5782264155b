/* Times a full FedRAMP Moderate scan of this machine and, in the same
 * run, OpenSCAP on the SCAP Security Guide content for Debian
 * (XCCDF evaluation of a profile, and a plain OVAL evaluation), then
 * prints wall time, checks evaluated, time per check and the ratios.
 *
 * usage: bench/scan [-n RUNS] [-d DATADIR] [-c SSG_DIR] [-p PROFILE] [-O]
 * (-O skips the OVAL evaluation, which takes minutes: it walks the file
 * system for several definitions.)
 */
#include "config.h"

#include <errno.h>
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

	while ((c = getopt(argc, argv, "n:d:c:p:O")) != -1) {
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
		default:
			fprintf(stderr, "usage: %s [-n RUNS] [-d DATADIR] "
			    "[-c SSG_DIR] [-p PROFILE] [-O]\n", argv[0]);
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
	if (load(&b) < 0 || scan_runs(&b) < 0)
		return 1;
	run_oscap(&b);
	remove_tmp(&b);
	report(&b);
	free(b.walls);
	comp_baseline_free(b.mod);
	comp_catalog_free(b.cat);
	return 0;
}
