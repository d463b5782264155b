/* Runtime front end: instance directories, status and dispatch to the
 * container (runtime-crun.c) and VM (runtime-qemu.c) back ends. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/runtime-internal.h"
#include "agent/runtime.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "lib/runtime-exec.h"

#define META_MAX	65536

static const char *const cgroup_ctrls[] = {
	"memory", "cpu", "cpuacct", "pids", "cpuset", "devices", "freezer",
	"blkio", "hugetlb", "net_cls", "net_prio", "perf_event", "systemd",
};

void
rt_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int
runtime_check_id(const char *id, char **ret_err)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > RUNTIME_ID_MAX)
		return errf(-BW_E_INVALID, ret_err, "id: 1..%d characters",
		    RUNTIME_ID_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    (c == '-' && i > 0)))
			return errf(-BW_E_INVALID, ret_err,
			    "id: only [a-z0-9-], not starting with '-'");
	}
	return 0;
}

int
runtime_nschild_fork(struct runtime_nschild *c, const char **ret_step)
{
	c->pid = -1;
	c->ready[0] = c->ready[1] = c->done[0] = c->done[1] = -1;
	*ret_step = "pipe";
	if (pipe2(c->ready, O_CLOEXEC) < 0 || pipe2(c->done, O_CLOEXEC) < 0)
		return -errno;
	*ret_step = "fork";
	if ((c->pid = fork()) < 0)
		return -errno;
	if (c->pid == 0) {
		close(c->ready[0]);
		close(c->done[1]);
		return 0;
	}
	close(c->ready[1]);
	c->ready[1] = -1;
	close(c->done[0]);
	c->done[0] = -1;
	return 1;
}

void
runtime_nschild_ready(struct runtime_nschild *c)
{
	char ch = 0;

	if (write(c->ready[1], "1", 1) != 1)
		_exit(3);
	if (read(c->done[0], &ch, 1) < 0)
		_exit(4);
	_exit(0);
}

int
runtime_nschild_wait(struct runtime_nschild *c)
{
	char ch = 0;

	return read(c->ready[0], &ch, 1) == 1 ? 0 : -EPERM;
}

void
runtime_nschild_end(struct runtime_nschild *c)
{
	int st;

	for (int i = 0; i < 2; i++) {
		if (c->ready[i] >= 0)
			close(c->ready[i]);
		if (c->done[i] >= 0)
			close(c->done[i]);
		c->ready[i] = c->done[i] = -1;
	}
	if (c->pid > 0)
		while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
			;
	c->pid = -1;
}

int
rt_path(struct runtime *rt, const char *id, const char *name, char **ret)
{
	int r = name ? asprintf(ret, "%s/%s/%s", rt->state_dir, id, name) :
	    asprintf(ret, "%s/%s", rt->state_dir, id);

	return r < 0 ? -ENOMEM : 0;
}

int
rt_cgroup_path(struct runtime *rt, const char *ctrl, const char *id,
    const char *file, char **ret)
{
	int r = file ? asprintf(ret, "/sys/fs/cgroup/%s/%s/" RUNTIME_PREFIX
	    "%s/%s", ctrl, rt->cgroup_parent, id, file) :
	    asprintf(ret, "/sys/fs/cgroup/%s/%s/" RUNTIME_PREFIX "%s", ctrl,
	    rt->cgroup_parent, id);

	return r < 0 ? -ENOMEM : 0;
}

int
rt_cgroup_remove(struct runtime *rt, const char *id)
{
	int r = 0;

	for (size_t i = 0; i < ELEMENTSOF(cgroup_ctrls); i++) {
		_cleanup_free_ char *p = NULL;

		if (rt_cgroup_path(rt, cgroup_ctrls[i], id, NULL, &p) < 0)
			return -ENOMEM;
		/* The kernel refuses while tasks remain: retry briefly as
		 * killed tasks finish exiting. */
		for (int k = 0; k < 50; k++) {
			if (rmdir(p) == 0 || errno == ENOENT)
				break;
			if (errno != EBUSY) {
				r = -errno;
				break;
			}
			rt_sleep_ms(20);
		}
		if (access(p, F_OK) == 0 && r == 0)
			r = -EBUSY;
	}
	return r;
}

uint64_t
rt_oom_kills(struct runtime *rt, const char *id)
{
	_cleanup_free_ char	*p = NULL, *text = NULL;
	const char		*k;
	size_t			 len;

	if (rt_cgroup_path(rt, "memory", id, "memory.oom_control", &p) < 0 ||
	    read_file_at(AT_FDCWD, p, 4096, &text, &len) < 0)
		return 0;
	k = strstr(text, "oom_kill ");
	return k ? strtoull(k + 9, NULL, 10) : 0;
}

int
runtime_cpu_usage(struct runtime *rt, const char *id, uint64_t *ret_usec)
{
	_cleanup_free_ char	*p = NULL, *text = NULL;
	const char		*k;
	size_t			 len;
	int			 r;

	if (rt_cgroup_path(rt, "cpuacct", id, "cpuacct.usage", &p) < 0)
		return -ENOMEM;
	if (read_file_at(AT_FDCWD, p, 64, &text, &len) == 0) {
		*ret_usec = strtoull(text, NULL, 10) / 1000u;
		return 0;
	}
	free(p);
	if (asprintf(&p, "/sys/fs/cgroup/%s/" RUNTIME_PREFIX "%s/cpu.stat",
	    rt->cgroup_parent, id) < 0) {
		p = NULL;
		return -ENOMEM;
	}
	if ((r = read_file_at(AT_FDCWD, p, 4096, &text, &len)) < 0)
		return r;
	if (!(k = strstr(text, "usage_usec ")))
		return -ENOENT;
	*ret_usec = strtoull(k + 11, NULL, 10);
	return 0;
}

uint64_t
rt_proc_start(pid_t pid)
{
	_cleanup_free_ char	*text = NULL;
	char			 path[64];
	const char		*p;
	size_t			 len;
	int			 field;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_file_at(AT_FDCWD, path, 4096, &text, &len) < 0)
		return 0;
	/* comm may hold spaces and parentheses: fields count from the
	 * last ')'. */
	p = strrchr(text, ')');
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return 0;
	p += 2;		/* field 3: state */
	for (field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtoull(p, NULL, 10) : 0;
}

bool
rt_proc_alive(pid_t pid, uint64_t start)
{
	uint64_t now = rt_proc_start(pid);

	return now != 0 && (start == 0 || now == start);
}

int
rt_write_file(const char *path, const char *text)
{
	_cleanup_close_ int	fd = -1;
	size_t			len = strlen(text);

	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		return -errno;
	return 0;
}

/* Instance files need atomicity (a reader never sees half a file) but
 * not durability: a node that crashes loses its running instances
 * anyway, and the fsyncs were a third of the start-up time. */
int
rt_write_atomic(const char *path, const char *text, mode_t mode)
{
	_cleanup_free_ char	*tmp = NULL;
	_cleanup_close_ int	 fd = -1;
	int			 r;

	if (asprintf(&tmp, "%s.tmp", path) < 0) {
		tmp = NULL;
		return -ENOMEM;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    mode);
	if (fd < 0)
		return -errno;
	if ((r = write_all(fd, text, strlen(text))) < 0 ||
	    (rename(tmp, path) < 0 && (r = -errno))) {
		(void)unlink(tmp);
		return r;
	}
	return 0;
}

void
rt_meta_done(struct rt_meta *m)
{
	json_decref(m->argv);
	m->argv = NULL;
}

int
rt_meta_save(struct runtime *rt, const char *id, const struct rt_meta *m)
{
	_cleanup_json_ json_t	*o = NULL;
	_cleanup_free_ char	*text = NULL, *path = NULL;

	o = json_pack("{s:s, s:I, s:I, s:I, s:I}", "kind",
	    m->kind == RUNTIME_VM ? "vm" : "container", "shim",
	    (json_int_t)m->shim, "shim_start", (json_int_t)m->shim_start, "pid",
	    (json_int_t)m->pid, "pid_start", (json_int_t)m->pid_start);
	if (!o || (m->argv && json_object_set(o, "argv", m->argv) < 0) ||
	    (m->log_max && json_object_set_new(o, "log_max",
	    json_integer((json_int_t)m->log_max)) < 0))
		return -ENOMEM;
	if (!(text = json_dumps(o, JSON_COMPACT)) ||
	    rt_path(rt, id, "instance.json", &path) < 0)
		return -ENOMEM;
	return rt_write_atomic(path, text, 0600);
}

int
rt_meta_load(struct runtime *rt, const char *id, struct rt_meta *ret,
    char **ret_err)
{
	_cleanup_free_ char	*path = NULL, *text = NULL;
	_cleanup_json_ json_t	*o = NULL;
	json_int_t		 shim, shim_start, pid, pid_start, log_max = 0;
	const char		*kind;
	json_t			*argv = NULL;
	size_t			 len;
	int			 r;

	if ((r = runtime_check_id(id, ret_err)) < 0)
		return r;
	if (rt_path(rt, id, "instance.json", &path) < 0)
		return -ENOMEM;
	r = read_file_at(AT_FDCWD, path, META_MAX, &text, &len);
	if (r == -ENOENT)
		return errf(-BW_E_NOTFOUND, ret_err, "instance %s not found",
		    id);
	if (r < 0)
		return errf(r, ret_err, "%s: %s", path, bw_strerror(r));
	if ((r = json_parse_bounded(text, len, 4, &o, ret_err)) < 0)
		return r;
	if (json_unpack(o, "{s:s, s:I, s:I, s:I, s:I, s?o, s?I}", "kind",
	    &kind, "shim", &shim, "shim_start", &shim_start, "pid", &pid,
	    "pid_start", &pid_start, "argv", &argv, "log_max", &log_max) < 0 ||
	    log_max < 0)
		return errf(-BW_E_CORRUPT, ret_err, "%s: malformed", path);
	memset(ret, 0, sizeof(*ret));
	ret->kind = !strcmp(kind, "vm") ? RUNTIME_VM : RUNTIME_CONTAINER;
	ret->shim = (pid_t)shim;
	ret->shim_start = (uint64_t)shim_start;
	ret->pid = (pid_t)pid;
	ret->pid_start = (uint64_t)pid_start;
	ret->argv = json_incref(argv);
	ret->log_max = (uint64_t)log_max;
	return 0;
}

static char *
dup_or(const char *v, const char *def)
{
	return strdup(v ? v : def);
}

int
runtime_open(const struct runtime_config *c, struct runtime **ret,
    char **ret_err)
{
	static const struct runtime_config none;
	struct runtime	*rt;
	int		 r;

	if (!c)
		c = &none;
	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	rt->state_dir = dup_or(c->state_dir, "/var/lib/bulwark/instances");
	rt->run_dir = dup_or(c->run_dir, "/run/bulwark");
	rt->cgroup_parent = dup_or(c->cgroup_parent, "bulwark");
	rt->crun = dup_or(c->crun, "/usr/bin/crun");
	rt->qemu = dup_or(c->qemu, "/usr/bin/qemu-system-x86_64");
	rt->qemu_img = dup_or(c->qemu_img, "/usr/bin/qemu-img");
	rt->accel = RUNTIME_ACCEL_TCG;
	if (!rt->state_dir || !rt->run_dir || !rt->cgroup_parent ||
	    !rt->crun || !rt->qemu || !rt->qemu_img ||
	    asprintf(&rt->crun_root, "%s/crun", rt->run_dir) < 0) {
		rt->crun_root = NULL;
		runtime_free(rt);
		return -ENOMEM;
	}
	if (rt->state_dir[0] != '/' || rt->run_dir[0] != '/' ||
	    strchr(rt->cgroup_parent, '.') || rt->cgroup_parent[0] == '/') {
		runtime_free(rt);
		return errf(-BW_E_INVALID, ret_err,
		    "runtime: directories must be absolute, cgroup parent "
		    "relative without dots");
	}
	/* RUN_DIR is searchable (its entries stay private but rootfs/):
	 * containers' roots are mounted below it for crun, which sets them
	 * up as the container's unprivileged root. */
	if ((r = mkdir_p(rt->state_dir, 0700)) < 0 ||
	    (r = mkdir_p(rt->crun_root, 0700)) < 0 ||
	    (chmod(rt->run_dir, 0711) < 0 && (r = -errno) < 0)) {
		runtime_free(rt);
		return errf(r, ret_err, "runtime directories: %s",
		    bw_strerror(r));
	}
	if ((r = runtime_become_subreaper()) < 0) {
		runtime_free(rt);
		return errf(r, ret_err, "PR_SET_CHILD_SUBREAPER: %s",
		    bw_strerror(r));
	}
	*ret = rt;
	return 0;
}

void
runtime_free(struct runtime *rt)
{
	if (!rt)
		return;
	free(rt->state_dir);
	free(rt->run_dir);
	free(rt->crun_root);
	free(rt->cgroup_parent);
	free(rt->crun);
	free(rt->qemu);
	free(rt->qemu_img);
	free(rt);
}

enum runtime_accel
runtime_accel(const struct runtime *rt)
{
	return rt->accel;
}

void
runtime_userns_release(struct runtime *rt, const char *id)
{
	if (runtime_check_id(id, NULL) == 0)
		rt_crun_userns_release(rt, id);
}

int
runtime_create(struct runtime *rt, const struct runtime_spec *s,
    char **ret_err)
{
	int r;

	if ((r = runtime_check_id(s->id, ret_err)) < 0)
		return r;
	if (s->kind == RUNTIME_CONTAINER)
		return rt_crun_create(rt, s, ret_err);
	if (s->kind == RUNTIME_VM)
		return rt_qemu_create(rt, s, ret_err);
	return errf(-BW_E_INVALID, ret_err, "kind: container or vm");
}

static int
status_of(struct runtime *rt, const char *id, const struct rt_meta *m,
    struct runtime_status *st)
{
	_cleanup_free_ char	*exit_path = NULL;
	char			 kind;
	int			 value, r;

	runtime_reap_shim(m->shim);
	memset(st, 0, sizeof(*st));
	st->kind = m->kind;
	st->pid = m->pid;
	st->exit_code = -1;
	if (rt_path(rt, id, "exit", &exit_path) < 0)
		return -ENOMEM;
	r = runtime_read_exit(exit_path, &kind, &value);
	if (r == -ENOENT) {
		if (rt_proc_alive(m->pid, m->pid_start) ||
		    rt_proc_alive(m->shim, m->shim_start)) {
			st->phase = RUNTIME_RUNNING;
			return 0;
		}
		/* Both gone. The shim writes the status just before it
		 * exits, so it may have done so after the read above: read
		 * again now that it surely has, or never will. */
		r = runtime_read_exit(exit_path, &kind, &value);
	}
	if (r == -ENOENT) {
		/* Shim and payload gone without a word (the shim was
		 * killed): it ended, how is unknown. */
		st->phase = RUNTIME_EXITED;
	} else if (r < 0)
		return r;
	else {
		st->phase = RUNTIME_EXITED;
		if (kind == 'e')
			st->exit_code = value;
		else if (kind == 's')
			st->signal = value;
		else if (kind == 'f')
			st->start_failed = true;
	}
	st->oom_killed = rt_oom_kills(rt, id) > 0;
	return 0;
}

int
runtime_status(struct runtime *rt, const char *id, struct runtime_status *ret,
    char **ret_err)
{
	struct rt_meta	m;
	int		r;

	if ((r = rt_meta_load(rt, id, &m, ret_err)) < 0)
		return r;
	r = status_of(rt, id, &m, ret);
	rt_meta_done(&m);
	if (r < 0)
		return errf(r, ret_err, "instance %s: %s", id, bw_strerror(r));
	return 0;
}

bool
rt_wait_exit_file(struct runtime *rt, const char *id, pid_t shim,
    int timeout_ms)
{
	_cleanup_free_ char	*p = NULL;
	int64_t			 end = bw_mono_ms() + timeout_ms;

	if (rt_path(rt, id, "exit", &p) < 0)
		return false;
	for (;;) {
		runtime_reap_shim(shim);
		if (access(p, F_OK) == 0)
			return true;
		if (bw_mono_ms() >= end)
			return false;
		rt_sleep_ms(10);
	}
}

int
runtime_wait(struct runtime *rt, const char *id, int timeout_ms,
    struct runtime_status *ret, char **ret_err)
{
	int64_t	end = bw_mono_ms() + timeout_ms;
	int	r;

	for (;;) {
		if ((r = runtime_status(rt, id, ret, ret_err)) < 0)
			return r;
		if (ret->phase == RUNTIME_EXITED)
			return 0;
		if (bw_mono_ms() >= end)
			return errf(-ETIMEDOUT, ret_err,
			    "instance %s still running", id);
		rt_sleep_ms(10);
	}
}

/* Loads ID's metadata into *M (release with rt_meta_done()) and
 * whether it has exited into *RET_EXITED. */
static int
meta_exited(struct runtime *rt, const char *id, struct rt_meta *m,
    bool *ret_exited, char **ret_err)
{
	struct runtime_status	st;
	int			r;

	if ((r = rt_meta_load(rt, id, m, ret_err)) < 0)
		return r;
	if ((r = status_of(rt, id, m, &st)) < 0) {
		rt_meta_done(m);
		return r;
	}
	*ret_exited = st.phase == RUNTIME_EXITED;
	return 0;
}

/* One step of a stop: the request (rt_*_signal()) or, with FINISH, the
 * wait until DEADLINE_MS and the kill (rt_*_finish()). For an ID that
 * has exited: 0 (nothing to wait for), or 1 (it exited by itself). */
static int
stop_step(struct runtime *rt, const char *id, bool finish, int64_t deadline_ms,
    char **ret_err)
{
	struct rt_meta	m;
	bool		exited;
	int		r;

	if ((r = meta_exited(rt, id, &m, &exited, ret_err)) < 0)
		return r;
	if (exited)
		r = finish;
	else if (m.kind == RUNTIME_VM)
		r = finish ? rt_qemu_finish(rt, id, &m, deadline_ms, ret_err) :
		    rt_qemu_signal(rt, id, &m);
	else
		r = finish ? rt_crun_finish(rt, id, &m, deadline_ms, ret_err) :
		    rt_crun_signal(rt, id);
	rt_meta_done(&m);
	return r;
}

int
runtime_stop_signal(struct runtime *rt, const char *id, char **ret_err)
{
	return stop_step(rt, id, false, 0, ret_err);
}

int
runtime_stop_finish(struct runtime *rt, const char *id, int64_t deadline_ms,
    char **ret_err)
{
	return stop_step(rt, id, true, deadline_ms, ret_err);
}

int
runtime_stop(struct runtime *rt, const char *id, int grace_ms, char **ret_err)
{
	int s = 0, r;

	if (grace_ms > 0 && (s = runtime_stop_signal(rt, id, ret_err)) < 0)
		return s;
	if ((r = runtime_stop_finish(rt, id, s ? bw_mono_ms() + grace_ms : 0,
	    ret_err)) < 0)
		return r;
	return s ? r : 0;
}

int
runtime_restart(struct runtime *rt, const char *id, char **ret_err)
{
	struct rt_meta	m;
	bool		exited;
	int		r;

	if ((r = meta_exited(rt, id, &m, &exited, ret_err)) < 0)
		return r;
	if (!exited)
		r = errf(-BW_E_CONFLICT, ret_err, "instance %s still runs",
		    id);
	else
		r = m.kind == RUNTIME_VM ? rt_qemu_start(rt, id, &m, ret_err) :
		    rt_crun_start(rt, id, ret_err);
	rt_meta_done(&m);
	return r;
}

int
runtime_delete(struct runtime *rt, const char *id, char **ret_err)
{
	_cleanup_free_ char	*dir = NULL;
	struct rt_meta		 m;
	bool			 have_meta, found = false;
	int			 r;

	if ((r = runtime_check_id(id, ret_err)) < 0)
		return r;
	r = rt_meta_load(rt, id, &m, NULL);
	have_meta = r == 0;
	if (r < 0 && r != -BW_E_NOTFOUND)
		return errf(r, ret_err, "instance %s: %s", id, bw_strerror(r));
	if (have_meta && m.kind == RUNTIME_VM) {
		(void)rt_qemu_finish(rt, id, &m, 0, NULL);
		r = rt_qemu_delete(rt, id, ret_err);
	} else {
		/* Also the path for a container whose directory is half
		 * made: crun state and cgroups are looked up by name. */
		r = rt_crun_delete(rt, id, ret_err);
		found = r == 1;
	}
	if (have_meta) {
		/* The shim writes the status and leaves right after its
		 * payload: give it a moment to be reaped. */
		for (int i = 0; i < 200 && rt_proc_alive(m.shim, m.shim_start);
		    i++) {
			runtime_reap_shim(m.shim);
			rt_sleep_ms(10);
		}
		runtime_reap_shim(m.shim);
		rt_meta_done(&m);
	}
	if (r < 0)
		return r;
	/* Nothing of the container runs now: its root's mount, its user
	 * namespace and host id range go, also when only they were made. */
	rt_crun_rootfs_release(rt, id);
	rt_crun_userns_release(rt, id);
	if (rt_path(rt, id, NULL, &dir) < 0)
		return -ENOMEM;
	if (access(dir, F_OK) == 0) {
		const char *const argv[] = { "/usr/bin/rm", "-rf",
		    "--one-file-system", "--", dir, NULL };

		if ((r = runtime_run(argv, NULL, NULL, ret_err)) < 0)
			return r;
	} else if (!have_meta && !found)
		return errf(-BW_E_NOTFOUND, ret_err, "instance %s not found",
		    id);
	if ((r = rt_cgroup_remove(rt, id)) < 0)
		return errf(r, ret_err, "cgroups of %s: %s", id,
		    bw_strerror(r));
	return 0;
}

static int
cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_ids(struct runtime *rt, bool crun_too, char ***ret,
    char **ret_err);

int
runtime_list(struct runtime *rt, char ***ret, char **ret_err)
{
	return list_ids(rt, true, ret, ret_err);
}

int
runtime_list_known(struct runtime *rt, char ***ret, char **ret_err)
{
	return list_ids(rt, false, ret, ret_err);
}

static int
list_ids(struct runtime *rt, bool crun_too, char ***ret, char **ret_err)
{
	_cleanup_json_ json_t	*ids = json_object();
	struct dirent		*de;
	const char		*key;
	json_t			*v;
	char			**out;
	size_t			 n = 0;
	DIR			*d;
	int			 r;

	if (!ids)
		return -ENOMEM;
	if (crun_too && (r = rt_crun_list(rt, ids, ret_err)) < 0)
		return r;
	d = opendir(rt->state_dir);
	if (!d)
		return errf(-errno, ret_err, "%s: %s", rt->state_dir,
		    strerror(errno));
	while ((de = readdir(d))) {
		struct rt_meta m;

		if (runtime_check_id(de->d_name, NULL) < 0 ||
		    rt_meta_load(rt, de->d_name, &m, NULL) < 0)
			continue;
		if (json_object_set_new(ids, de->d_name, json_true()) < 0) {
			rt_meta_done(&m);
			closedir(d);
			return -ENOMEM;
		}
		rt_meta_done(&m);
	}
	closedir(d);
	out = calloc(json_object_size(ids) + 1, sizeof(*out));
	if (!out)
		return -ENOMEM;
	json_object_foreach(ids, key, v) {
		if (!(out[n++] = strdup(key))) {
			runtime_list_free(out);
			return -ENOMEM;
		}
	}
	qsort(out, n, sizeof(*out), cmp_strp);
	*ret = out;
	return 0;
}

void
runtime_list_free(char **ids)
{
	if (!ids)
		return;
	for (char **p = ids; *p; p++)
		free(*p);
	free(ids);
}

int
runtime_log_path(struct runtime *rt, const char *id, char **ret)
{
	struct rt_meta	m;
	int		r;

	if ((r = rt_meta_load(rt, id, &m, NULL)) < 0)
		return r;
	r = rt_path(rt, id, m.kind == RUNTIME_VM ? "serial.log" :
	    "console.log", ret);
	rt_meta_done(&m);
	return r;
}
