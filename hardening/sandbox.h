/* Confinement of one process by itself: the steps an unprivileged
 * worker of bulwarkd takes before it reads a byte from the network,
 * in the order that keeps each possible (docs/hardening.md):
 *
 *   1. core dumps off (RLIMIT_CORE 0, PR_SET_DUMPABLE 0): a crash must
 *      not write key material or requests to disk;
 *   2. another user: supplementary groups cleared, then gid and uid
 *      (real, effective and saved) set, when the profile names a user;
 *   3. every capability dropped (but the profile's keep_caps):
 *      effective, permitted, inheritable, ambient and the bounding set;
 *   4. no new privileges (PR_SET_NO_NEW_PRIVS): no set-uid program or
 *      file capability can give any back;
 *   5. Landlock: the file system reduced to the profile's paths, TCP
 *      bind and connect denied, signals and abstract sockets scoped to
 *      the process's domain, each as far as the kernel's ABI can
 *      enforce it. What it cannot is an error for a profile that
 *      requires Landlock, and is recorded in struct sandbox_state
 *      otherwise: never skipped unsaid;
 *   6. seccomp: the profile's system call allow-list, every other call
 *      kills the whole process (SCMP_ACT_KILL_PROCESS), so its parent
 *      sees SIGSYS and records it.
 *
 * A profile is a readable table (struct sandbox_profile) kept beside
 * the process it confines. */
#ifndef BW_HARDENING_SANDBOX_H
#define BW_HARDENING_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Landlock access a path keeps (a subset of the kernel's rights). */
enum sandbox_access {
	SANDBOX_READ	= 1 << 0,	/* read files, list directories */
	SANDBOX_WRITE	= 1 << 1,	/* write and truncate files */
	SANDBOX_CREATE	= 1 << 2,	/* create and remove entries */
	SANDBOX_EXEC	= 1 << 3,	/* execute files */
};

struct sandbox_path {
	const char	*path;
	unsigned	 access;	/* enum sandbox_access bits */
};

struct sandbox_profile {
	const char			*name;	/* in messages */
	/* The user to become, or NULL to keep the current one (a test or
	 * an unprivileged development run). */
	const char			*user;
	/* When USER does not exist: become this uid and gid instead (an
	 * unused id reserved for the process; 0: USER must exist). */
	uid_t				 fallback_id;
	/* System call names allowed, NULL-terminated. A name this
	 * libseccomp does not know is an error: the table must say what
	 * the filter does. */
	const char *const		*syscalls;
	/* Allowed as well, NULL-terminated or NULL: for a process whose
	 * children run under its filter too (a filter is kept across
	 * fork and exec, and every filter of the stack must allow a call),
	 * the table of those children. */
	const char *const		*syscalls_children;
	/* Landlock: the only paths reachable, NULL-path-terminated; NULL
	 * for no file system access at all. */
	const struct sandbox_path	*paths;
	/* Refuse to run unless every Landlock layer above is enforced
	 * (a kernel without Landlock, one where it is disabled, or one
	 * whose ABI lacks a layer) instead of reporting the gap in
	 * struct sandbox_state. */
	bool				 landlock_required;
	/* Capabilities kept (bits 1 << CAP_...) in the effective and
	 * permitted sets and the bounding set; every other one goes. 0 for
	 * a process that keeps none (the workers); only the spawner keeps
	 * any (CAP_SETUID and CAP_SETGID, privsep/spawner.h). */
	uint64_t			 keep_caps;
	/* For a process that changes its children's user (the spawner,
	 * which keeps CAP_SETUID and CAP_SETGID): setgroups, setresgid and
	 * setresuid are allowed, but only toward CHILD_UID and CHILD_GID
	 * (all three ids equal, the supplementary groups cleared), so what
	 * it keeps cannot make it root or anyone else. 0: these calls are
	 * not allowed (unless a table above names them). */
	uid_t				 child_uid;
	gid_t				 child_gid;
};

/* What sandbox_enter() achieved, for the compliance facts and logs:
 * each Landlock layer is false when this kernel's ABI cannot enforce it
 * (and the profile did not require Landlock, or entering failed). */
struct sandbox_state {
	int	landlock_abi;		/* 0: none */
	bool	fs_restricted;		/* ABI >= 3: the profile's paths only */
	bool	tcp_denied;		/* ABI >= 4: no TCP bind or connect */
	bool	ipc_scoped;		/* ABI >= 6: no signal or abstract socket
					   outside the process's domain */
	uid_t	uid;
	gid_t	gid;
};

/* Applies P to the calling process (all its threads must be the caller
 * alone: call it before starting any). Returns 0 or a negative error
 * with *RET_ERR naming the step that failed; on error the process may
 * be partly confined and must exit. */
int sandbox_enter(const struct sandbox_profile *p, struct sandbox_state *ret,
    char **ret_err);

/* Drops the capabilities DROP (bits 1 << CAP_...) from the calling
 * thread's effective, permitted, inheritable and ambient sets, and from
 * its bounding set while CAP_SETPCAP is effective (call it with
 * CAP_SETPCAP in DROP: it goes last from the other sets). Call it
 * before starting threads: capabilities are per thread. Returns 0 or a
 * negative error with *RET_ERR. */
int sandbox_caps_drop(uint64_t drop, char **ret_err);

/* Ends a process confined by sandbox_enter() with CODE: exit(), but
 * _exit() in a sanitizer build, whose leak check at exit needs what the
 * sandbox denies (ptrace, a clone, /proc). */
void sandbox_exit(int code) __attribute__((noreturn));

/* The kernel's Landlock ABI version, 0 when it has none or it is
 * disabled. */
int sandbox_landlock_abi(void);

/* Which Landlock layers ABI can enforce, into *RET (landlock_abi and
 * the three layer flags). With REQUIRED, a layer ABI lacks is an error
 * (-BW_E_UNAVAILABLE, the layers missing named in *RET_ERR); without,
 * the gap is only recorded. Pure: sandbox_enter() applies the plan. */
int sandbox_landlock_plan(int abi, bool required, struct sandbox_state *ret,
    char **ret_err);

/* Describes a child's wait status in words for logs and audit records
 * ("killed by SIGSYS: a system call outside its seccomp allow-list",
 * "exited with status 3", ...). Returns BUF. */
const char *sandbox_status_describe(int status, char *buf, size_t len);

/* True when a child's wait status is a seccomp kill. */
bool sandbox_status_is_violation(int status);

#endif
