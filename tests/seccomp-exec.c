/* Test launcher: runs a program under a seccomp filter built from a
 * list of system call names, the way systemd applies a unit's
 * SystemCallFilter=, so tests/integration/systemd-units.sh can run
 * bulwarkd under its unit's allow-list without a service manager.
 *
 *   seccomp-exec allow|deny LIST PROGRAM [ARG...]
 *
 * allow: the calls in LIST are allowed on the native ABI, any other
 * call kills the process (SystemCallFilter=LIST with
 * SystemCallArchitectures=native); deny: the calls in LIST kill the
 * process on every x86 ABI, the rest are allowed (SystemCallFilter=~LIST).
 * LIST has one name a line; names this libseccomp does not know are
 * skipped, as systemd skips them. Sets no_new_privs first, which an
 * unprivileged caller needs and systemd implies. */
#include "config.h"

#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static int
add_rules(scmp_filter_ctx ctx, const char *list, uint32_t action)
{
	FILE	*f = fopen(list, "re");
	char	 line[128];
	int	 nr, r = 0;

	if (!f)
		return -errno;
	while (r == 0 && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		nr = seccomp_syscall_resolve_name(line);
		if (nr == __NR_SCMP_ERROR)
			continue;
		r = seccomp_rule_add(ctx, action, nr, 0);
	}
	fclose(f);
	return r;
}

int
main(int argc, char **argv)
{
	scmp_filter_ctx	ctx;
	int		allow, r;

	if (argc < 4 || (strcmp(argv[1], "allow") && strcmp(argv[1], "deny"))) {
		fprintf(stderr, "usage: seccomp-exec allow|deny LIST PROGRAM "
		    "[ARG...]\n");
		return 2;
	}
	allow = strcmp(argv[1], "allow") == 0;
	if (!(ctx = seccomp_init(allow ? SCMP_ACT_KILL_PROCESS :
	    SCMP_ACT_ALLOW))) {
		fprintf(stderr, "seccomp-exec: seccomp_init failed\n");
		return 1;
	}
	if (!allow && ((r = seccomp_arch_add(ctx, SCMP_ARCH_X86)) < 0 ||
	    (r = seccomp_arch_add(ctx, SCMP_ARCH_X32)) < 0) && r != -EEXIST)
		goto fail;
	if ((r = add_rules(ctx, argv[2], allow ? SCMP_ACT_ALLOW :
	    SCMP_ACT_KILL_PROCESS)) < 0)
		goto fail;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = seccomp_load(ctx)) < 0)
		goto fail;
	seccomp_release(ctx);
	execv(argv[3], argv + 3);
	fprintf(stderr, "seccomp-exec: %s: %s\n", argv[3], strerror(errno));
	return 127;
fail:
	fprintf(stderr, "seccomp-exec: %s: %s\n", argv[2], strerror(-r));
	seccomp_release(ctx);
	return 1;
}
