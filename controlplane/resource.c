#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "controlplane/resource.h"
#include "lib/err.h"
#include "lib/ids.h"
#include "lib/json.h"

#define INT_FIELD(n, lo, hi)	{ .name = n, .type = SCHEMA_INT, .min = lo, .max = hi }
#define STR_FIELD(n, lo, hi)	{ .name = n, .type = SCHEMA_STRING, .min = lo, .max = hi }
#define END_FIELDS		{ .name = NULL }

static const char *const workload_types[] = { "container", "vm", NULL };
static const char *const volume_types[] = { "filesystem", "block", NULL };
static const char *const restart_policies[] = { "always", "on-failure", "never", NULL };
static const char *const topology_keys[] = { "zone", "rack", "node", NULL };
static const char *const taint_effects[] = { "NoSchedule", "NoExecute", NULL };
static const char *const image_types[] = { "container", "vm", NULL };
static const char *const image_formats[] = { "rootfs-tar", "oci-layout", "raw", "qcow2", NULL };
static const char *const roles[] = { "system-admin", "security-auditor",
	"tenant-admin", "tenant-user", "metrics", NULL };
static const char *const capabilities[] = { "CAP_NET_BIND_SERVICE",
	"CAP_NET_RAW", "CAP_CHOWN", "CAP_SETUID", "CAP_SETGID",
	"CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", NULL };

static const struct schema_field resources_fields[] = {
	INT_FIELD("cpu_millis", 1, 256000),
	INT_FIELD("memory_mib", 4, 1048576),
	INT_FIELD("pids", 1, 32768),
	END_FIELDS
};

static const struct schema_field spread_fields[] = {
	{ .name = "topology_key", .type = SCHEMA_STRING, .flags = SCHEMA_REQUIRED,
	  .one_of = topology_keys },
	{ .name = "max_skew", .type = SCHEMA_INT, .flags = SCHEMA_REQUIRED,
	  .min = 1, .max = 100 },
	END_FIELDS
};
static const struct schema_field spread_item = {
	.name = "", .type = SCHEMA_OBJECT, .fields = spread_fields,
};

static const struct schema_field anti_affinity_fields[] = {
	{ .name = "topology_key", .type = SCHEMA_STRING, .flags = SCHEMA_REQUIRED,
	  .one_of = topology_keys },
	{ .name = "selector", .type = SCHEMA_MAP, .max = 16 },
	END_FIELDS
};
static const struct schema_field anti_affinity_item = {
	.name = "", .type = SCHEMA_OBJECT, .fields = anti_affinity_fields,
};

static const struct schema_field toleration_fields[] = {
	STR_FIELD("key", 1, 63),
	STR_FIELD("value", 0, 63),
	{ .name = "effect", .type = SCHEMA_STRING, .one_of = taint_effects },
	END_FIELDS
};
static const struct schema_field toleration_item = {
	.name = "", .type = SCHEMA_OBJECT, .fields = toleration_fields,
};

static const struct schema_field taint_fields[] = {
	{ .name = "key", .type = SCHEMA_STRING, .flags = SCHEMA_REQUIRED,
	  .min = 1, .max = 63 },
	STR_FIELD("value", 0, 63),
	{ .name = "effect", .type = SCHEMA_STRING, .flags = SCHEMA_REQUIRED,
	  .one_of = taint_effects },
	END_FIELDS
};
static const struct schema_field taint_item = {
	.name = "", .type = SCHEMA_OBJECT, .fields = taint_fields,
};

static const struct schema_field string_item = {
	.name = "", .type = SCHEMA_STRING, .min = 0, .max = 4096,
};
static const struct schema_field capability_item = {
	.name = "", .type = SCHEMA_STRING, .one_of = capabilities,
};

/* An update must be able to make progress: it may go below the replica
 * count (max_unavailable) or above it (max_surge), not neither. */
static int
check_update_strategy(const json_t *v, const char *path, char **ret_err)
{
	const json_t *mu = json_object_get(v, "max_unavailable");

	if (json_integer_value(json_object_get(v, "max_surge")) > 0 ||
	    !mu || json_integer_value(mu) > 0)
		return 0;
	return errf(-BW_E_INVALID, ret_err, "%s: max_unavailable 0 needs a "
	    "max_surge of at least 1, or no replica could be replaced", path);
}

/* Replicas keep their names (NAME-0, NAME-1, ...); an update's surge
 * replicas take the next indices while it lasts. */
static const struct schema_field update_fields[] = {
	INT_FIELD("max_unavailable", 0, 1000),
	INT_FIELD("max_surge", 0, 100),
	INT_FIELD("progress_deadline_s", 1, 86400),
	END_FIELDS
};

/* An HTTP probe's path goes into a request line: it starts with '/' and
 * holds only printable ASCII without spaces. */
static int
check_probe_path(const json_t *v, const char *path, char **ret_err)
{
	const char *s = json_string_value(v);

	if (s[0] == '/' && strspn(s, "!\"#$%&'()*+,-./0123456789:;<=>?@"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~") ==
	    strlen(s))
		return 0;
	return errf(-BW_E_INVALID, ret_err, "%s: must start with / and hold "
	    "only printable ASCII without spaces", path);
}

static const struct schema_field probe_http_fields[] = {
	{ .name = "port", .type = SCHEMA_INT, .flags = SCHEMA_REQUIRED,
	  .min = 1, .max = 65535 },
	{ .name = "path", .type = SCHEMA_STRING, .min = 1, .max = 255,
	  .check = check_probe_path },
	END_FIELDS
};

static const struct schema_field probe_tcp_fields[] = {
	{ .name = "port", .type = SCHEMA_INT, .flags = SCHEMA_REQUIRED,
	  .min = 1, .max = 65535 },
	END_FIELDS
};

/* An exec probe's argument: a command line piece, as for a workload's
 * command but short (the agent keeps the whole command in 512 bytes). */
static const struct schema_field probe_arg_item = {
	.name = "", .type = SCHEMA_STRING, .min = 1, .max = 256,
};

/* The agent keeps an exec probe's command in 512 bytes (probe.h). */
static int
check_probe_command(const json_t *v, const char *path, char **ret_err)
{
	const json_t	*a;
	size_t		 i, total = 0;

	json_array_foreach(v, i, a)
		total += json_string_length(a) + 1;
	if (json_array_size(v) >= 1 && total <= 512)
		return 0;
	return errf(-BW_E_INVALID, ret_err, "%s: 1..16 arguments, at most "
	    "512 bytes in all", path);
}

static const struct schema_field probe_exec_fields[] = {
	{ .name = "command", .type = SCHEMA_ARRAY, .flags = SCHEMA_REQUIRED,
	  .max = 16, .items = &probe_arg_item, .check = check_probe_command },
	END_FIELDS
};

/* A probe checks one way: exactly one of http, tcp and exec; its
 * timeout fits in its period, so runs never overlap. */
static int
check_probe(const json_t *v, const char *path, char **ret_err)
{
	const json_t *period = json_object_get(v, "period_s");
	const json_t *timeout = json_object_get(v, "timeout_s");

	if (!!json_object_get(v, "http") + !!json_object_get(v, "tcp") +
	    !!json_object_get(v, "exec") != 1)
		return errf(-BW_E_INVALID, ret_err, "%s: needs exactly one of "
		    "http, tcp and exec", path);
	if (json_integer_value(timeout) > (period ?
	    json_integer_value(period) : 10))
		return errf(-BW_E_INVALID, ret_err, "%s.timeout_s: must not "
		    "exceed period_s (%lld)", path, period ?
		    (long long)json_integer_value(period) : 10LL);
	return 0;
}

static const struct schema_field probe_fields[] = {
	{ .name = "http", .type = SCHEMA_OBJECT, .fields = probe_http_fields },
	{ .name = "tcp", .type = SCHEMA_OBJECT, .fields = probe_tcp_fields },
	{ .name = "exec", .type = SCHEMA_OBJECT, .fields = probe_exec_fields },
	INT_FIELD("initial_delay_s", 0, 3600),
	INT_FIELD("period_s", 1, 3600),
	INT_FIELD("timeout_s", 1, 60),
	INT_FIELD("failure_threshold", 1, 100),
	END_FIELDS
};

static const struct schema_field probes_fields[] = {
	{ .name = "liveness", .type = SCHEMA_OBJECT, .fields = probe_fields,
	  .check = check_probe },
	{ .name = "readiness", .type = SCHEMA_OBJECT, .fields = probe_fields,
	  .check = check_probe },
	END_FIELDS
};

/* A service address is an IPv4 address of the service pool
 * 10.96.0.0/16: off every tenant subnet (so clients route it through
 * their gateway, where the node translates it) and per tenant (the
 * node matches it on the tenant's bridge only). */
static int
check_service_address(const json_t *v, const char *path, char **ret_err)
{
	struct in_addr a;

	if (inet_pton(AF_INET, json_string_value(v), &a) == 1 &&
	    (ntohl(a.s_addr) & 0xffff0000u) == 0x0a600000u &&
	    (ntohl(a.s_addr) & 0xffu) != 0 && (ntohl(a.s_addr) & 0xffu) != 255)
		return 0;
	return errf(-BW_E_INVALID, ret_err, "%s: must be an IPv4 address of "
	    "the service pool 10.96.0.0/16 (not .0 or .255)", path);
}

static const struct schema_field service_fields[] = {
	{ .name = "address", .type = SCHEMA_STRING, .flags = SCHEMA_REQUIRED,
	  .min = 7, .max = 15, .check = check_service_address },
	{ .name = "port", .type = SCHEMA_INT, .flags = SCHEMA_REQUIRED,
	  .min = 1, .max = 65535 },
	INT_FIELD("target_port", 1, 65535),
	END_FIELDS
};

/* Autoscaling scales between min and max replicas (the quota counts
 * the workload at max, see quota.c). */
static int
check_autoscale(const json_t *v, const char *path, char **ret_err)
{
	long long min = json_integer_value(json_object_get(v, "min"));
	long long max = json_integer_value(json_object_get(v, "max"));

	if (max < min)
		return errf(-BW_E_INVALID, ret_err, "%s.max: must be at least "
		    "min (%lld)", path, min);
	return 0;
}

static const struct schema_field autoscale_fields[] = {
	{ .name = "min", .type = SCHEMA_INT, .flags = SCHEMA_REQUIRED,
	  .min = 1, .max = 1000 },
	{ .name = "max", .type = SCHEMA_INT, .flags = SCHEMA_REQUIRED,
	  .min = 1, .max = 1000 },
	{ .name = "target_cpu_percent", .type = SCHEMA_INT,
	  .flags = SCHEMA_REQUIRED, .min = 1, .max = 100 },
	INT_FIELD("scale_up_window_s", 0, 3600),
	{ .name = "stabilization_window_s", .type = SCHEMA_INT,
	  .flags = SCHEMA_REQUIRED, .min = 0, .max = 3600 },
	END_FIELDS
};
/* Where a container sees a volume: an absolute path of plain
 * components, not the root and not a directory the runtime mounts
 * itself (/proc, /sys, /dev, /tmp). */
static int
check_mount_path(const json_t *v, const char *path, char **ret_err)
{
	static const char *const taken[] = { "/proc", "/sys", "/dev", "/tmp" };
	const char	*s = json_string_value(v);
	size_t		 i;

	if (s[0] != '/' || strlen(s) < 2 || strstr(s, "//") ||
	    strstr(s, "/./") || strstr(s, "/../") ||
	    s[strlen(s) - 1] == '/' || s[strlen(s) - 1] == '.' ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789/-_.") != strlen(s))
		return errf(-BW_E_INVALID, ret_err, "%s: must be an absolute "
		    "path of letters, digits, '-', '_' and '.' without '.' or "
		    "'..' components", path);
	for (i = 0; i < ELEMENTSOF(taken); i++)
		if (strncmp(s, taken[i], strlen(taken[i])) == 0 &&
		    (s[strlen(taken[i])] == '\0' || s[strlen(taken[i])] == '/'))
			return errf(-BW_E_INVALID, ret_err, "%s: %s is the "
			    "runtime's own", path, taken[i]);
	return 0;
}

static const struct schema_field volume_use_fields[] = {
	{ .name = "volume", .type = SCHEMA_STRING, .flags = SCHEMA_REQUIRED,
	  .check = schema_check_dns_label },
	/* containers: where it is mounted; VMs see it as a virtio disk */
	{ .name = "path", .type = SCHEMA_STRING, .min = 2, .max = 255,
	  .check = check_mount_path },
	END_FIELDS
};
static const struct schema_field volume_use_item = {
	.name = "", .type = SCHEMA_OBJECT, .fields = volume_use_fields,
};

static const struct schema_field workload_spec[] = {
	{ .name = "type", .type = SCHEMA_STRING, .flags = SCHEMA_REQUIRED,
	  .one_of = workload_types },
	{ .name = "image", .type = SCHEMA_STRING, .flags = SCHEMA_REQUIRED,
	  .check = schema_check_digest },
	{ .name = "replicas", .type = SCHEMA_INT, .flags = SCHEMA_REQUIRED,
	  .min = 0, .max = 1000 },
	{ .name = "resources", .type = SCHEMA_OBJECT, .flags = SCHEMA_REQUIRED,
	  .fields = resources_fields },
	{ .name = "command", .type = SCHEMA_ARRAY, .max = 64, .items = &string_item },
	{ .name = "env", .type = SCHEMA_ENV, .max = 64 },
	{ .name = "network", .type = SCHEMA_STRING, .check = schema_check_dns_label },
	{ .name = "node_selector", .type = SCHEMA_MAP, .max = 16 },
	{ .name = "spread", .type = SCHEMA_ARRAY, .max = 3, .items = &spread_item },
	{ .name = "anti_affinity", .type = SCHEMA_ARRAY, .max = 4,
	  .items = &anti_affinity_item },
	{ .name = "tolerations", .type = SCHEMA_ARRAY, .max = 16,
	  .items = &toleration_item },
	{ .name = "capabilities", .type = SCHEMA_ARRAY, .max = 8,
	  .items = &capability_item },
	/* bytes of output kept on the node (lib/logcap.h) */
	INT_FIELD("log_max_bytes", 65536, 1073741824),
	{ .name = "restart_policy", .type = SCHEMA_STRING, .one_of = restart_policies },
	{ .name = "update_strategy", .type = SCHEMA_OBJECT, .fields = update_fields,
	  .check = check_update_strategy },
	{ .name = "fips_required", .type = SCHEMA_BOOL },
	{ .name = "probes", .type = SCHEMA_OBJECT, .fields = probes_fields },
	{ .name = "service", .type = SCHEMA_OBJECT, .fields = service_fields },
	{ .name = "autoscale", .type = SCHEMA_OBJECT, .fields = autoscale_fields,
	  .check = check_autoscale },
	/* Volumes (docs/storage.md): one for now. A volume attaches to
	 * one running instance at a time: a second replica stays Pending
	 * (the scheduler says which instance holds it). */
	{ .name = "volumes", .type = SCHEMA_ARRAY, .max = 1,
	  .items = &volume_use_item },
	END_FIELDS
};

/* A tenant's encrypted volume (docs/storage.md): a sparse backing file
 * on one node, bound to it by the controller when an instance first
 * uses it (or named at creation). */
static const struct schema_field volume_spec[] = {
	{ .name = "size_bytes", .type = SCHEMA_INT, .flags = SCHEMA_REQUIRED,
	  .min = VOLUME_SIZE_MIN, .max = VOLUME_SIZE_MAX },
	{ .name = "type", .type = SCHEMA_STRING, .one_of = volume_types },
	{ .name = "node", .type = SCHEMA_STRING, .check = schema_check_dns_label },
	/* a VolumeSnapshot of this volume, restored at the next attach
	 * (each snapshot once) */
	{ .name = "restore", .type = SCHEMA_STRING, .check = schema_check_dns_label },
	END_FIELDS
};

/* A point-in-time copy of a volume on its node (frozen while it is
 * taken); node is its volume's, set by the controller. */
static const struct schema_field snapshot_spec[] = {
	{ .name = "volume", .type = SCHEMA_STRING, .flags = SCHEMA_REQUIRED,
	  .check = schema_check_dns_label },
	{ .name = "node", .type = SCHEMA_STRING, .check = schema_check_dns_label },
	END_FIELDS
};

static const struct schema_field tenant_spec[] = {
	STR_FIELD("description", 0, 256),
	{ .name = "node_pool", .type = SCHEMA_STRING, .check = schema_check_dns_label },
	END_FIELDS
};

static const struct schema_field capacity_fields[] = {
	INT_FIELD("cpu_millis", 0, 100000000),
	INT_FIELD("memory_mib", 0, 1000000000),
	INT_FIELD("instances", 0, 100000),
	END_FIELDS
};

static const struct schema_field node_spec[] = {
	{ .name = "capacity", .type = SCHEMA_OBJECT, .fields = capacity_fields },
	{ .name = "zone", .type = SCHEMA_STRING, .check = schema_check_dns_label },
	{ .name = "rack", .type = SCHEMA_STRING, .check = schema_check_dns_label },
	{ .name = "taints", .type = SCHEMA_ARRAY, .max = 16, .items = &taint_item },
	{ .name = "unschedulable", .type = SCHEMA_BOOL },
	STR_FIELD("address", 1, 253),
	END_FIELDS
};

static const struct schema_field network_spec[] = {
	STR_FIELD("subnet", 9, 18),
	END_FIELDS
};

static const struct schema_field quota_spec[] = {
	INT_FIELD("cpu_millis", 0, 100000000),
	INT_FIELD("memory_mib", 0, 1000000000),
	INT_FIELD("instances", 0, 100000),
	INT_FIELD("workloads", 0, 100000),
	INT_FIELD("networks", 0, 10000),
	INT_FIELD("volume_bytes", 0, 1LL << 50),
	END_FIELDS
};

static const struct schema_field rolebinding_spec[] = {
	{ .name = "principal", .type = SCHEMA_STRING, .flags = SCHEMA_REQUIRED,
	  .check = schema_check_dns_label },
	{ .name = "role", .type = SCHEMA_STRING, .flags = SCHEMA_REQUIRED,
	  .one_of = roles },
	END_FIELDS
};

static const struct schema_field image_spec[] = {
	{ .name = "digest", .type = SCHEMA_STRING, .flags = SCHEMA_REQUIRED,
	  .check = schema_check_digest },
	{ .name = "type", .type = SCHEMA_STRING, .flags = SCHEMA_REQUIRED,
	  .one_of = image_types },
	{ .name = "format", .type = SCHEMA_STRING, .one_of = image_formats },
	INT_FIELD("size", 0, 1LL << 50),
	STR_FIELD("signer", 0, 256),
	END_FIELDS
};

static const struct schema_field instance_spec[] = {
	{ .name = "workload", .type = SCHEMA_STRING, .flags = SCHEMA_REQUIRED,
	  .check = schema_check_dns_label },
	{ .name = "node", .type = SCHEMA_STRING, .check = schema_check_dns_label },
	{ .name = "generation", .type = SCHEMA_INT, .min = 0, .max = 1LL << 50 },
	STR_FIELD("template", 0, 64),
	END_FIELDS
};

static const struct schema_field principal_spec[] = {
	{ .name = "role", .type = SCHEMA_STRING, .flags = SCHEMA_REQUIRED,
	  .one_of = roles },
	STR_FIELD("serial", 1, 64),
	STR_FIELD("not_after", 0, 64),
	END_FIELDS
};

/* A control ("ac-2", "ac-2.1") or check ("au-review") id: lowercase
 * letters, digits, '-' and '.', starting with a letter. */
static int
check_waiver_target(const json_t *v, const char *path, char **ret_err)
{
	const char *s = json_string_value(v);

	if (*s < 'a' || *s > 'z' || strlen(s) > 63 ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-.") != strlen(s))
		return errf(-BW_E_INVALID, ret_err, "%s: must be a control or "
		    "check id (1..63 lowercase letters, digits, '-' or '.', "
		    "starting with a letter)", path);
	return 0;
}

static int
check_rfc3339(const json_t *v, const char *path, char **ret_err)
{
	time_t t;

	if (bw_time_parse(json_string_value(v), &t) < 0)
		return errf(-BW_E_INVALID, ret_err, "%s: must be a UTC time "
		    "(RFC 3339, \"2027-01-31T00:00:00Z\")", path);
	return 0;
}

/* What a waiver covers: the whole appliance, or one node ("node/NAME"). */
static int
check_waiver_scope(const json_t *v, const char *path, char **ret_err)
{
	const char *s = json_string_value(v);

	if (strcmp(s, "appliance") == 0 || (strncmp(s, "node/", 5) == 0 &&
	    schema_is_dns_label(s + 5)))
		return 0;
	return errf(-BW_E_INVALID, ret_err, "%s: must be \"appliance\" or "
	    "\"node/NAME\"", path);
}

/* A risk accepted for a while (docs/compliance.md, "Waivers"): one of
 * control or check (the waiver endpoint insists on exactly one); the
 * requester and the approval are its status, set by bulwarkd. */
static const struct schema_field waiver_spec[] = {
	{ .name = "control", .type = SCHEMA_STRING, .check = check_waiver_target },
	{ .name = "check", .type = SCHEMA_STRING, .check = check_waiver_target },
	{ .name = "justification", .type = SCHEMA_STRING,
	  .flags = SCHEMA_REQUIRED, .min = 1, .max = 4096 },
	/* The security-auditor who is to approve it (any other than the
	 * creator when absent). */
	{ .name = "approver", .type = SCHEMA_STRING,
	  .check = schema_check_dns_label },
	{ .name = "expires", .type = SCHEMA_STRING, .flags = SCHEMA_REQUIRED,
	  .check = check_rfc3339 },
	{ .name = "scope", .type = SCHEMA_STRING, .check = check_waiver_scope },
	END_FIELDS
};

static const struct res_kind kinds[] = {
	{ "Tenant", "tenants", RES_CLUSTER,
	  RES_F_ADMIN_WRITES | RES_F_TENANT_DEFINING, tenant_spec,
	  "AC-2,CM-3", NULL, NULL, NULL },
	{ "Node", "nodes", RES_CLUSTER, RES_F_ADMIN_WRITES | RES_F_NODE,
	  node_spec, "CM-8,CM-3", NULL, NULL, NULL },
	{ "Image", "images", RES_CLUSTER, RES_F_ADMIN_WRITES | RES_F_CATALOGUE,
	  image_spec, "CM-14,SI-7,CM-3", NULL, NULL, NULL },
	{ "Quota", "quotas", RES_TENANT,
	  RES_F_ADMIN_WRITES | RES_F_DERIVED_USAGE, quota_spec, "CM-3,SC-6", NULL, NULL, NULL },
	{ "RoleBinding", "rolebindings", RES_TENANT,
	  RES_F_ADMIN_WRITES | RES_F_GRANTS_ROLE, rolebinding_spec,
	  "AC-2,AC-3,AC-5,AC-6", NULL, NULL, NULL },
	{ "Network", "networks", RES_TENANT,
	  RES_F_CLAIMS_SUBNET | RES_F_NODE_USED, network_spec,
	  "SC-7,CM-3", NULL, NULL, NULL },
	{ "Workload", "workloads", RES_TENANT,
	  RES_F_USER_WRITES | RES_F_NODE_USED, workload_spec, "CM-3,CM-8", NULL, "network", "Network" },
	/* The node holding a volume reads it (node_field). */
	{ "Volume", "volumes", RES_TENANT, RES_F_USER_WRITES, volume_spec,
	  "SC-28,SC-28(1),CP-9,CM-3", "node", NULL, NULL },
	{ "VolumeSnapshot", "volumesnapshots", RES_TENANT, RES_F_USER_WRITES,
	  snapshot_spec, "CP-9,SC-28,CM-3", "node", "volume", "Volume" },
	{ "Instance", "instances", RES_TENANT, RES_F_SYSTEM_WRITES,
	  instance_spec, "CM-8", "node", "workload", "Workload" },
	{ "Principal", "principals", RES_TENANT, RES_F_INTERNAL_WRITES,
	  principal_spec, "AC-2,IA-2,IA-5", NULL, NULL, NULL },
	/* Written only by the waiver endpoints (daemon/waiver-api.c): a
	 * system-admin creates, a security-auditor approves, bulwarkd
	 * records the expiry. */
	{ "Waiver", "waivers", RES_CLUSTER, RES_F_SYSTEM_WRITES,
	  waiver_spec, "CA-5,CA-7,RA-3", NULL, NULL, NULL },
};

const struct res_kind *
res_kinds(size_t *ret_n)
{
	*ret_n = ELEMENTSOF(kinds);
	return kinds;
}

const struct res_kind *
res_kind_by_name(const char *kind)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(kinds); i++)
		if (strcmp(kinds[i].kind, kind) == 0)
			return &kinds[i];
	return NULL;
}

const struct res_kind *
res_kind_by_flag(unsigned flag)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(kinds); i++)
		if ((kinds[i].flags & flag) == flag)
			return &kinds[i];
	return NULL;
}

const struct res_kind *
res_kind_by_plural(const char *plural)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(kinds); i++)
		if (strcmp(kinds[i].plural, plural) == 0)
			return &kinds[i];
	return NULL;
}

const struct res_kind *
res_kind_lookup(const char *name)
{
	size_t i, n;

	for (i = 0; i < ELEMENTSOF(kinds); i++) {
		if (strcasecmp(kinds[i].kind, name) == 0 ||
		    strcasecmp(kinds[i].plural, name) == 0)
			return &kinds[i];
		/* singular: the plural without its final 's' */
		n = strlen(kinds[i].plural) - 1;
		if (strlen(name) == n && strncasecmp(kinds[i].plural, name, n) == 0)
			return &kinds[i];
	}
	return NULL;
}

int
res_key(const struct res_kind *k, const char *tenant, const char *name,
    char *buf, size_t len)
{
	int n;

	if (k->scope == RES_CLUSTER)
		n = snprintf(buf, len, "/r/%s/%s", k->plural, name);
	else
		n = snprintf(buf, len, "/r/%s/%s/%s", k->plural, tenant, name);
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

int
res_prefix(const struct res_kind *k, const char *tenant, char *buf, size_t len)
{
	int n;

	if (k->scope == RES_CLUSTER || !tenant)
		n = snprintf(buf, len, "/r/%s/", k->plural);
	else
		n = snprintf(buf, len, "/r/%s/%s/", k->plural, tenant);
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

static const struct schema_field metadata_fields[] = {
	{ .name = "name", .type = SCHEMA_STRING, .flags = SCHEMA_REQUIRED,
	  .check = schema_check_dns_label },
	{ .name = "tenant", .type = SCHEMA_STRING, .check = schema_check_dns_label },
	{ .name = "labels", .type = SCHEMA_MAP, .max = 32 },
	/* Echoed back by clients that apply what they got; uid and created
	 * stay the server's, revision is a precondition. */
	STR_FIELD("uid", 0, 64),
	STR_FIELD("created", 0, 64),
	{ .name = "revision", .type = SCHEMA_INT, .min = 0, .max = INT64_MAX },
	END_FIELDS
};

int
res_validate(json_t *doc, const struct res_kind *expect,
    const char *default_tenant, const struct res_kind **ret_kind,
    char **ret_err)
{
	const struct res_kind	*k;
	json_t			*md, *kind, *spec;
	const char		*key;
	json_t			*v;
	int			 r;

	if (!json_is_object(doc))
		return errf(-BW_E_INVALID, ret_err, "body: must be a JSON object");
	json_object_foreach(doc, key, v) {
		if (strcmp(key, "kind") && strcmp(key, "metadata") &&
		    strcmp(key, "spec") && strcmp(key, "status"))
			return errf(-BW_E_INVALID, ret_err,
			    "%.64s: unknown field", key);
	}
	kind = json_object_get(doc, "kind");
	if (!kind && expect) {
		json_object_set_new(doc, "kind", json_string(expect->kind));
		kind = json_object_get(doc, "kind");
	}
	if (!json_is_string(kind))
		return errf(-BW_E_INVALID, ret_err, "kind: is required and must be a string");
	if (!(k = res_kind_by_name(json_string_value(kind))))
		return errf(-BW_E_INVALID, ret_err, "kind: unknown kind \"%.64s\"",
		    json_string_value(kind));
	if (expect && k != expect)
		return errf(-BW_E_INVALID, ret_err,
		    "kind: \"%s\" does not match the path's kind \"%s\"",
		    k->kind, expect->kind);
	md = json_object_get(doc, "metadata");
	if (!md)
		return errf(-BW_E_INVALID, ret_err, "metadata: is required");
	if ((r = schema_validate_object(md, metadata_fields, "metadata", ret_err)) < 0)
		return r;
	if (k->scope == RES_TENANT) {
		if (!json_object_get(md, "tenant")) {
			if (!default_tenant)
				return errf(-BW_E_INVALID, ret_err,
				    "metadata.tenant: is required for %s", k->kind);
			json_object_set_new(md, "tenant", json_string(default_tenant));
		}
	} else {
		json_t *t = json_object_get(md, "tenant");

		if (t && strcmp(json_string_value(t), RES_SYSTEM_TENANT) != 0)
			return errf(-BW_E_INVALID, ret_err,
			    "metadata.tenant: %s objects belong to \"%s\"",
			    k->kind, RES_SYSTEM_TENANT);
		json_object_set_new(md, "tenant", json_string(RES_SYSTEM_TENANT));
	}
	spec = json_object_get(doc, "spec");
	if (!spec) {
		json_object_set_new(doc, "spec", json_object());
		spec = json_object_get(doc, "spec");
	}
	if ((r = schema_validate_object(spec, k->spec, "spec", ret_err)) < 0)
		return r;
	v = json_object_get(doc, "status");
	if (v && !json_is_object(v))
		return errf(-BW_E_INVALID, ret_err, "status: must be an object");
	*ret_kind = k;
	return 0;
}

json_t *
res_stored_form(const json_t *doc, const char *uid, const char *created,
    const json_t *prev_status)
{
	json_t *out, *md;

	if (!(out = json_deep_copy(doc)))
		return NULL;
	md = json_object_get(out, "metadata");
	json_object_del(md, "revision");
	json_object_set_new(md, "uid", json_string(uid));
	json_object_set_new(md, "created", json_string(created));
	if (!json_object_get(md, "labels"))
		json_object_set_new(md, "labels", json_object());
	json_object_set_new(out, "status",
	    prev_status ? json_deep_copy(prev_status) : json_object());
	return out;
}

json_t *
res_render(const void *value, size_t len, uint64_t mod_rev)
{
	json_t *doc, *md;

	doc = json_loadb(value, len, 0, NULL);
	if (!json_is_object(doc) ||
	    !json_is_object(md = json_object_get(doc, "metadata"))) {
		json_decref(doc);
		return NULL;
	}
	json_object_set_new(md, "revision", json_integer((json_int_t)mod_rev));
	return doc;
}

/* The offset past the string that starts at VALUE[I] (a '"'), or
 * -BW_E_INVALID if it does not end within LEN. */
static long
text_string_end(const char *value, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (value[i] == '\\')
			i++;
		else if (value[i] == '"')
			return (long)i + 1;
	}
	return -BW_E_INVALID;
}

long
res_metadata_end(const char *value, size_t len, int *ret_empty)
{
	static const char	 key[] = "\"metadata\":{";
	size_t			 i, open = 0;
	int			 depth = 0;
	long			 e;

	if (len == 0 || value[0] != '{')
		return -BW_E_INVALID;
	for (i = 0; i < len; i++) {
		switch (value[i]) {
		case '"':
			if (depth == 1 && !open && len - i >= sizeof(key) - 1 &&
			    memcmp(value + i, key, sizeof(key) - 1) == 0) {
				open = i + sizeof(key) - 2;	/* its '{' */
				i = open;
				depth++;
				break;
			}
			if ((e = text_string_end(value, len, i)) < 0)
				return e;
			i = (size_t)e - 1;
			break;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (--depth == 1 && open) {
				*ret_empty = i == open + 1;
				return (long)i;
			}
			if (depth < 1)
				return -BW_E_INVALID;
			break;
		}
	}
	return -BW_E_INVALID;
}

const char *
res_name(const json_t *doc)
{
	return json_str_at(doc, "metadata", "name");
}

const char *
res_tenant(const json_t *doc)
{
	return json_str_at(doc, "metadata", "tenant");
}

uint64_t
res_revision(const json_t *doc)
{
	json_t *v = json_object_get(json_object_get(doc, "metadata"), "revision");

	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

int
res_label_match(const json_t *doc, const char *selector)
{
	const json_t	*labels;
	_cleanup_free_ char *copy = NULL;
	char		*term, *save = NULL;

	labels = json_object_get(json_object_get(doc, "metadata"), "labels");
	if (!selector || !*selector)
		return 1;
	if (!(copy = strdup(selector)))
		return -ENOMEM;
	for (term = strtok_r(copy, ",", &save); term;
	    term = strtok_r(NULL, ",", &save)) {
		char		*eq = strchr(term, '=');
		int		 negate = 0;
		const char	*have;

		if (eq && eq > term && eq[-1] == '!') {
			negate = 1;
			eq[-1] = '\0';
		}
		if (eq)
			*eq = '\0';
		if (!schema_check_label_key(term) ||
		    (eq && !schema_check_label_value(eq + 1)))
			return -BW_E_INVALID;
		have = json_string_value(json_object_get(labels, term));
		if (!eq) {
			if (!have)
				return 0;
		} else if (negate) {
			if (have && strcmp(have, eq + 1) == 0)
				return 0;
		} else if (!have || strcmp(have, eq + 1) != 0)
			return 0;
	}
	return 1;
}

int
res_fields_parse(const char *text, struct res_fields *ret, char **ret_err)
{
	struct res_fields	 f = { 0 };
	const char		*p = text, *end;
	size_t			 len;

	do {
		end = p + strcspn(p, ",");
		len = (size_t)(end - p);
		if (f.n == RES_FIELDS_MAX)
			return errf(-BW_E_INVALID, ret_err, "fields: at most %d "
			    "paths", RES_FIELDS_MAX);
		if (len == 0 || len >= RES_FIELD_LEN || *p == '.' ||
		    end[-1] == '.' || memmem(p, len, "..", 2) ||
		    strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_-.") < len)
			return errf(-BW_E_INVALID, ret_err, "fields: path %zu "
			    "must be dotted names of letters, digits, _ and - "
			    "(at most %d bytes)", f.n + 1, RES_FIELD_LEN - 1);
		memcpy(f.path[f.n++], p, len);
		p = end + 1;
	} while (*end);
	*ret = f;
	return 0;
}

/* The member KEY (the name before the next '.' of *PATH) of OBJ, *PATH
 * moved past it and its dot; NULL when OBJ has no such member. */
static json_t *
path_step(const json_t *obj, const char **path, char *key)
{
	size_t n = strcspn(*path, ".");

	memcpy(key, *path, n);
	key[n] = '\0';
	*path += n + ((*path)[n] == '.');
	return json_object_get(obj, key);
}

/* Puts the value at the dotted PATH of DOC under the same path of OUT,
 * making the objects on the way when DOC has it. Returns 0 (also when
 * DOC lacks it) or -ENOMEM. */
static int
project_path(const json_t *doc, json_t *out, const char *path)
{
	char		 key[RES_FIELD_LEN];
	const char	*p = path;
	const json_t	*v = doc;
	json_t		*in, *sub;

	while (*p && json_is_object(v))
		v = path_step(v, &p, key);
	if (*p || !v)
		return 0;	/* absent, or it crosses a non-object */
	for (p = path;;) {
		in = path_step(doc, &p, key);
		if (!*p)
			return json_object_set(out, key, in) < 0 ? -ENOMEM : 0;
		if (!(sub = json_object_get(out, key))) {
			if (json_object_set_new(out, key, json_object()) < 0)
				return -ENOMEM;
			sub = json_object_get(out, key);
		} else if (sub == in)
			return 0;	/* an earlier path took it whole */
		doc = in;
		out = sub;
	}
}

json_t *
res_project(const json_t *doc, const struct res_fields *f)
{
	_cleanup_json_ json_t	*out = json_object();
	size_t			 i;

	for (i = 0; out && i < f->n; i++)
		if (project_path(doc, out, f->path[i]) < 0)
			return NULL;
	return TAKE_PTR(out);
}

int
res_key_parse(const char *key, const struct res_kind **ret_kind, char *tenant,
    size_t tenant_len, char *name, size_t name_len)
{
	char			 plural[64];
	const char		*p, *q, *r;
	const struct res_kind	*k;

	if (strncmp(key, "/r/", 3) != 0)
		return -EINVAL;
	p = key + 3;
	if (!(q = strchr(p, '/')) || (size_t)(q - p) >= sizeof(plural))
		return -EINVAL;
	memcpy(plural, p, (size_t)(q - p));
	plural[q - p] = '\0';
	if (!(k = res_kind_by_plural(plural)))
		return -EINVAL;
	q++;
	if (k->scope == RES_CLUSTER) {
		if (strchr(q, '/') || strlen(q) >= name_len ||
		    strlen(RES_SYSTEM_TENANT) >= tenant_len)
			return -EINVAL;
		strcpy(tenant, RES_SYSTEM_TENANT);
		strcpy(name, q);
	} else {
		if (!(r = strchr(q, '/')) || (size_t)(r - q) >= tenant_len ||
		    strchr(r + 1, '/') || strlen(r + 1) >= name_len)
			return -EINVAL;
		memcpy(tenant, q, (size_t)(r - q));
		tenant[r - q] = '\0';
		strcpy(name, r + 1);
	}
	*ret_kind = k;
	return 0;
}

void
res_delete_label(const char *key, const void *value, size_t len, char *buf,
    size_t size)
{
	_cleanup_json_ json_t	*doc = NULL;
	const struct res_kind	*k;
	char			 tenant[64], name[64];
	const char		*node;

	buf[0] = 0;
	if (res_key_parse(key, &k, tenant, sizeof(tenant), name,
	    sizeof(name)) < 0 || !k->node_field)
		return;
	if (!(doc = json_loadb(value, len, 0, NULL)))
		return;
	node = json_str_at(doc, "spec", k->node_field);
	if (node && strlen(node) < size)
		memcpy(buf, node, strlen(node) + 1);
}
