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

#include "lib/fileio.h"
#include "lib/macro.h"
#include "compliance/catalog.h"
#include "compliance/check.h"
#include "compliance/oscal.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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
	double t0 = now_s();
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
	*ret_wall = now_s() - t0;
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

int
main(int argc, char **argv)
{
	const char *data = getenv("BULWARK_COMPLIANCE_DATA");
	const char *ssg = "/usr/share/xml/scap/ssg/content";
	const char *profile = "xccdf_org.ssgproject.content_profile_standard";
	struct comp_catalog *cat = NULL;
	struct comp_baseline *mod = NULL;
	double *walls, t0, load_s, oscap_x = 0, oscap_o = 0;
	char *err = NULL, path[512], tmpd[] = "/tmp/bw-bench-scan-XXXXXX";
	size_t checks = 0, i, sat = 0, unsat = 0, na = 0;
	int runs = 20, c, xr = -1, orr = -1;
	long rules = -1, defs = -1, r_pass = 0, r_fail = 0, r_na = 0;
	bool skip_oval = false;

	while ((c = getopt(argc, argv, "n:d:c:p:O")) != -1) {
		switch (c) {
		case 'n':
			runs = atoi(optarg);
			break;
		case 'd':
			data = optarg;
			break;
		case 'c':
			ssg = optarg;
			break;
		case 'p':
			profile = optarg;
			break;
		case 'O':
			skip_oval = true;
			break;
		default:
			fprintf(stderr, "usage: %s [-n RUNS] [-d DATADIR] "
			    "[-c SSG_DIR] [-p PROFILE] [-O]\n", argv[0]);
			return 2;
		}
	}
	if (runs < 1 || runs > 10000)
		runs = 20;
	if (!data)
		data = "compliance/data";
	if (!mkdtemp(tmpd))
		return 1;

	t0 = now_s();
	snprintf(path, sizeof(path), "%s/%s", data, COMP_CATALOG_FILE);
	if (comp_catalog_load(path, &cat, &err) < 0) {
		fprintf(stderr, "catalog: %s\n", err);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s", data, COMP_BASELINE_MODERATE);
	if (comp_baseline_load(path, cat, &mod, &err) < 0) {
		fprintf(stderr, "baseline: %s\n", err);
		return 1;
	}
	load_s = now_s() - t0;

	walls = calloc((size_t)runs, sizeof(*walls));
	if (!walls)
		return 1;
	for (i = 0; i < (size_t)runs; i++) {
		struct comp_scan *scan = NULL;
		struct comp_ctx ctx;
		size_t j;

		t0 = now_s();
		if (comp_ctx_open(&ctx, "/", NULL, NULL, 0) < 0 ||
		    comp_scan_run(&ctx, mod, &scan) < 0)
			return 1;
		comp_ctx_done(&ctx);
		walls[i] = now_s() - t0;
		checks = scan->n;
		if (i == 0) {
			json_t *ar = NULL, *poam = NULL;
			double t1 = now_s();
			int dfd = open(tmpd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			for (j = 0; j < scan->n; j++) {
				sat += scan->results[j]->verdict == COMP_SATISFIED;
				unsat += scan->results[j]->verdict ==
				    COMP_NOT_SATISFIED;
				na += scan->results[j]->verdict ==
				    COMP_NOT_APPLICABLE;
			}
			if (dfd < 0 || comp_oscal_assessment_results(scan, cat,
			    mod, NULL, &ar, &err) < 0 ||
			    comp_oscal_write(ar, dfd, "ar.json", 0600) < 0)
				return 1;
			if (comp_oscal_poam(scan, cat, mod, NULL, &poam,
			    &err) == 0)
				(void)comp_oscal_write(poam, dfd, "poam.json",
				    0600);
			printf("# OSCAL assessment-results + POA&M built and "
			    "written in %.1f ms\n", (now_s() - t1) * 1e3);
			json_decref(ar);
			json_decref(poam);
			close(dfd);
		}
		comp_scan_free(scan);
	}
	qsort(walls, (size_t)runs, sizeof(*walls), cmp_d);

	/* OpenSCAP, same machine, same run. */
	{
		char ds[600], oval[600], res[600], out[600];
		char *xargv[] = { "oscap", "xccdf", "eval", "--profile",
			(char *)profile, "--results", res, ds, NULL };
		char *oargv[] = { "oscap", "oval", "eval", oval, NULL };

		snprintf(ds, sizeof(ds), "%s/ssg-debian11-ds.xml", ssg);
		snprintf(oval, sizeof(oval), "%s/ssg-debian11-oval.xml", ssg);
		snprintf(res, sizeof(res), "%s/oscap-results.xml", tmpd);
		snprintf(out, sizeof(out), "%s/oval.out", tmpd);
		if (access(ds, R_OK) == 0) {
			xr = run(xargv, NULL, &oscap_x);
			rules = count_in(res, "<rule-result ");
			r_pass = count_in(res, "<result>pass</result>");
			r_fail = count_in(res, "<result>fail</result>");
			/* notselected rules were not evaluated */
			r_na = count_in(res, "<result>notapplicable</result>");
			if (rules >= 0)
				rules = r_pass + r_fail + r_na +
				    count_in(res, "<result>error</result>") +
				    count_in(res, "<result>unknown</result>") +
				    count_in(res, "<result>notchecked</result>");
		}
		if (!skip_oval && access(oval, R_OK) == 0) {
			orr = run(oargv, out, &oscap_o);
			defs = count_in(out, "Definition oval:");
		}
		unlink(res);
		unlink(out);
	}
	snprintf(path, sizeof(path), "%s/ar.json", tmpd);
	unlink(path);
	snprintf(path, sizeof(path), "%s/poam.json", tmpd);
	unlink(path);
	rmdir(tmpd);

	{
		double med = walls[runs / 2], per = med / (double)checks;
		size_t ctl = 0;
		const struct comp_check *all;
		size_t nall, k, m;

		all = comp_checks(&nall);
		for (k = 0; k < comp_baseline_count(mod); k++)
			for (m = 0; m < nall; m++)
				if (comp_check_covers(&all[m],
				    comp_baseline_at(mod, k)->id)) {
					ctl++;
					break;
				}
		printf("catalog + Moderate baseline load: %.1f ms\n",
		    load_s * 1e3);
		printf("bulwark Moderate scan of /: %zu checks, %zu controls "
		    "of %zu automated (%zu satisfied, %zu not satisfied, %zu "
		    "n/a on this host)\n", checks, ctl, comp_baseline_count(mod),
		    sat, unsat, na);
		printf("bulwark scan wall time over %d runs: median %.2f ms, "
		    "min %.2f ms, max %.2f ms; %.1f us per check\n", runs,
		    med * 1e3, walls[0] * 1e3, walls[runs - 1] * 1e3, per * 1e6);
		if (rules > 0) {
			double rper = oscap_x / (double)rules;

			printf("oscap xccdf eval (%s, ssg-debian11-ds.xml): exit "
			    "%d, %.2f s wall, %ld rules evaluated (%ld pass, %ld "
			    "fail, %ld not applicable), %.1f us per rule\n",
			    profile, xr, oscap_x, rules, r_pass, r_fail, r_na,
			    rper * 1e6);
			if (r_na == rules)
				printf("note: every XCCDF rule was not applicable "
				    "(SSG ships Debian 11 content; its platform "
				    "check fails on this host), so the OVAL "
				    "evaluation below is the like-for-like "
				    "comparison\n");
			printf("ratio: whole scan %.0fx faster; per check %.0fx "
			    "faster\n", oscap_x / med, rper / per);
		} else
			printf("oscap xccdf eval: not run (%s)\n", xr < 0 ?
			    "oscap or ssg-debian missing" : "no results");
		if (defs > 0) {
			double dper = oscap_o / (double)defs;

			printf("oscap oval eval (ssg-debian11-oval.xml): exit %d, "
			    "%.2f s wall, %ld definitions, %.1f us per "
			    "definition\n", orr, oscap_o, defs, dper * 1e6);
			printf("ratio: whole scan %.0fx faster; per check %.0fx "
			    "faster\n", oscap_o / med, dper / per);
		} else
			printf("oscap oval eval: not run\n");
		printf("goals: scan < 1 s: %s; >= 20x faster per check than "
		    "oscap xccdf: %s; than oscap oval: %s\n",
		    med < 1.0 ? "met" : "NOT met",
		    rules > 0 ? ((oscap_x / (double)rules) / per >= 20 ?
		    "met" : "NOT met") : "not measured",
		    defs > 0 ? ((oscap_o / (double)defs) / per >= 20 ?
		    "met" : "NOT met") : "not measured");
	}
	free(walls);
	comp_baseline_free(mod);
	comp_catalog_free(cat);
	return 0;
}
