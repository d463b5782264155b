#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <pwd.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hardening/sandbox.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/macro.h"

/* Rights newer than the kernel headers Debian 12 builds with; the
 * values are the kernel's ABI and never change. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE	(1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV	(1ULL << 15)
#endif
#define LL_NET_BIND_TCP			(1ULL << 0)
#define LL_NET_CONNECT_TCP		(1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX		(1ULL << 0)
#define LL_SCOPE_SIGNAL			(1ULL << 1)

/* Below ABI 3 truncation cannot be denied: a worker could empty any
 * file it may read. That is a right the kernel cannot enforce, so such
 * a kernel counts as one without Landlock. */
#define LL_ABI_MIN	3

/* The kernel's struct landlock_ruleset_attr as of ABI 6; it takes the
 * prefix its ABI knows (ll_attr_size()). */
struct ll_ruleset_attr {
	uint64_t	handled_access_fs;
	uint64_t	handled_access_net;
	uint64_t	scoped;
};

int
sandbox_landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);

	return abi < 0 ? 0 : (int)abi;
}

/* Every file system right ABI knows: what a ruleset handles is denied
 * unless a rule grants it. */
static uint64_t
ll_fs_handled(int abi)
{
	uint64_t fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;	/* ABI 1 */

	if (abi >= 2)
		fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return fs;
}

static size_t
ll_attr_size(int abi)
{
	if (abi >= 6)
		return sizeof(struct ll_ruleset_attr);
	if (abi >= 4)
		return offsetof(struct ll_ruleset_attr, scoped);
	return offsetof(struct ll_ruleset_attr, handled_access_net);
}

static uint64_t
ll_fs_rights(unsigned access)
{
	uint64_t fs = 0;

	if (access & SANDBOX_READ)
		fs |= LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
	if (access & SANDBOX_WRITE)
		fs |= LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE;
	if (access & SANDBOX_EXEC)
		fs |= LANDLOCK_ACCESS_FS_EXECUTE;
	if (access & SANDBOX_CREATE)
		fs |= LANDLOCK_ACCESS_FS_REMOVE_DIR |
		    LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR |
		    LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
		    LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER;
	return fs;
}

static int
ll_add_path(int ruleset, const struct sandbox_path *sp, uint64_t handled,
    char **ret_err)
{
	struct landlock_path_beneath_attr	 pb = { 0 };
	_cleanup_close_ int			 fd = -1;
	struct stat				 st;

	if ((fd = open(sp->path, O_PATH | O_CLOEXEC)) < 0)
		return errf(-errno, ret_err, "landlock: %s: %s", sp->path,
		    strerror(errno));
	if (fstat(fd, &st) < 0)
		return errf(-errno, ret_err, "landlock: %s: %s", sp->path,
		    strerror(errno));
	pb.parent_fd = fd;
	pb.allowed_access = ll_fs_rights(sp->access) & handled;
	/* Directory rights on a file are refused by the kernel. */
	if (!S_ISDIR(st.st_mode))
		pb.allowed_access &= LANDLOCK_ACCESS_FS_READ_FILE |
		    LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |
		    LANDLOCK_ACCESS_FS_EXECUTE;
	if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH,
	    &pb, 0) < 0)
		return errf(-errno, ret_err, "landlock: rule for %s: %s",
		    sp->path, strerror(errno));
	return 0;
}

int
sandbox_landlock_plan(int abi, bool required, struct sandbox_state *ret,
    char **ret_err)
{
	ret->landlock_abi = abi;
	ret->fs_restricted = abi >= LL_ABI_MIN;
	ret->tcp_denied = abi >= 4;
	ret->ipc_scoped = abi >= 6;
	if (required && !ret->ipc_scoped)
		return errf(-BW_E_UNAVAILABLE, ret_err, "landlock: this "
		    "kernel's ABI %d cannot enforce %s%sthe signal and abstract "
		    "socket scope (the file system rules need ABI %d, the TCP "
		    "rules 4, the scope 6)", abi,
		    ret->fs_restricted ? "" : "the file system rules, ",
		    ret->tcp_denied ? "" : "the TCP rules, ", LL_ABI_MIN);
	return 0;
}

static int
landlock_apply(const struct sandbox_profile *p, struct sandbox_state *st,
    char **ret_err)
{
	struct ll_ruleset_attr	 attr = { 0 };
	_cleanup_close_ int	 ruleset = -1;
	int			 r;

	if ((r = sandbox_landlock_plan(sandbox_landlock_abi(),
	    p->landlock_required, st, ret_err)) < 0)
		return r;
	if (!st->fs_restricted)
		return 0;
	attr.handled_access_fs = ll_fs_handled(st->landlock_abi);
	/* No TCP bind or connect: a worker serves the sockets it was
	 * given. No signal or abstract socket outside its own domain. */
	if (st->tcp_denied)
		attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
	if (st->ipc_scoped)
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
	if ((ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr,
	    ll_attr_size(st->landlock_abi), 0)) < 0)
		return errf(-errno, ret_err, "landlock: create ruleset: %s",
		    strerror(errno));
	for (const struct sandbox_path *sp = p->paths; sp && sp->path; sp++)
		if ((r = ll_add_path(ruleset, sp, attr.handled_access_fs,
		    ret_err)) < 0)
			return r;
	if (syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) {
		r = errf(-errno, ret_err, "landlock: restrict: %s",
		    strerror(errno));
		st->fs_restricted = st->tcp_denied = st->ipc_scoped = false;
		return r;
	}
	return 0;
}

/* ASan/UBSan builds (configure --enable-sanitizers: the test trees,
 * never an installed one). The sanitizer runtime makes calls of its own:
 * at a program's start (before main, so in a worker under the spawner's
 * filter, which is kept across exec) and when it allocates or reports.
 * Each profile's filter allows them in such a build only. Its leak
 * check at exit cannot run confined (it clones a tracer that ptraces
 * the process and reads /proc, which seccomp and Landlock deny on
 * purpose): a confined process ends through sandbox_exit(), which skips
 * it (docs/hardening.md). */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZERS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZERS 1
#endif
#endif

static const char *const sanitizer_syscalls[] = {
#ifdef SANDBOX_SANITIZERS
	/* start: its shadow memory, the program's path, its signal stack */
	"madvise", "open", "readlink", "sigaltstack",
	/* reports: written to stderr, then abort_on_error */
	"write", "getpid", "gettid", "tgkill", "rt_sigprocmask",
	"sched_yield",
#endif
	NULL,
};

void
sandbox_exit(int code)
{
#ifdef SANDBOX_SANITIZERS
	_exit(code);
#else
	exit(code);
#endif
}

static int
seccomp_allow(scmp_filter_ctx ctx, const struct sandbox_profile *p,
    const char *const *list, char **ret_err)
{
	int nr, r;

	for (const char *const *s = list; s && *s; s++) {
		if ((nr = seccomp_syscall_resolve_name(*s)) == __NR_SCMP_ERROR)
			return errf(-BW_E_INVALID, ret_err, "seccomp: profile %s: "
			    "unknown system call %s", p->name, *s);
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) < 0)
			return errf(r, ret_err, "seccomp: %s: %s", *s,
			    strerror(-r));
	}
	return 0;
}

/* setgroups(0, ...), setresgid(gid, gid, gid) and setresuid(uid, uid,
 * uid) with P's child ids, and no other argument. The ids are 32-bit
 * arguments: only their low half is compared. */
static int
seccomp_allow_child_ids(scmp_filter_ctx ctx, const struct sandbox_profile *p,
    char **ret_err)
{
	uint32_t	u = (uint32_t)p->child_uid, g = (uint32_t)p->child_gid;
	int		r;

	if (!p->child_uid)
		return 0;
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setgroups), 1,
	    SCMP_A0_32(SCMP_CMP_EQ, 0))) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setresgid), 3,
	    SCMP_A0_32(SCMP_CMP_EQ, g), SCMP_A1_32(SCMP_CMP_EQ, g),
	    SCMP_A2_32(SCMP_CMP_EQ, g))) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(setresuid), 3,
	    SCMP_A0_32(SCMP_CMP_EQ, u), SCMP_A1_32(SCMP_CMP_EQ, u),
	    SCMP_A2_32(SCMP_CMP_EQ, u))) < 0)
		return errf(r, ret_err, "seccomp: the child's ids: %s",
		    strerror(-r));
	return 0;
}

static int
seccomp_apply(const struct sandbox_profile *p, char **ret_err)
{
	scmp_filter_ctx	ctx;
	int		r = 0;

	if (!(ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)))
		return errf(-ENOMEM, ret_err, "seccomp: init");
	/* A call through another ABI (int 0x80, x32) kills as well, and
	 * the kernel logs every kill to the audit subsystem. */
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) < 0 ||
	    (r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1)) < 0) {
		r = errf(r, ret_err, "seccomp: attributes: %s", strerror(-r));
		goto out;
	}
	if ((r = seccomp_allow(ctx, p, p->syscalls, ret_err)) < 0 ||
	    (r = seccomp_allow(ctx, p, p->syscalls_children, ret_err)) < 0 ||
	    (r = seccomp_allow(ctx, p, sanitizer_syscalls, ret_err)) < 0 ||
	    (r = seccomp_allow_child_ids(ctx, p, ret_err)) < 0)
		goto out;
	if ((r = seccomp_load(ctx)) < 0)
		r = errf(r, ret_err, "seccomp: load: %s", strerror(-r));
out:
	seccomp_release(ctx);
	return r;
}

static int
user_switch(const char *user, uid_t fallback, struct sandbox_state *st,
    char **ret_err)
{
	struct passwd	 pw, *res = NULL;
	char		 buf[4096];
	int		 r;

	if (!user) {
		st->uid = getuid();
		st->gid = getgid();
		return 0;
	}
	if ((r = getpwnam_r(user, &pw, buf, sizeof(buf), &res)) == 0 && !res &&
	    fallback) {
		pw.pw_uid = fallback;
		pw.pw_gid = (gid_t)fallback;
		res = &pw;
	}
	if (r != 0 || !res)
		return errf(r ? -r : -ENOENT, ret_err, "user %s: %s", user,
		    r ? strerror(r) : "no such user");
	if (pw.pw_uid == 0)
		return errf(-BW_E_INVALID, ret_err, "user %s is root", user);
	if (setgroups(0, NULL) < 0 ||
	    setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid) < 0 ||
	    setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid) < 0)
		return errf(-errno, ret_err, "becoming %s: %s", user,
		    strerror(errno));
	/* Make sure there is no way back. */
	if (setuid(0) == 0)
		return errf(-BW_E_INVALID, ret_err, "becoming %s: uid 0 "
		    "regained", user);
	st->uid = pw.pw_uid;
	st->gid = pw.pw_gid;
	return 0;
}

static int
caps_effective(uint64_t *ret, char **ret_err)
{
	struct __user_cap_header_struct	h = {
		.version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct	d[2] = { { 0 } };

	if (syscall(SYS_capget, &h, d) < 0)
		return errf(-errno, ret_err, "capget: %s", strerror(errno));
	*ret = (uint64_t)d[1].effective << 32 | d[0].effective;
	return 0;
}

/* The bounding set can only shrink with CAP_SETPCAP, so it goes before
 * the user changes. Without CAP_SETPCAP it stays: with no new
 * privileges no exec can gain what is in it. */
static int
caps_bound_drop(uint64_t keep, char **ret_err)
{
	uint64_t	eff = 0;
	int		r;

	if ((r = caps_effective(&eff, ret_err)) < 0)
		return r;
	if (!(eff & (1ULL << CAP_SETPCAP)))
		return 0;
	for (int c = 0; c < 64; c++)
		if (!(keep & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c) < 0) {
			if (errno == EINVAL)	/* past the kernel's last */
				break;
			return errf(-errno, ret_err, "dropping capability %d "
			    "from the bounding set: %s", c, strerror(errno));
		}
	return 0;
}

/* Leaves KEEP (of what is permitted now) effective and permitted,
 * nothing inheritable or ambient. */
static int
caps_clear(uint64_t keep, char **ret_err)
{
	struct __user_cap_header_struct	h = {
		.version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct	d[2] = { { 0 } };
	uint64_t			prm;

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		return errf(-errno, ret_err, "clearing ambient capabilities: "
		    "%s", strerror(errno));
	if (syscall(SYS_capget, &h, d) < 0)
		return errf(-errno, ret_err, "capget: %s", strerror(errno));
	prm = ((uint64_t)d[1].permitted << 32 | d[0].permitted) & keep;
	for (int i = 0; i < 2; i++) {
		d[i].permitted = d[i].effective = (uint32_t)(prm >> (32 * i));
		d[i].inheritable = 0;
	}
	if (syscall(SYS_capset, &h, d) < 0)
		return errf(-errno, ret_err, "dropping capabilities: %s",
		    strerror(errno));
	return 0;
}

/* Core dumps off. The limit is only set when it is not 0 already: a
 * service manager that set it (LimitCORE=0) may also forbid setrlimit
 * (SystemCallFilter=~@resources). */
static int
core_off(void)
{
	struct rlimit none = { 0, 0 }, cur;

	if (getrlimit(RLIMIT_CORE, &cur) < 0 ||
	    (cur.rlim_max != 0 && setrlimit(RLIMIT_CORE, &none) < 0) ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

int
sandbox_caps_drop(uint64_t drop, char **ret_err)
{
	struct __user_cap_header_struct	h = {
		.version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct	d[2] = { { 0 } };
	uint64_t			eff = 0;
	int				r;

	if ((r = caps_effective(&eff, ret_err)) < 0)
		return r;
	for (int c = 0; c < 64; c++) {
		if (!(drop & (1ULL << c)))
			continue;
		if ((eff & (1ULL << CAP_SETPCAP)) &&
		    prctl(PR_CAPBSET_DROP, c) < 0 && errno != EINVAL)
			return errf(-errno, ret_err, "dropping capability %d "
			    "from the bounding set: %s", c, strerror(errno));
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, c, 0, 0) < 0 &&
		    errno != EINVAL)
			return errf(-errno, ret_err, "lowering ambient "
			    "capability %d: %s", c, strerror(errno));
	}
	if (syscall(SYS_capget, &h, d) < 0)
		return errf(-errno, ret_err, "capget: %s", strerror(errno));
	for (int i = 0; i < 2; i++) {
		uint32_t keep = ~(uint32_t)(drop >> (32 * i));

		d[i].effective &= keep;
		d[i].permitted &= keep;
		d[i].inheritable &= keep;
	}
	if (syscall(SYS_capset, &h, d) < 0)
		return errf(-errno, ret_err, "dropping capabilities: %s",
		    strerror(errno));
	return 0;
}

int
sandbox_enter(const struct sandbox_profile *p, struct sandbox_state *ret,
    char **ret_err)
{
	struct sandbox_state	st = { 0 };
	int			r;

	if ((r = core_off()) < 0)
		return errf(r, ret_err, "%s: core dumps off: %s", p->name,
		    strerror(-r));
	if ((r = caps_bound_drop(p->keep_caps, ret_err)) < 0 ||
	    (r = user_switch(p->user, p->fallback_id, &st, ret_err)) < 0 ||
	    (r = caps_clear(p->keep_caps, ret_err)) < 0)
		return errf_wrap(r, ret_err, "%s", p->name);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return errf(-errno, ret_err, "%s: no new privileges: %s",
		    p->name, strerror(errno));
	if ((r = landlock_apply(p, &st, ret_err)) < 0 ||
	    (r = seccomp_apply(p, ret_err)) < 0)
		return errf_wrap(r, ret_err, "%s", p->name);
	if (ret)
		*ret = st;
	return 0;
}

bool
sandbox_status_is_violation(int status)
{
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

const char *
sandbox_status_describe(int status, char *buf, size_t len)
{
	if (sandbox_status_is_violation(status))
		snprintf(buf, len, "killed by SIGSYS: a system call outside its "
		    "seccomp allow-list");
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (SIG%s)%s",
		    WTERMSIG(status), sigabbrev_np(WTERMSIG(status)) ?
		    sigabbrev_np(WTERMSIG(status)) : "?",
		    WCOREDUMP(status) ? ", core dumped" : "");
	else if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(buf, len, "wait status %#x", (unsigned)status);
	return buf;
}
