/* Reads the confinement fields of /proc/PID/status (proc(5)). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compliance/proc-confinement.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/macro.h"

/* A status file is a few KiB; anything much larger is not one. */
#define STATUS_MAX	(64 * 1024)

enum { F_UID, F_CAPEFF, F_CAPBND, F_NNP, F_SECCOMP, F_MAX };

static const char *const field_names[F_MAX] = {
	[F_UID] = "Uid", [F_CAPEFF] = "CapEff", [F_CAPBND] = "CapBnd",
	[F_NNP] = "NoNewPrivs", [F_SECCOMP] = "Seccomp",
};

/* Parses one unsigned number in BASE at *P, advancing it; false when
 * there is none or it overflows. */
static bool
parse_u64(const char **p, int base, uint64_t *ret)
{
	char			*end;
	unsigned long long	 v;

	while (**p == ' ' || **p == '\t')
		(*p)++;
	/* strtoull() would take a sign and negate */
	if (**p == '-' || **p == '+')
		return false;
	errno = 0;
	v = strtoull(*p, &end, base);
	if (end == *p || errno != 0)
		return false;
	*p = end;
	*ret = v;
	return true;
}

/* Parses the value of field F at P (up to the end of its line) into C. */
static bool
parse_field(int f, const char *p, struct comp_confinement *c)
{
	uint64_t a, b;

	switch (f) {
	case F_UID:	/* real, effective, saved, filesystem */
		if (!parse_u64(&p, 10, &a) || !parse_u64(&p, 10, &b) ||
		    a > (uid_t)-1 || b > (uid_t)-1)
			return false;
		c->ruid = (uid_t)a;
		c->euid = (uid_t)b;
		return true;
	case F_CAPEFF:
		return parse_u64(&p, 16, &c->cap_eff);
	case F_CAPBND:
		return parse_u64(&p, 16, &c->cap_bnd);
	case F_NNP:
		if (!parse_u64(&p, 10, &a) || a > 1)
			return false;
		c->no_new_privs = (int)a;
		return true;
	default:	/* F_SECCOMP */
		if (!parse_u64(&p, 10, &a) || a > COMP_SECCOMP_FILTER)
			return false;
		c->seccomp = (int)a;
		return true;
	}
}

static int
parse_status(char *text, const char *path, struct comp_confinement *c,
    char **ret_err)
{
	bool	 seen[F_MAX] = { false };
	char	*line, *next, *colon;
	int	 f;

	for (line = text; line && *line; line = next) {
		if ((next = strchr(line, '\n')))
			*next++ = '\0';
		if (!(colon = strchr(line, ':')))
			continue;
		*colon = '\0';
		for (f = 0; f < F_MAX; f++)
			if (strcmp(line, field_names[f]) == 0)
				break;
		if (f == F_MAX)
			continue;
		if (seen[f])
			return errf(-BW_E_INVALID, ret_err, "%s: %s: repeated",
			    path, field_names[f]);
		if (!parse_field(f, colon + 1, c))
			return errf(-BW_E_INVALID, ret_err,
			    "%s: %s: malformed value \"%.32s\"", path,
			    field_names[f], colon + 1);
		seen[f] = true;
	}
	for (f = 0; f < F_MAX; f++)
		if (!seen[f])
			return errf(-BW_E_INVALID, ret_err, "%s: no %s field",
			    path, field_names[f]);
	return 0;
}

int
comp_proc_confinement_file(const char *path, pid_t pid,
    struct comp_confinement *ret, char **ret_err)
{
	_cleanup_free_ char	*text = NULL;
	struct comp_confinement	 c = { .pid = pid };
	size_t			 len;
	int			 r;

	if ((r = read_file_at(AT_FDCWD, path, STATUS_MAX, &text, &len)) < 0)
		return errf(r, ret_err, "reading %s: %s", path,
		    bw_strerror(r));
	if (strlen(text) != len)
		return errf(-BW_E_INVALID, ret_err, "%s: NUL byte in the text",
		    path);
	if ((r = parse_status(text, path, &c, ret_err)) < 0)
		return r;
	*ret = c;
	return 0;
}

int
comp_proc_confinement(pid_t pid, struct comp_confinement *ret,
    char **ret_err)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	return comp_proc_confinement_file(path, pid, ret, ret_err);
}

void
comp_confinement_str(const struct comp_confinement *c, char *buf, size_t len)
{
	snprintf(buf, len, "pid %ld: uid %lu, CapEff %016" PRIx64
	    ", NoNewPrivs %d, Seccomp %d", (long)c->pid,
	    (unsigned long)c->euid, c->cap_eff, c->no_new_privs, c->seccomp);
}
