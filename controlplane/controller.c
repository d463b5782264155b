#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "controlplane/autoscale.h"
#include "controlplane/controller.h"
#include "controlplane/model.h"
#include "controlplane/resource.h"
#include "controlplane/sched.h"
#include "hardening/crypto.h"
#include "lib/b64.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/hist.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/log.h"

#define CTL_REASON_MAX	480
#define CTL_DIRTY_WL_MAX	64	/* workloads a pass reconciles alone */

/* A workload whose Workload or Instances changed: the next pass
 * reconciles it (its missing replicas, its instances from index
 * replicas up to scan_to, its rolling update) rather than every one. */
struct ctl_dirty_wl {
	char	tenant[64], name[64];
	long	scan_to;
};

struct controller {
	struct event_base	*base;
	struct store		*st;
	struct committer	*commit;
	struct controller_options o;
	struct event		*pass_ev;	/* one-shot, made active to run a pass */
	struct event		*resync_ev;
	struct hist		 placement_ns;	/* each sched_place() */
	unsigned		 inflight;
	int			 dirty;
	int			 detached;	/* no new passes */
	struct controller_stats	 stats;
	struct autoscaler	*as;		/* spec.replicas of autoscaled workloads */
	/* What a pass reads: the model of the store (rebuilt when
	 * !model_ok) and the scheduler's view of it (rebuilt from the
	 * model when sc_stale), both fed by the keys each batch wrote. */
	struct model		*m;
	int			 model_ok;
	struct sched_cluster	*sc;
	int			 sc_stale;
	size_t			 orphans;	/* bound to nodes sc lacks */
	int			 wl_dirty;	/* reconcile the workloads: */
	int			 wl_all;	/* all of them, or */
	struct ctl_dirty_wl	 dirty_wl[CTL_DIRTY_WL_MAX];	/* these */
	size_t			 ndirty_wl;
	int			 sched_dirty;	/* try the pending instances */
	int			 evict_dirty;	/* unbind those on lost nodes */
	int			 unobserved;	/* ours completed, not yet fed */
	/* A pass's changes, queued together when it ends (the committer
	 * then takes them in as few batches as it can: one flush of the
	 * store for hundreds of placements, each with its own record). */
	int			 staging;
	struct commit_req	**staged;
	size_t			 nstaged, cap_staged;
};

/* The kinds the model keeps, in this order. */
enum { K_NODE, K_WORKLOAD, K_INSTANCE, K_VOLUME, K_SNAPSHOT };
static const char *const model_kinds[] = { "Node", "Workload", "Instance",
	"Volume", "VolumeSnapshot" };

/* One change a pass submits; owns its strings until done() runs. */
struct ctl_op {
	struct commit_req	 creq;		/* first: the pipeline hands it back */
	struct controller	*c;
	char			 key[RES_KEY_MAX];
	char			*value;
	json_t			*doc;		/* what value holds, for the model */
	char			 action[48];
	char			 actor[48];
	char			 tenant[64], name[64];
	char			 reason[CTL_REASON_MAX];
	int			 kind;		/* what to count on success */
};

enum { CTL_CREATED, CTL_DELETED, CTL_SCHEDULED, CTL_UNSCHEDULABLE,
	CTL_VOLUME_BOUND, CTL_WORKLOAD };

/* ---- submitting changes ---- */

static void schedule_pass(struct controller *c);
static void model_changed(struct controller *c, struct model_change *ch);

/* OP was refused: what the pass assumed of it did not happen. A
 * placement was bound in sc ahead of its commit; a deletion marked
 * its instance. */
static void
refused(struct controller *c, const struct ctl_op *op)
{
	struct model_obj *o = c->m ? model_get(c->m, op->key) : NULL;

	if (o)
		o->mark = 0;
	if (op->kind == CTL_SCHEDULED)
		c->sc_stale = 1;
	/* A refused eviction must be tried again: nothing else sets
	 * evict_dirty while the lost node stays silent. */
	if (op->kind == CTL_UNSCHEDULABLE)
		c->evict_dirty = 1;
	c->dirty = c->wl_dirty = c->wl_all = c->sched_dirty = 1;
}

/* OP's write is durable: the model takes the document it wrote with
 * its revision now, as the observer would read it back from the store
 * (which then costs one store read and no parse: at 5,000 nodes, parsing
 * the controller's own writes again took 14% of the event loop in a
 * rollout of 10,000 instances). */
static void
model_learn(struct controller *c, struct ctl_op *op)
{
	struct model_change	 ch;
	int			 r;

	/* A detached controller (its replica no longer leads) only lets
	 * its writes in flight complete: feeding them to its model would
	 * have model_changed() decide and submit new writes. */
	if (c->detached || !op->doc || !c->model_ok ||
	    op->creq.op.type != STORE_OP_PUT)
		return;
	r = model_set(c->m, op->key, op->doc, op->creq.op.rev, &ch);
	op->doc = NULL;		/* model_set() took it */
	if (r == -ENOENT)
		return;
	if (r < 0) {
		c->model_ok = 0;
		return;
	}
	model_changed(c, &ch);
}

static void
op_done(struct commit_req *creq)
{
	struct ctl_op		*op = (struct ctl_op *)creq;
	struct controller	*c = op->c;

	c->inflight--;
	c->unobserved = 1;
	if (creq->result == 0) {
		switch (op->kind) {
		case CTL_CREATED: c->stats.created++; break;
		case CTL_DELETED: c->stats.deleted++; break;
		case CTL_SCHEDULED: c->stats.scheduled++; break;
		case CTL_UNSCHEDULABLE: c->stats.unschedulable++; break;
		}
		model_learn(c, op);
	} else {
		/* A conflict means someone changed the object meanwhile:
		 * the next pass sees the new state and decides again. */
		c->stats.errors++;
		if (creq->result != -BW_E_CONFLICT && creq->result != -BW_E_EXISTS &&
		    creq->result != -BW_E_NOTFOUND)
			log_warn("controller: %s %s/%s failed: %s", op->action,
			    op->tenant, op->name, bw_strerror(creq->result));
		refused(c, op);
	}
	json_decref(op->doc);
	free(op->value);
	free(op);
	/* The next pass starts from committed(), which runs after this
	 * batch's completions once the model has its changes. */
}

/* Queues REQ for the committer, at the end of the pass when one runs. */
static void
stage(struct controller *c, struct commit_req *req)
{
	if (c->staging && c->nstaged == c->cap_staged) {
		size_t			 cap = c->cap_staged ? 2 * c->cap_staged : 256;
		struct commit_req	**v = reallocarray(c->staged, cap,
		    sizeof(*v));

		if (!v) {
			commit_submit(c->commit, req);	/* alone, still right */
			return;
		}
		c->staged = v;
		c->cap_staged = cap;
	}
	if (c->staging)
		c->staged[c->nstaged++] = req;
	else
		commit_submit(c->commit, req);
}

/* Queues the changes the pass staged, all under one lock. */
static void
stage_flush(struct controller *c)
{
	c->staging = 0;
	commit_submit_many(c->commit, c->staged, c->nstaged);
	c->nstaged = 0;
}

/* Submits a change of object NAME of kind KNAME in TENANT. */
static int
submit_kind(struct controller *c, const char *kname, const char *actor,
    const char *action, int kind, const char *tenant, const char *name,
    enum store_op_type type, json_t *doc, uint64_t expect_rev,
    const char *reason)
{
	const struct res_kind	*k = res_kind_by_name(kname);
	struct ctl_op		*op;

	if (!(op = calloc(1, sizeof(*op))))
		return -ENOMEM;
	op->c = c;
	op->kind = kind;
	snprintf(op->actor, sizeof(op->actor), "%s", actor);
	snprintf(op->action, sizeof(op->action), "%s", action);
	snprintf(op->tenant, sizeof(op->tenant), "%s", tenant);
	snprintf(op->name, sizeof(op->name), "%s", name);
	snprintf(op->reason, sizeof(op->reason), "%s", reason ? reason : "");
	if (res_key(k, tenant, name, op->key, sizeof(op->key)) < 0)
		goto fail;
	if (doc) {
		json_object_del(json_object_get(doc, "metadata"), "revision");
		if (!(op->value = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS)))
			goto fail;
		op->doc = json_incref(doc);	/* callers drop theirs unchanged */
	}
	op->creq.op = (struct store_op){ .type = type, .key = op->key,
	    .value = op->value, .value_len = op->value ? strlen(op->value) : 0,
	    .expect_rev = expect_rev };
	op->creq.rec = (struct audit_record){ .actor = op->actor,
	    .role = "system", .tenant = RES_SYSTEM_TENANT, .source = "local",
	    .auth_method = "internal", .action = op->action,
	    .object_kind = k->kind, .object_tenant = op->tenant,
	    .object_name = op->name,
	    .reason = op->reason[0] ? op->reason : NULL,
	    .controls = "CM-8,CM-3,AU-12" };
	op->creq.done = op_done;
	c->inflight++;
	stage(c, &op->creq);
	return 0;
fail:
	json_decref(op->doc);
	free(op->value);
	free(op);
	return -ENOMEM;
}

static int
submit(struct controller *c, const char *actor, const char *action, int kind,
    const char *tenant, const char *name, enum store_op_type type,
    json_t *doc, uint64_t expect_rev, const char *reason)
{
	return submit_kind(c, "Instance", actor, action, kind, tenant, name,
	    type, doc, expect_rev, reason);
}

/* ---- workload controller ---- */

static void
instance_name(const char *workload, long idx, char *buf, size_t len)
{
	/* replicas are at most 1000, so the index has at most 4 digits */
	snprintf(buf, len, "%.*s-%d", CONTROLLER_WORKLOAD_PREFIX_MAX, workload,
	    (int)(idx % 10000));
}

/* Returns the replica index encoded in instance NAME of WORKLOAD, or
 * -ENOENT when NAME is not one of WORKLOAD's instances. */
static long
instance_index(const char *workload, const char *name)
{
	size_t	 pl = strlen(workload);
	char	*end;
	long	 idx;

	if (pl > CONTROLLER_WORKLOAD_PREFIX_MAX)
		pl = CONTROLLER_WORKLOAD_PREFIX_MAX;
	if (strncmp(workload, name, pl) != 0 || name[pl] != '-' || !name[pl + 1])
		return -ENOENT;
	idx = strtol(name + pl + 1, &end, 10);
	return *end || idx < 0 ? -ENOENT : idx;
}

/* The fields of a workload's spec that are not part of its template:
 * changing them replaces nothing, and a rollback keeps them. */
static const char *const untemplated[] = { "replicas", "update_strategy",
	"autoscale" };

/* What an instance is made from: the workload's spec but for replicas,
 * update_strategy and autoscale (changing those replaces nothing), as canonical
 * JSON, SHA-256, the first 16 hex digits. */
static int
template_of(const json_t *wdoc, char out[CONTROLLER_TEMPLATE_LEN + 1])
{
	_cleanup_json_ json_t	*spec = json_deep_copy(json_object_get(wdoc,
	    "spec"));
	unsigned char		 d[32];
	char			*text;
	int			 ok;

	if (!spec)
		return -ENOMEM;
	for (size_t i = 0; i < ELEMENTSOF(untemplated); i++)
		json_object_del(spec, untemplated[i]);
	if (!(text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS)))
		return -ENOMEM;
	ok = crypto_digest("SHA256", text, strlen(text), d, sizeof(d), NULL,
	    NULL) == 0;
	free(text);
	if (!ok)
		return -BW_E_CRYPTO;
	hex_encode(d, CONTROLLER_TEMPLATE_LEN / 2, out);
	return 0;
}

/* Instance NAME of workload W, made from W's template TMPL. */
static json_t *
new_instance(const struct model_obj *w, const char *tmpl, const char *name)
{
	char		 uid[BW_UUID_LEN + 1], created[40];
	json_t		*labels, *doc;

	if (bw_uuid_v4(uid) < 0)
		return NULL;
	bw_time_rfc3339(created, sizeof(created), 0);
	labels = json_deep_copy(json_object_get(json_object_get(w->doc,
	    "metadata"), "labels"));
	if (!labels)
		labels = json_object();
	json_object_set_new(labels, CONTROLLER_LABEL_WORKLOAD, json_string(w->name));
	doc = json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:o}, s:{s:s, s:I, s:s}, "
	    "s:{s:s}}", "kind", "Instance",
	    "metadata", "name", name, "tenant", w->tenant, "uid", uid,
	    "created", created, "labels", labels,
	    "spec", "workload", w->name, "generation", (json_int_t)w->rev,
	    "template", tmpl,
	    "status", "phase", "Pending");
	return doc;
}

/* ---- rolling updates ----
 *
 * An update of a workload's template replaces its replicas while at
 * most max_unavailable fewer than spec.replicas of them are ready, with
 * up to max_surge extra replicas of the new template in the surge slots
 * (the indices replicas .. replicas + max_surge - 1, which exist only
 * while an update is under way). The workload's status keeps the last
 * template all of whose replicas were ready ("stable", with its spec)
 * and the update in progress ("rollout"): an update whose count of
 * ready new replicas does not grow within progress_deadline_s is
 * rolled back to the stable spec, and status.rollout says why. Each
 * status change and the rollback are audited workload writes. */

/* update_strategy of a workload, with its defaults. */
struct rollout_opts {
	long	max_unavail;	/* 1, or 0 with a surge */
	long	max_surge;	/* 0 */
	long	deadline_s;	/* CONTROLLER_PROGRESS_DEADLINE_S */
};

/* What rollout() sees of a workload's replica slots. */
struct rollout_view {
	char		 tmpl[CONTROLLER_TEMPLATE_LEN + 1];
	const char	*stable;	/* status.stable.template or NULL */
	long		 replicas, slots;
	long		 ready;		/* ready replicas, any template */
	long		 new_ready;	/* ready replicas of tmpl */
	bool		 complete;	/* slots below replicas all ready, of tmpl */
	size_t		 n_outdated;
	struct model_obj *outdated[CONTROLLER_SLOTS_MAX];
	char		 why[200];	/* a new replica that is not ready */
};

static void
rollout_opts_of(const json_t *wdoc, struct rollout_opts *ret)
{
	const json_t *us = json_object_get(json_object_get(wdoc, "spec"),
	    "update_strategy");

	ret->max_surge = json_int_at(us, "max_surge", NULL, 0);
	ret->max_unavail = json_int_at(us, "max_unavailable", NULL,
	    ret->max_surge > 0 ? 0 : 1);
	ret->deadline_s = json_int_at(us, "progress_deadline_s", NULL,
	    CONTROLLER_PROGRESS_DEADLINE_S);
	/* A volume attaches to one instance at a time: a surge replica
	 * would wait for it, so such a workload is updated in place. */
	if (json_array_size(json_object_get(json_object_get(wdoc, "spec"),
	    "volumes")) > 0) {
		ret->max_surge = 0;
		if (ret->max_unavail < 1)
			ret->max_unavail = 1;
	}
}

/* The surge slots W uses now: max_surge while an update to a template
 * other than the stable one is under way, else none. */
static long
rollout_surge(const struct model_obj *w)
{
	const char		*stable = json_str_at(json_object_get(w->doc,
	    "status"), "stable", "template");
	char			 tmpl[CONTROLLER_TEMPLATE_LEN + 1];
	struct rollout_opts	 o;

	rollout_opts_of(w->doc, &o);
	if (!stable || o.max_surge == 0 || template_of(w->doc, tmpl) < 0 ||
	    strcmp(stable, tmpl) == 0)
		return 0;
	return o.max_surge;
}

/* Why IN, a replica of W's current template, is not ready yet. */
static void
not_ready_why(const struct model_obj *w, const struct model_obj *in,
    const char *phase, char *buf, size_t len)
{
	const json_t *rp = json_object_get(json_object_get(json_object_get(
	    w->doc, "spec"), "probes"), "readiness");
	const char *ev = json_str_at(in->doc, "status", "last_event");
	const char *msg = json_str_at(in->doc, "status", "message");
	char how[96];

	if (json_object_get(rp, "http"))
		snprintf(how, sizeof(how), "http GET :%lld%s",
		    json_int_at(rp, "http", "port", 0),
		    json_str_at(rp, "http", "path") ?: "/");
	else if (json_object_get(rp, "tcp"))
		snprintf(how, sizeof(how), "tcp :%lld",
		    json_int_at(rp, "tcp", "port", 0));
	else if (json_object_get(rp, "exec"))
		snprintf(how, sizeof(how), "exec %.80s", json_string_value(
		    json_array_get(json_object_get(json_object_get(rp, "exec"),
		    "command"), 0)) ?: "");
	else
		how[0] = '\0';
	if (ev && strncmp(ev, "not ready", 9) == 0)
		snprintf(buf, len, "%s: %s", in->name, ev);
	else if (phase && strcmp(phase, "Running") == 0 && how[0])
		snprintf(buf, len, "%s: Running, readiness probe %s has not "
		    "passed", in->name, how);
	else if (phase && strcmp(phase, "Running") == 0)
		snprintf(buf, len, "%s: Running, not ready", in->name);
	else
		snprintf(buf, len, "%s: %s%s%s", in->name, phase ? phase :
		    "not created", msg ? ": " : "", msg ? msg : "");
}

/* Reads W's slots into *V. An outdated instance that serves nothing
 * (not Running, or not ready) is replaced at once; those that serve
 * are left in V->outdated for rollout() to replace within the budget.
 * Instances from before templates were recorded carry none and count
 * as current. */
static void
rollout_scan(struct controller *c, const struct model_obj *w,
    struct rollout_view *v)
{
	char	 name[64], reason[CTL_REASON_MAX];
	long	 idx;

	v->complete = true;
	for (idx = 0; idx < v->slots && idx < CONTROLLER_SLOTS_MAX; idx++) {
		struct model_obj	*in;
		const char	*it, *phase;
		bool		 ready, current;

		instance_name(w->name, idx, name, sizeof(name));
		if (!(in = model_find(c->m, K_INSTANCE, w->tenant, name)) ||
		    in->mark) {
			if (idx < v->replicas && !v->why[0])
				snprintf(v->why, sizeof(v->why), "%s: not made "
				    "yet", name);
			v->complete = v->complete && idx >= v->replicas;
			continue;
		}
		it = json_str_at(in->doc, "spec", "template");
		phase = json_str_at(in->doc, "status", "phase");
		current = !it || strcmp(it, v->tmpl) == 0;
		/* One its readiness probe holds not ready serves nothing
		 * yet (an agent without probes reports no "ready"). */
		ready = phase && strcmp(phase, "Running") == 0 &&
		    !json_is_false(json_object_get(json_object_get(in->doc,
		    "status"), "ready"));
		v->ready += ready;
		v->new_ready += ready && current;
		if (idx < v->replicas && (!ready || !current))
			v->complete = false;
		if (current && !ready && !v->why[0])
			not_ready_why(w, in, phase, v->why, sizeof(v->why));
		if (current)
			continue;
		if (ready) {
			v->outdated[v->n_outdated++] = in;
			continue;
		}
		snprintf(reason, sizeof(reason), "rolling update: template %s "
		    "replaces %s (the old instance was %s)", v->tmpl, it,
		    phase && strcmp(phase, "Running") == 0 ? "not ready" :
		    phase ? phase : "not running");
		in->mark = 1;
		submit(c, "controller/workload", "instance.replace",
		    CTL_DELETED, in->tenant, in->name, STORE_OP_DELETE,
		    NULL, in->rev, reason);
	}
}

/* Writes W with status.rollout set to the object packed from the
 * arguments (and status.stable to STABLE_SPEC's template when given),
 * audited as ACTION with REASON. */
static void
rollout_record(struct controller *c, const struct model_obj *w,
    const struct rollout_view *v, const char *action, const char *state,
    const char *reason, const json_t *stable_spec)
{
	_cleanup_json_ json_t	*doc = json_deep_copy(w->doc);
	json_t			*status, *ro;

	if (!doc)
		return;
	if (!json_is_object(status = json_object_get(doc, "status"))) {
		status = json_object();
		json_object_set_new(doc, "status", status);
	}
	ro = json_pack("{s:s, s:s, s:I, s:I, s:s}", "template", v->tmpl,
	    "state", state, "ready", (json_int_t)v->new_ready,
	    "since", (json_int_t)time(NULL), "message", reason);
	if (ro && v->stable)
		json_object_set_new(ro, "from", json_string(v->stable));
	json_object_set_new(status, "rollout", ro);
	if (stable_spec)
		json_object_set_new(status, "stable", json_pack("{s:s, s:O}",
		    "template", v->tmpl, "spec", stable_spec));
	submit_kind(c, "Workload", "controller/workload", action, CTL_WORKLOAD,
	    w->tenant, w->name, STORE_OP_PUT, doc, w->rev, reason);
}

/* Rolls W back to its stable spec (keeping the untemplated fields). */
static void
rollout_back(struct controller *c, const struct model_obj *w,
    const struct rollout_view *v, const char *reason)
{
	_cleanup_json_ json_t	*doc = json_deep_copy(w->doc);
	const json_t		*stable = json_object_get(json_object_get(
	    json_object_get(w->doc, "status"), "stable"), "spec");
	json_t			*spec, *status, *ro;

	if (!doc || !json_is_object(stable) || !(spec = json_deep_copy(stable)))
		return;
	for (size_t i = 0; i < ELEMENTSOF(untemplated); i++) {
		json_t *keep = json_object_get(json_object_get(w->doc, "spec"),
		    untemplated[i]);

		if (keep)
			json_object_set(spec, untemplated[i], keep);
		else
			json_object_del(spec, untemplated[i]);
	}
	json_object_set_new(doc, "spec", spec);
	status = json_object_get(doc, "status");
	ro = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "template",
	    v->stable, "from", v->tmpl, "state", "RolledBack", "reason",
	    "ProgressDeadlineExceeded", "ready", (json_int_t)v->new_ready,
	    "since", (json_int_t)time(NULL), "message", reason);
	json_object_set_new(status, "rollout", ro);
	submit_kind(c, "Workload", "controller/workload", "workload.rollback",
	    CTL_WORKLOAD, w->tenant, w->name, STORE_OP_PUT, doc, w->rev,
	    reason);
}

/* Keeps W's status.rollout and status.stable in step with *V. Returns
 * 1 when W was rolled back (the next pass replaces its replicas). */
static int
rollout_track(struct controller *c, const struct model_obj *w,
    const struct rollout_opts *o, struct rollout_view *v)
{
	const json_t	*ro = json_object_get(json_object_get(w->doc, "status"),
	    "rollout");
	const char	*rt = json_str_at(ro, "template", NULL);
	const char	*state = json_str_at(ro, "state", NULL);
	bool		 ours = rt && strcmp(rt, v->tmpl) == 0;
	bool		 progressing = ours && state &&
	    strcmp(state, "Progressing") == 0;
	long long	 since = json_int_at(ro, "since", NULL, 0);
	char		 reason[CTL_REASON_MAX];
	_cleanup_json_ json_t *spec = NULL;

	if (v->complete) {
		/* No replicas, nothing rolled out: no status write (and no
		 * copy of the spec in status.stable) until one runs. */
		if (v->replicas == 0)
			return 0;
		/* A rolled back workload keeps saying why. */
		if (v->stable && strcmp(v->stable, v->tmpl) == 0 && !(state &&
		    strcmp(state, "Progressing") == 0))
			return 0;
		if (!(spec = json_deep_copy(json_object_get(w->doc, "spec"))))
			return 0;
		for (size_t i = 0; i < ELEMENTSOF(untemplated); i++)
			json_object_del(spec, untemplated[i]);
		snprintf(reason, sizeof(reason), "rollout of template %s "
		    "complete: %ld of %ld replicas ready", v->tmpl, v->new_ready,
		    v->replicas);
		rollout_record(c, w, v, "workload.rollout-complete", "Complete",
		    reason, spec);
		return 0;
	}
	if (!v->stable || strcmp(v->stable, v->tmpl) == 0)
		return 0;	/* nothing to roll back to, or not an update */
	if (!progressing || v->new_ready > json_int_at(ro, "ready", NULL, 0)) {
		snprintf(reason, sizeof(reason), "rolling update from template "
		    "%s to %s: %ld of %ld new replicas ready (max_surge %ld, "
		    "max_unavailable %ld, progress_deadline_s %ld)", v->stable,
		    v->tmpl, v->new_ready, v->replicas, o->max_surge,
		    o->max_unavail, o->deadline_s);
		rollout_record(c, w, v, progressing ? "workload.rollout-progress" :
		    "workload.rollout-start", "Progressing", reason, NULL);
		return 0;
	}
	if ((long long)time(NULL) - since <= o->deadline_s)
		return 0;
	snprintf(reason, sizeof(reason), "rolled back from template %s to %s: "
	    "no new replica became ready within progress_deadline_s %ld s (%ld "
	    "of %ld ready; %s)", v->tmpl, v->stable, o->deadline_s,
	    v->new_ready, v->replicas, v->why[0] ? v->why : "no reason seen");
	rollout_back(c, w, v, reason);
	return 1;
}

/* Rolling update of W (see above): creates the surge slots an update
 * uses, then deletes outdated serving replicas while the ready count
 * stays at least replicas - max_unavailable; the next pass makes each
 * deleted slot again from the current template. */
static void
rollout(struct controller *c, const struct model_obj *w)
{
	struct rollout_view	*v = calloc(1, sizeof(*v));
	struct rollout_opts	 o;
	char			 name[64], reason[CTL_REASON_MAX];
	long			 idx;
	size_t			 i;

	if (!v || template_of(w->doc, v->tmpl) < 0)
		goto out;
	rollout_opts_of(w->doc, &o);
	v->stable = json_str_at(json_object_get(w->doc, "status"), "stable",
	    "template");
	v->replicas = json_int_at(w->doc, "spec", "replicas", 0);
	v->slots = v->replicas + rollout_surge(w);
	rollout_scan(c, w, v);
	if (rollout_track(c, w, &o, v))
		goto out;
	for (idx = v->replicas; idx < v->slots; idx++) {
		json_t *doc;

		instance_name(w->name, idx, name, sizeof(name));
		if (model_find(c->m, K_INSTANCE, w->tenant, name) ||
		    !(doc = new_instance(w, v->tmpl, name)))
			continue;
		submit(c, "controller/workload", "instance.create", CTL_CREATED,
		    w->tenant, name, STORE_OP_PUT, doc, STORE_REV_ABSENT,
		    "surge replica of a rolling update");
		json_decref(doc);
	}
	for (i = 0; i < v->n_outdated &&
	    v->replicas - v->ready < o.max_unavail; i++) {
		struct model_obj *in = v->outdated[i];

		v->ready--;
		snprintf(reason, sizeof(reason), "rolling update: template %s "
		    "replaces %s (%ld of %ld replicas ready after it, "
		    "max_unavailable %ld)", v->tmpl, json_str_at(in->doc, "spec",
		    "template"), v->ready, v->replicas, o.max_unavail);
		in->mark = 1;
		submit(c, "controller/workload", "instance.replace", CTL_DELETED,
		    in->tenant, in->name, STORE_OP_DELETE, NULL, in->rev, reason);
	}
out:
	free(v);
}

/* Creates the instances workload W lacks. */
static void
create_missing(struct controller *c, const struct model_obj *w)
{
	long	replicas = json_int_at(w->doc, "spec", "replicas", 0);
	char	name[64], tmpl[CONTROLLER_TEMPLATE_LEN + 1];
	int	have_tmpl = 0;

	for (long r = 0; r < replicas; r++) {
		json_t *doc;

		instance_name(w->name, r, name, sizeof(name));
		if (model_find(c->m, K_INSTANCE, w->tenant, name))
			continue;
		/* once per workload, not per instance (a digest of its spec) */
		if (!have_tmpl && template_of(w->doc, tmpl) < 0)
			return;
		have_tmpl = 1;
		if (!(doc = new_instance(w, tmpl, name)))
			continue;
		submit(c, "controller/workload", "instance.create",
		    CTL_CREATED, w->tenant, name, STORE_OP_PUT, doc,
		    STORE_REV_ABSENT, "replica of workload");
		json_decref(doc);
	}
}

static void
delete_extra(struct controller *c, struct model_obj *in, const char *why)
{
	in->mark = 1;
	submit(c, "controller/workload", "instance.delete", CTL_DELETED,
	    in->tenant, in->name, STORE_OP_DELETE, NULL, in->rev, why);
}

static void
reconcile_workloads(struct controller *c)
{
	size_t	nw = model_count(c->m, K_WORKLOAD);
	size_t	ni = model_count(c->m, K_INSTANCE);
	size_t	i;
	long	idx;

	for (i = 0; i < ni; i++)
		model_at(c->m, K_INSTANCE, i)->mark = 0;
	for (i = 0; i < nw; i++)
		create_missing(c, model_at(c->m, K_WORKLOAD, i));
	for (i = 0; i < ni; i++) {
		struct model_obj *in = model_at(c->m, K_INSTANCE, i);
		const char	*wl = json_str_at(in->doc, "spec", "workload");
		struct model_obj *w = wl ? model_find(c->m, K_WORKLOAD, in->tenant,
		    wl) : NULL;
		const char	*why = NULL;

		if (!w)
			why = "its workload no longer exists";
		else if ((idx = instance_index(wl, in->name)) < 0 ||
		    (idx >= json_int_at(w->doc, "spec", "replicas", 0) &&
		    idx >= json_int_at(w->doc, "spec", "replicas", 0) +
		    rollout_surge(w)))
			why = "scaled down";
		if (why)
			delete_extra(c, in, why);
	}
	for (i = 0; i < nw; i++)
		rollout(c, model_at(c->m, K_WORKLOAD, i));
}

/* Reconciles the one workload D names (which may be gone): what
 * reconcile_workloads() does for it, reading only its instances. */
static void
reconcile_workload(struct controller *c, const struct ctl_dirty_wl *d)
{
	struct model_obj	*w = model_find(c->m, K_WORKLOAD, d->tenant,
	    d->name);
	long			 idx = w ? json_int_at(w->doc, "spec",
	    "replicas", 0) + rollout_surge(w) : 0;
	char			 name[64];

	if (w)
		create_missing(c, w);
	for (; idx < d->scan_to && idx < CONTROLLER_SLOTS_MAX; idx++) {
		struct model_obj	*in;
		const char		*wl;

		instance_name(d->name, idx, name, sizeof(name));
		if (!(in = model_find(c->m, K_INSTANCE, d->tenant, name)) ||
		    in->mark || !(wl = json_str_at(in->doc, "spec", "workload")) ||
		    strcmp(wl, d->name) != 0)
			continue;
		delete_extra(c, in, w ? "scaled down" :
		    "its workload no longer exists");
	}
	if (w)
		rollout(c, w);
}

/* Queues workload NAME of TENANT for the next pass, its instances from
 * index replicas to SCAN_TO checked for being extra; all workloads once
 * the queue is full or the workload is not known. */
static void
wl_mark(struct controller *c, const char *tenant, const char *name,
    long scan_to)
{
	struct ctl_dirty_wl	*d;
	size_t			 i;

	c->wl_dirty = 1;
	if (c->wl_all)
		return;
	if (!tenant || !name || strlen(tenant) >= sizeof(d->tenant) ||
	    strlen(name) >= sizeof(d->name) ||
	    c->ndirty_wl == CTL_DIRTY_WL_MAX) {
		c->wl_all = 1;
		return;
	}
	for (i = 0; i < c->ndirty_wl; i++) {
		d = &c->dirty_wl[i];
		if (strcmp(d->name, name) == 0 && strcmp(d->tenant, tenant) == 0) {
			if (scan_to > d->scan_to)
				d->scan_to = scan_to;
			return;
		}
	}
	d = &c->dirty_wl[c->ndirty_wl++];
	snprintf(d->tenant, sizeof(d->tenant), "%s", tenant);
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->scan_to = scan_to;
}

/* Queues the workload instance DOC belongs to (NULL: nothing). */
static void
wl_mark_instance(struct controller *c, const json_t *doc)
{
	const char	*wl = json_str_at(doc, "spec", "workload");
	long		 idx;

	if (!doc)
		return;
	if (!wl || (idx = instance_index(wl, res_name(doc))) < 0)
		c->wl_dirty = c->wl_all = 1;
	else
		wl_mark(c, res_tenant(doc), wl, idx + 1);
}

/* The workload half of a pass: every workload, or those queued. The
 * queue is taken first: a submit refused at once queues everything. */
static void
reconcile_dirty_workloads(struct controller *c)
{
	struct ctl_dirty_wl	 d[CTL_DIRTY_WL_MAX];
	size_t			 n = c->ndirty_wl;
	int			 all = c->wl_all;

	memcpy(d, c->dirty_wl, n * sizeof(d[0]));
	c->wl_dirty = c->wl_all = 0;
	c->ndirty_wl = 0;
	if (all)
		reconcile_workloads(c);
	else
		for (size_t i = 0; i < n; i++)
			reconcile_workload(c, &d[i]);
}

/* ---- scheduler loop ---- */

/* Storage for one request's arrays; everything is freed together. */
struct req_buf {
	struct sched_request	 req;
	char			 id[160];
	struct sched_label	 labels[SCHED_MAX_LABELS];
	struct sched_toleration	 tols[SCHED_MAX_TOLERATIONS];
	struct sched_anti_affinity anti[SCHED_MAX_RULES];
	struct sched_spread	 spread[SCHED_MAX_RULES];
	struct sched_expr	 anti_exprs[SCHED_MAX_RULES][SCHED_MAX_EXPRS];
	const char		*anti_vals[SCHED_MAX_RULES][SCHED_MAX_EXPRS];
	struct sched_term	 term;
	struct sched_expr	 sel_exprs[SCHED_MAX_EXPRS];
	const char		*sel_vals[SCHED_MAX_EXPRS];
};

static enum sched_topology
topology(const char *s)
{
	if (s && strcmp(s, "zone") == 0)
		return SCHED_TOPO_ZONE;
	if (s && strcmp(s, "rack") == 0)
		return SCHED_TOPO_RACK;
	return SCHED_TOPO_NODE;
}

static void
build_request(struct req_buf *b, const struct model_obj *inst, const struct model_obj *w)
{
	const json_t	*spec = w ? json_object_get(w->doc, "spec") : NULL;
	const json_t	*labels = json_object_get(json_object_get(inst->doc,
	    "metadata"), "labels");
	const json_t	*v, *item;
	const char	*k;
	size_t		 i, n;

	memset(b, 0, sizeof(*b));
	snprintf(b->id, sizeof(b->id), "%s/%s", inst->tenant, inst->name);
	b->req.instance = b->id;
	b->req.tenant = inst->tenant;
	b->req.workload = w ? w->name :
	    json_str_at(inst->doc, "spec", "workload");
	n = 0;
	json_object_foreach((json_t *)labels, k, v) {
		if (n == SCHED_MAX_LABELS || !json_is_string(v))
			break;
		b->labels[n++] = (struct sched_label){ k, json_string_value(v) };
	}
	b->req.labels = b->labels;
	b->req.n_labels = n;
	if (!spec)
		return;
	b->req.cpu_millis = json_int_at(spec, "resources", "cpu_millis", 0);
	b->req.memory_mib = json_int_at(spec, "resources", "memory_mib", 0);
	b->req.image = json_str_at(spec, "image", NULL);
	b->req.fips = json_is_true(json_object_get(spec, "fips_required"));
	n = 0;
	json_array_foreach(json_object_get(spec, "tolerations"), i, item) {
		const char *eff = json_str_at(item, "effect", NULL);

		if (n == SCHED_MAX_TOLERATIONS)
			break;
		b->tols[n++] = (struct sched_toleration){
			.key = json_str_at(item, "key", NULL),
			.exists = !json_object_get(item, "value"),
			.value = json_str_at(item, "value", NULL),
			.any_effect = !eff,
			.effect = eff && strcmp(eff, "NoExecute") == 0 ?
			    SCHED_TAINT_NO_EXECUTE : SCHED_TAINT_NO_SCHEDULE,
		};
	}
	b->req.tolerations = b->tols;
	b->req.n_tolerations = n;
	n = 0;
	json_array_foreach(json_object_get(spec, "anti_affinity"), i, item) {
		const json_t	*sel = json_object_get(item, "selector");
		size_t		 e = 0;

		if (n == SCHED_MAX_RULES)
			break;
		b->anti[n].topology = topology(json_str_at(item,
		    "topology_key", NULL));
		if (!sel || json_object_size(sel) == 0)
			b->anti[n].selector.same_workload = true;
		else {
			json_object_foreach((json_t *)sel, k, v) {
				if (e == SCHED_MAX_EXPRS)
					break;
				b->anti_vals[n][e] = json_string_value(v);
				b->anti_exprs[n][e] = (struct sched_expr){ .key = k,
				    .op = SCHED_OP_IN, .values = &b->anti_vals[n][e],
				    .n_values = 1 };
				e++;
			}
			b->anti[n].selector.exprs = b->anti_exprs[n];
			b->anti[n].selector.n_exprs = e;
		}
		n++;
	}
	b->req.anti_affinity = b->anti;
	b->req.n_anti_affinity = n;
	n = 0;
	json_array_foreach(json_object_get(spec, "spread"), i, item) {
		if (n == SCHED_MAX_RULES)
			break;
		b->spread[n++] = (struct sched_spread){
			.topology = topology(json_str_at(item, "topology_key",
			    NULL)),
			.max_skew = (uint32_t)json_int_at(item, "max_skew",
			    NULL, 1),
			.selector = { .same_workload = true },
		};
	}
	b->req.spread = b->spread;
	b->req.n_spread = n;
	n = 0;
	json_object_foreach(json_object_get(spec, "node_selector"), k, v) {
		if (n == SCHED_MAX_EXPRS)
			break;
		b->sel_vals[n] = json_string_value(v);
		b->sel_exprs[n] = (struct sched_expr){ .key = k, .op = SCHED_OP_IN,
		    .values = &b->sel_vals[n], .n_values = 1 };
		n++;
	}
	if (n) {
		b->term = (struct sched_term){ .exprs = b->sel_exprs, .n_exprs = n };
		b->req.affinity = &b->term;
		b->req.n_affinity = 1;
	}
}

static int
add_node(struct sched_cluster *sc, const struct model_obj *node)
{
	struct sched_label	 labels[SCHED_MAX_LABELS];
	struct sched_taint	 taints[SCHED_MAX_TAINTS];
	struct sched_node_spec	 ns = { 0 };
	const json_t		*spec = json_object_get(node->doc, "spec");
	const char		*phase = json_str_at(node->doc, "status",
	    "phase");
	const char		*att = json_str_at(node->doc, "status",
	    "attestation");
	const char		*k;
	const json_t		*v, *item;
	_cleanup_free_ char	*err = NULL;
	size_t			 i, n = 0;
	int			 r;

	ns.name = node->name;
	ns.zone = json_str_at(spec, "zone", NULL);
	ns.rack = json_str_at(spec, "rack", NULL);
	ns.cpu_millis = json_int_at(spec, "capacity", "cpu_millis", 0);
	ns.memory_mib = json_int_at(spec, "capacity", "memory_mib", 0);
	ns.max_instances = (uint32_t)json_int_at(spec, "capacity", "instances",
	    110);
	json_object_foreach(json_object_get(json_object_get(node->doc, "metadata"),
	    "labels"), k, v) {
		if (n == SCHED_MAX_LABELS)
			break;
		labels[n++] = (struct sched_label){ k, json_string_value(v) };
	}
	ns.labels = labels;
	ns.n_labels = n;
	n = 0;
	json_array_foreach(json_object_get(spec, "taints"), i, item) {
		if (n == SCHED_MAX_TAINTS)
			break;
		taints[n++] = (struct sched_taint){
		    json_str_at(item, "key", NULL),
		    json_str_at(item, "value", NULL),
		    strcmp(json_str_at(item, "effect", NULL) ?: "",
		    "NoExecute") == 0 ?
		    SCHED_TAINT_NO_EXECUTE : SCHED_TAINT_NO_SCHEDULE };
	}
	ns.taints = taints;
	ns.n_taints = n;
	/* Only a node its agent reports Ready takes work. */
	ns.phase = phase && strcmp(phase, "Ready") == 0 &&
	    !json_is_true(json_object_get(spec, "unschedulable")) ?
	    SCHED_NODE_READY : SCHED_NODE_NOT_READY;
	if (att && strcmp(att, "Trusted") == 0)
		ns.attestation = SCHED_ATTEST_TRUSTED;
	else if (att && strcmp(att, "Untrusted") == 0)
		ns.attestation = SCHED_ATTEST_UNTRUSTED;
	else
		ns.attestation = SCHED_ATTEST_PENDING;
	ns.fips = json_is_true(json_object_get(json_object_get(node->doc,
	    "status"), "fips"));
	if ((r = sched_node_upsert(sc, &ns, &err)) < 0)
		log_warn("controller: node %s ignored: %s", node->name,
		    err ? err : bw_strerror(r));
	return r;
}

static struct model_obj *
workload_of(struct controller *c, const struct model_obj *in)
{
	const char *wl = json_str_at(in->doc, "spec", "workload");

	return wl ? model_find(c->m, K_WORKLOAD, in->tenant, wl) : NULL;
}

/* Records IN's placement in sc (a node sc lacks makes it an orphan,
 * bound when sc is next rebuilt). */
static void
bind_instance(struct controller *c, struct req_buf *b, const struct model_obj *in)
{
	const char	*node = json_str_at(in->doc, "spec", "node");
	char		 id[sizeof(b->id)];

	if (!node)
		return;
	/* Bound already, which sched_bind() would refuse: our placement,
	 * bound in sc when it was decided, now committed. */
	snprintf(id, sizeof(id), "%s/%s", in->tenant, in->name);
	if (sched_instance_node(c->sc, id))
		return;
	build_request(b, in, workload_of(c, in));
	if (sched_bind(c->sc, &b->req, node, NULL) == -BW_E_NOTFOUND)
		c->orphans++;
}

/* Builds sc from the model: every node, then what is already placed,
 * so aggregates are right. */
static int
rebuild_cluster(struct controller *c)
{
	struct sched_cluster	*sc = NULL;
	struct req_buf		*b;
	size_t			 i;

	if (sched_cluster_new(&sc) < 0 || !(b = malloc(sizeof(*b)))) {
		sched_cluster_free(sc);
		return -ENOMEM;
	}
	sched_cluster_free(c->sc);
	c->sc = sc;
	c->orphans = 0;
	for (i = 0; i < model_count(c->m, K_NODE); i++)
		add_node(sc, model_at(c->m, K_NODE, i));
	for (i = 0; i < model_count(c->m, K_INSTANCE); i++)
		bind_instance(c, b, model_at(c->m, K_INSTANCE, i));
	free(b);
	c->sc_stale = 0;
	return 0;
}

static void node_set(struct controller *c, const char *kname,
    const struct model_obj *o, const char *node, const char *action,
    const char *reason);

/* The volume W's instances use, or NULL. */
static const char *
volume_of(const struct model_obj *w)
{
	return json_str_at(json_array_get(json_object_get(json_object_get(
	    w->doc, "spec"), "volumes"), 0), "volume", NULL);
}

/* Whether IN (of workload W) may be placed as far as its volume goes:
 * 0 with *RET_VOL its volume (NULL: it uses none), or a negative error
 * with the reason in WHY: the volume does not exist, or another
 * instance holds it (a volume attaches to one instance at a time). */
static int
volume_check(struct controller *c, const struct model_obj *in,
    const struct model_obj *w, struct model_obj **ret_vol, char *why,
    size_t len)
{
	const char		*vn = volume_of(w), *on;
	struct model_obj	*v;
	size_t			 i;

	*ret_vol = NULL;
	if (!vn)
		return 0;
	if (!(v = model_find(c->m, K_VOLUME, in->tenant, vn))) {
		snprintf(why, len, "volume %s does not exist", vn);
		return -BW_E_NOTFOUND;
	}
	/* placed in this pass: the model shows it once committed */
	if (v->mark) {
		snprintf(why, len, "volume %s is being attached to another "
		    "instance", vn);
		return -EBUSY;
	}
	for (i = 0; i < model_count(c->m, K_INSTANCE); i++) {
		const struct model_obj *o = model_at(c->m, K_INSTANCE, i);
		const struct model_obj *ow;

		if (o == in || o->mark || strcmp(o->tenant, in->tenant) != 0 ||
		    !json_str_at(o->doc, "spec", "node") ||
		    !(ow = workload_of(c, o)) || !(on = volume_of(ow)) ||
		    strcmp(on, vn) != 0)
			continue;
		snprintf(why, len, "volume %s is attached to instance %s (a "
		    "volume attaches to one instance at a time)", vn, o->name);
		return -EBUSY;
	}
	*ret_vol = v;
	return 0;
}

/* Records that IN waits for WHY, unless its status says so already. */
static void
pending_for(struct controller *c, const struct model_obj *in,
    const char *why)
{
	const char	*old = json_str_at(in->doc, "status", "message");
	json_t		*doc;

	if (old && strcmp(old, why) == 0)
		return;
	doc = json_deep_copy(in->doc);
	json_object_set_new(doc, "status", json_pack("{s:s, s:s}", "phase",
	    "Pending", "message", why));
	submit(c, "controller/scheduler", "instance.unschedulable",
	    CTL_UNSCHEDULABLE, in->tenant, in->name, STORE_OP_PUT, doc,
	    in->rev, why);
	json_decref(doc);
}


/* Tries to place IN (pending, its workload W) and submits the outcome
 * unless it says nothing new. */
static void
schedule_one(struct controller *c, const struct sched_policy *pol,
    struct req_buf *b, struct model_obj *in, const struct model_obj *w)
{
	struct sched_result	 res;
	_cleanup_free_ char	*text = NULL;
	_cleanup_free_ char	*err = NULL;
	json_t			*ex = NULL, *doc, *status;
	const char		*old;
	struct model_obj	*vol;
	char			 why[CTL_REASON_MAX];
	uint64_t		 t0;
	int			 r;

	if (volume_check(c, in, w, &vol, why, sizeof(why)) < 0) {
		pending_for(c, in, why);
		return;
	}
	build_request(b, in, w);
	if (vol)
		b->req.volume_node = json_str_at(vol->doc, "spec", "node");
	t0 = bw_mono_ns();
	r = sched_place(c->sc, &b->req, pol, &res, &err);
	hist_observe_since(&c->placement_ns, t0);
	if (r < 0) {
		log_warn("controller: cannot schedule %s: %s", b->id,
		    err ? err : "error");
		return;
	}
	if (sched_explain_format(&res.explain, &text) < 0 ||
	    sched_explain_to_json(&res.explain, &ex) < 0)
		return;
	old = json_str_at(in->doc, "status", "message");
	if (!res.placed && old && strcmp(old, text) == 0) {
		json_decref(ex);
		return;		/* nothing new to say */
	}
	doc = json_deep_copy(in->doc);
	status = json_pack("{s:s, s:s, s:o}", "phase",
	    res.placed ? "Scheduled" : "Pending", "message", text,
	    "scheduling", ex);
	json_object_set_new(doc, "status", status);
	if (res.placed) {
		json_object_set_new(json_object_get(doc, "spec"), "node",
		    json_string(res.node));
		/* Bound ahead of its commit, so the next placements of
		 * this pass see it (refused() undoes it). */
		sched_bind(c->sc, &b->req, res.node, NULL);
		if (vol && !b->req.volume_node)
			node_set(c, "Volume", vol, res.node, "volume.bind",
			    "its first instance was placed there");
		if (vol)
			vol->mark = 1;
	}
	submit(c, "controller/scheduler", res.placed ? "instance.schedule" :
	    "instance.unschedulable", res.placed ? CTL_SCHEDULED :
	    CTL_UNSCHEDULABLE, in->tenant, in->name, STORE_OP_PUT, doc,
	    in->rev, text);
	json_decref(doc);
}

/* The share of NODES a placement evaluates once it has found enough
 * feasible ones (at least the policy's min_feasible, 100), as
 * kube-scheduler's adaptive percentageOfNodesToScore: 50 % less one
 * point per 125 nodes, at least 5 % (10 % of 5,000 nodes, all of a
 * cluster under 100). The evaluation starts where the last placement
 * stopped, so every node takes its turn; a request with hard spread
 * constraints takes its minima from every node (sched_place()). */
static uint32_t
nodes_to_score(size_t nodes)
{
	size_t pct = nodes / 125 >= 45 ? 5 : 50 - nodes / 125;

	return (uint32_t)pct;
}

/* Whether node DOC is NotReady: the stale-quote scan (enrol.c) found
 * no verified quote within attestation.stale_after_seconds, the grace
 * a node has before it is taken as lost. */
static int
node_lost(const json_t *doc)
{
	const char *phase = json_str_at(doc, "status", "phase");

	return phase && strcmp(phase, "NotReady") == 0;
}

/* Whether instance DOC ended for good (its agent reported it so):
 * moving it would run it again. */
static int
instance_ended(const json_t *doc)
{
	const char *phase = json_str_at(doc, "status", "phase");

	return phase && (strcmp(phase, "Succeeded") == 0 ||
	    strcmp(phase, "Failed") == 0);
}

/* Unbinds the instances placed on lost nodes (Pending, audited with
 * the node's name), so the scheduler places them on the others; one
 * with a volume waits for its node there, one that ended stays. The
 * agent of a node back from NotReady finds them bound elsewhere. */
static void
evict_lost(struct controller *c)
{
	const struct model_obj	*node;
	char			 why[CTL_REASON_MAX];
	size_t			 i;

	c->evict_dirty = 0;
	for (i = 0; i < model_count(c->m, K_INSTANCE); i++) {
		struct model_obj	*in = model_at(c->m, K_INSTANCE, i);
		const char		*n = json_str_at(in->doc, "spec", "node");
		json_t			*doc;

		if (in->mark || !n || instance_ended(in->doc) ||
		    !(node = model_find(c->m, K_NODE, NULL, n)) ||
		    !node_lost(node->doc) ||
		    !(doc = json_deep_copy(in->doc)))
			continue;
		snprintf(why, sizeof(why), "node %s is NotReady (%s): "
		    "rescheduled", n, json_str_at(node->doc, "status",
		    "attestation_reason") ?: "no recent quote");
		json_object_del(json_object_get(doc, "spec"), "node");
		json_object_set_new(doc, "status", json_pack("{s:s, s:s}",
		    "phase", "Pending", "message", why));
		submit(c, "controller/scheduler", "instance.evict",
		    CTL_UNSCHEDULABLE, in->tenant, in->name, STORE_OP_PUT, doc,
		    in->rev, why);
		in->mark = 1;	/* placed once the unbinding is fed back */
		json_decref(doc);
	}
}

/* Whether instance IN has a node. Kept in IN->derived: a pass walks
 * every instance for the pending ones, and reading spec.node from the
 * document of each took 10% of the event loop placing 10,000 instances
 * at 5,000 nodes (perf). */
enum { INST_UNKNOWN, INST_PENDING, INST_BOUND };

static int
instance_bound(struct model_obj *in)
{
	if (in->derived == INST_UNKNOWN)
		in->derived = json_str_at(in->doc, "spec", "node") ?
		    INST_BOUND : INST_PENDING;
	return in->derived == INST_BOUND;
}

static void
reconcile_schedule(struct controller *c)
{
	struct sched_policy	 pol;
	struct req_buf		*b;
	size_t			 i;

	if ((c->sc_stale && rebuild_cluster(c) < 0) || !(b = malloc(sizeof(*b))))
		return;
	sched_policy_default(&pol);
	pol.allow_unattested = c->o.allow_unattested;
	pol.percentage_of_nodes = nodes_to_score(model_count(c->m, K_NODE));
	for (i = 0; i < model_count(c->m, K_VOLUME); i++)
		model_at(c->m, K_VOLUME, i)->mark = 0;
	if (c->evict_dirty)
		evict_lost(c);
	for (i = 0; i < model_count(c->m, K_INSTANCE); i++) {
		struct model_obj	*in = model_at(c->m, K_INSTANCE, i);
		const struct model_obj	*w;

		if (in->mark || instance_bound(in) || !(w = workload_of(c, in)))
			continue;
		schedule_one(c, &pol, b, in, w);
	}
	free(b);
}

/* ---- the model, fed by each batch ---- */

/* What of a Node the scheduler reads (see add_node()). */
static int
node_sched_equal(const json_t *a, const json_t *b)
{
	static const char *const status[] = { "phase", "attestation", "fips" };
	const json_t	*sa = json_object_get(a, "status");
	const json_t	*sb = json_object_get(b, "status");

	if (!json_equal(json_object_get(a, "spec"), json_object_get(b, "spec")) ||
	    !json_equal(json_object_get(json_object_get(a, "metadata"), "labels"),
	    json_object_get(json_object_get(b, "metadata"), "labels")))
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(status); i++) {
		const json_t *x = json_object_get(sa, status[i]);
		const json_t *y = json_object_get(sb, status[i]);

		if ((x || y) && (!x || !y || !json_equal(x, y)))
			return 0;
	}
	return 1;
}

/* Whether node DOC passes the scheduler's readiness and attestation
 * filters (as add_node() describes it), so it may take some instance. */
static int
node_takes_work(const struct controller *c, const json_t *doc)
{
	const char *phase = json_str_at(doc, "status", "phase");
	const char *att = json_str_at(doc, "status", "attestation");

	if (!phase || strcmp(phase, "Ready") != 0 ||
	    json_is_true(json_object_get(json_object_get(doc, "spec"),
	    "unschedulable")))
		return 0;
	if (att && strcmp(att, "Trusted") == 0)
		return 1;
	return c->o.allow_unattested && !(att && strcmp(att, "Untrusted") == 0);
}

static void
node_changed(struct controller *c, const struct model_change *ch)
{
	if (ch->old && ch->cur && node_sched_equal(ch->old, ch->cur->doc))
		return;		/* a heartbeat: nothing the scheduler reads */
	if (ch->cur && node_lost(ch->cur->doc))
		c->evict_dirty = c->sched_dirty = 1;
	/* Pending instances are tried again only when the change may let
	 * one be placed: a node that can take work. Another node joining
	 * or leaving makes their explanations' counts stale until then,
	 * instead of rewriting every Pending instance per node. */
	if (ch->cur && node_takes_work(c, ch->cur->doc))
		c->sched_dirty = 1;
	if (c->sc_stale || !c->sc)
		return;
	if (ch->cur && add_node(c->sc, ch->cur) == 0) {
		if (!ch->old && c->orphans)
			c->sc_stale = 1;	/* bind what waited for it */
	} else if (ch->old && sched_node_remove(c->sc, res_name(ch->old)) ==
	    -EBUSY)
		c->sc_stale = 1;	/* its instances become orphans */
}

/* Sets spec.node of O (of kind KNAME) to NODE, for REASON. */
static void
node_set(struct controller *c, const char *kname, const struct model_obj *o,
    const char *node, const char *action, const char *reason)
{
	json_t *doc = json_deep_copy(o->doc);

	if (!doc)
		return;
	json_object_set_new(json_object_get(doc, "spec"), "node",
	    json_string(node));
	submit_kind(c, kname, "controller/scheduler", action, CTL_VOLUME_BOUND,
	    o->tenant, o->name, STORE_OP_PUT, doc, o->rev, reason);
	json_decref(doc);
}

/* A snapshot lives beside its volume: S gets the node of its volume
 * once that is bound (again, should a write have dropped it). */
static void
snapshot_bind(struct controller *c, const struct model_obj *s)
{
	const char		*vn = json_str_at(s->doc, "spec", "volume");
	const char		*has = json_str_at(s->doc, "spec", "node");
	const struct model_obj	*v = vn ? model_find(c->m, K_VOLUME, s->tenant,
	    vn) : NULL;
	const char		*node = v ? json_str_at(v->doc, "spec", "node") :
	    NULL;

	if (node && (!has || strcmp(has, node) != 0))
		node_set(c, "VolumeSnapshot", s, node, "volumesnapshot.bind",
		    "a snapshot is taken and kept on its volume's node");
}

/* A volume's data lives on the node it was bound to: a write that
 * drops or changes spec.node (a tenant re-applying its Volume without
 * it) gets the node back. Its snapshots follow it there. */
static void
volume_changed(struct controller *c, const struct model_change *ch)
{
	const char	*was = ch->old ? json_str_at(ch->old, "spec", "node") :
	    NULL;
	const char	*now = ch->cur ? json_str_at(ch->cur->doc, "spec",
	    "node") : NULL;
	size_t		 i;

	c->sched_dirty = 1;
	if (was && ch->cur && (!now || strcmp(was, now) != 0)) {
		node_set(c, "Volume", ch->cur, was, "volume.bind", "spec.node "
		    "names the node holding the volume's data: it does not "
		    "move");
		return;
	}
	for (i = 0; now && i < model_count(c->m, K_SNAPSHOT); i++) {
		const struct model_obj *s = model_at(c->m, K_SNAPSHOT, i);

		if (strcmp(s->tenant, ch->cur->tenant) == 0 &&
		    strcmp(json_str_at(s->doc, "spec", "volume") ?: "",
		    ch->cur->name) == 0)
			snapshot_bind(c, s);
	}
}

/* Whether instance DOC is not running yet (Pending or Scheduled). The
 * workload pass does read such replicas (rollout_scan() replaces an
 * outdated one, takes a waiting one's reason for a rollback's message,
 * create_missing() checks each exists), but no decision of it changes
 * when one moves between these two phases with the same template; the
 * autoscaler reads only Running replicas' usage. */
static int
instance_waiting(const json_t *doc)
{
	const char *phase = json_str_at(doc, "status", "phase");

	return phase && (strcmp(phase, "Pending") == 0 ||
	    strcmp(phase, "Scheduled") == 0);
}

/* Whether the change from OLD to CUR can matter to the workload pass:
 * not when an instance that is not running yet stays so, of the same
 * workload and template (a placement, or a new reason to wait). Each
 * placement fed back made its workload's pass read all its replicas
 * again. */
static int
instance_matters_to_workload(const json_t *old, const json_t *cur)
{
	static const char *const spec[] = { "workload", "template" };

	if (!old || !cur || !instance_waiting(old) || !instance_waiting(cur) ||
	    strcmp(res_name(old), res_name(cur)) != 0)
		return 1;
	for (size_t i = 0; i < ELEMENTSOF(spec); i++) {
		const char *a = json_str_at(old, "spec", spec[i]);
		const char *b = json_str_at(cur, "spec", spec[i]);

		if (!a || !b || strcmp(a, b) != 0)
			return 1;
	}
	return 0;
}

static void
instance_changed(struct controller *c, const struct model_change *ch)
{
	char		 id[160];
	struct req_buf	*b;

	c->sched_dirty = 1;
	if (instance_matters_to_workload(ch->old, ch->cur ? ch->cur->doc :
	    NULL)) {
		wl_mark_instance(c, ch->old);
		wl_mark_instance(c, ch->cur ? ch->cur->doc : NULL);
	}
	if (c->sc_stale || !c->sc)
		return;
	if (ch->old && json_str_at(ch->old, "spec", "node")) {
		snprintf(id, sizeof(id), "%s/%s", res_tenant(ch->old),
		    res_name(ch->old));
		if (sched_unbind(c->sc, id) == -BW_E_NOTFOUND && c->orphans)
			c->orphans--;
	}
	if (!ch->cur)
		return;
	if (!(b = malloc(sizeof(*b)))) {
		c->sc_stale = 1;
		return;
	}
	bind_instance(c, b, ch->cur);
	free(b);
}

/* Updates the scheduler's cluster and the passes' work after the model
 * took CH (from the store or from a write of ours); frees CH->old. */
static void
model_changed(struct controller *c, struct model_change *ch)
{
	if (!ch->changed)
		return;
	if (ch->kind == K_NODE)
		node_changed(c, ch);
	else if (ch->kind == K_INSTANCE)
		instance_changed(c, ch);
	else if (ch->kind == K_VOLUME)
		volume_changed(c, ch);
	else if (ch->kind == K_SNAPSHOT) {
		if (ch->cur)
			snapshot_bind(c, ch->cur);
	}
	else {
		/* Placed instances' requests come from their
		 * workload's spec: rare, so sc is rebuilt. */
		c->sched_dirty = 1;
		wl_mark(c, ch->cur ? ch->cur->tenant : res_tenant(ch->old),
		    ch->cur ? ch->cur->name : res_name(ch->old),
		    CONTROLLER_SLOTS_MAX);
		if (ch->old)
			c->sc_stale = 1;
	}
	json_decref(ch->old);
	ch->old = NULL;
}

/* Applies the N KEYS written (by our batches or elsewhere) to the
 * model. Returns whether a pass has something to do. */
static int
apply_keys(struct controller *c, const char *const *keys, size_t n)
{
	struct model_change	 ch;
	size_t			 i;
	int			 r;

	for (i = 0; i < n; i++) {
		if ((r = model_apply(c->m, c->st, keys[i], &ch)) == -ENOENT)
			continue;
		if (r < 0) {
			c->model_ok = 0;
			return 1;
		}
		model_changed(c, &ch);
	}
	return c->wl_dirty || c->sched_dirty;
}

/* Applies the keys the batches just completed wrote to the model.
 * Returns whether a pass has something to do. */
static int
apply_changes(struct controller *c)
{
	const char *const	*keys;
	size_t			 n;

	if (!c->model_ok || commit_changed(c->commit, &keys, &n) < 0) {
		c->model_ok = 0;	/* a gap: rebuild from the store */
		return 1;
	}
	return apply_keys(c, keys, n);
}

static void
run_pass(struct controller *c)
{
	int r;

	if (c->detached || (c->o.may_act && !c->o.may_act(c->o.may_act_arg)))
		return;
	if (c->inflight > 0) {
		c->dirty = 1;
		return;
	}
	c->dirty = 0;
	if (!c->model_ok) {
		if ((r = model_rebuild(c->m, c->st)) < 0) {
			log_error("controller: cannot read the store: %s",
			    bw_strerror(r));
			return;
		}
		c->model_ok = c->sc_stale = c->wl_dirty = c->sched_dirty = 1;
		c->evict_dirty = 1;	/* a node lost before we led */
		c->wl_all = 1;
		c->stats.rebuilds++;
	}
	c->stats.passes++;
	c->staging = 1;
	if (c->wl_dirty) {
		autoscale_pass(c->as, c->m, K_WORKLOAD, K_INSTANCE,
		    (time_t)bw_mono_s());
		reconcile_dirty_workloads(c);
	}
	if (c->sched_dirty) {
		c->sched_dirty = 0;
		reconcile_schedule(c);
	}
	stage_flush(c);
}

static void
pass_cb(evutil_socket_t fd, short what, void *arg)
{
	run_pass(arg);
}

/* The periodic resync reconciles the workloads over the model (in
 * memory); the pending instances are tried again when something the
 * scheduler reads changes. */
static void
resync_cb(evutil_socket_t fd, short what, void *arg)
{
	struct controller *c = arg;

	c->wl_dirty = c->wl_all = 1;
	run_pass(c);
}

static void
schedule_pass(struct controller *c)
{
	event_active(c->pass_ev, EV_TIMEOUT, 0);
}

static void
committed(void *arg)
{
	struct controller *c = arg;

	c->unobserved = 0;
	/* Every batch's keys reach the model, passes in flight or not;
	 * kinds a pass does not read (tenants, bindings, ...) are skipped
	 * by the model. A pass runs once our own changes completed. */
	if (apply_changes(c) || c->dirty) {
		if (c->inflight == 0)
			schedule_pass(c);
		else
			c->dirty = 1;
	}
}

int
controller_start(struct event_base *base, struct store *st,
    struct committer *commit, const struct controller_options *o,
    struct controller **ret)
{
	struct controller	*c;
	struct timeval		 tv;
	int			 ms, r;

	if ((c = calloc(1, sizeof(*c))))
		hist_init(&c->placement_ns, &hist_seconds);
	if (!c)
		return -ENOMEM;
	c->base = base;
	c->st = st;
	c->commit = commit;
	if (o)
		c->o = *o;
	ms = c->o.resync_ms > 0 ? c->o.resync_ms : CONTROLLER_RESYNC_MS;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	c->pass_ev = event_new(base, -1, 0, pass_cb, c);
	c->resync_ev = event_new(base, -1, EV_PERSIST, resync_cb, c);
	if (!c->pass_ev || !c->resync_ev || event_add(c->resync_ev, &tv) < 0 ||
	    model_new(model_kinds, ELEMENTSOF(model_kinds), &c->m) < 0 ||
	    autoscale_new(commit, &c->as) < 0) {
		controller_free(c);
		return -ENOMEM;
	}
	if ((r = commit_add_observer(commit, committed, c)) < 0) {
		controller_free(c);
		return r;
	}
	schedule_pass(c);
	*ret = c;
	return 0;
}

void
controller_foreign_changes(struct controller *c, const char *const *keys,
    size_t n, bool gap)
{
	int todo;

	if (c->detached)
		return;
	if (gap || !c->model_ok) {
		c->model_ok = 0;
		todo = 1;
	} else
		todo = apply_keys(c, keys, n);
	if (todo || c->dirty) {
		if (c->inflight == 0)
			schedule_pass(c);
		else
			c->dirty = 1;
	}
}

void
controller_kick(struct controller *c)
{
	c->wl_dirty = c->wl_all = c->sched_dirty = 1;
	schedule_pass(c);
}

void
controller_stats(struct controller *c, struct controller_stats *ret)
{
	*ret = c->stats;
}

const struct hist *
controller_placement_hist(const struct controller *c)
{
	return &c->placement_ns;
}

/* The first object of A that B lacks or holds at another revision. */
static const struct model_obj *
model_diff(const struct model *a, const struct model *b, int kind)
{
	for (size_t i = 0; i < model_count(a, kind); i++) {
		const struct model_obj *o = model_at(a, kind, i);
		const struct model_obj *p = model_get(b, o->key);

		if (!p || p->rev != o->rev || !json_equal(p->doc, o->doc))
			return o;
	}
	return NULL;
}

/* Whether cluster A places every instance and node of the model M as
 * B does, with the same usage per node. */
static int
cluster_diff(const struct sched_cluster *a, const struct sched_cluster *b,
    const struct model *m, char **ret_err)
{
	int64_t		 cpu[2], mem[2];
	uint32_t	 n[2];
	char		 id[160];
	size_t		 i;

	if (sched_cluster_nodes(a) != sched_cluster_nodes(b) ||
	    sched_cluster_instances(a) != sched_cluster_instances(b))
		return errf(-BW_E_INVALID, ret_err, "cluster: %u nodes, %u "
		    "instances; rebuilt: %u, %u", sched_cluster_nodes(a),
		    sched_cluster_instances(a), sched_cluster_nodes(b),
		    sched_cluster_instances(b));
	for (i = 0; i < model_count(m, K_NODE); i++) {
		const char *name = model_at(m, K_NODE, i)->name;
		int ra = sched_node_usage(a, name, &cpu[0], &mem[0], &n[0]);
		int rb = sched_node_usage(b, name, &cpu[1], &mem[1], &n[1]);

		if (ra != rb || (ra == 0 && (cpu[0] != cpu[1] ||
		    mem[0] != mem[1] || n[0] != n[1])))
			return errf(-BW_E_INVALID, ret_err, "node %s: usage "
			    "differs from a rebuild", name);
	}
	for (i = 0; i < model_count(m, K_INSTANCE); i++) {
		const struct model_obj *in = model_at(m, K_INSTANCE, i);
		const char *na, *nb;

		snprintf(id, sizeof(id), "%s/%s", in->tenant, in->name);
		na = sched_instance_node(a, id);
		nb = sched_instance_node(b, id);
		if ((na || nb) && (!na || !nb || strcmp(na, nb) != 0))
			return errf(-BW_E_INVALID, ret_err, "instance %s: on "
			    "%s, rebuilt on %s", id, na ? na : "no node",
			    nb ? nb : "no node");
	}
	return 0;
}

int
controller_verify(struct controller *c, char **ret_err)
{
	struct controller		 fresh = { .st = c->st };
	const struct model_obj		*o = NULL;
	int				 r, k;

	if (c->inflight || autoscale_inflight(c->as) || c->unobserved ||
	    c->dirty || c->wl_dirty ||
	    c->sched_dirty ||
	    !c->model_ok || c->sc_stale || !c->sc)
		return -EAGAIN;
	if ((r = model_new(model_kinds, ELEMENTSOF(model_kinds), &fresh.m)) < 0 ||
	    (r = model_rebuild(fresh.m, c->st)) < 0 ||
	    (r = rebuild_cluster(&fresh)) < 0)
		goto out;
	for (k = 0; k < (int)ELEMENTSOF(model_kinds) && !o; k++)
		if (!(o = model_diff(c->m, fresh.m, k)))
			o = model_diff(fresh.m, c->m, k);
	if (o)
		r = errf(-BW_E_INVALID, ret_err, "model: %s differs from the "
		    "store", o->key);
	else
		r = cluster_diff(c->sc, fresh.sc, c->m, ret_err);
out:
	model_free(fresh.m);
	sched_cluster_free(fresh.sc);
	return r;
}

void
controller_detach(struct controller *c)
{
	if (!c || c->detached)
		return;
	commit_remove_observer(c->commit, committed, c);
	event_del(c->resync_ev);
	c->detached = 1;
}

bool
controller_idle(const struct controller *c)
{
	return c->inflight == 0 && autoscale_inflight(c->as) == 0;
}

void
controller_free(struct controller *c)
{
	if (!c)
		return;
	controller_detach(c);
	if (c->pass_ev)
		event_free(c->pass_ev);
	if (c->resync_ev)
		event_free(c->resync_ev);
	model_free(c->m);
	sched_cluster_free(c->sc);
	autoscale_free(c->as);
	free(c->staged);
	free(c);
}
