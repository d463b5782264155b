#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/autoscale.h"
#include "controlplane/resource.h"
#include "lib/err.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/log.h"

#define AS_REASON_MAX	480

/* What the autoscaler keeps of one workload. */
struct as_wl {
	struct as_wl		*next;
	char			 key[RES_KEY_MAX];
	struct autoscale_history h;
	int			 inflight;	/* a write of ours */
	uint64_t		 written_over;	/* the revision it replaced */
	int			 seen;		/* in the last pass */
};

struct autoscaler {
	struct committer	*commit;
	struct as_wl		*wls;
	unsigned		 inflight;
	time_t			 started;	/* monotonic s of the first pass */
};

/* One Workload write; owns its strings until done() runs. */
struct as_op {
	struct commit_req	 creq;		/* first: the pipeline hands it back */
	struct autoscaler	*as;
	struct as_wl		*wl;
	char			 key[RES_KEY_MAX];
	char			*value;
	char			 tenant[64], name[64];
	char			 reason[AS_REASON_MAX];
};

/* ---- the arithmetic ---- */

int
autoscale_spec_of(const json_t *spec, struct autoscale_spec *ret)
{
	const json_t *a = json_object_get(spec, "autoscale");

	if (!json_is_object(a))
		return -ENOENT;
	*ret = (struct autoscale_spec){
		.min = json_int_at(a, "min", NULL, 1),
		.max = json_int_at(a, "max", NULL, 1),
		.target = json_int_at(a, "target_cpu_percent", NULL, 80),
		.up_window_s = json_int_at(a, "scale_up_window_s", NULL, 0),
		.down_window_s = json_int_at(a, "stabilization_window_s", NULL,
		    300),
	};
	return 0;
}

/* ceil(N * USAGE / TARGET), or N within the tolerance. (No libm: the
 * values are small and not negative.) */
static long
ratio_replicas(long n, double usage, long target)
{
	double	 ratio = usage / (double)target, want = (double)n * ratio;
	long	 r = (long)want;

	/* 1e-9: 55 / 50 is 1.1 and a little more in binary */
	if (ratio - 1.0 <= AUTOSCALE_TOLERANCE + 1e-9 &&
	    1.0 - ratio <= AUTOSCALE_TOLERANCE + 1e-9)
		return n;
	return (double)r < want - 1e-9 ? r + 1 : r;
}

long
autoscale_recommend(long current, long reporting, double usage_sum,
    long target)
{
	long	 rec, missing;

	if (current <= 0 || reporting <= 0 || target <= 0)
		return current;
	rec = ratio_replicas(current, usage_sum / (double)reporting, target);
	missing = current - reporting;
	if (missing <= 0 || rec == current)
		return rec;
	/* As Kubernetes does: instances without a report count against
	 * the change, and a change they reverse is none. */
	if (rec > current)
		rec = ratio_replicas(current, usage_sum / (double)current, target);
	else
		rec = ratio_replicas(current, (usage_sum + (double)missing *
		    (double)target) / (double)current, target);
	return rec;
}

static void
history_add(struct autoscale_history *h, long window, long rec, time_t now)
{
	long	 width = window / (AUTOSCALE_BUCKETS - 4) + 1;
	time_t	 start = now - now % width;
	size_t	 drop = 0;

	if (h->width != width)
		h->n = 0;	/* the windows changed: start afresh */
	h->width = width;
	while (drop < h->n && h->b[drop].start + width <= now - window)
		drop++;
	if (drop == 0 && h->n == AUTOSCALE_BUCKETS &&
	    h->b[h->n - 1].start != start)
		drop = 1;
	memmove(h->b, h->b + drop, (h->n - drop) * sizeof(h->b[0]));
	h->n -= drop;
	if (h->n > 0 && h->b[h->n - 1].start == start) {
		if (rec < h->b[h->n - 1].lo)
			h->b[h->n - 1].lo = rec;
		if (rec > h->b[h->n - 1].hi)
			h->b[h->n - 1].hi = rec;
		return;
	}
	h->b[h->n].start = start;
	h->b[h->n].lo = h->b[h->n].hi = rec;
	h->n++;
}

/* The lowest (HIGHEST: the highest) recommendation within WINDOW
 * seconds before NOW; REC itself for a window of 0. */
static long
history_bound(const struct autoscale_history *h, long window, time_t now,
    long rec, int highest)
{
	long v = rec;

	if (window <= 0)
		return rec;
	for (size_t i = 0; i < h->n; i++) {
		if (h->b[i].start + h->width <= now - window)
			continue;
		if (highest && h->b[i].hi > v)
			v = h->b[i].hi;
		if (!highest && h->b[i].lo < v)
			v = h->b[i].lo;
	}
	return v;
}

long
autoscale_stabilize(struct autoscale_history *h,
    const struct autoscale_spec *s, long current, long rec, time_t now)
{
	long	 window = s->down_window_s > s->up_window_s ? s->down_window_s :
	    s->up_window_s;
	long	 up, down, want = current;

	history_add(h, window, rec, now);
	up = history_bound(h, s->up_window_s, now, rec, 0);
	down = history_bound(h, s->down_window_s, now, rec, 1);
	if (want < up)
		want = up;
	if (want > down)
		want = down;
	if (want < s->min)
		want = s->min;
	if (want > s->max)
		want = s->max;
	return want;
}

/* ---- the autoscaler ---- */

int
autoscale_new(struct committer *commit, struct autoscaler **ret)
{
	struct autoscaler *as;

	if (!(as = malloc(sizeof(*as))))
		return -ENOMEM;
	*as = (struct autoscaler){ .commit = commit, .started = -1 };
	*ret = as;
	return 0;
}

void
autoscale_free(struct autoscaler *as)
{
	struct as_wl *w, *next;

	if (!as)
		return;
	for (w = as->wls; w; w = next) {
		next = w->next;
		free(w);
	}
	free(as);
}

unsigned
autoscale_inflight(const struct autoscaler *as)
{
	return as ? as->inflight : 0;
}

static struct as_wl *
wl_state(struct autoscaler *as, const char *key)
{
	struct as_wl *w = as->wls;

	while (w && strcmp(w->key, key) != 0)
		w = w->next;
	if (w || !(w = calloc(1, sizeof(*w))))
		return w;
	snprintf(w->key, sizeof(w->key), "%s", key);
	w->next = as->wls;
	as->wls = w;
	return w;
}

/* Forgets the workloads the last pass did not see (deleted, or no
 * longer autoscaled) unless a write of ours is in flight. */
static void
wl_sweep(struct autoscaler *as)
{
	struct as_wl **p = &as->wls, *w;

	while ((w = *p)) {
		if (!w->seen && !w->inflight) {
			*p = w->next;
			free(w);
			continue;
		}
		w->seen = 0;
		p = &w->next;
	}
}

static void
op_done(struct commit_req *creq)
{
	struct as_op *op = (struct as_op *)creq;

	op->as->inflight--;
	op->wl->inflight = 0;
	/* Until the model has our write, it still shows this revision:
	 * deciding on it again would only conflict. */
	if (creq->result == 0)
		op->wl->written_over = creq->op.expect_rev;
	/* A conflict is a workload changed meanwhile: the next pass
	 * decides again on what it became. */
	if (creq->result != 0 && creq->result != -BW_E_CONFLICT &&
	    creq->result != -BW_E_NOTFOUND)
		log_warn("autoscaler: %s/%s: %s", op->tenant, op->name,
		    bw_strerror(creq->result));
	free(op->value);
	free(op);
}

/* Writes DOC (the workload W's new form) with REASON as its audit
 * record's reason. */
static int
submit(struct autoscaler *as, struct as_wl *wl, const struct model_obj *w,
    json_t *doc, const char *reason)
{
	struct as_op *op = calloc(1, sizeof(*op));

	if (!op)
		return -ENOMEM;
	op->as = as;
	op->wl = wl;
	snprintf(op->key, sizeof(op->key), "%s", w->key);
	snprintf(op->tenant, sizeof(op->tenant), "%s", w->tenant);
	snprintf(op->name, sizeof(op->name), "%s", w->name);
	snprintf(op->reason, sizeof(op->reason), "%s", reason);
	json_object_del(json_object_get(doc, "metadata"), "revision");
	if (!(op->value = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS))) {
		free(op);
		return -ENOMEM;
	}
	op->creq.op = (struct store_op){ .type = STORE_OP_PUT, .key = op->key,
	    .value = op->value, .value_len = strlen(op->value),
	    .expect_rev = w->rev };
	op->creq.rec = (struct audit_record){ .actor = "controller/autoscaler",
	    .role = "system", .tenant = RES_SYSTEM_TENANT, .source = "local",
	    .auth_method = "internal", .action = "workload.autoscale",
	    .object_kind = "Workload", .object_tenant = op->tenant,
	    .object_name = op->name, .reason = op->reason,
	    .controls = "CM-3,AU-12" };
	op->creq.done = op_done;
	as->inflight++;
	wl->inflight = 1;
	commit_submit(as->commit, &op->creq);
	return 0;
}

/* What one decision saw and made. */
struct as_decision {
	long		 current, reporting, rec, desired;
	double		 usage;		/* average percent of the reporting */
	const char	*state;
	char		 reason[AS_REASON_MAX];
};

/* Whether instance IN is one of the first N replicas (NAME-0 ..
 * NAME-(N-1)): those beyond are on their way out after a scale-in. */
static int
within_replicas(const struct model_obj *in, long n)
{
	const char	*dash = strrchr(in->name, '-');
	char		*end;
	long		 idx;

	if (!dash || !dash[1])
		return 0;
	idx = strtol(dash + 1, &end, 10);
	return !*end && idx >= 0 && idx < n;
}

/* The CPU usage the agents report for W's current replicas. */
static void
usage_of(const struct model *m, int k_instance, const struct model_obj *w,
    struct as_decision *d, double *ret_sum)
{
	double sum = 0;

	d->reporting = 0;
	for (size_t i = 0; i < model_count(m, k_instance); i++) {
		const struct model_obj	*in = model_at(m, k_instance, i);
		const json_t		*st = json_object_get(in->doc, "status");
		const json_t		*cpu = json_object_get(st, "cpu_percent");
		const char		*wl = json_str_at(in->doc, "spec",
		    "workload");

		if (!json_is_number(cpu) || !wl || strcmp(wl, w->name) != 0 ||
		    strcmp(in->tenant, w->tenant) != 0 ||
		    !within_replicas(in, d->current) ||
		    strcmp(json_str_at(st, "phase", NULL) ?: "", "Running") != 0)
			continue;
		sum += json_number_value(cpu);
		d->reporting++;
	}
	d->usage = d->reporting ? sum / (double)d->reporting : 0;
	*ret_sum = sum;
}

/* Decides W's replicas under S at NOW into *D. */
static void
decide(struct autoscaler *as, struct as_wl *wl, const struct model *m,
    int k_instance, const struct model_obj *w, const struct autoscale_spec *s,
    time_t now, struct as_decision *d)
{
	long	 held;
	double	 sum;

	d->current = json_int_at(w->doc, "spec", "replicas", 0);
	usage_of(m, k_instance, w, d, &sum);
	d->rec = autoscale_recommend(d->current, d->reporting, sum, s->target);
	d->desired = autoscale_stabilize(&wl->h, s, d->current, d->rec, now);
	/* No history from before our start: no scale-in for a window. */
	held = d->desired < d->current && d->rec < d->current &&
	    now - as->started < s->down_window_s;
	if (held)
		d->desired = d->current < s->max ? d->current : s->max;
	if (d->desired > d->current)
		d->state = "ScaledOut";
	else if (d->desired < d->current)
		d->state = "ScaledIn";
	else if (d->reporting == 0)
		d->state = "NoMetrics";
	else if (d->rec < d->current && d->current > s->min)
		d->state = "ScaleInHeld";
	else if (d->rec > d->current && d->current < s->max)
		d->state = "ScaleOutHeld";
	else if (d->rec > d->current)
		d->state = "AtMax";
	else if (d->rec < d->current)
		d->state = "AtMin";
	else
		d->state = "Steady";
	snprintf(d->reason, sizeof(d->reason), "%s %ld -> %ld: CPU %.0f%% of "
	    "the request on average over %ld of %ld replicas (target %ld%%), "
	    "recommended %ld (scale-up window %ld s, stabilisation window "
	    "%ld s%s), limits %ld..%ld", d->state, d->current, d->desired,
	    d->usage, d->reporting, d->current, s->target, d->rec,
	    s->up_window_s, s->down_window_s, held ? ", counted from the "
	    "start of bulwarkd" : "", s->min, s->max);
}

/* W's document with D applied: spec.replicas and status.autoscale. */
static json_t *
decided_doc(const struct model_obj *w, const struct autoscale_spec *s,
    const struct as_decision *d)
{
	json_t		*doc = json_deep_copy(w->doc), *st, *as;
	const json_t	*was = json_object_get(json_object_get(w->doc, "status"),
	    "autoscale");
	char		 now[40];

	if (!doc)
		return NULL;
	if (!json_is_object(json_object_get(doc, "status")))
		json_object_set_new(doc, "status", json_object());
	st = json_object_get(doc, "status");
	bw_time_rfc3339(now, sizeof(now), 0);
	as = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:s}",
	    "current_replicas", (json_int_t)d->current,
	    "desired_replicas", (json_int_t)d->desired,
	    "recommendation", (json_int_t)d->rec,
	    "current_cpu_percent", (json_int_t)(d->usage + 0.5),
	    "target_cpu_percent", (json_int_t)s->target,
	    "reporting_replicas", (json_int_t)d->reporting,
	    "state", d->state, "reason", d->reason,
	    "decided", now);
	if (!as || !st) {
		json_decref(as);
		json_decref(doc);
		return NULL;
	}
	/* The last change stays until the next one. */
	if (d->desired != d->current) {
		json_object_set_new(as, "last_scale_time", json_string(now));
		json_object_set_new(as, "last_scale_reason",
		    json_string(d->reason));
	} else {
		if (json_str_at(was, "last_scale_time", NULL))
			json_object_set(as, "last_scale_time", json_object_get(
			    was, "last_scale_time"));
		if (json_str_at(was, "last_scale_reason", NULL))
			json_object_set(as, "last_scale_reason",
			    json_object_get(was, "last_scale_reason"));
	}
	json_object_set_new(st, "autoscale", as);
	json_object_set_new(json_object_get(doc, "spec"), "replicas",
	    json_integer(d->desired));
	return doc;
}

static void
scale_one(struct autoscaler *as, const struct model *m, int k_instance,
    const struct model_obj *w, const struct autoscale_spec *s, time_t now)
{
	struct as_wl		*wl = wl_state(as, w->key);
	struct as_decision	 d;
	_cleanup_json_ json_t	*doc = NULL;
	const char		*was;

	if (!wl)
		return;
	wl->seen = 1;
	if (wl->inflight || wl->written_over == w->rev)
		return;
	decide(as, wl, m, k_instance, w, s, now, &d);
	was = json_str_at(json_object_get(w->doc, "status"), "autoscale",
	    "state");
	/* A write for a change, or for a new state: not for each report. */
	if (d.desired == d.current && was && strcmp(was, d.state) == 0)
		return;
	if (d.desired != d.current)
		log_info("autoscaler: %s/%s: %s", w->tenant, w->name, d.reason);
	if ((doc = decided_doc(w, s, &d)))
		submit(as, wl, w, doc, d.reason);
}

void
autoscale_pass(struct autoscaler *as, const struct model *m, int k_workload,
    int k_instance, time_t now)
{
	struct autoscale_spec s;

	if (as->started < 0)
		as->started = now;
	for (size_t i = 0; i < model_count(m, k_workload); i++) {
		const struct model_obj *w = model_at(m, k_workload, i);

		if (autoscale_spec_of(json_object_get(w->doc, "spec"), &s) == 0)
			scale_one(as, m, k_instance, w, &s, now);
	}
	wl_sweep(as);
}
