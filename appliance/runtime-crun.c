/* Containers through crun; see runtime.h. crun runs detached under a
 * shim (runtime-exec.c) that waits for the container's init, so exit
 * codes are known although crun keeps no monitor process. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "appliance/oci.h"
#include "appliance/runtime-exec.h"
#include "appliance/runtime-internal.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/macro.h"

#define CRUN_TIMEOUT_MS	30000

/* Runs `crun --root R ARGS...` and returns its result. */
static int
crun(struct runtime *rt, const char *const *args, char **ret_out,
    char **ret_err)
{
	const char		*argv[16];
	_cleanup_free_ char	*root = NULL;
	struct runtime_exec_opts o = { .stdout_fd = -1,
	    .timeout_ms = CRUN_TIMEOUT_MS };
	size_t			 n = 0;

	if (asprintf(&root, "--root=%s", rt->crun_root) < 0) {
		root = NULL;
		return -ENOMEM;
	}
	argv[n++] = rt->crun;
	argv[n++] = root;
	argv[n++] = "--cgroup-manager=cgroupfs";
	for (; *args && n < ELEMENTSOF(argv) - 1; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	return runtime_run(argv, &o, ret_out, ret_err);
}

static bool
crun_exists(struct runtime *rt, const char *cid)
{
	const char *const args[] = { "state", cid, NULL };

	return crun(rt, args, NULL, NULL) == 0;
}

/* Appends the last line crun logged, which says why it failed. */
static void
add_crun_log(struct runtime *rt, const char *id, char **ret_err)
{
	_cleanup_free_ char	*p = NULL, *text = NULL;
	char			*line, *msg;
	size_t			 len;

	if (!ret_err || !*ret_err || rt_path(rt, id, "crun.log", &p) < 0 ||
	    read_file_at(AT_FDCWD, p, 1 << 20, &text, &len) < 0)
		return;
	while (len > 0 && text[len - 1] == '\n')
		text[--len] = '\0';
	line = strrchr(text, '\n');
	line = line ? line + 1 : text;
	if (!*line || asprintf(&msg, "%s: %.300s", *ret_err, line) < 0)
		return;
	free(*ret_err);
	*ret_err = msg;
}

/* The CPU limit is not in config.json: crun writes the config's limits
 * into the cgroup before it sets the container up inside it, and at a
 * small quota (10 millicores: 1 ms of CPU each 100 ms) that set-up,
 * crun's own code, is throttled from ~15 ms to 150-300 ms. The limit is
 * written into the cgroup between `crun create` and `crun start`
 * instead, so the workload's first instruction already runs under it.
 * The annotation keeps it with the bundle for restarts. */
#define CRUN_CPU_ANNOTATION	"org.bulwark.cpu-millis"

/* The CPU limit that the bundle of ID records, 0 for none. */
static unsigned
bundle_cpu_millis(struct runtime *rt, const char *id)
{
	_cleanup_free_ char	*p = NULL, *text = NULL;
	_cleanup_json_ json_t	*cfg = NULL;
	const char		*v;
	size_t			 len;
	unsigned long		 n;
	char			*end;

	if (rt_path(rt, id, "config.json", &p) < 0 ||
	    read_file_at(AT_FDCWD, p, 1 << 20, &text, &len) < 0 ||
	    json_parse_bounded(text, len, BW_JSON_MAX_DEPTH, &cfg, NULL) < 0)
		return 0;
	v = json_string_value(json_object_get(json_object_get(cfg,
	    "annotations"), CRUN_CPU_ANNOTATION));
	if (!v)
		return 0;
	errno = 0;
	n = strtoul(v, &end, 10);
	return errno || *end || n > 1024 * 1000 ? 0 : (unsigned)n;
}

/* Writes CPU_MILLIS into the cpu cgroup crun made for ID. */
static int
apply_cpu_limit(struct runtime *rt, const char *id, unsigned cpu_millis,
    char **ret_err)
{
	_cleanup_free_ char	*per = NULL, *quota = NULL;
	char			 val[32];
	int			 r;

	if (rt_cgroup_path(rt, "cpu", id, "cpu.cfs_period_us", &per) < 0 ||
	    rt_cgroup_path(rt, "cpu", id, "cpu.cfs_quota_us", &quota) < 0)
		return -ENOMEM;
	snprintf(val, sizeof(val), "%u", cpu_millis * 100);
	if ((r = rt_write_file(per, "100000")) < 0 ||
	    (r = rt_write_file(quota, val)) < 0)
		return errf(r, ret_err, "instance %s: CPU limit: %s", id,
		    bw_strerror(r));
	return 0;
}

/* FRESH: a new instance, so no earlier crun state can exist. */
static int
crun_start(struct runtime *rt, const char *id, bool fresh,
    const struct runtime_spec *s, char **ret_err)
{
	_cleanup_free_ char	*dir = NULL, *log = NULL, *crunlog = NULL;
	_cleanup_free_ char	*exitp = NULL, *pidp = NULL, *root = NULL;
	_cleanup_free_ char	*cid = NULL;
	struct rt_meta		 m = { .kind = RUNTIME_CONTAINER };
	unsigned		 cpu_millis;
	pid_t			 shim, pid;
	int			 r;

	if (rt_path(rt, id, NULL, &dir) < 0 ||
	    rt_path(rt, id, "console.log", &log) < 0 ||
	    rt_path(rt, id, "exit", &exitp) < 0 ||
	    rt_path(rt, id, "pid", &pidp) < 0 ||
	    asprintf(&crunlog, "--log=file:%s/crun.log", dir) < 0 ||
	    asprintf(&root, "--root=%s", rt->crun_root) < 0 ||
	    asprintf(&cid, RUNTIME_PREFIX "%s", id) < 0)
		return -ENOMEM;
	/* A previous run of this instance leaves crun state behind. */
	if (!fresh && crun_exists(rt, cid)) {
		const char *const del[] = { "delete", "--force", cid, NULL };

		if ((r = crun(rt, del, NULL, ret_err)) < 0)
			return r;
	}
	(void)unlink(pidp);
	cpu_millis = s ? s->cpu_millis : bundle_cpu_millis(rt, id);
	{
		/* With a hook or a CPU limit: create, hook and limit, start;
		 * crun create leaves the container's process waiting for
		 * crun start. */
		bool hook = (s && s->before_start) || cpu_millis > 0;
		const char *const run[] = { rt->crun, root,
		    "--cgroup-manager=cgroupfs", crunlog, "run", "--detach",
		    "--bundle", dir, "--pid-file", pidp, cid, NULL };
		const char *const create[] = { rt->crun, root,
		    "--cgroup-manager=cgroupfs", crunlog, "create",
		    "--bundle", dir, "--pid-file", pidp, cid, NULL };
		struct runtime_sup sup = {
			.argv = hook ? create : run, .log_path = log,
			.exit_path = exitp, .pid_file = pidp,
			.ready_timeout_ms = CRUN_TIMEOUT_MS,
		};

		r = runtime_supervise(&sup, &shim, &pid, ret_err);
	}
	if (r < 0) {
		add_crun_log(rt, id, ret_err);
		return r;
	}
	m.shim = shim;
	m.shim_start = rt_proc_start(shim);
	m.pid = pid;
	m.pid_start = rt_proc_start(pid);
	if ((r = rt_meta_save(rt, id, &m)) < 0) {
		r = errf(r, ret_err, "instance %s: %s", id, bw_strerror(r));
		goto fail;
	}
	if ((s && s->before_start) || cpu_millis > 0) {
		const char *const start[] = { "start", cid, NULL };

		if (cpu_millis > 0 &&
		    (r = apply_cpu_limit(rt, id, cpu_millis, ret_err)) < 0)
			goto fail;
		if (s && s->before_start &&
		    (r = s->before_start(s->before_start_arg, ret_err)) < 0)
			goto fail;
		if ((r = crun(rt, start, NULL, ret_err)) < 0) {
			add_crun_log(rt, id, ret_err);
			goto fail;
		}
	}
	return 0;
fail:
	/* A created container never starts without its limit: its
	 * waiting process goes (the shim records how it ended). */
	(void)rt_crun_delete(rt, id, NULL);
	return r;
}

int
rt_crun_start(struct runtime *rt, const char *id, char **ret_err)
{
	return crun_start(rt, id, false, NULL, ret_err);
}

int
rt_crun_create(struct runtime *rt, const struct runtime_spec *s,
    char **ret_err)
{
	_cleanup_json_ json_t	*cfg = NULL;
	_cleanup_free_ char	*dir = NULL, *cfgp = NULL, *cg = NULL;
	_cleanup_free_ char	*text = NULL;
	struct oci_spec		 o;
	int			 r;

	if (!s->rootfs)
		return errf(-BW_E_INVALID, ret_err, "rootfs: required");
	if (asprintf(&cg, "/%s/" RUNTIME_PREFIX "%s", rt->cgroup_parent,
	    s->id) < 0) {
		cg = NULL;
		return -ENOMEM;
	}
	memset(&o, 0, sizeof(o));
	o.hostname = s->hostname ? s->hostname : s->id;
	o.rootfs = s->rootfs;
	o.argv = s->argv;
	o.env = s->env;
	o.uid = s->uid;
	o.gid = s->gid;
	o.capabilities = s->capabilities;
	o.netns_path = s->netns_path;
	o.cgroups_path = cg;
	/* Applied by crun_start() after the set-up; see above. */
	o.cpu_millis = 0;
	o.memory_mib = s->memory_mib;
	o.pids_max = s->pids_max;
	if ((r = oci_config_build(&o, &cfg, ret_err)) < 0)
		return r;
	if (s->cpu_millis) {
		char	 val[16];
		json_t	*ann = json_object_get(cfg, "annotations");

		if (s->cpu_millis > 1024 * 1000)
			return errf(-BW_E_INVALID, ret_err,
			    "cpu_millis: at most 1024000");
		if (!ann && (json_object_set_new(cfg, "annotations",
		    json_object()) < 0 ||
		    !(ann = json_object_get(cfg, "annotations"))))
			return -ENOMEM;
		snprintf(val, sizeof(val), "%u", s->cpu_millis);
		if (json_object_set_new(ann, CRUN_CPU_ANNOTATION,
		    json_string(val)) < 0)
			return -ENOMEM;
	}
	if (!(text = json_dumps(cfg, JSON_INDENT(1))))
		return -ENOMEM;
	if (rt_path(rt, s->id, NULL, &dir) < 0 ||
	    rt_path(rt, s->id, "config.json", &cfgp) < 0)
		return -ENOMEM;
	if (mkdir(dir, 0700) < 0) {
		if (errno == EEXIST)
			return errf(-BW_E_EXISTS, ret_err,
			    "instance %s already exists", s->id);
		return errf(-errno, ret_err, "%s: %s", dir, strerror(errno));
	}
	r = rt_write_atomic(cfgp, text, 0600);
	if (r < 0)
		errf(r, ret_err, "%s: %s", cfgp, bw_strerror(r));
	else
		r = crun_start(rt, s->id, true, s, ret_err);
	if (r < 0) {
		(void)rt_crun_delete(rt, s->id, NULL);
		{
			const char *const argv[] = { "/usr/bin/rm", "-rf",
			    "--one-file-system", "--", dir, NULL };

			(void)runtime_run(argv, NULL, NULL, NULL);
		}
		(void)rt_cgroup_remove(rt, s->id);
	}
	return r;
}

int
rt_crun_stop(struct runtime *rt, const char *id, const struct rt_meta *m,
    int grace_ms, char **ret_err)
{
	_cleanup_free_ char *cid = NULL;

	if (asprintf(&cid, RUNTIME_PREFIX "%s", id) < 0)
		return -ENOMEM;
	if (grace_ms > 0) {
		const char *const term[] = { "kill", cid, "TERM", NULL };

		/* Fails when init is already gone: the wait tells. */
		(void)crun(rt, term, NULL, NULL);
		if (rt_wait_exit_file(rt, id, m->shim, grace_ms))
			return 1;
	}
	{
		const char *const kill9[] = { "kill", "--all", cid, "KILL",
		    NULL };

		(void)crun(rt, kill9, NULL, NULL);
	}
	/* crun may not see a half-started container; its init is
	 * ours to kill directly then. */
	if (rt_proc_alive(m->pid, m->pid_start))
		(void)kill(m->pid, SIGKILL);
	if (!rt_wait_exit_file(rt, id, m->shim, 10000))
		return errf(-ETIMEDOUT, ret_err,
		    "container %s did not exit after SIGKILL", id);
	return 0;
}

int
rt_crun_delete(struct runtime *rt, const char *id, char **ret_err)
{
	_cleanup_free_ char	*cid = NULL;
	int			 r;

	if (asprintf(&cid, RUNTIME_PREFIX "%s", id) < 0)
		return -ENOMEM;
	if (!crun_exists(rt, cid))
		return 0;
	{
		/* --force kills what still runs; crun then removes the
		 * cgroups, mounts and its state directory. */
		const char *const del[] = { "delete", "--force", cid, NULL };

		if ((r = crun(rt, del, NULL, ret_err)) < 0)
			return r;
	}
	return 1;
}

int
rt_crun_list(struct runtime *rt, json_t *ids, char **ret_err)
{
	const char *const	 args[] = { "list", "--quiet", NULL };
	_cleanup_free_ char	*out = NULL;
	char			*save = NULL, *line;
	int			 r;

	if ((r = crun(rt, args, &out, ret_err)) < 0)
		return r;
	for (line = strtok_r(out, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		const char *id = line + strlen(RUNTIME_PREFIX);

		if (strncmp(line, RUNTIME_PREFIX, strlen(RUNTIME_PREFIX)) ||
		    runtime_check_id(id, NULL) < 0)
			continue;
		if (json_object_set_new(ids, id, json_true()) < 0)
			return -ENOMEM;
	}
	return 0;
}
