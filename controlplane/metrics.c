#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "controlplane/metrics.h"
#include "controlplane/commit.h"
#include "controlplane/resource.h"
#include "controlplane/store.h"
#include "lib/clock.h"
#include "lib/hist.h"
#include "lib/json.h"
#include "lib/macro.h"

static const char *const route_names[MR_NROUTES] = {
	"get", "list", "write", "delete", "status", "watch", "audit",
	"health", "metrics", "enrol", "principal", "image", "compliance",
	"other",
};

/* Distinct status codes kept; a request answered with yet another is
 * not counted (never in practice: the API answers with fewer than
 * twenty codes). */
#define CODES_MAX	24
/* A fleet whose objects keep changing (nodes re-attest every minute) is
 * read again only once this many times the last read's cost has passed
 * since it: at most half a percent of a core goes to reading it, and a
 * small fleet is read at every scrape after a change. */
#define FLEET_READ_BUDGET	200

/* Distinct phases kept; others count as "Unknown". */
#define PHASES_MAX	16

static const char *const attestations[] = {
	"Trusted", "Untrusted", "Pending", "Unknown",
};

struct tenant_count {
	char		 name[64];
	uint64_t	 total;
	uint64_t	 by_phase[PHASES_MAX];
};

/* What a rebuild read from the store. */
struct fleet {
	bool			 valid;		/* no commit touched the kinds since */
	bool			 read;		/* counts are there */
	uint64_t		 read_at_ns;	/* the last read (monotonic) */
	uint64_t		 read_ns;	/* its cost: the loop thread's CPU */
	char			 phases[PHASES_MAX][17];
	size_t			 nphases;
	uint64_t		 nodes[PHASES_MAX][ELEMENTSOF(attestations)];
	int64_t			*heartbeats;	/* per enrolled node */
	size_t			 nheartbeats;
	int64_t			 cert_earliest;	/* 0: none */
	struct tenant_count	*inst, *wl;
	size_t			 ninst, nwl;
};

struct metrics {
	struct store	*st;
	int		 codes[CODES_MAX];
	size_t		 ncodes;
	struct hist	*req[MR_NROUTES][CODES_MAX];	/* made on first use */
	struct hist	 start;		/* agents' instance starts */
	struct fleet	 f;
	uint64_t	 reads, read_cpu_ns;	/* all fleet reads */
};

int
metrics_new(struct store *st, struct metrics **ret)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->st = st;
	hist_init(&m->start, &hist_seconds_long);
	*ret = m;
	return 0;
}

static void
fleet_clear(struct fleet *f)
{
	free(f->heartbeats);
	free(f->inst);
	free(f->wl);
	memset(f, 0, sizeof(*f));
}

void
metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (size_t r = 0; r < MR_NROUTES; r++)
		for (size_t c = 0; c < CODES_MAX; c++)
			free(m->req[r][c]);
	fleet_clear(&m->f);
	free(m);
}

enum metrics_route
metrics_route_of_path(const char *path)
{
	static const struct {
		const char		*prefix;
		enum metrics_route	 r;
	} prefixes[] = {
		{ "/v1/enrol/", MR_ENROL },
		{ "/v1/attest/", MR_ENROL },
		{ "/v1/image-", MR_IMAGE },
		{ "/v1/compliance/", MR_COMPLIANCE },
	};

	for (size_t i = 0; path && i < ELEMENTSOF(prefixes); i++)
		if (strncmp(path, prefixes[i].prefix,
		    strlen(prefixes[i].prefix)) == 0)
			return prefixes[i].r;
	return MR_OTHER;
}

void
metrics_observe_request(struct metrics *m, enum metrics_route r, int status,
    uint64_t start_ns)
{
	size_t c;

	if (!m || (unsigned)r >= MR_NROUTES)
		return;
	for (c = 0; c < m->ncodes && m->codes[c] != status; c++)
		;
	if (c == m->ncodes) {
		if (m->ncodes == CODES_MAX)
			return;
		m->codes[m->ncodes++] = status;
	}
	if (!m->req[r][c]) {
		if (!(m->req[r][c] = malloc(sizeof(struct hist))))
			return;
		hist_init(m->req[r][c], &hist_seconds);
	}
	hist_observe_since(m->req[r][c], start_ns);
}

void
metrics_observe_instance_start(struct metrics *m, double seconds)
{
	if (m && seconds >= 0 && seconds < 1e6)
		hist_observe(&m->start, (uint64_t)(seconds * 1e9));
}

void
metrics_invalidate(struct metrics *m)
{
	if (m)
		m->f.valid = false;
}

void
metrics_commit_observed(struct metrics *m, const struct committer *c)
{
	if (commit_touched(c, "nodes") || commit_touched(c, "instances") ||
	    commit_touched(c, "workloads"))
		metrics_invalidate(m);
}

/* The slot of phase P (letters only, at most 16; anything else is
 * "Unknown"), made on first sight while there is room. */
static size_t
phase_slot(struct fleet *f, const char *p)
{
	size_t i, n = p ? strlen(p) : 0;

	if (n == 0 || n > 16 || strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz") != n)
		p = "Unknown";
	for (i = 0; i < f->nphases; i++)
		if (strcmp(f->phases[i], p) == 0)
			return i;
	if (f->nphases == PHASES_MAX)
		return phase_slot(f, "Unknown");
	snprintf(f->phases[f->nphases], sizeof(f->phases[0]), "%s", p);
	return f->nphases++;
}

static size_t
attestation_slot(const char *a)
{
	for (size_t i = 0; a && i + 1 < ELEMENTSOF(attestations); i++)
		if (strcmp(attestations[i], a) == 0)
			return i;
	return ELEMENTSOF(attestations) - 1;
}

/* The count of TENANT in *ARR (*N entries), added when new. The store
 * lists keys sorted, so a tenant's objects come together: the last
 * entry is nearly always the one. */
static struct tenant_count *
tenant_slot(struct tenant_count **arr, size_t *n, const char *tenant)
{
	struct tenant_count *a;

	if (*n > 0 && strcmp((*arr)[*n - 1].name, tenant) == 0)
		return &(*arr)[*n - 1];
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*arr)[i].name, tenant) == 0)
			return &(*arr)[i];
	if (!(a = realloc(*arr, (*n + 1) * sizeof(*a))))
		return NULL;
	*arr = a;
	memset(&a[*n], 0, sizeof(a[0]));
	snprintf(a[*n].name, sizeof(a[0].name), "%s", tenant);
	return &a[(*n)++];
}

/* Lists the objects of KIND (a new array in *RET, *RET_N). */
static int
list_kind(struct store *st, const char *kind, struct store_kv ***ret,
    size_t *ret_n)
{
	char prefix[RES_KEY_MAX];
	int r;

	if ((r = res_prefix(res_kind_by_name(kind), NULL, prefix,
	    sizeof(prefix))) < 0)
		return r;
	return store_list(st, prefix, ret, ret_n, NULL);
}

static int
read_nodes(struct metrics *m, struct fleet *f)
{
	struct store_kv	**kvs = NULL;
	size_t		  n = 0, i;
	int		  r;

	if ((r = list_kind(m->st, "Node", &kvs, &n)) < 0)
		return r;
	if (n && !(f->heartbeats = calloc(n, sizeof(*f->heartbeats)))) {
		store_kv_array_free(kvs, n);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		_cleanup_json_ json_t *doc = json_loadb(kvs[i]->value,
		    kvs[i]->value_len, 0, NULL);
		const json_t	*st = json_object_get(doc, "status");
		long long	 last, na;

		f->nodes[phase_slot(f, json_str_at(st, "phase", NULL))]
		    [attestation_slot(json_str_at(st, "attestation", NULL))]++;
		if ((last = json_int_at(st, "last_attested_unix", NULL, 0)) > 0)
			f->heartbeats[f->nheartbeats++] = last;
		na = json_int_at(st, "certificate", "not_after_unix", 0);
		if (na > 0 && (!f->cert_earliest || na < f->cert_earliest))
			f->cert_earliest = na;
	}
	store_kv_array_free(kvs, n);
	return 0;
}

/* Counts objects of KIND by tenant into *ARR, by phase too when PHASED. */
static int
read_tenanted(struct metrics *m, struct fleet *f, const char *kind,
    bool phased, struct tenant_count **arr, size_t *narr)
{
	struct store_kv		**kvs = NULL;
	struct tenant_count	 *t;
	size_t			  n = 0, i;
	int			  r = 0;

	if ((r = list_kind(m->st, kind, &kvs, &n)) < 0)
		return r;
	for (i = 0; i < n && r == 0; i++) {
		_cleanup_json_ json_t *doc = json_loadb(kvs[i]->value,
		    kvs[i]->value_len, 0, NULL);
		const char *tenant = json_str_at(doc, "metadata", "tenant");

		if (!(t = tenant_slot(arr, narr, tenant ? tenant : "")))
			r = -ENOMEM;
		else if (t->total++, phased)
			t->by_phase[phase_slot(f, json_str_at(doc, "status",
			    "phase") ?: "Pending")]++;
	}
	store_kv_array_free(kvs, n);
	return r;
}

static int
by_total_then_name(const void *a, const void *b)
{
	const struct tenant_count *x = a, *y = b;

	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;	/* ordering */
	return strcmp(x->name, y->name);
}

/* Keeps the METRICS_TENANTS_MAX largest tenants and sums the rest into
 * one more entry named "_other". */
static void
bound_tenants(struct tenant_count *a, size_t *n)
{
	size_t i, p;

	if (*n > 1)
		qsort(a, *n, sizeof(*a), by_total_then_name);
	if (*n <= METRICS_TENANTS_MAX)
		return;
	for (i = METRICS_TENANTS_MAX + 1; i < *n; i++) {
		a[METRICS_TENANTS_MAX].total += a[i].total;
		for (p = 0; p < PHASES_MAX; p++)
			a[METRICS_TENANTS_MAX].by_phase[p] += a[i].by_phase[p];
	}
	snprintf(a[METRICS_TENANTS_MAX].name, sizeof(a[0].name), "_other");
	*n = METRICS_TENANTS_MAX + 1;
}

static uint64_t
thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
fleet_read(struct metrics *m)
{
	struct fleet	f = { 0 };
	uint64_t	t0 = thread_cpu_ns();
	int		r;

	if ((r = read_nodes(m, &f)) < 0 ||
	    (r = read_tenanted(m, &f, "Instance", true, &f.inst,
	    &f.ninst)) < 0 ||
	    (r = read_tenanted(m, &f, "Workload", false, &f.wl, &f.nwl)) < 0) {
		fleet_clear(&f);
		return r;
	}
	bound_tenants(f.inst, &f.ninst);
	bound_tenants(f.wl, &f.nwl);
	f.valid = f.read = true;
	f.read_at_ns = bw_mono_ns();
	f.read_ns = thread_cpu_ns() - t0;
	m->reads++;
	m->read_cpu_ns += f.read_ns;
	fleet_clear(&m->f);
	m->f = f;
	return 0;
}

static void
render_requests(struct metrics *m, struct bw_buf *b)
{
	char labels[64];

	hist_render_header(b, "bulwark_http_request_duration_seconds",
	    "API requests from arrival to the answer (for a watch, to the "
	    "stream's start), by route class and HTTP status.");
	for (size_t r = 0; r < MR_NROUTES; r++)
		for (size_t c = 0; c < m->ncodes; c++) {
			if (!m->req[r][c])
				continue;
			snprintf(labels, sizeof(labels),
			    "route=\"%s\",code=\"%d\"", route_names[r],
			    m->codes[c]);
			hist_render(b, "bulwark_http_request_duration_seconds",
			    labels, m->req[r][c]);
		}
}

static void
render_tenants(struct bw_buf *b, const struct fleet *f, const char *name,
    const struct tenant_count *a, size_t n, bool phased)
{
	for (size_t i = 0; i < n; i++) {
		if (!phased) {
			bw_buf_printf(b, "%s{tenant=\"%s\"} %" PRIu64 "\n", name,
			    a[i].name, a[i].total);
			continue;
		}
		for (size_t p = 0; p < f->nphases; p++)
			if (a[i].by_phase[p])
				bw_buf_printf(b, "%s{phase=\"%s\",tenant=\"%s\"} %"
				    PRIu64 "\n", name, f->phases[p], a[i].name,
				    a[i].by_phase[p]);
	}
}

static void
render_fleet(const struct fleet *f, struct bw_buf *b, unsigned stale_s)
{
	int64_t		now = (int64_t)time(NULL);
	uint64_t	stale = 0;
	size_t		p, a;

	bw_buf_printf(b, "# HELP bulwark_nodes Nodes by phase and attestation.\n"
	    "# TYPE bulwark_nodes gauge\n");
	for (p = 0; p < f->nphases; p++)
		for (a = 0; a < ELEMENTSOF(attestations); a++)
			if (f->nodes[p][a])
				bw_buf_printf(b, "bulwark_nodes{phase=\"%s\","
				    "attestation=\"%s\"} %" PRIu64 "\n",
				    f->phases[p], attestations[a], f->nodes[p][a]);
	for (size_t i = 0; i < f->nheartbeats; i++)
		if (now - f->heartbeats[i] > (int64_t)stale_s)
			stale++;
	bw_buf_printf(b, "# HELP bulwark_nodes_stale Enrolled nodes whose last "
	    "verified quote (heartbeat) is older than %u s.\n"
	    "# TYPE bulwark_nodes_stale gauge\nbulwark_nodes_stale %" PRIu64
	    "\n", stale_s, stale);
	bw_buf_printf(b, "# HELP bulwark_node_cert_expiry_earliest_timestamp_seconds "
	    "The earliest expiry of a node's certificate (+Inf with none).\n"
	    "# TYPE bulwark_node_cert_expiry_earliest_timestamp_seconds gauge\n");
	if (f->cert_earliest)
		bw_buf_printf(b, "bulwark_node_cert_expiry_earliest_timestamp_seconds"
		    " %" PRId64 "\n", f->cert_earliest);
	else
		bw_buf_printf(b, "bulwark_node_cert_expiry_earliest_timestamp_seconds"
		    " +Inf\n");
	bw_buf_printf(b, "# HELP bulwark_instances Instances by phase and tenant "
	    "(the %d largest tenants, the rest as _other).\n"
	    "# TYPE bulwark_instances gauge\n", METRICS_TENANTS_MAX);
	render_tenants(b, f, "bulwark_instances", f->inst, f->ninst, true);
	bw_buf_printf(b, "# HELP bulwark_workloads Workloads by tenant (the %d "
	    "largest tenants, the rest as _other).\n"
	    "# TYPE bulwark_workloads gauge\n", METRICS_TENANTS_MAX);
	render_tenants(b, f, "bulwark_workloads", f->wl, f->nwl, false);
}

void
metrics_render(struct metrics *m, struct bw_buf *b, unsigned stale_s)
{
	render_requests(m, b);
	hist_render_header(b, "bulwark_agent_instance_start_duration_seconds",
	    "Instance starts as the node agents measured and reported them.");
	hist_render(b, "bulwark_agent_instance_start_duration_seconds", NULL,
	    &m->start);
	const struct fleet *f = &m->f;

	if (!f->read || (!f->valid && bw_mono_ns() - f->read_at_ns >=
	    FLEET_READ_BUDGET * f->read_ns))
		(void)fleet_read(m);
	if (m->f.read)
		render_fleet(&m->f, b, stale_s);
	bw_buf_printf(b, "# HELP bulwark_metrics_fleet_reads_total Reads of "
	    "nodes, instances and workloads from the store for /metrics.\n"
	    "# TYPE bulwark_metrics_fleet_reads_total counter\n"
	    "bulwark_metrics_fleet_reads_total %" PRIu64 "\n"
	    "# HELP bulwark_metrics_fleet_read_cpu_seconds_total CPU time those "
	    "reads took.\n"
	    "# TYPE bulwark_metrics_fleet_read_cpu_seconds_total counter\n"
	    "bulwark_metrics_fleet_read_cpu_seconds_total %.6f\n", m->reads,
	    (double)m->read_cpu_ns / 1e9);
}

/* ---- process_* ---- */

static double
boot_time(void)
{
	FILE			*f = fopen("/proc/stat", "re");
	char			 line[256];
	unsigned long long	 bt;
	double			 t = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %llu", &bt) == 1) {
			t = (double)bt;
			break;
		}
	if (f)
		fclose(f);
	return t;
}

static size_t
open_fds(void)
{
	DIR		*d = opendir("/proc/self/fd");
	struct dirent	*de;
	size_t		 n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0;	/* not the listing's own */
}

void
metrics_render_process(struct bw_buf *b)
{
	static double		 start;
	FILE			*f = fopen("/proc/self/stat", "re");
	char			 line[1024], *p = NULL;
	unsigned long long	 ut, stt, st0, vsz;
	long long		 rss;
	long			 tck = sysconf(_SC_CLK_TCK), pg = sysconf(_SC_PAGESIZE);
	struct rlimit		 rl;

	/* fields after the command's closing parenthesis: state is 3,
	 * utime 14, stime 15, starttime 22, vsize 23, rss 24 */
	if (f) {
		if (fgets(line, sizeof(line), f))
			p = strrchr(line, ')');
		fclose(f);
	}
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
	    "%*d %*d %*d %*d %*d %*d %llu %llu %lld", &ut, &stt, &st0, &vsz,
	    &rss) != 5 || tck <= 0)
		return;
	if (!start)
		start = boot_time() + (double)st0 / (double)tck;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		rl.rlim_cur = 0;
	bw_buf_printf(b,
	    "# HELP process_cpu_seconds_total User and system CPU time spent.\n"
	    "# TYPE process_cpu_seconds_total counter\n"
	    "process_cpu_seconds_total %.2f\n"
	    "# HELP process_resident_memory_bytes Resident memory size.\n"
	    "# TYPE process_resident_memory_bytes gauge\n"
	    "process_resident_memory_bytes %lld\n"
	    "# HELP process_virtual_memory_bytes Virtual memory size.\n"
	    "# TYPE process_virtual_memory_bytes gauge\n"
	    "process_virtual_memory_bytes %llu\n"
	    "# HELP process_open_fds Open file descriptors.\n"
	    "# TYPE process_open_fds gauge\n"
	    "process_open_fds %zu\n"
	    "# HELP process_max_fds The limit on open file descriptors.\n"
	    "# TYPE process_max_fds gauge\n"
	    "process_max_fds %llu\n"
	    "# HELP process_start_time_seconds Start time since the epoch.\n"
	    "# TYPE process_start_time_seconds gauge\n"
	    "process_start_time_seconds %.2f\n",
	    (double)(ut + stt) / (double)tck, rss * pg, vsz, open_fds(),
	    (unsigned long long)rl.rlim_cur, start);
}
