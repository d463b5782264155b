/* The confinement of bulwarkd's API worker (privsep/worker.c): one
 * readable table of what it may do, applied by sandbox_enter() before
 * it reads a byte from the network. docs/hardening.md ("Processes")
 * explains each line. */
#ifndef BW_HARDENING_WORKER_SANDBOX_H
#define BW_HARDENING_WORKER_SANDBOX_H

#include "hardening/sandbox.h"

/* The user it runs as, and the unused id it takes when that user does
 * not exist on the host. */
#define WORKER_SANDBOX_USER	"_bulwark-api"
#define WORKER_SANDBOX_ID	64090

extern const struct sandbox_profile worker_sandbox_profile;

/* Its system call table (the spawner's filter, which the worker runs
 * under as well, allows it too). */
extern const char *const worker_syscalls[];

#endif
