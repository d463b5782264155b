/* The controller's model and scheduler cluster, kept up to date by the
 * keys each commit batch wrote (issue 18), agree with both rebuilt from
 * the store after random series of changes to Nodes, Workloads and
 * Instances, through the real commit pipeline; and a batch past the
 * change feed's bound makes the controller rebuild from the store.
 * Rolling updates with a surge and a rollback past the deadline. The
 * instances of a node that turns NotReady go to another. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>

#include "controlplane/commit.h"
#include "controlplane/controller.h"
#include "controlplane/store-lmdb.h"
#include "controlplane/store.h"
#include "lib/err.h"
#include "tests/unit/hardening/tmpdir.h"

struct fixture {
	char			*dir;
	struct store		*st;
	struct event_base	*base;
	struct committer	*cm;
	struct controller	*ctl;
	unsigned		 pending;	/* our requests in flight */
	int			 unobserved;	/* done, observers not run */
};

struct req {
	struct commit_req	 creq;		/* first */
	struct fixture		*f;
	char			 key[128];
	char			*value;
};

static void
req_done(struct commit_req *creq)
{
	struct req *q = (struct req *)creq;

	q->f->pending--;
	q->f->unobserved = 1;
	free(q->value);
	free(q);
}

/* Queues a put of VALUE (taken; NULL: a delete) at KEY. */
static void
submit(struct fixture *f, const char *key, char *value)
{
	struct req *q = calloc(1, sizeof(*q));

	assert_non_null(q);
	q->f = f;
	snprintf(q->key, sizeof(q->key), "%s", key);
	q->value = value;
	q->creq.op = (struct store_op){ .type = value ? STORE_OP_PUT :
	    STORE_OP_DELETE, .key = q->key, .value = value,
	    .value_len = value ? strlen(value) : 0, .expect_rev = STORE_REV_ANY };
	q->creq.rec = (struct audit_record){ .actor = "test", .role = "system",
	    .tenant = "system", .source = "local", .auth_method = "internal",
	    .action = "test.write" };
	q->creq.done = req_done;
	f->pending++;
	commit_submit(f->cm, &q->creq);
}

static char *
node_doc(unsigned i, unsigned gen)
{
	static const char *const phases[] = { "Ready", "Ready", "NotReady" };
	char *v = NULL;

	assert_true(asprintf(&v, "{\"kind\":\"Node\",\"metadata\":{\"name\":"
	    "\"n%u\",\"tenant\":\"system\",\"labels\":{\"pool\":\"p%u\"}},"
	    "\"spec\":{\"zone\":\"z%u\",\"capacity\":{\"cpu_millis\":%u,"
	    "\"memory_mib\":4096,\"instances\":%u}},\"status\":{\"phase\":"
	    "\"%s\",\"attestation\":\"Trusted\",\"heartbeat\":%u}}", i, gen % 2,
	    i % 3, 1000 + 500 * (gen % 3), 2 + gen % 4, phases[gen % 3],
	    gen) > 0);
	return v;
}

static char *
workload_doc(unsigned i, unsigned gen)
{
	char *v = NULL;

	assert_true(asprintf(&v, "{\"kind\":\"Workload\",\"metadata\":{\"name\":"
	    "\"w%u\",\"tenant\":\"t%u\"},\"spec\":{\"type\":\"container\","
	    "\"image\":\"sha256:%064u\",\"replicas\":%u,\"resources\":"
	    "{\"cpu_millis\":%u,\"memory_mib\":64}%s}}", i, i % 2, gen % 7,
	    gen % 6, 100 * (1 + gen % 3), gen % 2 ? ",\"spread\":[{"
	    "\"topology_key\":\"zone\",\"max_skew\":1}]" : "") > 0);
	return v;
}

/* Runs the loop until our requests and the controller's passes are
 * done, then checks the controller against a rebuild. */
static void
settle_and_verify(struct fixture *f)
{
	struct timespec	 t0, t;
	char		*err = NULL;
	int		 r = -EAGAIN;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		if (f->pending == 0 && !f->unobserved &&
		    (r = controller_verify(f->ctl,
		    &err)) != -EAGAIN)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 60)
			break;		/* generous: a busy machine */
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	if (r != 0)
		print_error("controller_verify: %d %s\n", r, err ? err : "");
	free(err);
	assert_int_equal(r, 0);
}

/* Runs after the controller's observer (added after it). */
static void
observed(void *arg)
{
	((struct fixture *)arg)->unobserved = 0;
}

static int
setup(void **state)
{
	struct fixture			*f = calloc(1, sizeof(*f));
	struct controller_options	 o = { .resync_ms = 3600000 };

	if (!f || !(f->dir = tmpdir_make()) ||
	    store_open_lmdb(f->dir, NULL, &f->st, NULL) < 0 ||
	    evthread_use_pthreads() < 0 || !(f->base = event_base_new()) ||
	    commit_start(f->base, f->st, NULL, NULL, &f->cm) < 0 ||
	    controller_start(f->base, f->st, f->cm, &o, &f->ctl) < 0 ||
	    commit_add_observer(f->cm, observed, f) < 0)
		return 1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	controller_detach(f->ctl);
	commit_stop(f->cm);
	controller_free(f->ctl);
	event_base_free(f->base);
	store_close(f->st);
	tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static void
test_random_changes_match_rebuild(void **state)
{
	struct fixture		*f = *state;
	struct controller_stats	 s;
	unsigned		 seed = 18, round, i;
	char			 key[128];

	settle_and_verify(f);
	for (round = 0; round < 40; round++) {
		unsigned writes = 1 + (unsigned)rand_r(&seed) % 12;

		for (i = 0; i < writes; i++) {
			unsigned what = (unsigned)rand_r(&seed) % 10;
			unsigned obj = (unsigned)rand_r(&seed) % 8;
			unsigned gen = (unsigned)rand_r(&seed);

			if (what < 5) {
				snprintf(key, sizeof(key), "/r/nodes/n%u", obj);
				submit(f, key, what == 4 ? NULL :
				    node_doc(obj, gen));
			} else if (what < 9) {
				snprintf(key, sizeof(key),
				    "/r/workloads/t%u/w%u", obj % 4 % 2,
				    obj % 4);
				submit(f, key, what == 8 ? NULL :
				    workload_doc(obj % 4, gen));
			} else {
				/* an instance deleted under the controller */
				snprintf(key, sizeof(key),
				    "/r/instances/t%u/w%u-%u", obj % 4 % 2,
				    obj % 4, gen % 3);
				submit(f, key, NULL);
			}
		}
		settle_and_verify(f);
	}
	controller_stats(f->ctl, &s);
	assert_true(s.created > 0 && s.scheduled > 0);
	assert_int_equal(s.rebuilds, 1);	/* at start only */
}

static void
test_gap_rebuilds(void **state)
{
	struct fixture		*f = *state;
	struct controller_stats	 s;
	char			 key[64];
	unsigned		 i;

	settle_and_verify(f);
	submit(f, "/r/nodes/n1", node_doc(1, 0));
	submit(f, "/r/workloads/t1/w1", workload_doc(1, 4));
	/* More keys than the feed keeps, completed before the loop runs
	 * the observers again (all but the last batch of at most
	 * STORE_BATCH_MAX are surely done when the last key is stored). */
	for (i = 0; i < COMMIT_CHANGED_MAX + STORE_BATCH_MAX + 10; i++) {
		snprintf(key, sizeof(key), "/r/tenants/x%u", i);
		submit(f, key, strdup("{}"));
	}
	/* The loop does not run meanwhile: every completion waits for
	 * one turn of it, which feeds the controller all the keys. */
	for (i = 0; i < 60000; i++) {
		struct store_kv *kv = NULL;

		if (store_get(f->st, key, &kv) == 0) {
			store_kv_free(kv);
			break;
		}
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	settle_and_verify(f);
	controller_stats(f->ctl, &s);
	assert_int_equal(s.rebuilds, 2);
}

/* The object at KEY (NULL when there is none); the caller decrefs. */
static json_t *
get_doc(struct fixture *f, const char *key)
{
	struct store_kv	*kv = NULL;
	json_t		*doc;

	if (store_get(f->st, key, &kv) < 0)
		return NULL;
	doc = json_loadb(kv->value, kv->value_len, 0, NULL);
	store_kv_free(kv);
	return doc;
}

/* Writes DOC (taken) at KEY and lets the controller settle. */
static void
put_doc(struct fixture *f, const char *key, json_t *doc)
{
	json_object_del(json_object_get(doc, "metadata"), "revision");
	submit(f, key, json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS));
	json_decref(doc);
	settle_and_verify(f);
}

/* What an agent reports for instance NAME of workload w: Running on n1,
 * READY or not. */
static void
run_instance(struct fixture *f, const char *name, bool ready)
{
	char	 key[64];
	json_t	*doc;

	snprintf(key, sizeof(key), "/r/instances/t1/%s", name);
	assert_non_null(doc = get_doc(f, key));
	json_object_set_new(json_object_get(doc, "spec"), "node",
	    json_string("n1"));
	json_object_set_new(doc, "status", json_pack("{s:s, s:b}", "phase",
	    "Running", "ready", ready));
	put_doc(f, key, doc);
}

/* Instance NAME's spec.FIELD, or "" when either does not exist. */
static const char *
spec_at(struct fixture *f, const char *name, const char *field,
    char buf[32])
{
	char	 key[64];
	json_t	*doc;

	snprintf(key, sizeof(key), "/r/instances/t1/%s", name);
	buf[0] = '\0';
	if ((doc = get_doc(f, key))) {
		snprintf(buf, 32, "%s", json_string_value(json_object_get(
		    json_object_get(doc, "spec"), field)) ?: "");
		json_decref(doc);
	}
	return buf;
}

/* Instance NAME's template, or "" when it does not exist. */
static const char *
template_at(struct fixture *f, const char *name, char buf[32])
{
	return spec_at(f, name, "template", buf);
}

/* Sets workload w's env VERSION (keeping its status, as the API does). */
static void
update_workload(struct fixture *f, const char *version)
{
	json_t *doc = get_doc(f, "/r/workloads/t1/w");

	assert_non_null(doc);
	json_object_set_new(json_object_get(doc, "spec"), "env",
	    json_pack("{s:s}", "VERSION", version));
	put_doc(f, "/r/workloads/t1/w", doc);
}

static const char *
rollout_at(struct fixture *f, const char *field, char buf[512])
{
	json_t *doc = get_doc(f, "/r/workloads/t1/w");

	snprintf(buf, 512, "%s", json_string_value(json_object_get(
	    json_object_get(json_object_get(doc, "status"), "rollout"),
	    field)) ?: "");
	json_decref(doc);
	return buf;
}

/* A good update with max_surge 1 makes w-2 first and replaces a replica
 * only once one more is ready than needed; the surge replica goes when
 * the update is complete. A bad one (its replica never ready) is
 * rolled back past progress_deadline_s, and status.rollout says why. */
static void
test_surge_and_rollback(void **state)
{
	struct fixture	*f = *state;
	char		 t1[32], t2[32], b[32], msg[512];

	settle_and_verify(f);
	put_doc(f, "/r/workloads/t1/w", json_pack("{s:s, s:{s:s, s:s}, "
	    "s:{s:s, s:s, s:i, s:{s:i, s:i}, s:{s:s}, s:{s:i, s:i}}}",
	    "kind", "Workload", "metadata", "name", "w", "tenant", "t1",
	    "spec", "type", "container", "image", "sha256:"
	    "0000000000000000000000000000000000000000000000000000000000000001",
	    "replicas", 2, "resources", "cpu_millis", 100, "memory_mib", 64,
	    "env", "VERSION", "1", "update_strategy", "max_surge", 1,
	    "progress_deadline_s", 1));
	run_instance(f, "w-0", true);
	run_instance(f, "w-1", true);
	assert_string_equal(rollout_at(f, "state", msg), "Complete");
	snprintf(t1, sizeof(t1), "%s", template_at(f, "w-0", b));

	update_workload(f, "2");
	snprintf(t2, sizeof(t2), "%s", template_at(f, "w-2", b));
	assert_true(t2[0] && strcmp(t1, t2) != 0);
	assert_string_equal(rollout_at(f, "state", msg), "Progressing");
	assert_string_equal(template_at(f, "w-0", b), t1);
	assert_string_equal(template_at(f, "w-1", b), t1);
	run_instance(f, "w-2", false);
	assert_string_equal(template_at(f, "w-0", b), t1);
	run_instance(f, "w-2", true);
	/* w-0 was replaced (made again, not Running yet); w-1 waits. */
	assert_string_equal(template_at(f, "w-0", b), t2);
	assert_string_equal(template_at(f, "w-1", b), t1);
	run_instance(f, "w-0", true);
	assert_string_equal(template_at(f, "w-1", b), t2);
	assert_string_equal(template_at(f, "w-2", b), t2);
	run_instance(f, "w-1", true);
	assert_string_equal(rollout_at(f, "state", msg), "Complete");
	assert_string_equal(template_at(f, "w-2", b), "");

	update_workload(f, "3");
	run_instance(f, "w-2", false);
	assert_string_equal(rollout_at(f, "state", msg), "Progressing");
	nanosleep(&(struct timespec){ 2, 200000000 }, NULL);
	controller_kick(f->ctl);
	settle_and_verify(f);
	assert_string_equal(rollout_at(f, "state", msg), "RolledBack");
	assert_string_equal(rollout_at(f, "reason", msg), "ProgressDeadlineExceeded");
	assert_non_null(strstr(rollout_at(f, "message", msg), "w-2: Running, "
	    "not ready"));
	assert_string_equal(template_at(f, "w-2", b), "");
	assert_string_equal(template_at(f, "w-0", b), t2);
	assert_string_equal(template_at(f, "w-1", b), t2);
}

/* Node NAME, Trusted, in PHASE. */
static void
put_node(struct fixture *f, const char *name, const char *phase)
{
	char key[64];

	snprintf(key, sizeof(key), "/r/nodes/%s", name);
	put_doc(f, key, json_pack("{s:s, s:{s:s, s:s}, s:{s:{s:i, s:i, s:i}}, "
	    "s:{s:s, s:s}}", "kind", "Node", "metadata", "name", name,
	    "tenant", "system", "spec", "capacity", "cpu_millis", 4000,
	    "memory_mib", 4096, "instances", 10, "status", "phase", phase,
	    "attestation", "Trusted"));
}

/* A node the stale scan made NotReady is lost: its instances are
 * unbound and placed on the other node. */
static void
test_lost_node_rescheduled(void **state)
{
	struct fixture	*f = *state;
	char		 lost[32], b[32];
	const char	*other;

	put_node(f, "n1", "Ready");
	put_node(f, "n2", "Ready");
	put_doc(f, "/r/workloads/t1/w", json_pack("{s:s, s:{s:s, s:s}, "
	    "s:{s:s, s:s, s:i, s:{s:i, s:i}}}", "kind", "Workload",
	    "metadata", "name", "w", "tenant", "t1", "spec", "type",
	    "container", "image", "sha256:"
	    "0000000000000000000000000000000000000000000000000000000000000001",
	    "replicas", 3, "resources", "cpu_millis", 100, "memory_mib", 64));
	snprintf(lost, sizeof(lost), "%s", spec_at(f, "w-0", "node", b));
	assert_true(lost[0] != '\0');
	other = strcmp(lost, "n1") == 0 ? "n2" : "n1";
	put_node(f, lost, "NotReady");
	for (int i = 0; i < 3; i++) {
		char name[8];

		snprintf(name, sizeof(name), "w-%d", i);
		assert_string_equal(spec_at(f, name, "node", b), other);
	}
}

/* Requests queued on the committer while COUNT_SUBMITS is set, by
 * whoever queues them (the controller, its autoscaler): commit_submit()
 * and commit_submit_many() are wrapped (-Wl,--wrap) to count them. */
static int		 count_submits;
static unsigned		 submits_counted;

void __real_commit_submit(struct committer *c, struct commit_req *req);
void __wrap_commit_submit(struct committer *c, struct commit_req *req);
void __real_commit_submit_many(struct committer *c, struct commit_req **reqs,
    size_t n);
void __wrap_commit_submit_many(struct committer *c, struct commit_req **reqs,
    size_t n);

void
__wrap_commit_submit(struct committer *c, struct commit_req *req)
{
	if (count_submits)
		submits_counted++;
	__real_commit_submit(c, req);
}

void
__wrap_commit_submit_many(struct committer *c, struct commit_req **reqs,
    size_t n)
{
	if (count_submits)
		submits_counted += (unsigned)n;
	__real_commit_submit_many(c, reqs, n);
}

/* A detached controller (a replica that lost leadership) issues no
 * write of its own after detach, even when its writes in flight
 * complete: nothing is queued on the committer from the detach until
 * the controller is idle. The detach comes while the first pass's
 * writes are in flight; among them the placement's volume.bind, whose
 * completion would have the model bind the volume's snapshot
 * (volumesnapshot.bind), and the snapshot stays unbound unless a loaded
 * machine let that bind, the leader's, complete before the detach. */
static void
test_detached_writes_nothing(void **state)
{
	struct fixture		*f = *state;
	struct controller_stats	 s;
	unsigned		 passes0, i;
	json_t			*snap;
	int			 detached = 0, bound_before;

	settle_and_verify(f);
	submit(f, "/r/nodes/n1", node_doc(1, 0));
	submit(f, "/r/volumes/t0/v1", strdup("{\"kind\":\"Volume\",\"metadata\":"
	    "{\"name\":\"v1\",\"tenant\":\"t0\"},\"spec\":{\"size_bytes\":16777216}}"));
	submit(f, "/r/volumesnapshots/t0/s1", strdup("{\"kind\":\"VolumeSnapshot\","
	    "\"metadata\":{\"name\":\"s1\",\"tenant\":\"t0\"},\"spec\":{\"volume\":\"v1\"}}"));
	settle_and_verify(f);
	controller_stats(f->ctl, &s);
	passes0 = (unsigned)s.passes;
	submit(f, "/r/workloads/t0/w1", strdup("{\"kind\":\"Workload\",\"metadata\":"
	    "{\"name\":\"w1\",\"tenant\":\"t0\"},\"spec\":{\"type\":\"container\","
	    "\"image\":\"sha256:0000000000000000000000000000000000000000000000000000000000000000\","
	    "\"replicas\":1,\"resources\":{\"cpu_millis\":100,\"memory_mib\":64},"
	    "\"volumes\":[{\"volume\":\"v1\",\"path\":\"/data\"}]}}"));
	for (i = 0; i < 20000 && !detached; i++) {
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		controller_stats(f->ctl, &s);
		if (s.scheduled == 0 && !controller_idle(f->ctl) &&
		    s.passes >= passes0 + 2) {
			controller_detach(f->ctl);	/* leadership lost */
			detached = 1;
			submits_counted = 0;
			count_submits = 1;
		}
		nanosleep(&(struct timespec){ 0, 100000 }, NULL);
	}
	assert_true(detached);
	snap = get_doc(f, "/r/volumesnapshots/t0/s1");
	bound_before = json_object_get(json_object_get(snap, "spec"), "node") != NULL;
	json_decref(snap);
	for (i = 0; i < 200000 && !(controller_idle(f->ctl) && f->pending == 0); i++) {
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		nanosleep(&(struct timespec){ 0, 100000 }, NULL);
	}
	count_submits = 0;
	/* the writes in flight at the detach completed, and queued none */
	assert_true(controller_idle(f->ctl));
	assert_int_equal(submits_counted, 0);
	if (bound_before) {
		print_message("the snapshot was bound before the detach\n");
		return;
	}
	snap = get_doc(f, "/r/volumesnapshots/t0/s1");
	assert_null(json_object_get(json_object_get(snap, "spec"), "node"));
	json_decref(snap);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_detached_writes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_changes_match_rebuild,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_gap_rebuilds, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lost_node_rescheduled,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_surge_and_rollback, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
