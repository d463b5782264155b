#include "config.h"

#include <errno.h>
#include <string.h>

#include "lib/macro.h"
#include "privsep/worker-proto.h"

#define ST(s)	(1u << (s))

/* Per second: a handshake is one CONN and one SIGN (ANON frames carry
 * counts, at most 16 a second from a worker that keeps to its protocol);
 * the rates bound what a worker gone rogue can make the parent do (TPM
 * signatures above all) while leaving room for a connection storm that
 * the worker's own limits already cut down. */
const struct ipc_rule psw_ctl_rules[] = {
	{ PSW_HELLO, "HELLO", 4, 4, ST(PSW_ST_START), PSW_ST_SERVING, 0 },
	{ PSW_CONN, "CONN", sizeof(struct psw_conn) + 1,
	  sizeof(struct psw_conn) + PSW_PEER_MAX + PSW_DER_MAX,
	  ST(PSW_ST_SERVING), -1, 2000 },
	{ PSW_ANON, "ANON", 4 + 5, PSW_ANON_MAX, ST(PSW_ST_SERVING), -1, 64 },
};
const size_t psw_ctl_nrules = ELEMENTSOF(psw_ctl_rules);

const struct ipc_rule psw_sign_rules[] = {
	{ PSW_SIGN, "SIGN", 4 + 32, 4 + 64, ST(0), -1, 1000 },
};
const size_t psw_sign_nrules = ELEMENTSOF(psw_sign_rules);

static const char *const hook_names[PSW_HOOK_MAX] = {
	[PSW_HOOK_SYSCALL] = "syscall", [PSW_HOOK_SHORT] = "short",
	[PSW_HOOK_OVERSIZED] = "oversized", [PSW_HOOK_UNKNOWN] = "unknown",
	[PSW_HOOK_BADLEN] = "badlen", [PSW_HOOK_VERSION] = "version",
	[PSW_HOOK_STATE] = "state", [PSW_HOOK_RATE] = "rate",
};

const char *
psw_hook_name(int hook)
{
	return hook > 0 && hook < PSW_HOOK_MAX ? hook_names[hook] : NULL;
}

int
psw_hook_parse(const char *s)
{
	for (int i = 1; i < PSW_HOOK_MAX; i++)
		if (strcmp(s, hook_names[i]) == 0)
			return i;
	return -EINVAL;
}
