/* Running helper programs (crun, qemu-img, ip, nft, tar, CNI plugins)
 * and supervising long-lived ones (containers, QEMU).
 *
 * runtime_exec() runs a program to completion with bounded output.
 * runtime_supervise() starts a shim: a forked child of the caller that
 * is a child subreaper in its own session. The shim starts the payload
 * and waits for it, so every process we start is reaped by someone we
 * own, even though PID 1 on our hosts does not reap. When the payload
 * ends the shim writes its status to a file and exits; the file
 * outlives the caller, so a restarted agent still learns how an
 * instance ended. Internal to the runtime library. */
#ifndef BW_RUNTIME_EXEC_H
#define BW_RUNTIME_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Output kept from one helper run; more is read and dropped. */
#define RUNTIME_EXEC_OUT_MAX	(1024 * 1024)

struct runtime_exec_opts {
	const char *const	*envp;		/* NULL: an empty environment */
	const char		*input;		/* written to stdin, or NULL */
	size_t			 input_len;
	int			 timeout_ms;	/* <= 0: 60 s */
	int			 stdout_fd;	/* >= 0: stdout goes here, not captured */
	/* When set, stdout is streamed to SINK instead of captured; a
	 * negative return stops the helper and becomes the result. */
	int			(*sink)(const void *buf, size_t len,
				    void *userdata);
	void			*sink_data;
	/* When set, the helper runs with umask UMASK instead of the
	 * caller's (0: the modes it asks for, e.g. tar's from an archive). */
	bool			 set_umask;
	mode_t			 umask;
};

/* Runs ARGV[0] (an absolute path) with ARGV, waits for it and returns
 * its wait status in *RET_STATUS. Stdout and stderr are captured (at
 * most RUNTIME_EXEC_OUT_MAX each) into *RET_OUT / *RET_ERROUT (caller
 * frees; either pointer may be NULL). A run past the timeout is killed
 * and the call returns -ETIMEDOUT. Returns 0 when the program ran
 * (whatever its exit status) or a negative error. */
int runtime_exec(const char *const *argv, const struct runtime_exec_opts *o,
    int *ret_status, char **ret_out, char **ret_errout);

/* As runtime_exec(), but returns -BW_E_UNAVAILABLE with a message in
 * *RET_ERR naming the program and quoting its stderr unless it exited
 * with status 0. */
int runtime_run(const char *const *argv, const struct runtime_exec_opts *o,
    char **ret_out, char **ret_err);

/* What the shim starts. All strings are copied into the shim before
 * fork, so the caller may free them after the call. */
struct runtime_sup {
	const char *const	*argv;		/* argv[0] absolute */
	const char *const	*envp;		/* NULL: empty */
	const char		*log_path;	/* stdout+stderr, appended */
	/* > 0: the output is captured through lib/logcap.h into LOG_PATH
	 * and LOG_PATH.1 capped at this many bytes; 0: appended as is. */
	uint64_t		 log_max_bytes;
	/* When set, stderr is appended to this file instead (a payload
	 * whose own messages are not the instance's output: QEMU). */
	const char		*err_path;
	const char		*exit_path;	/* status file written at the end */
	/* cgroup.procs files the payload joins before exec, or NULL. */
	const char *const	*cgroup_procs;
	/* When set, the payload is a launcher (crun run --detach) that
	 * exits after starting the real process and writes its pid
	 * here; the shim then waits for that pid instead. */
	const char		*pid_file;
	int			 ready_timeout_ms;	/* <= 0: 60 s */
};

/* Starts a shim for S and waits until the payload runs. On success
 * *RET_SHIM is the shim's pid (a child of the caller: reap it with
 * runtime_reap_shim()) and *RET_PID the pid of the supervised process.
 * When the payload fails to start, the shim's status file still tells
 * why and the call returns -BW_E_UNAVAILABLE with a message. */
int runtime_supervise(const struct runtime_sup *s, pid_t *ret_shim,
    pid_t *ret_pid, char **ret_err);

/* Reaps SHIM if it is our child and has exited; never blocks. */
void runtime_reap_shim(pid_t shim);

/* Status file contents: "exited CODE\n", "signaled SIG\n" or
 * "failed CODE\n" (the launcher failed with CODE). Parses PATH into
 * *RET_KIND ('e', 's' or 'f') and *RET_VALUE. Returns 0, -ENOENT while
 * the payload runs, or a negative error. */
int runtime_read_exit(const char *path, char *ret_kind, int *ret_value);

/* Sets PR_SET_CHILD_SUBREAPER on the calling process, once. */
int runtime_become_subreaper(void);

#endif
