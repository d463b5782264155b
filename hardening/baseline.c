/* The host baseline table and its check and apply (hardening/baseline.h). */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/inroot.h"
#include "lib/macro.h"
#include "hardening/baseline.h"

#define HB_FILE_MAX	(4u << 20)
#define HB_SYSCTL_FILE	"etc/sysctl.d/99-zz-bulwark-baseline.conf"
#define HB_RULES_FILE	"etc/audit/rules.d/90-bulwark-baseline.rules"
#define HB_ORIG_SUFFIX	".bulwark-orig"

#define SYSCTL(n, v, lo, hi, chk, ctl) \
	{ .id = "sysctl." n, .kind = HB_SYSCTL, .check = chk, .controls = ctl, \
	  .key = n, .value = v, .min = lo, .max = hi }
#define MODE(p, m, fl, chk, ctl) \
	{ .id = "mode./" p, .kind = HB_MODE, .check = chk, .controls = ctl, \
	  .path = p, .max = m, .flags = fl }
/* cm-system-dirs: owner root, no group or other write. */
#define SYSDIR(p, fl) \
	MODE(p, 07755, fl, "cm-system-dirs", "CM-5, CM-5(5), CM-11")
#define RULE(i, chk, ctl, what, rule, ...) \
	{ .id = "audit." i, .kind = HB_AUDIT_RULE, .check = chk, \
	  .controls = ctl, .key = what, .value = rule, .match = { __VA_ARGS__ } }
#define WATCH(p, k, chk, ctl) \
	{ .id = "audit.watch." p, .kind = HB_AUDIT_WATCH, .check = chk, \
	  .controls = ctl, .key = p, .value = "-w " p " -p wa -k " k }

/* A module never loaded, even on request (CM-7): network protocols
 * and file systems the appliance does not use. */
#define MODPROBE_OFF(m) \
	{ .id = "modprobe." m, .kind = HB_CONF, \
	  .check = "cm-sysctl-baseline", .controls = "CM-6, CM-7", \
	  .path = "etc/modprobe.d/bulwark-baseline.conf", \
	  .key = "install " m, .sep = " ", .value = "/bin/false", \
	  .accept = "/bin/false|/bin/true|/usr/bin/false|/usr/bin/true" }

#define BANNER_TEXT \
	"You are accessing a U.S. Government (USG) Information System (IS) that\n" \
	"is provided for USG-authorized use only. By using this IS (which\n" \
	"includes any device attached to this IS), you consent to monitoring,\n" \
	"recording and auditing of all activity; communications and data on\n" \
	"this IS may be intercepted, searched and used for any USG-authorized\n" \
	"purpose. Unauthorized use is prohibited and subject to criminal and\n" \
	"civil penalties.\n"

static const struct hb_item hb_table[] = {
	/* Kernel (CM-6 and the controls each setting evidences). */
	SYSCTL("kernel.randomize_va_space", "2", 2, 2, "cm-sysctl-baseline", "CM-6, SI-16"),
	SYSCTL("kernel.kptr_restrict", "2", 1, 2, "cm-sysctl-baseline", "CM-6, SC-4, SI-11"),
	SYSCTL("kernel.dmesg_restrict", "1", 1, 1, "cm-sysctl-baseline", "CM-6, SC-4, SI-11"),
	SYSCTL("kernel.yama.ptrace_scope", "2", 1, 3, "cm-sysctl-baseline", "CM-6, SC-39"),
	SYSCTL("kernel.perf_event_paranoid", "3", 2, 3, "cm-sysctl-baseline", "CM-6, SC-4, SI-11"),
	SYSCTL("kernel.kexec_load_disabled", "1", 1, 1, "cm-sysctl-baseline", "CM-6"),
	SYSCTL("kernel.unprivileged_bpf_disabled", "1", 1, 2, "cm-sysctl-baseline", "CM-6"),
	SYSCTL("net.core.bpf_jit_harden", "2", 2, 2, "cm-sysctl-baseline", "CM-6"),
	SYSCTL("fs.protected_hardlinks", "1", 1, 1, "cm-sysctl-baseline", "CM-6, SC-39"),
	SYSCTL("fs.protected_symlinks", "1", 1, 1, "cm-sysctl-baseline", "CM-6, SC-39"),
	SYSCTL("fs.suid_dumpable", "0", 0, 0, "cm-sysctl-baseline", "CM-6, SC-39"),
	SYSCTL("net.ipv4.tcp_syncookies", "1", 1, 1, "cm-sysctl-baseline", "CM-6, SC-5"),
	SYSCTL("net.ipv4.icmp_echo_ignore_broadcasts", "1", 1, 1, "cm-sysctl-baseline", "CM-6, SC-5"),
	SYSCTL("net.ipv4.conf.all.accept_redirects", "0", 0, 0, "cm-sysctl-baseline", "CM-6, SC-7"),
	SYSCTL("net.ipv4.conf.default.accept_redirects", "0", 0, 0, "cm-sysctl-baseline", "CM-6, SC-7"),
	SYSCTL("net.ipv4.conf.all.send_redirects", "0", 0, 0, "cm-sysctl-baseline", "CM-6, SC-7"),
	SYSCTL("net.ipv4.conf.all.accept_source_route", "0", 0, 0, "cm-sysctl-baseline", "CM-6, SC-7"),
	SYSCTL("net.ipv4.conf.all.rp_filter", "1", 1, 2, "cm-sysctl-baseline", "CM-6, SC-7"),
	SYSCTL("net.ipv4.conf.all.log_martians", "1", 1, 1, "cm-sysctl-baseline", "CM-6, SC-7"),
	SYSCTL("net.ipv6.conf.all.accept_redirects", "0", 0, 0, "cm-sysctl-baseline", "CM-6, SC-7"),
	SYSCTL("net.ipv6.conf.all.accept_source_route", "0", 0, 0, "cm-sysctl-baseline", "CM-6, SC-7"),
	/* Interfaces made after boot (bridges, veths) start from the
	 * default.* values, not from all.*. */
	SYSCTL("net.ipv4.conf.default.send_redirects", "0", 0, 0, "cm-sysctl-baseline", "CM-6, SC-7"),
	SYSCTL("net.ipv4.conf.default.accept_source_route", "0", 0, 0, "cm-sysctl-baseline", "CM-6, SC-7"),
	SYSCTL("net.ipv4.conf.default.log_martians", "1", 1, 1, "cm-sysctl-baseline", "CM-6, SC-7"),
	SYSCTL("net.ipv6.conf.default.accept_redirects", "0", 0, 0, "cm-sysctl-baseline", "CM-6, SC-7"),
	SYSCTL("net.ipv6.conf.default.accept_source_route", "0", 0, 0, "cm-sysctl-baseline", "CM-6, SC-7"),
	/* O_CREAT in world-writable sticky directories (/tmp) does not
	 * open a FIFO or file another user planted there. */
	SYSCTL("fs.protected_fifos", "2", 2, 2, "cm-sysctl-baseline", "CM-6, SC-39"),
	SYSCTL("fs.protected_regular", "2", 2, 2, "cm-sysctl-baseline", "CM-6, SC-39"),
	/* No magic SysRq from the console or /proc/sysrq-trigger (a
	 * keyboard must not reboot, kill or dump the appliance), and no
	 * TTY line discipline module loaded on an unprivileged request. */
	SYSCTL("kernel.sysrq", "0", 0, 0, "cm-sysctl-baseline", "CM-6, CM-7"),
	SYSCTL("dev.tty.ldisc_autoload", "0", 0, 0, "cm-sysctl-baseline", "CM-6, CM-7"),
	/* A core file (where limits allow one) names its process. */
	SYSCTL("kernel.core_uses_pid", "1", 1, 1, "cm-sysctl-baseline", "CM-6"),

	/* Security-relevant files and system directories. */
	MODE("etc/passwd", 0644, 0, "ac-file-perms", "AC-3, AC-6(1)"),
	MODE("etc/group", 0644, 0, "ac-file-perms", "AC-3, AC-6(1)"),
	MODE("etc/shadow", 0640, 0, "ac-file-perms", "AC-3, AC-6(1), IA-5(6)"),
	MODE("etc/gshadow", 0640, 0, "ac-file-perms", "AC-3, AC-6(1), IA-5(6)"),
	MODE("etc/sudoers", 0440, HB_OPTIONAL, "ac-file-perms", "AC-3, AC-6(1)"),
	MODE("etc/security/opasswd", 0600, HB_OPTIONAL, "ac-file-perms", "AC-3, IA-5(6)"),
	MODE("etc/pam.d", 0755, 0, "ac-file-perms", "AC-3, AC-6(1)"),
	MODE("etc/security", 0755, 0, "ac-file-perms", "AC-3, AC-6(1)"),
	SYSDIR("usr", 0),
	SYSDIR("usr/bin", 0),
	SYSDIR("usr/sbin", 0),
	SYSDIR("usr/lib", 0),
	SYSDIR("etc", 0),
	SYSDIR("var/lib/dpkg", 0),
	SYSDIR("usr/local/bin", HB_OPTIONAL),
	SYSDIR("boot", HB_OPTIONAL),

	/* login.defs and useradd defaults. */
	{ .id = "login.defs.ENCRYPT_METHOD", .kind = HB_CONF,
	  .check = "ia-password-storage", .controls = "IA-5, IA-5(6)",
	  .path = "etc/login.defs", .key = "ENCRYPT_METHOD", .sep = " ",
	  .value = "YESCRYPT", .accept = "YESCRYPT|SHA512" },
	/* SHA512 is accepted above, and whichever method is set, SHA-512
	 * crypt never at its 5000-round default: shadow's tools read both
	 * bounds, Linux-PAM's pam_unix (passwd) only the maximum. */
	{ .id = "login.defs.SHA_CRYPT_MIN_ROUNDS", .kind = HB_CONF,
	  .check = "ia-password-storage", .controls = "IA-5, IA-5(6)",
	  .path = "etc/login.defs", .key = "SHA_CRYPT_MIN_ROUNDS", .sep = " ",
	  .value = "65536", .min = 65536, .max = LONG_MAX },
	{ .id = "login.defs.SHA_CRYPT_MAX_ROUNDS", .kind = HB_CONF,
	  .check = "ia-password-storage", .controls = "IA-5, IA-5(6)",
	  .path = "etc/login.defs", .key = "SHA_CRYPT_MAX_ROUNDS", .sep = " ",
	  .value = "65536", .min = 65536, .max = LONG_MAX },
	/* Password lifetime of console accounts made after installation
	 * (useradd copies these into the shadow entry). */
	{ .id = "login.defs.PASS_MAX_DAYS", .kind = HB_CONF,
	  .check = "ia-password-storage", .controls = "IA-5(1)",
	  .path = "etc/login.defs", .key = "PASS_MAX_DAYS", .sep = " ",
	  .value = "60", .min = 1, .max = 60 },
	{ .id = "login.defs.PASS_MIN_DAYS", .kind = HB_CONF,
	  .check = "ia-password-storage", .controls = "IA-5(1)",
	  .path = "etc/login.defs", .key = "PASS_MIN_DAYS", .sep = " ",
	  .value = "1", .min = 1, .max = LONG_MAX },
	/* New files of console users and their home directories are not
	 * readable by other users: login.defs (useradd's home directory,
	 * pam_umask) and the login shells' profile. */
	{ .id = "login.defs.UMASK", .kind = HB_CONF,
	  .check = "ac-file-perms", .controls = "AC-3, AC-6",
	  .path = "etc/login.defs", .key = "UMASK", .sep = " ",
	  .value = "027", .accept = "027|077|0027|0077" },
	{ .id = "profile.umask", .kind = HB_CONF,
	  .check = "ac-file-perms", .controls = "AC-3, AC-6",
	  .path = "etc/profile.d/bulwark-umask.sh", .key = "umask",
	  .sep = " ", .value = "027", .accept = "027|077|0027|0077" },
	{ .id = "useradd.INACTIVE", .kind = HB_CONF,
	  .check = "ac-inactive-disable", .controls = "AC-2(3)",
	  .path = "etc/default/useradd", .key = "INACTIVE", .sep = "=",
	  .value = "35", .min = 0, .max = 90 },

	/* Account lockout: faillock.conf and the PAM auth stack. */
	{ .id = "faillock.deny", .kind = HB_CONF, .check = "ac-faillock",
	  .controls = "AC-7", .path = "etc/security/faillock.conf",
	  .key = "deny", .sep = " = ", .value = "3", .min = 1, .max = 3 },
	{ .id = "faillock.fail_interval", .kind = HB_CONF,
	  .check = "ac-faillock", .controls = "AC-7",
	  .path = "etc/security/faillock.conf", .key = "fail_interval",
	  .sep = " = ", .value = "900", .min = 900, .max = LONG_MAX },
	{ .id = "faillock.unlock_time", .kind = HB_CONF,
	  .check = "ac-faillock", .controls = "AC-7",
	  .path = "etc/security/faillock.conf", .key = "unlock_time",
	  .sep = " = ", .value = "0", .min = 1800, .max = LONG_MAX,
	  .flags = HB_ZERO_OK },
	{ .id = "pam.faillock-preauth", .kind = HB_PAM_LINE,
	  .check = "ac-faillock", .controls = "AC-7",
	  .path = "etc/pam.d/common-auth",
	  .key = "auth pam_faillock.so preauth",
	  .value = "auth\trequired\t\t\tpam_faillock.so preauth",
	  .anchor = "pam_unix.so", .flags = HB_BEFORE },
	{ .id = "pam.faillock-authfail", .kind = HB_PAM_LINE,
	  .check = "ac-faillock", .controls = "AC-7",
	  .path = "etc/pam.d/common-auth",
	  .key = "auth pam_faillock.so authfail",
	  .value = "auth\t[default=die]\t\t\tpam_faillock.so authfail",
	  .anchor = "pam_unix.so" },
	{ .id = "pam.unix-no-nullok", .kind = HB_PAM_NOARG,
	  .check = "ia-password-storage", .controls = "IA-5",
	  .path = "etc/pam.d/common-auth", .key = "auth pam_unix.so",
	  .value = "nullok" },
	{ .id = "pam.unix-hash", .kind = HB_PAM_ARG,
	  .check = "ia-password-storage", .controls = "IA-5, IA-5(6)",
	  .path = "etc/pam.d/common-password", .key = "password pam_unix.so",
	  .value = "yescrypt", .accept = "yescrypt|sha512" },
	{ .id = "pam.su-wheel", .kind = HB_PAM_LINE,
	  .check = "ac-su-restricted", .controls = "AC-6(10)",
	  .path = "etc/pam.d/su", .key = "auth required pam_wheel.so",
	  .value = "auth       required   pam_wheel.so",
	  .anchor = "pam_rootok.so" },

	/* No core dumps: a crashing process does not write its memory
	 * (keys, tokens) to disk. pam_limits sets the soft and the hard
	 * limit ("-") for logins; services keep systemd's soft limit 0
	 * and fs.suid_dumpable. */
	{ .id = "limits.core", .kind = HB_CONF,
	  .check = "cm-sysctl-baseline", .controls = "CM-6, SC-4",
	  .path = "etc/security/limits.d/90-bulwark-baseline.conf",
	  .key = "* - core", .sep = " ", .value = "0", .min = 0, .max = 0 },

	/* Kernel modules the appliance never needs and that load on an
	 * unprivileged request (a socket of the protocol, a device
	 * plugged in): a request fails instead. */
	{ .id = "modprobe.firewire-core", .kind = HB_CONF,
	  .check = "cm-sysctl-baseline", .controls = "CM-7, MP-7",
	  .path = "etc/modprobe.d/bulwark-baseline.conf",
	  .key = "install firewire-core", .sep = " ", .value = "/bin/false",
	  .accept = "/bin/false|/bin/true|/usr/bin/false|/usr/bin/true" },
	MODPROBE_OFF("dccp"),
	MODPROBE_OFF("sctp"),
	MODPROBE_OFF("rds"),
	MODPROBE_OFF("tipc"),
	/* File systems nothing on the appliance mounts (CIS 1.1.1.x, Lynis
	 * FILE-6430): a crafted image of one would reach a rarely used
	 * kernel parser. squashfs stays (the live medium's root, and
	 * update bundles are read by unsquashfs, which needs no module:
	 * nothing requires it, but nothing gains from blocking it). */
	MODPROBE_OFF("cramfs"),
	MODPROBE_OFF("freevxfs"),
	MODPROBE_OFF("jffs2"),
	MODPROBE_OFF("hfs"),
	MODPROBE_OFF("hfsplus"),
	MODPROBE_OFF("udf"),

	/* Logon banner. */
	{ .id = "banner./etc/issue", .kind = HB_BANNER, .check = "ac-banner",
	  .controls = "AC-8", .path = "etc/issue", .value = BANNER_TEXT,
	  .accept = HB_BANNER_PHRASE },
	{ .id = "banner./etc/issue.net", .kind = HB_BANNER,
	  .check = "ac-banner", .controls = "AC-8", .path = "etc/issue.net",
	  .value = BANNER_TEXT, .accept = HB_BANNER_PHRASE,
	  .flags = HB_OPTIONAL },

	/* Temporary storage without execution. */
	{ .id = "mount./tmp", .kind = HB_MOUNT, .check = "cm-noexec-mounts",
	  .controls = "CM-7(2)", .path = "etc/fstab", .key = "/tmp",
	  .value = "noexec,nosuid,nodev",
	  .accept = "tmpfs /tmp tmpfs rw,noexec,nosuid,nodev,mode=1777 0 0" },
	{ .id = "mount./dev/shm", .kind = HB_MOUNT,
	  .check = "cm-noexec-mounts", .controls = "CM-7(2)",
	  .path = "etc/fstab", .key = "/dev/shm", .value = "noexec,nosuid,nodev",
	  .accept = "tmpfs /dev/shm tmpfs rw,noexec,nosuid,nodev 0 0" },
	/* /var/tmp keeps its files across reboots (FHS), so not a tmpfs:
	 * the directory bound onto itself, on the (encrypted) root, with
	 * the options (mount(8) remounts a bind mount with them). */
	{ .id = "mount./var/tmp", .kind = HB_MOUNT,
	  .check = "cm-noexec-mounts", .controls = "CM-7(2)",
	  .path = "etc/fstab", .key = "/var/tmp", .value = "noexec,nosuid,nodev",
	  .accept = "/var/tmp /var/tmp none rw,bind,noexec,nosuid,nodev 0 0" },

	/* Audit rules (AU-2 and the controls each event type serves). */
	RULE("logins", "au-rules-events", "AU-2, AC-7",
	    "logon events (lastlog/faillock watch)",
	    "-w /var/log/lastlog -p wa -k logins\n"
	    "-w /run/faillock -p wa -k logins",
	    { "-w /var/log/lastlog" }, { "-w /var/run/faillock" },
	    { "-w /run/faillock" }),
	RULE("privileged-exec", "au-rules-events", "AU-2, AC-6(9)",
	    "privileged command execution (execve, euid=0)",
	    "-a always,exit -F arch=b64 -S execve -C uid!=euid -F euid=0 -k setuid",
	    { "execve", "euid=0" }),
	RULE("time", "au-rules-events", "AU-2, AU-8", "time changes",
	    "-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -k time-change",
	    { "adjtimex" }, { "settimeofday" }, { "clock_settime" }),
	RULE("modules", "au-rules-events", "AU-2, CM-5", "kernel module loading",
	    "-a always,exit -F arch=b64 -S init_module,finit_module,delete_module -k modules",
	    { "init_module" }, { "finit_module" }),
	RULE("mounts", "au-rules-events", "AU-2", "mounts",
	    "-a always,exit -F arch=b64 -S mount -F auid>=1000 -F auid!=unset -k mounts",
	    { "-S mount" }, { ",mount" }),
	RULE("delete", "au-rules-events", "AU-2", "file deletion by users",
	    "-a always,exit -F arch=b64 -S unlink,unlinkat,rename,renameat -F auid>=1000 -F auid!=unset -k delete",
	    { "unlink", "auid>=1000" }, { "rename", "auid>=1000" }),
	RULE("audit-config", "au-rules-events", "AU-2, AU-9",
	    "audit configuration changes", "-w /etc/audit -p wa -k auditconfig",
	    { "-w /etc/audit" }, { "dir=/etc/audit" }),
	WATCH("/etc/passwd", "identity", "au-rules-identity", "AC-2(4), AU-2"),
	WATCH("/etc/group", "identity", "au-rules-identity", "AC-2(4), AU-2"),
	WATCH("/etc/shadow", "identity", "au-rules-identity", "AC-2(4), AU-2"),
	WATCH("/etc/gshadow", "identity", "au-rules-identity", "AC-2(4), AU-2"),
	WATCH("/etc/security/opasswd", "identity", "au-rules-identity", "AC-2(4), AU-2"),
	RULE("sudo", "au-rules-privileged", "AC-6(9)", "sudo use",
	    "-a always,exit -F path=/usr/bin/sudo -F perm=x -F auid>=1000 -F auid!=unset -k privileged",
	    { "/usr/bin/sudo" }),
	RULE("su", "au-rules-privileged", "AC-6(9)", "su use",
	    "-a always,exit -F path=/usr/bin/su -F perm=x -F auid>=1000 -F auid!=unset -k privileged",
	    { "/usr/bin/su" }, { "/bin/su" }),
	WATCH("/etc/sudoers", "config", "au-rules-config", "CM-5(1)"),
	WATCH("/etc/pam.d", "config", "au-rules-config", "CM-5(1)"),
	WATCH("/etc/audit", "auditconfig", "au-rules-config", "CM-5(1)"),
	WATCH("/etc/bulwark", "config", "au-rules-config", "CM-5(1)"),

	/* auditd's own settings (auditd.conf). Its logs are readable by
	 * root alone (the collector reads them with CAP_DAC_READ_SEARCH;
	 * no administrator group does). A full log file is never
	 * overwritten or deleted (AU-11): auditd starts a new one and
	 * keeps the old, so /var/log/audit is its own file system (the
	 * installer's audit volume, AU-4) and the space_left actions
	 * (au-capacity, au-failure-response) stop the system before that
	 * file system is full. */
	{ .id = "auditd.log_group", .kind = HB_CONF, .check = "au-protection",
	  .controls = "AU-9", .path = "etc/audit/auditd.conf",
	  .key = "log_group", .sep = " = ", .value = "root", .accept = "root",
	  .flags = HB_CHECK_WIDER },
	{ .id = "auditd.max_log_file_action", .kind = HB_CONF,
	  .check = "au-retention", .controls = "AU-11, AU-4",
	  .path = "etc/audit/auditd.conf", .key = "max_log_file_action",
	  .sep = " = ", .value = "keep_logs", .accept = "keep_logs",
	  .flags = HB_CHECK_WIDER },
	/* Last: the rules are immutable until the next boot (AU-9), so
	 * nobody, root included, removes or adds a rule on the running
	 * system; a rule change takes a reboot. augenrules moves the last
	 * -e directive of rules.d to the end of what it loads. Nothing on
	 * the appliance loads rules after boot (bulwarkd and the console
	 * only send user messages, which -e 2 still accepts). */
	{ .id = "audit.immutable", .kind = HB_AUDIT_RULE,
	  .check = "au-protection", .controls = "AU-9",
	  .key = "audit rules locked until reboot (-e 2, last)",
	  .value = "-e 2", .match = { { "-e 2" } }, .flags = HB_CHECK_WIDER },
};

const struct hb_item *
hb_items(size_t *ret_n)
{
	*ret_n = ELEMENTSOF(hb_table);
	return hb_table;
}

const struct hb_item *
hb_find(const char *id)
{
	const struct hb_item *it;

	for (it = hb_table; it < hb_table + ELEMENTSOF(hb_table); it++)
		if (!strcmp(it->id, id))
			return it;
	return NULL;
}

/* Files: reads resolve symlinks inside the root (inroot_open()); writes
 * walk the path one component at a time and refuse any symlink. */

static int
hb_read(int rootfd, const char *path, char **ret_buf)
{
	/* a FIFO at PATH must not hold the tool: regular files only */
	_cleanup_close_ int fd = inroot_open(rootfd, path,
	    O_RDONLY | O_NONBLOCK);
	int r;

	if (fd < 0)
		return fd;
	if ((r = fd_regular(fd)) < 0)
		return r;
	return read_bounded(fd, HB_FILE_MAX, ret_buf, NULL);
}

/* Opens the directory holding PATH under ROOTFD, creating missing
 * directories (0755) when CREATE, without following any symlink;
 * *ret_base points into PATH at the last component. */
static int
hb_open_parent(int rootfd, const char *path, bool create,
    const char **ret_base)
{
	_cleanup_close_ int fd = -1;
	const char *p = path, *slash;
	char comp[NAME_MAX + 1];

	if ((fd = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	while ((slash = strchr(p, '/'))) {
		size_t n = (size_t)(slash - p);
		int nfd;

		if (n == 0 || n > NAME_MAX)
			return -EINVAL;
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (!strcmp(comp, "..") || !strcmp(comp, "."))
			return -EINVAL;
		if (create && mkdirat(fd, comp, 0755) < 0 && errno != EEXIST)
			return -errno;
		nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (nfd < 0)
			return errno == ENOTDIR ? -ELOOP : -errno;
		close(fd);
		fd = nfd;
		p = slash + 1;
	}
	*ret_base = p;
	return TAKE_FD(fd);
}

/* Replaces root-relative PATH with TEXT: owner and mode of the file it
 * replaces (else root, MODE), the original kept once as
 * PATH.bulwark-orig. */
static int
hb_write(int rootfd, const char *path, const char *text, mode_t mode)
{
	_cleanup_close_ int dfd = -1, ofd = -1;
	_cleanup_free_ char *orig = NULL, *bak = NULL;
	const char *base;
	struct stat st;
	size_t olen;
	int r;

	if ((dfd = hb_open_parent(rootfd, path, true, &base)) < 0)
		return dfd;
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISREG(st.st_mode))
			return S_ISLNK(st.st_mode) ? -ELOOP : -EINVAL;
		mode = st.st_mode & 07777;
		if (asprintf(&bak, "%s" HB_ORIG_SUFFIX, base) < 0) {
			bak = NULL;
			return -ENOMEM;
		}
		if (faccessat(dfd, bak, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
			if ((ofd = openat(dfd, base, O_RDONLY | O_NOFOLLOW |
			    O_CLOEXEC)) < 0)
				return -errno;
			if ((r = read_bounded(ofd, HB_FILE_MAX, &orig,
			    &olen)) < 0 ||
			    (r = write_file_atomic_at(dfd, bak, orig, olen,
			    mode)) < 0)
				return r;
		}
	} else if (errno != ENOENT)
		return -errno;
	else
		st.st_uid = st.st_gid = 0;
	if ((r = write_file_atomic_at(dfd, base, text, strlen(text),
	    mode)) < 0)
		return r;
	if (fchownat(dfd, base, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

/* Text helpers. */

static char *
hb_strdup_printf(const char *fmt, ...) _printf_(1, 2);

static char *
hb_strdup_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* Whether word W (length WL) is a whitespace-separated word of LINE
 * (length N). */
static bool
hb_line_has_word(const char *line, size_t n, const char *w, size_t wl)
{
	const char *p = line, *end = line + n;

	while (p < end) {
		size_t l;

		while (p < end && isspace((unsigned char)*p))
			p++;
		l = 0;
		while (p + l < end && !isspace((unsigned char)p[l]))
			l++;
		if (l == wl && !memcmp(p, w, wl))
			return true;
		p += l;
	}
	return false;
}

/* Whether LINE (length N) is uncommented and has every word of WORDS. */
static bool
hb_line_matches(const char *line, size_t n, const char *words)
{
	const char *p = line;

	while (p < line + n && isspace((unsigned char)*p))
		p++;
	if (p == line + n || *p == '#')
		return false;
	while (*words) {
		size_t wl;

		words += strspn(words, " ");
		wl = strcspn(words, " ");
		if (wl && !hb_line_has_word(line, n, words, wl))
			return false;
		words += wl;
	}
	return true;
}

/* Offset of the first line of TEXT with every word of WORDS, or
 * -ENOENT; *ret_len gets its length. */
static long
hb_find_line(const char *text, const char *words, size_t *ret_len)
{
	const char *line = text;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);

		if (hb_line_matches(line, n, words)) {
			*ret_len = n;
			return line - text;
		}
		line = nl ? nl + 1 : NULL;
	}
	return -ENOENT;
}

/* Value of the last uncommented "KEY SEP value" line of TEXT (SEP's
 * spaces optional, key case-insensitive), allocated; NULL when absent. */
static char *
hb_conf_value(const char *text, const char *key)
{
	const char *line = text, *found = NULL;
	size_t kl = strlen(key), fl = 0;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		const char *p = line + strspn(line, " \t");

		if ((size_t)(p - line) < n && !strncasecmp(p, key, kl) &&
		    (p[kl] == ' ' || p[kl] == '\t' || p[kl] == '=')) {
			const char *v = p + kl, *e = line + n;

			v += strspn(v, " \t");
			if (*v == '=')
				v++;
			v += strspn(v, " \t");
			while (e > v && isspace((unsigned char)e[-1]))
				e--;
			if (v <= e) {
				found = v;
				fl = (size_t)(e - v);
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return found ? strndup(found, fl) : NULL;
}

/* Whether S is one of the '|'-separated ALTS (case-insensitive). */
static bool
hb_one_of(const char *s, const char *alts)
{
	size_t sl = strlen(s);

	while (*alts) {
		size_t l = strcspn(alts, "|");

		if (l == sl && !strncasecmp(s, alts, l))
			return true;
		alts += l + (alts[l] == '|');
	}
	return false;
}

static bool
hb_number_ok(const struct hb_item *it, const char *v)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || end == v || *end)
		return false;
	return (x >= it->min && x <= it->max) ||
	    ((it->flags & HB_ZERO_OK) && x == 0);
}

char *
hb_item_want(const struct hb_item *it)
{
	switch (it->kind) {
	case HB_SYSCTL:
		return it->min == it->max ? hb_strdup_printf("%ld", it->min) :
		    hb_strdup_printf("%ld..%ld", it->min, it->max);
	case HB_MODE:
		return hb_strdup_printf("owner root, mode <= %04lo", it->max);
	case HB_CONF:
		if (it->accept)
			return hb_strdup_printf("%s %s", it->key, it->accept);
		if (it->max == LONG_MAX)
			return hb_strdup_printf("%s %s>= %ld", it->key,
			    it->flags & HB_ZERO_OK ? "0 or " : "", it->min);
		return hb_strdup_printf("%s %ld..%ld", it->key, it->min,
		    it->max);
	case HB_PAM_LINE:
		return hb_strdup_printf("%s", it->value);
	case HB_PAM_ARG:
		return hb_strdup_printf("%s with %s", it->key, it->accept);
	case HB_PAM_NOARG:
		return hb_strdup_printf("%s without %s", it->key, it->value);
	case HB_AUDIT_RULE:
		return hb_strdup_printf("%s", it->key);
	case HB_AUDIT_WATCH:
		return hb_strdup_printf("write watch on %s", it->key);
	case HB_BANNER:
		return hb_strdup_printf("notice containing \"%s\", no OS "
		    "escapes", it->accept);
	case HB_MOUNT:
		return hb_strdup_printf("%s mounted %s", it->key, it->value);
	}
	return NULL;
}

static void
hb_strv_free(char **v, size_t n)
{
	while (n > 0)
		free(v[--n]);
	free(v);
}

/* Appends the names in root-relative DIR ending in SUFFIX that are not
 * yet in *V (the first directory to list a name wins). */
static int
hb_list_dir(int rootfd, const char *dir, const char *suffix, char ***v,
    size_t *n)
{
	int fd = inroot_open(rootfd, dir, O_RDONLY | O_DIRECTORY);
	DIR *d;
	struct dirent *de;
	size_t sl = strlen(suffix), i;
	int r = 0;

	if (fd < 0)
		return fd == -ENOENT || fd == -ENOTDIR ? 0 : fd;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)) && r == 0) {
		size_t l = strlen(de->d_name);
		char **nv;
		bool dup = false;

		if (de->d_name[0] == '.' || l <= sl ||
		    strcmp(de->d_name + l - sl, suffix))
			continue;
		for (i = 0; i < *n && !dup; i++)
			dup = !strcmp(strrchr((*v)[i], '/') + 1, de->d_name);
		if (dup || *n >= 4096)
			continue;
		if (!(nv = reallocarray(*v, *n + 1, sizeof(**v))))
			r = -ENOMEM;
		else if (!(*v = nv, (*v)[*n] = hb_strdup_printf("%s/%s", dir,
		    de->d_name)))
			r = -ENOMEM;
		else
			(*n)++;
	}
	closedir(d);
	return r;
}

static const char *
hb_base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

int
hb_name_cmp(const void *a, const void *b)
{
	return strcmp(hb_base(*(char *const *)a), hb_base(*(char *const *)b));
}

/* ASCII classes, as GNU's version sort uses them whatever the locale. */
static bool
hb_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
hb_isalpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The weight of S[I] (S of LEN bytes) in a run of non-digits of a
 * version comparison: '~' below everything, even the run's end; the
 * run's end and a digit next; then letters; then every other byte. */
static int
hb_ver_weight(const char *s, size_t len, size_t i)
{
	unsigned char c;

	if (i >= len)
		return 0;
	c = (unsigned char)s[i];
	if (c == '~')
		return -1;	/* ordering: before the end */
	if (hb_isdigit((char)c))
		return 0;
	if (hb_isalpha((char)c))
		return c;
	return c + 256;
}

/* Compares A (ALEN bytes) and B (BLEN bytes) as Debian compares
 * versions: alternately a run of non-digits, byte by byte by
 * hb_ver_weight(), and a run of digits, as numbers (leading zeros
 * ignored). Returns <0, 0 or >0. */
static int
hb_ver_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i = 0, j = 0, di, dj;
	int wa, wb, r;

	while (i < alen || j < blen) {
		while ((i < alen && !hb_isdigit(a[i])) ||
		    (j < blen && !hb_isdigit(b[j]))) {
			wa = hb_ver_weight(a, alen, i);
			wb = hb_ver_weight(b, blen, j);
			if (wa != wb)
				return wa - wb;
			i++;
			j++;
		}
		while (i < alen && a[i] == '0')
			i++;
		while (j < blen && b[j] == '0')
			j++;
		for (di = 0; i + di < alen && hb_isdigit(a[i + di]); di++)
			;
		for (dj = 0; j + dj < blen && hb_isdigit(b[j + dj]); dj++)
			;
		if (di != dj)
			return di > dj ? 1 : -1;	/* ordering */
		if ((r = memcmp(a + i, b + j, di)) != 0)
			return r;
		i += di;
		j += dj;
	}
	return 0;
}

/* The length of NAME (LEN bytes) without its file suffix: the longest
 * tail, not the first byte, made of ".X..." parts, each a dot, a
 * letter or '~', then letters, digits and '~' (".tar.gz", ".rules";
 * not ".1"). */
static size_t
hb_ver_stem(const char *name, size_t len)
{
	size_t p, i;

	for (p = 1; p < len; p++) {
		for (i = p; i < len; ) {
			if (name[i] != '.' || i + 1 >= len ||
			    !(hb_isalpha(name[i + 1]) || name[i + 1] == '~'))
				break;
			for (i += 2; i < len && (hb_isalpha(name[i]) ||
			    hb_isdigit(name[i]) || name[i] == '~'); i++)
				;
		}
		if (i == len)
			return p;
	}
	return len;
}

/* Orders file names A and B as GNU `ls -v` does (gnulib's filevercmp,
 * ties broken by byte order): ".", "..", other names starting with a
 * dot, then the rest; names compared without their suffixes first, as
 * versions (hb_ver_cmp()), and whole only when that ties. */
static int
hb_filevercmp(const char *a, const char *b)
{
	size_t alen = strlen(a), blen = strlen(b), as, bs;
	int r, ra, rb;

	if (!alen || !blen)
		return alen ? 1 : blen ? -1 : 0;	/* ordering */
	/* rank of the leading-dot classes: ".", "..", ".x", other */
	ra = a[0] != '.' ? 3 : alen == 1 ? 0 : alen == 2 && a[1] == '.' ? 1 : 2;
	rb = b[0] != '.' ? 3 : blen == 1 ? 0 : blen == 2 && b[1] == '.' ? 1 : 2;
	if (ra != rb || ra < 2)
		return ra - rb;
	as = hb_ver_stem(a, alen);
	bs = hb_ver_stem(b, blen);
	if ((r = hb_ver_cmp(a, as, b, bs)) != 0)
		return r;
	if ((as != alen || bs != blen) &&
	    (r = hb_ver_cmp(a, alen, b, blen)) != 0)
		return r;
	return strcmp(a, b);
}

int
hb_rules_name_cmp(const void *a, const void *b)
{
	return hb_filevercmp(hb_base(*(char *const *)a),
	    hb_base(*(char *const *)b));
}

/* The files of DIRS (NULL-ended) ending in SUFFIX, ordered by name with
 * CMP (a qsort comparator on the paths), then LAST when not NULL,
 * concatenated into *ret (allocated). */
static int
hb_read_dirs(int rootfd, const char *const *dirs, const char *suffix,
    int (*cmp)(const void *, const void *), const char *last, char **ret)
{
	char **v = NULL, *all = NULL;
	size_t n = 0, len = 0, i;
	int r = 0;

	for (; *dirs && r == 0; dirs++)
		r = hb_list_dir(rootfd, *dirs, suffix, &v, &n);
	if (r == 0 && n > 1)
		qsort(v, n, sizeof(*v), cmp);
	if (!(all = strdup("")))
		r = -ENOMEM;
	for (i = 0; i <= n && r == 0; i++) {
		_cleanup_free_ char *buf = NULL;
		const char *p = i < n ? v[i] : last;
		size_t bl;
		char *na;

		if (!p || hb_read(rootfd, p, &buf) < 0)
			continue;
		bl = strlen(buf);
		if (!(na = realloc(all, len + bl + 2))) {
			r = -ENOMEM;
			break;
		}
		all = na;
		memcpy(all + len, buf, bl);
		len += bl;
		all[len++] = '\n';
		all[len] = '\0';
	}
	hb_strv_free(v, n);
	if (r < 0) {
		free(all);
		return r;
	}
	*ret = all;
	return 0;
}

static const char *const hb_sysctl_dirs[] = {
	"etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d",
	"usr/lib/sysctl.d", "lib/sysctl.d", NULL
};

int
hb_sysctl_configured(int rootfd, const char *name, long *ret_val)
{
	_cleanup_free_ char *all = NULL, *v = NULL, *slashed = NULL;
	char *p, *end;
	long x;
	int r;

	if ((r = hb_read_dirs(rootfd, hb_sysctl_dirs, ".conf",
	    hb_name_cmp, "etc/sysctl.conf", &all)) < 0)
		return r;
	/* Keys may be written with '/' as well as '.'. */
	if (!(slashed = strdup(name)))
		return -ENOMEM;
	for (p = slashed; *p; p++)
		if (*p == '.')
			*p = '/';
	v = hb_conf_value(all, name);
	if (!v && !(v = hb_conf_value(all, slashed)))
		return -ENOENT;
	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || end == v)
		return -EINVAL;
	*ret_val = x;
	return 0;
}

static const char *const hb_rules_dirs[] = { "etc/audit/rules.d", NULL };

/* The audit rules as auditd loads them: rules.d, else audit.rules. */
static int
hb_audit_rules(int rootfd, char **ret)
{
	_cleanup_free_ char *all = NULL;
	int r;

	if ((r = hb_read_dirs(rootfd, hb_rules_dirs, ".rules",
	    hb_rules_name_cmp, NULL, &all)) < 0)
		return r;
	if (!*all) {
		free(all);
		all = NULL;
		if ((r = hb_read(rootfd, "etc/audit/audit.rules", &all)) < 0 &&
		    r != -ENOENT)
			return r;
		if (!all && !(all = strdup("")))
			return -ENOMEM;
	}
	*ret = TAKE_PTR(all);
	return 0;
}

/* Whether one uncommented line of RULES contains every string of SET. */
static bool
hb_rule_has(const char *rules, const char *const *set)
{
	const char *line = rules;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		char l[1024];
		size_t i;
		bool all = true;

		snprintf(l, sizeof(l), "%.*s", (int)(n < 1023 ? n : 1023), line);
		for (i = 0; i < HB_MATCH_WORDS && set[i] && all; i++)
			all = strstr(l, set[i]) != NULL;
		if (all && l[strspn(l, " \t")] != '#')
			return true;
		line = nl ? nl + 1 : NULL;
	}
	return false;
}

/* Whether the permissions after "-p " or "perm=" at P include w. */
static bool
hb_perm_has_w(const char *p)
{
	return p && strcspn(p, " ") > strcspn(p, "w");
}

/* A write watch on PATH: "-w PATH ... -p <perms with w>" or the
 * syscall form "-F path=PATH ... -F perm=<w>" (dir= for directories). */
static bool
hb_rule_watch_write(const char *rules, const char *path)
{
	const char *line = rules;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		char l[1024], pat[300];
		const char *p, *perm;
		size_t pl;

		snprintf(l, sizeof(l), "%.*s", (int)(n < 1023 ? n : 1023), line);
		line = nl ? nl + 1 : NULL;
		if (l[strspn(l, " \t")] == '#')
			continue;
		snprintf(pat, sizeof(pat), "-w %s", path);
		pl = strlen(pat);
		if ((p = strstr(l, pat)) && (p[pl] == ' ' || p[pl] == '\0' ||
		    p[pl] == '/')) {
			if (hb_perm_has_w((perm = strstr(l, "-p ")) ? perm + 3 :
			    NULL))
				return true;
			continue;
		}
		snprintf(pat, sizeof(pat), "path=%s", path);
		if (!strstr(l, pat)) {
			snprintf(pat, sizeof(pat), "dir=%s", path);
			if (!strstr(l, pat))
				continue;
		}
		if (hb_perm_has_w((p = strstr(l, "perm=")) ? p + 5 : NULL))
			return true;
	}
	return false;
}

/* The argument of an enable directive LINE ("-e 2", "-e0", "-e\t2 "):
 * the text after "-e" without surrounding blanks, its length in *ret_n. */
static const char *
hb_enable_arg(const char *line, size_t n, size_t *ret_n)
{
	const char *a = line + 2;
	size_t an = n - 2;

	while (an > 0 && isspace((unsigned char)*a))
		a++, an--;
	while (an > 0 && isspace((unsigned char)a[an - 1]))
		an--;
	*ret_n = an;
	return a;
}

/* Whether the last "-e" directive of RULES is WANT ("-e 2"), blanks
 * aside. augenrules (auditd 3.0.9) takes every line matching ^\s*-e as
 * the enable directive, "-e0" too, and emits the last of them as the
 * last rule it loads, wherever it stood, so that one is in force once
 * the rules are loaded. Commented lines start with '#' and never match. */
static bool
hb_rules_last_enable(const char *rules, const char *want)
{
	const char *line = rules, *last = NULL, *w;
	size_t last_n = 0, wn, an;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		const char *p = line;

		while ((size_t)(p - line) < n && isspace((unsigned char)*p))
			p++;
		if ((size_t)(p - line) + 2 <= n && p[0] == '-' &&
		    p[1] == 'e') {
			last = p;
			last_n = n - (size_t)(p - line);
		}
		line = nl ? nl + 1 : NULL;
	}
	if (!last || strncmp(want, "-e", 2))
		return false;
	w = hb_enable_arg(want, strlen(want), &wn);
	last = hb_enable_arg(last, last_n, &an);
	return wn > 0 && an == wn && !strncmp(last, w, wn);
}

bool
hb_rules_match(const struct hb_item *it, const char *rules)
{
	size_t j;

	if (it->kind == HB_AUDIT_WATCH)
		return hb_rule_watch_write(rules, it->key);
	if (!strncmp(it->value, "-e ", 3))
		return hb_rules_last_enable(rules, it->value);
	for (j = 0; j < HB_MATCH_ALTS && it->match[j][0]; j++)
		if (hb_rule_has(rules, it->match[j]))
			return true;
	return false;
}

/* Options of the last uncommented fstab (or mounts) line for MNT. */
static char *
hb_fstab_opts(const char *tab, const char *mnt, long *ret_off,
    size_t *ret_len)
{
	const char *line = tab;
	char *opts = NULL;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		char l[1024], f[4][256];

		snprintf(l, sizeof(l), "%.*s", (int)(n < 1023 ? n : 1023), line);
		if (l[strspn(l, " \t")] != '#' && sscanf(l,
		    "%255s %255s %255s %255s", f[0], f[1], f[2], f[3]) == 4 &&
		    !strcmp(f[1], mnt)) {
			free(opts);
			if (!(opts = strdup(f[3])))
				return NULL;
			if (ret_off) {
				*ret_off = line - tab;
				*ret_len = n;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return opts;
}

/* Whether the comma-separated OPTS contain every option of WANT. */
static bool
hb_opts_have(const char *opts, const char *want)
{
	while (*want) {
		size_t wl = strcspn(want, ","), ol;
		const char *o = opts;
		bool found = false;

		while (*o && !found) {
			ol = strcspn(o, ",");
			found = ol == wl && !strncmp(o, want, wl);
			o += ol + (o[ol] == ',');
		}
		if (!found)
			return false;
		want += wl + (want[wl] == ',');
	}
	return true;
}

static const char *const hb_banner_leaks[] = { "\\s", "\\r", "\\v", "\\m" };

/* Whether banner TEXT holds the phrase and no OS escapes; *ret_found
 * says what was found. */
static int
hb_banner_eval(const struct hb_item *it, const char *text, char **ret_found)
{
	size_t i;

	if (!strcasestr(text, it->accept))
		return (*ret_found = strdup("notice text missing")) ? 0 :
		    -ENOMEM;
	for (i = 0; i < ELEMENTSOF(hb_banner_leaks); i++)
		if (strstr(text, hb_banner_leaks[i]))
			return (*ret_found = hb_strdup_printf("contains %s",
			    hb_banner_leaks[i])) ? 0 : -ENOMEM;
	return (*ret_found = strdup("notice present")) ? 1 : -ENOMEM;
}

static int
hb_check_mode(int rootfd, const struct hb_item *it, char **ret_found)
{
	_cleanup_close_ int dfd = -1;
	const char *base;
	struct stat st;
	mode_t m;

	dfd = hb_open_parent(rootfd, it->path, false, &base);
	if (dfd >= 0 && fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		dfd = -errno;
	if (dfd < 0) {
		if (dfd == -ENOENT && (it->flags & HB_OPTIONAL))
			return (*ret_found = strdup("absent")) ? 1 : -ENOMEM;
		return (*ret_found = hb_strdup_printf("missing (%s)",
		    bw_strerror(dfd))) ? 0 : -ENOMEM;
	}
	m = st.st_mode & 07777;
	if (!(*ret_found = hb_strdup_printf("owner uid %u, mode %04o%s",
	    (unsigned)st.st_uid, (unsigned)m, S_ISLNK(st.st_mode) ?
	    " (symlink)" : "")))
		return -ENOMEM;
	return st.st_uid == 0 && (m & ~(mode_t)it->max) == 0 &&
	    !S_ISLNK(st.st_mode);
}

int
hb_item_eval(const struct hb_item *it, const char *text, char **ret_found)
{
	_cleanup_free_ char *v = NULL, *line = NULL;
	size_t n;
	long off;
	int ok;

	if (!text && (it->kind == HB_BANNER || it->kind == HB_MOUNT) &&
	    (it->flags & HB_OPTIONAL))
		return (*ret_found = strdup("absent")) ? 1 : -ENOMEM;
	if (!text)
		return (*ret_found = strdup("file missing")) ? 0 : -ENOMEM;
	switch (it->kind) {
	case HB_CONF:
		if (!(v = hb_conf_value(text, it->key)))
			return (*ret_found = strdup("not set")) ? 0 : -ENOMEM;
		ok = it->accept ? hb_one_of(v, it->accept) :
		    hb_number_ok(it, v);
		*ret_found = TAKE_PTR(v);
		return ok;
	case HB_PAM_LINE:
	case HB_PAM_ARG:
	case HB_PAM_NOARG:
		if ((off = hb_find_line(text, it->key, &n)) < 0)
			return (*ret_found = hb_strdup_printf("no \"%s\" line",
			    it->key)) ? 0 : -ENOMEM;
		if (!(line = strndup(text + off, n)))
			return -ENOMEM;
		if (it->kind == HB_PAM_LINE)
			ok = 1;
		else if (it->kind == HB_PAM_NOARG)
			ok = !hb_line_matches(line, n, it->value);
		else {
			const char *a = it->accept;

			for (ok = 0; *a && !ok; a += strcspn(a, "|"),
			    a += *a == '|')
				ok = hb_line_has_word(line, n, a,
				    strcspn(a, "|"));
		}
		*ret_found = TAKE_PTR(line);
		return ok;
	case HB_BANNER:
		return hb_banner_eval(it, text, ret_found);
	case HB_MOUNT:
		if (!(v = hb_fstab_opts(text, it->key, NULL, NULL)))
			return (*ret_found = strdup("not a separate mount")) ?
			    (it->flags & HB_OPTIONAL ? 1 : 0) : -ENOMEM;
		ok = hb_opts_have(v, it->value);
		*ret_found = TAKE_PTR(v);
		return ok;
	case HB_AUDIT_RULE:
	case HB_AUDIT_WATCH:
		ok = hb_rules_match(it, text);
		return (*ret_found = strdup(ok ? "rule present" : "no rule")) ?
		    ok : -ENOMEM;
	case HB_SYSCTL:
	case HB_MODE:
		break;
	}
	return -EINVAL;
}

int
hb_item_check(int rootfd, const struct hb_item *it, char **ret_found)
{
	_cleanup_free_ char *text = NULL;
	long v;
	int r;

	switch (it->kind) {
	case HB_MODE:
		return hb_check_mode(rootfd, it, ret_found);
	case HB_SYSCTL:
		r = hb_sysctl_configured(rootfd, it->key, &v);
		if (r == -ENOENT || r == -EINVAL)
			return (*ret_found = strdup(r == -ENOENT ? "not set" :
			    "not a number")) ? 0 : -ENOMEM;
		if (r < 0)
			return r;
		return (*ret_found = hb_strdup_printf("%ld", v)) ?
		    v >= it->min && v <= it->max : -ENOMEM;
	case HB_AUDIT_RULE:
	case HB_AUDIT_WATCH:
		r = hb_audit_rules(rootfd, &text);
		break;
	default:
		r = hb_read(rootfd, it->path, &text);
		if (r == -ENOENT)
			r = 0;
		break;
	}
	if (r < 0)
		return r;
	return hb_item_eval(it, text, ret_found);
}

/* Reads root-relative PATH for an edit, refusing symlinks; *ret_text is
 * NULL when the file does not exist. */
static int
hb_read_nofollow(int rootfd, const char *path, char **ret_text)
{
	_cleanup_close_ int dfd = -1, fd = -1;
	const char *base;

	*ret_text = NULL;
	if ((dfd = hb_open_parent(rootfd, path, false, &base)) < 0)
		return dfd == -ENOENT ? 0 : dfd;
	if ((fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : -errno;
	return read_bounded(fd, HB_FILE_MAX, ret_text, NULL);
}

/* TEXT with [OFF, OFF + LEN) replaced by INS, allocated. */
static char *
hb_splice(const char *text, size_t off, size_t len, const char *ins)
{
	return hb_strdup_printf("%.*s%s%s", (int)off, text, ins,
	    text + off + len);
}

/* Offset and length of the last uncommented line setting KEY, or
 * -ENOENT. */
static long
hb_conf_line(const char *text, const char *key, size_t *ret_len)
{
	const char *line = text;
	size_t kl = strlen(key);
	long found = -ENOENT;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		const char *p = line + strspn(line, " \t");

		if (!strncasecmp(p, key, kl) && (p[kl] == ' ' ||
		    p[kl] == '\t' || p[kl] == '=')) {
			found = line - text;
			*ret_len = n;
		}
		line = nl ? nl + 1 : NULL;
	}
	return found;
}

static char *
hb_edit_conf(const struct hb_item *it, const char *text)
{
	_cleanup_free_ char *set = hb_strdup_printf("%s%s%s", it->key, it->sep,
	    it->value);
	size_t n;
	long off;

	if (!set)
		return NULL;
	if (!text)
		return hb_strdup_printf("%s\n", set);
	if ((off = hb_conf_line(text, it->key, &n)) >= 0)
		return hb_splice(text, (size_t)off, n, set);
	return hb_strdup_printf("%s%s%s\n", text, *text &&
	    text[strlen(text) - 1] != '\n' ? "\n" : "", set);
}

/* Closes F, a memory stream writing to *OUT: returns the text, or NULL
 * (freed) when writing failed. */
static char *
hb_stream_end(FILE *f, char **out)
{
	if (fclose(f) != 0) {
		free(*out);
		return NULL;
	}
	return *out;
}

/* The live value of sysctl NAME under ROOTFD's proc/sys, its newline
 * dropped; allocated. */
static int
hb_sysctl_live(int rootfd, const char *name, char **ret)
{
	_cleanup_free_ char *path = hb_strdup_printf("proc/sys/%s", name);
	char *v = NULL, *p;
	int r;

	if (!path)
		return -ENOMEM;
	for (p = path + 9; *p; p++)
		if (*p == '.')
			*p = '/';
	if ((r = hb_read(rootfd, path, &v)) < 0)
		return r;
	v[strcspn(v, "\n")] = '\0';
	*ret = v;
	return 0;
}

int
hb_record_sysctls(int rootfd, time_t now, size_t *ret_n)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int dfd = -1;
	char *out = NULL;
	const char *base;
	size_t len = 0, i, n = 0;
	char when[32];
	struct tm tm;
	FILE *f;
	int r;

	if (!gmtime_r(&now, &tm) ||
	    !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return -EINVAL;
	if (!(f = open_memstream(&out, &len)))
		return -ENOMEM;
	fprintf(f, "# read %s by bulwark-harden record-sysctl, as root, "
	    "from /proc/sys\n", when);
	for (i = 0; i < ELEMENTSOF(hb_table); i++) {
		_cleanup_free_ char *v = NULL;

		if (hb_table[i].kind != HB_SYSCTL)
			continue;
		r = hb_sysctl_live(rootfd, hb_table[i].key, &v);
		if (r == -ENOMEM) {
			free(hb_stream_end(f, &out));
			return r;
		}
		if (r < 0)
			fprintf(f, "# %s: unreadable (%s)\n", hb_table[i].key,
			    bw_strerror(r));
		else {
			fprintf(f, "%s = %s\n", hb_table[i].key, v);
			n++;
		}
	}
	if (!(text = hb_stream_end(f, &out)))
		return -ENOMEM;
	if ((dfd = hb_open_parent(rootfd, HB_SYSCTL_RECORD, true, &base)) < 0)
		return dfd;
	/* Owned by whoever runs this: root on the appliance, which is
	 * what the scan requires of the file. */
	if ((r = write_file_atomic_at(dfd, base, text, strlen(text),
	    0644)) < 0)
		return r;
	*ret_n = n;
	return 0;
}

/* LINE (length N) of a PAM stack with each jump count "=N" inside its
 * [control] raised by one, written to F. */
static void
hb_pam_bump(FILE *f, const char *line, size_t n, size_t idx, size_t k)
{
	const char *open = memchr(line, '[', n), *close, *p;

	close = open ? memchr(open, ']', n - (size_t)(open - line)) : NULL;
	if (!close) {
		fprintf(f, "%.*s", (int)n, line);
		return;
	}
	for (p = line; p < line + n; p++) {
		char *end;
		unsigned long j;

		fputc(*p, f);
		if (p < open || p >= close || *p != '=' ||
		    !isdigit((unsigned char)p[1]))
			continue;
		j = strtoul(p + 1, &end, 10);
		/* The new line at index K lies inside this jump. */
		fprintf(f, "%lu", k <= idx + j ? j + 1 : j);
		p = end - 1;
	}
}

/* Whether LINE (length N) is a module line of the PAM TYPE. */
static bool
hb_pam_is_type(const char *line, size_t n, const char *type)
{
	const char *p = line + strspn(line, " \t");
	size_t tl = strlen(type);

	if (*p == '-')
		p++;
	return (size_t)(p - line) + tl < n && !strncmp(p, type, tl) &&
	    isspace((unsigned char)p[tl]);
}

static char *
hb_edit_pam_line(const struct hb_item *it, const char *text)
{
	char type[16], anchor[64], *out = NULL;
	const char *line;
	size_t outlen = 0, idx = 0, k = (size_t)-1, last_end = 0;
	bool before = it->flags & HB_BEFORE, done = false;
	FILE *f;

	snprintf(type, sizeof(type), "%.*s", (int)strcspn(it->key, " "),
	    it->key);
	snprintf(anchor, sizeof(anchor), "%s %s", type, it->anchor);
	/* The index the new line takes among the TYPE lines. */
	for (line = text; line && *line; ) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);

		if (hb_pam_is_type(line, n, type) && !hb_line_matches(line, n,
		    "#")) {
			if (k == (size_t)-1 && hb_line_matches(line, n, anchor))
				k = before ? idx : idx + 1;
			idx++;
			last_end = (size_t)(line - text) + n;
		}
		line = nl ? nl + 1 : NULL;
	}
	if (k == (size_t)-1)
		k = idx;
	if (!(f = open_memstream(&out, &outlen)))
		return NULL;
	idx = 0;
	for (line = text; line && *line; ) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		bool mod = hb_pam_is_type(line, n, type);

		if (mod && idx == k && !done) {
			fprintf(f, "%s\n", it->value);
			done = true;
		}
		if (mod && idx < k)
			hb_pam_bump(f, line, n, idx, k);
		else
			fprintf(f, "%.*s", (int)n, line);
		fputc('\n', f);
		if (mod)
			idx++;
		if (mod && idx == k && !done && (size_t)(line - text) + n ==
		    last_end) {
			fprintf(f, "%s\n", it->value);
			done = true;
		}
		line = nl ? nl + 1 : NULL;
	}
	if (!done)
		fprintf(f, "%s\n", it->value);
	return hb_stream_end(f, &out);
}

static char *
hb_edit_pam_arg(const struct hb_item *it, const char *text)
{
	_cleanup_free_ char *line = NULL, *fixed = NULL;
	size_t n;
	long off = hb_find_line(text, it->key, &n);

	if (off < 0 || !(line = strndup(text + off, n)))
		return NULL;
	if (it->kind == HB_PAM_ARG)
		fixed = hb_strdup_printf("%s %s", line, it->value);
	else {
		/* Drop each whitespace-separated word equal to value. */
		size_t vl = strlen(it->value);
		char *p = line;

		if (!(fixed = strdup(line)))
			return NULL;
		fixed[0] = '\0';
		while (*p) {
			size_t sp = strspn(p, " \t"), w;

			w = strcspn(p + sp, " \t");
			if (!(w == vl && !strncmp(p + sp, it->value, vl)))
				strncat(fixed, p, sp + w);
			p += sp + w;
		}
	}
	return fixed ? hb_splice(text, (size_t)off, n, fixed) : NULL;
}

static char *
hb_edit_fstab(const struct hb_item *it, const char *text)
{
	_cleanup_free_ char *opts = NULL, *line = NULL, *fixed = NULL;
	char f[6][256];
	const char *w;
	size_t n;
	long off;
	int nf;

	if (!text || !(opts = hb_fstab_opts(text, it->key, &off, &n)))
		return hb_strdup_printf("%s%s%s\n", text ? text : "", text &&
		    *text && text[strlen(text) - 1] != '\n' ? "\n" : "",
		    it->accept);
	for (w = it->value; *w; w += strcspn(w, ","), w += *w == ',') {
		char one[64];
		char *grown;

		snprintf(one, sizeof(one), "%.*s", (int)strcspn(w, ","), w);
		if (hb_opts_have(opts, one))
			continue;
		if (!(grown = hb_strdup_printf("%s,%s", opts, one)))
			return NULL;
		free(opts);
		opts = grown;
	}
	if (!(line = strndup(text + off, (size_t)n)))
		return NULL;
	nf = sscanf(line, "%255s %255s %255s %255s %255s %255s", f[0], f[1],
	    f[2], f[3], f[4], f[5]);
	fixed = hb_strdup_printf("%s\t%s\t%s\t%s\t%s\t%s", f[0], f[1], f[2],
	    opts, nf > 4 ? f[4] : "0", nf > 5 ? f[5] : "0");
	return fixed ? hb_splice(text, (size_t)off, n, fixed) : NULL;
}

/* The whole file of KIND's items (sysctl.d drop-in or audit rules). */
static char *
hb_render_all(enum hb_kind kind)
{
	char *out = NULL;
	size_t len = 0, i, j;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	fprintf(f, "# Written by bulwark-harden from the host baseline "
	    "(hardening/baseline.c);\n# changes here are undone by the next "
	    "bulwark-harden apply.\n");
	for (i = 0; i < ELEMENTSOF(hb_table); i++) {
		const struct hb_item *it = &hb_table[i];
		bool dup = false;

		if (kind == HB_SYSCTL && it->kind == HB_SYSCTL)
			fprintf(f, "%s = %s\n", it->key, it->value);
		if (kind == HB_SYSCTL || (it->kind != HB_AUDIT_RULE &&
		    it->kind != HB_AUDIT_WATCH))
			continue;
		for (j = 0; j < i && !dup; j++)
			dup = (hb_table[j].kind == HB_AUDIT_RULE ||
			    hb_table[j].kind == HB_AUDIT_WATCH) &&
			    !strcmp(hb_table[j].value, it->value);
		if (!dup)
			fprintf(f, "%s\n", it->value);
	}
	return hb_stream_end(f, &out);
}

static int
hb_apply_mode(int rootfd, const struct hb_item *it, bool dry_run,
    char **ret_what)
{
	_cleanup_close_ int dfd = -1, fd = -1;
	const char *base;
	struct stat st;
	mode_t m;

	if ((dfd = hb_open_parent(rootfd, it->path, false, &base)) < 0)
		return dfd;
	/* Changed through this fd, so a symlink swapped in later is not
	 * followed either (O_NONBLOCK: a FIFO must not block the open). */
	if ((fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) < 0 || fstat(fd, &st) < 0)
		return -errno;
	m = st.st_mode & 07777 & (mode_t)it->max;
	if (!(*ret_what = hb_strdup_printf("/%s: owner uid %u -> 0, mode "
	    "%04o -> %04o", it->path, (unsigned)st.st_uid,
	    (unsigned)(st.st_mode & 07777), (unsigned)m)))
		return -ENOMEM;
	if (dry_run)
		return 0;
	if (st.st_uid != 0 && fchown(fd, 0, (gid_t)-1) < 0)
		return -errno;
	/* After the chown, which clears set-id bits. */
	if (fchmod(fd, m) < 0)
		return -errno;
	return 0;
}

/* Applies one differing item; *ret_what says what it writes. */
static int
hb_apply_item(int rootfd, const struct hb_item *it, bool dry_run,
    char **ret_what)
{
	_cleanup_free_ char *text = NULL, *edited = NULL;
	const char *path = it->path;
	mode_t mode = 0644;
	int r;

	switch (it->kind) {
	case HB_MODE:
		return hb_apply_mode(rootfd, it, dry_run, ret_what);
	case HB_SYSCTL:
		path = HB_SYSCTL_FILE;
		edited = hb_render_all(HB_SYSCTL);
		break;
	case HB_AUDIT_RULE:
	case HB_AUDIT_WATCH:
		path = HB_RULES_FILE;
		mode = 0640;
		edited = hb_render_all(HB_AUDIT_RULE);
		break;
	case HB_BANNER:
		edited = strdup(it->value);
		break;
	default:
		if ((r = hb_read_nofollow(rootfd, path, &text)) < 0)
			return r;
		if (!text && it->kind != HB_CONF && it->kind != HB_MOUNT)
			return -ENOENT;
		if (it->kind == HB_CONF)
			edited = hb_edit_conf(it, text);
		else if (it->kind == HB_PAM_LINE)
			edited = hb_edit_pam_line(it, text);
		else if (it->kind == HB_MOUNT)
			edited = hb_edit_fstab(it, text);
		else
			edited = hb_edit_pam_arg(it, text);
		break;
	}
	if (!edited)
		return -ENOMEM;
	if (!(*ret_what = hb_strdup_printf("/%s: %s", path,
	    it->kind == HB_SYSCTL || it->kind == HB_AUDIT_RULE ||
	    it->kind == HB_AUDIT_WATCH ? "written (whole baseline)" :
	    it->kind == HB_BANNER ? "approved notice written" : "edited")))
		return -ENOMEM;
	return dry_run ? 0 : hb_write(rootfd, path, edited, mode);
}

/* Whether the item at I belongs to a kind written as one whole file
 * (the sysctl drop-in, the audit rules) that an earlier differing item
 * of the table, marked in DIFFERS, has already written. */
static bool
hb_written_with(const bool *differs, size_t i)
{
	enum hb_kind k = hb_table[i].kind;
	bool rules = k == HB_AUDIT_RULE || k == HB_AUDIT_WATCH;
	size_t j;

	if (k != HB_SYSCTL && !rules)
		return false;
	for (j = 0; j < i; j++)
		if (differs[j] && (hb_table[j].kind == k || (rules &&
		    (hb_table[j].kind == HB_AUDIT_RULE ||
		    hb_table[j].kind == HB_AUDIT_WATCH))))
			return true;
	return false;
}

int
hb_apply(int rootfd, bool dry_run, hb_report_fn report, void *arg)
{
	bool differs[ELEMENTSOF(hb_table)] = { 0 };
	size_t i;
	int changed = 0, first = 0;

	/* Every difference first: one write may settle several items. */
	for (i = 0; i < ELEMENTSOF(hb_table); i++) {
		_cleanup_free_ char *found = NULL;
		int r = hb_item_check(rootfd, &hb_table[i], &found);

		if (r < 0) {
			report(&hb_table[i], NULL, bw_strerror(r), arg);
			if (!first)
				first = r;
		}
		differs[i] = r == 0;
	}
	for (i = 0; i < ELEMENTSOF(hb_table); i++) {
		const struct hb_item *it = &hb_table[i];
		_cleanup_free_ char *found = NULL, *what = NULL;
		int r = 0;

		if (!differs[i])
			continue;
		if (hb_written_with(differs, i))
			what = hb_strdup_printf("/%s: same file",
			    it->kind == HB_SYSCTL ? HB_SYSCTL_FILE :
			    HB_RULES_FILE);
		else
			r = hb_apply_item(rootfd, it, dry_run, &what);
		if (r == 0 && !what)
			r = -ENOMEM;
		if (r == 0 && !dry_run) {
			r = hb_item_check(rootfd, it, &found);
			/* Still differing: a later file or line overrides. */
			r = r == 1 ? 0 : r == 0 ? -EEXIST : r;
		}
		if (r < 0) {
			report(it, what, r == -EEXIST ?
			    "still differs after the edit (overridden later)" :
			    r == -ELOOP ? "refused: a symlink on the path" :
			    bw_strerror(r), arg);
			if (!first)
				first = r;
			continue;
		}
		report(it, what, NULL, arg);
		changed++;
	}
	return first ? first : changed;
}
