/* Instance start-up costs of the runtime library against the bare
 * tools, measured in the same run:
 *   1. container: runtime_create() until running vs `crun run
 *      --detach` of the same bundle (median of N runs, ratio);
 *   2. VM: runtime_create() until the guest's marker on the serial
 *      log vs a bare QEMU with the same accelerator and arguments;
 *   3. 50 containers started one after another, then deleted.
 * Needs root, crun, qemu, busybox-static and a kernel in /boot.
 * Usage: bench/instances [-n RUNS] [-c CONTAINERS] [--no-vm] */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/runtime.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/macro.h"

#define MARKER	"BW-BENCH-UP"

static char	 tmp[256];

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int
sh(const char *fmt, ...)
{
	char	cmd[4096];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static bool
file_has(const char *path, const char *needle)
{
	_cleanup_free_ char	*text = NULL;
	size_t			 len;

	if (read_file_at(AT_FDCWD, path, 16 << 20, &text, &len) < 0)
		return false;
	return memmem(text, len, needle, strlen(needle)) != NULL;
}

static int
wait_marker(const char *path, double timeout)
{
	double end = bw_mono_s() + timeout;

	while (bw_mono_s() < end) {
		if (file_has(path, MARKER))
			return 0;
		usleep(5000);
	}
	return -ETIMEDOUT;
}

static void
die(const char *what, int r, char *err)
{
	fprintf(stderr, "bench/instances: %s: %s (%s)\n", what,
	    err ? err : "", bw_strerror(r));
	free(err);
	sh("rm -rf %s", tmp);
	exit(1);
}

static void
bench_containers(struct runtime *rt, const char *rootfs, int runs)
{
	const char *const	 argv[] = { "/bin/sleep", "60", NULL };
	double			 ours[64], raw[64], t;
	char			 id[64], *err = NULL;
	int			 i, r;

	for (i = 0; i < runs; i++) {
		struct runtime_spec s = { .kind = RUNTIME_CONTAINER,
		    .rootfs = rootfs, .argv = argv, .memory_mib = 64,
		    .cpu_millis = 500 };

		snprintf(id, sizeof(id), "bench-c%d", i);
		s.id = id;
		t = bw_mono_s();
		if ((r = runtime_create(rt, &s, &err)) < 0)
			die("create", r, err);
		ours[i] = bw_mono_s() - t;
		/* The same bundle, run by crun directly. */
		if (i == 0 && sh("cp %s/state/bench-c0/config.json %s/raw/",
		    tmp, tmp))
			die("copy bundle", -EIO, NULL);
		t = bw_mono_s();
		if (sh("crun --root=%s/rawroot --cgroup-manager=cgroupfs run "
		    "--detach --bundle %s/raw --pid-file %s/raw/pid raw%d "
		    ">/dev/null 2>&1 </dev/null", tmp, tmp, tmp, i))
			die("crun run", -EIO, NULL);
		raw[i] = bw_mono_s() - t;
		sh("crun --root=%s/rawroot delete --force raw%d", tmp, i);
		if ((r = runtime_delete(rt, id, &err)) < 0)
			die("delete", r, err);
	}
	printf("container start, median of %d: runtime_create %.1f ms, "
	    "crun run --detach %.1f ms, ratio %.2f\n", runs,
	    median(ours, runs) * 1e3, median(raw, runs) * 1e3,
	    median(ours, runs) / median(raw, runs));
}

static void
bench_many(struct runtime *rt, const char *rootfs, int n)
{
	const char *const	 argv[] = { "/bin/sleep", "600", NULL };
	char			 id[64], *err = NULL;
	double			 t0, t1, t2;
	int			 i, r;

	t0 = bw_mono_s();
	for (i = 0; i < n; i++) {
		struct runtime_spec s = { .kind = RUNTIME_CONTAINER,
		    .rootfs = rootfs, .argv = argv, .memory_mib = 16 };

		snprintf(id, sizeof(id), "bench-m%d", i);
		s.id = id;
		if ((r = runtime_create(rt, &s, &err)) < 0)
			die("create", r, err);
	}
	t1 = bw_mono_s();
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "bench-m%d", i);
		if ((r = runtime_delete(rt, id, &err)) < 0)
			die("delete", r, err);
	}
	t2 = bw_mono_s();
	printf("%d containers: started in %.2f s (%.1f ms each), deleted in "
	    "%.2f s\n", n, t1 - t0, (t1 - t0) * 1e3 / n, t2 - t1);
}

static void
bench_vm(struct runtime *rt, const char *kernel, const char *initrd)
{
	struct runtime_spec	 s = { .kind = RUNTIME_VM, .id = "bench-vm",
	    .kernel = kernel, .initrd = initrd, .memory_mib = 256,
	    .cmdline = "console=ttyS0 quiet panic=-1" };
	char			*err = NULL, *log = NULL, raw_log[512];
	double			 t, ours, raw;
	pid_t			 pid;
	int			 r;

	t = bw_mono_s();
	if ((r = runtime_create(rt, &s, &err)) < 0)
		die("vm create", r, err);
	if (runtime_log_path(rt, s.id, &log) < 0 ||
	    wait_marker(log, 300) < 0)
		die("vm marker", -ETIMEDOUT, NULL);
	ours = bw_mono_s() - t;
	free(log);
	if ((r = runtime_delete(rt, s.id, &err)) < 0)
		die("vm delete", r, err);

	snprintf(raw_log, sizeof(raw_log), "%s/raw-serial.log", tmp);
	t = bw_mono_s();
	pid = fork();
	if (pid == 0) {
		char serial[600];

		snprintf(serial, sizeof(serial), "file:%s", raw_log);
		execl("/usr/bin/qemu-system-x86_64", "qemu-system-x86_64",
		    "-machine", "pc", "-accel",
		    runtime_accel(rt) == RUNTIME_ACCEL_KVM ? "kvm" :
		    "tcg,tb-size=64", "-m", "256", "-nodefaults",
		    "-no-user-config", "-display", "none", "-no-reboot", "-nic",
		    "none", "-serial", serial, "-kernel", kernel, "-initrd",
		    initrd, "-append", "console=ttyS0 quiet panic=-1",
		    (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || wait_marker(raw_log, 300) < 0)
		die("raw qemu marker", -ETIMEDOUT, NULL);
	raw = bw_mono_s() - t;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	printf("VM to guest marker (%s): runtime_create %.2f s, bare QEMU "
	    "%.2f s, ratio %.2f\n", runtime_accel(rt) == RUNTIME_ACCEL_KVM ?
	    "kvm" : "tcg", ours, raw, ours / raw);
}

int
main(int argc, char **argv)
{
	struct runtime_config	 c;
	struct runtime		*rt = NULL;
	char			 state[300], run[300], rootfs[300];
	char			 initrd[300], *err = NULL;
	int			 runs = 10, many = 50, r;
	bool			 vm = true;
	glob_t			 g;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-c") && i + 1 < argc)
			many = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--no-vm"))
			vm = false;
		else {
			fprintf(stderr, "usage: %s [-n RUNS] [-c CONTAINERS] "
			    "[--no-vm]\n", argv[0]);
			return 2;
		}
	}
	if (runs < 1 || runs > 64 || many < 1 || many > 1000)
		return 2;
	if (geteuid() != 0) {
		fprintf(stderr, "bench/instances: needs root\n");
		return 77;
	}
	/* mkdtemp() replaces six trailing X characters. */
	snprintf(tmp, sizeof(tmp), "/tmp/bw-bench-");
	memset(tmp + strlen(tmp), 'X', 6);
	if (!mkdtemp(tmp))
		return 1;
	chmod(tmp, 0755);
	snprintf(state, sizeof(state), "%s/state", tmp);
	snprintf(run, sizeof(run), "%s/run", tmp);
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", tmp);
	snprintf(initrd, sizeof(initrd), "%s/initrd.gz", tmp);
	if (sh("set -e; cd %s; mkdir -p raw rawroot rootfs/bin rootfs/proc "
	    "rootfs/sys rootfs/dev rootfs/tmp ir/bin ir/proc ir/dev; "
	    "cp /bin/busybox rootfs/bin/; ln -s busybox rootfs/bin/sh; "
	    "ln -s busybox rootfs/bin/sleep; cp /bin/busybox ir/bin/; "
	    "printf '#!/bin/busybox sh\\necho %s\\nwhile :; do "
	    "/bin/busybox sleep 100; done\\n' > ir/init; chmod 755 ir/init; "
	    "(cd ir && find . | cpio -o -H newc --quiet | gzip -1) > "
	    "initrd.gz", tmp, MARKER))
		die("setup (busybox-static, cpio)", -EIO, NULL);
	memset(&c, 0, sizeof(c));
	c.state_dir = state;
	c.run_dir = run;
	c.cgroup_parent = "bulwark-bench";
	if ((r = runtime_open(&c, &rt, &err)) < 0)
		die("runtime_open", r, err);
	bench_containers(rt, rootfs, runs);
	bench_many(rt, rootfs, many);
	if (vm) {
		if (glob("/boot/vmlinuz-*", 0, NULL, &g) != 0)
			die("no kernel in /boot", -ENOENT, NULL);
		runtime_probe_accel(rt, g.gl_pathv[g.gl_pathc - 1], initrd,
		    MARKER, 20000, &err);
		if (err)
			printf("accelerator: %s\n", err);
		free(err);
		bench_vm(rt, g.gl_pathv[g.gl_pathc - 1], initrd);
		globfree(&g);
	}
	runtime_free(rt);
	sh("rm -rf %s; rmdir /sys/fs/cgroup/*/bulwark-bench 2>/dev/null",
	    tmp);
	return 0;
}
