/* Health probes of running instances, run by the agent inside the
 * instance's network namespace: a TCP connect or an HTTP GET to
 * 127.0.0.1:PORT there, so a service bound only to the instance's
 * loopback is probed too and no tenant port is opened anywhere else;
 * or a command run inside the container (`crun exec`: its namespaces,
 * cgroup, user and capabilities), which passes when it exits 0 within
 * the timeout and is killed with its process group when it does not.
 *
 * Each probe run is a forked child that enters the namespace (setns
 * affects only the caller, and the agent's own sockets must stay in the
 * node's namespace), tries once within the probe's timeout and writes
 * one line of result to a pipe. The agent's loop starts runs and
 * collects them without blocking (probe_poll), so a hanging service
 * costs the loop nothing. See docs/workloads.md, "Probes". */
#ifndef BW_PROBE_H
#define BW_PROBE_H

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#define PROBE_PATH_MAX		256
#define PROBE_RESULT_MAX	128
/* An exec probe's command: at most this many arguments and bytes. */
#define PROBE_ARGS_MAX		16
#define PROBE_CMD_MAX		512
/* Where an exec probe's runner writes the command's PID (a pipe to the
 * probe), so a command past its timeout is killed with its process
 * group even in a session of its own inside the container. */
#define PROBE_EXEC_PID_FD	3
#define PROBE_EXEC_PID_FILE	"/proc/self/fd/3"

enum probe_kind {
	PROBE_TCP = 1,
	PROBE_HTTP,
	PROBE_EXEC,
};

/* A probe as the workload's spec.probes.liveness/readiness states it
 * (validated by the control plane's schema; checked again here). */
struct probe_spec {
	enum probe_kind	kind;
	unsigned	port;
	char		path[PROBE_PATH_MAX];	/* HTTP only */
	char		cmd[PROBE_CMD_MAX];	/* exec: NUL-separated arguments */
	unsigned	argc;			/* exec: how many */
	unsigned	initial_delay_s;	/* no run before this after a start */
	unsigned	period_s;
	unsigned	timeout_s;
	unsigned	failure_threshold;	/* consecutive failures that count */
};

/* One run in flight (pid 0: none). */
struct probe_run {
	pid_t	pid;
	int	fd;
	double	deadline;	/* monotonic seconds */
};

/* Reads probe object O ("spec.probes.NAME" in messages) into *RET.
 * Returns 0 or -BW_E_INVALID with *RET_ERR. Defaults: period 10 s,
 * timeout 1 s, failure threshold 3, no initial delay, HTTP path "/". */
int probe_spec_parse(const json_t *o, const char *name,
    struct probe_spec *ret, char **ret_err);

/* The probe as JSON, for the agent's instance record (probe_spec_parse
 * reads it back). Caller owns the result; NULL when out of memory. */
json_t *probe_spec_json(const struct probe_spec *p);

/* "http GET :8080/healthz", "tcp :5432" or "exec pg_isready -q" into
 * BUF. */
void probe_describe(const struct probe_spec *p, char *buf, size_t len);

/* Starts one run of P: inside the network namespace at NETNS_PATH, or
 * for an exec probe as EXEC_PREFIX (the runtime's command that runs a
 * command in the instance, NULL-terminated, and may write the command's
 * PID to PROBE_EXEC_PID_FILE) followed by P's command.
 * Returns 0 with *RUN in flight, or -errno. */
int probe_start(const struct probe_spec *p, const char *netns_path,
    const char *const *exec_prefix, struct probe_run *run);

/* Collects RUN when it has finished: returns 1 with *RET_OK and the
 * result ("HTTP 200", "connection refused", "timed out after 1 s") in
 * RESULT, 0 while it is still running, or -errno. A run past its
 * deadline is killed and counts as a failure. */
int probe_poll(struct probe_run *run, bool *ret_ok,
    char result[PROBE_RESULT_MAX]);

/* Kills RUN if one is in flight, with every process below it that is
 * found (each signalled through a pidfd), and reaps those that are this
 * process's children (the caller is a subreaper: the run, and what is
 * orphaned to it from above the container's PID namespace) without
 * waiting more than about 100 ms in all: what is left is reaped by later
 * calls of probe_strays_reap(). Processes orphaned to another (inside
 * the container's PID namespace: its init) are let go. Safe on an idle
 * run. */
void probe_cancel(struct probe_run *run);

/* Reaps what probe_cancel() killed and could not reap yet, without
 * waiting. Returns how many are kept (each holds a pidfd). */
size_t probe_strays_reap(void);

#endif
