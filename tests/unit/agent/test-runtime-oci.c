/* OCI config generation and input validation of the runtime. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/oci.h"
#include "agent/runtime.h"
#include "lib/err.h"
#include "lib/json.h"

static const char *const args[] = { "/bin/sh", "-c", "true", NULL };

static struct oci_spec
base(void)
{
	struct oci_spec s;

	memset(&s, 0, sizeof(s));
	s.rootfs = "/var/lib/images/rootfs/abc";
	s.argv = args;
	s.cgroups_path = "/bulwark/bw-x";
	return s;
}

static bool
has_string(json_t *a, const char *v)
{
	size_t	 i;
	json_t	*e;

	json_array_foreach(a, i, e)
		if (json_is_string(e) && !strcmp(json_string_value(e), v))
			return true;
	return false;
}

static void
test_defaults_are_hardened(void **state)
{
	struct oci_spec	 s = base();
	json_t		*cfg = NULL, *ns, *e, *sc;
	char		*err = NULL;
	size_t		 i;
	bool		 net = false, pid = false, mnt = false;
	bool		 ipc = false, uts = false;

	(void)state;
	assert_int_equal(oci_config_build(&s, &cfg, &err), 0);
	assert_true(json_is_true(json_object_get(json_object_get(cfg, "root"),
	    "readonly")));
	assert_true(json_is_true(json_object_get(json_object_get(cfg,
	    "process"), "noNewPrivileges")));
	/* No capability at all by default. */
	assert_int_equal(json_array_size(json_object_get(json_object_get(
	    json_object_get(cfg, "process"), "capabilities"), "bounding")), 0);
	ns = json_object_get(json_object_get(cfg, "linux"), "namespaces");
	json_array_foreach(ns, i, e) {
		const char *t = json_string_value(json_object_get(e, "type"));

		net |= !strcmp(t, "network") && !json_object_get(e, "path");
		pid |= !strcmp(t, "pid");
		mnt |= !strcmp(t, "mount");
		ipc |= !strcmp(t, "ipc");
		uts |= !strcmp(t, "uts");
	}
	assert_true(net && pid && mnt && ipc && uts);
	sc = json_object_get(json_object_get(cfg, "linux"), "seccomp");
	assert_string_equal(json_string_value(json_object_get(sc,
	    "defaultAction")), "SCMP_ACT_ALLOW");
	assert_true(has_string(json_object_get(json_array_get(json_object_get(
	    sc, "syscalls"), 0), "names"), "mount"));
	assert_true(has_string(json_object_get(json_array_get(json_object_get(
	    sc, "syscalls"), 0), "names"), "unshare"));
	/* pids always limited; no memory or cpu limit unless asked. */
	e = json_object_get(json_object_get(cfg, "linux"), "resources");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(e,
	    "pids"), "limit")), OCI_DEFAULT_PIDS);
	assert_null(json_object_get(e, "memory"));
	assert_null(json_object_get(e, "cpu"));
	json_decref(cfg);
}

static void
test_limits_caps_netns(void **state)
{
	const char *const	 caps[] = { "CAP_NET_RAW", NULL };
	struct oci_spec		 s = base();
	json_t			*cfg = NULL, *res, *ns, *e;
	size_t			 i;
	bool			 path = false;

	(void)state;
	s.cpu_millis = 250;
	s.memory_mib = 64;
	s.pids_max = 10;
	s.capabilities = caps;
	s.netns_path = "/run/netns/bw-x";
	assert_int_equal(oci_config_build(&s, &cfg, NULL), 0);
	res = json_object_get(json_object_get(cfg, "linux"), "resources");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res,
	    "cpu"), "quota")), 25000);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res,
	    "cpu"), "period")), 100000);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res,
	    "memory"), "limit")), 64 << 20);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res,
	    "memory"), "swap")), 64 << 20);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res,
	    "pids"), "limit")), 10);
	assert_true(has_string(json_object_get(json_object_get(json_object_get(
	    cfg, "process"), "capabilities"), "effective"), "CAP_NET_RAW"));
	ns = json_object_get(json_object_get(cfg, "linux"), "namespaces");
	json_array_foreach(ns, i, e)
		if (!strcmp(json_string_value(json_object_get(e, "type")),
		    "network"))
			path = !strcmp(json_string_value(json_object_get(e,
			    "path")), "/run/netns/bw-x");
	assert_true(path);
	json_decref(cfg);
}

/* A user namespace joined by path with its map, and idmapped read-only
 * bind mounts of the image's top-level directories; refusals of a map
 * at host id 0 or past 2^32 and of idmapped directories without one. */
static void
test_userns(void **state)
{
	const char *const	 dirs[] = { "bin", "etc", NULL };
	const char *const	 bad[] = { "../x", NULL };
	struct oci_spec		 s = base();
	json_t			*cfg = NULL, *lnx, *m, *e;
	size_t			 i;
	bool			 user = false, etc = false;
	char			*err = NULL;

	(void)state;
	s.userns_host = 165536;
	s.userns_size = 65536;
	s.userns_path = "/run/bulwark/userns/x";
	s.idmap_dirs = dirs;
	assert_int_equal(oci_config_build(&s, &cfg, NULL), 0);
	lnx = json_object_get(cfg, "linux");
	json_array_foreach(json_object_get(lnx, "namespaces"), i, e)
		if (!strcmp(json_string_value(json_object_get(e, "type")),
		    "user"))
			user = !strcmp(json_string_value(json_object_get(e,
			    "path")), "/run/bulwark/userns/x");
	assert_true(user);
	for (const char *k = "uidMappings"; k; k = strcmp(k, "uidMappings") ?
	    NULL : "gidMappings") {
		m = json_array_get(json_object_get(lnx, k), 0);
		assert_int_equal(json_integer_value(json_object_get(m,
		    "containerID")), 0);
		assert_int_equal(json_integer_value(json_object_get(m,
		    "hostID")), 165536);
		assert_int_equal(json_integer_value(json_object_get(m, "size")),
		    65536);
	}
	json_array_foreach(json_object_get(cfg, "mounts"), i, e)
		if (!strcmp(json_string_value(json_object_get(e,
		    "destination")), "/etc")) {
			assert_string_equal(json_string_value(json_object_get(e,
			    "source")), "/var/lib/images/rootfs/abc/etc");
			assert_true(has_string(json_object_get(e, "options"),
			    "idmap"));
			assert_true(has_string(json_object_get(e, "options"),
			    "ro"));
			etc = true;
		}
	assert_true(etc);
	json_decref(cfg);

	s.userns_host = 0;
	assert_int_equal(oci_config_build(&s, &cfg, &err), -BW_E_INVALID);
	free(err);
	err = NULL;
	s.userns_host = 4294967295u - 100;
	assert_int_equal(oci_config_build(&s, &cfg, &err), -BW_E_INVALID);
	free(err);
	err = NULL;
	s.userns_host = 100000;
	s.idmap_dirs = bad;
	assert_int_equal(oci_config_build(&s, &cfg, &err), -BW_E_INVALID);
	free(err);
	err = NULL;
	s.idmap_dirs = dirs;
	s.userns_size = 0;
	assert_int_equal(oci_config_build(&s, &cfg, &err), -BW_E_INVALID);
	free(err);
}

static void
test_refusals(void **state)
{
	const char *const	 bad_caps[] = { "CAP_EVERYTHING", NULL };
	const char *const	 bad_env[] = { "NOEQUALS", NULL };
	const char *const	 empty[] = { NULL };
	struct oci_spec		 s;
	json_t			*cfg = NULL;
	char			*err = NULL;

	(void)state;
	s = base();
	s.capabilities = bad_caps;
	assert_int_equal(oci_config_build(&s, &cfg, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "CAP_EVERYTHING"));
	free(err);
	s = base();
	s.env = bad_env;
	assert_int_equal(oci_config_build(&s, &cfg, NULL), -BW_E_INVALID);
	s = base();
	s.argv = empty;
	assert_int_equal(oci_config_build(&s, &cfg, NULL), -BW_E_INVALID);
	s = base();
	s.rootfs = "relative";
	assert_int_equal(oci_config_build(&s, &cfg, NULL), -BW_E_INVALID);
	assert_null(cfg);
	assert_int_equal(oci_check_capability("CAP_SYS_ADMIN"), 0);
	assert_int_equal(oci_check_capability("cap_sys_admin"), -BW_E_INVALID);
}

static void
test_ids(void **state)
{
	(void)state;
	assert_int_equal(runtime_check_id("web-1", NULL), 0);
	assert_int_equal(runtime_check_id("-x", NULL), -BW_E_INVALID);
	assert_int_equal(runtime_check_id("A", NULL), -BW_E_INVALID);
	assert_int_equal(runtime_check_id("a/b", NULL), -BW_E_INVALID);
	assert_int_equal(runtime_check_id("..", NULL), -BW_E_INVALID);
	assert_int_equal(runtime_check_id("", NULL), -BW_E_INVALID);
	assert_int_equal(runtime_check_id(
	    "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij", NULL),
	    -BW_E_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_are_hardened),
		cmocka_unit_test(test_limits_caps_netns),
		cmocka_unit_test(test_userns),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
