#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "controlplane/resource.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"

#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define WL_HEAD "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"web\",\"tenant\":\"acme\"},"

#define WV_HEAD "{\"kind\":\"Waiver\",\"metadata\":{\"name\":\"w1\"},\"spec\":{"

struct vcase {
	const char *doc;
	const char *want_err;	/* NULL: valid */
};

#define WL_ENV(env) WL_HEAD "\"spec\":{\"type\":\"container\",\"image\":\"" \
	DIGEST "\",\"replicas\":1,\"resources\":{\"cpu_millis\":1," \
	"\"memory_mib\":64},\"env\":" env "}}"

#define WL_PROBES(pr) WL_HEAD "\"spec\":{\"type\":\"container\",\"image\":\"" \
	DIGEST "\",\"replicas\":1,\"resources\":{\"cpu_millis\":1," \
	"\"memory_mib\":64},\"probes\":" pr "}}"

#define WL_AUTOSCALE(as) WL_HEAD "\"spec\":{\"type\":\"container\"," \
	"\"image\":\"" DIGEST "\",\"replicas\":1,\"resources\":" \
	"{\"cpu_millis\":1,\"memory_mib\":64},\"autoscale\":" as "}}"

#define VOL(spec) "{\"kind\":\"Volume\",\"metadata\":{\"name\":\"v\"," \
	"\"tenant\":\"acme\"},\"spec\":" spec "}"
#define WL_VOL(v) WL_HEAD "\"spec\":{\"type\":\"container\",\"image\":\"" \
	DIGEST "\",\"replicas\":1,\"resources\":{\"cpu_millis\":1," \
	"\"memory_mib\":64},\"volumes\":" v "}}"

static const struct vcase cases[] = {
	/* volumes (issue 22) */
	{ VOL("{\"size_bytes\":16777216,\"type\":\"filesystem\"}"), NULL },
	{ VOL("{\"size_bytes\":1024}"),
	  "spec.size_bytes: must be an integer 16777216..1099511627776" },
	{ VOL("{}"), "spec.size_bytes: is required" },
	{ VOL("{\"size_bytes\":16777216,\"type\":\"nfs\"}"), "spec.type:" },
	{ WL_VOL("[{\"volume\":\"db\",\"path\":\"/var/lib/db\"}]"), NULL },
	{ WL_VOL("[{\"volume\":\"db\",\"path\":\"/data/../etc\"}]"),
	  "spec.volumes[0].path: must be an absolute path" },
	{ WL_VOL("[{\"volume\":\"db\",\"path\":\"/proc/x\"}]"),
	  "spec.volumes[0].path: /proc is the runtime's own" },
	{ WL_VOL("[{\"volume\":\"db\"},{\"volume\":\"db2\"}]"),
	  "spec.volumes:" },
	{ "{\"kind\":\"VolumeSnapshot\",\"metadata\":{\"name\":\"s\","
	  "\"tenant\":\"acme\"},\"spec\":{}}", "spec.volume: is required" },
	/* probes (issue 23) */
	{ WL_PROBES("{\"liveness\":{\"http\":{\"port\":8080,\"path\":\"/h?x=1\"},"
	  "\"initial_delay_s\":5,\"period_s\":2,\"timeout_s\":2,"
	  "\"failure_threshold\":3},\"readiness\":{\"tcp\":{\"port\":5432}}}"),
	  NULL },
	{ WL_PROBES("{\"liveness\":{\"http\":{\"port\":80},\"tcp\":{\"port\":80}}}"),
	  "spec.probes.liveness: needs exactly one of http, tcp and exec" },
	{ WL_PROBES("{\"readiness\":{}}"),
	  "spec.probes.readiness: needs exactly one of http, tcp and exec" },
	{ WL_PROBES("{\"liveness\":{\"tcp\":{\"port\":65536}}}"),
	  "spec.probes.liveness.tcp.port: must be an integer 1..65535" },
	{ WL_PROBES("{\"liveness\":{\"tcp\":{}}}"),
	  "spec.probes.liveness.tcp.port: is required" },
	{ WL_PROBES("{\"liveness\":{\"http\":{\"port\":80,\"path\":\"/a\\r\\nX: y\"}}}"),
	  "spec.probes.liveness.http.path: must start with /" },
	{ WL_PROBES("{\"liveness\":{\"tcp\":{\"port\":80},\"timeout_s\":11}}"),
	  "spec.probes.liveness.timeout_s: must not exceed period_s (10)" },
	{ WL_PROBES("{\"liveness\":{\"tcp\":{\"port\":80},\"timeout_s\":61}}"),
	  "spec.probes.liveness.timeout_s: must be an integer 1..60" },
	{ WL_PROBES("{\"startup\":{\"tcp\":{\"port\":80}}}"),
	  "spec.probes.startup: unknown field" },
	{ WL_PROBES("{\"readiness\":{\"exec\":{\"command\":[\"pg_isready\","
	  "\"-q\"]},\"timeout_s\":3}}"), NULL },
	{ WL_PROBES("{\"readiness\":{\"exec\":{\"command\":[]}}}"),
	  "spec.probes.readiness.exec.command: 1..16 arguments" },
	{ WL_PROBES("{\"readiness\":{\"exec\":{\"command\":[\"a\",2]}}}"),
	  "spec.probes.readiness.exec.command[1]: must be a string" },
	{ WL_PROBES("{\"readiness\":{\"exec\":{\"command\":[\"a\"],"
	  "\"cmd\":1}}}"), "spec.probes.readiness.exec.cmd: unknown field" },
	/* services (issue 23) */
	{ WL_HEAD "\"spec\":{\"type\":\"container\",\"image\":\"" DIGEST "\","
	  "\"replicas\":1,\"resources\":{\"cpu_millis\":1,\"memory_mib\":64},"
	  "\"service\":{\"address\":\"10.96.3.4\",\"port\":80,"
	  "\"target_port\":8080}}}", NULL },
	{ WL_HEAD "\"spec\":{\"type\":\"container\",\"image\":\"" DIGEST "\","
	  "\"replicas\":1,\"resources\":{\"cpu_millis\":1,\"memory_mib\":64},"
	  "\"service\":{\"address\":\"10.97.0.4\",\"port\":80}}}",
	  "spec.service.address: must be an IPv4 address of the service pool" },
	{ WL_HEAD "\"spec\":{\"type\":\"container\",\"image\":\"" DIGEST "\","
	  "\"replicas\":1,\"resources\":{\"cpu_millis\":1,\"memory_mib\":64},"
	  "\"service\":{\"address\":\"10.96.0.255\",\"port\":80}}}",
	  "spec.service.address: must be an IPv4 address of the service pool" },
	/* autoscaling (issue 23) */
	{ WL_AUTOSCALE("{\"min\":2,\"max\":8,\"target_cpu_percent\":60,"
	  "\"scale_up_window_s\":0,\"stabilization_window_s\":300}"), NULL },
	{ WL_AUTOSCALE("{\"min\":1,\"max\":1,\"target_cpu_percent\":100,"
	  "\"stabilization_window_s\":0}"), NULL },
	{ WL_AUTOSCALE("{\"min\":3,\"max\":2,\"target_cpu_percent\":60,"
	  "\"stabilization_window_s\":30}"),
	  "spec.autoscale.max: must be at least min (3)" },
	{ WL_AUTOSCALE("{\"min\":0,\"max\":2,\"target_cpu_percent\":60,"
	  "\"stabilization_window_s\":30}"),
	  "spec.autoscale.min: must be an integer 1..1000" },
	{ WL_AUTOSCALE("{\"min\":1,\"max\":1001,\"target_cpu_percent\":60,"
	  "\"stabilization_window_s\":30}"),
	  "spec.autoscale.max: must be an integer 1..1000" },
	{ WL_AUTOSCALE("{\"min\":1,\"max\":2,\"target_cpu_percent\":101,"
	  "\"stabilization_window_s\":30}"),
	  "spec.autoscale.target_cpu_percent: must be an integer 1..100" },
	{ WL_AUTOSCALE("{\"min\":1,\"max\":2,\"target_cpu_percent\":50}"),
	  "spec.autoscale.stabilization_window_s: is required" },
	{ WL_AUTOSCALE("{\"min\":1,\"max\":2,\"target_cpu_percent\":50,"
	  "\"stabilization_window_s\":3601}"),
	  "spec.autoscale.stabilization_window_s: must be an integer 0..3600" },
	{ WL_AUTOSCALE("{\"min\":1,\"max\":2,\"target_cpu_percent\":50,"
	  "\"stabilization_window_s\":30,\"scale_up_window_s\":-1}"),
	  "spec.autoscale.scale_up_window_s: must be an integer 0..3600" },
	{ WL_AUTOSCALE("{\"min\":1,\"max\":2,\"target_cpu_percent\":50,"
	  "\"stabilization_window_s\":30,\"metric\":\"memory\"}"),
	  "spec.autoscale.metric: unknown field" },
	{ WL_AUTOSCALE("3"), "spec.autoscale: must be an object" },
	/* env: identifiers to text (issue 13) */
	{ WL_ENV("{\"JAVA_OPTS\":\"-Xmx512m -Dx=y\","
	  "\"U\":\"https://a/b?c=d&e\","
	  "\"_t\":\"gr\\u00fc\\u00df\\tx\\ny\",\"E\":\"\"}"), NULL },
	{ WL_ENV("{\"A-B\":\"x\"}"), "spec.env: invalid name" },
	{ WL_ENV("{\"9A\":\"x\"}"), "spec.env: invalid name" },
	{ WL_ENV("{\"A\":\"x\\u001by\"}"), "spec.env.A: must be text" },
	{ WL_ENV("{\"A\":\"x\\u0085y\"}"), "spec.env.A: must be text" },
	{ WL_ENV("{\"A\":\"x\\ry\"}"), "spec.env.A: must be text" },
	{ WL_ENV("{\"A\":1}"), "spec.env.A: must be a string" },
	{ "{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"acme\"},\"spec\":{}}", NULL },
	{ WL_HEAD "\"spec\":{\"type\":\"container\",\"image\":\"" DIGEST "\","
	  "\"replicas\":3,\"resources\":{\"cpu_millis\":250,\"memory_mib\":64},"
	  "\"spread\":[{\"topology_key\":\"zone\",\"max_skew\":1}],"
	  "\"restart_policy\":\"always\"}}", NULL },
	{ WL_HEAD "\"spec\":{\"type\":\"container\",\"image\":\"" DIGEST "\","
	  "\"replicas\":1001,\"resources\":{\"cpu_millis\":1,\"memory_mib\":64}}}",
	  "spec.replicas: must be an integer 0..1000" },
	{ WL_HEAD "\"spec\":{\"type\":\"container\",\"image\":\"" DIGEST "\","
	  "\"replicas\":\"3\",\"resources\":{\"cpu_millis\":1,\"memory_mib\":64}}}",
	  "spec.replicas: must be an integer 0..1000" },
	{ WL_HEAD "\"spec\":{\"type\":\"container\",\"image\":\"" DIGEST "\","
	  "\"replicas\":3,\"resources\":{\"cpu_millis\":1,\"memory_mib\":64},"
	  "\"replica\":2}}", "spec.replica: unknown field" },
	{ WL_HEAD "\"spec\":{\"type\":\"container\",\"image\":\"" DIGEST "\","
	  "\"replicas\":3,\"resources\":{\"cpu_millis\":1,\"memory_mib\":64},"
	  "\"update_strategy\":{\"max_unavailable\":2,\"max_surge\":0}}}", NULL },
	{ WL_HEAD "\"spec\":{\"type\":\"container\",\"image\":\"" DIGEST "\","
	  "\"replicas\":3,\"resources\":{\"cpu_millis\":1,\"memory_mib\":64},"
	  "\"update_strategy\":{\"max_surge\":1,\"max_unavailable\":0,"
	  "\"progress_deadline_s\":30}}}", NULL },
	{ WL_HEAD "\"spec\":{\"type\":\"container\",\"image\":\"" DIGEST "\","
	  "\"replicas\":3,\"resources\":{\"cpu_millis\":1,\"memory_mib\":64},"
	  "\"update_strategy\":{\"max_surge\":101}}}",
	  "spec.update_strategy.max_surge: must be an integer 0..100" },
	{ WL_HEAD "\"spec\":{\"type\":\"container\",\"image\":\"" DIGEST "\","
	  "\"replicas\":3,\"resources\":{\"cpu_millis\":1,\"memory_mib\":64},"
	  "\"update_strategy\":{\"progress_deadline_s\":0}}}",
	  "spec.update_strategy.progress_deadline_s: must be an integer 1..86400" },
	{ WL_HEAD "\"spec\":{\"type\":\"container\",\"image\":\"" DIGEST "\","
	  "\"replicas\":3,\"resources\":{\"cpu_millis\":1,\"memory_mib\":64},"
	  "\"update_strategy\":{\"max_unavailable\":0}}}",
	  "spec.update_strategy: max_unavailable 0 needs a max_surge of at least 1" },
	{ WL_HEAD "\"spec\":{\"type\":\"lxc\",\"image\":\"" DIGEST "\","
	  "\"replicas\":3,\"resources\":{\"cpu_millis\":1,\"memory_mib\":64}}}",
	  "spec.type: must be one of container, vm" },
	{ WL_HEAD "\"spec\":{\"type\":\"vm\",\"image\":\"sha256:xyz\","
	  "\"replicas\":3,\"resources\":{\"cpu_millis\":1,\"memory_mib\":64}}}",
	  "spec.image: must be \"sha256:\"" },
	{ WL_HEAD "\"spec\":{\"type\":\"vm\",\"image\":\"" DIGEST "\","
	  "\"replicas\":3}}", "spec.resources: is required" },
	{ WL_HEAD "\"spec\":{\"type\":\"vm\",\"image\":\"" DIGEST "\","
	  "\"replicas\":3,\"resources\":{\"cpu_millis\":1,\"memory_mib\":64},"
	  "\"spread\":[{\"topology_key\":\"zone\",\"max_skew\":1},"
	  "{\"topology_key\":\"planet\",\"max_skew\":1}]}}",
	  "spec.spread[1].topology_key: must be one of zone, rack, node" },
	{ "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"Web\",\"tenant\":\"acme\"}}",
	  "metadata.name: must be 1..63 lowercase" },
	{ "{\"kind\":\"Gadget\",\"metadata\":{\"name\":\"x\"}}",
	  "kind: unknown kind \"Gadget\"" },
	{ "{\"metadata\":{\"name\":\"x\"}}", "kind: is required" },
	{ "{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"x\"},\"extra\":1}",
	  "extra: unknown field" },
	{ "{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"x\",\"tenant\":\"acme\"}}",
	  "metadata.tenant: Tenant objects belong to \"system\"" },
	{ "{\"kind\":\"Network\",\"metadata\":{\"name\":\"n\"}}",
	  "metadata.tenant: is required for Network" },
	{ "{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"x\",\"labels\":{\"a b\":\"c\"}}}",
	  "metadata.labels: invalid key" },
	{ "[1,2]", "body: must be a JSON object" },
	/* fuzzing found a null tenant crashing the daemon (F1) */
	{ "{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"x\",\"tenant\":null}}",
	  "metadata.tenant: must not be null" },
	{ "{\"kind\":\"Network\",\"metadata\":{\"name\":\"n\",\"tenant\":null}}",
	  "metadata.tenant: must not be null" },
	/* waivers (issue 20): what the schema checks; the endpoint adds one
	 * target, an expiry to come, an approver other than the requester */
	{ WV_HEAD "\"control\":\"ac-7\",\"justification\":\"j\","
	  "\"expires\":\"2027-01-31T00:00:00Z\",\"scope\":\"appliance\","
	  "\"approver\":\"aud2\"}}", NULL },
	{ WV_HEAD "\"check\":\"au-review\",\"justification\":\"j\","
	  "\"expires\":\"2027-01-31\",\"scope\":\"node/n1\"}}", NULL },
	{ WV_HEAD "\"control\":\"AC-7\",\"justification\":\"j\","
	  "\"expires\":\"2027-01-31T00:00:00Z\"}}",
	  "spec.control: must be a control or check id" },
	{ WV_HEAD "\"control\":\"ac-7\",\"justification\":\"j\","
	  "\"expires\":\"next week\"}}", "spec.expires: must be a UTC time" },
	{ WV_HEAD "\"control\":\"ac-7\",\"justification\":\"j\","
	  "\"expires\":\"2027-01-31T00:00:00+02:00\"}}",
	  "spec.expires: must be a UTC time" },
	{ WV_HEAD "\"control\":\"ac-7\",\"expires\":\"2027-01-31\"}}",
	  "spec.justification: is required" },
	{ WV_HEAD "\"control\":\"ac-7\",\"justification\":\"\","
	  "\"expires\":\"2027-01-31\"}}", "spec.justification: length must be 1..4096" },
	{ WV_HEAD "\"control\":\"ac-7\",\"justification\":\"j\","
	  "\"expires\":\"2027-01-31\",\"scope\":\"node/\"}}",
	  "spec.scope: must be \"appliance\" or \"node/NAME\"" },
	{ WV_HEAD "\"control\":\"ac-7\",\"justification\":\"j\","
	  "\"expires\":\"2027-01-31\",\"approved_by\":\"x\"}}",
	  "spec.approved_by: unknown field" },
};

static void
test_validate_table(void **state)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(cases); i++) {
		const struct res_kind	*k = NULL;
		json_t			*doc;
		char			*err = NULL;
		int			 r;

		doc = json_loads(cases[i].doc, JSON_DECODE_ANY, NULL);
		assert_non_null(doc);
		r = res_validate(doc, NULL, NULL, &k, &err);
		if (!cases[i].want_err) {
			if (r != 0)
				fail_msg("case %zu: unexpected error %s", i, err);
			assert_non_null(k);
		} else {
			assert_int_equal(r, -BW_E_INVALID);
			if (!err || !strstr(err, cases[i].want_err))
				fail_msg("case %zu: got \"%s\", want \"%s\"", i,
				    err ? err : "(null)", cases[i].want_err);
		}
		free(err);
		json_decref(doc);
	}
}

static void
test_default_tenant_and_kind_from_path(void **state)
{
	const struct res_kind	*k = NULL;
	json_t			*doc = json_loads("{\"metadata\":{\"name\":\"n1\"}}", 0, NULL);
	char			*err = NULL;

	assert_int_equal(res_validate(doc, res_kind_by_plural("networks"),
	    "acme", &k, &err), 0);
	assert_string_equal(res_tenant(doc), "acme");
	assert_string_equal(k->kind, "Network");
	json_decref(doc);
}

static void
test_keys_and_lookup(void **state)
{
	char buf[RES_KEY_MAX];

	assert_int_equal(res_key(res_kind_by_name("Workload"), "acme", "web",
	    buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/r/workloads/acme/web");
	assert_int_equal(res_key(res_kind_by_name("Node"), "acme", "n1",
	    buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/r/nodes/n1");
	assert_int_equal(res_prefix(res_kind_by_name("Workload"), NULL, buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "/r/workloads/");
	assert_ptr_equal(res_kind_lookup("workload"), res_kind_by_name("Workload"));
	assert_ptr_equal(res_kind_lookup("Workloads"), res_kind_by_name("Workload"));
	assert_ptr_equal(res_kind_lookup("rolebinding"), res_kind_by_name("RoleBinding"));
	assert_null(res_kind_lookup("wl"));
	assert_int_equal(res_key(res_kind_by_name("Node"), NULL, "x", buf, 4),
	    -ENAMETOOLONG);
}

/* The API server finds the node and tenant kinds by flag, and follows
 * references by kind name: each must resolve, and the one-of flags must
 * be on one kind only. */
static void
test_kind_properties(void **state)
{
	static const unsigned one_of[] = { RES_F_NODE, RES_F_TENANT_DEFINING };
	const struct res_kind	*k;
	size_t			 n, i, j, seen;

	assert_ptr_equal(res_kind_by_flag(RES_F_NODE), res_kind_by_name("Node"));
	assert_ptr_equal(res_kind_by_flag(RES_F_TENANT_DEFINING),
	    res_kind_by_name("Tenant"));
	assert_null(res_kind_by_flag(RES_F_NODE | RES_F_TENANT_DEFINING));
	k = res_kinds(&n);
	for (j = 0; j < sizeof(one_of) / sizeof(one_of[0]); j++) {
		for (i = seen = 0; i < n; i++)
			seen += (k[i].flags & one_of[j]) != 0;
		assert_int_equal(seen, 1);
	}
	for (i = 0; i < n; i++) {
		assert_true(!k[i].ref_field == !k[i].ref_kind);
		if (k[i].ref_kind)
			assert_non_null(res_kind_by_name(k[i].ref_kind));
	}
	assert_string_equal(res_kind_by_name("Instance")->node_field, "node");
}

/* res_metadata_end()'s splice gives the bytes of dumping res_render(). */
static void
test_metadata_end(void **state)
{
	static const char *const ok[] = {
		"{\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\"},\"spec\":{}}",
		"{\"metadata\":{}}",
		"{\"a\":\"\\\"metadata\\\":{\",\"b\":[{\"metadata\":{\"x\":1}}],"
		    "\"metadata\":{\"l\":{\"k\":\"}{\\\\\\\"]\"},\"n\":\"x\"},\"z\":[1,{}]}",
		"{\"kind\":\"W\",\"metadata\":{\"u\":\"a\\n\\tb\"},\"spec\":{\"r\":1.5}}",
	};
	static const char *const bad[] = {
		"", "[]", "{\"kind\":\"x\"}", "{\"metadata\":[]}", "{\"metadata\":{",
		"{\"spec\":{\"metadata\":{}}}", "{\"a\":\"unterminated",
	};
	size_t	 i;
	int	 empty;
	long	 at;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		json_t	*doc = res_render(ok[i], strlen(ok[i]), 42);
		char	*want = json_dumps(doc, JSON_COMPACT), got[512];

		at = res_metadata_end(ok[i], strlen(ok[i]), &empty);
		assert_true(at > 0);
		snprintf(got, sizeof(got), "%.*s%s\"revision\":42%s", (int)at,
		    ok[i], empty ? "" : ",", ok[i] + at);
		assert_string_equal(got, want);
		free(want);
		json_decref(doc);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_true(res_metadata_end(bad[i], strlen(bad[i]), &empty) < 0);
}

static void
test_stored_form_and_render(void **state)
{
	json_t	*doc = json_loads("{\"kind\":\"Tenant\",\"metadata\":"
	    "{\"name\":\"a\",\"revision\":7,\"uid\":\"fake\"},\"status\":{\"x\":1}}",
	    0, NULL);
	json_t	*st, *back;
	char	*s;

	st = res_stored_form(doc, "u-1", "2026-01-01T00:00:00Z", NULL);
	assert_null(json_object_get(json_object_get(st, "metadata"), "revision"));
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(st, "metadata"), "uid")), "u-1");
	assert_int_equal(json_object_size(json_object_get(st, "status")), 0);
	s = json_dumps(st, JSON_COMPACT);
	back = res_render(s, strlen(s), 42);
	assert_int_equal(res_revision(back), 42);
	assert_null(res_render("[]", 2, 1));
	free(s);
	json_decref(st);
	json_decref(back);
	json_decref(doc);
}

static void
test_label_selector(void **state)
{
	json_t *doc = json_loads("{\"metadata\":{\"labels\":{\"app\":\"web\","
	    "\"tier\":\"front\"}}}", 0, NULL);

	assert_int_equal(res_label_match(doc, "app=web"), 1);
	assert_int_equal(res_label_match(doc, "app=web,tier=front"), 1);
	assert_int_equal(res_label_match(doc, "app=db"), 0);
	assert_int_equal(res_label_match(doc, "app!=db"), 1);
	assert_int_equal(res_label_match(doc, "app!=web"), 0);
	assert_int_equal(res_label_match(doc, "tier"), 1);
	assert_int_equal(res_label_match(doc, "zone"), 0);
	assert_int_equal(res_label_match(doc, "a b=c"), -BW_E_INVALID);
	assert_int_equal(res_label_match(doc, ""), 1);
	json_decref(doc);
}

/* ?fields=: the projection keeps the paths asked for and only them,
 * without changing the object it reads. */
static void
test_fields_projection(void **state)
{
	json_t			*doc = json_loads("{\"kind\":\"Instance\","
	    "\"metadata\":{\"name\":\"i1\",\"tenant\":\"acme\","
	    "\"labels\":{\"app\":\"web\"}},\"spec\":{\"node\":\"n1\","
	    "\"image\":\"x\"},\"status\":\"flat\"}", 0, NULL), *p;
	_cleanup_free_ char	*err = NULL, *text = NULL;
	struct res_fields	 f;
	char			 many[40 * RES_FIELDS_MAX] = "a";
	int			 i;

	(void)state;
	assert_non_null(doc);
	assert_int_equal(res_fields_parse("metadata.name,spec.node,status.phase,"
	    "metadata.labels,missing.x", &f, &err), 0);
	assert_int_equal(f.n, 5);
	assert_string_equal(f.path[1], "spec.node");
	assert_non_null(p = res_project(doc, &f));
	text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
	/* status is a string: a path into it is left out */
	assert_string_equal(text, "{\"metadata\":{\"labels\":{\"app\":"
	    "\"web\"},\"name\":\"i1\"},\"spec\":{\"node\":\"n1\"}}");
	json_decref(p);
	free(TAKE_PTR(text));
	/* a whole member and then a path inside it: the member, DOC intact */
	assert_int_equal(res_fields_parse("metadata,metadata.name", &f, &err), 0);
	assert_non_null(p = res_project(doc, &f));
	assert_true(json_equal(json_object_get(p, "metadata"),
	    json_object_get(doc, "metadata")));
	assert_int_equal(json_object_size(json_object_get(doc, "metadata")), 3);
	json_decref(p);

	/* a path DOC lacks makes no empty object on the way */
	assert_int_equal(res_fields_parse("spec.none,metadata.labels.x.y", &f,
	    &err), 0);
	assert_non_null(p = res_project(doc, &f));
	assert_int_equal(json_object_size(p), 0);
	json_decref(p);

	assert_int_equal(res_fields_parse("", &f, &err), -BW_E_INVALID);
	free(TAKE_PTR(err));
	assert_int_equal(res_fields_parse("a,,b", &f, &err), -BW_E_INVALID);
	free(TAKE_PTR(err));
	assert_int_equal(res_fields_parse("a..b", &f, &err), -BW_E_INVALID);
	free(TAKE_PTR(err));
	assert_int_equal(res_fields_parse(".a", &f, &err), -BW_E_INVALID);
	free(TAKE_PTR(err));
	assert_int_equal(res_fields_parse("a.b.", &f, &err), -BW_E_INVALID);
	free(TAKE_PTR(err));
	assert_int_equal(res_fields_parse("a b", &f, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "path 1"));
	free(TAKE_PTR(err));
	for (i = 1; i <= RES_FIELDS_MAX; i++)
		strcat(many, ",a");
	assert_int_equal(res_fields_parse(many, &f, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "at most"));
	free(TAKE_PTR(err));
	memset(many, 'a', RES_FIELD_LEN);
	many[RES_FIELD_LEN] = '\0';
	assert_int_equal(res_fields_parse(many, &f, &err), -BW_E_INVALID);
	free(TAKE_PTR(err));
	many[RES_FIELD_LEN - 1] = '\0';
	assert_int_equal(res_fields_parse(many, &f, &err), 0);
	json_decref(doc);
}

/* The store's delete label (issue 18): the node a bound kind's object
 * named, nothing for other kinds, unbound objects or text that is not
 * an object. */
static void
test_delete_label(void **state)
{
	static const char inst[] = "{\"kind\":\"Instance\",\"metadata\":"
	    "{\"name\":\"w-0\",\"tenant\":\"acme\"},\"spec\":{\"workload\":"
	    "\"w\",\"node\":\"n1\"}}";
	static const char unbound[] = "{\"spec\":{\"workload\":\"w\"}}";
	static const char wl[] = "{\"spec\":{\"node\":\"n1\"}}";
	char	 key[RES_KEY_MAX], buf[64];

	(void)state;
	assert_int_equal(res_key(res_kind_by_name("Instance"), "acme", "w-0",
	    key, sizeof(key)), 0);
	res_delete_label(key, inst, strlen(inst), buf, sizeof(buf));
	assert_string_equal(buf, "n1");
	res_delete_label(key, inst, strlen(inst), buf, 2);
	assert_string_equal(buf, "");
	res_delete_label(key, unbound, strlen(unbound), buf, sizeof(buf));
	assert_string_equal(buf, "");
	res_delete_label(key, "not json", 8, buf, sizeof(buf));
	assert_string_equal(buf, "");
	assert_int_equal(res_key(res_kind_by_name("Volume"), "acme", "v",
	    key, sizeof(key)), 0);
	res_delete_label(key, wl, strlen(wl), buf, sizeof(buf));
	assert_string_equal(buf, "n1");
	/* a Workload is not bound to a node, whatever its spec says */
	assert_int_equal(res_key(res_kind_by_name("Workload"), "acme", "w",
	    key, sizeof(key)), 0);
	res_delete_label(key, wl, strlen(wl), buf, sizeof(buf));
	assert_string_equal(buf, "");
	res_delete_label("/x/not-a-resource", wl, strlen(wl), buf, sizeof(buf));
	assert_string_equal(buf, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_table),
		cmocka_unit_test(test_default_tenant_and_kind_from_path),
		cmocka_unit_test(test_keys_and_lookup),
		cmocka_unit_test(test_kind_properties),
		cmocka_unit_test(test_stored_form_and_render),
		cmocka_unit_test(test_metadata_end),
		cmocka_unit_test(test_label_selector),
		cmocka_unit_test(test_fields_projection),
		cmocka_unit_test(test_delete_label),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
