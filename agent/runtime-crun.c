/* Containers through crun; see runtime.h. crun runs detached under a
 * shim (runtime-exec.c) that waits for the container's init, so exit
 * codes are known although crun keeps no monitor process. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/oci.h"
#include "agent/runtime-internal.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/logcap.h"
#include "lib/macro.h"
#include "lib/runtime-exec.h"

#define CRUN_TIMEOUT_MS	30000
/* A reservation whose instance directory does not exist is stale after
 * this long (a create that died); younger ones may be a create under
 * way in another process. */
#define USERNS_STALE_S	120

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

/* The output cap of a container (lib/logcap.h), kept with its bundle
 * for restarts like the CPU limit. */
#define CRUN_LOG_ANNOTATION	"org.bulwark.log-max-bytes"

/* The number the bundle of ID records under annotation KEY, 0 for none
 * or one above MAX. */
static unsigned long long
bundle_number(struct runtime *rt, const char *id, const char *key,
    unsigned long long max)
{
	_cleanup_free_ char	*p = NULL, *text = NULL;
	_cleanup_json_ json_t	*cfg = NULL;
	const char		*v;
	size_t			 len;
	unsigned long long	 n;
	char			*end;

	if (rt_path(rt, id, "config.json", &p) < 0 ||
	    read_file_at(AT_FDCWD, p, 1 << 20, &text, &len) < 0 ||
	    json_parse_bounded(text, len, BW_JSON_MAX_DEPTH, &cfg, NULL) < 0)
		return 0;
	v = json_str_at(cfg, "annotations", key);
	if (!v)
		return 0;
	errno = 0;
	n = strtoull(v, &end, 10);
	return errno || *end || n > max ? 0 : n;
}

/* Records N under annotation KEY in the bundle CFG. */
static int
bundle_annotate(json_t *cfg, const char *key, unsigned long long n)
{
	char	 val[24];
	json_t	*ann = json_object_get(cfg, "annotations");

	if (!ann && (json_object_set_new(cfg, "annotations",
	    json_object()) < 0 || !(ann = json_object_get(cfg, "annotations"))))
		return -ENOMEM;
	snprintf(val, sizeof(val), "%llu", n);
	return json_object_set_new(ann, key, json_string(val)) < 0 ? -ENOMEM :
	    0;
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
	uint64_t		 log_max;
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
	cpu_millis = s ? s->cpu_millis : (unsigned)bundle_number(rt, id,
	    CRUN_CPU_ANNOTATION, 1024 * 1000);
	log_max = s ? s->log_max_bytes : bundle_number(rt, id,
	    CRUN_LOG_ANNOTATION, LOGCAP_MAX);
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
			.log_max_bytes = log_max ? log_max : LOGCAP_DEFAULT,
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

/* ---- user namespaces and host id ranges ---- */

static int
userns_dir(struct runtime *rt, char **ret)
{
	if (asprintf(ret, "%s/uid-ranges", rt->run_dir) < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* RUN_DIR/userns/ID: the bind mount that keeps ID's user namespace. */
static int
userns_file(struct runtime *rt, const char *id, char **ret)
{
	if (asprintf(ret, "%s/userns/%s", rt->run_dir, id) < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* The id in reservation NAME of DIRFD (NULL if unreadable). */
static char *
userns_owner(int dirfd, const char *name)
{
	char	*text = NULL;
	size_t	 len;

	if (read_file_at(dirfd, name, RUNTIME_ID_MAX + 1, &text, &len) < 0)
		return NULL;
	return text;
}

/* 1 when reservation NAME is stale: its instance has no directory and
 * it is old (a start that died before the agent could remove it). */
static int
userns_stale(struct runtime *rt, int dirfd, const char *name,
    char **ret_owner)
{
	_cleanup_free_ char	*owner = userns_owner(dirfd, name);
	_cleanup_free_ char	*dir = NULL;
	struct stat		 st;

	if (!owner || fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    time(NULL) - st.st_mtime < USERNS_STALE_S ||
	    runtime_check_id(owner, NULL) < 0 ||
	    rt_path(rt, owner, NULL, &dir) < 0 ||
	    access(dir, F_OK) == 0 || errno != ENOENT)
		return 0;
	*ret_owner = TAKE_PTR(owner);
	return 1;
}

/* The first host id of the range reserved for ID, or 0 if none. */
static uint32_t
userns_host_of(struct runtime *rt, const char *id)
{
	_cleanup_free_ char	*dir = NULL;
	struct dirent		*de;
	uint32_t		 host = 0;
	DIR			*d;

	if (userns_dir(rt, &dir) < 0 || !(d = opendir(dir)))
		return 0;
	while (!host && (de = readdir(d))) {
		_cleanup_free_ char *owner = NULL;
		char *end;
		unsigned long n;

		if (de->d_name[0] == '.')
			continue;
		n = strtoul(de->d_name, &end, 10);
		if (*end || n >= RUNTIME_USERNS_RANGES ||
		    !(owner = userns_owner(dirfd(d), de->d_name)) ||
		    strcmp(owner, id) != 0)
			continue;
		host = RUNTIME_USERNS_BASE + (uint32_t)n * RUNTIME_USERNS_SIZE;
	}
	closedir(d);
	return host;
}

/* Reserves the lowest free host id range for ID: O_EXCL creation of
 * its file is the reservation, so two creators never share a range. */
static int
userns_alloc(struct runtime *rt, const char *id, uint32_t *ret_host,
    char **ret_err)
{
	_cleanup_free_ char	*dir = NULL;
	_cleanup_close_ int	 dfd = -1;
	char			 name[16];
	unsigned		 n;
	int			 r;

	if ((r = userns_dir(rt, &dir)) < 0)
		return r;
	if ((r = mkdir_p(dir, 0700)) < 0)
		return errf(r, ret_err, "%s: %s", dir, bw_strerror(r));
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errf(-errno, ret_err, "%s: %s", dir, strerror(errno));
	for (n = 0; n < RUNTIME_USERNS_RANGES; n++) {
		_cleanup_close_ int	 fd = -1;
		_cleanup_free_ char	*stale = NULL;

		snprintf(name, sizeof(name), "%u", n);
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
		if (fd < 0 && errno == EEXIST &&
		    userns_stale(rt, dfd, name, &stale)) {
			rt_crun_userns_release(rt, stale);
			fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL |
			    O_CLOEXEC | O_NOFOLLOW, 0600);
		}
		if (fd < 0) {
			if (errno == EEXIST)
				continue;
			return errf(-errno, ret_err, "%s/%s: %s", dir, name,
			    strerror(errno));
		}
		if ((r = write_all(fd, id, strlen(id))) < 0) {
			(void)unlinkat(dfd, name, 0);
			return errf(r, ret_err, "%s/%s: %s", dir, name,
			    bw_strerror(r));
		}
		*ret_host = RUNTIME_USERNS_BASE + n * RUNTIME_USERNS_SIZE;
		return 0;
	}
	return errf(-BW_E_TOOLARGE, ret_err, "all %u host id ranges are in "
	    "use", RUNTIME_USERNS_RANGES);
}

void
rt_crun_userns_release(struct runtime *rt, const char *id)
{
	_cleanup_free_ char	*dir = NULL, *file = NULL;
	struct dirent		*de;
	DIR			*d;

	if (userns_file(rt, id, &file) == 0) {
		(void)umount2(file, MNT_DETACH | UMOUNT_NOFOLLOW);
		(void)unlink(file);
	}
	if (userns_dir(rt, &dir) < 0 || !(d = opendir(dir)))
		return;
	while ((de = readdir(d))) {
		_cleanup_free_ char *owner = NULL;

		if (de->d_name[0] != '.' &&
		    (owner = userns_owner(dirfd(d), de->d_name)) &&
		    strcmp(owner, id) == 0)
			(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

static bool
is_nsfs(const char *path)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && sf.f_type == NSFS_MAGIC;
}

/* Makes ID's user namespace: a forked child unshares it and waits while
 * the parent writes its id maps and bind-mounts it on FILE, where it
 * outlives the child. The child makes async-signal-safe calls only. */
static int
userns_make(const char *file, uint32_t host, char **ret_err)
{
	struct runtime_nschild	 c;
	char			 path[64], map[64];
	const char		*step;
	int			 r;

	if ((r = runtime_nschild_fork(&c, &step)) == 0) {
		if (unshare(CLONE_NEWUSER) < 0)
			_exit(1);
		runtime_nschild_ready(&c);
	}
	if (r < 0)
		goto out;
	step = "unshare";
	if ((r = runtime_nschild_wait(&c)) < 0)
		goto out;
	snprintf(map, sizeof(map), "0 %u %u\n", host, RUNTIME_USERNS_SIZE);
	step = "uid_map";
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)c.pid);
	if ((r = rt_write_file(path, map)) < 0)
		goto out;
	step = "gid_map";
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)c.pid);
	if ((r = rt_write_file(path, map)) < 0)
		goto out;
	step = "bind mount";
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)c.pid);
	if (mount(path, file, "none", MS_BIND, NULL) < 0)
		r = -errno;
out:
	runtime_nschild_end(&c);
	if (r < 0)
		return errf(r, ret_err, "user namespace: %s: %s", step,
		    bw_strerror(r));
	return 0;
}

int
runtime_userns_prepare(struct runtime *rt, const char *id, char **ret_path,
    char **ret_err)
{
	_cleanup_free_ char	*file = NULL, *dir = NULL;
	_cleanup_close_ int	 fd = -1;
	uint32_t		 host = 0;
	int			 r;

	if ((r = runtime_check_id(id, ret_err)) < 0)
		return r;
	if (userns_file(rt, id, &file) < 0 ||
	    asprintf(&dir, "%s/userns", rt->run_dir) < 0)
		return -ENOMEM;
	if (userns_host_of(rt, id) && is_nsfs(file)) {
		/* made before (the agent's network came first) */
		*ret_path = TAKE_PTR(file);
		return 0;
	}
	/* What a start that died left behind. */
	rt_crun_userns_release(rt, id);
	if ((r = mkdir_p(dir, 0700)) < 0)
		return errf(r, ret_err, "%s: %s", dir, bw_strerror(r));
	if ((r = userns_alloc(rt, id, &host, ret_err)) < 0)
		return r;
	fd = open(file, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd < 0) {
		r = errf(-errno, ret_err, "%s: %s", file, strerror(errno));
		goto fail;
	}
	if ((r = userns_make(file, host, ret_err)) < 0)
		goto fail;
	*ret_path = TAKE_PTR(file);
	return 0;
fail:
	rt_crun_userns_release(rt, id);
	return r;
}

/* crun sets the root up as the container's root, an unprivileged host
 * id: every directory on the way to ROOTFS must be searchable by
 * others. Says which one is not, rather than crun's "Permission
 * denied". */
static int
rootfs_reachable(const char *rootfs, char **ret_err)
{
	char		 p[4096];
	struct stat	 st;
	size_t		 i, n = strlen(rootfs);

	if (n >= sizeof(p))
		return -ENAMETOOLONG;
	for (i = 1; i <= n; i++) {
		if (i < n && rootfs[i] != '/')
			continue;
		memcpy(p, rootfs, i);
		p[i] = '\0';
		if (stat(p, &st) < 0)
			return errf(-errno, ret_err, "%s: %s", p,
			    strerror(errno));
		if (S_ISDIR(st.st_mode) && !(st.st_mode & S_IXOTH))
			return errf(-EACCES, ret_err, "%s: mode %04o keeps the "
			    "container's user namespace from its root file "
			    "system (it needs o+x)", p,
			    (unsigned)(st.st_mode & 07777));
	}
	return 0;
}

static int
rootfs_mountpoint(struct runtime *rt, const char *id, char **ret)
{
	if (asprintf(ret, "%s/rootfs/%s", rt->run_dir, id) < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return 0;
}

void
rt_crun_rootfs_release(struct runtime *rt, const char *id)
{
	_cleanup_free_ char *mp = NULL;

	if (rootfs_mountpoint(rt, id, &mp) < 0)
		return;
	(void)umount2(mp, MNT_DETACH | UMOUNT_NOFOLLOW);
	(void)rmdir(mp);
}

/* The image's root file system, read-only, at RUN_DIR/rootfs/ID
 * (*RET_MP): crun sets the root up as the container's root, an
 * unprivileged host id, which must reach it; the image store stays
 * private (0700). */
static int
rootfs_mount(struct runtime *rt, const char *id, const char *rootfs,
    char **ret_mp, char **ret_err)
{
	_cleanup_free_ char	*dir = NULL, *mp = NULL;
	int			 r;

	if (asprintf(&dir, "%s/rootfs", rt->run_dir) < 0 ||
	    rootfs_mountpoint(rt, id, &mp) < 0)
		return -ENOMEM;
	if ((r = mkdir_p(dir, 0711)) < 0)
		return errf(r, ret_err, "%s: %s", dir, bw_strerror(r));
	if (chmod(dir, 0711) < 0)
		return errf(-errno, ret_err, "%s: %s", dir, strerror(errno));
	/* what a start that died left */
	rt_crun_rootfs_release(rt, id);
	if (mkdir(mp, 0755) < 0)
		return errf(-errno, ret_err, "%s: %s", mp, strerror(errno));
	if (mount(rootfs, mp, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, mp, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NODEV,
	    NULL) < 0) {
		r = errf(-errno, ret_err, "mounting %s on %s: %s", rootfs, mp,
		    strerror(errno));
		rt_crun_rootfs_release(rt, id);
		return r;
	}
	*ret_mp = TAKE_PTR(mp);
	return 0;
}

/* The top-level directories of ROOTFS that get an idmapped mount: all
 * but those the container's own mounts cover. *RET (NULL-terminated,
 * free with runtime_list_free) may be empty. */
static int
idmap_dirs(const char *rootfs, char ***ret, char **ret_err)
{
	static const char *const covered[] = { "proc", "sys", "dev", "tmp",
	    NULL };
	char		**v = NULL;
	struct dirent	 *de;
	struct stat	  st;
	size_t		  n = 0;
	DIR		 *d;
	int		  r = 0;

	if (!(d = opendir(rootfs)))
		return errf(-errno, ret_err, "%s: %s", rootfs, strerror(errno));
	if (!(v = calloc(OCI_IDMAP_DIRS_MAX + 1, sizeof(*v)))) {
		closedir(d);
		return -ENOMEM;
	}
	while ((de = readdir(d))) {
		const char *const *c;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		for (c = covered; *c && strcmp(*c, de->d_name); c++)
			;
		if (*c)
			continue;
		if (n == OCI_IDMAP_DIRS_MAX) {
			r = errf(-BW_E_TOOLARGE, ret_err, "%s: more than %d "
			    "top-level directories", rootfs,
			    OCI_IDMAP_DIRS_MAX);
			break;
		}
		if (!(v[n++] = strdup(de->d_name))) {
			r = -ENOMEM;
			break;
		}
	}
	closedir(d);
	if (r < 0) {
		runtime_list_free(v);
		return r;
	}
	*ret = v;
	return 0;
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
	_cleanup_free_ char	*text = NULL, *userns = NULL, *root = NULL;
	char			**idmap = NULL;
	struct oci_spec		 o;
	uint32_t		 host = 0;
	int			 r;

	if (!s->rootfs)
		return errf(-BW_E_INVALID, ret_err, "rootfs: required");
	if (s->cpu_millis > 1024 * 1000)
		return errf(-BW_E_INVALID, ret_err,
		    "cpu_millis: at most 1024000");
	if (asprintf(&cg, "/%s/" RUNTIME_PREFIX "%s", rt->cgroup_parent,
	    s->id) < 0) {
		cg = NULL;
		return -ENOMEM;
	}
	if (rt_path(rt, s->id, NULL, &dir) < 0 ||
	    rt_path(rt, s->id, "config.json", &cfgp) < 0)
		return -ENOMEM;
	if (mkdir(dir, 0700) < 0) {
		if (errno == EEXIST)
			return errf(-BW_E_EXISTS, ret_err,
			    "instance %s already exists", s->id);
		return errf(-errno, ret_err, "%s: %s", dir, strerror(errno));
	}
	/* From here on a failure removes the directory, the host id range
	 * and whatever crun made. */
	if ((r = rootfs_mount(rt, s->id, s->rootfs, &root, ret_err)) < 0 ||
	    (r = rootfs_reachable(root, ret_err)) < 0 ||
	    (r = idmap_dirs(root, &idmap, ret_err)) < 0 ||
	    (r = runtime_userns_prepare(rt, s->id, &userns, ret_err)) < 0)
		goto fail;
	if (!(host = userns_host_of(rt, s->id))) {
		r = errf(-BW_E_UNAVAILABLE, ret_err, "instance %s: its host id "
		    "range is gone", s->id);
		goto fail;
	}
	memset(&o, 0, sizeof(o));
	o.hostname = s->hostname ? s->hostname : s->id;
	o.rootfs = root;
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
	o.userns_path = userns;
	o.userns_host = host;
	o.userns_size = RUNTIME_USERNS_SIZE;
	o.idmap_dirs = (const char *const *)idmap;
	o.volume_src = s->volume_src;
	o.volume_dst = s->volume_dst;
	if ((r = oci_config_build(&o, &cfg, ret_err)) < 0)
		goto fail;
	if ((s->cpu_millis && (r = bundle_annotate(cfg, CRUN_CPU_ANNOTATION,
	    s->cpu_millis)) < 0) || (r = bundle_annotate(cfg,
	    CRUN_LOG_ANNOTATION, s->log_max_bytes ? s->log_max_bytes :
	    LOGCAP_DEFAULT)) < 0)
		goto fail;
	if (!(text = json_dumps(cfg, JSON_INDENT(1)))) {
		r = -ENOMEM;
		goto fail;
	}
	r = rt_write_atomic(cfgp, text, 0600);
	if (r < 0)
		errf(r, ret_err, "%s: %s", cfgp, bw_strerror(r));
	else
		r = crun_start(rt, s->id, true, s, ret_err);
	if (r < 0)
		goto fail;
	runtime_list_free(idmap);
	return 0;
fail:
	runtime_list_free(idmap);
	(void)rt_crun_delete(rt, s->id, NULL);
	{
		const char *const argv[] = { "/usr/bin/rm", "-rf",
		    "--one-file-system", "--", dir, NULL };

		(void)runtime_run(argv, NULL, NULL, NULL);
	}
	(void)rt_cgroup_remove(rt, s->id);
	rt_crun_rootfs_release(rt, s->id);
	rt_crun_userns_release(rt, s->id);
	return r;
}

int
runtime_exec_argv(struct runtime *rt, const char *id, const char *pid_file,
    char ***ret)
{
	_cleanup_free_ char	*root = NULL, *cid = NULL, *pf = NULL;
	char			**argv;
	size_t			  n = 0;

	if (asprintf(&root, "--root=%s", rt->crun_root) < 0) {
		root = NULL;
		return -ENOMEM;
	}
	if (asprintf(&cid, RUNTIME_PREFIX "%s", id) < 0) {
		cid = NULL;
		return -ENOMEM;
	}
	if (pid_file && asprintf(&pf, "--pid-file=%s", pid_file) < 0) {
		pf = NULL;
		return -ENOMEM;
	}
	{
		const char *const src[] = { rt->crun, root,
		    "--cgroup-manager=cgroupfs", "exec", pf ? pf : cid,
		    pf ? cid : NULL };

		if (!(argv = calloc(ELEMENTSOF(src) + 1, sizeof(*argv))))
			return -ENOMEM;
		for (size_t i = 0; i < ELEMENTSOF(src) && src[i]; i++, n++)
			if (!(argv[n] = strdup(src[i]))) {
				runtime_list_free(argv);
				return -ENOMEM;
			}
	}
	*ret = argv;
	return 0;
}

int
rt_crun_signal(struct runtime *rt, const char *id)
{
	_cleanup_free_ char *cid = NULL;

	if (asprintf(&cid, RUNTIME_PREFIX "%s", id) < 0)
		return -ENOMEM;
	{
		const char *const term[] = { "kill", cid, "TERM", NULL };

		/* Fails when init is already gone: the wait tells. */
		(void)crun(rt, term, NULL, NULL);
	}
	return 1;
}

int
rt_crun_finish(struct runtime *rt, const char *id, const struct rt_meta *m,
    int64_t deadline_ms, char **ret_err)
{
	_cleanup_free_ char	*cid = NULL;
	int64_t			 left = deadline_ms - bw_mono_ms();

	if (asprintf(&cid, RUNTIME_PREFIX "%s", id) < 0)
		return -ENOMEM;
	if (rt_wait_exit_file(rt, id, m->shim, left > 0 ? (int)left : 0))
		return 1;
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
