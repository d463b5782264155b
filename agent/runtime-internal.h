/* Shared by runtime.c, runtime-crun.c and runtime-qemu.c only. */
#ifndef BW_RUNTIME_INTERNAL_H
#define BW_RUNTIME_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "agent/runtime.h"

struct runtime {
	char			*state_dir;
	char			*run_dir;
	char			*crun_root;
	char			*cgroup_parent;
	char			*crun;
	char			*qemu;
	char			*qemu_img;
	enum runtime_accel	 accel;
};

/* instance.json: what a restarted agent needs to find an instance. */
struct rt_meta {
	enum runtime_kind	 kind;
	pid_t			 shim;
	uint64_t		 shim_start;	/* /proc start time, against reuse */
	pid_t			 pid;
	uint64_t		 pid_start;
	json_t			*argv;		/* VM: QEMU command line */
	/* VM: the serial console's cap (lib/logcap.h); 0: appended as
	 * is (a VM created before the console was captured). */
	uint64_t		 log_max;
};

void rt_meta_done(struct rt_meta *m);
int rt_meta_load(struct runtime *rt, const char *id, struct rt_meta *ret,
    char **ret_err);
int rt_meta_save(struct runtime *rt, const char *id, const struct rt_meta *m);

/* STATE_DIR/ID/NAME (NAME may be NULL for the directory). */
int rt_path(struct runtime *rt, const char *id, const char *name,
    char **ret);
/* /sys/fs/cgroup/CTRL/PARENT/bw-ID[/FILE] */
int rt_cgroup_path(struct runtime *rt, const char *ctrl, const char *id,
    const char *file, char **ret);
/* Removes ID's cgroup directories that are left (empty ones only). */
int rt_cgroup_remove(struct runtime *rt, const char *id);
/* Count of OOM kills in ID's memory cgroup, 0 when it is gone. */
uint64_t rt_oom_kills(struct runtime *rt, const char *id);

/* Start time of PID (field 22 of /proc/PID/stat), 0 if gone or a
 * zombie. */
uint64_t rt_proc_start(pid_t pid);
bool rt_proc_alive(pid_t pid, uint64_t start);
int rt_write_file(const char *path, const char *text);
/* Replaces PATH with TEXT through a rename, without fsync. */
int rt_write_atomic(const char *path, const char *text, mode_t mode);
void rt_sleep_ms(int ms);
/* Waits until the status file of ID exists, up to TIMEOUT_MS. */
bool rt_wait_exit_file(struct runtime *rt, const char *id, pid_t shim,
    int timeout_ms);

int rt_crun_create(struct runtime *rt, const struct runtime_spec *s,
    char **ret_err);
int rt_crun_start(struct runtime *rt, const char *id, char **ret_err);
/* Stopping in two steps (runtime_stop_signal(), runtime_stop_finish()):
 * the graceful request (1: wait for it, 0: nothing to wait for), then
 * the wait until DEADLINE_MS (bw_mono_ms()) and the kill (1: it exited
 * by itself, 0: killed or gone). */
int rt_crun_signal(struct runtime *rt, const char *id);
int rt_crun_finish(struct runtime *rt, const char *id, const struct rt_meta *m,
    int64_t deadline_ms, char **ret_err);
int rt_crun_delete(struct runtime *rt, const char *id, char **ret_err);
int rt_crun_list(struct runtime *rt, json_t *ids, char **ret_err);
/* Frees the host id range ID's container holds (nothing if none). */
void rt_crun_userns_release(struct runtime *rt, const char *id);
/* Unmounts ID's root (RUN_DIR/rootfs/ID) if mounted. */
void rt_crun_rootfs_release(struct runtime *rt, const char *id);

int rt_qemu_create(struct runtime *rt, const struct runtime_spec *s,
    char **ret_err);
int rt_qemu_start(struct runtime *rt, const char *id, struct rt_meta *m,
    char **ret_err);
int rt_qemu_signal(struct runtime *rt, const char *id, const struct rt_meta *m);
int rt_qemu_finish(struct runtime *rt, const char *id, const struct rt_meta *m,
    int64_t deadline_ms, char **ret_err);
int rt_qemu_delete(struct runtime *rt, const char *id, char **ret_err);

#endif
