/* VMs through QEMU and QMP; see runtime.h. QEMU runs under a shim in
 * its own cgroups, sandboxed by its own seccomp filter, with a qcow2
 * overlay over the (read-only, shared) image and no network device. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/qmp.h"
#include "agent/runtime-internal.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/logcap.h"
#include "lib/macro.h"
#include "lib/runtime-exec.h"

#define VM_DEFAULT_MIB		256
#define VM_MAX_MIB		(64 * 1024)
/* QEMU's own memory beyond guest RAM: the TCG translation cache
 * (bounded to 64 MiB below), device models, libraries. */
#define VM_OVERHEAD_MIB		320
#define VM_PIDS_MAX		512
#define VM_TB_SIZE_MIB		64
#define QMP_TIMEOUT_MS		15000

static const char *const vm_ctrls[] = { "memory", "cpu", "pids" };

static int
qmp_path(struct runtime *rt, const char *id, char **ret)
{
	return asprintf(ret, "%s/" RUNTIME_PREFIX "%s.qmp", rt->run_dir, id) <
	    0 ? -ENOMEM : 0;
}

static int
push(json_t *a, const char *s)
{
	return json_array_append_new(a, json_string(s)) < 0 ? -ENOMEM : 0;
}

static int
pushf(json_t *a, const char *fmt, ...) _printf_(2, 3);

static int
pushf(json_t *a, const char *fmt, ...)
{
	_cleanup_free_ char	*s = NULL;
	va_list			 ap;
	int			 r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0) {
		s = NULL;
		return -ENOMEM;
	}
	return push(a, s);
}

static bool
plain_path(const char *p)
{
	/* QEMU option values split on ','; we refuse rather than escape. */
	return p && p[0] == '/' && !strchr(p, ',') && !strchr(p, '\n');
}

static int
vm_cgroups(struct runtime *rt, const struct runtime_spec *s, unsigned mib)
{
	char	val[32];
	int	r;

	for (size_t i = 0; i < ELEMENTSOF(vm_ctrls); i++) {
		_cleanup_free_ char *p = NULL;

		if (rt_cgroup_path(rt, vm_ctrls[i], s->id, NULL, &p) < 0)
			return -ENOMEM;
		if ((r = mkdir_p(p, 0755)) < 0)
			return r;
	}
	{
		_cleanup_free_ char *p = NULL;

		snprintf(val, sizeof(val), "%" PRIu64,
		    (uint64_t)(mib + VM_OVERHEAD_MIB) << 20);
		if (rt_cgroup_path(rt, "memory", s->id,
		    "memory.limit_in_bytes", &p) < 0)
			return -ENOMEM;
		if ((r = rt_write_file(p, val)) < 0)
			return r;
	}
	{
		_cleanup_free_ char *p = NULL;

		snprintf(val, sizeof(val), "%d", VM_PIDS_MAX);
		if (rt_cgroup_path(rt, "pids", s->id, "pids.max", &p) < 0)
			return -ENOMEM;
		if ((r = rt_write_file(p, val)) < 0)
			return r;
	}
	if (s->cpu_millis) {
		_cleanup_free_ char *per = NULL, *quota = NULL;

		if (rt_cgroup_path(rt, "cpu", s->id, "cpu.cfs_period_us",
		    &per) < 0 || rt_cgroup_path(rt, "cpu", s->id,
		    "cpu.cfs_quota_us", &quota) < 0)
			return -ENOMEM;
		snprintf(val, sizeof(val), "%u", s->cpu_millis * 100);
		if ((r = rt_write_file(per, "100000")) < 0 ||
		    (r = rt_write_file(quota, val)) < 0)
			return r;
	}
	return 0;
}

static void
add_qemu_log(struct runtime *rt, const char *id, char **ret_err)
{
	_cleanup_free_ char	*p = NULL, *text = NULL;
	char			*msg;
	size_t			 len;

	if (!ret_err || !*ret_err || rt_path(rt, id, "qemu.log", &p) < 0 ||
	    read_file_at(AT_FDCWD, p, 1 << 20, &text, &len) < 0 || len == 0)
		return;
	while (len > 0 && text[len - 1] == '\n')
		text[--len] = '\0';
	if (asprintf(&msg, "%s: %.300s", *ret_err,
	    len > 300 ? text + len - 300 : text) < 0)
		return;
	free(*ret_err);
	*ret_err = msg;
}

int
rt_qemu_start(struct runtime *rt, const char *id, struct rt_meta *m,
    char **ret_err)
{
	_cleanup_(qmp_closep) struct qmp	*q = NULL;
	_cleanup_free_ const char		**argv = NULL;
	_cleanup_free_ char			*log = NULL, *exitp = NULL;
	_cleanup_free_ char			*serial = NULL;
	_cleanup_free_ char			*sock = NULL, *status = NULL;
	char					*procs[ELEMENTSOF(vm_ctrls) + 1];
	size_t					 n, i;
	pid_t					 shim, pid;
	int					 r;

	memset(procs, 0, sizeof(procs));
	n = json_array_size(m->argv);
	if (n == 0)
		return errf(-BW_E_CORRUPT, ret_err, "vm %s: no command line",
		    id);
	argv = calloc(n + 1, sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (!(argv[i] = json_string_value(json_array_get(m->argv, i))))
			return errf(-BW_E_CORRUPT, ret_err,
			    "vm %s: bad command line", id);
	if (rt_path(rt, id, "qemu.log", &log) < 0 ||
	    rt_path(rt, id, "serial.log", &serial) < 0 ||
	    rt_path(rt, id, "exit", &exitp) < 0 || qmp_path(rt, id, &sock) < 0)
		return -ENOMEM;
	for (i = 0; i < ELEMENTSOF(vm_ctrls); i++)
		if (rt_cgroup_path(rt, vm_ctrls[i], id, "cgroup.procs",
		    &procs[i]) < 0) {
			r = -ENOMEM;
			goto out;
		}
	(void)unlink(sock);
	{
		/* The guest's console is QEMU's stdout, captured like a
		 * container's output; QEMU's own messages stay apart. */
		struct runtime_sup s = {
			.argv = argv, .exit_path = exitp,
			.log_path = m->log_max ? serial : log,
			.log_max_bytes = m->log_max,
			.err_path = m->log_max ? log : NULL,
			.cgroup_procs = (const char *const *)procs,
			.ready_timeout_ms = QMP_TIMEOUT_MS,
		};

		r = runtime_supervise(&s, &shim, &pid, ret_err);
	}
	if (r < 0) {
		add_qemu_log(rt, id, ret_err);
		goto out;
	}
	m->shim = shim;
	m->shim_start = rt_proc_start(shim);
	m->pid = pid;
	m->pid_start = rt_proc_start(pid);
	if ((r = rt_meta_save(rt, id, m)) < 0) {
		errf(r, ret_err, "vm %s: %s", id, bw_strerror(r));
		goto kill;
	}
	/* Running means QEMU answers on QMP with a running guest. */
	if ((r = qmp_connect(sock, QMP_TIMEOUT_MS, &q, ret_err)) < 0 ||
	    (r = qmp_query_status(q, &status, ret_err)) < 0)
		goto kill;
	if (strcmp(status, "running")) {
		r = errf(-BW_E_UNAVAILABLE, ret_err, "vm %s: QEMU is %s", id,
		    status);
		goto kill;
	}
	r = 0;
	goto out;
kill:
	add_qemu_log(rt, id, ret_err);
	(void)kill(pid, SIGKILL);
	(void)rt_wait_exit_file(rt, id, shim, 5000);
out:
	for (i = 0; i < ELEMENTSOF(vm_ctrls); i++)
		free(procs[i]);
	return r;
}

static int
vm_argv(struct runtime *rt, const struct runtime_spec *s, unsigned mib,
    const char *dir, json_t **ret)
{
	_cleanup_json_ json_t	*a = json_array();
	_cleanup_free_ char	*sock = NULL;
	unsigned		 cpus = s->cpu_millis ? (s->cpu_millis + 999) /
	    1000 : 1;

	if (!a || qmp_path(rt, s->id, &sock) < 0)
		return -ENOMEM;
	if (push(a, rt->qemu) || push(a, "-name") ||
	    pushf(a, RUNTIME_PREFIX "%s", s->id) || push(a, "-machine") ||
	    push(a, "pc") || push(a, "-accel") ||
	    (rt->accel == RUNTIME_ACCEL_KVM ? push(a, "kvm") :
	    pushf(a, "tcg,tb-size=%d", VM_TB_SIZE_MIB)) ||
	    push(a, "-m") || pushf(a, "%u", mib) || push(a, "-smp") ||
	    pushf(a, "%u", cpus) || push(a, "-nodefaults") ||
	    push(a, "-no-user-config") || push(a, "-display") ||
	    push(a, "none") || push(a, "-no-reboot") || push(a, "-nic") ||
	    push(a, "none") || push(a, "-serial") || push(a, "stdio") ||
	    push(a, "-qmp") ||
	    pushf(a, "unix:%s,server=on,wait=off", sock) ||
	    push(a, "-sandbox") ||
	    push(a, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
	    "resourcecontrol=deny"))
		return -ENOMEM;
	if (s->kernel && (push(a, "-kernel") || push(a, s->kernel)))
		return -ENOMEM;
	if (s->initrd && (push(a, "-initrd") || push(a, s->initrd)))
		return -ENOMEM;
	if (s->kernel && (push(a, "-append") || push(a, s->cmdline ?
	    s->cmdline : "console=ttyS0 panic=-1")))
		return -ENOMEM;
	if (s->disk && (push(a, "-drive") ||
	    pushf(a, "file=%s/disk.qcow2,format=qcow2,if=virtio,"
	    "discard=unmap", dir)))
		return -ENOMEM;
	if (s->data_disk && (push(a, "-drive") ||
	    pushf(a, "file=%s,format=raw,if=virtio", s->data_disk)))
		return -ENOMEM;
	*ret = TAKE_PTR(a);
	return 0;
}

int
rt_qemu_create(struct runtime *rt, const struct runtime_spec *s,
    char **ret_err)
{
	_cleanup_free_ char	*dir = NULL, *overlay = NULL;
	struct rt_meta		 m = { .kind = RUNTIME_VM,
	    .log_max = s->log_max_bytes ? s->log_max_bytes : LOGCAP_DEFAULT };
	unsigned		 mib = s->memory_mib ? s->memory_mib :
	    VM_DEFAULT_MIB;
	int			 r;

	if (!s->kernel && !s->disk)
		return errf(-BW_E_INVALID, ret_err,
		    "vm: a disk or a kernel is required");
	if ((s->kernel && !plain_path(s->kernel)) ||
	    (s->initrd && !plain_path(s->initrd)) ||
	    (s->disk && !plain_path(s->disk)) ||
	    (s->data_disk && !plain_path(s->data_disk)))
		return errf(-BW_E_INVALID, ret_err,
		    "vm: disks, kernel and initrd must be absolute paths "
		    "without ','");
	if (s->initrd && !s->kernel)
		return errf(-BW_E_INVALID, ret_err,
		    "vm: an initrd needs a kernel");
	if (s->disk && (!s->disk_format || (strcmp(s->disk_format, "raw") &&
	    strcmp(s->disk_format, "qcow2"))))
		return errf(-BW_E_INVALID, ret_err,
		    "vm: disk_format must be raw or qcow2");
	if (s->cmdline && (strlen(s->cmdline) > 1024 ||
	    strchr(s->cmdline, '\n')))
		return errf(-BW_E_INVALID, ret_err, "vm: cmdline too long");
	if (mib < 16 || mib > VM_MAX_MIB)
		return errf(-BW_E_INVALID, ret_err,
		    "memory_mib: 16..%d for a VM", VM_MAX_MIB);
	if (rt_path(rt, s->id, NULL, &dir) < 0 ||
	    rt_path(rt, s->id, "disk.qcow2", &overlay) < 0)
		return -ENOMEM;
	if (!plain_path(dir))
		return errf(-BW_E_INVALID, ret_err,
		    "runtime state directory holds a ','");
	if (mkdir(dir, 0700) < 0) {
		if (errno == EEXIST)
			return errf(-BW_E_EXISTS, ret_err,
			    "instance %s already exists", s->id);
		return errf(-errno, ret_err, "%s: %s", dir, strerror(errno));
	}
	if (s->disk) {
		/* The guest writes to its own overlay; the stored image
		 * stays as signed. */
		const char *const argv[] = { rt->qemu_img, "create", "-q", "-f",
		    "qcow2", "-b", s->disk, "-F", s->disk_format, overlay,
		    NULL };

		if ((r = runtime_run(argv, NULL, NULL, ret_err)) < 0)
			goto fail;
	}
	if ((r = vm_argv(rt, s, mib, dir, &m.argv)) < 0)
		goto fail;
	if ((r = vm_cgroups(rt, s, mib)) < 0) {
		errf(r, ret_err, "vm %s: cgroups: %s", s->id, bw_strerror(r));
		goto fail;
	}
	if ((r = rt_meta_save(rt, s->id, &m)) < 0)
		goto fail;
	if ((r = rt_qemu_start(rt, s->id, &m, ret_err)) < 0)
		goto fail;
	rt_meta_done(&m);
	return 0;
fail:
	rt_meta_done(&m);
	(void)rt_qemu_delete(rt, s->id, NULL);
	{
		const char *const argv[] = { "/usr/bin/rm", "-rf",
		    "--one-file-system", "--", dir, NULL };

		(void)runtime_run(argv, NULL, NULL, NULL);
	}
	(void)rt_cgroup_remove(rt, s->id);
	return r;
}

static int
vm_qmp(struct runtime *rt, const char *id, const char *cmd, char **ret_err)
{
	_cleanup_(qmp_closep) struct qmp	*q = NULL;
	_cleanup_free_ char			*sock = NULL;
	int					 r;

	if (qmp_path(rt, id, &sock) < 0)
		return -ENOMEM;
	if ((r = qmp_connect(sock, 3000, &q, ret_err)) < 0)
		return r;
	return qmp_execute(q, cmd, NULL, 5000, NULL, ret_err);
}

int
rt_qemu_signal(struct runtime *rt, const char *id, const struct rt_meta *m)
{
	if (!rt_proc_alive(m->pid, m->pid_start) &&
	    !rt_proc_alive(m->shim, m->shim_start))
		return 0;
	/* ACPI power button: the guest shuts down if it listens. */
	return vm_qmp(rt, id, "system_powerdown", NULL) == 0;
}

int
rt_qemu_finish(struct runtime *rt, const char *id, const struct rt_meta *m,
    int64_t deadline_ms, char **ret_err)
{
	int64_t left = deadline_ms - bw_mono_ms();

	if (rt_wait_exit_file(rt, id, m->shim, left > 0 ? (int)left : 0))
		return 1;
	if (!rt_proc_alive(m->pid, m->pid_start) &&
	    !rt_proc_alive(m->shim, m->shim_start))
		return 0;
	if (vm_qmp(rt, id, "quit", NULL) == 0 &&
	    rt_wait_exit_file(rt, id, m->shim, 5000))
		return 0;
	if (rt_proc_alive(m->pid, m->pid_start))
		(void)kill(m->pid, SIGKILL);
	if (!rt_wait_exit_file(rt, id, m->shim, 10000))
		return errf(-ETIMEDOUT, ret_err,
		    "vm %s: QEMU did not exit after SIGKILL", id);
	return 0;
}

int
rt_qemu_delete(struct runtime *rt, const char *id, char **ret_err)
{
	_cleanup_free_ char *sock = NULL;

	if (qmp_path(rt, id, &sock) < 0)
		return -ENOMEM;
	if (unlink(sock) < 0 && errno != ENOENT)
		return errf(-errno, ret_err, "%s: %s", sock, strerror(errno));
	return 0;
}

struct probe {
	const char	*marker;
	char		 tail[256];
	size_t		 len;
};

static int
probe_sink(const void *buf, size_t len, void *data)
{
	struct probe	*p = data;
	size_t		 mlen = strlen(p->marker);
	const char	*b = buf;

	/* Keep the last bytes so a marker split across reads is seen. */
	while (len > 0) {
		size_t take = sizeof(p->tail) - 1 - p->len;

		if (take > len)
			take = len;
		memcpy(p->tail + p->len, b, take);
		p->len += take;
		p->tail[p->len] = '\0';
		b += take;
		len -= take;
		if (memmem(p->tail, p->len, p->marker, mlen))
			return -ECANCELED;
		if (p->len >= mlen) {
			memmove(p->tail, p->tail + p->len - (mlen - 1),
			    mlen - 1);
			p->len = mlen - 1;
		}
	}
	return 0;
}

enum runtime_accel
runtime_probe_accel(struct runtime *rt, const char *kernel,
    const char *initrd, const char *marker, int timeout_ms, char **ret_msg)
{
	struct probe	 p = { .marker = marker };
	int		 status = 0, r;
	const char	*argv[] = { rt->qemu, "-accel", "kvm", "-m", "256",
	    "-nodefaults", "-no-user-config", "-display", "none",
	    "-no-reboot", "-nic", "none", "-serial", "stdio", "-kernel",
	    kernel, "-initrd", initrd, "-append",
	    "console=ttyS0 quiet panic=-1", NULL };
	struct runtime_exec_opts o = { .stdout_fd = -1,
	    .timeout_ms = timeout_ms, .sink = probe_sink, .sink_data = &p };

	if (ret_msg)
		*ret_msg = NULL;
	rt->accel = RUNTIME_ACCEL_TCG;
	if (!kernel || !initrd || !marker || strlen(marker) == 0 ||
	    strlen(marker) >= sizeof(p.tail) / 2) {
		errf(0, ret_msg, "accelerator probe needs a kernel, an initrd "
		    "and a marker; using TCG");
		return rt->accel;
	}
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		errf(0, ret_msg, "no usable /dev/kvm (%s); using TCG",
		    strerror(errno));
		return rt->accel;
	}
	r = runtime_exec(argv, &o, &status, NULL, NULL);
	if (r == -ECANCELED) {
		rt->accel = RUNTIME_ACCEL_KVM;
		return rt->accel;
	}
	if (r == -ETIMEDOUT)
		errf(0, ret_msg, "KVM test boot showed no marker within %d ms "
		    "(guest hangs); using TCG", timeout_ms);
	else if (r < 0)
		errf(0, ret_msg, "KVM test boot failed (%s); using TCG",
		    bw_strerror(r));
	else
		errf(0, ret_msg, "KVM test boot ended (status %d) before the "
		    "marker; using TCG", status);
	return rt->accel;
}
