/* The node agent's runtime: tenant containers (crun, OCI) and VMs
 * (QEMU + QMP), each supervised by a shim so exits and OOM kills are
 * seen and reported, and found again by a restarted agent.
 *
 * Every instance has a directory STATE_DIR/ID (bundle, logs, status)
 * and cgroups /sys/fs/cgroup/<controller>/<cgroup_parent>/bw-ID
 * (cgroup v1, cgroupfs manager). The crun container id is "bw-ID".
 * There is deliberately no exec into a running instance (AC-17,
 * CM-7): workloads are changed by replacing them.
 *
 * The caller becomes a child subreaper (runtime_open), so it must reap
 * what it starts: the library reaps its own shims in runtime_status(),
 * runtime_wait() and runtime_delete(). */
#ifndef BW_RUNTIME_H
#define BW_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/macro.h"

#define RUNTIME_ID_MAX		48
#define RUNTIME_PREFIX		"bw-"

enum runtime_kind {
	RUNTIME_CONTAINER = 1,
	RUNTIME_VM,
};

enum runtime_phase {
	RUNTIME_RUNNING = 1,
	RUNTIME_EXITED,
};

enum runtime_accel {
	RUNTIME_ACCEL_TCG = 1,
	RUNTIME_ACCEL_KVM,
};

/* Each container runs in a user namespace of its own: its ids 0..65535
 * are the host ids RUNTIME_USERNS_BASE + n * RUNTIME_USERNS_SIZE + 0..65535,
 * n the lowest range free on the host (at most RUNTIME_USERNS_RANGES at
 * once), reserved in RUN_DIR/uid-ranges/n until the container is
 * deleted (docs/workloads.md, "User namespaces"). */
#define RUNTIME_USERNS_BASE	100000u
#define RUNTIME_USERNS_SIZE	65536u
#define RUNTIME_USERNS_RANGES	4096u

struct runtime_config {
	const char	*state_dir;	/* NULL: /var/lib/bulwark/instances */
	const char	*run_dir;	/* NULL: /run/bulwark */
	const char	*cgroup_parent;	/* NULL: "bulwark" */
	const char	*crun;		/* NULL: /usr/bin/crun */
	const char	*qemu;		/* NULL: /usr/bin/qemu-system-x86_64 */
	const char	*qemu_img;	/* NULL: /usr/bin/qemu-img */
};

struct runtime_spec {
	enum runtime_kind	 kind;
	const char		*id;		/* [a-z0-9][a-z0-9-]{0,47} */
	unsigned		 cpu_millis;	/* 0: unlimited */
	unsigned		 memory_mib;	/* container: 0 unlimited; VM: 0 = 256 */

	/* containers */
	const char		*rootfs;	/* image_get() path of a rootfs */
	const char *const	*argv;
	const char *const	*env;
	const char *const	*capabilities;	/* allow-list; NULL: none */
	const char		*netns_path;	/* from cni_attach(), or NULL */
	const char		*hostname;
	/* a volume's data directory and where it is mounted, or NULL */
	const char		*volume_src, *volume_dst;
	uid_t			 uid;
	gid_t			 gid;
	unsigned		 pids_max;	/* 0: OCI_DEFAULT_PIDS */
	/* Output kept on the node: the log and its older half together
	 * hold at most this (lib/logcap.h); 0: LOGCAP_DEFAULT. */
	uint64_t		 log_max_bytes;
	/* Called once the container exists (`crun create`: namespaces,
	 * cgroups and mounts made, its process waiting) and before the
	 * process starts (`crun start`), so other set-up (its network) can
	 * run meanwhile and finish first. An error here removes the
	 * container and is runtime_create()'s. NULL: nothing to wait for. */
	int			(*before_start)(void *arg, char **ret_err);
	void			*before_start_arg;

	/* VMs: a disk (its qcow2 overlay is what the guest writes), or a
	 * kernel and initrd, or both */
	const char		*disk;
	const char		*disk_format;	/* "raw" or "qcow2" */
	const char		*kernel;
	const char		*initrd;
	const char		*cmdline;
	/* a raw disk file (a volume's) given as the next virtio disk, the
	 * guest writing it in place; NULL: none */
	const char		*data_disk;
};

struct runtime_status {
	enum runtime_kind	kind;
	enum runtime_phase	phase;
	pid_t			pid;		/* container init or QEMU */
	int			exit_code;	/* when exited normally, else -1 */
	int			signal;		/* terminating signal, or 0 */
	bool			oom_killed;	/* the memory cgroup killed */
	bool			start_failed;	/* never ran: see the logs */
};

struct runtime;

/* Opens the runtime with C (NULL: defaults), creating its directories
 * and making the caller a child subreaper. The accelerator starts as
 * TCG until runtime_probe_accel() finds KVM usable. */
int runtime_open(const struct runtime_config *c, struct runtime **ret,
    char **ret_err);
void runtime_free(struct runtime *rt);

/* Boots KERNEL+INITRD under KVM, waiting up to TIMEOUT_MS for MARKER
 * on the serial console. Sets and returns the accelerator VMs use from
 * then on; *RET_MSG (caller frees) explains a fallback to TCG (no
 * /dev/kvm, a hang, a crash), or is NULL. */
enum runtime_accel runtime_probe_accel(struct runtime *rt, const char *kernel,
    const char *initrd, const char *marker, int timeout_ms, char **ret_msg);
enum runtime_accel runtime_accel(const struct runtime *rt);

/* Makes (or finds) instance ID's user namespace, with its host id
 * range, before runtime_create(): the network namespace made for the
 * instance belongs to it then (cni_network.userns_path), so capabilities
 * like CAP_NET_RAW count there. *RET_PATH (caller frees) is the file that
 * holds it. runtime_delete() frees both. */
int runtime_userns_prepare(struct runtime *rt, const char *id,
    char **ret_path, char **ret_err);
/* Frees what runtime_userns_prepare() made for ID when the instance was
 * never created (runtime_delete() does it otherwise). */
void runtime_userns_release(struct runtime *rt, const char *id);

/* Creates and starts an instance. Returns 0 once it runs (container
 * init started; QEMU answering QMP), -BW_E_EXISTS, -BW_E_INVALID or
 * another error with a message. A failed start leaves nothing. */
int runtime_create(struct runtime *rt, const struct runtime_spec *s,
    char **ret_err);

/* Reports what ID is doing. -BW_E_NOTFOUND for an unknown ID. */
int runtime_status(struct runtime *rt, const char *id,
    struct runtime_status *ret, char **ret_err);

/* Waits up to TIMEOUT_MS for ID to exit; *RET is its final status.
 * -ETIMEDOUT when it still runs. */
int runtime_wait(struct runtime *rt, const char *id, int timeout_ms,
    struct runtime_status *ret, char **ret_err);

/* Stops ID: SIGTERM to a container's init, ACPI power-down to a VM;
 * after GRACE_MS SIGKILL (container) or QMP quit, then SIGKILL (VM).
 * Returns 1 when it stopped within the grace period, 0 when it had to
 * be killed (or had already exited), or a negative error. */
int runtime_stop(struct runtime *rt, const char *id, int grace_ms,
    char **ret_err);

/* runtime_stop() in two steps, so many instances stop at once sharing
 * one grace period. runtime_stop_signal() sends ID the graceful request
 * (SIGTERM, ACPI power-down) and returns 1 (wait for it), 0 when there
 * is nothing to wait for (ID has exited, or a VM's QMP does not answer)
 * or a negative error. runtime_stop_finish() waits for ID's exit until
 * DEADLINE_MS (bw_mono_ms(); a past one: not at all), then kills it as
 * runtime_stop() does; returns 1 when it had exited by then, 0 when it
 * had to be killed (or was gone), or a negative error. */
int runtime_stop_signal(struct runtime *rt, const char *id, char **ret_err);
int runtime_stop_finish(struct runtime *rt, const char *id,
    int64_t deadline_ms, char **ret_err);

/* Starts an exited ID again with the same configuration. */
int runtime_restart(struct runtime *rt, const char *id, char **ret_err);

/* Kills ID if needed and removes all of it: processes, cgroups,
 * mounts, crun state, overlay disk, sockets, directory. Idempotent:
 * -BW_E_NOTFOUND only if nothing of ID exists. */
int runtime_delete(struct runtime *rt, const char *id, char **ret_err);

/* The IDs (without prefix) of instances that exist on this node: crun
 * containers named bw-* under our crun root and VM directories, so a
 * restarted agent adopts them. *RET is a NULL-terminated array (free
 * with runtime_list_free()). */
int runtime_list(struct runtime *rt, char ***ret, char **ret_err);
/* The same from the runtime's own state directory only (no `crun list`):
 * what runtime_create() made. Cheap enough for every agent pass; misses
 * only crun containers whose create died before its state was saved. */
int runtime_list_known(struct runtime *rt, char ***ret, char **ret_err);
void runtime_list_free(char **ids);

/* The CPU time ID's processes used so far, in microseconds: cgroup v1
 * cpuacct.usage (ns), or cgroup v2 cpu.stat usage_usec where the
 * instance's cgroup is on the unified hierarchy. -ENOENT when neither
 * exists (the instance is gone, or its runtime keeps no such cgroup). */
int runtime_cpu_usage(struct runtime *rt, const char *id, uint64_t *ret_usec);

/* The command line that runs a command inside container ID (its
 * namespaces, cgroup, user and capabilities, in a session of its own),
 * for the command's arguments to follow: `crun ... exec bw-ID`; with
 * PID_FILE, crun writes the command's PID there. *RET is a
 * NULL-terminated array (free with runtime_list_free()). Returns 0 or
 * -ENOMEM. */
int runtime_exec_argv(struct runtime *rt, const char *id, const char *pid_file,
    char ***ret);

/* Path of ID's log: container stdout+stderr or VM serial console
 * (caller frees). */
int runtime_log_path(struct runtime *rt, const char *id, char **ret);

/* Checks an instance id. */
int runtime_check_id(const char *id, char **ret_err);

/* A forked helper for namespace work: the child enters or makes a
 * namespace, says it is ready and stays until the parent has used it
 * (bind-mounted the namespace, written id maps), so the namespace
 * outlives it on a mount. */
struct runtime_nschild {
	pid_t	pid;
	int	ready[2], done[2];	/* child -> parent, parent -> child */
};

/* Makes the pipes and forks. Returns 0 in the child, 1 in the parent,
 * or -errno (*RET_STEP then names "pipe" or "fork"); either way the
 * caller ends with runtime_nschild_end() (the child: _ready()). */
int runtime_nschild_fork(struct runtime_nschild *c, const char **ret_step);

/* In the child once it is set up: tells the parent, waits until it is
 * released and exits (3 or 4 when a pipe fails). Async-signal-safe. */
_noreturn_ void runtime_nschild_ready(struct runtime_nschild *c);

/* In the parent: 0 once the child is ready, -EPERM when it exited
 * before (its set-up failed). */
int runtime_nschild_wait(struct runtime_nschild *c);

/* In the parent: releases the child, closes the pipes and reaps it.
 * Safe on a child that was never forked. */
void runtime_nschild_end(struct runtime_nschild *c);

#endif
