/* fleet-sim: the simulated fleet of bench/fleet/fleet.sh (issue 18).
 *
 *   fleet-sim seed DATA_DIR FIRST COUNT
 *	Writes Nodes nFIRST..n(FIRST+COUNT-1) straight into the store of a
 *	stopped bulwarkd as enrolment leaves them (status.phase Ready,
 *	status.attestation Trusted, attested now). Minting thousands of
 *	TPM-attested node identities is not possible on one machine (each
 *	needs its own TPM: enrolment activates a credential bound to the
 *	node's EK, and the node's TLS key lives in that TPM), so the
 *	simulated nodes are enrolled here, offline, and heartbeat through
 *	the administrator's credential (below). No path of the daemon is
 *	added or bypassed while it runs: the seeded objects are what a
 *	data directory restored from a backup would hold.
 *   fleet-sim write --config ADMIN.conf --nodes N --count C
 *	C Node writes over one kept-alive connection, cycling over n0..
 *	n(N-1): each PUTs the Node's own document again (a heartbeat that
 *	changes nothing the scheduler reads). For CPU per write.
 *   fleet-sim heartbeat --config ADMIN.conf --nodes N [--period S]
 *	[--threads T] [--seconds S]
 *	Every node writes its Node once per period (default 10 s), the
 *	writes spread evenly over the period, until SIGTERM or --seconds.
 *	Prints a JSON summary: writes, errors, the worst lag behind the
 *	schedule. With FLEET_SIM_CHANGE set in the environment, write and
 *	heartbeat set label "beat" to the current second and a count of
 *	the writes, so each write is a real mutation (a new revision, its
 *	durable audit record), not an unchanged PUT that bulwarkd answers
 *	without a commit.
 *   fleet-sim agent-idle --config ADMIN.conf --nodes N [--threads T]
 *	[--seconds S] [--mode resync|second]
 *	Each node makes the API requests an idle agent makes (agent/agent.c
 *	agent_run, workloads_pass, wait_for_change; agent/agent-run.c
 *	agent_run_pass), with a node that runs nothing and holds no volume.
 *	--mode resync (the default): the agent since 2026-12-07 (docs/
 *	architecture.md, "An idle agent's requests", parts 1, 3 and 5), once
 *	every AGENT_RUN_RESYNC_S (10 s), its resync:
 *	  GET /v1/instances?limit=32 (list_instances: one page, nothing
 *	    bound; a node bound more than 32 instances reads more pages),
 *	  GET /v1/volumesnapshots?limit=1000 (snapshots_sync),
 *	  POST /v1/logs/nodes/NODE {"logs":[]} (the resync's exchange of
 *	    log wants, in case a reader's wake was missed),
 *	  GET /v1/watch?since=REV&poll=MS (wait_for_change: every kind the
 *	    node may read, REV the list's revision), a long poll that ends
 *	    with its MS (the agent's lasts until its next resync, or its
 *	    next quote).
 *	--mode second: the agent of 8101d5f, the same requests once a
 *	second, its watch GET /v1/watch?kind=Instance&since=REV&poll=MS.
 *	No status is written (report() and report_node() write only on a
 *	change) and volumes_gc() reads nothing (no volume here). Not made:
 *	the re-attestation every interval_seconds (60 s: a nonce and a
 *	quote, which needs the node's TPM, each on a TLS connection of its
 *	own, and the workload connection opened again after it), and, with
 *	instances running, the workload GET of cpu_sample() every 15 s per
 *	instance.
 *	Differences, all from the administrator's credential (seeded nodes
 *	have no TPM identity, as for heartbeat):
 *	- a node's every request (and every pump of its open watch) first
 *	  reads and parses its own Node (controlplane/api.c node_stands(),
 *	  through identify_as() and identity_stands()); the administrator's
 *	  does not. Both rows of agent-idle.sh miss that read.
 *	- the lists read every object of the kind, where a node's read the
 *	  cluster-wide prefix too and drop what is not bound to it
 *	  (node_sees()); the bench's store holds no instance or snapshot,
 *	  so both answer an empty page after reading nothing.
 *	- the log push is refused (403, handle_push() in daemon/logs-api.c,
 *	  before the body is read) and that refusal is recorded in the
 *	  trail, where a node's push is read, answered and not recorded.
 *	  FLEET_SIM_NO_LOG_PUSH set leaves it out. So the row without the
 *	  push is a lower bound of a real node's cost; the row with it is
 *	  no upper bound (a node's push and its Node reads are not in it).
 *	  Certificates with OU=node for the seeded names nN, one connection
 *	  per node, would measure a node's path. Not done: bulwarkd issues
 *	  them only through enrolment, to a key in the node's TPM, and its
 *	  CA key is sealed in its own TPM, so it takes a swtpm and an
 *	  enrolment per simulated node (or a bench-only issuing path).
 *	- the watch's long poll lasts until this thread's next node is due
 *	  (about T x P / N s), not the rest of the period, since one principal
 *	  may hold API_WATCH_PER_PRINCIPAL (16) watches: at most T (16)
 *	  polls are open at once where a real fleet holds one per node (up
 *	  to api_watch_node_max(): API_WATCH_NODE_MAX, 8,192, and at most
 *	  max_connections less 25 %, 768 by default, in all), each on a
 *	  connection of its own.
 *	Node i's pass is due at t0 + (k + i / N) x P s, P the mode's period
 *	(1 s or 10 s: spread over each period);
 *	at most N threads run (one without a node would spin). Prints a
 *	JSON summary: passes, requests, errors, the worst lag.
 *   fleet-sim rollout --config ADMIN.conf --mode basic|anti|spread
 *	--workloads W --instances I [--tenant T] [--timeout S] [--keep]
 *	Applies W Workloads of I instances in all (per-node anti-affinity
 *	or zone spread by mode) and follows /v1/watch until every instance
 *	has a node; then (unless --keep) deletes them and waits until every
 *	instance is gone. Exits 0 only when all were placed (and deleted). Prints placements/s from the first apply to the last
 *	placement seen on the watch (each acknowledged only once durable
 *	with its audit record; the caller counts the trail).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "client/client.h"
#include "controlplane/resource.h"
#include "controlplane/store.h"
#include "lib/clock.h"
#include "lib/ids.h"
#include "lib/json.h"

#define FLEET_ZONES	3
#define FLEET_RACKS	20

struct fleet_opts {
	const char	*config, *mode, *tenant;
	long		 nodes, count, workloads, instances;
	double		 period, seconds, timeout;
	int		 threads, keep;
};

static volatile sig_atomic_t	 stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* Node I as the administrator writes it (no status). New reference. */
static json_t *
node_doc(long i)
{
	char name[32], rack[16], zone[16];

	snprintf(name, sizeof(name), "n%ld", i);
	snprintf(rack, sizeof(rack), "r%ld", i % FLEET_RACKS);
	snprintf(zone, sizeof(zone), "z%ld", i % FLEET_ZONES);
	return json_pack("{s:s, s:{s:s, s:{s:s}}, s:{s:s, s:s, s:{s:i, s:i, "
	    "s:i}}}", "kind", "Node", "metadata", "name", name, "labels",
	    "rack", rack, "spec", "zone", zone, "rack", rack, "capacity",
	    "cpu_millis", 8000, "memory_mib", 16384, "instances", 50);
}

/* The status enrolment leaves on a Node whose quote matched. */
static json_t *
enrolled_status(void)
{
	char ts[40];

	bw_time_rfc3339_at(ts, sizeof(ts), time(NULL));
	return json_pack("{s:s, s:s, s:s, s:I}", "phase", "Ready",
	    "attestation", "Trusted", "last_attested", ts,
	    "last_attested_unix", (json_int_t)time(NULL));
}

/* The stored value of Node I (caller frees) and its key in KEY. */
static char *
node_stored(long i, char *key, size_t keylen)
{
	_cleanup_json_ json_t	*doc = node_doc(i), *status = enrolled_status();
	_cleanup_json_ json_t	*stored = NULL;
	_cleanup_free_ char	*err = NULL;
	const struct res_kind	*k;
	char			 uid[BW_UUID_LEN + 1], created[40];

	if (!doc || !status || res_validate(doc, NULL, NULL, &k, &err) < 0 ||
	    bw_uuid_v4(uid) < 0) {
		fprintf(stderr, "fleet-sim: node %ld: %s\n", i, err ? err : "invalid");
		return NULL;
	}
	bw_time_rfc3339_at(created, sizeof(created), time(NULL));
	if (!(stored = res_stored_form(doc, uid, created, status)) ||
	    res_key(k, NULL, json_str_at(doc, "metadata", "name"), key,
	    keylen) < 0)
		return NULL;
	return json_dumps(stored, JSON_COMPACT);
}

static int
cmd_seed(const char *dir, long first, long count)
{
	struct store		*st = NULL;
	struct store_options	 so = { 0 };
	char			*err = NULL;
	int			 r = 0;

	if (store_open_lmdb(dir, &so, &st, &err) < 0) {
		fprintf(stderr, "fleet-sim: %s: %s\n", dir, err ? err : "cannot open");
		free(err);
		return 1;
	}
	for (long at = first; at < first + count && r == 0; at += STORE_BATCH_MAX) {
		struct store_op	 ops[STORE_BATCH_MAX];
		char		 keys[STORE_BATCH_MAX][RES_KEY_MAX];
		char		*vals[STORE_BATCH_MAX] = { 0 };
		size_t		 n = 0;

		for (long i = at; i < first + count && n < STORE_BATCH_MAX; i++, n++) {
			if (!(vals[n] = node_stored(i, keys[n], sizeof(keys[n])))) {
				r = -EINVAL;
				break;
			}
			ops[n] = (struct store_op){ .type = STORE_OP_PUT,
			    .key = keys[n], .value = vals[n],
			    .value_len = strlen(vals[n]), .expect_rev = STORE_REV_ANY };
		}
		if (r == 0 && (r = store_batch(st, ops, n, 0, NULL, NULL)) < 0)
			fprintf(stderr, "fleet-sim: store_batch: %s\n", strerror(-r));
		for (size_t j = 0; j < n; j++)
			free(vals[j]);
	}
	store_close(st);
	return r < 0 ? 1 : 0;
}

/* PUTs Node I's document on CC. Returns the HTTP status or -EIO when the
 * request could not be made. */
static int
put_node(struct client_conn *cc, long i)
{
	_cleanup_json_ json_t	*doc = node_doc(i);
	_cleanup_free_ char	*body = NULL, *err = NULL;
	struct client_response	 resp = { 0 };
	char			 path[64];
	int			 status;

	snprintf(path, sizeof(path), "/v1/nodes/n%ld", i);
	if (doc && getenv("FLEET_SIM_CHANGE")) {
		static long	 seq;
		char		 beat[48];

		/* unique per write, also across runs: each is a mutation */
		snprintf(beat, sizeof(beat), "%lld-%ld", (long long)time(NULL),
		    __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
		json_object_set_new(json_object_get(json_object_get(doc,
		    "metadata"), "labels"), "beat", json_string(beat));
	}
	if (!doc || !(body = json_dumps(doc, JSON_COMPACT)) ||
	    client_conn_request(cc, "PUT", path, body, &resp, &err) < 0)
		return -EIO;
	status = resp.status;
	client_response_clear(&resp);
	return status;
}

static int
open_conn(const struct client_conf *conf, struct client_conn **ret)
{
	struct client_conn_opts	 co = { .reconnect = 1, .timeout_s = 120 };
	char			*err = NULL;

	if (client_conn_open_opts(conf, &co, ret, &err) < 0) {
		fprintf(stderr, "fleet-sim: connect: %s\n", err ? err : "failed");
		free(err);
		return -ECONNREFUSED;
	}
	return 0;
}

static int
cmd_write(const struct client_conf *conf, const struct fleet_opts *o)
{
	struct client_conn	*cc = NULL;
	long			 errors = 0;

	if (open_conn(conf, &cc) < 0)
		return 1;
	for (long i = 0; i < o->count; i++)
		if (put_node(cc, i % o->nodes) / 100 != 2)
			errors++;
	client_conn_close(cc);
	printf("{\"writes\":%ld,\"errors\":%ld}\n", o->count, errors);
	return errors ? 1 : 0;
}

/* What one thread counted; fleet_counts_add() sums them over the threads. */
struct fleet_counts {
	long	 writes, errors;
	long	 passes, requests;	/* agent-idle */
	double	 max_lag;
};

struct sim_thread;

/* Node I's turn on CC, due at DUE (monotonic s): counts what it did in
 * t->counts. */
typedef void sim_visit_fn(struct client_conn *cc, struct sim_thread *t,
    long i, double due);

struct sim_thread {
	const struct fleet_opts		*o;
	const struct client_conf	*conf;
	sim_visit_fn			*visit;
	double				 t0, period;
	struct fleet_counts		 counts;
	int				 idx;
	pthread_t			 tid;
};

static void
fleet_counts_add(struct fleet_counts *sum, const struct fleet_counts *c)
{
	sum->writes += c->writes;
	sum->errors += c->errors;
	sum->passes += c->passes;
	sum->requests += c->requests;
	if (c->max_lag > sum->max_lag)
		sum->max_lag = c->max_lag;
}

/* Thread t->idx's nodes (i = idx, idx + T, ...) on one connection, node
 * i's turn due at t0 + round * period + i * period / nodes: the fleet's
 * turns spread evenly over each period, until stop or --seconds. */
static void *
sim_thread_run(void *arg)
{
	struct client_conn	*cc = NULL;
	struct sim_thread	*t = arg;
	const struct fleet_opts	*o = t->o;

	if (open_conn(t->conf, &cc) < 0) {
		t->counts.errors++;
		return NULL;
	}
	for (long round = 0; !stop; round++) {
		for (long i = t->idx; i < o->nodes && !stop; i += o->threads) {
			double due = t->t0 + (double)round * t->period +
			    (double)i * t->period / (double)o->nodes;
			double now = bw_mono_s();

			if (o->seconds > 0 && due - t->t0 >= o->seconds) {
				stop = 1;
				break;
			}
			if (due > now)
				usleep((useconds_t)((due - now) * 1e6));
			else if (now - due > t->counts.max_lag)
				t->counts.max_lag = now - due;
			t->visit(cc, t, i, due);
		}
	}
	client_conn_close(cc);
	return NULL;
}

/* Runs the N threads TH and waits for them all. When one cannot be
 * started, those started are stopped and joined: -errno. */
static int
threads_run(struct sim_thread *th, int n)
{
	int	k, r = 0;

	for (k = 0; k < n; k++)
		if ((r = pthread_create(&th[k].tid, NULL, sim_thread_run,
		    &th[k])) != 0) {
			fprintf(stderr, "fleet-sim: starting thread %d of %d: "
			    "%s\n", k + 1, n, strerror(r));
			stop = 1;
			break;
		}
	for (int j = 0; j < k; j++)
		pthread_join(th[j].tid, NULL);
	return r ? -r : 0;
}

/* Visits every node once per PERIOD s with VISIT on o->threads threads
 * until stop or --seconds. *ret_sum gets the threads' counts summed,
 * *ret_secs the seconds it ran. Returns 0 or -errno (nothing set). */
static int
fleet_run(const struct client_conf *conf, const struct fleet_opts *o,
    double period, sim_visit_fn *visit, struct fleet_counts *ret_sum,
    double *ret_secs)
{
	struct sim_thread	*th = calloc((size_t)o->threads, sizeof(*th));
	struct fleet_counts	 sum = { 0 };
	double			 t0 = bw_mono_s();
	int			 r;

	if (!th)
		return -ENOMEM;
	for (int k = 0; k < o->threads; k++)
		th[k] = (struct sim_thread){ .idx = k, .o = o, .conf = conf,
		    .visit = visit, .t0 = t0, .period = period };
	if ((r = threads_run(th, o->threads)) < 0)
		goto out;
	for (int k = 0; k < o->threads; k++)
		fleet_counts_add(&sum, &th[k].counts);
	*ret_sum = sum;
	*ret_secs = bw_mono_s() - t0;
out:
	free(th);
	return r;
}

/* A heartbeat: node I writes its Node. */
static void
hb_visit(struct client_conn *cc, struct sim_thread *t, long i, double due)
{
	(void)due;
	if (put_node(cc, i) / 100 == 2)
		t->counts.writes++;
	else
		t->counts.errors++;
}

static int
cmd_heartbeat(const struct client_conf *conf, const struct fleet_opts *o)
{
	struct fleet_counts	 c;
	double			 secs;

	if (fleet_run(conf, o, o->period, hb_visit, &c, &secs) < 0)
		return 1;
	printf("{\"nodes\":%ld,\"period_s\":%.1f,\"seconds\":%.1f,\"writes\":%ld,"
	    "\"writes_per_s\":%.1f,\"errors\":%ld,\"max_lag_s\":%.3f}\n",
	    o->nodes, o->period, secs, c.writes,
	    secs > 0 ? (double)c.writes / secs : 0, c.errors, c.max_lag);
	return c.errors ? 1 : 0;
}

/* ---- agent-idle ---- */

/* The agent's page size: a copy of agent/agent-run.c AR_LIST_PAGE,
 * which says to change this with it. The paths of agent_pass() are
 * copies too (list_instances, snapshots_sync, logs_push_exchange,
 * wait_for_change). tests/integration/fleet-sim-agent.sh compares the
 * trail actions of a real idle agent with a pass's; nothing checks the
 * page size or the query strings. */
#define FLEET_AGENT_LIST_PAGE	32
/* controlplane/api.c API_WATCH_PER_PRINCIPAL: each thread holds one
 * long poll, all as the administrator. */
#define FLEET_AGENT_THREADS_MAX	16

/* One request on CC, counted in T. The HTTP status, or -EIO; the
 * list's revision into *RET_REV when asked. */
static int
agent_request(struct client_conn *cc, struct sim_thread *t, const char *method,
    const char *path, const char *body, unsigned long long *ret_rev)
{
	struct client_response	 resp = { 0 };
	_cleanup_free_ char	*err = NULL;
	_cleanup_json_ json_t	*doc = NULL;
	int			 status;

	t->counts.requests++;
	if (client_conn_request(cc, method, path, body, &resp, &err) < 0)
		return -EIO;
	status = resp.status;
	if (ret_rev && status == 200 &&
	    (doc = json_loadb(resp.body, resp.body_len, 0, NULL)))
		*ret_rev = (unsigned long long)json_integer_value(
		    json_object_get(doc, "revision"));
	client_response_clear(&resp);
	return status;
}

/* The period of --mode resync: agent/agent-run.h AGENT_RUN_RESYNC_S. */
#define FLEET_AGENT_RESYNC_S	10

/* Whether agent-idle plays the agent of 8101d5f (a pass a second). */
static bool
agent_idle_second(const struct fleet_opts *o)
{
	return o->mode && strcmp(o->mode, "second") == 0;
}

/* Node I's idle pass on CC; the watch's poll lasts until UNTIL
 * (monotonic s). Returns 0 or -EPROTO when a request failed. */
static int
agent_pass(struct client_conn *cc, struct sim_thread *t, long i, double until)
{
	bool			 second = agent_idle_second(t->o);
	unsigned long long	 rev = 0;
	char			 path[128];
	long			 ms;
	int			 ok = 1;

	snprintf(path, sizeof(path), "/v1/instances?limit=%d",
	    FLEET_AGENT_LIST_PAGE);
	ok &= agent_request(cc, t, "GET", path, NULL, &rev) == 200;
	ok &= agent_request(cc, t, "GET", "/v1/volumesnapshots?limit=1000",
	    NULL, NULL) == 200;
	if (!getenv("FLEET_SIM_NO_LOG_PUSH")) {
		snprintf(path, sizeof(path), "/v1/logs/nodes/n%ld", i);
		/* the administrator is refused: 403 is the answer */
		ok &= agent_request(cc, t, "POST", path, "{\"logs\":[]}",
		    NULL) == 403;
	}
	ms = (long)((until - bw_mono_s()) * 1e3);
	if (ms < 1)
		ms = 1;
	if (ms > (second ? 1000 : FLEET_AGENT_RESYNC_S * 1000))
		ms = second ? 1000 : FLEET_AGENT_RESYNC_S * 1000;
	snprintf(path, sizeof(path), "/v1/watch?%ssince=%llu&poll=%ld",
	    second ? "kind=Instance&" : "", rev, ms);
	ok &= agent_request(cc, t, "GET", path, NULL, NULL) == 200;
	return ok ? 0 : -EPROTO;
}

/* Node I's idle pass, due at DUE: its watch's poll lasts until this
 * thread's next node is due (about T/N s later). */
static void
agent_idle_visit(struct client_conn *cc, struct sim_thread *t, long i,
    double due)
{
	if (agent_pass(cc, t, i, due + t->period * (double)t->o->threads /
	    (double)t->o->nodes) < 0)
		t->counts.errors++;
	t->counts.passes++;
}

/* Node i's pass due at t0 + (round + i / nodes) x period (1 s with
 * --mode second, else FLEET_AGENT_RESYNC_S). */
static int
cmd_agent_idle(const struct client_conf *conf, const struct fleet_opts *o)
{
	struct fleet_counts	 c;
	double			 secs;

	if (fleet_run(conf, o, agent_idle_second(o) ? 1 : FLEET_AGENT_RESYNC_S,
	    agent_idle_visit, &c, &secs) < 0)
		return 1;
	/* errors: passes with a request that failed or had another answer */
	printf("{\"nodes\":%ld,\"seconds\":%.1f,\"passes\":%ld,"
	    "\"passes_per_s\":%.1f,\"requests\":%ld,\"requests_per_s\":%.1f,"
	    "\"errors\":%ld,\"max_lag_s\":%.3f}\n", o->nodes, secs, c.passes,
	    secs > 0 ? (double)c.passes / secs : 0, c.requests,
	    secs > 0 ? (double)c.requests / secs : 0, c.errors, c.max_lag);
	return c.errors ? 1 : 0;
}

/* ---- rollout ---- */

struct rollout {
	const struct fleet_opts	*o;
	char			 prefix[32];	/* workload names: PREFIX-J */
	long			 per;		/* replicas per workload, at most */
	unsigned char		*state;		/* per instance: 1 bound, 2 gone */
	long			 bound, gone;
	int			 deleting;
	double			 t_last, deadline;
};

/* The instance's slot from its name PREFIX-J-K, or -ENOENT. */
static long
instance_slot(const struct rollout *ro, const char *name)
{
	size_t	len = strlen(ro->prefix);
	long	j, k;
	char	tail;

	if (!name || strncmp(name, ro->prefix, len) != 0 || name[len] != '-' ||
	    sscanf(name + len + 1, "%ld-%ld%c", &j, &k, &tail) != 2 ||
	    j < 0 || j >= ro->o->workloads || k < 0 || k >= ro->per)
		return -ENOENT;
	return j * ro->per + k;
}

static int
watch_line(void *arg, const char *line, size_t len)
{
	struct rollout		*ro = arg;
	_cleanup_json_ json_t	*ev = json_loadb(line, len, 0, NULL);
	const char		*type = json_str_at(ev, "type", NULL);
	long			 slot;

	if (bw_mono_s() > ro->deadline)
		return 1;
	if (!type || (strcmp(type, "PUT") && strcmp(type, "DELETE")))
		return type && strcmp(type, "ERROR") == 0;
	if ((slot = instance_slot(ro, json_str_at(ev, "name", NULL))) < 0)
		return 0;
	if (!ro->deleting && strcmp(type, "PUT") == 0 && ro->state[slot] == 0 &&
	    json_str_at(json_object_get(ev, "object"), "spec", "node")) {
		ro->state[slot] = 1;
		ro->t_last = bw_mono_s();
		return ++ro->bound == ro->o->instances;
	}
	if (ro->deleting && strcmp(type, "DELETE") == 0 && ro->state[slot] != 2) {
		ro->state[slot] = 2;
		return ++ro->gone == ro->o->instances;
	}
	return 0;
}

/* Sends METHOD PATH with BODY (may be NULL) and returns the HTTP status,
 * or -EIO; *ret_rev gets the answer's metadata.revision when asked. */
static int
request(struct client_conn *cc, const char *method, const char *path,
    const char *body, long long *ret_rev)
{
	struct client_response	 resp = { 0 };
	_cleanup_free_ char	*err = NULL;
	_cleanup_json_ json_t	*doc = NULL;
	int			 status;

	if (client_conn_request(cc, method, path, body, &resp, &err) < 0) {
		fprintf(stderr, "fleet-sim: %s %s: %s\n", method, path, err);
		return -EIO;
	}
	status = resp.status;
	if (status / 100 != 2)
		fprintf(stderr, "fleet-sim: %s %s: %d %s\n", method, path,
		    status, resp.body);
	if (ret_rev && (doc = json_loadb(resp.body, resp.body_len, 0, NULL)))
		*ret_rev = json_integer_value(json_object_get(json_object_get(
		    doc, "metadata"), "revision"));
	client_response_clear(&resp);
	return status;
}

/* The Workload J of the rollout, as JSON text (caller frees). */
static char *
workload_body(const struct rollout *ro, long j, long replicas)
{
	_cleanup_json_ json_t	*doc = NULL;
	json_t			*spec;
	char			 name[64];

	snprintf(name, sizeof(name), "%s-%ld", ro->prefix, j);
	doc = json_pack("{s:s, s:{s:s, s:s}, s:{s:s, s:s, s:I, s:{s:i, s:i}}}",
	    "kind", "Workload", "metadata", "name", name, "tenant",
	    ro->o->tenant, "spec", "type", "container", "image", "sha256:"
	    "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
	    "replicas", (json_int_t)replicas, "resources", "cpu_millis", 100,
	    "memory_mib", 64);
	spec = json_object_get(doc, "spec");
	if (strcmp(ro->o->mode, "anti") == 0)
		json_object_set_new(spec, "anti_affinity", json_pack("[{s:s}]",
		    "topology_key", "node"));
	else if (strcmp(ro->o->mode, "spread") == 0)
		json_object_set_new(spec, "spread", json_pack("[{s:s, s:i}]",
		    "topology_key", "zone", "max_skew", 1));
	return doc ? json_dumps(doc, JSON_COMPACT) : NULL;
}

/* The tenant and a quota that holds the rollout; *ret_rev the store's
 * revision after them. */
static int
rollout_tenant(struct client_conn *cc, const struct fleet_opts *o,
    long long *ret_rev)
{
	_cleanup_free_ char	*tbody = NULL, *qbody = NULL;
	char			 path[160];

	if (asprintf(&tbody, "{\"kind\":\"Tenant\",\"metadata\":{\"name\":"
	    "\"%s\"}}", o->tenant) < 0 || asprintf(&qbody, "{\"kind\":\"Quota\","
	    "\"metadata\":{\"name\":\"default\",\"tenant\":\"%s\"},\"spec\":"
	    "{\"cpu_millis\":100000000,\"memory_mib\":1000000000,\"instances\":"
	    "100000,\"workloads\":100000}}", o->tenant) < 0)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/v1/tenants/%s", o->tenant);
	if (request(cc, "PUT", path, tbody, NULL) / 100 != 2)
		return -EPROTO;
	snprintf(path, sizeof(path), "/v1/tenants/%s/quotas/default", o->tenant);
	return request(cc, "PUT", path, qbody, ret_rev) / 100 == 2 ? 0 : -EPROTO;
}

/* PUTs (or DELETEs) every workload of the rollout. */
static int
rollout_apply(struct client_conn *cc, struct rollout *ro, int del)
{
	const struct fleet_opts	*o = ro->o;

	for (long j = 0; j < o->workloads; j++) {
		long			 n = o->instances / o->workloads +
		    (j < o->instances % o->workloads);
		_cleanup_free_ char	*body = del ? NULL : workload_body(ro, j, n);
		char			 path[160];

		snprintf(path, sizeof(path), "/v1/tenants/%s/workloads/%s-%ld",
		    o->tenant, ro->prefix, j);
		if ((!del && !body) || request(cc, del ? "DELETE" : "PUT", path,
		    body, NULL) / 100 != 2)
			return -EPROTO;
	}
	return 0;
}

/* Follows the watch from SINCE until the callback has seen them all. */
static int
rollout_follow(const struct client_conf *conf, struct rollout *ro,
    long long since)
{
	_cleanup_free_ char	*err = NULL;
	char			 path[96];
	int			 status = 0;

	snprintf(path, sizeof(path), "/v1/watch?kind=Instance&since=%lld", since);
	if (client_stream(conf, path, watch_line, ro, &status, &err) < 0 ||
	    status != 200) {
		fprintf(stderr, "fleet-sim: watch: %d %s\n", status, err ? err : "");
		return -EPROTO;
	}
	return 0;
}

struct follower {
	const struct client_conf	*conf;
	struct rollout			*ro;
	long long			 since;
	int				 r;
};

static void *
follow_run(void *arg)
{
	struct follower *f = arg;

	f->r = rollout_follow(f->conf, f->ro, f->since);
	return NULL;
}

/* Applies (or deletes) the rollout while a watch from SINCE follows it.
 * *ret_applied: seconds the requests took. */
static int
rollout_phase(const struct client_conf *conf, struct client_conn *cc,
    struct rollout *ro, int del, long long since, double *ret_applied)
{
	struct follower	 f = { conf, ro, since, 0 };
	pthread_t	 tid;
	double		 t0 = bw_mono_s();
	int		 r;

	ro->deleting = del;
	ro->deadline = t0 + ro->o->timeout;
	if (pthread_create(&tid, NULL, follow_run, &f) != 0)
		return -EAGAIN;
	r = rollout_apply(cc, ro, del);
	*ret_applied = bw_mono_s() - t0;
	pthread_join(tid, NULL);
	return r < 0 || f.r < 0 ? -EPROTO : 0;
}

static int
cmd_rollout(const struct client_conf *conf, const struct fleet_opts *o)
{
	struct rollout		 ro = { .o = o };
	struct client_conn	*cc = NULL;
	long long		 rev = 0;
	double			 t0, applied, secs, del_applied;
	int			 ok;

	ro.per = (o->instances + o->workloads - 1) / o->workloads;
	snprintf(ro.prefix, sizeof(ro.prefix), "f%s", o->mode);
	if (o->workloads < 1 || o->instances < o->workloads ||
	    ro.per > 1000 || !(ro.state = calloc((size_t)(ro.per * o->workloads), 1)) ||
	    open_conn(conf, &cc) < 0 || rollout_tenant(cc, o, &rev) < 0)
		return 1;
	t0 = bw_mono_s();
	ok = rollout_phase(conf, cc, &ro, 0, rev, &applied) == 0 &&
	    ro.bound == o->instances;
	secs = ro.t_last - t0;
	printf("{\"mode\":\"%s\",\"workloads\":%ld,\"instances\":%ld,\"bound\":%ld,"
	    "\"apply_s\":%.3f,\"seconds\":%.3f,\"placements_per_s\":%.1f}\n",
	    o->mode, o->workloads, o->instances, ro.bound, applied, secs,
	    ok && secs > 0 ? (double)ro.bound / secs : 0.0);
	fflush(stdout);
	if (getenv("FLEET_SIM_HOLD"))	/* the caller measures, then signals */
		while (!stop)
			pause();
	if (o->keep)
		goto out;
	t0 = bw_mono_s();
	if (rollout_phase(conf, cc, &ro, 1, rev, &del_applied) < 0 ||
	    ro.gone != o->instances)
		ok = 0;
	fprintf(stderr, "fleet-sim: %s: %ld instances deleted in %.1f s\n",
	    o->mode, ro.gone, bw_mono_s() - t0);
out:
	client_conn_close(cc);
	free(ro.state);
	return ok ? 0 : 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: fleet-sim seed DATA_DIR FIRST COUNT\n"
	    "       fleet-sim write --config C --nodes N --count C\n"
	    "       fleet-sim heartbeat --config C --nodes N [--period S] "
	    "[--threads T] [--seconds S]\n"
	    "       fleet-sim agent-idle --config C --nodes N [--threads T] "
	    "[--seconds S] [--mode resync|second]\n"
	    "       fleet-sim rollout --config C --mode basic|anti|spread "
	    "--workloads W --instances I [--tenant T] [--timeout S] [--keep]\n");
}

static const struct option fleet_longopts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "nodes", required_argument, NULL, 'n' },
	{ "count", required_argument, NULL, 'C' },
	{ "period", required_argument, NULL, 'p' },
	{ "keep", no_argument, NULL, 'k' },
	{ "threads", required_argument, NULL, 't' },
	{ "seconds", required_argument, NULL, 's' },
	{ "mode", required_argument, NULL, 'm' },
	{ "tenant", required_argument, NULL, 'T' },
	{ "workloads", required_argument, NULL, 'w' },
	{ "help", no_argument, NULL, 'h' },
	{ "instances", required_argument, NULL, 'i' },
	{ "timeout", required_argument, NULL, 'o' },
	{ NULL, 0, NULL, 0 },
};

int
main(int argc, char **argv)
{
	struct fleet_opts	 o = { .tenant = "fleet",
	    .nodes = 100, .count = 100, .period = 10, .threads = 16,
	    .workloads = 50, .instances = 10000, .timeout = 1800 };
	struct client_conf	 conf = { 0 };
	const char		*cmd = argc > 1 ? argv[1] : "";
	char			*err = NULL;
	int			 c, r;

	signal(SIGPIPE, SIG_IGN);
	if (strcmp(cmd, "seed") == 0 && argc == 5)
		return cmd_seed(argv[2], atol(argv[3]), atol(argv[4]));
	optind = 2;
	while ((c = getopt_long(argc, argv, "", fleet_longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o.config = optarg; break;
		case 'n': o.nodes = atol(optarg); break;
		case 'C': o.count = atol(optarg); break;
		case 'p': o.period = atof(optarg); break;
		case 't': o.threads = atoi(optarg); break;
		case 's': o.seconds = atof(optarg); break;
		case 'm': o.mode = optarg; break;
		case 'T': o.tenant = optarg; break;
		case 'w': o.workloads = atol(optarg); break;
		case 'i': o.instances = atol(optarg); break;
		case 'o': o.timeout = atof(optarg); break;
		case 'k': o.keep = 1; break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (strcmp(cmd, "rollout") == 0 && !o.mode)
		o.mode = "basic";
	if (strcmp(cmd, "agent-idle") == 0 && o.mode &&
	    strcmp(o.mode, "resync") && strcmp(o.mode, "second")) {
		fprintf(stderr, "fleet-sim: agent-idle: --mode resync or "
		    "second\n");
		return 2;
	}
	if (strcmp(cmd, "agent-idle") == 0 && (o.threads < 1 ||
	    o.threads > FLEET_AGENT_THREADS_MAX)) {
		fprintf(stderr, "fleet-sim: agent-idle: --threads must be 1..%d "
		    "(the per-principal watch bound)\n", FLEET_AGENT_THREADS_MAX);
		return 2;
	}
	if (!o.config || o.nodes < 1 || o.threads < 1 || o.threads > 256 ||
	    o.period <= 0 || (strcmp(cmd, "write") && strcmp(cmd, "heartbeat") &&
	    strcmp(cmd, "agent-idle") && strcmp(cmd, "rollout"))) {
		usage();
		return 2;
	}
	/* a thread serves nodes idx, idx + threads, ...: one without a
	 * node would spin in an empty round */
	if (o.threads > o.nodes)
		o.threads = (int)o.nodes;
	if (client_conf_load(o.config, &conf, &err) < 0) {
		fprintf(stderr, "fleet-sim: %s\n", err);
		return 2;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	if (strcmp(cmd, "write") == 0)
		r = cmd_write(&conf, &o);
	else if (strcmp(cmd, "heartbeat") == 0)
		r = cmd_heartbeat(&conf, &o);
	else if (strcmp(cmd, "agent-idle") == 0)
		r = cmd_agent_idle(&conf, &o);
	else
		r = cmd_rollout(&conf, &o);
	client_conf_clear(&conf);
	return r;
}
