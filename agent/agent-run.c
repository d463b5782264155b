/* bulwark-agent's workload loop; see agent-run.h and docs/workloads.md.
 *
 * The agent's own records live in STATE_DIR/workloads/ID.json: the
 * tenant, name and network of each instance it started, written before
 * anything is created, so an instance the API no longer has can still be
 * detached from its network after an agent restart. The runtime id of an
 * instance is its metadata.uid: unique on the node, and a new object of
 * the same name (deleted and created again) is a new instance. */
#include "config.h"

#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/agent-run.h"
#include "agent/cni.h"
#include "agent/logs-push.h"
#include "agent/probe.h"
#include "agent/service.h"
#include "agent/runtime.h"
#include "agent/volume.h"
#include "client/client.h"
#include "image/image.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/logcap.h"
#include "lib/macro.h"
#include "lib/netpool.h"

#define AR_LOG_TAIL_MAX		(16 * 1024)
#define AR_LOG_PUT_S		5	/* a changed log tail is sent at most this often */
#define AR_STABLE_S		60	/* a run this long resets the back-off */
#define AR_FULL_LIST_S		10	/* crun list at most this often */
#define AR_LIST_RETRY_S		AGENT_RUN_RESYNC_S /* a stale list after a failed one */
/* The instance list is read in pages: 32 instances with 16 KiB log
 * tails take about 0.5 MiB, half of what one answer may be
 * (AGENT_RESPONSE_MAX); the server also ends a page at 512 KiB.
 * bench/fleet/fleet-sim.c (agent-idle) copies this size and the paths
 * of an idle pass: change them there with these (fleet-sim-agent.sh
 * compares the actions in the trail, not the size). */
#define AR_LIST_PAGE		32
#define AR_LIST_PAGES_MAX	4096
#define AR_CONTINUE_MAX		1024	/* hex of a store key */
#define AR_RECORD_MAX		(16 * 1024)
#define AR_EVENT_MAX		256
#define AR_NAME_MAX		63
#define AR_EXIT_TEXT_MAX	208
/* A volume the API no longer has is deleted from the node when two
 * looks at least this far apart both miss it: a Volume re-applied
 * without its node is bound back by the controller meanwhile. */
#define AR_VOLUME_GC_S		10
#define AR_VOLUME_GONE_MAX	64
/* how often the volume GC logs, per volume, that it cannot check one */
#define AR_VOLUME_WARN_S	300
/* how often an instance's removal logs that its record is kept for an
 * operator (the removal is retried every pass) */
#define AR_RECORD_WARN_S	300
#define AR_RECORD_WARN_MAX	64
/* the revisions of this agent's own status writes that a watch may
 * still bring back (a pass's reports, a few passes' worth) */
#define AR_OWN_REVS		64

/* The last time (bw_mono_s()) something was said about KEY. */
struct ar_said {
	char	 key[65];
	double	 at;
};

/* One probe of an instance and its consecutive failures. */
struct ar_probe {
	struct probe_spec	spec;
	struct probe_run	run;
	double			next_at;	/* monotonic: next run */
	unsigned		fails;
	bool			on;
};

struct ar_inst {
	struct ar_inst	*next;
	char		 id[RUNTIME_ID_MAX + 1];
	char		 tenant[AR_NAME_MAX + 1], name[AR_NAME_MAX + 1];
	char		 phase[16];
	char		 event[AR_EVENT_MAX];
	char		 vol_event[128];	/* what its start did to its volume */
	char		 message[512];
	char		 started[40];	/* RFC 3339 of the current run */
	double		 start_s;	/* how long its start took */
	char		 address[64];
	time_t		 started_at;
	time_t		 next_try;	/* back-off: no (re)start before */
	time_t		 log_put;
	unsigned	 restarts;
	unsigned	 streak;	/* consecutive short runs */
	int		 exit_code, signal;
	bool		 oom, exited;
	bool		 exit_handled;	/* the current exit was decided on */
	bool		 final;		/* ended for good (policy) */
	bool		 gone;		/* its status write was refused as for
					 * an instance not bound here (403,
					 * 404): not started again */
	bool		 seen;
	struct ar_probe	 live, ready_probe;
	bool		 ready;		/* the readiness probe's verdict */
	char		 killed_by[200];	/* the liveness probe that stopped it */
	/* spec.service of its workload, and its tenant's subnet */
	char		 svc_vip[SVC_ADDR_MAX], subnet[32];
	unsigned	 svc_port, svc_target;
	/* CPU usage (autoscaled workloads): the last sample of the
	 * cgroup's counter and the percent of the request since the one
	 * before */
	unsigned	 cpu_millis;	/* the request; 0: one CPU */
	uint64_t	 cpu_usec;
	double		 cpu_at;	/* monotonic s of cpu_usec; 0: none */
	long		 cpu_pct;
	bool		 cpu_valid;
};

/* An instance being stopped in this pass: its stop request is sent
 * when it is added, its exit waited for and the kill done at the end
 * (stops_finish), so the grace periods of all overlap. */
struct ar_stop {
	char		 id[RUNTIME_ID_MAX + 1];
	int64_t		 deadline;	/* bw_mono_ms() */
	bool		 signalled;	/* it ran and got the request */
	bool		 remove;	/* then inst_remove()d */
	bool		 volume;	/* it holds a volume (its record says) */
	bool		 done;
};

struct agent_run {
	struct agent_run_config	 c;
	char			*node, *state_dir, *rec_dir, *subnets_path;
	char			*rt_dir, *cni_dir;
	char			*vm_kernel, *vm_initrd, *vm_cmdline;
	struct runtime		*rt;
	struct image_store	*images;
	struct cni_config	 cni;
	struct ar_inst		*insts;
	struct ar_stop		*stops;		/* this pass's, nstops of them */
	size_t			 nstops, stops_cap;
	agent_run_http_fn	 http;
	void			*ctx;
	int			 changes;
	char			 node_event[AR_EVENT_MAX];
	unsigned long long	 list_rev;	/* of the last instance list */
	bool			 list_due;	/* the kept list is stale (report()) */
	double			 list_failed_s;	/* when a list last failed (mono) */
	/* the last full list, its items' status kept as this agent last
	 * wrote it: the local passes between two lists reconcile these */
	json_t			*items;
	/* workloads' restart policies and autoscale flags, until a
	 * Workload change or the resync (policy_of(), autoscaled()) */
	json_t			*wl_cache;
	/* revisions the server gave this agent's status writes: such a
	 * change coming back on the watch needs no list */
	unsigned long long	 own_revs[AR_OWN_REVS];
	unsigned		 own_next;
	char			*svc_text;	/* the service rules applied */
	struct logs_push	*logs;		/* the logs readers ask for */
	time_t			 next_full_list;
	double			 next_volume_gc;	/* bw_mono_s() */
	/* volumes the API did not have at the last look, and since when
	 * (bw_mono_s(): a step of the wall clock must not make a volume
	 * seen missing once due for deletion) */
	struct {
		char	 uid[65];
		double	 since;
	}			 gone[AR_VOLUME_GONE_MAX];
	/* volumes the GC could not check, and when it last said so */
	struct ar_said		 gc_warned[AR_VOLUME_GONE_MAX];
	/* instances whose unreadable record a removal kept */
	struct ar_said		 rec_warned[AR_RECORD_WARN_MAX];
};

/* ---- small helpers ---- */

/* Whether to say something about KEY now: at most once per PERIOD
 * seconds for each key of TAB (N slots); a new key takes the slot said
 * least lately (free ones first), and is due at once. */
static bool
said_due(struct ar_said *tab, size_t n, const char *key, double period)
{
	double	now = bw_mono_s();
	size_t	i, slot = 0;

	for (i = 0; i < n; i++) {
		if (strcmp(tab[i].key, key) == 0) {
			slot = i;
			break;
		}
		if (tab[i].at < tab[slot].at)
			slot = i;
	}
	if (i == n) {
		snprintf(tab[slot].key, sizeof(tab[slot].key), "%s", key);
		/* due at once (the monotonic clock may be young) */
		tab[slot].at = now - period;
	}
	if (now - tab[slot].at < period)
		return false;
	tab[slot].at = now;
	return true;
}

static bool
is_label(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > AR_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-'))
			return false;
	return true;
}

static const char *
sig_name(int sig)
{
	switch (sig) {
	case SIGKILL: return "KILL";
	case SIGTERM: return "TERM";
	case SIGSEGV: return "SEGV";
	case SIGABRT: return "ABRT";
	case SIGINT: return "INT";
	case SIGHUP: return "HUP";
	case SIGBUS: return "BUS";
	case SIGSYS: return "SYS";
	default: return "?";
	}
}

/* How a run ended, for last_event: "exit 3", "signal 9 (KILL)", "OOM kill". */
static void
exit_text(const struct ar_inst *e, char *buf, size_t len)
{
	if (e->killed_by[0])
		snprintf(buf, len, "%s", e->killed_by);
	else if (e->oom)
		snprintf(buf, len, "OOM kill (memory limit)");
	else if (e->signal)
		snprintf(buf, len, "signal %d (%s)", e->signal, sig_name(e->signal));
	else
		snprintf(buf, len, "exit %d", e->exit_code);
}

/* ---- API access ---- */

static int
api(struct agent_run *ar, const char *method, const char *path, json_t *body,
    int *ret_status, json_t **ret_doc, char **ret_err)
{
	_cleanup_free_ char	*text = NULL, *reply = NULL;
	json_t			*doc = NULL;
	int			 status, r;

	if (body && !(text = json_dumps(body, JSON_COMPACT)))
		return -ENOMEM;
	if ((r = ar->http(ar->ctx, method, path, text, &status, &reply,
	    ret_err)) < 0)
		return r;
	if (ret_doc) {
		if (json_parse_bounded(reply, strlen(reply), BW_JSON_MAX_DEPTH,
		    &doc, NULL) < 0 || !json_is_object(doc)) {
			json_decref(doc);
			return errf(-BW_E_INVALID, ret_err, "%s %s: HTTP %d, not a "
			    "JSON object", method, path, status);
		}
		*ret_doc = doc;
	}
	*ret_status = status;
	return 0;
}

/* GETs PATH; *RET_DOC on 200, -BW_E_NOTFOUND on 404. */
static int
api_get(struct agent_run *ar, const char *path, json_t **ret_doc,
    char **ret_err)
{
	json_t	*doc = NULL;
	int	 status, r;

	if ((r = api(ar, "GET", path, NULL, &status, &doc, ret_err)) < 0)
		return r;
	if (status == 200) {
		*ret_doc = doc;
		return 0;
	}
	r = status == 404 ? -BW_E_NOTFOUND : -BW_E_UNAVAILABLE;
	errf(r, ret_err, "GET %s: HTTP %d: %s", path, status,
	    client_error_message(doc, "(no message)"));
	json_decref(doc);
	return r;
}

/* ---- the agent's records ---- */

static int
rec_path(struct agent_run *ar, const char *id, char *buf, size_t len)
{
	return (size_t)snprintf(buf, len, "%s/%s.json", ar->rec_dir, id) >= len ?
	    -ENAMETOOLONG : 0;
}

static int
rec_write(struct agent_run *ar, const char *id, json_t *rec)
{
	_cleanup_free_ char	*s = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	char			 p[PATH_MAX];
	int			 r;

	if (!s)
		return -ENOMEM;
	if ((r = rec_path(ar, id, p, sizeof(p))) < 0)
		return r;
	return write_file_atomic_at(AT_FDCWD, p, s, strlen(s), 0600);
}

int
agent_run_record_parse(const char *text, size_t len, json_t **ret)
{
	json_t *o = NULL;

	*ret = NULL;
	if (json_parse_bounded(text, len, AR_RECORD_DEPTH, &o, NULL) < 0 ||
	    !json_is_object(o)) {
		json_decref(o);
		return -BW_E_CORRUPT;
	}
	*ret = o;
	return 0;
}

/* The record of ID into *RET (NULL on error): 0, -ENOENT when there is
 * none, -BW_E_CORRUPT when it is not a JSON object, -BW_E_INVALID when
 * it is not a regular file (read_regular_at(): a FIFO put there blocks
 * no pass), or another negative error when it cannot be read. An
 * unreadable record may hold anything (a volume, a network
 * attachment): a caller that must know fails closed on it. */
static int
rec_read(struct agent_run *ar, const char *id, json_t **ret)
{
	_cleanup_free_ char	*text = NULL;
	char			 p[PATH_MAX];
	size_t			 len;
	int			 r;

	*ret = NULL;
	if ((r = rec_path(ar, id, p, sizeof(p))) < 0 ||
	    (r = read_regular_at(AT_FDCWD, p, AR_RECORD_MAX, 0, &text,
	    &len)) < 0)
		return r;
	return agent_run_record_parse(text, len, ret);
}

/* The record of ID, or NULL when there is none or it cannot be read
 * (logged): for callers to whom such a record is no record. */
static json_t *
rec_get(struct agent_run *ar, const char *id)
{
	json_t	*o;
	int	 r;

	if ((r = rec_read(ar, id, &o)) < 0 && r != -ENOENT)
		log_warn("instance %s: its record: %s", id, bw_strerror(r));
	return o;
}

static bool
rec_exists(struct agent_run *ar, const char *id)
{
	char p[PATH_MAX];

	return rec_path(ar, id, p, sizeof(p)) == 0 && access(p, F_OK) == 0;
}

static void
rec_remove(struct agent_run *ar, const char *id)
{
	char p[PATH_MAX];

	if (rec_path(ar, id, p, sizeof(p)) == 0 && unlink(p) < 0 &&
	    errno != ENOENT)
		log_warn("cannot remove %s: %m", p);
}

/* Ids with a record, NULL-terminated (free with runtime_list_free). */
static int
rec_list(struct agent_run *ar, char ***ret)
{
	DIR		*d = opendir(ar->rec_dir);
	struct dirent	*de;
	char		**v = NULL;
	size_t		 n = 0;

	if (!d)
		return -errno;
	/* readdir() tells its end from an error only by errno */
	while ((errno = 0, de = readdir(d))) {
		size_t	 l = strlen(de->d_name);
		char	**nv;

		if (l <= 5 || strcmp(de->d_name + l - 5, ".json") != 0 ||
		    l - 5 > RUNTIME_ID_MAX)
			continue;
		if (!(nv = realloc(v, (n + 2) * sizeof(*v))))
			goto nomem;
		v = nv;
		if (!(v[n] = strndup(de->d_name, l - 5)))
			goto nomem;
		v[++n] = NULL;
	}
	if (errno) {
		int e = -errno;

		closedir(d);
		runtime_list_free(v);
		return e;
	}
	closedir(d);
	if (!v && !(v = calloc(1, sizeof(*v))))
		return -ENOMEM;
	*ret = v;
	return 0;
nomem:
	closedir(d);
	runtime_list_free(v);
	return -ENOMEM;
}

/* Whether TENANT's bridge on this node is in use by an instance other
 * than EXCEPT_ID (from the instances' records): 1 with the subnet it
 * uses in *RET_SUBNET (caller frees), 0, or a negative error when the
 * records cannot be listed or one cannot be read and none names the
 * tenant (logged; *RET_SUBNET NULL). An unreadable record may be the
 * tenant's: a caller about to delete the bridge keeps it then. */
static int
tenant_subnet_in_use(struct agent_run *ar, const char *tenant,
    const char *except_id, char **ret_subnet)
{
	char	**ids = NULL, *found = NULL;
	size_t	  i;
	int	  r, bad = 0;

	*ret_subnet = NULL;
	if ((r = rec_list(ar, &ids)) < 0) {
		log_warn("workloads: %s: %s", ar->rec_dir, bw_strerror(r));
		return r;
	}
	for (i = 0; ids[i] && !found; i++) {
		_cleanup_json_ json_t	*rec = NULL;
		const char		*nt, *sn;

		if (except_id && strcmp(ids[i], except_id) == 0)
			continue;
		if ((r = rec_read(ar, ids[i], &rec)) == -ENOENT)
			continue;
		if (r < 0) {
			log_warn("instance %s: its record: %s", ids[i],
			    bw_strerror(r));
			bad = r;
			continue;
		}
		nt = json_str_at(rec, "net_tenant", NULL);
		sn = json_str_at(rec, "subnet", NULL);
		if (nt && sn && strcmp(nt, tenant) == 0 &&
		    !(found = strdup(sn)))
			bad = -ENOMEM;
	}
	runtime_list_free(ids);
	if (found) {
		*ret_subnet = found;
		return 1;
	}
	return bad;
}

/* Whether the record of an instance other than EXCEPT_ID holds volume
 * UID (attached by it and not detached yet): 1 with its id in BUF, 0,
 * or a negative error when the records cannot be listed (BUF empty) or
 * one of them exists but cannot be read (BUF its id): such a record may
 * hold it, so every volume waits until an operator has looked at it
 * (see inst_remove()). */
static int
volume_held_by(struct agent_run *ar, const char *uid, const char *except_id,
    char *buf, size_t len)
{
	char	**ids = NULL;
	size_t	  i;
	int	  r;

	buf[0] = '\0';
	if ((r = rec_list(ar, &ids)) < 0)
		return r;
	for (i = 0, r = 0; ids[i] && r == 0; i++) {
		_cleanup_json_ json_t	*rec = NULL;
		const char		*vu;
		int			 rr;

		if (strcmp(ids[i], except_id) == 0 ||
		    (rr = rec_read(ar, ids[i], &rec)) == -ENOENT)
			continue;
		vu = json_str_at(rec, "volume_uid", NULL);
		if (rr < 0 || (vu && strcmp(vu, uid) == 0)) {
			snprintf(buf, len, "%s", ids[i]);
			r = rr < 0 ? rr : 1;
		}
	}
	runtime_list_free(ids);
	return r;
}

/* A per-tenant default subnet 10.X.N.0/24 from the agent's allocation
 * table (kept across restarts so a tenant keeps its addresses' range). */
static int
default_subnet(struct agent_run *ar, const char *tenant, char *buf, size_t len,
    char **ret_err)
{
	_cleanup_free_ char	*text = NULL, *s = NULL;
	_cleanup_json_ json_t	*map = NULL;
	const char		*k;
	json_t			*v;
	bool			 used[256] = { false };
	size_t			 tlen;
	unsigned		 n, x = ar->c.default_net ? ar->c.default_net : BW_NETPOOL_OCTET;
	int			 r;

	if (read_file_at(AT_FDCWD, ar->subnets_path, 1 << 20, &text, &tlen) < 0 ||
	    json_parse_bounded(text, tlen, 4, &map, NULL) < 0 ||
	    !json_is_object(map)) {
		json_decref(map);
		if (!(map = json_object()))
			return -ENOMEM;
	}
	if ((k = json_string_value(json_object_get(map, tenant)))) {
		snprintf(buf, len, "%s", k);
		return 0;
	}
	json_object_foreach(map, k, v) {
		unsigned a, b, c, d;

		if (json_string_value(v) && sscanf(json_string_value(v),
		    "%u.%u.%u.%u/", &a, &b, &c, &d) == 4 && c < 256)
			used[c] = true;
	}
	for (n = 1; n < 255 && used[n]; n++)
		;
	if (n == 255)
		return errf(-BW_E_QUOTA, ret_err, "no free default tenant subnet "
		    "left in 10.%u.0.0/16", x);
	snprintf(buf, len, "10.%u.%u.0/24", x, n);
	json_object_set_new(map, tenant, json_string(buf));
	if (!(s = json_dumps(map, JSON_INDENT(1) | JSON_SORT_KEYS)))
		return -ENOMEM;
	if ((r = write_file_atomic_at(AT_FDCWD, ar->subnets_path, s, strlen(s),
	    0600)) < 0)
		return errf(r, ret_err, "%s: %s", ar->subnets_path, bw_strerror(r));
	return 0;
}

/* ---- in-memory instances ---- */

static struct ar_inst *
inst_find(struct agent_run *ar, const char *id)
{
	struct ar_inst *e;

	for (e = ar->insts; e; e = e->next)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

/* Frees E and ends its probe runs. */
static void
inst_free(struct ar_inst *e)
{
	probe_cancel(&e->live.run);
	probe_cancel(&e->ready_probe.run);
	free(e);
}

static void
inst_drop(struct agent_run *ar, const char *id)
{
	struct ar_inst **pp, *e;

	for (pp = &ar->insts; (e = *pp); pp = &e->next)
		if (strcmp(e->id, id) == 0) {
			*pp = e->next;
			inst_free(e);
			return;
		}
}

unsigned long long
agent_run_revision(const struct agent_run *ar)
{
	return ar->list_rev;
}

int
agent_run_logs(struct agent_run *ar, agent_run_http_fn http, void *ctx,
    unsigned *ret_period_ms, char **ret_err)
{
	int r = logs_push_exchange(ar->logs, ar->rt, ar->node, http, ctx,
	    ret_err);

	*ret_period_ms = logs_push_period_ms(ar->logs);
	return r;
}

static bool
own_rev(const struct agent_run *ar, unsigned long long rev)
{
	for (size_t i = 0; i < AR_OWN_REVS; i++)
		if (ar->own_revs[i] == rev)
			return true;
	return false;
}

/* Drops the cached restart policy and autoscale flag of workload NAME
 * of TENANT (policy_of(), autoscaled()). */
static void
wl_cache_drop(struct agent_run *ar, const char *tenant, const char *name)
{
	char key[160];

	if (!ar->wl_cache || !tenant || !name)
		return;
	snprintf(key, sizeof(key), "%s/%s", tenant, name);
	json_object_del(ar->wl_cache, key);
	snprintf(key, sizeof(key), "autoscale %s/%s", tenant, name);
	json_object_del(ar->wl_cache, key);
}

unsigned
agent_run_watched(struct agent_run *ar, const char *body, size_t len)
{
	unsigned	 what = 0;
	const char	*p = body, *end = body + len, *nl;

	while (p < end) {
		_cleanup_json_ json_t	*line = NULL;
		const char		*type, *kind;
		json_int_t		 rev;

		nl = memchr(p, '\n', (size_t)(end - p));
		line = json_loadb(p, (size_t)((nl ? nl : end) - p), 0, NULL);
		p = nl ? nl + 1 : end;
		if (!line)
			continue;
		type = json_string_value(json_object_get(line, "type"));
		kind = json_string_value(json_object_get(line, "kind"));
		rev = json_integer_value(json_object_get(line, "revision"));
		if (!type || strcmp(type, "HEARTBEAT") == 0)
			continue;
		if (strcmp(type, "ERROR") == 0 || !kind) {
			/* compacted past us: list again from now */
			what |= AGENT_RUN_RESYNC;
			continue;
		}
		if (rev > 0 && (unsigned long long)rev > ar->list_rev)
			ar->list_rev = (unsigned long long)rev;
		if (strcmp(kind, "Instance") == 0) {
			if (strcmp(type, "PUT") != 0 || !own_rev(ar,
			    (unsigned long long)rev))
				what |= AGENT_RUN_LIST;
		} else if (strcmp(kind, "VolumeSnapshot") == 0)
			what |= AGENT_RUN_SNAPSHOTS;
		else if (strcmp(kind, "Workload") == 0)
			wl_cache_drop(ar, json_string_value(json_object_get(
			    line, "tenant")), json_string_value(
			    json_object_get(line, "name")));
	}
	return what;
}

unsigned
agent_run_count(const struct agent_run *ar)
{
	const struct ar_inst	*e;
	unsigned		 n = 0;

	for (e = ar->insts; e; e = e->next)
		n++;
	return n;
}

/* ---- probes ---- */

/* Takes E's probes from PROBES (spec.probes of its workload, or the
 * record's copy). A container's only: a VM has no network namespace of
 * the agent's making to probe in. */
static int
probes_load(struct ar_inst *e, const json_t *probes, char **ret_err)
{
	static const char *const names[] = { "liveness", "readiness" };
	struct ar_probe *ps[] = { &e->live, &e->ready_probe };
	int r;

	for (size_t i = 0; i < 2; i++) {
		const json_t *o = json_object_get(probes, names[i]);

		probe_cancel(&ps[i]->run);
		ps[i]->on = false;
		if (o && (r = probe_spec_parse(o, names[i], &ps[i]->spec,
		    ret_err)) < 0)
			return r;
		ps[i]->on = o != NULL;
	}
	return 0;
}

/* E's probes as JSON for its record; NULL when it has none. */
static json_t *
probes_json(const struct ar_inst *e)
{
	json_t *o;

	if (!e->live.on && !e->ready_probe.on)
		return NULL;
	if (!(o = json_object()))
		return NULL;
	if (e->live.on)
		json_object_set_new(o, "liveness", probe_spec_json(&e->live.spec));
	if (e->ready_probe.on)
		json_object_set_new(o, "readiness",
		    probe_spec_json(&e->ready_probe.spec));
	return o;
}

/* A new run of E began (start, restart): nothing probed before the
 * initial delay, no failure counted, not ready until the readiness
 * probe passes. */
static void
probes_restart(struct ar_inst *e)
{
	struct ar_probe	*ps[] = { &e->live, &e->ready_probe };
	double		 now = bw_mono_s();

	for (size_t i = 0; i < 2; i++) {
		probe_cancel(&ps[i]->run);
		ps[i]->fails = 0;
		ps[i]->next_at = now + ps[i]->spec.initial_delay_s;
	}
	e->ready = false;
	e->killed_by[0] = '\0';
}

/* Whether E takes service traffic: Running and, with a readiness probe,
 * its last verdict. */
static bool
inst_ready(const struct ar_inst *e)
{
	if (e->exited || strcmp(e->phase, "Running") != 0)
		return false;
	return e->ready_probe.on ? e->ready : true;
}

/* ---- stopping instances together ---- */

/* Sends instance ID its stop request (if it runs) and adds it to the
 * pass's stops, to be waited for, killed if need be and, with REMOVE,
 * removed by stops_finish(). An ID already there is left as it is.
 * Returns 0, or a negative error (nothing was added). */
static int
stop_begin(struct agent_run *ar, const char *id, bool remove, char **ret_err)
{
	struct runtime_status	 st;
	struct ar_stop		*s;
	int			 r = 0;

	for (size_t i = 0; i < ar->nstops; i++)
		if (strcmp(ar->stops[i].id, id) == 0)
			return 0;
	if (strlen(id) > RUNTIME_ID_MAX)
		return -EINVAL;
	if (ar->nstops == ar->stops_cap) {
		size_t	 cap = ar->stops_cap ? ar->stops_cap * 2 : 16;
		void	*p = reallocarray(ar->stops, cap, sizeof(*ar->stops));

		if (!p)
			return -ENOMEM;
		ar->stops = p;
		ar->stops_cap = cap;
	}
	s = &ar->stops[ar->nstops];
	*s = (struct ar_stop){ .remove = remove };
	snprintf(s->id, sizeof(s->id), "%s", id);
	if (remove) {
		_cleanup_json_ json_t	*rec = NULL;
		int			 rr = rec_read(ar, id, &rec);

		/* an unreadable record may hold one */
		s->volume = (rr < 0 && rr != -ENOENT) ||
		    json_str_at(rec, "volume_uid", NULL) != NULL;
	}
	if (runtime_status(ar->rt, id, &st, NULL) == 0 &&
	    st.phase == RUNTIME_RUNNING) {
		r = runtime_stop_signal(ar->rt, id, ret_err);
		s->signalled = r == 1;
		/* not signalled (an error, a VM whose QMP is silent):
		 * killed at once by stops_finish() */
		s->deadline = bw_mono_ms() + (s->signalled ?
		    (ar->c.stop_grace_ms ? ar->c.stop_grace_ms : 10000) : 0);
		if (r < 0 && !remove)
			return r;
		if (r < 0)
			log_warn("instance %s: stop: %s", id, ret_err &&
			    *ret_err ? *ret_err : bw_strerror(r));
	} else
		s->done = true;	/* nothing to stop; removed all the same */
	ar->nstops++;
	return 0;
}

static int inst_remove(struct agent_run *ar, const char *id, int graceful,
    bool *ret_kept, char **ret_err);

/* Waits for the pass's stops (only those holding a volume when
 * VOLUMES_ONLY) until their deadlines, kills what still runs, and
 * removes those to be removed. Failures are logged and retried by the
 * next pass. */
static void
stops_finish(struct agent_run *ar, bool volumes_only)
{
	for (size_t i = 0; i < ar->nstops; i++) {
		_cleanup_free_ char	*err = NULL, *rerr = NULL;
		struct ar_stop		*s = &ar->stops[i];
		int			 graceful = 0, r;
		bool			 kept = false;

		if (volumes_only && !s->volume)
			continue;
		if (!s->done) {
			s->done = true;
			r = runtime_stop_finish(ar->rt, s->id, s->deadline,
			    &err);
			if (r < 0)
				log_warn("instance %s: stop: %s", s->id,
				    err ? err : bw_strerror(r));
			graceful = s->signalled && r == 1;
		}
		if (!s->remove)
			continue;
		s->remove = false;
		/* a record kept for an operator fails every pass until
		 * repaired: said once per AR_RECORD_WARN_S */
		if ((r = inst_remove(ar, s->id, graceful, &kept, &rerr)) < 0 &&
		    (!kept || said_due(ar->rec_warned, AR_RECORD_WARN_MAX,
		    s->id, AR_RECORD_WARN_S)))
			log_warn("instance %s: removal failed (retried): %s",
			    s->id, rerr ? rerr : bw_strerror(r));
	}
}

/* Acts on one finished run of probe P of E: readiness flips E's ready
 * flag; liveness past its threshold stops E (its exit is then handled
 * as any other, with the probe as the reason). Returns 1 when E was
 * stopped. */
static int
probe_result(struct agent_run *ar, struct ar_inst *e, struct ar_probe *p,
    bool ok, const char *res)
{
	_cleanup_free_ char	*err = NULL;
	char			 what[PROBE_PATH_MAX + 32];
	bool			 is_live = p == &e->live;
	int			 r;

	probe_describe(&p->spec, what, sizeof(what));
	if (ok) {
		p->fails = 0;
		if (!is_live && !e->ready) {
			e->ready = true;
			snprintf(e->event, sizeof(e->event), "ready: readiness "
			    "probe %.80s passed (%.60s)", what, res);
			log_info("instance %s/%s: %s", e->tenant, e->name, e->event);
		}
		return 0;
	}
	p->fails++;
	log_debug("instance %s/%s: %s probe %s failed (%u/%u): %s", e->tenant,
	    e->name, is_live ? "liveness" : "readiness", what, p->fails,
	    p->spec.failure_threshold, res);
	if (p->fails < p->spec.failure_threshold)
		return 0;
	if (!is_live) {
		if (e->ready) {
			e->ready = false;
			snprintf(e->event, sizeof(e->event), "not ready: "
			    "readiness probe %.80s failed %u times (%.60s)", what,
			    p->fails, res);
			log_info("instance %s/%s: %s", e->tenant, e->name, e->event);
		}
		return 0;
	}
	snprintf(e->killed_by, sizeof(e->killed_by), "liveness probe %.80s "
	    "failed %u times (%.60s)", what, p->fails, res);
	log_info("instance %s/%s: %s; stopping it", e->tenant, e->name,
	    e->killed_by);
	r = stop_begin(ar, e->id, false, &err);
	if (r < 0)
		log_warn("instance %s/%s: stop after the liveness probe: %s",
		    e->tenant, e->name, err ? err : bw_strerror(r));
	return r < 0 ? 0 : 1;
}

/* Starts a run of E's exec probe P inside its container. */
static int
probe_start_exec(struct agent_run *ar, struct ar_inst *e, struct ar_probe *p)
{
	char	**prefix = NULL;
	int	  r;

	if ((r = runtime_exec_argv(ar->rt, e->id, PROBE_EXEC_PID_FILE,
	    &prefix)) < 0)
		return r;
	r = probe_start(&p->spec, NULL, (const char *const *)prefix, &p->run);
	runtime_list_free(prefix);
	return r;
}

/* Runs E's due probes and collects finished runs, without blocking.
 * Returns 1 when the liveness probe stopped E. */
static int
probes_tick(struct agent_run *ar, struct ar_inst *e)
{
	struct ar_probe	*ps[] = { &e->live, &e->ready_probe };
	double		 now = bw_mono_s();
	int		 r;

	for (size_t i = 0; i < 2; i++) {
		struct ar_probe		*p = ps[i];
		_cleanup_free_ char	*ns = NULL;
		char			 res[PROBE_RESULT_MAX];
		bool			 ok = false;

		if (!p->on)
			continue;
		if (p->run.pid > 0) {
			if ((r = probe_poll(&p->run, &ok, res)) <= 0)
				continue;
			if (probe_result(ar, e, p, ok, res) == 1)
				return 1;
			continue;
		}
		if (now < p->next_at)
			continue;
		p->next_at = now + p->spec.period_s;
		if (p->spec.kind == PROBE_EXEC)
			r = probe_start_exec(ar, e, p);
		else if ((r = cni_netns_path(e->id, &ns)) >= 0)
			r = probe_start(&p->spec, ns, NULL, &p->run);
		if (r < 0)
			log_warn("instance %s/%s: cannot start a probe: %s",
			    e->tenant, e->name, bw_strerror(r));
	}
	return 0;
}

/* ---- services ---- */

/* Takes E's service (spec.service, or the record's copy) or none. */
static void
svc_load(struct ar_inst *e, const json_t *svc)
{
	const char *a = json_str_at(svc, "address", NULL);

	struct in_addr	 in;
	long long	 port, target;

	e->svc_vip[0] = '\0';
	/* What goes into the nft script is checked here too, not only at
	 * the API: a record on disk is input as well. */
	if (!a || strlen(a) >= sizeof(e->svc_vip) || inet_pton(AF_INET, a,
	    &in) != 1)
		return;
	port = json_int_at(svc, "port", NULL, 0);
	target = json_int_at(svc, "target_port", NULL, port);
	if (port < 1 || port > 65535 || target < 1 || target > 65535)
		return;
	snprintf(e->svc_vip, sizeof(e->svc_vip), "%s", a);
	e->svc_port = (unsigned)port;
	e->svc_target = (unsigned)target;
}

/* Programs the service rules for the instances this agent keeps: each
 * ready one with an address is an endpoint of its workload's service.
 * Rules change only when the set does (nft runs then only). */
static void
services_sync(struct agent_run *ar)
{
	_cleanup_free_ struct svc_entry	*v = NULL;
	_cleanup_free_ char		*text = NULL, *err = NULL;
	struct ar_inst			*e;
	size_t				 n = 0;
	int				 r;

	if (!(v = calloc(agent_run_count(ar) + 1, sizeof(*v))))
		return;
	for (e = ar->insts; e; e = e->next) {
		struct svc_entry *x = &v[n];

		if (!e->svc_vip[0] || !e->subnet[0] || !e->svc_port)
			continue;
		x->tenant = e->tenant;
		x->subnet = e->subnet;
		snprintf(x->vip, sizeof(x->vip), "%s", e->svc_vip);
		x->port = e->svc_port;
		x->target_port = e->svc_target;
		if (inst_ready(e) && e->address[0])
			snprintf(x->ip, sizeof(x->ip), "%.*s",
			    (int)strcspn(e->address, "/"), e->address);
		n++;
	}
	if ((r = svc_render(v, n, &text, &err)) < 0) {
		log_warn("services: %s", err ? err : bw_strerror(r));
		return;
	}
	if (ar->svc_text && strcmp(ar->svc_text, text) == 0)
		return;
	if ((r = svc_apply(text, &err)) < 0) {
		log_warn("services: nft: %s", err ? err : bw_strerror(r));
		return;
	}
	log_info("services: %zu endpoint entries programmed", n);
	free(ar->svc_text);
	ar->svc_text = TAKE_PTR(text);
}

/* ---- log tail ---- */

/* The last AR_LOG_TAIL_MAX bytes of ID's log (its two files,
 * lib/logcap.h) as a JSON-safe string (bytes outside printable ASCII,
 * tab and newline become '?'), starting at a line boundary when it was
 * cut; *RET_DROPPED the lines its capture dropped. NULL when there is
 * no log. */
static char *
log_tail(struct agent_run *ar, const char *id, uint64_t *ret_dropped)
{
	_cleanup_free_ char	*path = NULL;
	struct logcap_info	 info;
	char			*buf;
	size_t			 n;

	if (runtime_log_path(ar->rt, id, &path) < 0 ||
	    logcap_tail(path, 0, AR_LOG_TAIL_MAX, &buf, &n, &info) < 0)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!((buf[i] >= 0x20 && buf[i] < 0x7f) || buf[i] == '\n' ||
		    buf[i] == '\t'))
			buf[i] = '?';
	*ret_dropped = info.dropped;
	return buf;
}

/* ---- status reports ---- */

/* PUTs E's state into ITEM's status when it differs from what the API
 * holds. Members we do not own (the scheduler's explanation) stay. */
static int
report(struct agent_run *ar, const json_t *item, struct ar_inst *e)
{
	_cleanup_json_ json_t	*want = NULL, *reply = NULL;
	_cleanup_free_ char	*err = NULL, *tail = NULL;
	const json_t		*cur = json_object_get(item, "status");
	char			 path[256];
	time_t			 now = time(NULL);
	double			 t0;
	int			 status, r;
	uint64_t		 dropped = 0;
	bool			 tail_due;

	if (!(want = cur && json_is_object(cur) ? json_deep_copy(cur) :
	    json_object()))
		return -ENOMEM;
	json_object_set_new(want, "phase", json_string(e->phase));
	json_object_set_new(want, "node", json_string(ar->node));
	json_object_set_new(want, "runtime_id", json_string(e->id));
	json_object_set_new(want, "restarts", json_integer(e->restarts));
	json_object_set_new(want, "last_event", json_string(e->event));
	json_object_set_new(want, "ready", json_boolean(inst_ready(e)));
	if (e->cpu_valid)
		json_object_set_new(want, "cpu_percent",
		    json_integer(e->cpu_pct));
	else
		json_object_del(want, "cpu_percent");
	if (e->message[0])
		json_object_set_new(want, "message", json_string(e->message));
	else
		json_object_del(want, "message");
	if (e->started[0])
		json_object_set_new(want, "started", json_string(e->started));
	/* the API counts it in bulwark_agent_instance_start_duration_seconds */
	if (e->start_s > 0)
		json_object_set_new(want, "start_seconds",
		    json_real(e->start_s));
	if (e->address[0])
		json_object_set_new(want, "address", json_string(e->address));
	if (e->exited) {
		json_object_set_new(want, "exit_code", e->signal || e->oom ?
		    json_null() : json_integer(e->exit_code));
		json_object_set_new(want, "signal", json_integer(e->signal));
		json_object_set_new(want, "oom_killed", json_boolean(e->oom));
	} else {
		json_object_del(want, "exit_code");
		json_object_del(want, "signal");
		json_object_del(want, "oom_killed");
	}
	/* A changed log is worth a write of its own only every few
	 * seconds; with any other change it travels along. */
	tail = log_tail(ar, e->id, &dropped);
	if (dropped > 0)
		json_object_set_new(want, "log_dropped", json_integer(
		    (json_int_t)dropped));
	tail_due = !json_equal(want, (json_t *)cur) ||
	    now - e->log_put >= AR_LOG_PUT_S;
	if (tail && tail_due)
		json_object_set_new(want, "log_tail", json_string(tail));
	if (json_equal(want, (json_t *)cur))
		return 0;
	snprintf(path, sizeof(path), "/v1/tenants/%s/instances/%s/status",
	    e->tenant, e->name);
	t0 = bw_mono_s() * 1e3;
	r = api(ar, "PUT", path, want, &status, &reply, &err);
	log_debug("instance %s/%s: status %s sent in %.1f ms", e->tenant,
	    e->name, e->phase, bw_mono_s() * 1e3 - t0);
	if (r < 0) {
		log_warn("instance %s/%s: status report failed: %s", e->tenant,
		    e->name, err ? err : bw_strerror(r));
		return r;
	}
	if (status != 200) {
		/* 404: deleted meanwhile; 403: moved to another node. Either
		 * way the kept list is stale: the next pass lists (and
		 * removes it), and nothing restarts it until then. */
		if (status == 403 || status == 404) {
			ar->list_due = true;
			e->gone = true;
		}
		if (status != 404)
			log_warn("instance %s/%s: status refused (HTTP %d): %s",
			    e->tenant, e->name, status,
			    client_error_message(reply, "(no message)"));
		return -BW_E_UNAVAILABLE;
	}
	if (tail && tail_due)
		e->log_put = now;
	/* The kept item now says what the server holds: the local passes
	 * send nothing until it changes again, and the change coming back
	 * on the watch is known as this agent's own. */
	json_object_set((json_t *)item, "status", want);
	{
		json_int_t rev = json_integer_value(json_object_get(
		    json_object_get(reply, "metadata"), "revision"));

		if (rev > 0) {
			ar->own_revs[ar->own_next++ % AR_OWN_REVS] =
			    (unsigned long long)rev;
			json_object_set_new(json_object_get((json_t *)item,
			    "metadata"), "revision", json_integer(rev));
		}
	}
	ar->changes++;
	return 0;
}

/* ---- starting ---- */

struct start_ctx {
	const char	**argv, **env, **caps;
	char		**env_buf;
	size_t		  n_env;
};

static void
start_ctx_done(struct start_ctx *s)
{
	for (size_t i = 0; i < s->n_env; i++)
		free(s->env_buf[i]);
	free(s->env_buf);
	free(s->argv);
	free(s->env);
	free(s->caps);
}

/* Builds argv, env and capabilities from a workload spec (strings
 * borrowed from SPEC). */
static int
start_ctx_fill(struct start_ctx *s, const json_t *spec, char **ret_err)
{
	const json_t	*cmd = json_object_get(spec, "command");
	const json_t	*env = json_object_get(spec, "env");
	const json_t	*caps = json_object_get(spec, "capabilities");
	const char	*k;
	json_t		*v;
	size_t		 i, n;

	n = json_array_size(cmd);
	if (n == 0)
		return errf(-BW_E_INVALID, ret_err, "spec.command: required for a "
		    "root file system image (it has no entry point)");
	if (!(s->argv = calloc(n + 1, sizeof(*s->argv))))
		return -ENOMEM;
	json_array_foreach(cmd, i, v)
		if (!(s->argv[i] = json_string_value(v)))
			return errf(-BW_E_INVALID, ret_err, "spec.command[%zu]: "
			    "not a string", i);
	n = json_object_size(env);
	if (!(s->env = calloc(n + 1, sizeof(*s->env))) ||
	    !(s->env_buf = calloc(n + 1, sizeof(*s->env_buf))))
		return -ENOMEM;
	json_object_foreach((json_t *)env, k, v) {
		if (!json_string_value(v) || !k[0] || strchr(k, '='))
			return errf(-BW_E_INVALID, ret_err, "spec.env.%s: must be "
			    "a string named without '='", k);
		if (asprintf(&s->env_buf[s->n_env], "%s=%s", k,
		    json_string_value(v)) < 0)
			return -ENOMEM;
		s->env[s->n_env] = s->env_buf[s->n_env];
		s->n_env++;
	}
	n = json_array_size(caps);
	if (n) {
		if (!(s->caps = calloc(n + 1, sizeof(*s->caps))))
			return -ENOMEM;
		json_array_foreach(caps, i, v)
			s->caps[i] = json_string_value(v);
	}
	return 0;
}

/* The plugin's ADD for a container, run on a thread while crun creates
 * the container; joined before the container's process starts. */
struct cni_job {
	pthread_t		 thread;
	double			 t_start, t_done, t_join;
	const struct cni_config	*cni;
	struct cni_network	 net;
	const char		*id;
	struct cni_attachment	 att;
	char			*err;
	int			 r;
	bool			 running;
};

static void *
cni_job_main(void *arg)
{
	struct cni_job *j = arg;

	j->r = cni_connect(j->cni, &j->net, j->id, &j->att, &j->err);
	j->t_done = bw_mono_s() * 1e3;
	return NULL;
}

/* runtime_spec.before_start: the network is up, or the start fails. */
static int
cni_job_join(void *arg, char **ret_err)
{
	struct cni_job *j = arg;

	if (!j->t_join)
		j->t_join = bw_mono_s() * 1e3;
	if (j->running) {
		pthread_join(j->thread, NULL);
		j->running = false;
	}
	if (j->r < 0)
		return errf(j->r, ret_err, "%s", j->err ? j->err :
		    bw_strerror(j->r));
	return 0;
}

/* The state of one inst_start(), shared by its steps; released by
 * start_state_done(). Strings are borrowed from the JSON documents it
 * holds. */
struct start_state {
	struct agent_run	*ar;
	struct ar_inst		*e;
	json_t			*wl, *img, *net, *rec, *vol, *snap;
	char			*inuse, *netns, *userns, *vol_data, *vol_disk;
	struct start_ctx	 sc;
	struct image_info	 info;
	struct cni_job		 job;
	struct runtime_spec	 rs;
	const char		*wname, *type, *digest;
	const json_t		*spec;
	char			 path[256], subnet[32];
	bool			 attached, is_vm;
	double			 t0, t_look, t_ns;
};

static void
start_state_done(struct start_state *st)
{
	cni_attachment_done(&st->job.att);
	free(st->job.err);
	image_info_done(&st->info);
	start_ctx_done(&st->sc);
	free(st->netns);
	free(st->userns);
	free(st->inuse);
	free(st->vol_data);
	free(st->vol_disk);
	json_decref(st->vol);
	json_decref(st->snap);
	json_decref(st->rec);
	json_decref(st->net);
	json_decref(st->img);
	json_decref(st->wl);
}

/* Fetches the instance's workload and checks its type and image. */
static int
start_get_workload(struct start_state *st, const json_t *item,
    char **ret_err)
{
	int r;

	st->wname = json_str_at(item, "spec", "workload");
	if (!is_label(st->wname))
		return errf(-BW_E_INVALID, ret_err, "spec.workload: missing");
	snprintf(st->path, sizeof(st->path), "/v1/tenants/%s/workloads/%s",
	    st->e->tenant, st->wname);
	if ((r = api_get(st->ar, st->path, &st->wl, ret_err)) < 0)
		return r;
	st->spec = json_object_get(st->wl, "spec");
	st->type = json_str_at(st->spec, "type", NULL);
	st->digest = json_str_at(st->spec, "image", NULL);
	if (!st->type || !st->digest ||
	    strncmp(st->digest, "sha256:", 7) != 0 || strlen(st->digest) != 71)
		return errf(-BW_E_INVALID, ret_err, "workload %s: spec.type and "
		    "spec.image (sha256:HEX) are required", st->wname);
	st->is_vm = strcmp(st->type, "vm") == 0;
	return 0;
}

/* Checks that the workload's image is imported for its kind of workload
 * and present in this node's store; fills st->info. */
static int
start_get_image(struct start_state *st, char **ret_err)
{
	const char	*digest = st->digest;
	int		 r;

	/* The Image object is the admin's statement that the image was
	 * imported, verified and is meant for this kind of workload. */
	snprintf(st->path, sizeof(st->path), "/v1/images/sha256-%.56s",
	    digest + 7);
	if ((r = api_get(st->ar, st->path, &st->img, ret_err)) < 0)
		return r == -BW_E_NOTFOUND ? errf_wrap(r, ret_err, "image %s is "
		    "not imported (bulwark image import)", digest) : r;
	if (!json_str_at(st->img, "spec", "type") ||
	    strcmp(json_str_at(st->img, "spec", "type"),
	    st->is_vm ? "vm" : "container") != 0 ||
	    strcmp(json_str_at(st->img, "spec", "digest") ?: "", digest) != 0)
		return errf(-BW_E_INVALID, ret_err, "image %s is not a %s image",
		    digest, st->is_vm ? "vm" : "container");
	if ((r = image_get(st->ar->images, digest, &st->info, ret_err)) < 0) {
		if (r == -BW_E_NOTFOUND)
			errf_wrap(r, ret_err, "image %s is not in this node's "
			    "image store", digest);
		return r;
	}
	if ((st->is_vm && st->info.kind != IMAGE_DISK) ||
	    (!st->is_vm && st->info.kind != IMAGE_ROOTFS))
		return errf(-BW_E_INVALID, ret_err, "image %s: stored kind does "
		    "not match the workload type %s", digest, st->type);
	return 0;
}

/* Chooses the container's subnet into st->subnet and notes it in the
 * record. The tenant's network: the named Network's subnet, else the
 * tenant's default one. A tenant has one bridge per node, so one
 * subnet. */
static int
start_choose_subnet(struct start_state *st, char **ret_err)
{
	struct agent_run	*ar = st->ar;
	const char		*tenant = st->e->tenant;
	const char		*netname = json_str_at(st->spec, "network",
	    NULL);
	int			 r;

	if (netname) {
		snprintf(st->path, sizeof(st->path),
		    "/v1/tenants/%s/networks/%s", tenant, netname);
		if ((r = api_get(ar, st->path, &st->net, ret_err)) < 0)
			return r;
		if (json_str_at(st->net, "spec", "subnet"))
			snprintf(st->subnet, sizeof(st->subnet), "%s",
			    json_str_at(st->net, "spec", "subnet"));
	}
	/* an error (logged) leaves the subnet to the Network or the
	 * tenant's default, as before any instance of the tenant */
	(void)tenant_subnet_in_use(ar, tenant, st->e->id, &st->inuse);
	if (!st->subnet[0] && st->inuse)
		snprintf(st->subnet, sizeof(st->subnet), "%s", st->inuse);
	if (!st->subnet[0] && (r = default_subnet(ar, tenant, st->subnet,
	    sizeof(st->subnet), ret_err)) < 0)
		return r;
	if (st->inuse && strcmp(st->inuse, st->subnet) != 0)
		return errf(-BW_E_CONFLICT, ret_err, "tenant %s's network on "
		    "this node uses %s, not %s (one subnet per tenant and node)",
		    tenant, st->inuse, st->subnet);
	snprintf(st->e->subnet, sizeof(st->e->subnet), "%s", st->subnet);
	json_object_set_new(st->rec, "net_tenant", json_string(tenant));
	json_object_set_new(st->rec, "subnet", json_string(st->subnet));
	return 0;
}

/* Fills st->rs for the runtime and st->rec, the instance record. */
static int
start_build_spec(struct start_state *st, char **ret_err)
{
	struct agent_run	*ar = st->ar;
	struct ar_inst		*e = st->e;
	struct runtime_spec	*rs = &st->rs;
	json_t			*pj;
	int			 r;

	rs->id = e->id;
	rs->cpu_millis = (unsigned)json_int_at(st->spec, "resources",
	    "cpu_millis", 0);
	rs->memory_mib = (unsigned)json_int_at(st->spec, "resources",
	    "memory_mib", 0);
	rs->pids_max = (unsigned)json_int_at(st->spec, "resources", "pids", 0);
	rs->log_max_bytes = (uint64_t)json_int_at(st->spec, "log_max_bytes",
	    NULL, (long long)ar->c.log_max_bytes);
	e->cpu_millis = rs->cpu_millis;
	st->rec = json_pack("{s:s, s:s, s:s, s:I}", "tenant", e->tenant, "name",
	    e->name, "workload", st->wname, "cpu_millis",
	    (json_int_t)rs->cpu_millis);
	if (!st->rec)
		return -ENOMEM;
	/* The probes of this run are the workload's as it starts: a later
	 * change of the workload is a new template, so new instances. */
	if ((r = probes_load(e, st->is_vm ? NULL : json_object_get(st->spec,
	    "probes"), ret_err)) < 0)
		return r;
	if ((pj = probes_json(e)))
		json_object_set_new(st->rec, "probes", pj);
	svc_load(e, st->is_vm ? NULL : json_object_get(st->spec, "service"));
	if (e->svc_vip[0])
		json_object_set_new(st->rec, "service", json_pack("{s:s, s:I, "
		    "s:I}", "address", e->svc_vip, "port", (json_int_t)e->svc_port,
		    "target_port", (json_int_t)e->svc_target));
	if (st->is_vm) {
		rs->kind = RUNTIME_VM;
		rs->disk = st->info.path;
		rs->disk_format = st->info.format == IMAGE_FMT_QCOW2 ? "qcow2" :
		    "raw";
		rs->kernel = ar->vm_kernel;
		rs->initrd = ar->vm_initrd;
		rs->cmdline = ar->vm_cmdline;
		return 0;
	}
	rs->kind = RUNTIME_CONTAINER;
	rs->rootfs = st->info.path;
	rs->hostname = e->name;
	if ((r = start_ctx_fill(&st->sc, st->spec, ret_err)) < 0)
		return r;
	rs->argv = st->sc.argv;
	rs->env = st->sc.env;
	rs->capabilities = st->sc.caps;
	return start_choose_subnet(st, ret_err);
}

/* The snapshot the volume asks to be restored from (spec.restore), if
 * any: *RET_UID its uid, once the snapshot is of that volume and taken.
 * Borrowed from st->snap. */
static int
start_restore_of(struct start_state *st, const char *vname,
    const char **ret_uid, char **ret_err)
{
	const char	*sname = json_str_at(st->vol, "spec", "restore");
	int		 r;

	*ret_uid = NULL;
	if (!sname)
		return 0;
	snprintf(st->path, sizeof(st->path), "/v1/tenants/%s/volumesnapshots/"
	    "%s", st->e->tenant, sname);
	if ((r = api_get(st->ar, st->path, &st->snap, ret_err)) < 0)
		return errf_wrap(r, ret_err, "volume %s: spec.restore", vname);
	if (strcmp(json_str_at(st->snap, "spec", "volume") ?: "", vname) != 0)
		return errf(-BW_E_INVALID, ret_err, "volume %s: spec.restore: "
		    "snapshot %s is of another volume", vname, sname);
	if (strcmp(json_str_at(st->snap, "status", "phase") ?: "",
	    "Ready") != 0)
		return errf(-BW_E_UNAVAILABLE, ret_err, "volume %s: snapshot "
		    "%s is not taken yet", vname, sname);
	*ret_uid = json_str_at(st->snap, "metadata", "uid");
	return 0;
}

/* Attaches the volume the workload uses, if any, bound to this node:
 * a container gets its data directory mounted at the workload's path,
 * a VM a raw disk file inside it as its next virtio disk. */
static int
start_volume(struct start_state *st, char **ret_err)
{
	const json_t		*use = json_array_get(json_object_get(st->spec,
	    "volumes"), 0);
	const char		*vname = json_str_at(use, "volume", NULL);
	const char		*node;
	struct volume_ref	 v;
	char			 other[RUNTIME_ID_MAX + 1];
	int			 r;

	if (!vname)
		return 0;
	if (!st->is_vm && !json_str_at(use, "path", NULL))
		return errf(-BW_E_INVALID, ret_err, "spec.volumes[0].path: "
		    "required for a container");
	snprintf(st->path, sizeof(st->path), "/v1/tenants/%s/volumes/%s",
	    st->e->tenant, vname);
	if ((r = api_get(st->ar, st->path, &st->vol, ret_err)) < 0)
		return r;
	node = json_str_at(st->vol, "spec", "node");
	if (!node || strcmp(node, st->ar->node) != 0)
		return errf(-BW_E_CONFLICT, ret_err, "volume %s is bound to "
		    "node %s, not this one", vname, node ? node : "(none)");
	v = (struct volume_ref){ .tenant = st->e->tenant, .name = vname,
	    .uid = json_str_at(st->vol, "metadata", "uid"),
	    .size_bytes = json_int_at(st->vol, "spec", "size_bytes", 0) };
	/* before volume_held_by() compares it with the records' */
	if ((r = volume_check_uid(v.uid, ret_err)) < 0)
		return errf_wrap(r, ret_err, "volume %s", vname);
	if ((r = start_restore_of(st, vname, &v.restore_uid, ret_err)) < 0)
		return r;
	/* An instance whose removal is retried still holds the volume: its
	 * retry detaches whatever is mounted then (the key out of the
	 * kernel, the unmount), which would be ours once attached. It lets
	 * go only once the volume is detached and released. */
	r = volume_held_by(st->ar, v.uid, st->e->id, other, sizeof(other));
	if (r < 0 && *other)
		/* the id for the node's administrator only: the record may
		 * be another tenant's */
		log_warn("volume %s/%s: waits for the record of instance %s, "
		    "which cannot be read: %s", st->e->tenant, vname, other,
		    bw_strerror(r));
	if (r < 0)
		return errf(r, ret_err, "volume %s: %s: %s", vname, *other ?
		    "an instance record on this node cannot be read" :
		    "the instance records on this node cannot be listed",
		    bw_strerror(r));
	if (r == 1)
		return errf(-EBUSY, ret_err, "volume %s: waiting for instance "
		    "%s, being removed, to detach it", vname, other);
	if ((r = volume_attach(st->ar->state_dir, st->ar->c.volume_kek, &v,
	    &st->vol_data, ret_err)) < 0)
		return r;
	/* in the start's status event, so in the audit trail */
	snprintf(st->e->vol_event, sizeof(st->e->vol_event), "volume %s "
	    "attached%s%s", vname, r == 1 ? ", restored from snapshot " : "",
	    r == 1 ? json_str_at(st->vol, "spec", "restore") : "");
	json_object_set_new(st->rec, "volume_uid", json_string(v.uid));
	if (st->is_vm) {
		/* a raw disk inside the encrypted file system */
		if ((r = volume_disk(st->vol_data, v.size_bytes, &st->vol_disk,
		    ret_err)) < 0) {
			volume_detach(st->ar->state_dir, v.uid, NULL);
			return r;
		}
		st->rs.data_disk = st->vol_disk;
		return 0;
	}
	st->rs.volume_src = st->vol_data;
	st->rs.volume_dst = json_str_at(use, "path", NULL);
	return 0;
}

/* The user namespace, then the network namespace inside it (crun joins
 * both, so the container's network capabilities count in its network);
 * the plugin then wires it on a thread while crun creates the
 * container. */
static int
start_container_network(struct start_state *st, char **ret_err)
{
	struct agent_run	*ar = st->ar;
	struct ar_inst		*e = st->e;
	struct cni_network	 cn = { .tenant = e->tenant, .subnet = st->subnet };
	int			 r;

	if ((r = runtime_userns_prepare(ar->rt, e->id, &st->userns,
	    ret_err)) < 0)
		return r;
	cn.userns_path = st->userns;
	if ((r = cni_prepare(&ar->cni, &cn, e->id, &st->netns, ret_err)) < 0)
		return r;
	st->attached = true;
	st->t_ns = bw_mono_s() * 1e3;
	st->job.cni = &ar->cni;
	st->job.net = cn;
	st->job.id = e->id;
	if ((r = -pthread_create(&st->job.thread, NULL, cni_job_main,
	    &st->job)) < 0)
		return errf(r, ret_err, "cannot start the network set-up: %s",
		    bw_strerror(r));
	st->job.running = true;
	st->rs.netns_path = st->netns;
	st->rs.before_start = cni_job_join;
	st->rs.before_start_arg = &st->job;
	return 0;
}

static void
start_log_timing(const struct start_state *st)
{
	const struct cni_job *job = &st->job;

	log_debug("instance %s/%s start: look-ups %.1f ms, record and "
	    "netns %.1f ms, crun create %.1f ms (network %.1f ms, "
	    "waited %.1f ms), crun start %.1f ms; total %.1f ms",
	    st->e->tenant, st->e->name, st->t_look - st->t0,
	    st->t_ns - st->t_look, job->t_join - st->t_ns,
	    job->t_done - st->t_ns,
	    job->t_done > job->t_join ? job->t_done - job->t_join : 0.0,
	    bw_mono_s() * 1e3 - (job->t_done > job->t_join ? job->t_done :
	    job->t_join), bw_mono_s() * 1e3 - st->t0);
}

/* Undoes a start that failed after the record was written. */
static void
start_rollback(struct start_state *st)
{
	struct agent_run	*ar = st->ar;
	struct ar_inst		*e = st->e;

	if (st->attached) {
		struct cni_network cn = { .tenant = e->tenant,
		    .subnet = st->subnet };
		_cleanup_free_ char *derr = NULL;

		if (cni_detach(&ar->cni, &cn, e->id, &derr) < 0)
			log_warn("instance %s: detach after a failed start: %s",
			    e->id, derr ? derr : "error");
	}
	/* runtime_create() cleans up after itself; a failure before it
	 * leaves the user namespace made for the network. */
	if (st->userns)
		runtime_userns_release(ar->rt, e->id);
	if (st->vol_data) {
		_cleanup_free_ char *verr = NULL;

		if (volume_detach(ar->state_dir, json_str_at(st->rec,
		    "volume_uid", NULL), &verr) < 0)
			log_warn("instance %s: volume detach after a failed "
			    "start: %s", e->id, verr ? verr : "error");
	}
	e->address[0] = '\0';
	rec_remove(ar, e->id);
}

/* Resolves what instance E needs and creates it. Returns 0, or a
 * negative error with *RET_ERR (E then reports Failed and retries after
 * a back-off: an image may be imported, a network fixed). */
static int
inst_start(struct agent_run *ar, const json_t *item, struct ar_inst *e,
    char **ret_err)
{
	struct start_state	st = {
		.ar = ar, .e = e, .job = { .r = -BW_E_UNAVAILABLE },
		.t0 = bw_mono_s() * 1e3,
	};
	int			r;

	e->vol_event[0] = '\0';
	if ((r = start_get_workload(&st, item, ret_err)) < 0 ||
	    (r = start_get_image(&st, ret_err)) < 0 ||
	    (r = start_build_spec(&st, ret_err)) < 0 ||
	    (r = start_volume(&st, ret_err)) < 0)
		goto out;
	st.t_look = bw_mono_s() * 1e3;
	/* The record comes first: whatever exists of the instance can be
	 * found and removed again, even after a crash right here. */
	if ((r = rec_write(ar, e->id, st.rec)) < 0) {
		errf(r, ret_err, "cannot write the instance record: %s",
		    bw_strerror(r));
		goto out;
	}
	if (!st.is_vm && (r = start_container_network(&st, ret_err)) < 0)
		goto fail;
	r = runtime_create(ar->rt, &st.rs, ret_err);
	/* A create that failed early never reached the hook. */
	if (st.job.running) {
		_cleanup_free_ char *jerr = NULL;

		(void)cni_job_join(&st.job, &jerr);
	}
	if (r < 0)
		goto fail;
	if (!st.is_vm) {
		start_log_timing(&st);
		snprintf(e->address, sizeof(e->address), "%s",
		    st.job.att.address ?: "");
	}
	r = 0;
	goto out;
fail:
	start_rollback(&st);
out:
	start_state_done(&st);
	return r;
}

/* ---- removal ---- */

/* Removes ID, stopped by stops_finish() (GRACEFUL: within its grace
 * period), and everything of it: processes, cgroups, mounts, crun
 * state, overlay, network attachment, record; the tenant's bridge with
 * its last instance. Returns 0 or a negative error (retried next pass:
 * the record stays until the network is detached). */
static int
inst_remove(struct agent_run *ar, const char *id, int graceful,
    bool *ret_kept, char **ret_err)
{
	_cleanup_json_ json_t	*rec = NULL;
	_cleanup_free_ char	*other = NULL;
	int			 rr = rec_read(ar, id, &rec);
	const char		*nt = json_str_at(rec, "net_tenant", NULL);
	const char		*sn = json_str_at(rec, "subnet", NULL);
	const char		*vu = json_str_at(rec, "volume_uid", NULL);
	int			 r;

	if ((r = runtime_delete(ar->rt, id, ret_err)) < 0 && r != -BW_E_NOTFOUND)
		return r;
	/* A record that exists but cannot be read (bad JSON, an I/O
	 * error) may name a volume or network attachment still to be
	 * detached: it stays, its removal is retried every pass (and
	 * logged once per AR_RECORD_WARN_S), and start_volume() takes it
	 * to hold every volume. The operator repairs it rather than
	 * deleting it: replaces STATE_DIR/workloads/ID.json with a valid
	 * record of what the instance still holds, and the next pass
	 * finishes the removal here (the network's detach and the bridge
	 * with the tenant's last instance, the event). {} is a valid
	 * record (nothing held: the record goes, the event says
	 * "?/ID"); "tenant" and "name" name it in the event; "net_tenant"
	 * and "subnet" (the tenant's, as in its other records) detach its
	 * network (netns bw-ID, its address) and let the tenant's bridge
	 * go; "volume_uid" detaches a volume still mounted for it at
	 * STATE_DIR/volumes/UID/mnt (docs/storage.md). */
	if (rr < 0 && rr != -ENOENT) {
		*ret_kept = true;
		return errf(rr, ret_err, "its record %s/%s.json cannot be "
		    "read (%s): kept for an operator", ar->rec_dir, id,
		    bw_strerror(rr));
	}
	/* one instance at a time uses a volume: it goes with it */
	if (vu && (r = volume_detach(ar->state_dir, vu, ret_err)) < 0)
		return r;
	/* Detached and released: the record lets go of the volume before
	 * the steps that may fail and be retried (the network), so that a
	 * retry neither detaches it again (by then perhaps a replacement's
	 * mount) nor keeps a replacement from attaching it
	 * (start_volume()). */
	if (vu) {
		json_object_del(rec, "volume_uid");
		vu = NULL;
		if ((r = rec_write(ar, id, rec)) < 0)
			return errf(r, ret_err, "cannot rewrite the instance "
			    "record: %s", bw_strerror(r));
	}
	if (nt && sn) {
		struct cni_network cn = { .tenant = nt, .subnet = sn };

		if ((r = cni_detach(&ar->cni, &cn, id, ret_err)) < 0)
			return r;
	}
	rec_remove(ar, id);
	/* the bridge goes with the tenant's last instance here; when the
	 * records cannot all be read it stays (in use, as far as we know) */
	if (nt && (r = tenant_subnet_in_use(ar, nt, NULL, &other)) < 0)
		log_warn("tenant %s: its bridge kept: %s", nt, bw_strerror(r));
	if (nt && r == 0 &&
	    (r = cni_network_delete(&ar->cni, nt, ret_err)) < 0)
		return r;
	snprintf(ar->node_event, sizeof(ar->node_event),
	    "removed instance %s/%s (%s)",
	    rec ? json_str_at(rec, "tenant", NULL) ?: "?" : "?",
	    rec ? json_str_at(rec, "name", NULL) ?: id : id,
	    graceful == 1 ? "stopped gracefully" : "stopped");
	log_info("instance %s (%s/%s) removed: %s", id,
	    rec ? json_str_at(rec, "tenant", NULL) ?: "?" : "?",
	    rec ? json_str_at(rec, "name", NULL) ?: "?" : "?",
	    graceful == 1 ? "stopped within the grace period" :
	    "killed or already ended");
	inst_drop(ar, id);
	ar->changes++;
	return 0;
}

/* ---- volumes the API no longer has ---- */

/* Whether volume UID was missing at an earlier look AR_VOLUME_GC_S or
 * more ago; notes it missing now otherwise. */
static bool
volume_gone_long(struct agent_run *ar, const char *uid)
{
	size_t i, free_slot = AR_VOLUME_GONE_MAX;

	for (i = 0; i < AR_VOLUME_GONE_MAX; i++) {
		if (strcmp(ar->gone[i].uid, uid) == 0)
			return bw_mono_s() - ar->gone[i].since >=
			    AR_VOLUME_GC_S;
		if (!ar->gone[i].uid[0] && free_slot == AR_VOLUME_GONE_MAX)
			free_slot = i;
	}
	if (free_slot < AR_VOLUME_GONE_MAX) {
		snprintf(ar->gone[free_slot].uid, sizeof(ar->gone[0].uid), "%s",
		    uid);
		ar->gone[free_slot].since = bw_mono_s();
	}
	return false;
}

static void
volume_gone_forget(struct agent_run *ar, const char *uid)
{
	for (size_t i = 0; i < AR_VOLUME_GONE_MAX; i++)
		if (strcmp(ar->gone[i].uid, uid) == 0)
			ar->gone[i].uid[0] = '\0';
}

/* Logs that volume UID, due for deletion, waits: its file system lives
 * on (-EBUSY) or the GC cannot tell whether it is released (ERR says
 * which), at most once per AR_VOLUME_WARN_S for each volume:
 * the GC looks every few seconds, and a volume it skips in silence is
 * never crypto-erased with nothing saying why. An error the pass has
 * logged already (*PASS_ERR, the same words: asking the loop devices
 * fails for the whole node) is only counted in *PASS_SAME. */
static void
volume_gc_warn(struct agent_run *ar, const char *uid, const char *err,
    char **pass_err, size_t *pass_same)
{
	if (!said_due(ar->gc_warned, AR_VOLUME_GONE_MAX, uid,
	    AR_VOLUME_WARN_S))
		return;
	if (*pass_err && strcmp(*pass_err, err) == 0) {
		(*pass_same)++;
		return;
	}
	log_warn("volume %s: not deleted for now: %s", uid, err);
	if (!*pass_err)
		*pass_err = strdup(err);
}

/* Deletes the volumes of this node (not attached, their file systems
 * released) whose Volume the API no longer has, or has as a new object
 * of the same name. */
static void
volumes_gc(struct agent_run *ar)
{
	_cleanup_free_ char	 *pass_err = NULL;
	char			**uids = NULL;
	size_t			  i, same = 0;

	if (bw_mono_s() < ar->next_volume_gc ||
	    volume_list(ar->state_dir, &uids) < 0)
		return;
	ar->next_volume_gc = bw_mono_s() + AR_VOLUME_GC_S / 2;
	for (i = 0; uids[i]; i++) {
		_cleanup_json_ json_t	*doc = NULL;
		_cleanup_free_ char	*err = NULL, *rerr = NULL;
		char			 tenant[64], name[64], path[256];
		const char		*uid;
		int			 r;

		/* one attached here is in use: nothing to say */
		if (volume_attached(ar->state_dir, uids[i]) ||
		    volume_owner(ar->state_dir, uids[i], tenant, name) < 0)
			continue;
		snprintf(path, sizeof(path), "/v1/tenants/%s/volumes/%s",
		    tenant, name);
		r = api_get(ar, path, &doc, NULL);
		uid = json_str_at(doc, "metadata", "uid");
		if (r < 0 && r != -BW_E_NOTFOUND)
			continue;
		if (r == 0 && uid && strcmp(uid, uids[i]) == 0) {
			volume_gone_forget(ar, uids[i]);
			continue;
		}
		if (!volume_gone_long(ar, uids[i]))
			continue;
		/* due: a detached volume whose file system lives on (a
		 * mount elsewhere) waits, and one that cannot be checked
		 * waits too, neither in silence */
		r = volume_released(ar->state_dir, uids[i], &rerr);
		if (r < 0) {
			volume_gc_warn(ar, uids[i], rerr ? rerr :
			    bw_strerror(r), &pass_err, &same);
			continue;
		}
		if ((r = volume_delete(ar->state_dir, uids[i], &err)) < 0) {
			log_warn("volume %s/%s (%s): delete: %s", tenant, name,
			    uids[i], err ? err : bw_strerror(r));
			continue;
		}
		volume_gone_forget(ar, uids[i]);
		log_info("volume %s/%s (%s) deleted: key wiped, backing file "
		    "discarded", tenant, name, uids[i]);
		snprintf(ar->node_event, sizeof(ar->node_event), "deleted "
		    "volume %s/%s", tenant, name);
		ar->changes++;
	}
	if (same > 0)
		log_warn("%zu more volume%s: not deleted for now: the same",
		    same, same == 1 ? "" : "s");
	if (volume_tenants_gc(ar->state_dir) > 0)
		log_info("wiped the keys of tenants without volumes here");
	runtime_list_free(uids);
}

/* ---- snapshots ---- */

/* Takes snapshot ITEM (bound to this node) unless it is Ready, and
 * reports it. */
static void
snapshot_one(struct agent_run *ar, const json_t *item)
{
	_cleanup_json_ json_t	*vol = NULL, *reply = NULL, *st = NULL;
	_cleanup_free_ char	*err = NULL;
	const char		*tenant = json_str_at(item, "metadata", "tenant");
	const char		*name = json_str_at(item, "metadata", "name");
	const char		*suid = json_str_at(item, "metadata", "uid");
	const char		*vname = json_str_at(item, "spec", "volume");
	const char		*vuid = NULL, *old;
	char			 path[256], taken[40];
	long long		 bytes = 0;
	int			 r, status;

	if (!tenant || !name || !suid || !vname ||
	    strcmp(json_str_at(item, "status", "phase") ?: "", "Ready") == 0)
		return;
	snprintf(path, sizeof(path), "/v1/tenants/%s/volumes/%s", tenant, vname);
	if ((r = api_get(ar, path, &vol, &err)) == 0 &&
	    !(vuid = json_str_at(vol, "metadata", "uid")))
		r = errf(-BW_E_INVALID, &err, "volume %s has no uid", vname);
	if (r == 0)
		r = volume_snapshot_take(ar->state_dir, vuid, suid, &bytes,
		    &err);
	bw_time_rfc3339(taken, sizeof(taken), 0);
	st = r == 0 ? json_pack("{s:s, s:s, s:s, s:I}", "phase", "Ready",
	    "taken", taken, "volume_uid", vuid, "size_bytes",
	    (json_int_t)bytes) : json_pack("{s:s, s:s}", "phase", "Pending",
	    "message", err ? err : bw_strerror(r));
	old = json_str_at(item, "status", "message");
	if (!st || (r < 0 && old && strcmp(old, json_str_at(st, "message",
	    NULL)) == 0))
		return;
	if (r == 0)
		log_info("snapshot %s/%s of volume %s taken (%lld bytes)",
		    tenant, name, vname, bytes);
	snprintf(path, sizeof(path), "/v1/tenants/%s/volumesnapshots/%s/status",
	    tenant, name);
	if (api(ar, "PUT", path, st, &status, &reply, NULL) == 0 &&
	    status == 200)
		ar->changes++;
}

/* Takes the snapshots bound to this node, and removes the files of
 * snapshots the API no longer has. */
static void
snapshots_sync(struct agent_run *ar)
{
	_cleanup_json_ json_t	*list = NULL;
	const json_t		*items, *item;
	char			**vols = NULL, **snaps;
	size_t			 i, j, k;

	if (api_get(ar, "/v1/volumesnapshots?limit=1000", &list, NULL) < 0 ||
	    !json_is_array(items = json_object_get(list, "items")) ||
	    json_object_get(list, "continue"))
		return;
	json_array_foreach(items, i, item)
		snapshot_one(ar, item);
	if (volume_list(ar->state_dir, &vols) < 0)
		return;
	for (i = 0; vols[i]; i++) {
		if (volume_snapshot_list(ar->state_dir, vols[i], &snaps) < 0)
			continue;
		for (j = 0; snaps[j]; j++) {
			bool known = false;

			json_array_foreach(items, k, item)
				known |= strcmp(json_str_at(item, "metadata",
				    "uid") ?: "", snaps[j]) == 0;
			if (!known && volume_snapshot_delete(ar->state_dir,
			    vols[i], snaps[j]) == 0)
				log_info("snapshot %s of volume %s removed",
				    snaps[j], vols[i]);
		}
		runtime_list_free(snaps);
	}
	runtime_list_free(vols);
}

/* ---- one bound instance ---- */

/* The restart policy says whether a run that ended as E did is started
 * again. */
static bool
want_restart(const char *policy, const struct ar_inst *e)
{
	if (!policy || strcmp(policy, "always") == 0)
		return true;
	/* A run the liveness probe stopped failed, whatever its exit. */
	if (e->killed_by[0])
		return strcmp(policy, "never") != 0;
	if (strcmp(policy, "on-failure") == 0)
		return e->oom || e->signal || e->exit_code != 0;
	return false;
}

static struct ar_inst *
inst_adopt(struct agent_run *ar, const json_t *item, const char *id)
{
	const json_t		*st = json_object_get(item, "status");
	_cleanup_json_ json_t	*rec = rec_get(ar, id);
	_cleanup_free_ char	*err = NULL;
	struct ar_inst		*e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	/* The probes this agent started the instance with, so an adopted
	 * instance is probed as before. */
	if (probes_load(e, json_object_get(rec, "probes"), &err) < 0)
		log_warn("instance %s: its record's probes: %s", id, err);
	probes_restart(e);
	svc_load(e, json_object_get(rec, "service"));
	e->cpu_millis = (unsigned)json_int_at(rec, "cpu_millis", NULL, 0);
	snprintf(e->subnet, sizeof(e->subnet), "%s",
	    json_str_at(rec, "subnet", NULL) ?: "");
	snprintf(e->id, sizeof(e->id), "%s", id);
	snprintf(e->tenant, sizeof(e->tenant), "%s",
	    json_str_at(item, "metadata", "tenant"));
	snprintf(e->name, sizeof(e->name), "%s",
	    json_str_at(item, "metadata", "name"));
	/* What was reported for this runtime id survives an agent
	 * restart: restart count, run start, address. */
	if (json_str_at(st, "runtime_id", NULL) &&
	    strcmp(json_str_at(st, "runtime_id", NULL), id) == 0) {
		e->restarts = (unsigned)json_int_at(st, "restarts", NULL, 0);
		snprintf(e->started, sizeof(e->started), "%s",
		    json_str_at(st, "started", NULL) ?: "");
		snprintf(e->address, sizeof(e->address), "%s",
		    json_str_at(st, "address", NULL) ?: "");
		snprintf(e->phase, sizeof(e->phase), "%s",
		    json_str_at(st, "phase", NULL) ?: "");
		snprintf(e->event, sizeof(e->event), "%s",
		    json_str_at(st, "last_event", NULL) ?: "");
		e->ready = json_is_true(json_object_get(st, "ready"));
	}
	e->started_at = time(NULL);
	e->next = ar->insts;
	ar->insts = e;
	return e;
}

static void
set_state(struct ar_inst *e, const char *phase, const char *message,
    const char *fmt, ...) _printf_(4, 5);

static void
set_state(struct ar_inst *e, const char *phase, const char *message,
    const char *fmt, ...)
{
	va_list ap;

	snprintf(e->phase, sizeof(e->phase), "%s", phase);
	snprintf(e->message, sizeof(e->message), "%s", message ? message : "");
	va_start(ap, fmt);
	vsnprintf(e->event, sizeof(e->event), fmt, ap);
	va_end(ap);
}

static unsigned
backoff(struct agent_run *ar, struct ar_inst *e)
{
	unsigned max = ar->c.backoff_max_s ? ar->c.backoff_max_s : 60;
	unsigned d = e->streak >= 6 ? max : 1u << e->streak;

	e->streak++;
	return d < max ? d : max;
}

static char *policy_of(struct agent_run *ar, const json_t *item,
    json_t *cache);

/* Starts instance E (not created yet, or a start that failed). */
static void
reconcile_start(struct agent_run *ar, const json_t *item, struct ar_inst *e,
    const char *id, time_t now)
{
	_cleanup_free_ char	*err = NULL;
	double			 t0 = bw_mono_s();
	int			 r;

	e->exited = false;
	if ((r = inst_start(ar, item, e, &err)) < 0) {
		unsigned d = backoff(ar, e);

		e->next_try = now + d;
		set_state(e, "Failed", err ? err : bw_strerror(r),
		    "start failed; retry in %u s", d);
		log_warn("instance %s/%s: start failed: %s", e->tenant,
		    e->name, err ? err : bw_strerror(r));
		return;
	}
	e->start_s = bw_mono_s() - t0;
	bw_time_rfc3339_at(e->started, sizeof(e->started), now);
	e->started_at = now;
	e->exit_handled = e->final = false;
	probes_restart(e);
	set_state(e, "Running", NULL, "started%s%s", e->vol_event[0] ? "; " :
	    "", e->vol_event);
	log_info("instance %s/%s started as %s", e->tenant, e->name, id);
	ar->changes++;
}

/* Records the first sight of E's exit and decides what follows: a
 * restart after a back-off, or an end for good. */
static void
reconcile_exited(struct agent_run *ar, const json_t *item, struct ar_inst *e,
    const struct runtime_status *st, time_t now, json_t *policies)
{
	_cleanup_free_ char	*policy = NULL;
	const json_t		*cur = json_object_get(item, "status");
	char			 how[AR_EXIT_TEXT_MAX];

	e->exited = true;
	e->exit_code = st->exit_code;
	e->signal = st->signal;
	e->oom = st->oom_killed;
	exit_text(e, how, sizeof(how));
	if (now - e->started_at >= AR_STABLE_S)
		e->streak = 0;
	e->exit_handled = true;
	/* Already reported as ended for good by an earlier agent. */
	if (json_str_at(cur, "phase", NULL) &&
	    (strcmp(json_str_at(cur, "phase", NULL), "Succeeded") == 0 ||
	    strcmp(json_str_at(cur, "phase", NULL), "Failed") == 0) &&
	    strcmp(e->phase, "Running") != 0 &&
	    e->event[0]) {
		e->final = true;
		return;
	}
	if (st->start_failed) {
		unsigned d = backoff(ar, e);

		e->next_try = now + d;
		set_state(e, "Failed", "the runtime could not start it "
		    "(see the log)", "start failed; retry in %u s", d);
	} else if (want_restart((policy = policy_of(ar, item, policies)),
	    e)) {
		unsigned d = backoff(ar, e);

		e->next_try = now + d;
		set_state(e, "Starting", NULL, "%s: %s; restart %u in %u s",
		    e->oom ? "OOM killed" : "ended", how, e->restarts + 1,
		    d);
	} else {
		e->final = true;
		if (e->oom)
			set_state(e, "Failed", NULL, "OOM killed");
		else
			set_state(e, !e->signal && e->exit_code == 0 ?
			    "Succeeded" : "Failed", NULL, "ended: %s", how);
	}
	log_info("instance %s/%s ended: %s", e->tenant, e->name, how);
	ar->changes++;
}

/* Restarts exited instance E once its back-off has passed. */
static void
reconcile_restart(struct agent_run *ar, struct ar_inst *e, const char *id,
    time_t now)
{
	_cleanup_free_ char	*err = NULL;
	char			 how[AR_EXIT_TEXT_MAX];
	int			 r;

	exit_text(e, how, sizeof(how));
	if ((r = runtime_restart(ar->rt, id, &err)) < 0) {
		unsigned d = backoff(ar, e);

		e->next_try = now + d;
		set_state(e, "Failed", err ? err : bw_strerror(r),
		    "restart failed; retry in %u s", d);
		log_warn("instance %s/%s: restart failed: %s", e->tenant, e->name,
		    err ? err : bw_strerror(r));
		return;
	}
	e->restarts++;
	e->exited = e->exit_handled = false;
	e->started_at = now;
	bw_time_rfc3339_at(e->started, sizeof(e->started), now);
	set_state(e, "Running", NULL, "restarted after %s", how);
	probes_restart(e);
	log_info("instance %s/%s restarted after %s (restart %u)", e->tenant,
	    e->name, how, e->restarts);
	ar->changes++;
}

/* Whether ITEM's workload is autoscaled, cached per pass in CACHE (the
 * caller's, shared with policy_of() under keys of their own). */
static bool
autoscaled(struct agent_run *ar, const json_t *item, json_t *cache)
{
	_cleanup_json_ json_t	*wl = NULL;
	_cleanup_free_ char	*err = NULL;
	const char		*w = json_str_at(item, "spec", "workload");
	const json_t		*on;
	char			 key[160], path[256];

	if (!is_label(w))
		return false;
	snprintf(key, sizeof(key), "autoscale %s/%s",
	    json_str_at(item, "metadata", "tenant"), w);
	if (!(on = json_object_get(cache, key))) {
		int r;

		snprintf(path, sizeof(path), "/v1/tenants/%s/workloads/%s",
		    json_str_at(item, "metadata", "tenant"), w);
		r = api_get(ar, path, &wl, &err);
		/* Only an answer is kept (the workload, or none): a failed
		 * request is asked again next time. */
		if (r < 0 && r != -BW_E_NOTFOUND)
			return false;
		json_object_set_new(cache, key, json_boolean(r == 0 &&
		    json_is_object(json_object_get(json_object_get(wl,
		    "spec"), "autoscale"))));
		on = json_object_get(cache, key);
	}
	return json_is_true(on);
}

/* Samples running E's CPU counter once per interval; the usage since
 * the sample before, in percent of its request, goes into its status
 * when its workload is autoscaled (the autoscaler's input). */
static void
cpu_sample(struct agent_run *ar, struct ar_inst *e, const json_t *item,
    json_t *cache)
{
	unsigned	 every = ar->c.cpu_interval_s ? ar->c.cpu_interval_s : 15;
	double		 now = bw_mono_s(), cpus;
	uint64_t	 usec;

	if (e->cpu_at > 0 && now - e->cpu_at < every)
		return;
	if (runtime_cpu_usage(ar->rt, e->id, &usec) < 0) {
		e->cpu_valid = false;
		e->cpu_at = 0;
		return;
	}
	if (!autoscaled(ar, item, cache))
		e->cpu_valid = false;
	else if (e->cpu_at > 0 && usec >= e->cpu_usec) {
		/* A counter that went back (a new cgroup) waits for
		 * the next sample. */
		cpus = e->cpu_millis ? e->cpu_millis / 1000.0 : 1.0;
		e->cpu_pct = (long)((double)(usec - e->cpu_usec) /
		    ((now - e->cpu_at) * 1e6 * cpus) * 100.0 + 0.5);
		e->cpu_valid = true;
	}
	e->cpu_usec = usec;
	e->cpu_at = now;
}

static void
reconcile_one(struct agent_run *ar, const json_t *item, const char *id,
    json_t *policies)
{
	_cleanup_free_ char	*err = NULL;
	struct runtime_status	 st;
	struct ar_inst		*e = inst_find(ar, id);
	time_t			 now = time(NULL);
	int			 r;

	if (!e && !(e = inst_adopt(ar, item, id)))
		return;
	e->seen = true;
	if (e->gone)
		return;
	r = runtime_status(ar->rt, id, &st, &err);
	if (r == -BW_E_NOTFOUND) {
		/* Not created yet, or a start that failed: (re)try when
		 * the back-off allows. */
		if (now >= e->next_try)
			reconcile_start(ar, item, e, id, now);
		goto out;
	}
	if (r < 0) {
		log_warn("instance %s/%s: runtime status: %s", e->tenant, e->name,
		    err ? err : bw_strerror(r));
		return;
	}
	if (st.phase == RUNTIME_RUNNING) {
		if (strcmp(e->phase, "Running") != 0) {
			/* Found running by an agent that did not start it. */
			if (!e->started[0])
				bw_time_rfc3339_at(e->started,
				    sizeof(e->started), now);
			set_state(e, "Running", NULL, "adopted by a restarted "
			    "agent (still running)");
			log_info("instance %s/%s: adopted running %s", e->tenant,
			    e->name, id);
		}
		e->exited = false;
		cpu_sample(ar, e, item, policies);
		/* Stopped by its liveness probe: its exit is handled now
		 * if it was quick, else by the next pass (the stop's wait
		 * is the pass's, stops_finish()), with the probe as the
		 * reason. */
		if (probes_tick(ar, e) != 1 ||
		    runtime_status(ar->rt, id, &st, NULL) < 0 ||
		    st.phase == RUNTIME_RUNNING)
			goto out;
	}
	probe_cancel(&e->live.run);
	probe_cancel(&e->ready_probe.run);
	e->cpu_valid = false;
	e->cpu_at = 0;
	if (!e->exit_handled)
		reconcile_exited(ar, item, e, &st, now, policies);
	else if (!e->final && now >= e->next_try)
		reconcile_restart(ar, e, id, now);
out:
	report(ar, item, e);
}

/* ---- the pass ---- */

static bool
bound_here(struct agent_run *ar, const json_t *item, const char **ret_id)
{
	const char *node = json_str_at(item, "spec", "node");
	const char *uid = json_str_at(item, "metadata", "uid");

	if (!node || strcmp(node, ar->node) != 0 || !uid ||
	    runtime_check_id(uid, NULL) < 0 ||
	    !is_label(json_str_at(item, "metadata", "tenant")) ||
	    !is_label(json_str_at(item, "metadata", "name")))
		return false;
	*ret_id = uid;
	return true;
}

static const json_t *
desired_find(struct agent_run *ar, const json_t *items, const char *id)
{
	const json_t	*item;
	const char	*uid;
	size_t		 i;

	json_array_foreach(items, i, item)
		if (bound_here(ar, item, &uid) && strcmp(uid, id) == 0)
			return item;
	return NULL;
}

/* The restart policy of ITEM's workload, cached per pass by the caller. */
static char *
policy_of(struct agent_run *ar, const json_t *item, json_t *cache)
{
	_cleanup_json_ json_t	*wl = NULL;
	_cleanup_free_ char	*err = NULL;
	const char		*t = json_str_at(item, "metadata", "tenant");
	const char		*w = json_str_at(item, "spec", "workload");
	const json_t		*hit;
	char			 key[160], path[256];
	int			 r;

	if (!is_label(w))
		return NULL;
	snprintf(key, sizeof(key), "%s/%s", t, w);
	if ((hit = json_object_get(cache, key)))
		return json_string_value(hit) ? strdup(json_string_value(hit)) :
		    NULL;
	snprintf(path, sizeof(path), "/v1/tenants/%s/workloads/%s", t, w);
	if ((r = api_get(ar, path, &wl, &err)) < 0) {
		/* Only an answer is kept (no such workload): a failed
		 * request is asked again next time. */
		if (r == -BW_E_NOTFOUND)
			json_object_set_new(cache, key, json_null());
		return NULL;
	}
	json_object_set_new(cache, key, json_string(json_str_at(wl, "spec",
	    "restart_policy") ?: "always"));
	return strdup(json_str_at(wl, "spec", "restart_policy") ?: "always");
}

/* Reports the node-level view (accelerator, instance count, the last
 * removal) in the Node's status when it changed. The Node's other status
 * members are the control plane's; they are sent back as read. */
static void
report_node(struct agent_run *ar)
{
	_cleanup_json_ json_t	*node = NULL, *want = NULL, *reply = NULL;
	_cleanup_free_ char	*err = NULL;
	json_t			*agent;
	char			 path[160];
	int			 status;

	snprintf(path, sizeof(path), "/v1/nodes/%s", ar->node);
	if (api_get(ar, path, &node, &err) < 0)
		return;
	want = json_deep_copy(json_object_get(node, "status"));
	if (!json_is_object(want)) {
		json_decref(want);
		want = json_object();
	}
	agent = json_pack("{s:s, s:I}", "accelerator",
	    runtime_accel(ar->rt) == RUNTIME_ACCEL_KVM ? "kvm" : "tcg",
	    "instances", (json_int_t)agent_run_count(ar));
	if (!want || !agent) {
		json_decref(agent);
		return;
	}
	if (ar->node_event[0])
		json_object_set_new(agent, "last_event", json_string(ar->node_event));
	else if (json_str_at(want, "agent", "last_event"))
		json_object_set_new(agent, "last_event",
		    json_string(json_str_at(want, "agent", "last_event")));
	if (json_equal(agent, json_object_get(want, "agent"))) {
		json_decref(agent);
		return;
	}
	json_object_set_new(want, "agent", agent);
	snprintf(path, sizeof(path), "/v1/nodes/%s/status", ar->node);
	free(err);
	err = NULL;
	if (api(ar, "PUT", path, want, &status, &reply, &err) < 0 ||
	    status != 200)
		log_warn("node status report failed: %s", err ? err :
		    reply ? client_error_message(reply, "(no message)") : "error");
}

/* Lists the instances the API binds here, page by page, into
 * *RET_ITEMS (a new array) and the first page's revision into *RET_REV
 * (a change after it wakes the next pass). Returns the number of pages
 * when the list is complete; otherwise a negative error, and
 * *RET_ITEMS holds what the pages before the failed one gave (NULL if
 * none). */
static int
list_instances(struct agent_run *ar, json_t **ret_items,
    unsigned long long *ret_rev, char **ret_err)
{
	_cleanup_json_ json_t	*all = json_array();
	char			 token[AR_CONTINUE_MAX + 1] = "";
	char			 path[AR_CONTINUE_MAX + 64];
	unsigned long long	 rev = 0;
	int			 pages, r = 0;

	if (!all)
		return -ENOMEM;
	for (pages = 0; pages < AR_LIST_PAGES_MAX; pages++) {
		_cleanup_json_ json_t	*page = NULL;
		const json_t		*items, *item;
		const char		*next;
		size_t			 i;

		snprintf(path, sizeof(path), "/v1/instances?limit=%d%s%s",
		    AR_LIST_PAGE, token[0] ? "&continue=" : "", token);
		if ((r = api_get(ar, path, &page, ret_err)) < 0)
			break;
		if (!json_is_array(items = json_object_get(page, "items"))) {
			r = errf(-BW_E_INVALID, ret_err, "GET /v1/instances: "
			    "no items");
			break;
		}
		if (pages == 0)
			rev = (unsigned long long)json_int_at(page,
			    "revision", NULL, 0);
		json_array_foreach(items, i, item)
			if (json_array_append(all, (json_t *)item) < 0) {
				r = -ENOMEM;
				break;
			}
		if (r < 0)
			break;
		next = json_str_at(page, "metadata", "continue");
		if (!next)
			break;
		/* A token is hex; the same token twice would never end. */
		if (strlen(next) > AR_CONTINUE_MAX ||
		    strspn(next, "0123456789abcdef") != strlen(next) ||
		    strcmp(next, token) == 0) {
			r = errf(-BW_E_INVALID, ret_err, "GET /v1/instances: "
			    "a continue token that is not one");
			break;
		}
		snprintf(token, sizeof(token), "%s", next);
	}
	if (r == 0 && pages == AR_LIST_PAGES_MAX)
		r = errf(-BW_E_TOOLARGE, ret_err, "/v1/instances: more than "
		    "%d pages", AR_LIST_PAGES_MAX);
	*ret_rev = rev;
	*ret_items = json_array_size(all) ? TAKE_PTR(all) : NULL;
	return r < 0 ? r : pages + 1;
}

/* What this node has that the API no longer binds here (ITEMS, a
 * complete list): runtime instances, and records without one (a start
 * that died half-way, or a removal that failed after the runtime
 * delete), get their stop request; the kept entries of instances not
 * listed are dropped. */
static void
remove_unbound(struct agent_run *ar, const json_t *items)
{
	char		**ids = NULL, **recs = NULL;
	struct ar_inst	 *e, *next;
	size_t		  i;
	int		  r;

	/* crun's own list (orphans of a create that died) now and then;
	 * the runtime's state directory on every pass. A failure leaves
	 * the removals to the next pass; the bound instances are still
	 * managed. */
	{
		_cleanup_free_ char *err = NULL;

		if ((r = time(NULL) >= ar->next_full_list ?
		    runtime_list(ar->rt, &ids, &err) :
		    runtime_list_known(ar->rt, &ids, &err)) < 0) {
			log_warn("workloads: listing the runtime's instances: "
			    "%s", err ? err : bw_strerror(r));
			ids = NULL;
		} else if (time(NULL) >= ar->next_full_list)
			ar->next_full_list = time(NULL) + AR_FULL_LIST_S;
	}
	if ((r = rec_list(ar, &recs)) < 0) {
		log_warn("workloads: %s: %s", ar->rec_dir, bw_strerror(r));
		recs = NULL;
	}
	for (int round = 0; round < 2; round++) {
		char **v = round ? recs : ids;

		for (i = 0; v && v[i]; i++) {
			_cleanup_free_ char *err = NULL;

			if (desired_find(ar, items, v[i]) ||
			    (round == 1 && !rec_exists(ar, v[i])))
				continue;
			if ((r = stop_begin(ar, v[i], true, &err)) < 0)
				log_warn("instance %s: removal failed (retried): %s",
				    v[i], err ? err : bw_strerror(r));
		}
	}
	/* All got their stop request; a replacement may attach a volume
	 * one of them holds, so those go before anything starts. The
	 * others are waited for after the starts. */
	stops_finish(ar, true);
	if (ids)
		runtime_list_free(ids);
	if (recs)
		runtime_list_free(recs);
	for (e = ar->insts; e; e = next) {
		next = e->next;
		if (!desired_find(ar, items, e->id))
			inst_drop(ar, e->id);
	}
}

/* A full list read at revision REV. The watch goes on from REV, so the
 * Workload and VolumeSnapshot changes between the last revision watched
 * (or listed) and REV are never seen on it: when REV moved past it, the
 * cached policies go and the snapshots are read in this pass (returns
 * AGENT_RUN_SNAPSHOTS then). The simpler of two ways: a watch revision
 * kept apart from the list's would see those changes again, but only
 * once the watch runs, and a followed log keeps it from running for as
 * long as it is read. A revision gone backwards (a store restored from
 * a snapshot) is taken as it is, and the revisions of this agent's own
 * writes are forgotten (the same numbers will name other changes). */
static unsigned
list_moved(struct agent_run *ar, unsigned long long rev)
{
	if (rev == 0 || rev == ar->list_rev)
		return 0;
	if (rev < ar->list_rev) {
		memset(ar->own_revs, 0, sizeof(ar->own_revs));
		ar->own_next = 0;
	}
	ar->list_rev = rev;
	if (ar->wl_cache)
		json_object_clear(ar->wl_cache);
	return AGENT_RUN_SNAPSHOTS;
}

int
agent_run_pass(struct agent_run *ar, agent_run_http_fn http, void *ctx,
    unsigned what, char **ret_err)
{
	_cleanup_json_ json_t	*items = NULL;
	_cleanup_free_ char	*list_err = NULL;
	const json_t		*item;
	struct ar_inst		*e;
	unsigned long long	 rev = 0;
	const char		*id;
	double			 t0;
	size_t			 i;
	int			 listed;
	json_t			*policies;

	/* what a cancelled probe left to reap (probe_cancel()) */
	(void)probe_strays_reap();
	/* A status write refused as for an instance no longer here: the
	 * kept list is stale. Not again within AR_LIST_RETRY_S of a failed
	 * list: the API may be down (or refuse this node), and each try is a
	 * new handshake. */
	if (ar->list_due && (ar->list_failed_s == 0 ||
	    bw_mono_s() - ar->list_failed_s >= AR_LIST_RETRY_S))
		what |= AGENT_RUN_LIST;
	if ((what & AGENT_RUN_GC) || !ar->wl_cache) {
		json_decref(ar->wl_cache);
		if (!(ar->wl_cache = json_object()))
			return -ENOMEM;
	}
	policies = ar->wl_cache;
	ar->http = http;
	ar->ctx = ctx;
	ar->changes = 0;
	ar->node_event[0] = '\0';
	if (!(what & AGENT_RUN_LIST) && ar->items) {
		/* The local second: the instances last listed, no request
		 * unless one changed. */
		items = json_incref(ar->items);
		listed = 0;
		for (e = ar->insts; e; e = e->next)
			e->seen = false;
		if (what & AGENT_RUN_SNAPSHOTS)
			snapshots_sync(ar);
		goto reconcile;
	}
	t0 = bw_mono_s() * 1e3;
	listed = list_instances(ar, &items, &rev, &list_err);
	if (listed < 0)
		ar->list_failed_s = bw_mono_s();
	if (listed < 0 && !items) {
		if (!ar->items) {
			if (ret_err)
				*ret_err = TAKE_PTR(list_err);
			return listed;
		}
		/* No list: the instances last listed are still managed
		 * (exits, restarts, probes), as in the local second; the
		 * ones a refused status write marked gone stay alone. */
		items = json_incref(ar->items);
		for (e = ar->insts; e; e = e->next)
			e->seen = false;
		goto reconcile;
	}
	if (!items && !(items = json_array()))
		return -ENOMEM;
	log_debug("instances listed in %d page(s) in %.1f ms: %zu",
	    listed < 0 ? -1 : listed, bw_mono_s() * 1e3 - t0,
	    json_array_size(items));
	for (e = ar->insts; e; e = e->next)
		e->seen = false;

	if (listed < 0) {
		/* Part of the list: the instances it names are managed,
		 * nothing is removed (what is missing may be bound here). */
		log_warn("workloads: the instance list ended early (%s); "
		    "managing the %zu instances read, removing none",
		    list_err ? list_err : bw_strerror(listed),
		    json_array_size(items));
		/* what the part names is here after all */
		json_array_foreach(items, i, item)
			if (bound_here(ar, item, &id) &&
			    (e = inst_find(ar, id)))
				e->gone = false;
		goto reconcile;
	}
	what |= list_moved(ar, rev);
	ar->list_due = false;
	for (e = ar->insts; e; e = e->next)
		e->gone = false;	/* what is still listed is here */
	json_decref(ar->items);
	ar->items = json_incref(items);

	remove_unbound(ar, items);
	if (what & AGENT_RUN_GC)
		volumes_gc(ar);
	if (what & AGENT_RUN_SNAPSHOTS)
		snapshots_sync(ar);

reconcile:
	/* One instance's failure is its own (reconcile_one logs it and
	 * reports it in its status); the others are managed regardless. */
	json_array_foreach(items, i, item)
		if (bound_here(ar, item, &id))
			reconcile_one(ar, item, id, policies);
	/* removals and liveness stops: one grace period for all */
	stops_finish(ar, false);
	ar->nstops = 0;
	services_sync(ar);
	if (ar->changes)
		report_node(ar);
	if (listed < 0) {
		if (ret_err)
			*ret_err = TAKE_PTR(list_err);
		return listed;
	}
	return ar->changes;
}

/* ---- setup ---- */

int
agent_run_open(const struct agent_run_config *c, struct agent_run **ret,
    char **ret_err)
{
	struct runtime_config	 rc = { 0 };
	_cleanup_free_ char	*trust = NULL;
	struct agent_run	*ar;
	int			 r;

	if (!c->node || !is_label(c->node) || !c->state_dir || !c->image_store ||
	    c->image_store[0] != '/')
		return errf(-BW_E_INVALID, ret_err, "agent run: node, state "
		    "directory and an absolute image store are required");
	if (!(ar = calloc(1, sizeof(*ar))))
		return -ENOMEM;
	ar->c = *c;
	if (!(ar->node = strdup(c->node)) ||
	    !(ar->state_dir = strdup(c->state_dir)) ||
	    asprintf(&ar->rec_dir, "%s/workloads", c->state_dir) < 0 ||
	    asprintf(&ar->subnets_path, "%s/subnets.json", c->state_dir) < 0 ||
	    (c->runtime_dir ? !(ar->rt_dir = strdup(c->runtime_dir)) :
	    asprintf(&ar->rt_dir, "%s/instances", c->state_dir) < 0) ||
	    (c->cni_dir ? !(ar->cni_dir = strdup(c->cni_dir)) :
	    asprintf(&ar->cni_dir, "%s/cni", c->state_dir) < 0) ||
	    (c->vm_kernel && !(ar->vm_kernel = strdup(c->vm_kernel))) ||
	    (c->vm_initrd && !(ar->vm_initrd = strdup(c->vm_initrd))) ||
	    (c->vm_cmdline && !(ar->vm_cmdline = strdup(c->vm_cmdline))) ||
	    (c->image_trust ? !(trust = strdup(c->image_trust)) :
	    asprintf(&trust, "%s/trust", c->image_store) < 0)) {
		r = -ENOMEM;
		goto fail;
	}
	ar->c.node = ar->node;
	ar->c.state_dir = ar->state_dir;
	if ((r = mkdir_p(ar->rec_dir, 0700)) < 0) {
		r = errf(r, ret_err, "%s: %s", ar->rec_dir, bw_strerror(r));
		goto fail;
	}
	rc.state_dir = ar->rt_dir;
	rc.run_dir = c->run_dir;
	rc.cgroup_parent = c->cgroup_parent;
	if ((r = logs_push_new(&ar->logs)) < 0 ||
	    (r = runtime_open(&rc, &ar->rt, ret_err)) < 0 ||
	    (r = image_store_open(c->image_store, trust, NULL, &ar->images,
	    ret_err)) < 0)
		goto fail;
	ar->cni.state_dir = ar->cni_dir;
	if (c->cni_plugins && !(ar->cni.plugin_dir = strdup(c->cni_plugins))) {
		r = -ENOMEM;
		goto fail;
	}
	/* Borrowed strings are not kept. */
	ar->c.run_dir = ar->c.cgroup_parent = NULL;
	ar->c.image_store = ar->c.image_trust = ar->c.runtime_dir = NULL;
	ar->c.cni_dir = ar->c.cni_plugins = NULL;
	ar->c.vm_kernel = ar->c.vm_initrd = ar->c.vm_cmdline = NULL;
	*ret = ar;
	return 0;
fail:
	agent_run_free(ar);
	return r;
}

void
agent_run_free(struct agent_run *ar)
{
	struct ar_inst *e;

	if (!ar)
		return;
	while ((e = ar->insts)) {
		ar->insts = e->next;
		inst_free(e);
	}
	runtime_free(ar->rt);
	image_store_free(ar->images);
	free((char *)ar->cni.plugin_dir);
	free(ar->node);
	free(ar->state_dir);
	free(ar->rec_dir);
	free(ar->subnets_path);
	free(ar->rt_dir);
	free(ar->cni_dir);
	free(ar->vm_kernel);
	free(ar->vm_initrd);
	free(ar->vm_cmdline);
	free(ar->svc_text);
	logs_push_free(ar->logs);
	free(ar->stops);
	json_decref(ar->items);
	json_decref(ar->wl_cache);
	free(ar);
}
