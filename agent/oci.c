/* OCI config generation; see oci.h. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "agent/oci.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"

static const char *const cap_names[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
};

/* Syscalls a tenant workload has no business making: kernel and
 * module loading, namespaces and mounts (escape paths), tracing and
 * cross-process memory access, keyrings, clocks, accounting, BPF and
 * perf. Most already fail without capabilities; the filter keeps them
 * failing even if an allow-listed capability or a kernel bug would
 * let them through. */
static const char *const denied_syscalls[] = {
	"acct", "add_key", "bpf", "clock_adjtime", "clock_settime",
	"create_module", "delete_module", "finit_module", "fsconfig",
	"fsmount", "fsopen", "fspick", "get_kernel_syms", "get_mempolicy",
	"init_module", "ioperm", "iopl", "kcmp", "kexec_file_load",
	"kexec_load", "keyctl", "lookup_dcookie", "mbind", "mount",
	"mount_setattr", "move_mount", "move_pages", "name_to_handle_at",
	"nfsservctl", "open_by_handle_at", "open_tree", "perf_event_open",
	"pivot_root", "process_vm_readv", "process_vm_writev", "ptrace",
	"query_module", "quotactl", "quotactl_fd", "reboot", "request_key",
	"set_mempolicy", "setns", "settimeofday", "stime", "swapoff",
	"swapon", "syslog", "umount", "umount2", "unshare", "uselib",
	"userfaultfd", "ustat", "vm86", "vm86old", "_sysctl", "adjtimex",
	"pidfd_getfd", "fanotify_init", "lsm_set_self_attr",
};

/* clone() flags that make new namespaces (clone3 is refused outright
 * with ENOSYS so libc falls back to clone, whose flags we can see). */
static const unsigned long clone_ns_flags[] = {
	0x00020000UL,	/* CLONE_NEWNS */
	0x02000000UL,	/* CLONE_NEWCGROUP */
	0x04000000UL,	/* CLONE_NEWUTS */
	0x08000000UL,	/* CLONE_NEWIPC */
	0x10000000UL,	/* CLONE_NEWUSER */
	0x20000000UL,	/* CLONE_NEWPID */
	0x40000000UL,	/* CLONE_NEWNET */
};

static const char *const masked_paths[] = {
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
	"/proc/sched_debug", "/proc/scsi", "/sys/firmware",
	"/sys/devices/virtual/powercap",
};

static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
	"/proc/sysrq-trigger",
};

int
oci_check_capability(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(cap_names); i++)
		if (name && !strcmp(name, cap_names[i]))
			return 0;
	return -BW_E_INVALID;
}

static json_t *
str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *
mount_entry(const char *dst, const char *type, const char *src,
    const char *opts)
{
	_cleanup_json_ json_t	*o = NULL;
	json_t			*a = json_array();
	char			 buf[256];
	char			*save = NULL, *tok;

	if (!a)
		return NULL;
	snprintf(buf, sizeof(buf), "%s", opts);
	for (tok = strtok_r(buf, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save))
		if (json_array_append_new(a, json_string(tok)) < 0) {
			json_decref(a);
			return NULL;
		}
	o = json_pack("{s:s, s:s, s:s, s:o}", "destination", dst, "type",
	    type, "source", src, "options", a);
	return TAKE_PTR(o);
}

static json_t *
seccomp_profile(void)
{
	_cleanup_json_ json_t	*sys = json_array(), *o = NULL;
	json_t			*e;

	if (!sys)
		return NULL;
	e = json_pack("{s:o, s:s, s:i}", "names",
	    str_array(denied_syscalls, ELEMENTSOF(denied_syscalls)), "action",
	    "SCMP_ACT_ERRNO", "errnoRet", EPERM);
	if (!e || json_array_append_new(sys, e) < 0)
		return NULL;
	e = json_pack("{s:[s], s:s, s:i}", "names", "clone3", "action",
	    "SCMP_ACT_ERRNO", "errnoRet", ENOSYS);
	if (!e || json_array_append_new(sys, e) < 0)
		return NULL;
	for (size_t i = 0; i < ELEMENTSOF(clone_ns_flags); i++) {
		/* OCI: (arg & value) == valueTwo */
		e = json_pack("{s:[s], s:s, s:i, s:[{s:i, s:I, s:I, s:s}]}",
		    "names", "clone", "action", "SCMP_ACT_ERRNO", "errnoRet",
		    EPERM, "args", "index", 0, "value",
		    (json_int_t)clone_ns_flags[i], "valueTwo",
		    (json_int_t)clone_ns_flags[i], "op", "SCMP_CMP_MASKED_EQ");
		if (!e || json_array_append_new(sys, e) < 0)
			return NULL;
	}
	o = json_pack("{s:s, s:[s,s,s], s:O}", "defaultAction",
	    "SCMP_ACT_ALLOW", "architectures", "SCMP_ARCH_X86_64",
	    "SCMP_ARCH_X86", "SCMP_ARCH_X32", "syscalls", sys);
	return TAKE_PTR(o);
}

static size_t
count(const char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

/* Checks S against the limits the config must keep; the message names
 * the first field out of them. */
static int
oci_spec_check(const struct oci_spec *s, char **ret_err)
{
	size_t	nargs = count(s->argv), nenv = count(s->env);
	size_t	ncaps = count(s->capabilities);
	size_t	nidmap = count(s->idmap_dirs);

	if (!s->rootfs || s->rootfs[0] != '/')
		return errf(-BW_E_INVALID, ret_err,
		    "rootfs: must be an absolute path");
	if (nargs == 0 || nargs > OCI_ARGS_MAX)
		return errf(-BW_E_INVALID, ret_err, "args: 1..%d entries",
		    OCI_ARGS_MAX);
	if (nenv > OCI_ENV_MAX)
		return errf(-BW_E_INVALID, ret_err, "env: at most %d entries",
		    OCI_ENV_MAX);
	if (ncaps > OCI_CAPS_MAX)
		return errf(-BW_E_INVALID, ret_err,
		    "capabilities: too many entries");
	if (s->userns_size && (s->userns_host == 0 ||
	    s->userns_host > UINT32_MAX - s->userns_size))
		return errf(-BW_E_INVALID, ret_err,
		    "user namespace: host ids must be above 0 and in range");
	if (nidmap > OCI_IDMAP_DIRS_MAX || (nidmap && !s->userns_size))
		return errf(-BW_E_INVALID, ret_err, "idmapped directories: at "
		    "most %d, with a user namespace", OCI_IDMAP_DIRS_MAX);
	for (size_t i = 0; i < nidmap; i++)
		if (!s->idmap_dirs[i][0] || strchr(s->idmap_dirs[i], '/') ||
		    !strcmp(s->idmap_dirs[i], ".") ||
		    !strcmp(s->idmap_dirs[i], "..") ||
		    strlen(s->rootfs) + strlen(s->idmap_dirs[i]) > 4000)
			return errf(-BW_E_INVALID, ret_err,
			    "idmapped directories[%zu]: not a name", i);
	if (!s->volume_src != !s->volume_dst || (s->volume_src &&
	    (s->volume_src[0] != '/' || s->volume_dst[0] != '/' ||
	    strstr(s->volume_dst, "..") || strlen(s->volume_src) > 4000 ||
	    strlen(s->volume_dst) > 255)))
		return errf(-BW_E_INVALID, ret_err, "volume: source and "
		    "destination, both absolute paths");
	if (!s->cgroups_path || s->cgroups_path[0] != '/')
		return errf(-BW_E_INVALID, ret_err,
		    "cgroups path: must be absolute");
	if (s->memory_mib > 1024 * 1024)
		return errf(-BW_E_INVALID, ret_err,
		    "memory_mib: at most 1048576");
	if (s->cpu_millis > 1024 * 1000)
		return errf(-BW_E_INVALID, ret_err,
		    "cpu_millis: at most 1024000");
	for (size_t i = 0; i < ncaps; i++)
		if (oci_check_capability(s->capabilities[i]) < 0)
			return errf(-BW_E_INVALID, ret_err,
			    "capabilities[%zu]: unknown capability '%.64s'", i,
			    s->capabilities[i]);
	for (size_t i = 0; i < nenv; i++)
		if (!strchr(s->env[i], '=') || s->env[i][0] == '=')
			return errf(-BW_E_INVALID, ret_err,
			    "env[%zu]: must be NAME=VALUE", i);
	return 0;
}

/* process.env: S's entries, and a default PATH unless S sets one. */
static json_t *
oci_env(const struct oci_spec *s)
{
	_cleanup_json_ json_t	*env = NULL;
	size_t			 nenv = count(s->env);
	bool			 has_path = false;

	for (size_t i = 0; i < nenv; i++)
		if (!strncmp(s->env[i], "PATH=", 5))
			has_path = true;
	env = str_array(s->env, nenv);
	if (!env)
		return NULL;
	if (!has_path && json_array_append_new(env, json_string(
	    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"))
	    < 0)
		return NULL;
	return TAKE_PTR(env);
}

/* mounts: the fixed set of kernel file systems, /tmp, and each
 * idmapped directory. */
static json_t *
oci_mounts(const struct oci_spec *s)
{
	_cleanup_json_ json_t	*mounts = NULL;
	char			 tmpopt[96];
	size_t			 nidmap = count(s->idmap_dirs);

	snprintf(tmpopt, sizeof(tmpopt), "nosuid,nodev,mode=1777,size=%um",
	    s->tmp_mib ? s->tmp_mib : OCI_DEFAULT_TMP_MIB);
	mounts = json_array();
	if (!mounts ||
	    json_array_append_new(mounts, mount_entry("/proc", "proc", "proc",
	    "nosuid,noexec,nodev")) < 0 ||
	    json_array_append_new(mounts, mount_entry("/dev", "tmpfs", "tmpfs",
	    "nosuid,strictatime,mode=755,size=65536k")) < 0 ||
	    json_array_append_new(mounts, mount_entry("/dev/pts", "devpts",
	    "devpts", "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620")) < 0 ||
	    json_array_append_new(mounts, mount_entry("/dev/shm", "tmpfs", "shm",
	    "nosuid,noexec,nodev,mode=1777,size=65536k")) < 0 ||
	    json_array_append_new(mounts, mount_entry("/dev/mqueue", "mqueue",
	    "mqueue", "nosuid,noexec,nodev")) < 0 ||
	    json_array_append_new(mounts, mount_entry("/sys", "sysfs", "sysfs",
	    "nosuid,noexec,nodev,ro")) < 0 ||
	    json_array_append_new(mounts, mount_entry("/sys/fs/cgroup",
	    "cgroup", "cgroup", "nosuid,noexec,nodev,relatime,ro")) < 0 ||
	    json_array_append_new(mounts, mount_entry("/tmp", "tmpfs", "tmpfs",
	    tmpopt)) < 0)
		return NULL;
	for (size_t i = 0; i < nidmap; i++) {
		char dst[4096], src[4096];

		snprintf(dst, sizeof(dst), "/%s", s->idmap_dirs[i]);
		snprintf(src, sizeof(src), "%s/%s", s->rootfs,
		    s->idmap_dirs[i]);
		/* crun makes an idmapped mount (mount_setattr with the
		 * container's user namespace) for the "idmap" option. */
		if (json_array_append_new(mounts, mount_entry(dst, "bind", src,
		    "bind,ro,nodev,idmap")) < 0)
			return NULL;
	}
	/* After the image's directories, so it is not covered by one. */
	if (s->volume_src && json_array_append_new(mounts, mount_entry(
	    s->volume_dst, "bind", s->volume_src, s->userns_size ?
	    "rbind,rw,nosuid,nodev,idmap" : "rbind,rw,nosuid,nodev")) < 0)
		return NULL;
	return TAKE_PTR(mounts);
}

/* linux.namespaces: new ones of each kind; the user and network ones
 * joined where S names a path. */
static json_t *
oci_namespaces(const struct oci_spec *s)
{
	_cleanup_json_ json_t *ns = NULL;

	ns = json_pack("[{s:s}, {s:s}, {s:s}, {s:s}, {s:s}]", "type", "pid",
	    "type", "ipc", "type", "uts", "type", "mount", "type", "cgroup");
	if (!ns)
		return NULL;
	if (s->userns_size && json_array_append_new(ns, s->userns_path ?
	    json_pack("{s:s, s:s}", "type", "user", "path", s->userns_path) :
	    json_pack("{s:s}", "type", "user")) < 0)
		return NULL;
	if (json_array_append_new(ns, s->netns_path ?
	    json_pack("{s:s, s:s}", "type", "network", "path", s->netns_path) :
	    json_pack("{s:s}", "type", "network")) < 0)
		return NULL;
	return TAKE_PTR(ns);
}

/* linux.resources: no devices, and the pid, memory and CPU limits. */
static json_t *
oci_resources(const struct oci_spec *s)
{
	_cleanup_json_ json_t *res = NULL;

	res = json_pack("{s:[{s:b, s:s}], s:{s:I}}", "devices", "allow", 0,
	    "access", "rwm", "pids", "limit",
	    (json_int_t)(s->pids_max ? s->pids_max : OCI_DEFAULT_PIDS));
	if (!res)
		return NULL;
	if (s->memory_mib) {
		json_int_t b = (json_int_t)s->memory_mib << 20;

		/* swap equal to the limit: no swap beyond memory */
		if (json_object_set_new(res, "memory", json_pack(
		    "{s:I, s:I, s:b}", "limit", b, "swap", b,
		    "disableOOMKiller", 0)) < 0)
			return NULL;
	}
	if (s->cpu_millis && json_object_set_new(res, "cpu", json_pack(
	    "{s:I, s:I}", "quota", (json_int_t)s->cpu_millis *
	    (OCI_CPU_PERIOD_US / 1000), "period",
	    (json_int_t)OCI_CPU_PERIOD_US)) < 0)
		return NULL;
	return TAKE_PTR(res);
}

/* linux.uidMappings and gidMappings of CFG: container id 0 up from
 * S's first host id. */
static int
oci_id_mappings(json_t *cfg, const struct oci_spec *s)
{
	json_t *lnx = json_object_get(cfg, "linux");

	if (json_object_set_new(lnx, "uidMappings", json_pack(
	    "[{s:I, s:I, s:I}]", "containerID", (json_int_t)0, "hostID",
	    (json_int_t)s->userns_host, "size",
	    (json_int_t)s->userns_size)) < 0 ||
	    json_object_set_new(lnx, "gidMappings", json_pack(
	    "[{s:I, s:I, s:I}]", "containerID", (json_int_t)0, "hostID",
	    (json_int_t)s->userns_host, "size",
	    (json_int_t)s->userns_size)) < 0)
		return -ENOMEM;
	return 0;
}

int
oci_config_build(const struct oci_spec *s, json_t **ret, char **ret_err)
{
	_cleanup_json_ json_t	*caps = NULL, *env = NULL, *mounts = NULL;
	_cleanup_json_ json_t	*ns = NULL, *res = NULL, *cfg = NULL;
	_cleanup_json_ json_t	*seccomp = NULL;
	size_t			 nargs = count(s->argv);
	int			 r;

	if ((r = oci_spec_check(s, ret_err)) < 0)
		return r;
	caps = str_array(s->capabilities, count(s->capabilities));
	env = oci_env(s);
	if (!caps || !env)
		return -ENOMEM;
	if (!(mounts = oci_mounts(s)) || !(ns = oci_namespaces(s)) ||
	    !(res = oci_resources(s)))
		return -ENOMEM;
	seccomp = seccomp_profile();
	if (!seccomp)
		return -ENOMEM;

	cfg = json_pack("{s:s, s:{s:b, s:{s:I, s:I}, s:o, s:O, s:s,"
	    " s:{s:O, s:O, s:O, s:O, s:[]}, s:b,"
	    " s:[{s:s, s:I, s:I}, {s:s, s:I, s:I}]},"
	    " s:{s:s, s:b}, s:s, s:O,"
	    " s:{s:O, s:O, s:s, s:O, s:o, s:o, s:o}}",
	    "ociVersion", "1.0.2",
	    "process", "terminal", 0, "user", "uid", (json_int_t)s->uid, "gid",
	    (json_int_t)s->gid, "args", str_array(s->argv, nargs), "env", env,
	    "cwd", s->cwd ? s->cwd : "/",
	    "capabilities", "bounding", caps, "effective", caps, "permitted",
	    caps, "ambient", caps, "inheritable",
	    "noNewPrivileges", 1,
	    "rlimits", "type", "RLIMIT_NOFILE", "hard", (json_int_t)4096,
	    "soft", (json_int_t)1024, "type", "RLIMIT_CORE", "hard",
	    (json_int_t)0, "soft", (json_int_t)0,
	    "root", "path", s->rootfs, "readonly", 1,
	    "hostname", s->hostname ? s->hostname : "instance",
	    "mounts", mounts,
	    "linux", "namespaces", ns, "resources", res, "cgroupsPath",
	    s->cgroups_path, "seccomp", seccomp,
	    "maskedPaths", str_array(masked_paths, ELEMENTSOF(masked_paths)),
	    "readonlyPaths", str_array(readonly_paths,
	    ELEMENTSOF(readonly_paths)),
	    "sysctl", json_object());
	if (!cfg)
		return errf(-ENOMEM, ret_err, "building config.json failed");
	if (s->userns_size && oci_id_mappings(cfg, s) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(cfg);
	return 0;
}
