/* bulwark-agent's workload loop: the instances the control plane bound
 * to this node, made real through the runtime library (crun, QEMU), the
 * node's image store and per-tenant CNI networks, with their status
 * reported back through the API.
 *
 * Level-triggered and idempotent: each pass lists the instances bound to
 * the node, compares them with what the runtime has, and closes the
 * difference (start, restart with back-off, report, stop and remove).
 * Nothing is remembered that cannot be found again: a restarted agent
 * adopts running instances (runtime_list, the instance's uid is its
 * runtime id) and takes restart counts from the reported status. See
 * docs/workloads.md. */
#ifndef BW_AGENT_RUN_H
#define BW_AGENT_RUN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* One API request: METHOD PATH with BODY (JSON text or NULL). On any
 * HTTP answer sets *RET_STATUS and *RET_BODY (caller frees) and returns
 * 0; a negative error when no answer came. */
typedef int (*agent_run_http_fn)(void *ctx, const char *method,
    const char *path, const char *body, int *ret_status, char **ret_body,
    char **ret_err);

struct volume_kek;

/* How deep an instance record nests, with room to spare: the deepest
 * the agent writes is 5, an exec probe's command (record { probes {
 * liveness { exec { command [ ), then service { } and the net and
 * volume strings. A record deeper than this is corrupt. */
#define AR_RECORD_DEPTH	8

/* Parses TEXT (LEN bytes), an instance record as the agent writes it,
 * into *RET (caller frees; NULL on error): 0, or -BW_E_CORRUPT when it
 * is not a JSON object of at most AR_RECORD_DEPTH levels. */
int agent_run_record_parse(const char *text, size_t len,
    json_t **ret);

struct agent_run_config {
	const char	*node;		/* this node's name (its certificate CN) */
	const char	*state_dir;	/* the agent's own records (0700) */
	const char	*image_store;	/* image store root (read-only use) */
	const char	*image_trust;	/* NULL: IMAGE_STORE/trust */
	const char	*runtime_dir;	/* NULL: STATE_DIR/instances */
	const char	*run_dir;	/* NULL: /run/bulwark */
	const char	*cgroup_parent;	/* NULL: "bulwark" */
	const char	*cni_dir;	/* NULL: STATE_DIR/cni */
	const char	*cni_plugins;	/* NULL: /usr/lib/cni */
	/* VMs: a node-provided kernel (and initrd, command line) booted
	 * directly, for disk images that carry no boot loader; NULL: the
	 * VM boots its disk. */
	const char	*vm_kernel;
	const char	*vm_initrd;
	const char	*vm_cmdline;
	unsigned	 stop_grace_ms;	/* 0: 10 s */
	/* an instance's output kept on the node when its workload sets no
	 * log_max_bytes; 0: LOGCAP_DEFAULT */
	uint64_t	 log_max_bytes;
	unsigned	 backoff_max_s;	/* 0: 60 s */
	/* CPU usage reports of autoscaled workloads' instances */
	unsigned	 cpu_interval_s;	/* 0: 15 s */
	unsigned	 default_net;	/* second octet of 10.X.0.0/16 pools
					   of per-tenant /24s; 0: 88 */
	/* The node's volume key (agent/volume.h), borrowed; NULL: no
	 * volumes on this node. */
	const struct volume_kek *volume_kek;
};

struct agent_run;

/* Opens the runtime (the caller becomes a child subreaper), the image
 * store and the agent's record directory. *RET frees with
 * agent_run_free(), which leaves instances running. */
int agent_run_open(const struct agent_run_config *c, struct agent_run **ret,
    char **ret_err);
void agent_run_free(struct agent_run *ar);

/* What a pass reads from the API besides reconciling the instances
 * (agent_run_pass()): */
#define AGENT_RUN_LIST		0x1	/* the instances bound here */
#define AGENT_RUN_SNAPSHOTS	0x2	/* the VolumeSnapshots (snapshots_sync) */
/* the volume GC, and the workloads' restart policies and autoscale
 * flags read again */
#define AGENT_RUN_GC		0x4
/* everything */
#define AGENT_RUN_RESYNC	(AGENT_RUN_LIST | AGENT_RUN_SNAPSHOTS | \
				 AGENT_RUN_GC)
/* how often an idle agent reads everything again: a bound on what a lost
 * or refused watch can delay */
#define AGENT_RUN_RESYNC_S	10

/* One reconciliation pass through HTTP(CTX, ...), reading from the API
 * what WHAT says; without AGENT_RUN_LIST it reconciles the instances the
 * last list read (runtime status, exits and restarts, probes, service
 * rules, log tails) and sends only the status that changed from what
 * it last sent. Returns the number of changes made (starts, restarts,
 * removals, status reports), or a negative error when the instance list
 * could not be read (nothing is stopped then: an unreachable control
 * plane is no reason to kill workloads). */
int agent_run_pass(struct agent_run *ar, agent_run_http_fn http, void *ctx,
    unsigned what, char **ret_err);

/* What the lines of a watch answer BODY (LEN bytes, NDJSON) make the
 * next pass read (AGENT_RUN_*): Instance changes other than this
 * agent's own status writes a list, VolumeSnapshot changes the
 * snapshots; a Workload change drops that workload's cached policy. The
 * revision to watch from (agent_run_revision()) moves past every line. */
unsigned agent_run_watched(struct agent_run *ar, const char *body,
    size_t len);

/* The store revision of the agent's last instance list, or the largest
 * watch line after it: a watch from it sees every change it did not (a
 * list that moved it past the last one seen also reads the changes a
 * watch would have shown: the snapshots, the workloads' policies). A
 * list of a store restored to an older revision takes it back. 0 before
 * the first list. */
unsigned long long agent_run_revision(const struct agent_run *ar);

/* Pushes the logs of its instances that readers ask for and learns
 * what they ask for next (agent/logs-push.h). Returns how many logs are
 * asked for (then call again after *RET_PERIOD_MS), or a negative
 * error. */
int agent_run_logs(struct agent_run *ar, agent_run_http_fn http, void *ctx,
    unsigned *ret_period_ms, char **ret_err);

/* Instances this agent currently runs or keeps (exited, not deleted). */
unsigned agent_run_count(const struct agent_run *ar);

#endif
