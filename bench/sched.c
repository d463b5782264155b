/* Scheduler simulation: N nodes over Z zones and R racks with mixed
 * capacities, taints, pools and trust states; M instances from workloads
 * with mixed constraints, placed one by one through the real scheduler
 * (sched_place + sched_bind). Prints placements per second per scenario,
 * the cost of explanations, bin-packing efficiency and spread skew, each
 * as a ratio against the baseline (resources only, explanations off)
 * measured in the same run.
 *
 * Usage: bench/sched [--nodes 100,1000,5000] [--instances 10000]
 *                    [--zones Z] [--racks R] [--repeat K] [--seed S]
 * --repeat K keeps the fastest of K runs of each row (the machine may be
 * shared; other load only ever slows a run down). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controlplane/sched.h"
#include "lib/clock.h"
#include "lib/err.h"

enum scenario {
	SC_RESOURCES,		/* (a) cpu and memory only */
	SC_SPREAD,		/* (b) + zone spread, max skew 1 */
	SC_ANTI,		/* (c) + anti-affinity, one per node */
	SC_MIXED,		/* every constraint kind, mixed per workload */
	SC__MAX,
};

static const char *const sc_names[SC__MAX] = {
	"(a) resources", "(b) +zone spread", "(c) +anti-affinity", "(d) mixed",
};

enum xmode { X_OFF, X_ON, X_TEXT, X__MAX };
static const char *const x_names[X__MAX] = { "off", "on", "on+text" };

struct node_gen {
	char		 name[24];
	char		 zone[16];
	char		 rack[16];
	int64_t		 cpu, mem;
	bool		 tainted, pooled, fips, ssd;
	enum sched_attestation att;
	enum sched_node_phase phase;
	const char	*images[4];
};

struct wl_gen {
	char		 name[16];
	char		 tenant[8];
	int		 replicas;
	int64_t		 cpu, mem;
	const char	*image;
	bool		 fips, tolerate, ssd, dedicated, rack_soft, anti_label;
};

static uint64_t rng_state;

static uint64_t
rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int
pct(int p)
{
	return (int)(rnd() % 100) < p;
}

static char image_names[40][24];

static double
clock_secs(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
gen_nodes(struct node_gen *g, int n, int zones, int racks)
{
	for (int i = 0; i < n; i++) {
		int rack = i % racks, shape = (int)(rnd() % 100);

		snprintf(g[i].name, sizeof(g[i].name), "node-%05d", i);
		snprintf(g[i].rack, sizeof(g[i].rack), "rack-%03d", rack);
		snprintf(g[i].zone, sizeof(g[i].zone), "zone-%d", rack % zones);
		g[i].cpu = shape < 50 ? 16000 : shape < 85 ? 32000 : 64000;
		g[i].mem = g[i].cpu / 1000 * 4096;
		g[i].tainted = pct(3);
		g[i].pooled = pct(2);
		g[i].fips = pct(50);
		g[i].ssd = pct(40);
		g[i].att = pct(1) ? SCHED_ATTEST_UNTRUSTED : pct(1) ? SCHED_ATTEST_PENDING :
		    SCHED_ATTEST_TRUSTED;
		g[i].phase = pct(1) ? SCHED_NODE_NOT_READY : SCHED_NODE_READY;
		for (int k = 0; k < 4; k++)
			g[i].images[k] = image_names[rnd() % 40];
	}
}

static int
gen_workloads(struct wl_gen *w, int max, int instances)
{
	static const int64_t cpus[] = { 100, 250, 500, 1000, 2000, 4000 };
	static const int64_t mems[] = { 128, 256, 512, 1024, 2048, 4096, 8192 };
	int n = 0, total = 0;

	while (total < instances && n < max) {
		struct wl_gen *x = &w[n];

		snprintf(x->name, sizeof(x->name), "wl-%04d", n);
		snprintf(x->tenant, sizeof(x->tenant), "t%02d", n % 20);
		x->replicas = 1 + (int)(rnd() % 20);
		if (x->replicas > instances - total)
			x->replicas = instances - total;
		x->cpu = cpus[rnd() % 6];
		x->mem = mems[rnd() % 7];
		x->image = image_names[rnd() % 40];
		x->fips = pct(10);
		x->tolerate = pct(10);
		x->ssd = pct(10);
		x->dedicated = n % 20 == 0 && pct(50);
		x->rack_soft = pct(30);
		x->anti_label = pct(10);
		total += x->replicas;
		n++;
	}
	return n;
}

static int
build_cluster(struct sched_cluster **ret, const struct node_gen *g, int n)
{
	static const struct sched_taint taint = { "dedicated", "gpu", SCHED_TAINT_NO_SCHEDULE };
	struct sched_cluster *c;
	int r;

	if ((r = sched_cluster_new(&c)) < 0)
		return r;
	for (int i = 0; i < n; i++) {
		struct sched_label labels[3];
		struct sched_node_spec s = { .name = g[i].name, .zone = g[i].zone,
			.rack = g[i].rack, .cpu_millis = g[i].cpu, .memory_mib = g[i].mem,
			.max_instances = 110, .labels = labels, .images = g[i].images,
			.n_images = 4, .phase = g[i].phase, .attestation = g[i].att,
			.fips = g[i].fips };
		char *err = NULL;

		labels[s.n_labels++] = (struct sched_label){ "disk", g[i].ssd ? "ssd" : "hdd" };
		if (g[i].pooled)
			labels[s.n_labels++] = (struct sched_label){ SCHED_POOL_LABEL, "t00" };
		if (g[i].tainted) {
			s.taints = &taint;
			s.n_taints = 1;
		}
		if ((r = sched_node_upsert(c, &s, &err)) < 0) {
			fprintf(stderr, "upsert %s: %s\n", g[i].name, err ? err : bw_strerror(r));
			free(err);
			sched_cluster_free(c);
			return r;
		}
	}
	*ret = c;
	return 0;
}

struct run {
	int		 placed, unsched;
	double		 secs;		/* CPU time of this process */
	double		 wall;
	int		*where;		/* node index per instance, -1 unplaced */
	uint64_t	 chars;		/* rendered explanation bytes */
};

static const struct sched_expr ssd_expr = { "disk", SCHED_OP_IN,
	(const char *const[]){ "ssd" }, 1 };
static const struct sched_term ssd_term = { &ssd_expr, 1 };
static const struct sched_toleration gpu_tol = { .key = "dedicated", .exists = true,
	.any_effect = true };

static int
run_one(const struct node_gen *g, int n_nodes, const struct wl_gen *w, int n_wl,
    enum scenario sc, enum xmode xm, const struct sched_policy *base, struct run *out)
{
	_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
	struct sched_policy p = *base;
	int idx = 0, r;
	double t0, w0;

	if ((r = build_cluster(&c, g, n_nodes)) < 0)
		return r;
	p.explain = xm != X_OFF;
	t0 = clock_secs(CLOCK_PROCESS_CPUTIME_ID);
	w0 = bw_mono_s();
	for (int k = 0; k < n_wl; k++) {
		const struct wl_gen *x = &w[k];
		struct sched_label lab = { "app", x->name };
		struct sched_expr app_expr = { "app", SCHED_OP_IN,
			(const char *const[]){ w[(k + 1) % n_wl].name }, 1 };
		struct sched_spread sp[2] = {
			{ SCHED_TOPO_ZONE, 1, false, { .same_workload = true } },
			{ SCHED_TOPO_RACK, 2, true, { .same_workload = true } },
		};
		struct sched_anti_affinity aa[2] = {
			{ SCHED_TOPO_NODE, { .same_workload = true } },
			{ SCHED_TOPO_NODE, { .exprs = &app_expr, .n_exprs = 1 } },
		};
		struct sched_request q = { .tenant = x->tenant, .workload = x->name,
			.labels = &lab, .n_labels = 1, .cpu_millis = x->cpu, .memory_mib = x->mem,
			.image = x->image };

		if (sc >= SC_SPREAD && sc != SC_MIXED) {
			q.spread = sp;
			q.n_spread = 1;
		}
		if (sc == SC_ANTI) {
			q.anti_affinity = aa;
			q.n_anti_affinity = 1;
		}
		if (sc == SC_MIXED) {
			q.fips = x->fips;
			q.dedicated = x->dedicated;
			if (x->tolerate) {
				q.tolerations = &gpu_tol;
				q.n_tolerations = 1;
			}
			if (x->ssd) {
				q.affinity = &ssd_term;
				q.n_affinity = 1;
			}
			/* A third of the workloads spread hard over zones, some
			 * softly over racks too; some avoid another workload. */
			if (k % 3 == 0) {
				q.spread = sp;
				q.n_spread = x->rack_soft ? 2 : 1;
			}
			if (k % 4 == 0 || x->anti_label) {
				q.anti_affinity = x->anti_label ? &aa[1] : aa;
				q.n_anti_affinity = 1;
			}
		}
		for (int i = 0; i < x->replicas; i++, idx++) {
			struct sched_result res;
			char name[32], *err = NULL;

			snprintf(name, sizeof(name), "%s-%d", x->name, i);
			q.instance = name;
			if ((r = sched_place(c, &q, &p, &res, &err)) < 0) {
				fprintf(stderr, "place %s: %s\n", name, err ? err : bw_strerror(r));
				free(err);
				return r;
			}
			if (xm == X_TEXT) {
				char *text = NULL;

				if ((r = sched_explain_format(&res.explain, &text)) < 0)
					return r;
				out->chars += strlen(text);
				free(text);
			}
			if (!res.placed) {
				out->unsched++;
				out->where[idx] = -1;
				continue;
			}
			if ((r = sched_bind(c, &q, res.node, &err)) < 0) {
				fprintf(stderr, "bind %s: %s\n", name, err ? err : bw_strerror(r));
				free(err);
				return r;
			}
			out->placed++;
			out->where[idx] = atoi(res.node + 5);
		}
	}
	out->secs = clock_secs(CLOCK_PROCESS_CPUTIME_ID) - t0;
	out->wall = bw_mono_s() - w0;
	return 0;
}

static int
cmp_desc(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Nodes a plain request may use: Ready, Trusted, untainted, shared. */
static bool
plain_ok(const struct node_gen *g)
{
	return g->phase == SCHED_NODE_READY && g->att == SCHED_ATTEST_TRUSTED && !g->tainted &&
	    !g->pooled;
}

/* Fewest eligible nodes (largest first) whose capacity covers the placed
 * requests in both cpu and memory: a lower bound for any packing. */
static void
packing(const struct node_gen *g, int n, const struct wl_gen *w, int n_wl, const struct run *rn,
    int *ret_used, int *ret_bound, double *ret_fill)
{
	int64_t need_cpu = 0, need_mem = 0, used_cap = 0;
	int64_t *caps = calloc((size_t)n, sizeof(int64_t));
	char *used = calloc((size_t)n, 1);
	int idx = 0, m = 0, bound = 0, nused = 0;

	if (!caps || !used)
		goto out;
	for (int k = 0; k < n_wl; k++)
		for (int i = 0; i < w[k].replicas; i++, idx++)
			if (rn->where[idx] >= 0) {
				need_cpu += w[k].cpu;
				need_mem += w[k].mem;
				used[rn->where[idx]] = 1;
			}
	for (int i = 0; i < n; i++) {
		nused += used[i];
		if (used[i])
			used_cap += g[i].cpu;
		if (plain_ok(&g[i]))
			caps[m++] = g[i].cpu;	/* memory is 4 GiB per core on every shape */
	}
	qsort(caps, (size_t)m, sizeof(int64_t), cmp_desc);
	for (int64_t got_cpu = 0, got_mem = 0; bound < m && (got_cpu < need_cpu || got_mem < need_mem);
	    bound++) {
		got_cpu += caps[bound];
		got_mem += caps[bound] / 1000 * 4096;
	}
out:
	*ret_used = nused;
	*ret_bound = bound;
	*ret_fill = used_cap ? (double)need_cpu / (double)used_cap : 0;
	free(caps);
	free(used);
}

/* Largest (max - min) of replicas per zone over all workloads. */
static int
max_zone_skew(const struct node_gen *g, const struct wl_gen *w, int n_wl, const struct run *rn,
    int zones)
{
	int idx = 0, worst = 0, cnt[64];

	for (int k = 0; k < n_wl; k++) {
		int lo = 1 << 30, hi = 0;

		memset(cnt, 0, sizeof(cnt));
		for (int i = 0; i < w[k].replicas; i++, idx++)
			if (rn->where[idx] >= 0)
				cnt[atoi(g[rn->where[idx]].zone + 5)]++;
		for (int z = 0; z < zones; z++) {
			lo = cnt[z] < lo ? cnt[z] : lo;
			hi = cnt[z] > hi ? cnt[z] : hi;
		}
		if (hi - lo > worst)
			worst = hi - lo;
	}
	return worst;
}

/* Coefficient of variation of cpu use over eligible nodes, in percent. */
static double
imbalance(const struct node_gen *g, int n, const struct wl_gen *w, int n_wl, const struct run *rn)
{
	double *use = calloc((size_t)n, sizeof(double)), sum = 0, sq = 0;
	int idx = 0, m = 0;

	if (!use)
		return -1;
	for (int k = 0; k < n_wl; k++)
		for (int i = 0; i < w[k].replicas; i++, idx++)
			if (rn->where[idx] >= 0)
				use[rn->where[idx]] += (double)w[k].cpu / (double)g[rn->where[idx]].cpu;
	for (int i = 0; i < n; i++)
		if (plain_ok(&g[i])) {
			sum += use[i];
			sq += use[i] * use[i];
			m++;
		}
	free(use);
	if (!m || sum == 0)
		return 0;
	double mean = sum / m, var = sq / m - mean * mean;

	return var > 0 ? 100.0 * sqrt(var) / mean : 0;
}

static void
print_rate(double v, char *buf, size_t size)
{
	snprintf(buf, size, "%.0f", v);
}

/* What the command line asks for. */
struct bench_opts {
	int			 node_counts[8], n_counts, instances;
	int			 zones_opt, racks_opt, repeat;
	uint64_t		 seed;
	struct sched_policy	 base;
};

/* One node count's generated cluster and workloads, shared by its rows. */
struct bench_set {
	const struct bench_opts	*o;
	struct node_gen		*g;
	struct wl_gen		*w;
	int			 n, n_wl, zones;
	double			 baseline;	/* rate of (a), explanations off */
};

/* Returns 0, or 2 after printing the usage. */
static int
parse_args(struct bench_opts *o, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--nodes") && i + 1 < argc) {
			char *s = argv[++i], *tok;

			o->n_counts = 0;
			while ((tok = strsep(&s, ",")) && o->n_counts < 8)
				o->node_counts[o->n_counts++] = atoi(tok);
		} else if (!strcmp(argv[i], "--instances") && i + 1 < argc)
			o->instances = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--zones") && i + 1 < argc)
			o->zones_opt = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--racks") && i + 1 < argc)
			o->racks_opt = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			o->repeat = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			o->seed = strtoull(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: %s [--nodes N,N..] [--instances M] [--zones Z] "
			    "[--racks R] [--repeat K] [--seed S]\n", argv[0]);
			return 2;
		}
	}
	if (o->instances < 1 || o->zones_opt < 0 || o->zones_opt > 64 || o->racks_opt < 0 ||
	    o->repeat < 1)
		return 2;
	return 0;
}

/* Best of REPEAT runs of scenario SC in mode XM into *RN (its where is
 * the caller's to free) and its rate. Other load on the machine only
 * slows. */
static int
best_run(const struct bench_set *b, int sc, int xm, struct run *rn, double *ret_rate)
{
	double rate = 0;

	for (int rep = 0; rep < b->o->repeat; rep++) {
		struct run one = { 0 };

		one.where = calloc((size_t)b->o->instances, sizeof(int));
		if (!one.where || run_one(b->g, b->n, b->w, b->n_wl, sc, xm, &b->o->base,
		    &one) < 0)
			return -1;
		if (rep == 0 || (one.placed + one.unsched) / one.secs > rate) {
			if (rep)
				free(rn->where);
			*rn = one;
			rate = (rn->placed + rn->unsched) / rn->secs;
		} else
			free(one.where);
	}
	*ret_rate = rate;
	return 0;
}

/* The measures printed under a scenario's row. */
static void
print_extras(const struct bench_set *b, int sc, int xm, const struct run *rn)
{
	int used, bound;
	double fill;

	if (sc == SC_RESOURCES && xm == X_ON) {
		packing(b->g, b->n, b->w, b->n_wl, rn, &used, &bound, &fill);
		printf("  least-allocated: %d nodes used, lower bound %d "
		    "(efficiency %.2f), cpu fill of used nodes %.0f%%; "
		    "cpu imbalance (CV) %.1f%%\n", used, bound,
		    used ? (double)bound / used : 0, 100 * fill,
		    imbalance(b->g, b->n, b->w, b->n_wl, rn));
	}
	if (sc == SC_SPREAD && xm == X_ON)
		printf("  max zone skew over %d workloads: %d (limit 1)\n", b->n_wl,
		    max_zone_skew(b->g, b->w, b->n_wl, rn, b->zones));
	if (sc == SC_ANTI && xm == X_ON)
		printf("  max zone skew: %d\n", max_zone_skew(b->g, b->w, b->n_wl, rn, b->zones));
	if (xm == X_TEXT)
		printf("  explanation text: %.0f bytes per decision\n",
		    (double)rn->chars / (rn->placed + rn->unsched));
}

/* Every scenario in every explanation mode, and the explanations'
 * overhead; sets b->baseline. */
static int
run_scenarios(struct bench_set *b)
{
	double rate_on[SC__MAX] = { 0 }, rate_off[SC__MAX] = { 0 };
	struct run rn;
	char buf[32];

	for (int sc = 0; sc < SC__MAX; sc++)
		for (int xm = 0; xm < X__MAX; xm++) {
			double rate = 0;

			if (best_run(b, sc, xm, &rn, &rate) < 0)
				return -1;
			if (sc == SC_RESOURCES && xm == X_OFF)
				b->baseline = rate;
			if (xm == X_OFF)
				rate_off[sc] = rate;
			if (xm == X_ON)
				rate_on[sc] = rate;
			print_rate(rate, buf, sizeof(buf));
			printf("%-20s %-8s %7d %7d %12s %6.2f %10.0f\n", sc_names[sc],
			    x_names[xm], rn.placed, rn.unsched, buf, rate / b->baseline,
			    (rn.placed + rn.unsched) / rn.wall);
			print_extras(b, sc, xm, &rn);
			free(rn.where);
		}
	for (int sc = 0; sc < SC__MAX; sc++)
		printf("explanation overhead %-20s on/off = %.3f\n", sc_names[sc],
		    rate_on[sc] / rate_off[sc]);
	return 0;
}

/* Runs (a) with explanations on under policy P into *RN. */
static int
run_variant(const struct bench_set *b, const struct sched_policy *p, struct run *rn)
{
	memset(rn, 0, sizeof(*rn));
	rn->where = calloc((size_t)b->o->instances, sizeof(int));
	if (!rn->where || run_one(b->g, b->n, b->w, b->n_wl, SC_RESOURCES, X_ON, p, rn) < 0)
		return -1;
	return 0;
}

/* Bin packing under most-allocated, and node sampling, both for (a)
 * with explanations on. */
static int
run_variants(const struct bench_set *b)
{
	struct sched_policy p = b->o->base;
	struct run rn;
	int used, bound;
	double fill;
	char buf[32];

	/* Pure bin packing: nothing else pulls instances apart. */
	p.weights[SCHED_S_LEAST_ALLOCATED] = 0;
	p.weights[SCHED_S_MOST_ALLOCATED] = 1;
	p.weights[SCHED_S_BALANCED] = 0;
	p.weights[SCHED_S_IMAGE_LOCALITY] = 0;
	if (run_variant(b, &p, &rn) < 0)
		return -1;
	packing(b->g, b->n, b->w, b->n_wl, &rn, &used, &bound, &fill);
	print_rate((rn.placed + rn.unsched) / rn.secs, buf, sizeof(buf));
	printf("(a) most-allocated  on       %7d %7d %12s %6.2f\n", rn.placed, rn.unsched,
	    buf, (rn.placed + rn.unsched) / rn.secs / b->baseline);
	printf("  most-allocated: %d nodes used, lower bound %d (efficiency %.2f), "
	    "cpu fill of used nodes %.0f%%\n", used, bound,
	    used ? (double)bound / used : 0, 100 * fill);
	free(rn.where);

	p = b->o->base;
	p.percentage_of_nodes = 10;
	p.min_feasible = 100;
	if (run_variant(b, &p, &rn) < 0)
		return -1;
	print_rate((rn.placed + rn.unsched) / rn.secs, buf, sizeof(buf));
	printf("(a) sample 10%%      on       %7d %7d %12s %6.2f\n", rn.placed, rn.unsched,
	    buf, (rn.placed + rn.unsched) / rn.secs / b->baseline);
	printf("  sampled: cpu imbalance (CV) %.1f%%\n",
	    imbalance(b->g, b->n, b->w, b->n_wl, &rn));
	free(rn.where);
	return 0;
}

/* All rows for a cluster of N nodes. */
static int
bench_nodes(const struct bench_opts *o, int n)
{
	struct bench_set b = { .o = o, .n = n };
	int racks, r = -1;

	b.zones = o->zones_opt ? o->zones_opt : 3;
	racks = o->racks_opt ? o->racks_opt : (n / 20 > b.zones ? n / 20 : b.zones);
	b.g = calloc((size_t)n, sizeof(*b.g));
	b.w = calloc((size_t)o->instances, sizeof(*b.w));
	if (n < 1 || !b.g || !b.w)
		goto out;
	rng_state = o->seed;
	gen_nodes(b.g, n, b.zones, racks);
	b.n_wl = gen_workloads(b.w, o->instances, o->instances);
	printf("\n== %d nodes, %d zones, %d racks, %d workloads ==\n", n, b.zones, racks,
	    b.n_wl);
	printf("%-20s %-8s %7s %7s %12s %6s %10s\n", "scenario", "explain", "placed",
	    "unsched", "placements/s", "ratio", "(wall)/s");
	r = run_scenarios(&b) < 0 || run_variants(&b) < 0 ? -1 : 0;
out:
	free(b.g);
	free(b.w);
	return r;
}

int
main(int argc, char **argv)
{
	struct bench_opts o = {
		.node_counts = { 100, 1000, 5000 }, .n_counts = 3, .instances = 10000,
		.repeat = 1, .seed = 42,
	};
	int r;

	if ((r = parse_args(&o, argc, argv)) != 0)
		return r;
	for (int i = 0; i < 40; i++)
		snprintf(image_names[i], sizeof(image_names[i]), "sha256:%016x", i * 7919);
	sched_policy_default(&o.base);

	printf("scheduler bench: %d instances per run; placements/s from process CPU time "
	    "(the machine is shared), wall-clock rate alongside;\nbaseline = (a) at the same "
	    "node count, explanations off\n", o.instances);
	for (int ci = 0; ci < o.n_counts; ci++)
		if (bench_nodes(&o, o.node_counts[ci]) < 0)
			return 1;
	return 0;
}
