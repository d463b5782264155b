/* The confinement a live process runs under, read from the kernel's
 * /proc/PID/status rather than from configuration: the compliance facts
 * for SC-2, SC-39 and AC-6 are evidence of what is, not of what was
 * intended. */
#ifndef BW_COMPLIANCE_PROC_CONFINEMENT_H
#define BW_COMPLIANCE_PROC_CONFINEMENT_H

#include <stdint.h>
#include <sys/types.h>

/* Seccomp field values (linux/seccomp.h SECCOMP_MODE_*). */
#define COMP_SECCOMP_DISABLED	0
#define COMP_SECCOMP_STRICT	1
#define COMP_SECCOMP_FILTER	2

struct comp_confinement {
	pid_t		 pid;
	uid_t		 ruid, euid;		/* Uid: real, effective */
	uint64_t	 cap_eff;		/* CapEff */
	uint64_t	 cap_bnd;		/* CapBnd */
	int		 no_new_privs;		/* NoNewPrivs: 0 or 1 */
	int		 seccomp;		/* Seccomp: COMP_SECCOMP_* */
};

/* Parses the status file at PATH (a /proc/PID/status, or a copy of one)
 * for PID into *ret. Every one of Uid, CapEff, CapBnd, NoNewPrivs and
 * Seccomp must be present and well formed. Returns 0, -errno from
 * opening or reading (the file is read to at most 64 KiB, -EFBIG past
 * it), or -BW_E_INVALID naming the field; *ret is set only on success. */
int comp_proc_confinement_file(const char *path, pid_t pid,
    struct comp_confinement *ret, char **ret_err);

/* comp_proc_confinement_file() on /proc/PID/status. */
int comp_proc_confinement(pid_t pid, struct comp_confinement *ret,
    char **ret_err);

/* Writes "pid P: uid U, CapEff HEX, NoNewPrivs N, Seccomp S" to BUF. */
void comp_confinement_str(const struct comp_confinement *c, char *buf,
    size_t len);

#endif
