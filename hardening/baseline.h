/* The host baseline: one declarative table of the host settings the
 * appliance requires (sysctl values, file modes, login.defs and other
 * KEY VALUE files, PAM lines, faillock.conf, audit rules, the logon
 * banner, mount options). bulwark-harden applies it to a root directory
 * and the compliance checks that cover these settings read their
 * required values from the same table, so there is one list. */
#ifndef BW_HARDENING_BASELINE_H
#define BW_HARDENING_BASELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum hb_kind {
	HB_SYSCTL,	/* key = name; value written; [min, max] accepted */
	HB_MODE,	/* path; owner root, permission bits within max */
	HB_CONF,	/* path: key sep value; accept '|' or [min, max] */
	HB_PAM_LINE,	/* path: a line with the words of key; value inserted
			   next to the line of module anchor */
	HB_PAM_ARG,	/* path: the line with the words of key has one of
			   accept ('|'); value appended when not */
	HB_PAM_NOARG,	/* path: the line with the words of key lacks value */
	HB_AUDIT_RULE,	/* a rule matching one of match[]; value written */
	HB_AUDIT_WATCH,	/* a write watch on key; value written */
	HB_BANNER,	/* path holds accept and no OS escapes; value written */
	HB_MOUNT,	/* fstab: key mounted with every option of value */
};

/* Item flags. */
#define HB_OPTIONAL	0x1	/* an absent file or mount satisfies */
#define HB_ZERO_OK	0x2	/* HB_CONF: 0 is accepted besides [min, max] */
#define HB_BEFORE	0x4	/* HB_PAM_LINE: insert before anchor, not after */
#define HB_CHECK_WIDER	0x8	/* the check also judges what no baseline
				   sets (the appliance trail's facts, the
				   audit log's files): bulwark-harden scan
				   leaves it out, check still judges the item */

/* The phrase an approved logon notice contains (AC-8). */
#define HB_BANNER_PHRASE	"U.S. Government"

#define HB_MATCH_ALTS	4
#define HB_MATCH_WORDS	4

struct hb_item {
	const char	*id;		/* stable: "sysctl.kernel.kptr_restrict" */
	enum hb_kind	 kind;
	const char	*check;		/* the compliance check that reads it */
	const char	*controls;	/* 800-53 controls served: "CM-6, SC-4" */
	const char	*path;		/* root-relative file or directory */
	const char	*key;
	const char	*value;		/* what apply writes */
	const char	*accept;	/* accepted strings, '|'-separated */
	long		 min, max;	/* accepted numbers; HB_MODE: max bits */
	unsigned	 flags;
	const char	*sep;		/* HB_CONF: between key and value */
	const char	*anchor;	/* HB_PAM_LINE: module placed next to */
	/* HB_AUDIT_RULE: alternatives, each a NULL-ended set of strings
	 * that one uncommented rule line must all contain. */
	const char	*match[HB_MATCH_ALTS][HB_MATCH_WORDS];
};

/* The table, in a fixed order; *ret_n gets the count. */
const struct hb_item *hb_items(size_t *ret_n);

/* The item with ID, or NULL. */
const struct hb_item *hb_find(const char *id);

/* What ITEM requires, as text ("1..2", "owner root, mode <= 0640");
 * allocated, or NULL on ENOMEM. */
char *hb_item_want(const struct hb_item *item);

/* Checks ITEM against the tree under ROOTFD (symlinks resolved inside
 * it). Returns 1 when satisfied, 0 when it differs, or -errno; on 0 or
 * 1, *ret_found gets what was found (allocated). */
int hb_item_check(int rootfd, const struct hb_item *item, char **ret_found);

/* Evaluates an item of a text kind (HB_CONF, HB_PAM_*, HB_BANNER,
 * HB_MOUNT against an fstab or /proc/mounts, HB_AUDIT_* against the
 * concatenated rules) against TEXT, the file's contents or NULL when it
 * is missing; returns like hb_item_check(), -EINVAL for other kinds. */
int hb_item_eval(const struct hb_item *item, const char *text,
    char **ret_found);

/* Whether the concatenated audit RULES satisfy ITEM (HB_AUDIT_RULE or
 * HB_AUDIT_WATCH). An item whose rule is an "-e N" directive is
 * satisfied only by the last -e directive of RULES (any line starting
 * "-e", as augenrules takes them), blanks aside: the one augenrules
 * loads last. RULES must be concatenated in hb_rules_name_cmp() order. */
bool hb_rules_match(const struct hb_item *item, const char *rules);

/* qsort comparator on two paths or names (char *const *) ordering
 * them by base name in plain byte order: as systemd reads its *.d
 * directories (sysctl.d, resolved.conf.d) and kmod modprobe.d. */
int hb_name_cmp(const void *a, const void *b);

/* qsort comparator on two paths (char *const *) ordering them as
 * augenrules concatenates audit rules.d (`ls -1v`, GNU's filevercmp):
 * by base name in version order, the file suffixes set aside first, so
 * 100-local.rules comes after 90-a.rules, 10x.rules before 10-x.rules
 * and a.rules before a-b.rules (strverscmp differs on both). */
int hb_rules_name_cmp(const void *a, const void *b);

/* The value sysctl NAME is configured to under ROOTFD: the last
 * assignment across the sysctl.d directories (by file name, etc/ first
 * for equal names) and etc/sysctl.conf, as systemd-sysctl and
 * `sysctl --system` read them. Returns 0, -ENOENT when never set, or
 * -errno. */
int hb_sysctl_configured(int rootfd, const char *name, long *ret_val);

/* The record of the live sysctl values hb_record_sysctls() writes,
 * relative to the root: on the appliance a tmpfs, so it is this boot's. */
#define HB_SYSCTL_RECORD	"run/bulwark-harden/sysctl-live.conf"

/* Reads the live value of every sysctl item of the table from
 * proc/sys under ROOTFD and writes them, "NAME = VALUE" lines after a
 * "# read TIME" line (NOW, UTC), to HB_SYSCTL_RECORD under ROOTFD
 * (root's, mode 0644, replaced atomically, no symlink followed). Run as
 * root at boot, so that the compliance scan, which may not hold
 * CAP_SYS_ADMIN, learns the values the kernel shows only to it
 * (net.core.bpf_jit_harden). A value that cannot be read is a comment
 * saying why. *RET_N gets the number of values recorded. Returns 0 or
 * a negative error. */
int hb_record_sysctls(int rootfd, time_t now, size_t *ret_n);

/* Called by hb_apply() for each item it changes (or would change with
 * DRY_RUN): WHAT says what was written; ERR (not NULL) says why the
 * item could not be applied. */
typedef void (*hb_report_fn)(const struct hb_item *item, const char *what,
    const char *err, void *arg);

/* Applies every item that differs to the tree under ROOTFD: writes the
 * sysctl.d drop-in and the audit rules file, edits KEY VALUE files,
 * PAM stacks and fstab, writes the banners, fixes owners and modes.
 * Files are replaced atomically (temporary file and rename), the first
 * replacement keeps the original as NAME.bulwark-orig, and no path is
 * followed through a symlink. An item that cannot be applied is
 * reported and the others still are. Returns the number of items
 * changed, or the first item's negative error. */
int hb_apply(int rootfd, bool dry_run, hb_report_fn report, void *arg);

#endif
